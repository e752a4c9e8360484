/*
 * video_encoder.c - see video_encoder.h.
 */
#include "video_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/fifo.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>

/* Tags by pts (one per picture, never reused within this many): more
 * pictures held back at once would be a lookahead no real-time encoder has. */
#define TAG_RING 256
/* Timestamps in the RTP video clock. */
#define PTS_HZ 90000

struct ooblex_video_encoder {
	ooblex_codec codec;
	AVCodecContext *ctx;
	AVDictionary *options;	/* over the real-time settings, at each open */
	AVFrame *frame;
	AVPacket *pkt;	/* what avcodec_receive_packet fills */
	AVFifo *ready;	/* of AVPacket *: encoded, not yet taken */
	AVPacket *taken;	/* the frame ooblex_video_encoder_next handed out last */
	int width, height, fps;
	int bitrate, open_bitrate;
	int64_t last_pts;	/* of the picture encoded last; -1 before the first */
	double interval;	/* smoothed pts between pictures, 0 before the second */
	int64_t live_bitrate;	/* what x264 is told now (see x264_rate) */
	unsigned next_tag;	/* where the next picture's tag goes in the rings */
	int64_t tag_pts[TAG_RING];	/* the pts of the picture whose tag is at the same index */
	uint64_t tags[TAG_RING];
};

ooblex_video_encoder *ooblex_video_encoder_new(ooblex_codec codec, int bitrate_bps, int fps) {
	if(codec != OOBLEX_CODEC_VP8 && codec != OOBLEX_CODEC_H264)
		return NULL;
	ooblex_video_encoder *e = calloc(1, sizeof(*e));
	if(e == NULL)
		return NULL;
	e->codec = codec;
	e->bitrate = bitrate_bps > 0 ? bitrate_bps : 1000000;
	e->fps = fps > 0 ? fps : 30;
	e->last_pts = -1;
	e->frame = av_frame_alloc();
	e->pkt = av_packet_alloc();
	e->ready = av_fifo_alloc2(4, sizeof(AVPacket *), AV_FIFO_FLAG_AUTO_GROW);
	if(e->frame == NULL || e->pkt == NULL || e->ready == NULL) {
		ooblex_video_encoder_free(e);
		return NULL;
	}
	return e;
}

static void close_encoder(ooblex_video_encoder *e) {
	avcodec_free_context(&e->ctx);
	av_frame_unref(e->frame);
	e->width = e->height = 0;
}

void ooblex_video_encoder_free(ooblex_video_encoder *e) {
	if(e == NULL)
		return;
	close_encoder(e);
	AVPacket *p;
	while(e->ready != NULL && av_fifo_read(e->ready, &p, 1) >= 0)
		av_packet_free(&p);
	av_fifo_freep2(&e->ready);
	av_packet_free(&e->taken);
	av_dict_free(&e->options);
	av_frame_free(&e->frame);
	av_packet_free(&e->pkt);
	free(e);
}

void ooblex_video_encoder_set_bitrate(ooblex_video_encoder *e, int bitrate_bps) {
	if(bitrate_bps > 0)
		e->bitrate = bitrate_bps;
}

int ooblex_video_encoder_bitrate(const ooblex_video_encoder *e) {
	/* x264 follows the target without reopening (x264_rate). */
	return e->ctx && e->codec != OOBLEX_CODEC_H264 ? e->open_bitrate : e->bitrate;
}

/* libvpx spends its bitrate over the pictures' own times; x264, as
 * libavcodec sets it up, over its fixed frame rate (e->fps) whatever the
 * times say, so at 10 pictures a second it reached a third of its target.
 * It is told target x (fixed rate / measured rate) instead, which gives each
 * picture target / measured rate, and follows changes of either on the fly
 * (libavcodec reconfigures x264 when bit_rate or the VBV settings change:
 * no reopen, no keyframe). */
static void x264_rate(ooblex_video_encoder *e) {
	double fps = e->interval > 0 ? (double)PTS_HZ / e->interval : e->fps;
	if(fps < 1)
		fps = 1;
	if(fps > 120)
		fps = 120;
	int64_t want = (int64_t)((double)e->bitrate * e->fps / fps);
	if(e->live_bitrate > 0 && want < e->live_bitrate * 21 / 20 && want > e->live_bitrate * 19 / 20)
		return;
	e->live_bitrate = want;
	e->ctx->bit_rate = want;
	e->ctx->rc_max_rate = want;
	e->ctx->rc_buffer_size = (int)(want / 2 > INT32_MAX ? INT32_MAX : want / 2);
}

int ooblex_video_encoder_set_option(ooblex_video_encoder *e, const char *key, const char *value) {
	return av_dict_set(&e->options, key, value, 0) < 0 ? -1 : 0;
}

static void describe_failure(int ret, const char *what, char *err, size_t errlen) {
	char e2[AV_ERROR_MAX_STRING_SIZE];
	av_strerror(ret, e2, sizeof(e2));
	snprintf(err, errlen, "%s: %s", what, e2);
}

static int open_encoder(ooblex_video_encoder *e, int width, int height, char *err, size_t errlen) {
	close_encoder(e);
	const char *name = e->codec == OOBLEX_CODEC_H264 ? "libx264" : "libvpx";
	const AVCodec *c = avcodec_find_encoder_by_name(name);
	if(c == NULL) {
		snprintf(err, errlen, "no %s encoder in this libavcodec", name);
		return -1;
	}
	AVCodecContext *ctx = avcodec_alloc_context3(c);
	if(ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ctx->width = width;
	ctx->height = height;
	ctx->pix_fmt = AV_PIX_FMT_YUV420P;
	/* Pictures carry their own times (the capture times), in the RTP clock:
	 * both encoders' rate control spends the bitrate over the real time
	 * between pictures, so 10 processed pictures a second get a tenth of
	 * it each, not a thirtieth (as a fixed frame rate would give), nor a
	 * 90000th (as one tick per picture did: the track ran at its minimum
	 * quality, about 0.3 Mbit/s of 1.5). */
	ctx->time_base = (AVRational){ 1, PTS_HZ };
	ctx->framerate = (AVRational){ e->fps, 1 };
	ctx->bit_rate = e->bitrate;
	ctx->rc_max_rate = e->bitrate;
	/* Half a second of buffer: enough to absorb a keyframe, small enough
	 * that the rate follows REMB quickly. */
	ctx->rc_buffer_size = e->bitrate / 2;
	/* Keyframes when a receiver asks (PLI/FIR), else rarely: they are big. */
	ctx->gop_size = 10 * e->fps;
	ctx->max_b_frames = 0;
	ctx->thread_count = 1;
	if(e->codec == OOBLEX_CODEC_H264) {
		av_opt_set(ctx->priv_data, "preset", "ultrafast", 0);
		av_opt_set(ctx->priv_data, "tune", "zerolatency", 0);
		av_opt_set(ctx->priv_data, "profile", "baseline", 0);
		av_opt_set(ctx->priv_data, "forced-idr", "1", 0);
		/* SPS/PPS in-band before each IDR (not in extradata). */
		ctx->flags &= ~AV_CODEC_FLAG_GLOBAL_HEADER;
	} else {
		av_opt_set(ctx->priv_data, "deadline", "realtime", 0);
		/* The fastest real-time speed: half the CPU of 8 for about 2 dB
		 * less, still 45 dB and more at 1.5 Mbit/s on camera footage
		 * (tests/bench/video_encode, README "Video output"). */
		av_opt_set_int(ctx->priv_data, "cpu-used", 16, 0);
		av_opt_set_int(ctx->priv_data, "lag-in-frames", 0, 0);
		av_opt_set_int(ctx->priv_data, "error-resilient", 1, 0);
		av_opt_set_int(ctx->priv_data, "static-thresh", 0, 0);
	}
	AVDictionary *opts = NULL;
	av_dict_copy(&opts, e->options, 0);
	int ret = avcodec_open2(ctx, c, &opts);
	/* An option the encoder did not take is a mistake, not a default. */
	if(ret >= 0 && av_dict_count(opts) > 0)
		ret = AVERROR_OPTION_NOT_FOUND;
	av_dict_free(&opts);
	if(ret < 0) {
		char what[96];
		snprintf(what, sizeof(what), "cannot open %s for %dx%d", name, width, height);
		describe_failure(ret, what, err, errlen);
		avcodec_free_context(&ctx);
		return -1;
	}
	e->ctx = ctx;
	e->frame->format = AV_PIX_FMT_YUV420P;
	e->frame->width = width;
	e->frame->height = height;
	if(av_frame_get_buffer(e->frame, 0) < 0) {
		snprintf(err, errlen, "out of memory");
		close_encoder(e);
		return -1;
	}
	e->width = width;
	e->height = height;
	e->open_bitrate = e->bitrate;
	e->live_bitrate = e->bitrate;
	return 0;
}

/* Takes every encoded frame libavcodec has ready (until EAGAIN: it wants a
 * picture, or EOF: drained) into the ready queue. Returns 0 or an AVERROR. */
static int receive_all(ooblex_video_encoder *e) {
	for(;;) {
		int ret = avcodec_receive_packet(e->ctx, e->pkt);
		if(ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return 0;
		if(ret < 0)
			return ret;
		AVPacket *p = av_packet_alloc();
		if(p == NULL || av_fifo_write(e->ready, &p, 1) < 0) {
			av_packet_free(&p);
			av_packet_unref(e->pkt);
			return AVERROR(ENOMEM);
		}
		av_packet_move_ref(p, e->pkt);
	}
}

int ooblex_video_encoder_drain(ooblex_video_encoder *e, char *err, size_t errlen) {
	if(e->ctx == NULL)
		return 0;
	int ret = avcodec_send_frame(e->ctx, NULL);
	if(ret >= 0 || ret == AVERROR_EOF)
		ret = receive_all(e);
	/* At its end of stream it takes no more pictures. */
	close_encoder(e);
	if(ret < 0) {
		describe_failure(ret, "draining the encoder failed", err, errlen);
		return -1;
	}
	return 0;
}

int ooblex_video_encoder_encode(ooblex_video_encoder *e, const uint8_t *i420, int width, int height,
		int force_keyframe, uint64_t time_us, uint64_t tag, char *err, size_t errlen) {
	if(width < 16 || height < 16 || (width & 1) || (height & 1)) {
		snprintf(err, errlen, "cannot encode a %dx%d picture", width, height);
		return -1;
	}
	/* A new size, or a target far from what the encoder was opened with:
	 * reopen (the next frame is a keyframe anyway), the old encoder's last
	 * frames kept. */
	int drift = e->ctx && e->codec != OOBLEX_CODEC_H264 &&
		(e->bitrate > e->open_bitrate * 6 / 5 || e->bitrate < e->open_bitrate * 4 / 5);
	if(e->ctx == NULL || width != e->width || height != e->height || drift) {
		if(ooblex_video_encoder_drain(e, err, errlen) < 0 || open_encoder(e, width, height, err, errlen) < 0)
			return -1;
		force_keyframe = 1;
	}
	if(av_frame_make_writable(e->frame) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int cw = width / 2, ch = height / 2;
	av_image_copy_plane(e->frame->data[0], e->frame->linesize[0], i420, width, width, height);
	av_image_copy_plane(e->frame->data[1], e->frame->linesize[1], i420 + (size_t)width * height, cw, cw, ch);
	av_image_copy_plane(e->frame->data[2], e->frame->linesize[2], i420 + (size_t)width * height + (size_t)cw * ch,
		cw, cw, ch);
	/* Strictly increasing, whatever the caller's clock does (two pictures
	 * of one instant, a step back): a tick later than the last at least. */
	int64_t pts = (int64_t)(time_us * 9 / 100);
	if(pts <= e->last_pts)
		pts = e->last_pts + 1;
	if(e->last_pts >= 0) {
		/* Over about ten pictures; a pause (a stall, a client's hold) of
		 * more than a second is not a rate. */
		double gap = (double)(pts - e->last_pts);
		if(gap <= PTS_HZ)
			e->interval = e->interval > 0 ? e->interval * 0.9 + gap * 0.1 : gap;
	}
	e->last_pts = pts;
	if(e->codec == OOBLEX_CODEC_H264)
		x264_rate(e);
	e->tag_pts[e->next_tag % TAG_RING] = pts;
	e->tags[e->next_tag++ % TAG_RING] = tag;
	e->frame->pts = pts;
	e->frame->pict_type = force_keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
	e->frame->key_frame = force_keyframe;
	int ret = avcodec_send_frame(e->ctx, e->frame);
	if(ret == AVERROR(EAGAIN)) {
		/* Output not taken yet (receive_all below takes it all, so only an
		 * encoder that changed its mind): take it, and the picture goes in. */
		ret = receive_all(e);
		if(ret >= 0)
			ret = avcodec_send_frame(e->ctx, e->frame);
	}
	if(ret >= 0)
		ret = receive_all(e);
	if(ret < 0) {
		describe_failure(ret, "encoding failed", err, errlen);
		/* An encoder in an unknown state is not reused. */
		close_encoder(e);
		return -1;
	}
	return 0;
}

int ooblex_video_encoder_next(ooblex_video_encoder *e, const uint8_t **out, size_t *out_len, int *keyframe,
		uint64_t *tag) {
	av_packet_free(&e->taken);
	if(av_fifo_read(e->ready, &e->taken, 1) < 0)
		return 0;
	*out = e->taken->data;
	*out_len = (size_t)e->taken->size;
	*keyframe = (e->taken->flags & AV_PKT_FLAG_KEY) != 0;
	*tag = 0;
	/* Newest first: the frame out is almost always the picture just in. */
	for(unsigned i = 1; e->taken->pts != AV_NOPTS_VALUE && i <= TAG_RING && i <= e->next_tag; i++) {
		unsigned at = (e->next_tag - i) % TAG_RING;
		if(e->tag_pts[at] == e->taken->pts) {
			*tag = e->tags[at];
			break;
		}
	}
	return 1;
}
