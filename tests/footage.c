/*
 * footage.c - the pictures of a video file (footage.h).
 */
#include "footage.h"

#include <stdlib.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

/* Hands every picture the decoder has ready to fn, up to max in all. */
static void take_pictures(AVCodecContext *dec, AVFrame *picture, int max, footage_fn fn, void *user, int *n,
		int *stop) {
	while(!*stop && *n < max && avcodec_receive_frame(dec, picture) == 0) {
		*stop = fn(picture, (*n)++, user);
		av_frame_unref(picture);
	}
}

int footage_decode(const char *path, int max, footage_fn fn, void *user) {
	AVFormatContext *fmt = NULL;
	if(path == NULL || avformat_open_input(&fmt, path, NULL, NULL) != 0)
		return -1;
	int n = -1, vs = -1, stop = 0;
	AVCodecContext *dec = NULL;
	AVPacket *pkt = av_packet_alloc();
	AVFrame *picture = av_frame_alloc();
	if(avformat_find_stream_info(fmt, NULL) < 0 || (vs = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0)) < 0)
		goto done;
	const AVCodec *codec = avcodec_find_decoder(fmt->streams[vs]->codecpar->codec_id);
	dec = codec ? avcodec_alloc_context3(codec) : NULL;
	if(dec == NULL || avcodec_parameters_to_context(dec, fmt->streams[vs]->codecpar) < 0 || avcodec_open2(dec, codec, NULL) < 0)
		goto done;
	n = 0;
	while(!stop && n < max && av_read_frame(fmt, pkt) >= 0) {
		if(pkt->stream_index == vs && avcodec_send_packet(dec, pkt) >= 0)
			take_pictures(dec, picture, max, fn, user, &n, &stop);
		av_packet_unref(pkt);
	}
	/* The end of the file: what the decoder held back (B-frames) comes out too. */
	if(avcodec_send_packet(dec, NULL) >= 0)
		take_pictures(dec, picture, max, fn, user, &n, &stop);
done:
	av_frame_free(&picture);
	av_packet_free(&pkt);
	avcodec_free_context(&dec);
	avformat_close_input(&fmt);
	return n;
}

typedef struct scaled {
	uint8_t **pictures;
	int n, max, width, height, failed;
	struct SwsContext *sws;
} scaled;

static int scale_one(const AVFrame *p, int index, void *user) {
	(void)index;
	scaled *s = user;
	int w = s->width, h = s->height;
	s->sws = sws_getCachedContext(s->sws, p->width, p->height, p->format, w, h, AV_PIX_FMT_YUV420P, SWS_BICUBIC,
		NULL, NULL, NULL);
	uint8_t *f = malloc((size_t)w * h * 3 / 2);
	if(s->sws == NULL || f == NULL) {
		free(f);
		s->failed = 1;
		return 1;
	}
	uint8_t *dst[4] = { f, f + (size_t)w * h, f + (size_t)w * h * 5 / 4, NULL };
	int stride[4] = { w, w / 2, w / 2, 0 };
	sws_scale(s->sws, (const uint8_t *const *)p->data, p->linesize, 0, p->height, dst, stride);
	s->pictures[s->n++] = f;
	return s->n >= s->max;
}

int footage_i420(const char *path, int max, int width, int height, uint8_t **pictures) {
	if(width < 2 || height < 2 || (width & 1) || (height & 1))
		return -1;
	scaled s = { .pictures = pictures, .max = max, .width = width, .height = height };
	int rc = footage_decode(path, max, scale_one, &s);
	sws_freeContext(s.sws);
	if(rc < 0 || s.failed) {
		for(int i = 0; i < s.n; i++)
			free(pictures[i]);
		return -1;
	}
	return s.n;
}
