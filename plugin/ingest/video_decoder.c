/*
 * video_decoder.c - libavcodec send/receive loop for one stream.
 */
#include "video_decoder.h"

#include <stdio.h>
#include <libavcodec/avcodec.h>

struct ooblex_decoder {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *frame;
};

ooblex_decoder *ooblex_decoder_new(const char *codec, int threads, char *err, size_t errlen) {
	const AVCodec *c = avcodec_find_decoder_by_name(codec);
	if(c == NULL) {
		snprintf(err, errlen, "no %s decoder in this libavcodec", codec);
		return NULL;
	}
	ooblex_decoder *d = calloc(1, sizeof(*d));
	if(d == NULL)
		return NULL;
	d->ctx = avcodec_alloc_context3(c);
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	if(d->ctx == NULL || d->pkt == NULL || d->frame == NULL) {
		snprintf(err, errlen, "out of memory");
		ooblex_decoder_free(d);
		return NULL;
	}
	d->ctx->thread_count = threads > 0 ? threads : 1;
	/* Real-time: output each picture as soon as it is decoded. */
	d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	int ret = avcodec_open2(d->ctx, c, NULL);
	if(ret < 0) {
		char buf[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(ret, buf, sizeof(buf));
		snprintf(err, errlen, "cannot open %s decoder: %s", codec, buf);
		ooblex_decoder_free(d);
		return NULL;
	}
	return d;
}

void ooblex_decoder_free(ooblex_decoder *d) {
	if(d == NULL)
		return;
	avcodec_free_context(&d->ctx);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
	free(d);
}

void ooblex_decoder_set_max_pixels(ooblex_decoder *d, int64_t max_pixels) {
	if(max_pixels > 0)
		d->ctx->max_pixels = max_pixels;
}

int ooblex_decoder_decode(ooblex_decoder *d, const uint8_t *data, size_t len, int64_t pts, AVFrame **out) {
	/* The packet borrows the caller's buffer: no copy per frame. */
	d->pkt->data = (uint8_t *)data;
	d->pkt->size = (int)len;
	d->pkt->pts = pts;
	int ret = avcodec_send_packet(d->ctx, d->pkt);
	d->pkt->data = NULL;
	d->pkt->size = 0;
	if(ret < 0 && ret != AVERROR(EAGAIN))
		return -1;
	av_frame_unref(d->frame);
	ret = avcodec_receive_frame(d->ctx, d->frame);
	if(ret == AVERROR(EAGAIN))
		return 0;
	if(ret < 0)
		return -1;
	if(d->frame->decode_error_flags || (d->frame->flags & AV_FRAME_FLAG_CORRUPT))
		return -1;
	*out = d->frame;
	return 1;
}
