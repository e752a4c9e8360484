/*
 * video_decoder.c - libavcodec send/receive loop for one stream.
 */
#include "video_decoder.h"

#include <stdio.h>
#include <libavcodec/avcodec.h>
#include <libavutil/fifo.h>

struct ooblex_decoder {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *frame;	/* what avcodec_receive_frame fills */
	AVFifo *ready;	/* of AVFrame *: decoded, not yet taken */
	AVFrame *taken;	/* the picture ooblex_decoder_next handed out last */
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
	/* Grows past 4 only for a stream that holds many pictures back. */
	d->ready = av_fifo_alloc2(4, sizeof(AVFrame *), AV_FIFO_FLAG_AUTO_GROW);
	if(d->ctx == NULL || d->pkt == NULL || d->frame == NULL || d->ready == NULL) {
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
	AVFrame *f;
	while(d->ready != NULL && av_fifo_read(d->ready, &f, 1) >= 0)
		av_frame_free(&f);
	av_fifo_freep2(&d->ready);
	av_frame_free(&d->taken);
	avcodec_free_context(&d->ctx);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
	free(d);
}

void ooblex_decoder_set_max_pixels(ooblex_decoder *d, int64_t max_pixels) {
	if(max_pixels > 0)
		d->ctx->max_pixels = max_pixels;
}

/* Takes every picture libavcodec has ready (until EAGAIN: it wants input,
 * or EOF: drained) into the ready queue. Returns 0, or -1 if a picture was
 * corrupt (dropped: it references garbage) or decoding failed. */
static int receive_all(ooblex_decoder *d) {
	int rc = 0;
	for(;;) {
		int ret = avcodec_receive_frame(d->ctx, d->frame);
		if(ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
			return rc;
		if(ret < 0)
			return -1;
		if(d->frame->decode_error_flags || (d->frame->flags & AV_FRAME_FLAG_CORRUPT)) {
			av_frame_unref(d->frame);
			rc = -1;
			continue;
		}
		AVFrame *f = av_frame_alloc();
		if(f == NULL || av_fifo_write(d->ready, &f, 1) < 0) {
			av_frame_free(&f);
			av_frame_unref(d->frame);
			return -1;
		}
		av_frame_move_ref(f, d->frame);
	}
}

int ooblex_decoder_decode(ooblex_decoder *d, const uint8_t *data, size_t len, int64_t pts) {
	/* The packet borrows the caller's buffer: no copy per frame. */
	d->pkt->data = (uint8_t *)data;
	d->pkt->size = (int)len;
	d->pkt->pts = pts;
	int rc = 0;
	int ret = avcodec_send_packet(d->ctx, d->pkt);
	if(ret == AVERROR(EAGAIN)) {
		/* Output not taken yet (receive_all below takes it all, so only a
		 * decoder that changed its mind): take it, and the packet goes in. */
		rc = receive_all(d);
		ret = avcodec_send_packet(d->ctx, d->pkt);
	}
	d->pkt->data = NULL;
	d->pkt->size = 0;
	if(ret < 0)
		rc = -1;
	if(receive_all(d) < 0)
		rc = -1;
	return rc;
}

int ooblex_decoder_next(ooblex_decoder *d, AVFrame **out) {
	av_frame_free(&d->taken);
	if(av_fifo_read(d->ready, &d->taken, 1) < 0)
		return 0;
	*out = d->taken;
	return 1;
}

int ooblex_decoder_drain(ooblex_decoder *d) {
	int ret = avcodec_send_packet(d->ctx, NULL);
	int rc = receive_all(d);
	/* Out of its end-of-stream state, for the next stream. The pictures
	 * taken are ours (reference-counted): flushing leaves them alone. */
	avcodec_flush_buffers(d->ctx);
	return ret < 0 && ret != AVERROR_EOF ? -1 : rc;
}
