/*
 * video_test_source.c - pattern, encoding and RTP packetization.
 */
#include "video_test_source.h"

#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>

#define MAX_PAYLOAD 1100

struct video_test_source {
	AVCodecContext *enc;
	AVFrame *frame;
	AVPacket *pkt;
	uint8_t *i420;
	int h264;
	int width, height, n, fps;
	int force_keyframe;
	uint16_t seq;
	uint16_t picture_id;
	uint32_t ts;
	video_packet_fn emit;
	void *user;
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

static int open_encoder(video_test_source *s, int width, int height, int fps, int64_t bitrate);

video_test_source *video_test_source_new(const char *codec, int width, int height, int fps, int bitrate_kbps) {
	video_test_source *s = calloc(1, sizeof(*s));
	s->h264 = codec != NULL && !strcmp(codec, "h264");
	s->seq = 65000;	/* wraps early in every test */
	s->picture_id = 100;
	s->ts = 12345;
	if(open_encoder(s, width, height, fps, (int64_t)bitrate_kbps * 1000) < 0) {
		video_test_source_free(s);
		return NULL;
	}
	return s;
}

int video_test_source_resize(video_test_source *s, int width, int height) {
	int64_t bitrate = s->enc->bit_rate;
	avcodec_free_context(&s->enc);
	av_frame_free(&s->frame);
	av_packet_free(&s->pkt);
	free(s->i420);
	s->i420 = NULL;
	return open_encoder(s, width, height, s->fps, bitrate);
}

static int open_encoder(video_test_source *s, int width, int height, int fps, int64_t bitrate) {
	const AVCodec *c = avcodec_find_encoder_by_name(s->h264 ? "libx264" : "libvpx");
	if(c == NULL)
		return -1;
	int h264 = s->h264;
	s->enc = avcodec_alloc_context3(c);
	s->enc->width = width;
	s->enc->height = height;
	s->enc->pix_fmt = AV_PIX_FMT_YUV420P;
	s->enc->time_base = (AVRational){ 1, fps };
	s->enc->bit_rate = bitrate;
	s->enc->gop_size = 300;
	s->enc->max_b_frames = 0;
	s->enc->thread_count = 1;
	if(h264) {
		/* What a browser sends: constrained baseline, in-band SPS/PPS at every IDR. */
		av_opt_set(s->enc->priv_data, "preset", "ultrafast", 0);
		av_opt_set(s->enc->priv_data, "tune", "zerolatency", 0);
		av_opt_set(s->enc->priv_data, "profile", "baseline", 0);
		av_opt_set(s->enc->priv_data, "forced-idr", "1", 0);
	} else {
		av_opt_set(s->enc->priv_data, "deadline", "realtime", 0);
		av_opt_set_int(s->enc->priv_data, "cpu-used", 8, 0);
		av_opt_set_int(s->enc->priv_data, "lag-in-frames", 0, 0);
	}
	if(avcodec_open2(s->enc, c, NULL) < 0)
		return -1;
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
	return 0;
}

void video_test_source_free(video_test_source *s) {
	if(s == NULL)
		return;
	avcodec_free_context(&s->enc);
	av_frame_free(&s->frame);
	av_packet_free(&s->pkt);
	free(s->i420);
	free(s);
}

void video_test_source_force_keyframe(video_test_source *s) {
	s->force_keyframe = 1;
}

/* Sends one RTP packet: 12-byte header, then prefix (a descriptor or FU
 * header) and body. */
static void send_rtp(video_test_source *s, int marker, const uint8_t *prefix, size_t plen,
		const uint8_t *body, size_t blen) {
	uint8_t buf[12 + 16 + MAX_PAYLOAD];
	buf[0] = 0x80;
	buf[1] = (uint8_t)((marker ? 0x80 : 0) | (s->h264 ? 102 : 96));
	buf[2] = s->seq >> 8;
	buf[3] = s->seq & 0xff;
	buf[4] = s->ts >> 24; buf[5] = s->ts >> 16; buf[6] = s->ts >> 8; buf[7] = s->ts;
	buf[8] = 0xde; buf[9] = 0xad; buf[10] = 0xbe; buf[11] = 0xef;
	memcpy(buf + 12, prefix, plen);
	if(blen > 0)	/* a STAP-A is all prefix: body may be NULL */
		memcpy(buf + 12 + plen, body, blen);
	s->emit(buf, 12 + plen + blen, s->user);
	s->seq++;
}

static void packetize_vp8(video_test_source *s, const uint8_t *data, size_t len) {
	for(size_t off = 0; off < len;) {
		size_t n = len - off > MAX_PAYLOAD ? MAX_PAYLOAD : len - off;
		uint8_t desc[4] = { (uint8_t)(0x80 | (off == 0 ? 0x10 : 0)), 0x80,
			(uint8_t)(0x80 | ((s->picture_id >> 8) & 0x7f)), (uint8_t)(s->picture_id & 0xff) };
		send_rtp(s, off + n == len, desc, sizeof(desc), data + off, n);
		off += n;
	}
	s->picture_id = (s->picture_id + 1) & 0x7fff;
}

/* Splits Annex B into NAL units: returns the next one after *pos, or NULL. */
static const uint8_t *next_nal(const uint8_t *data, size_t len, size_t *pos, size_t *nal_len) {
	size_t i = *pos;
	while(i + 3 <= len && !(data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1))
		i++;
	if(i + 3 > len)
		return NULL;
	size_t start = i + 3, end = start;
	while(end + 3 <= len && !(data[end] == 0 && data[end + 1] == 0 && (data[end + 2] == 1 ||
			(data[end + 2] == 0 && end + 3 < len && data[end + 3] == 1))))
		end++;
	if(end + 3 > len)
		end = len;
	*pos = end;
	*nal_len = end - start;
	return data + start;
}

static void packetize_h264(video_test_source *s, const uint8_t *data, size_t len) {
	const uint8_t *nals[64];
	size_t lens[64], n = 0, pos = 0, nl;
	const uint8_t *nal;
	while(n < 64 && (nal = next_nal(data, len, &pos, &nl)) != NULL)
		if(nl > 0) {
			nals[n] = nal;
			lens[n++] = nl;
		}
	for(size_t i = 0; i < n; i++) {
		int type = nals[i][0] & 0x1f, last = i + 1 == n;
		if(type == 7 && i + 1 < n && (nals[i + 1][0] & 0x1f) == 8 && lens[i] + lens[i + 1] + 5 <= MAX_PAYLOAD) {
			/* SPS and PPS together in one STAP-A, as browsers send them. */
			uint8_t stap[MAX_PAYLOAD];
			size_t o = 0;
			stap[o++] = (uint8_t)((nals[i][0] & 0x60) | 24);
			for(int k = 0; k < 2; k++) {
				stap[o++] = (uint8_t)(lens[i + k] >> 8);
				stap[o++] = (uint8_t)(lens[i + k] & 0xff);
				memcpy(stap + o, nals[i + k], lens[i + k]);
				o += lens[i + k];
			}
			send_rtp(s, i + 2 == n, stap, o, NULL, 0);
			i++;
		} else if(lens[i] <= MAX_PAYLOAD) {
			send_rtp(s, last, nals[i], lens[i], NULL, 0);
		} else {
			for(size_t off = 1; off < lens[i];) {
				size_t chunk = lens[i] - off > MAX_PAYLOAD - 2 ? MAX_PAYLOAD - 2 : lens[i] - off;
				uint8_t fu[2] = { (uint8_t)((nals[i][0] & 0xe0) | 28),
					(uint8_t)((off == 1 ? 0x80 : 0) | (off + chunk == lens[i] ? 0x40 : 0) | type) };
				send_rtp(s, last && off + chunk == lens[i], fu, 2, nals[i] + off, chunk);
				off += chunk;
			}
		}
	}
}

const uint8_t *video_test_source_next(video_test_source *s, video_packet_fn emit, void *user) {
	s->emit = emit;
	s->user = user;
	test_pattern_i420(s->i420, s->width, s->height, s->n);
	av_frame_make_writable(s->frame);
	av_image_copy_plane(s->frame->data[0], s->frame->linesize[0], s->i420, s->width, s->width, s->height);
	int cw = (s->width + 1) / 2, ch = (s->height + 1) / 2;
	const uint8_t *u = s->i420 + s->width * s->height, *v = u + cw * ch;
	av_image_copy_plane(s->frame->data[1], s->frame->linesize[1], u, cw, cw, ch);
	av_image_copy_plane(s->frame->data[2], s->frame->linesize[2], v, cw, cw, ch);
	s->frame->pts = s->n++;
	s->frame->pict_type = s->force_keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
	s->force_keyframe = 0;
	if(avcodec_send_frame(s->enc, s->frame) < 0)
		return NULL;
	int got = 0;
	while(avcodec_receive_packet(s->enc, s->pkt) == 0) {
		if(s->h264)
			packetize_h264(s, s->pkt->data, (size_t)s->pkt->size);
		else
			packetize_vp8(s, s->pkt->data, (size_t)s->pkt->size);
		av_packet_unref(s->pkt);
		got = 1;
	}
	s->ts += 90000 / s->fps;
	return got ? s->i420 : NULL;
}
