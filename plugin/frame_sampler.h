/*
 * frame_sampler.h - which decoded pictures go to the workers, and their packing.
 *
 * Owns: the FRAME_SKIP decision (every decoded frame is counted, every
 * frame_skip-th one is taken: frames 1, 4, 7... with the default 3; when the
 * workers are behind, a due frame is deferred to the next one) and the
 * copy of a taken picture into one wire message (ooblex_wire.h): header,
 * then the tightly packed I420 planes. The AVFrame's line padding is removed
 * here, once, so workers see exactly width x height.
 */
#ifndef OOBLEX_FRAME_SAMPLER_H
#define OOBLEX_FRAME_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <libavutil/frame.h>
#include "ooblex_wire.h"

typedef struct ooblex_sampler {
	unsigned frame_skip;	/* >= 1 */
	unsigned countdown;	/* frames until the next one is taken */
} ooblex_sampler;

void ooblex_sampler_init(ooblex_sampler *s, unsigned frame_skip);
/* A new frame_skip applies from the next decoded frame on. */
void ooblex_sampler_set_skip(ooblex_sampler *s, unsigned frame_skip);
/* Call once per decoded frame: 1 if this one is to be processed. */
int ooblex_sampler_take(ooblex_sampler *s);
/* The frame just taken could not be sent (too many in flight): the next
 * decoded frame is taken instead, so the newest frame wins once a slot frees. */
void ooblex_sampler_defer(ooblex_sampler *s);

/* Builds a message (header h, whose width, height, pixfmt and payload_len are
 * filled in here) from a decoded yuv420p picture. Returns a malloc'd buffer
 * and its length, or NULL if the picture's format is not supported. */
uint8_t *ooblex_pack_frame(const AVFrame *pic, ooblex_frame_header *h, size_t *len);

#endif
