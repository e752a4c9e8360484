/*
 * test_codec_drain.c - libavcodec's send/receive contract, kept by the
 * plugin's decoder (video_decoder) and encoder (video_encoder): a stream
 * that holds pictures back still gives every one of them, once, after the
 * drain, each with its own frame's timestamp or tag. The held-back streams
 * are real ones: H.264 with B-frames from libx264 (a sender that is not a
 * browser), and the plugin's own encoder with a lookahead.
 */
#include "testlib.h"

#include <libavcodec/avcodec.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>

#include "video_decoder.h"
#include "video_encoder.h"

#define W 64
#define H 48
#define N 30

/* Picture n is flat: luma 20 + 6n, so a decoded picture says which it is. */
static int luma_of(int n) {
	return 20 + 6 * n;
}

static void fill_i420(uint8_t *i420, int w, int h, int n) {
	memset(i420, luma_of(n), (size_t)w * h);
	memset(i420 + (size_t)w * h, 128, (size_t)w * h / 2);
}

/* Which picture a decoded one is, from its luma (-1: none). */
static int picture_index(const AVFrame *pic) {
	int v = pic->data[0][(H / 2) * pic->linesize[0] + W / 2];
	for(int n = 0; n < N; n++)
		if(abs(v - luma_of(n)) <= 2)
			return n;
	return -1;
}

/* N pictures as libx264 encodes them with two B-frames: packets in decode
 * order, each with its picture's display index as pts. Returns how many. */
static int encode_with_b_frames(AVPacket **pkts) {
	const AVCodec *c = avcodec_find_encoder_by_name("libx264");
	AVCodecContext *e = c ? avcodec_alloc_context3(c) : NULL;
	if(e == NULL)
		return 0;
	e->width = W;
	e->height = H;
	e->pix_fmt = AV_PIX_FMT_YUV420P;
	e->time_base = (AVRational){ 1, 30 };
	e->max_b_frames = 2;
	e->gop_size = N;
	e->thread_count = 1;
	av_opt_set(e->priv_data, "preset", "fast", 0);
	int np = 0;
	AVFrame *f = av_frame_alloc();
	AVPacket *pkt = av_packet_alloc();
	f->format = AV_PIX_FMT_YUV420P;
	f->width = W;
	f->height = H;
	if(avcodec_open2(e, c, NULL) == 0 && av_frame_get_buffer(f, 0) == 0) {
		for(int n = 0; n <= N; n++) {
			if(n < N && av_frame_make_writable(f) == 0) {
				for(int y = 0; y < H; y++)
					memset(f->data[0] + y * f->linesize[0], luma_of(n), W);
				for(int y = 0; y < H / 2; y++) {
					memset(f->data[1] + y * f->linesize[1], 128, W / 2);
					memset(f->data[2] + y * f->linesize[2], 128, W / 2);
				}
				f->pts = n;
			}
			/* This stream's sender drains its encoder as it should. */
			avcodec_send_frame(e, n < N ? f : NULL);
			while(np < 2 * N && avcodec_receive_packet(e, pkt) == 0) {
				pkts[np++] = av_packet_clone(pkt);
				av_packet_unref(pkt);
			}
		}
	}
	av_frame_free(&f);
	av_packet_free(&pkt);
	avcodec_free_context(&e);
	return np;
}

/* Decodes the packets (pts = the display index) and takes what comes out,
 * before the drain (*before) and in all; seen[n] counts picture n. */
static int decode_all(ooblex_decoder *d, AVPacket **pkts, int np, int *before, int seen[N], int *in_order) {
	int total = 0, last = -1;
	*in_order = 1;
	AVFrame *pic;
	for(int i = 0; i <= np; i++) {
		if(i < np) {
			/* The decoder wants 64 zeroed bytes after the data. */
			uint8_t *copy = calloc(1, (size_t)pkts[i]->size + 64);
			memcpy(copy, pkts[i]->data, (size_t)pkts[i]->size);
			EXPECT_EQ(ooblex_decoder_decode(d, copy, (size_t)pkts[i]->size, pkts[i]->pts), 0);
			free(copy);
		} else {
			*before = total;
			EXPECT_EQ(ooblex_decoder_drain(d), 0);
		}
		while(ooblex_decoder_next(d, &pic) == 1) {
			int n = picture_index(pic);
			EXPECT_EQ(pic->pts, n);	/* its own frame's pts, not the packet's that let it out */
			if(n >= 0)
				seen[n]++;
			if(n <= last)
				*in_order = 0;
			last = n;
			total++;
		}
	}
	return total;
}

static void test_decoder_drain_gives_the_pictures_held_back(void) {
	AVPacket *pkts[2 * N];
	int np = encode_with_b_frames(pkts);
	REQUIRE(np == N);
	char err[256];
	ooblex_decoder *d = ooblex_decoder_new("h264", 1, err, sizeof(err));
	REQUIRE(d != NULL);
	int before = 0, in_order = 0, seen[N] = { 0 };
	int total = decode_all(d, pkts, np, &before, seen, &in_order);
	printf("# %d packets: %d pictures before the drain, %d in all\n", np, before, total);
	EXPECT(before < N);	/* the stream did hold pictures back */
	EXPECT_EQ(total, N);
	EXPECT(in_order);	/* display order */
	for(int n = 0; n < N; n++)
		EXPECT_EQ(seen[n], 1);
	ooblex_decoder_free(d);
	for(int i = 0; i < np; i++)
		av_packet_free(&pkts[i]);
}

static void test_decoder_takes_a_new_stream_after_the_drain(void) {
	AVPacket *pkts[2 * N];
	int np = encode_with_b_frames(pkts);
	REQUIRE(np == N);
	char err[256];
	ooblex_decoder *d = ooblex_decoder_new("h264", 1, err, sizeof(err));
	REQUIRE(d != NULL);
	int before, in_order, seen[N] = { 0 };
	decode_all(d, pkts, np, &before, seen, &in_order);
	memset(seen, 0, sizeof(seen));
	/* The same stream again, from its keyframe: all of it. */
	EXPECT_EQ(decode_all(d, pkts, np, &before, seen, &in_order), N);
	EXPECT(in_order);
	ooblex_decoder_free(d);
	for(int i = 0; i < np; i++)
		av_packet_free(&pkts[i]);
}

/* The plugin's H.264 encoder with a lookahead of 8: it holds 8 pictures. */
static ooblex_video_encoder *encoder_with_lookahead(void) {
	ooblex_video_encoder *e = ooblex_video_encoder_new(OOBLEX_CODEC_H264, 500000, 30);
	if(e != NULL && ooblex_video_encoder_set_option(e, "x264-params", "rc-lookahead=8:mbtree=1") < 0) {
		ooblex_video_encoder_free(e);
		return NULL;
	}
	return e;
}

/* Takes every encoded frame waiting: tags into tags[*n...], keyframe flags
 * into keys[], decoded by d (checked to be the tagged picture). */
static void take_frames(ooblex_video_encoder *e, ooblex_decoder *d, uint64_t *tags, int *keys, int *n) {
	const uint8_t *bits;
	size_t len;
	int key;
	uint64_t tag;
	while(ooblex_video_encoder_next(e, &bits, &len, &key, &tag) == 1) {
		if(*n < 2 * N) {
			tags[*n] = tag;
			keys[*n] = key;
		}
		(*n)++;
		uint8_t *copy = calloc(1, len + 64);
		memcpy(copy, bits, len);
		EXPECT_EQ(ooblex_decoder_decode(d, copy, len, (int64_t)tag), 0);
		free(copy);
		AVFrame *pic;
		while(ooblex_decoder_next(d, &pic) == 1) {
			int v = pic->data[0][(pic->height / 2) * pic->linesize[0] + pic->width / 2];
			EXPECT(abs(v - luma_of((int)pic->pts)) <= 4);	/* the tag is this picture's */
		}
	}
}

static void test_encoder_drain_gives_the_frames_held_back(void) {
	ooblex_video_encoder *e = encoder_with_lookahead();
	REQUIRE(e != NULL);
	char err[256];
	ooblex_decoder *d = ooblex_decoder_new("h264", 1, err, sizeof(err));
	REQUIRE(d != NULL);
	uint8_t i420[W * H * 3 / 2];
	uint64_t tags[2 * N];
	int keys[2 * N], n = 0;
	for(int i = 0; i < 20; i++) {
		fill_i420(i420, W, H, i);
		EXPECT_EQ(ooblex_video_encoder_encode(e, i420, W, H, 0, (uint64_t)i * 33333, (uint64_t)i, err, sizeof(err)), 0);
		take_frames(e, d, tags, keys, &n);
	}
	int before = n;
	EXPECT_EQ(ooblex_video_encoder_drain(e, err, sizeof(err)), 0);
	take_frames(e, d, tags, keys, &n);
	printf("# 20 pictures: %d frames before the drain, %d in all\n", before, n);
	EXPECT(before < 20);	/* the encoder did hold pictures back */
	REQUIRE(n == 20);
	for(int i = 0; i < 20; i++)
		EXPECT_EQ(tags[i], i);
	EXPECT(keys[0]);
	ooblex_decoder_free(d);
	ooblex_video_encoder_free(e);
}

static void test_encoder_reopen_keeps_the_frames_held_back(void) {
	ooblex_video_encoder *e = encoder_with_lookahead();
	REQUIRE(e != NULL);
	char err[256];
	ooblex_decoder *d = ooblex_decoder_new("h264", 1, err, sizeof(err));
	REQUIRE(d != NULL);
	uint8_t i420[2 * W * 2 * H * 3 / 2];
	uint64_t tags[2 * N];
	int keys[2 * N], n = 0;
	/* Ten pictures, then ten at twice the size: the encoder reopens. */
	for(int i = 0; i < 20; i++) {
		int w = i < 10 ? W : 2 * W, h = i < 10 ? H : 2 * H;
		fill_i420(i420, w, h, i);
		EXPECT_EQ(ooblex_video_encoder_encode(e, i420, w, h, 0, (uint64_t)i * 33333, (uint64_t)i, err, sizeof(err)), 0);
		take_frames(e, d, tags, keys, &n);
	}
	EXPECT_EQ(ooblex_video_encoder_drain(e, err, sizeof(err)), 0);
	take_frames(e, d, tags, keys, &n);
	REQUIRE(n == 20);
	for(int i = 0; i < 20; i++)
		EXPECT_EQ(tags[i], i);
	EXPECT(keys[10]);	/* the new size starts with a keyframe */
	ooblex_decoder_free(d);
	ooblex_video_encoder_free(e);
}

int main(void) {
	av_log_set_level(AV_LOG_ERROR);
	TEST_RUN(test_decoder_drain_gives_the_pictures_held_back);
	TEST_RUN(test_decoder_takes_a_new_stream_after_the_drain);
	TEST_RUN(test_encoder_drain_gives_the_frames_held_back);
	TEST_RUN(test_encoder_reopen_keeps_the_frames_held_back);
	return tl_done();
}
