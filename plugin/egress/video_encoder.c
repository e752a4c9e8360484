/*
 * video_encoder.c - see video_encoder.h.
 */
#include "video_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>

struct ooblex_video_encoder {
	ooblex_codec codec;
	AVCodecContext *ctx;
	AVFrame *frame;
	AVPacket *pkt;
	int width, height, fps;
	int bitrate, open_bitrate;
	int64_t pts;
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
	e->frame = av_frame_alloc();
	e->pkt = av_packet_alloc();
	if(e->frame == NULL || e->pkt == NULL) {
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
	av_frame_free(&e->frame);
	av_packet_free(&e->pkt);
	free(e);
}

void ooblex_video_encoder_set_bitrate(ooblex_video_encoder *e, int bitrate_bps) {
	if(bitrate_bps > 0)
		e->bitrate = bitrate_bps;
}

int ooblex_video_encoder_bitrate(const ooblex_video_encoder *e) {
	return e->ctx ? e->open_bitrate : e->bitrate;
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
	ctx->time_base = (AVRational){ 1, 90000 };
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
		av_opt_set_int(ctx->priv_data, "cpu-used", 8, 0);
		av_opt_set_int(ctx->priv_data, "lag-in-frames", 0, 0);
		av_opt_set_int(ctx->priv_data, "error-resilient", 1, 0);
		av_opt_set_int(ctx->priv_data, "static-thresh", 0, 0);
	}
	int ret = avcodec_open2(ctx, c, NULL);
	if(ret < 0) {
		char e2[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(ret, e2, sizeof(e2));
		snprintf(err, errlen, "cannot open %s for %dx%d: %s", name, width, height, e2);
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
	return 0;
}

int ooblex_video_encoder_encode(ooblex_video_encoder *e, const uint8_t *i420, int width, int height,
		int force_keyframe, const uint8_t **out, size_t *out_len, int *keyframe, char *err, size_t errlen) {
	*out = NULL;
	*out_len = 0;
	*keyframe = 0;
	if(width < 16 || height < 16 || (width & 1) || (height & 1)) {
		snprintf(err, errlen, "cannot encode a %dx%d picture", width, height);
		return -1;
	}
	/* A new size, or a target far from what the encoder was opened with:
	 * reopen (the next frame is a keyframe anyway). */
	int drift = e->ctx && (e->bitrate > e->open_bitrate * 6 / 5 || e->bitrate < e->open_bitrate * 4 / 5);
	if(e->ctx == NULL || width != e->width || height != e->height || drift) {
		if(open_encoder(e, width, height, err, errlen) < 0)
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
	e->frame->pts = e->pts++;
	e->frame->pict_type = force_keyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
	e->frame->key_frame = force_keyframe;
	int ret = avcodec_send_frame(e->ctx, e->frame);
	if(ret >= 0) {
		av_packet_unref(e->pkt);
		ret = avcodec_receive_packet(e->ctx, e->pkt);
		if(ret == AVERROR(EAGAIN))
			return 0;
	}
	if(ret < 0) {
		char e2[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(ret, e2, sizeof(e2));
		snprintf(err, errlen, "encoding failed: %s", e2);
		/* An encoder in an unknown state is not reused. */
		close_encoder(e);
		return -1;
	}
	*out = e->pkt->data;
	*out_len = (size_t)e->pkt->size;
	*keyframe = (e->pkt->flags & AV_PKT_FLAG_KEY) != 0;
	return 0;
}
