/*
 * frame_sampler.c - FRAME_SKIP sampling and I420 packing.
 */
#include "frame_sampler.h"

#include <stdlib.h>
#include <string.h>
#include <libavutil/pixfmt.h>

void ooblex_sampler_init(ooblex_sampler *s, unsigned frame_skip) {
	s->frame_skip = frame_skip ? frame_skip : 1;
	s->countdown = 1;	/* the first decoded frame is always taken */
}

void ooblex_sampler_set_skip(ooblex_sampler *s, unsigned frame_skip) {
	s->frame_skip = frame_skip ? frame_skip : 1;
	if(s->countdown > s->frame_skip)
		s->countdown = s->frame_skip;
}

int ooblex_sampler_take(ooblex_sampler *s) {
	if(--s->countdown > 0)
		return 0;
	s->countdown = s->frame_skip;
	return 1;
}

static uint8_t *copy_plane(uint8_t *dst, const uint8_t *src, int stride, int w, int h) {
	for(int y = 0; y < h; y++) {
		memcpy(dst, src + (size_t)y * stride, (size_t)w);
		dst += w;
	}
	return dst;
}

void ooblex_sampler_defer(ooblex_sampler *s) {
	s->countdown = 1;
}

uint8_t *ooblex_pack_frame(const AVFrame *pic, ooblex_frame_header *h, size_t *len) {
	/* yuvj420p is the same layout with full-range values. */
	if(pic->format != AV_PIX_FMT_YUV420P && pic->format != AV_PIX_FMT_YUVJ420P)
		return NULL;
	if(pic->width <= 0 || pic->height <= 0 || pic->width > OOBLEX_MAX_DIMENSION || pic->height > OOBLEX_MAX_DIMENSION)
		return NULL;
	h->width = (uint16_t)pic->width;
	h->height = (uint16_t)pic->height;
	h->pixfmt = OOBLEX_PIXFMT_I420;
	h->payload_len = (uint32_t)ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, h->width, h->height);
	size_t hlen = ooblex_wire_header_len(h);
	uint8_t *msg = malloc(hlen + h->payload_len);
	if(msg == NULL)
		return NULL;
	ooblex_wire_write_header(h, msg);
	int cw = (pic->width + 1) / 2, ch = (pic->height + 1) / 2;
	uint8_t *p = msg + hlen;
	p = copy_plane(p, pic->data[0], pic->linesize[0], pic->width, pic->height);
	p = copy_plane(p, pic->data[1], pic->linesize[1], cw, ch);
	copy_plane(p, pic->data[2], pic->linesize[2], cw, ch);
	*len = hlen + h->payload_len;
	return msg;
}
