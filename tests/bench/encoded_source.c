/*
 * encoded_source.c - see encoded_source.h.
 */
#include "encoded_source.h"

#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "depay.h"
#include "footage.h"
#include "ooblex_codec.h"
#include "rtp_packet.h"
#include "rtp_packetizer.h"
#include "video_decoder.h"
#include "video_test_source.h"

/* ------------------------------------------------------------ the source */

source_frame source[SOURCE_FRAMES];
int source_n;
int source_every = 1;
AVFrame *source_pictures[SOURCE_FRAMES];	/* decoded, for the throughput mode and encode reference */

typedef struct encode_ctx {
	source_frame *f;
	ooblex_depay *depay;
} encode_ctx;

static void keep_packet(const uint8_t *pkt, size_t len, void *user) {
	encode_ctx *e = user;
	uint16_t l = (uint16_t)len;
	g_byte_array_append(e->f->packets, (const guint8 *)&l, sizeof(l));
	g_byte_array_append(e->f->packets, pkt, (guint)len);
	e->f->n_packets++;
	ooblex_rtp_packet rp;
	ooblex_encoded_frame ef;
	int kf;
	if(ooblex_rtp_parse(pkt, len, &rp) == 0)
		for(int r = ooblex_depay_push(e->depay, &rp, 0, &ef, &kf); r == OOBLEX_DEPAY_FRAME;
				r = ooblex_depay_next(e->depay, &ef))
			g_byte_array_append(e->f->bitstream, ef.data, (guint)ef.len);
}

/* Pictures of real footage scaled to 640x480 (the pattern when there is no
 * file): a camera's detail, not a synthetic gradient that costs nothing to
 * decode. */
typedef struct footage_pictures {
	uint8_t **pics;	/* tightly packed I420 */
	struct SwsContext *sws;
} footage_pictures;

static int keep_scaled(const AVFrame *picture, int index, void *user) {
	footage_pictures *f = user;
	f->sws = sws_getCachedContext(f->sws, picture->width, picture->height, picture->format, W, H, AV_PIX_FMT_YUV420P,
		SWS_BILINEAR, NULL, NULL, NULL);
	uint8_t *dst[4];
	int stride[4];
	f->pics[index] = malloc(I420_SIZE);
	av_image_fill_arrays(dst, stride, f->pics[index], AV_PIX_FMT_YUV420P, W, H, 1);
	sws_scale(f->sws, (const uint8_t *const *)picture->data, picture->linesize, 0, picture->height, dst, stride);
	return 0;
}

/* A webcam's sensor noise: every picture differs a little from the last,
 * which is what makes a real camera cost bits (and decode time) even on a
 * still scene. Clean footage encodes to a fraction of what Chrome sends. */
static void add_sensor_noise(uint8_t *i420, int amplitude, GRand *rng) {
	if(amplitude <= 0)
		return;
	for(int i = 0; i < W * H; i++) {
		int v = i420[i] + g_rand_int_range(rng, -amplitude, amplitude + 1);
		i420[i] = (uint8_t)CLAMP(v, 0, 255);
	}
}

/* An encoder set up as a browser's: constant bitrate at SOURCE_KBPS, no
 * B-frames, no lookahead, one keyframe per loop of the clip. (The plugin's
 * own video_encoder favours speed over quality and sends far fewer bits than
 * Chrome does; the source should cost what a real camera stream costs.) */
static AVCodecContext *browser_like_encoder(const char *codec, int every) {
	const AVCodec *c = avcodec_find_encoder_by_name(!strcmp(codec, "h264") ? "libx264" : "libvpx");
	AVCodecContext *ctx = c ? avcodec_alloc_context3(c) : NULL;
	if(ctx == NULL)
		return NULL;
	ctx->width = W;
	ctx->height = H;
	ctx->pix_fmt = AV_PIX_FMT_YUV420P;
	ctx->time_base = (AVRational){ every, FPS };
	ctx->bit_rate = ctx->rc_min_rate = ctx->rc_max_rate = SOURCE_KBPS * 1000;
	ctx->rc_buffer_size = SOURCE_KBPS * 1000 / 2;
	ctx->gop_size = SOURCE_FRAMES / every;
	ctx->max_b_frames = 0;
	if(!strcmp(codec, "h264")) {
		av_opt_set(ctx->priv_data, "preset", "veryfast", 0);
		av_opt_set(ctx->priv_data, "tune", "zerolatency", 0);
		av_opt_set(ctx->priv_data, "profile", "baseline", 0);
	} else {
		av_opt_set(ctx->priv_data, "deadline", "realtime", 0);
		av_opt_set_int(ctx->priv_data, "cpu-used", 4, 0);
		av_opt_set_int(ctx->priv_data, "lag-in-frames", 0, 0);
		av_opt_set_int(ctx->priv_data, "error-resilient", 1, 0);
	}
	if(avcodec_open2(ctx, c, NULL) < 0)
		avcodec_free_context(&ctx);
	return ctx;
}

int prepare_source(const char *codec, const char *footage, int noise, const char **what) {
	return prepare_source_every(codec, footage, noise, 1, what);
}

int prepare_source_every(const char *codec, const char *footage, int noise, int every, const char **what) {
	if(every < 1 || every > SOURCE_FRAMES)
		return -1;
	source_every = every;
	const int frames = SOURCE_FRAMES / every;
	uint8_t *pics[SOURCE_FRAMES] = { 0 };
	footage_pictures fp = { pics, NULL };
	/* Not inside MAX(): the macro would decode the clip twice and leak the first copy. */
	int decoded = footage_decode(footage, SOURCE_FRAMES, keep_scaled, &fp);
	int have = MAX(0, decoded);
	sws_freeContext(fp.sws);
	*what = have > 0 ? footage : "test pattern";
	AVCodecContext *enc = browser_like_encoder(codec, every);
	if(enc == NULL)
		return -1;
	ooblex_codec oc = ooblex_codec_from_name(codec);
	ooblex_rtp_packetizer pk;
	ooblex_rtp_packetizer_init(&pk, oc, oc == OOBLEX_CODEC_H264 ? 102 : 96, 1, 1, 1200);
	encode_ctx e = { .depay = ooblex_depay_new(oc) };
	AVFrame *frame = av_frame_alloc();
	AVPacket *pkt = av_packet_alloc();
	frame->width = W;
	frame->height = H;
	frame->format = AV_PIX_FMT_YUV420P;
	av_frame_get_buffer(frame, 0);
	uint8_t *pic = malloc(I420_SIZE);
	GRand *rng = g_rand_new_with_seed(7);
	for(int i = 0; i < frames; i++) {
		source[i].packets = g_byte_array_new();
		source[i].bitstream = g_byte_array_new();
		/* The camera's picture at this frame's time: every every-th. */
		int at = i * every;
		if(have > 0)
			memcpy(pic, pics[at % have], I420_SIZE);
		else
			test_pattern_i420(pic, W, H, at);
		add_sensor_noise(pic, noise, rng);
		av_frame_make_writable(frame);
		uint8_t *planes[4];
		int strides[4];
		av_image_fill_arrays(planes, strides, pic, AV_PIX_FMT_YUV420P, W, H, 1);
		av_image_copy(frame->data, frame->linesize, (const uint8_t **)planes, strides, AV_PIX_FMT_YUV420P, W, H);
		frame->pts = i;
		frame->pict_type = i == 0 ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
		if(avcodec_send_frame(enc, frame) < 0)
			return -1;
		/* Real-time settings: every frame comes out at once. */
		while(avcodec_receive_packet(enc, pkt) == 0) {
			e.f = &source[source_n++];
			ooblex_rtp_packetize(&pk, pkt->data, (size_t)pkt->size, (uint32_t)(pkt->pts * every * (90000 / FPS)),
				keep_packet, &e);
			av_packet_unref(pkt);
		}
	}
	/* The pictures as a decoder gives them back, for the reference encode
	 * and the throughput mode. */
	char err[256];
	ooblex_decoder *d = ooblex_decoder_new(codec, 1, err, sizeof(err));
	AVFrame *out;
	for(int i = 0; i <= source_n; i++) {
		if(i < source_n)
			ooblex_decoder_decode(d, source[i].bitstream->data, source[i].bitstream->len, i);
		else
			ooblex_decoder_drain(d);
		/* Each picture in its own frame's slot (its pts). */
		while(ooblex_decoder_next(d, &out) == 1)
			if(out->pts >= 0 && out->pts < source_n) {
				av_frame_free(&source_pictures[out->pts]);	/* a clip prepared before */
				source_pictures[out->pts] = av_frame_clone(out);
			}
	}
	ooblex_decoder_free(d);
	for(int i = 0; i < have; i++)
		free(pics[i]);
	free(pic);
	g_rand_free(rng);
	av_frame_free(&frame);
	av_packet_free(&pkt);
	avcodec_free_context(&enc);
	ooblex_depay_free(e.depay);
	return source_n == frames ? 0 : -1;
}

