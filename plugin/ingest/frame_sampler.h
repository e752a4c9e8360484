/*
 * frame_sampler.h - which decoded pictures go to the workers.
 *
 * Owns: the FRAME_SKIP decision (every decoded frame is counted, every
 * frame_skip-th one is taken: frames 1, 4, 7... with the default 3; when the
 * workers are behind, a due frame is deferred to the next one). Packing the
 * taken picture is frame_packer.h's job.
 */
#ifndef OOBLEX_FRAME_SAMPLER_H
#define OOBLEX_FRAME_SAMPLER_H


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

#endif
