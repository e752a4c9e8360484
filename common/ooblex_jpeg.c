/*
 * ooblex_jpeg.c - TurboJPEG compression from and decompression to YUV planes.
 */
#include "ooblex_jpeg.h"
#include "ooblex_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <turbojpeg.h>

struct ooblex_jpeg {
	tjhandle tj;
	tjhandle tjd;
	unsigned char *buf;	/* grown by TurboJPEG, kept between frames */
	unsigned long cap;
};

ooblex_jpeg *ooblex_jpeg_new(void) {
	ooblex_jpeg *j = calloc(1, sizeof(*j));
	if(j == NULL)
		return NULL;
	j->tj = tjInitCompress();
	j->tjd = tjInitDecompress();
	if(j->tj == NULL || j->tjd == NULL) {
		ooblex_jpeg_free(j);
		return NULL;
	}
	return j;
}

void ooblex_jpeg_free(ooblex_jpeg *j) {
	if(j == NULL)
		return;
	if(j->tj)
		tjDestroy(j->tj);
	if(j->tjd)
		tjDestroy(j->tjd);
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

int ooblex_jpeg_decode(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height,
		uint8_t *out, int *out_fmt, char *err, size_t errlen) {
	int w = 0, h = 0, subsamp = 0, colorspace = 0;
	if(tjDecompressHeader3(j->tjd, jpeg, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0) {
		snprintf(err, errlen, "not a JPEG: %s", tjGetErrorStr2(j->tjd));
		return -1;
	}
	if(w != width || h != height) {
		snprintf(err, errlen, "JPEG is %dx%d, the header says %dx%d", w, h, width, height);
		return -1;
	}
	int rc;
	if(subsamp == TJSAMP_420) {
		int cw = (w + 1) / 2, ch = (h + 1) / 2;
		unsigned char *planes[3] = { out, out + (size_t)w * h, out + (size_t)w * h + (size_t)cw * ch };
		int strides[3] = { w, cw, cw };
		rc = tjDecompressToYUVPlanes(j->tjd, jpeg, (unsigned long)len, planes, w, strides, h, TJFLAG_FASTDCT);
		*out_fmt = OOBLEX_PIXFMT_I420;
	} else {
		rc = tjDecompress2(j->tjd, jpeg, (unsigned long)len, out, w, w * 3, h, TJPF_RGB, TJFLAG_FASTDCT);
		*out_fmt = OOBLEX_PIXFMT_RGB24;
	}
	/* Warnings (a truncated but decodable image) still give pixels. */
	if(rc != 0 && tjGetErrorCode(j->tjd) == TJERR_FATAL) {
		snprintf(err, errlen, "corrupt JPEG: %s", tjGetErrorStr2(j->tjd));
		return -1;
	}
	return 0;
}
