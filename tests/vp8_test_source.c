/*
 * vp8_test_source.c - pattern, libvpx encoding and VP8 RTP packetization.
 */
#include "vp8_test_source.h"

#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>

#define MAX_PAYLOAD 1100

struct vp8_test_source {
	AVCodecContext *enc;
	AVFrame *frame;
	AVPacket *pkt;
	uint8_t *i420;
	int width, height, n;
	uint16_t seq;
	uint16_t picture_id;
	uint32_t ts;
	int fps;
};

void test_pattern_i420(uint8_t *i420, int w, int h, int n) {
	int cw = (w + 1) / 2, ch = (h + 1) / 2;
	uint8_t *y = i420, *u = i420 + w * h, *v = u + cw * ch;
	int sq = w / 5, sx = (n * 7) % (w - sq), sy = (n * 3) % (h - sq);
	for(int r = 0; r < h; r++)
		for(int c = 0; c < w; c++) {
			int inside = c >= sx && c < sx + sq && r >= sy && r < sy + sq;
			y[r * w + c] = (uint8_t)(inside ? 220 : 40 + c * 150 / w);
		}
	for(int r = 0; r < ch; r++)
		for(int c = 0; c < cw; c++) {
			u[r * cw + c] = (uint8_t)(90 + r * 60 / ch);
			v[r * cw + c] = (uint8_t)(160 - c * 60 / cw);
		}
}

vp8_test_source *vp8_test_source_new(int width, int height, int fps, int bitrate_kbps) {
	const AVCodec *codec = avcodec_find_encoder_by_name("libvpx");
	if(codec == NULL)
		return NULL;
	vp8_test_source *s = calloc(1, sizeof(*s));
	s->enc = avcodec_alloc_context3(codec);
	s->enc->width = width;
	s->enc->height = height;
	s->enc->pix_fmt = AV_PIX_FMT_YUV420P;
	s->enc->time_base = (AVRational){ 1, fps };
	s->enc->bit_rate = (int64_t)bitrate_kbps * 1000;
	s->enc->gop_size = 300;
	s->enc->thread_count = 1;
	av_opt_set(s->enc->priv_data, "deadline", "realtime", 0);
	av_opt_set_int(s->enc->priv_data, "cpu-used", 8, 0);
	av_opt_set_int(s->enc->priv_data, "lag-in-frames", 0, 0);
	if(avcodec_open2(s->enc, codec, NULL) < 0) {
		vp8_test_source_free(s);
		return NULL;
	}
	s->frame = av_frame_alloc();
	s->frame->format = AV_PIX_FMT_YUV420P;
	s->frame->width = width;
	s->frame->height = height;
	av_frame_get_buffer(s->frame, 0);
	s->pkt = av_packet_alloc();
	s->i420 = malloc((size_t)width * height * 3 / 2 + width + height);
	s->width = width;
	s->height = height;
	s->fps = fps;
	s->seq = 1000;
	s->picture_id = 100;
	s->ts = 12345;
	return s;
}

void vp8_test_source_free(vp8_test_source *s) {
	if(s == NULL)
		return;
	avcodec_free_context(&s->enc);
	av_frame_free(&s->frame);
	av_packet_free(&s->pkt);
	free(s->i420);
	free(s);
}

static void packetize(vp8_test_source *s, const uint8_t *data, size_t len, vp8_packet_fn emit, void *user) {
	uint8_t buf[12 + 4 + MAX_PAYLOAD];
	size_t off = 0;
	while(off < len) {
		size_t n = len - off > MAX_PAYLOAD ? MAX_PAYLOAD : len - off;
		int last = off + n == len;
		buf[0] = 0x80;
		buf[1] = (uint8_t)((last ? 0x80 : 0) | 96);
		buf[2] = s->seq >> 8;
		buf[3] = s->seq & 0xff;
		buf[4] = s->ts >> 24; buf[5] = s->ts >> 16; buf[6] = s->ts >> 8; buf[7] = s->ts;
		buf[8] = 0xde; buf[9] = 0xad; buf[10] = 0xbe; buf[11] = 0xef;
		buf[12] = 0x80 | (off == 0 ? 0x10 : 0);
		buf[13] = 0x80;
		buf[14] = 0x80 | ((s->picture_id >> 8) & 0x7f);
		buf[15] = s->picture_id & 0xff;
		memcpy(buf + 16, data + off, n);
		emit(buf, 16 + n, user);
		s->seq++;
		off += n;
	}
	s->picture_id = (s->picture_id + 1) & 0x7fff;
	s->ts += 90000 / s->fps;
}

const uint8_t *vp8_test_source_next(vp8_test_source *s, vp8_packet_fn emit, void *user) {
	test_pattern_i420(s->i420, s->width, s->height, s->n);
	av_frame_make_writable(s->frame);
	av_image_copy_plane(s->frame->data[0], s->frame->linesize[0], s->i420, s->width, s->width, s->height);
	int cw = (s->width + 1) / 2, ch = (s->height + 1) / 2;
	const uint8_t *u = s->i420 + s->width * s->height, *v = u + cw * ch;
	av_image_copy_plane(s->frame->data[1], s->frame->linesize[1], u, cw, cw, ch);
	av_image_copy_plane(s->frame->data[2], s->frame->linesize[2], v, cw, cw, ch);
	s->frame->pts = s->n++;
	if(avcodec_send_frame(s->enc, s->frame) < 0)
		return NULL;
	int got = 0;
	while(avcodec_receive_packet(s->enc, s->pkt) == 0) {
		packetize(s, s->pkt->data, (size_t)s->pkt->size, emit, user);
		av_packet_unref(s->pkt);
		got = 1;
	}
	return got ? s->i420 : NULL;
}
