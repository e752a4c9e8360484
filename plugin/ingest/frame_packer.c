/*
 * frame_packer.c - scaling, format conversion and packing of sampled frames.
 */
#include "frame_packer.h"

#include <stdlib.h>
#include <string.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>

#include "ooblex_jpeg.h"

struct ooblex_packer {
	ooblex_pixfmt format;
	unsigned max_w, max_h;
	int quality;
	struct SwsContext *sws;	/* cached for the last (size, format) pair */
	uint8_t *scratch;	/* an I420 picture at the target size, for JPEG */
	size_t scratch_cap;
	ooblex_jpeg *jpeg;	/* JPEG only: the encoder and its output buffer */
};

ooblex_packer *ooblex_packer_new(ooblex_pixfmt format, unsigned max_width, unsigned max_height, int jpeg_quality) {
	if(format != OOBLEX_PIXFMT_I420 && format != OOBLEX_PIXFMT_RGB24 && format != OOBLEX_PIXFMT_JPEG)
		return NULL;
	ooblex_packer *p = calloc(1, sizeof(*p));
	if(p == NULL)
		return NULL;
	p->format = format;
	p->max_w = max_width;
	p->max_h = max_height;
	p->quality = jpeg_quality >= 1 && jpeg_quality <= 100 ? jpeg_quality : 80;
	if(format == OOBLEX_PIXFMT_JPEG && (p->jpeg = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER | OOBLEX_JPEG_FAST)) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void ooblex_packer_free(ooblex_packer *p) {
	if(p == NULL)
		return;
	sws_freeContext(p->sws);
	free(p->scratch);
	ooblex_jpeg_free(p->jpeg);
	free(p);
}

void ooblex_packer_target_size(const ooblex_packer *p, int width, int height, int *out_w, int *out_h) {
	*out_w = width;
	*out_h = height;
	double scale = 1.0;
	if(p->max_w && (unsigned)width > p->max_w)
		scale = (double)p->max_w / width;
	if(p->max_h && (unsigned)height > p->max_h && (double)p->max_h / height < scale)
		scale = (double)p->max_h / height;
	if(scale < 1.0) {
		/* Even sizes: chroma planes of I420 stay exact. */
		*out_w = ((int)(width * scale) & ~1) > 2 ? ((int)(width * scale) & ~1) : 2;
		*out_h = ((int)(height * scale) & ~1) > 2 ? ((int)(height * scale) & ~1) : 2;
	}
}

/* Converts (and scales) pic into dst planes of fmt at w x h. */
static int convert(ooblex_packer *p, const AVFrame *pic, enum AVPixelFormat fmt, int w, int h,
		uint8_t *const dst[4], const int dst_stride[4]) {
	p->sws = sws_getCachedContext(p->sws, pic->width, pic->height, pic->format, w, h, fmt,
		SWS_BILINEAR, NULL, NULL, NULL);
	if(p->sws == NULL)
		return -1;
	return sws_scale(p->sws, (const uint8_t *const *)pic->data, pic->linesize, 0, pic->height, dst, dst_stride) == h ? 0 : -1;
}

uint8_t *ooblex_packer_pack(ooblex_packer *p, const AVFrame *pic, ooblex_frame_header *h, size_t *len) {
	/* yuvj420p is the same layout with full-range values. */
	if(pic->format != AV_PIX_FMT_YUV420P && pic->format != AV_PIX_FMT_YUVJ420P)
		return NULL;
	if(pic->width <= 0 || pic->height <= 0 || pic->width > OOBLEX_MAX_DIMENSION || pic->height > OOBLEX_MAX_DIMENSION)
		return NULL;
	int w, hgt;
	ooblex_packer_target_size(p, pic->width, pic->height, &w, &hgt);
	int scaled = w != pic->width || hgt != pic->height;
	h->width = (uint16_t)w;
	h->height = (uint16_t)hgt;
	h->pixfmt = (uint8_t)p->format;

	const uint8_t *planes[3];
	int strides[3];
	if(p->format == OOBLEX_PIXFMT_JPEG) {
		/* JPEG from YUV planes: no RGB round trip. Scale first if needed. */
		if(scaled) {
			size_t need = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, (unsigned)w, (unsigned)hgt);
			if(need > p->scratch_cap) {
				uint8_t *n = realloc(p->scratch, need);
				if(n == NULL)
					return NULL;
				p->scratch = n;
				p->scratch_cap = need;
			}
			uint8_t *dst[4] = { p->scratch, p->scratch + w * hgt, p->scratch + w * hgt + (w / 2) * (hgt / 2), NULL };
			int ds[4] = { w, w / 2, w / 2, 0 };
			if(convert(p, pic, AV_PIX_FMT_YUV420P, w, hgt, dst, ds) < 0)
				return NULL;
			for(int i = 0; i < 3; i++) {
				planes[i] = dst[i];
				strides[i] = ds[i];
			}
		} else {
			for(int i = 0; i < 3; i++) {
				planes[i] = pic->data[i];
				strides[i] = pic->linesize[i];
			}
		}
		const uint8_t *jpeg;
		size_t jlen;
		char err[128];
		if(ooblex_jpeg_encode_planes(p->jpeg, planes, strides, w, hgt, p->quality, &jpeg, &jlen, err, sizeof(err)) < 0)
			return NULL;
		h->payload_len = (uint32_t)jlen;
		size_t hlen = ooblex_wire_header_len(h);
		uint8_t *msg = malloc(hlen + jlen);
		if(msg == NULL)
			return NULL;
		ooblex_wire_write_header(h, msg);
		memcpy(msg + hlen, jpeg, jlen);
		*len = hlen + jlen;
		return msg;
	}

	/* Raw formats: convert (or copy) straight into the message. */
	h->payload_len = (uint32_t)ooblex_pixfmt_size(p->format, (unsigned)w, (unsigned)hgt);
	size_t hlen = ooblex_wire_header_len(h);
	uint8_t *msg = malloc(hlen + h->payload_len);
	if(msg == NULL)
		return NULL;
	ooblex_wire_write_header(h, msg);
	uint8_t *px = msg + hlen;
	int cw = (w + 1) / 2, ch = (hgt + 1) / 2;
	if(p->format == OOBLEX_PIXFMT_I420 && !scaled) {
		/* The common case: drop the decoder's line padding, nothing else. */
		av_image_copy_plane(px, w, pic->data[0], pic->linesize[0], w, hgt);
		av_image_copy_plane(px + w * hgt, cw, pic->data[1], pic->linesize[1], cw, ch);
		av_image_copy_plane(px + w * hgt + cw * ch, cw, pic->data[2], pic->linesize[2], cw, ch);
	} else {
		uint8_t *dst[4] = { px, NULL, NULL, NULL };
		int ds[4] = { w * 3, 0, 0, 0 };
		enum AVPixelFormat fmt = AV_PIX_FMT_RGB24;
		if(p->format == OOBLEX_PIXFMT_I420) {
			dst[1] = px + w * hgt;
			dst[2] = dst[1] + cw * ch;
			ds[0] = w;
			ds[1] = ds[2] = cw;
			fmt = AV_PIX_FMT_YUV420P;
		}
		if(convert(p, pic, fmt, w, hgt, dst, ds) < 0) {
			free(msg);
			return NULL;
		}
	}
	*len = hlen + h->payload_len;
	return msg;
}
