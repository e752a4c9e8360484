/*
 * jpeg_encode.h - I420 to JPEG with libjpeg-turbo.
 *
 * Owns: one TurboJPEG compressor and its output buffer, reused across frames.
 * I420 goes in as planes (no RGB conversion: the JPEG is YCbCr 4:2:0 inside).
 * Not thread-safe.
 */
#ifndef OOBLEX_JPEG_ENCODE_H
#define OOBLEX_JPEG_ENCODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ooblex_jpeg ooblex_jpeg;

ooblex_jpeg *ooblex_jpeg_new(void);
void ooblex_jpeg_free(ooblex_jpeg *j);

/* Compresses; *out points into the encoder (valid until the next call).
 * Returns 0, or -1 with a reason in err. */
int ooblex_jpeg_encode_i420(ooblex_jpeg *j, const uint8_t *i420, int width, int height, int quality,
	const uint8_t **out, size_t *out_len, char *err, size_t errlen);

#endif
