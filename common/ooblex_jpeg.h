/*
 * ooblex_jpeg.h - JPEG in and out of the worker, with libjpeg-turbo.
 *
 * Owns: one TurboJPEG compressor and decompressor and the compressor's output
 * buffer, reused across frames. I420 goes in and out as planes (no RGB round
 * trip: a 4:2:0 JPEG is YCbCr 4:2:0 inside). Not thread-safe.
 */
#ifndef OOBLEX_JPEG_H
#define OOBLEX_JPEG_H

#include <stddef.h>
#include <stdint.h>

typedef struct ooblex_jpeg ooblex_jpeg;

ooblex_jpeg *ooblex_jpeg_new(void);
void ooblex_jpeg_free(ooblex_jpeg *j);

/* Compresses; *out points into the encoder (valid until the next call).
 * Returns 0, or -1 with a reason in err. */
int ooblex_jpeg_encode_i420(ooblex_jpeg *j, const uint8_t *i420, int width, int height, int quality,
	const uint8_t **out, size_t *out_len, char *err, size_t errlen);

/* Decodes a JPEG of the given size into out (I420 when it is 4:2:0 inside,
 * else RGB24; *out_fmt says which; out must hold width*height*3 bytes).
 * Returns 0, or -1 with a reason in err (corrupt data, size mismatch). */
int ooblex_jpeg_decode(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height,
	uint8_t *out, int *out_fmt, char *err, size_t errlen);

#endif
