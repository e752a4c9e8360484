/*
 * ooblex_jpeg.c - TurboJPEG compression and decompression (see ooblex_jpeg.h).
 */
#include "ooblex_jpeg.h"
#include "ooblex_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <turbojpeg.h>

struct ooblex_jpeg {
	tjhandle tj;	/* compressor, or NULL */
	tjhandle tjd;	/* decompressor, or NULL */
	int tjflags;
	unsigned char *buf;	/* grown by TurboJPEG, kept between frames */
	unsigned long cap;
};

ooblex_jpeg *ooblex_jpeg_new(unsigned flags) {
	ooblex_jpeg *j = calloc(1, sizeof(*j));
	if(j == NULL)
		return NULL;
	j->tjflags = flags & OOBLEX_JPEG_FAST ? TJFLAG_FASTDCT : 0;
	if(((flags & OOBLEX_JPEG_ENCODER) && (j->tj = tjInitCompress()) == NULL) ||
			((flags & OOBLEX_JPEG_DECODER) && (j->tjd = tjInitDecompress()) == NULL)) {
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

int ooblex_jpeg_read_header(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, ooblex_jpeg_info *info) {
	int w = 0, h = 0, subsamp = 0, colorspace = 0;
	/* TurboJPEG says yes to a header cut before its size (a warning, w and
	 * h left as they were): no size, no JPEG. */
	if(j->tjd == NULL || jpeg == NULL || len == 0 ||
			tjDecompressHeader3(j->tjd, jpeg, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0 || w <= 0 || h <= 0)
		return -1;
	info->width = w;
	info->height = h;
	info->sampling = subsamp == TJSAMP_420 ? OOBLEX_JPEG_SAMP_420 : subsamp == TJSAMP_GRAY ? OOBLEX_JPEG_SAMP_GRAY :
		OOBLEX_JPEG_SAMP_OTHER;
	return 0;
}

/* ------------------------------------------------------------------ encode */

static int encode_check(ooblex_jpeg *j, int width, int height, int *quality, char *err, size_t errlen) {
	if(j->tj == NULL) {
		snprintf(err, errlen, "JPEG compression failed: no encoder");
		return -1;
	}
	if(width <= 0 || height <= 0 || width > OOBLEX_MAX_DIMENSION || height > OOBLEX_MAX_DIMENSION) {
		snprintf(err, errlen, "JPEG compression failed: a %dx%d picture", width, height);
		return -1;
	}
	if(*quality < 1 || *quality > 100)
		*quality = 80;
	return 0;
}

static int encode_done(ooblex_jpeg *j, int rc, unsigned long len, const uint8_t **out, size_t *out_len,
		char *err, size_t errlen) {
	if(rc != 0) {
		snprintf(err, errlen, "JPEG compression failed: %s", tjGetErrorStr2(j->tj));
		return -1;
	}
	if(len > j->cap)
		j->cap = len;
	*out = j->buf;
	*out_len = len;
	return 0;
}

int ooblex_jpeg_encode_planes(ooblex_jpeg *j, const uint8_t *const planes[3], const int strides[3], int width,
		int height, int quality, const uint8_t **out, size_t *out_len, char *err, size_t errlen) {
	if(encode_check(j, width, height, &quality, err, errlen) < 0)
		return -1;
	const unsigned char *p[3] = { planes[0], planes[1], planes[2] };
	unsigned long len = j->cap;
	/* TJFLAG_NOREALLOC is not set: TurboJPEG grows buf when needed. */
	int rc = tjCompressFromYUVPlanes(j->tj, p, width, strides, height, TJSAMP_420, &j->buf, &len, quality,
		j->tjflags);
	return encode_done(j, rc, len, out, out_len, err, errlen);
}

int ooblex_jpeg_encode_i420(ooblex_jpeg *j, const uint8_t *i420, int width, int height, int quality,
		const uint8_t **out, size_t *out_len, char *err, size_t errlen) {
	int cw = (width + 1) / 2, ch = (height + 1) / 2;
	const uint8_t *planes[3] = { i420, i420 + (size_t)width * height, i420 + (size_t)width * height + (size_t)cw * ch };
	const int strides[3] = { width, cw, cw };
	return ooblex_jpeg_encode_planes(j, planes, strides, width, height, quality, out, out_len, err, errlen);
}

static int encode_packed(ooblex_jpeg *j, const uint8_t *px, int pixel_format, int subsamp, int bytes_pp, int width,
		int height, int quality, const uint8_t **out, size_t *out_len, char *err, size_t errlen) {
	if(encode_check(j, width, height, &quality, err, errlen) < 0)
		return -1;
	unsigned long len = j->cap;
	int rc = tjCompress2(j->tj, px, width, width * bytes_pp, height, pixel_format, &j->buf, &len, subsamp, quality,
		j->tjflags);
	return encode_done(j, rc, len, out, out_len, err, errlen);
}

int ooblex_jpeg_encode_rgb(ooblex_jpeg *j, const uint8_t *rgb, int width, int height, int quality,
		const uint8_t **out, size_t *out_len, char *err, size_t errlen) {
	return encode_packed(j, rgb, TJPF_RGB, TJSAMP_420, 3, width, height, quality, out, out_len, err, errlen);
}

int ooblex_jpeg_encode_gray(ooblex_jpeg *j, const uint8_t *gray, int width, int height, int quality,
		const uint8_t **out, size_t *out_len, char *err, size_t errlen) {
	return encode_packed(j, gray, TJPF_GRAY, TJSAMP_GRAY, 1, width, height, quality, out, out_len, err, errlen);
}

/* ------------------------------------------------------------------ decode */

/* The JPEG's own header against what the caller sized its buffer for,
 * before anything is written. */
static int decode_check(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height, int want_420,
		ooblex_jpeg_info *info, char *err, size_t errlen) {
	if(j->tjd == NULL) {
		snprintf(err, errlen, "not a JPEG: no decoder");
		return -1;
	}
	if(ooblex_jpeg_read_header(j, jpeg, len, info) < 0) {
		snprintf(err, errlen, "not a JPEG: %s", len == 0 ? "no data" : tjGetErrorCode(j->tjd) == TJERR_FATAL ?
			tjGetErrorStr2(j->tjd) : "no picture size");
		return -1;
	}
	if(info->width != width || info->height != height) {
		snprintf(err, errlen, "JPEG is %dx%d, the header says %dx%d", info->width, info->height, width, height);
		return -1;
	}
	if(want_420 && info->sampling != OOBLEX_JPEG_SAMP_420) {
		snprintf(err, errlen, "JPEG is not 4:2:0");
		return -1;
	}
	return 0;
}

/* Warnings (a truncated but decodable image) still give pixels. */
static int decode_done(ooblex_jpeg *j, int rc, char *err, size_t errlen) {
	if(rc == 0)
		return 0;
	if(tjGetErrorCode(j->tjd) == TJERR_FATAL) {
		snprintf(err, errlen, "corrupt JPEG: %s", tjGetErrorStr2(j->tjd));
		return -1;
	}
	snprintf(err, errlen, "damaged JPEG: %s", tjGetErrorStr2(j->tjd));
	return 1;
}

static int decode_planes(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height,
		uint8_t *const planes[3], const int strides[3], char *err, size_t errlen) {
	unsigned char *p[3] = { planes[0], planes[1], planes[2] };
	int s[3] = { strides[0], strides[1], strides[2] };
	int rc = tjDecompressToYUVPlanes(j->tjd, jpeg, (unsigned long)len, p, width, s, height, j->tjflags);
	return decode_done(j, rc, err, errlen);
}

static int decode_packed(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height, uint8_t *out,
		int pixel_format, int bytes_pp, char *err, size_t errlen) {
	int rc = tjDecompress2(j->tjd, jpeg, (unsigned long)len, out, width, width * bytes_pp, height, pixel_format,
		j->tjflags);
	return decode_done(j, rc, err, errlen);
}

int ooblex_jpeg_decode_planes(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height,
		uint8_t *const planes[3], const int strides[3], char *err, size_t errlen) {
	ooblex_jpeg_info info;
	if(decode_check(j, jpeg, len, width, height, 1, &info, err, errlen) < 0)
		return -1;
	return decode_planes(j, jpeg, len, width, height, planes, strides, err, errlen);
}

static void i420_planes(uint8_t *i420, int width, int height, uint8_t *planes[3], int strides[3]) {
	int cw = (width + 1) / 2, ch = (height + 1) / 2;
	planes[0] = i420;
	planes[1] = i420 + (size_t)width * height;
	planes[2] = planes[1] + (size_t)cw * ch;
	strides[0] = width;
	strides[1] = strides[2] = cw;
}

int ooblex_jpeg_decode_i420(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height, uint8_t *i420,
		char *err, size_t errlen) {
	uint8_t *planes[3];
	int strides[3];
	i420_planes(i420, width, height, planes, strides);
	return ooblex_jpeg_decode_planes(j, jpeg, len, width, height, planes, strides, err, errlen);
}

int ooblex_jpeg_decode_rgb(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height, uint8_t *rgb,
		char *err, size_t errlen) {
	ooblex_jpeg_info info;
	if(decode_check(j, jpeg, len, width, height, 0, &info, err, errlen) < 0)
		return -1;
	return decode_packed(j, jpeg, len, width, height, rgb, TJPF_RGB, 3, err, errlen);
}

int ooblex_jpeg_decode_gray(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height, uint8_t *gray,
		char *err, size_t errlen) {
	ooblex_jpeg_info info;
	if(decode_check(j, jpeg, len, width, height, 0, &info, err, errlen) < 0)
		return -1;
	return decode_packed(j, jpeg, len, width, height, gray, TJPF_GRAY, 1, err, errlen);
}

int ooblex_jpeg_decode(ooblex_jpeg *j, const uint8_t *jpeg, size_t len, int width, int height,
		uint8_t *out, int *out_fmt, char *err, size_t errlen) {
	ooblex_jpeg_info info;
	if(decode_check(j, jpeg, len, width, height, 0, &info, err, errlen) < 0)
		return -1;
	if(info.sampling == OOBLEX_JPEG_SAMP_420) {
		uint8_t *planes[3];
		int strides[3];
		i420_planes(out, width, height, planes, strides);
		*out_fmt = OOBLEX_PIXFMT_I420;
		return decode_planes(j, jpeg, len, width, height, planes, strides, err, errlen);
	}
	*out_fmt = OOBLEX_PIXFMT_RGB24;
	return decode_packed(j, jpeg, len, width, height, out, TJPF_RGB, 3, err, errlen);
}
