/*
 * frame_packer.h - turns a decoded picture into the message workers receive.
 *
 * Owns: the conversion of a sampled picture to the configured transport
 * format (raw I420, raw RGB24, or JPEG), downscaled with libswscale when it is
 * larger than the configured maximum (aspect kept, even dimensions), and the
 * copy into one wire message (ooblex_wire.h) behind its header. Keeps its
 * scaler and JPEG compressor between frames. Not thread-safe: one per
 * session, used by the ingest thread.
 */
#ifndef OOBLEX_FRAME_PACKER_H
#define OOBLEX_FRAME_PACKER_H

#include <stddef.h>
#include <stdint.h>
#include <libavutil/frame.h>
#include "ooblex_wire.h"

typedef struct ooblex_packer ooblex_packer;

/* format: OOBLEX_PIXFMT_I420, _RGB24 or _JPEG. max_width/max_height: 0 for
 * no limit. jpeg_quality: 1..100 (JPEG only). */
ooblex_packer *ooblex_packer_new(ooblex_pixfmt format, unsigned max_width, unsigned max_height, int jpeg_quality);
void ooblex_packer_free(ooblex_packer *p);

/* The size a width x height picture is sent at. */
void ooblex_packer_target_size(const ooblex_packer *p, int width, int height, int *out_w, int *out_h);

/* Builds a message from a decoded yuv420p picture: fills h's width, height,
 * pixfmt and payload_len, writes the header and the pixels. Returns a
 * malloc'd buffer and its length, or NULL (unsupported picture format, or a
 * conversion failed). */
uint8_t *ooblex_packer_pack(ooblex_packer *p, const AVFrame *pic, ooblex_frame_header *h, size_t *len);

#endif
