/*
 * jpeg_encode.c - TurboJPEG compression from YUV planes.
 */
#include "jpeg_encode.h"

#include <stdio.h>
#include <stdlib.h>
#include <turbojpeg.h>

struct ooblex_jpeg {
	tjhandle tj;
	unsigned char *buf;	/* grown by TurboJPEG, kept between frames */
	unsigned long cap;
};

ooblex_jpeg *ooblex_jpeg_new(void) {
	ooblex_jpeg *j = calloc(1, sizeof(*j));
	if(j == NULL)
		return NULL;
	j->tj = tjInitCompress();
	if(j->tj == NULL) {
		free(j);
		return NULL;
	}
	return j;
}

void ooblex_jpeg_free(ooblex_jpeg *j) {
	if(j == NULL)
		return;
	tjDestroy(j->tj);
	tjFree(j->buf);
	free(j);
}

int ooblex_jpeg_encode_i420(ooblex_jpeg *j, const uint8_t *i420, int width, int height, int quality,
		const uint8_t **out, size_t *out_len, char *err, size_t errlen) {
	int cw = (width + 1) / 2, ch = (height + 1) / 2;
	const unsigned char *planes[3] = { i420, i420 + (size_t)width * height,
		i420 + (size_t)width * height + (size_t)cw * ch };
	int strides[3] = { width, cw, cw };
	if(quality < 1 || quality > 100)
		quality = 80;
	unsigned long len = j->cap;
	/* TJFLAG_NOREALLOC is not set: TurboJPEG grows buf when needed. */
	if(tjCompressFromYUVPlanes(j->tj, planes, width, strides, height, TJSAMP_420,
			&j->buf, &len, quality, TJFLAG_FASTDCT) != 0) {
		snprintf(err, errlen, "JPEG compression failed: %s", tjGetErrorStr2(j->tj));
		return -1;
	}
	if(len > j->cap)
		j->cap = len;
	*out = j->buf;
	*out_len = len;
	return 0;
}
