/*
 * depay_codec.h - what the frame assembler (depay.c) asks of a codec.
 * Internal to the depacketizer.
 */
#ifndef OOBLEX_DEPAY_CODEC_H
#define OOBLEX_DEPAY_CODEC_H

#include <stddef.h>
#include <stdint.h>

typedef struct ooblex_frame_buf {
	uint8_t *data;
	size_t len, cap;
	size_t max;	/* most bytes a frame may hold (0: no bound) */
	int over_max;	/* an append was refused for passing max */
} ooblex_frame_buf;

/* Grows f as needed (keeping OOBLEX_DEPAY_PADDING spare, never beyond
 * max + padding) and appends. Returns -1 (and sets over_max when that was
 * the reason) if it cannot. */
int ooblex_frame_buf_append(ooblex_frame_buf *f, const uint8_t *data, size_t len);

/* Whether a packet can begin a frame. */
enum { DEPAY_START_NO = 0, DEPAY_START_YES = 1, DEPAY_START_MAYBE = -1 };

/* Appends the media in one RTP payload to the frame being assembled.
 * first: this is the first packet of the frame. Sets *starts (can this
 * packet be the first of a frame) and raises *keyframe when the payload
 * carries keyframe data. Returns 0, or -1 for a malformed payload. */
typedef int (*ooblex_depay_append_fn)(const uint8_t *payload, size_t len, int first,
	ooblex_frame_buf *f, int *starts, int *keyframe);

int ooblex_depay_vp8_append(const uint8_t *payload, size_t len, int first,
	ooblex_frame_buf *f, int *starts, int *keyframe);
int ooblex_depay_h264_append(const uint8_t *payload, size_t len, int first,
	ooblex_frame_buf *f, int *starts, int *keyframe);

#endif
