/*
 * ooblex_jpeg.h - JPEG in and out, with libjpeg-turbo: the one place that
 * speaks TurboJPEG. The plugin encodes the frames it queues (frame_packer),
 * reads a result's own header (result_gate) and decodes results for the
 * video track (video_output); the worker decodes frames and encodes
 * results; the tests make and read JPEGs with it too.
 *
 * Owns: a TurboJPEG compressor and/or decompressor and the compressor's
 * output buffer, reused from call to call: make one per thread and keep it
 * (creating handles costs more than coding a small frame). I420 goes in and
 * out as planes, no RGB round trip (a 4:2:0 JPEG is YCbCr 4:2:0 inside).
 * Every decode reads the JPEG's own header first and refuses a picture of
 * another size than the one the caller's buffer is for (and, for the I420
 * decoders, one that is not 4:2:0) before a byte is written. Packed I420 is
 * the wire's layout (ooblex_pixfmt_size): chroma planes of (w+1)/2 x (h+1)/2.
 * Not thread-safe.
 */
#ifndef OOBLEX_JPEG_H
#define OOBLEX_JPEG_H

#include <stddef.h>
#include <stdint.h>

typedef struct ooblex_jpeg ooblex_jpeg;

/* What ooblex_jpeg_new makes, and how it codes. */
enum {
	OOBLEX_JPEG_ENCODER = 1 << 0,
	OOBLEX_JPEG_DECODER = 1 << 1,
	/* Decode with the fast integer IDCT (TJFLAG_FASTDCT): the worker's
	 * choice, a little less exact; without it, the accurate one. Encoding
	 * always uses the fast DCT (TurboJPEG's default; the flag changes
	 * nothing there). */
	OOBLEX_JPEG_FAST = 1 << 2,
};

typedef enum ooblex_jpeg_sampling {
	OOBLEX_JPEG_SAMP_420,	/* YCbCr 4:2:0: decodes straight to I420 */
	OOBLEX_JPEG_SAMP_GRAY,
	OOBLEX_JPEG_SAMP_OTHER,	/* 4:4:4, 4:2:2, ...: decodes to RGB or gray */
} ooblex_jpeg_sampling;

typedef struct ooblex_jpeg_info {
	int width, height;
	ooblex_jpeg_sampling sampling;
} ooblex_jpeg_info;

/* NULL when TurboJPEG cannot make the handles (out of memory). */
ooblex_jpeg *ooblex_jpeg_new(unsigned flags);
void ooblex_jpeg_free(ooblex_jpeg *j);

/* What a JPEG's header says, decoding nothing (needs a decoder). 0, or -1
 * when it is not a JPEG (or its header ends before the picture's size). */
int ooblex_jpeg_read_header(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, ooblex_jpeg_info *info);

/* Encoding (needs an encoder): quality 1..100 (anything else is 80). *out
 * points into j, valid until the next encode. Returns 0, or -1 with a
 * reason in err. */
/* 4:2:0 from three planes with their strides (a decoder's AVFrame). */
int ooblex_jpeg_encode_planes(ooblex_jpeg *j, const uint8_t *const planes[3], const int strides[3], int width,
	int height, int quality, const uint8_t **out, size_t *out_len, char *err, size_t errlen);
/* 4:2:0 from packed I420. */
int ooblex_jpeg_encode_i420(ooblex_jpeg *j, const uint8_t *i420, int width, int height, int quality,
	const uint8_t **out, size_t *out_len, char *err, size_t errlen);
/* 4:2:0 from packed RGB24. */
int ooblex_jpeg_encode_rgb(ooblex_jpeg *j, const uint8_t *rgb, int width, int height, int quality,
	const uint8_t **out, size_t *out_len, char *err, size_t errlen);
/* A grayscale JPEG from one 8-bit plane. */
int ooblex_jpeg_encode_gray(ooblex_jpeg *j, const uint8_t *gray, int width, int height, int quality,
	const uint8_t **out, size_t *out_len, char *err, size_t errlen);

/* Decoding (needs a decoder) of a JPEG that must be width x height.
 * Returns 0; 1 when TurboJPEG warned but gave pixels (damaged data, such
 * as a truncated image: the missing part is gray); -1 with a reason in err
 * (not a JPEG, another size or sampling, corrupt). */
/* Into three planes with their strides; the JPEG must be 4:2:0. */
int ooblex_jpeg_decode_planes(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height,
	uint8_t *const planes[3], const int strides[3], char *err, size_t errlen);
/* Into packed I420 (ooblex_pixfmt_size bytes); the JPEG must be 4:2:0. */
int ooblex_jpeg_decode_i420(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height, uint8_t *i420,
	char *err, size_t errlen);
/* Into packed RGB24 (width*height*3 bytes), any sampling. */
int ooblex_jpeg_decode_rgb(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height, uint8_t *rgb,
	char *err, size_t errlen);
/* Luma only (width*height bytes), any sampling. */
int ooblex_jpeg_decode_gray(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height, uint8_t *gray,
	char *err, size_t errlen);
/* What the effect graph takes, whatever the JPEG: I420 when it is 4:2:0
 * inside, else RGB24; *out_fmt (an ooblex_pixfmt) says which. out holds
 * width*height*3 bytes. */
int ooblex_jpeg_decode(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height,
	uint8_t *out, int *out_fmt, char *err, size_t errlen);

#endif
