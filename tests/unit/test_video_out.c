/*
 * test_video_out.c - the outgoing video track without Janus: encoder,
 * packetizer and the per-session output thread, checked by sending their
 * packets through our own depacketizer and libavcodec's decoder and
 * comparing the pictures; packet sizes, markers, keyframes on request,
 * REMB lowering the bitrate, and the newest frame winning when encoding
 * falls behind.
 */
#include "testlib.h"

#include <glib.h>
#include <libavutil/log.h>
#include <math.h>

#include <libavcodec/avcodec.h>

#include "depay.h"
#include "footage.h"
#include "picture_quality.h"
#include "ooblex_jpeg.h"
#include "rtp_packet.h"
#include "rtp_packetizer.h"
#include "video_decoder.h"
#include "video_encoder.h"
#include "video_output.h"
#include "video_test_source.h"

#define W 320
#define H 240

/* A receiver: packets -> depacketizer -> decoder -> the last picture. */
typedef struct receiver {
	ooblex_depay *depay;
	ooblex_decoder *dec;
	GMutex lock;
	int packets, markers, too_big, bad, frames, keyframes;
	size_t max_len;
	uint8_t *last;	/* I420 of the last decoded picture */
} receiver;

static void receiver_init(receiver *r, ooblex_codec codec) {
	memset(r, 0, sizeof(*r));
	r->depay = ooblex_depay_new(codec);
	char err[256];
	r->dec = ooblex_decoder_new(ooblex_codec_name(codec), 1, err, sizeof(err));
	g_mutex_init(&r->lock);
	r->last = calloc(1, (size_t)W * H * 3 / 2);
}

static void receiver_free(receiver *r) {
	ooblex_depay_free(r->depay);
	ooblex_decoder_free(r->dec);
	g_mutex_clear(&r->lock);
	free(r->last);
}

static void on_packet(const uint8_t *pkt, size_t len, void *user) {
	receiver *r = user;
	g_mutex_lock(&r->lock);
	r->packets++;
	r->max_len = MAX(r->max_len, len);
	if(len > 1200)
		r->too_big++;
	ooblex_rtp_packet p;
	if(ooblex_rtp_parse(pkt, len, &p) < 0) {
		r->bad++;
		g_mutex_unlock(&r->lock);
		return;
	}
	r->markers += p.marker;
	ooblex_encoded_frame f;
	int need_key = 0;
	if(ooblex_depay_push(r->depay, &p, g_get_monotonic_time(), &f, &need_key) == OOBLEX_DEPAY_FRAME) {
		r->keyframes += f.keyframe;
		/* The decoder wants 64 bytes of slack. */
		uint8_t *copy = calloc(1, f.len + 64);
		memcpy(copy, f.data, f.len);
		AVFrame *pic = NULL;
		ooblex_decoder_decode(r->dec, copy, f.len, 0);
		while(ooblex_decoder_next(r->dec, &pic) == 1) {
			r->frames++;
			if(pic->width == W && pic->height == H)
				for(int y = 0; y < H; y++)
					memcpy(r->last + (size_t)y * W, pic->data[0] + (size_t)y * pic->linesize[0], W);
		}
		free(copy);
	}
	g_mutex_unlock(&r->lock);
}

/* Mean absolute luma difference. */
static double luma_diff(const uint8_t *a, const uint8_t *b) {
	double d = 0;
	for(int i = 0; i < W * H; i++)
		d += abs(a[i] - b[i]);
	return d / (W * H);
}

static void test_packetizer_roundtrip(ooblex_codec codec) {
	/* Frames of every size, from the encoder, through packets of at most
	 * 1200 bytes, back through our depacketizer and the decoder. */
	ooblex_video_encoder *enc = ooblex_video_encoder_new(codec, 8000000, 30);
	REQUIRE(enc != NULL);
	ooblex_rtp_packetizer pk;
	ooblex_rtp_packetizer_init(&pk, codec, codec == OOBLEX_CODEC_H264 ? 102 : 96, 0x1234, 65530, 1200);
	receiver r;
	receiver_init(&r, codec);
	uint8_t *pic = malloc((size_t)W * H * 3 / 2);
	char err[256];
	int sent = 0;
	double worst = 0;
	uint32_t seed = 1;
	for(int n = 0; n < 30; n++) {
		/* The pattern plus noise: frames big enough to need many packets. */
		test_pattern_i420(pic, W, H, n);
		for(int i = 0; i < W * H; i++) {
			seed = seed * 1103515245u + 12345u;
			pic[i] = (uint8_t)(pic[i] + ((seed >> 16) & 15));
		}
		REQUIRE(ooblex_video_encoder_encode(enc, pic, W, H, n == 15, (uint64_t)n * 33333, (uint64_t)n, err, sizeof(err)) == 0);
		/* Real-time settings: each picture's frame comes out at once, alone. */
		const uint8_t *bits;
		size_t len;
		int key;
		uint64_t tag;
		REQUIRE(ooblex_video_encoder_next(enc, &bits, &len, &key, &tag) == 1);
		EXPECT_EQ(tag, n);
		if(n == 0 || n == 15)
			EXPECT(key);
		int before = r.frames;
		EXPECT(ooblex_rtp_packetize(&pk, bits, len, (uint32_t)(n * 3000), on_packet, &r) > 0);
		sent++;
		EXPECT_EQ(r.frames, before + 1);	/* each frame decodes as soon as its last packet is in */
		worst = MAX(worst, luma_diff(r.last, pic));
		EXPECT_EQ(ooblex_video_encoder_next(enc, &bits, &len, &key, &tag), 0);
	}
	printf("# %s: %d frames, %d packets (largest %zu bytes), %d keyframes, worst mean luma error %.2f\n",
		ooblex_codec_name(codec), sent, r.packets, r.max_len, r.keyframes, worst);
	EXPECT_EQ(r.too_big, 0);
	EXPECT_EQ(r.bad, 0);
	EXPECT_EQ(r.markers, sent);	/* one marker per frame, on its last packet */
	EXPECT_EQ(r.frames, sent);
	EXPECT(r.keyframes >= 2);
	EXPECT(r.packets > sent);	/* frames did need several packets */
	EXPECT(worst < 8);
	EXPECT_EQ(ooblex_depay_get_stats(r.depay)->losses, 0);	/* sequence numbers wrapped without a gap */
	free(pic);
	receiver_free(&r);
	ooblex_video_encoder_free(enc);
}

static void test_vp8_roundtrip(void) { test_packetizer_roundtrip(OOBLEX_CODEC_VP8); }
static void test_h264_roundtrip(void) { test_packetizer_roundtrip(OOBLEX_CODEC_H264); }

/* Encodes one picture: 1 if its frame is a keyframe, 0 if not, -1 on error. */
static int encode_one(ooblex_video_encoder *enc, const uint8_t *pic, int w, int h, char *err, size_t errlen) {
	const uint8_t *bits;
	size_t len;
	int key;
	uint64_t tag;
	if(ooblex_video_encoder_encode(enc, pic, w, h, 0, 0, 0, err, errlen) < 0 ||
			ooblex_video_encoder_next(enc, &bits, &len, &key, &tag) != 1)
		return -1;
	return key;
}

static void test_encoder_starts_each_size_with_a_keyframe(void) {
	ooblex_video_encoder *enc = ooblex_video_encoder_new(OOBLEX_CODEC_VP8, 500000, 30);
	uint8_t *pic = malloc(640 * 480 * 3 / 2);
	test_pattern_i420(pic, 640, 480, 0);
	char err[256];
	EXPECT_EQ(encode_one(enc, pic, 320, 240, err, sizeof(err)), 1);
	EXPECT_EQ(encode_one(enc, pic, 320, 240, err, sizeof(err)), 0);
	EXPECT_EQ(encode_one(enc, pic, 640, 480, err, sizeof(err)), 1);
	free(pic);
	ooblex_video_encoder_free(enc);
}

/* The track keeps its bitrate whatever the processed rate (FRAME_SKIP 1 or
 * 3: 30 or 10 pictures a second), on real footage (opencv-doc's
 * Megamind.avi at 640x480), and looks like it: both codecs within a quarter
 * of the target and above 38 dB luma PSNR, decoded by libavcodec. Before
 * the pictures carried their times, VP8 reached a fifth of it and H.264 a
 * third at 10 a second (tests/bench/video_encode --tick-clock). Then a
 * lower target (REMB) is followed within a second: H.264 without a
 * keyframe (x264 reconfigured in place). */
typedef struct footage_clip {
	uint8_t *pictures[150];
	int n;
} footage_clip;

/* Encodes pictures [from, to) of the clip every step-th at their 30 fps
 * times (plus `later` pictures' worth) onto enc, decodes them with dec:
 * the bits, keyframes after the first and the mean luma PSNR. */
static void encode_span(ooblex_video_encoder *enc, AVCodecContext *dec, const footage_clip *c, int from, int to,
		int step, int later, uint64_t *bytes, int *late_keyframes, double *psnr) {
	char err[256];
	double sum = 0;
	int decoded = 0;
	AVPacket *pkt = av_packet_alloc();
	AVFrame *pic = av_frame_alloc();
	for(int i = from; i < to; i += step) {
		if(ooblex_video_encoder_encode(enc, c->pictures[i], 640, 480, 0, (uint64_t)(i + later) * 1000000 / 30,
				(uint64_t)i, err, sizeof(err)) < 0) {
			printf("#   %s\n", err);
			break;
		}
		const uint8_t *bits;
		size_t len;
		int key;
		uint64_t tag;
		while(ooblex_video_encoder_next(enc, &bits, &len, &key, &tag) == 1) {
			*bytes += len;
			*late_keyframes += key && i + later > 0;
			if(av_new_packet(pkt, (int)len) < 0)
				break;
			memcpy(pkt->data, bits, len);
			if(avcodec_send_packet(dec, pkt) == 0)
				while(avcodec_receive_frame(dec, pic) == 0) {
					sum += quality_psnr(quality_mse(c->pictures[tag], 640, pic->data[0], pic->linesize[0], 640, 480));
					decoded++;
					av_frame_unref(pic);
				}
			av_packet_unref(pkt);
		}
	}
	*psnr = decoded ? sum / decoded : 0;
	av_frame_free(&pic);
	av_packet_free(&pkt);
}

static void test_encoder_keeps_its_bitrate_at_any_picture_rate(void) {
	footage_clip c;
	c.n = footage_i420("/usr/share/doc/opencv-doc/examples/data/Megamind.avi", 150, 640, 480, c.pictures);
	REQUIRE(c.n == 150);
	const int target = 1000000;
	for(int k = 0; k < 2; k++) {
		ooblex_codec codec = k ? OOBLEX_CODEC_H264 : OOBLEX_CODEC_VP8;
		for(int step = 1; step <= 3; step += 2) {
			ooblex_video_encoder *enc = ooblex_video_encoder_new(codec, target, 30);
			const AVCodec *dc = avcodec_find_decoder(k ? AV_CODEC_ID_H264 : AV_CODEC_ID_VP8);
			AVCodecContext *dec = avcodec_alloc_context3(dc);
			REQUIRE(avcodec_open2(dec, dc, NULL) == 0);
			uint64_t bytes = 0;
			int late_keys = 0;
			double psnr = 0;
			/* The first second settles the rate estimate; the next four count. */
			encode_span(enc, dec, &c, 0, 30, step, 0, &bytes, &late_keys, &psnr);
			bytes = 0;
			encode_span(enc, dec, &c, 30, 150, step, 0, &bytes, &late_keys, &psnr);
			double bps = bytes * 8 / 4.0;
			printf("# %s at %d pictures/s: %.0f kbit/s of %d, luma PSNR %.1f dB\n", ooblex_codec_name(codec), 30 / step,
				bps / 1000, target / 1000, psnr);
			EXPECT(bps > target * 0.75 && bps < target * 1.25);
			EXPECT(psnr > 38);
			if(step == 3) {
				/* REMB: half the target. The next seconds spend about half. */
				ooblex_video_encoder_set_bitrate(enc, target / 2);
				bytes = 0;
				late_keys = 0;
				encode_span(enc, dec, &c, 0, 30, step, 150, &bytes, &late_keys, &psnr);
				bytes = 0;
				encode_span(enc, dec, &c, 30, 150, step, 150, &bytes, &late_keys, &psnr);
				bps = bytes * 8 / 4.0;
				printf("# %s after a REMB of %d kbit/s: %.0f kbit/s, %d keyframes\n", ooblex_codec_name(codec),
					target / 2000, bps / 1000, late_keys);
				EXPECT(bps > target / 2 * 0.7 && bps < target / 2 * 1.25);
				if(codec == OOBLEX_CODEC_H264)
					EXPECT_EQ(late_keys, 0);
			}
			avcodec_free_context(&dec);
			ooblex_video_encoder_free(enc);
		}
	}
	for(int i = 0; i < c.n; i++)
		free(c.pictures[i]);
}

static void test_encoder_refuses_odd_sizes(void) {
	ooblex_video_encoder *enc = ooblex_video_encoder_new(OOBLEX_CODEC_VP8, 500000, 30);
	uint8_t *pic = malloc(640 * 480 * 3 / 2);
	test_pattern_i420(pic, 640, 480, 0);
	char err[256];
	EXPECT_EQ(encode_one(enc, pic, 321, 240, err, sizeof(err)), -1);
	EXPECT(strstr(err, "321x240") != NULL);
	free(pic);
	ooblex_video_encoder_free(enc);
}

/* JPEG of the test pattern, as a worker would return it. */
static unsigned char *pattern_jpeg(int n, unsigned long *len) {
	uint8_t *pic = malloc((size_t)W * H * 3 / 2);
	test_pattern_i420(pic, W, H, n);
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER);
	const uint8_t *jpeg = NULL;
	size_t jlen = 0;
	char err[256];
	unsigned char *out = NULL;
	if(j != NULL && ooblex_jpeg_encode_i420(j, pic, W, H, 90, &jpeg, &jlen, err, sizeof(err)) == 0 &&
			(out = malloc(jlen)) != NULL)
		memcpy(out, jpeg, jlen);
	*len = out ? jlen : 0;
	ooblex_jpeg_free(j);
	free(pic);
	return out;
}

static int wait_sent(const ooblex_video_output_stats *s, uint64_t n, int ms) {
	for(int i = 0; i < ms / 5 && atomic_load(&s->frames_sent) + atomic_load(&s->frames_dropped) < n; i++)
		g_usleep(5000);
	return atomic_load(&s->frames_sent) + atomic_load(&s->frames_dropped) >= n;
}

static void test_output_thread(void) {
	receiver r;
	receiver_init(&r, OOBLEX_CODEC_VP8);
	ooblex_video_output_config cfg = { OOBLEX_CODEC_VP8, 96, 1500000, 1200, 30, 0, 0 };
	char err[256];
	ooblex_video_output *o = ooblex_video_output_start(&cfg, on_packet, &r, err, sizeof(err));
	REQUIRE(o != NULL);
	const ooblex_video_output_stats *s = ooblex_video_output_get_stats(o);
	/* Paced frames: every one is encoded and sent. */
	for(int n = 0; n < 20; n++) {
		unsigned long len;
		unsigned char *j = pattern_jpeg(n, &len);
		ooblex_video_output_push(o, j, len, W, H, 1000000ULL + (uint64_t)n * 33333, 0);
		free(j);
		wait_sent(s, (uint64_t)n + 1, 2000);
	}
	EXPECT_EQ(atomic_load(&s->frames_sent), 20);
	EXPECT_EQ(atomic_load(&s->keyframes), 1);	/* only the first */
	g_mutex_lock(&r.lock);
	EXPECT_EQ(r.frames, 20);
	uint8_t *pic = malloc((size_t)W * H * 3 / 2);
	test_pattern_i420(pic, W, H, 19);
	double d = luma_diff(r.last, pic);
	g_mutex_unlock(&r.lock);
	printf("# output thread: 20 JPEGs -> 20 VP8 frames, last one within %.2f of the source\n", d);
	EXPECT(d < 6);
	/* A PLI: the next frame is a keyframe. */
	ooblex_video_output_request_keyframe(o);
	unsigned long len;
	unsigned char *j = pattern_jpeg(20, &len);
	ooblex_video_output_push(o, j, len, W, H, 2000000, 0);
	wait_sent(s, 21, 2000);
	EXPECT_EQ(atomic_load(&s->keyframes), 2);
	/* REMB below the target lowers the encoder's bitrate. */
	ooblex_video_output_remb(o, 300000);
	ooblex_video_output_push(o, j, len, W, H, 2033333, 0);
	wait_sent(s, 22, 2000);
	EXPECT_EQ(atomic_load(&s->bitrate_bps), 300000);
	/* A burst faster than encoding: the newest frames win, none is lost
	 * unaccounted for. */
	for(int n = 0; n < 40; n++)
		ooblex_video_output_push(o, j, len, W, H, 3000000ULL + (uint64_t)n * 1000, 0);
	wait_sent(s, 62, 5000);
	uint64_t in = atomic_load(&s->frames_in), sent = atomic_load(&s->frames_sent),
		dropped = atomic_load(&s->frames_dropped), failed = atomic_load(&s->frames_failed);
	printf("# burst of 40: %llu sent, %llu dropped (newest wins)\n", (unsigned long long)(sent - 22),
		(unsigned long long)dropped);
	EXPECT_EQ(in, sent + dropped + failed);
	EXPECT(dropped > 0);
	/* A corrupt JPEG is counted, and the stream goes on. */
	ooblex_video_output_push(o, (const uint8_t *)"not a jpeg", 10, W, H, 4000000, 0);
	for(int i = 0; i < 200 && atomic_load(&s->frames_failed) == 0; i++)
		g_usleep(5000);
	EXPECT_EQ(atomic_load(&s->frames_failed), 1);
	/* Pictures over the limit (1920 x 1080 by default, either way up) are
	 * refused before anything is copied or allocated for them: one that says
	 * so, one whose JPEG says otherwise than its header, one absurdly long. */
	uint64_t sent_before = atomic_load(&s->frames_sent);
	ooblex_video_output_push(o, j, len, 8000, 8000, 4100000, 0);
	ooblex_video_output_push(o, j, len, 1088, 1920, 4200000, 0);	/* upright: fits, but not this JPEG */
	static uint8_t huge[1 << 20];
	ooblex_video_output_push(o, huge, sizeof(huge), 64, 64, 4300000, 0);
	for(int i = 0; i < 200 && atomic_load(&s->frames_failed) < 4; i++)
		g_usleep(5000);
	EXPECT_EQ(atomic_load(&s->frames_failed), 4);
	EXPECT_EQ(atomic_load(&s->frames_sent), sent_before);
	free(j);
	free(pic);
	ooblex_video_output_stop(o);
	g_mutex_lock(&r.lock);
	EXPECT_EQ(r.too_big, 0);
	g_mutex_unlock(&r.lock);
	receiver_free(&r);
}

/* The worker's own I420 (video_reply_format = i420): straight into the
 * encoder, nothing decoded, and only a picture of exactly its size. */
static void test_output_thread_takes_i420(void) {
	receiver r;
	receiver_init(&r, OOBLEX_CODEC_VP8);
	ooblex_video_output_config cfg = { OOBLEX_CODEC_VP8, 96, 1500000, 1200, 30, 0, 0 };
	char err[256];
	ooblex_video_output *o = ooblex_video_output_start(&cfg, on_packet, &r, err, sizeof(err));
	REQUIRE(o != NULL);
	const ooblex_video_output_stats *s = ooblex_video_output_get_stats(o);
	const size_t size = (size_t)W * H * 3 / 2;
	uint8_t *pic = malloc(size + 1);
	for(int n = 0; n < 10; n++) {
		test_pattern_i420(pic, W, H, n);
		ooblex_video_output_push_i420(o, pic, size, W, H, 1000000ULL + (uint64_t)n * 33333, 0);
		wait_sent(s, (uint64_t)n + 1, 2000);
	}
	EXPECT_EQ(atomic_load(&s->frames_sent), 10);
	EXPECT_EQ(atomic_load(&s->frames_failed), 0);
	EXPECT_EQ(atomic_load(&s->decode_us_total), 0);	/* no JPEG to decode */
	g_mutex_lock(&r.lock);
	EXPECT_EQ(r.frames, 10);
	test_pattern_i420(pic, W, H, 9);
	double d = luma_diff(r.last, pic);
	g_mutex_unlock(&r.lock);
	printf("# output thread: 10 I420 pictures -> 10 VP8 frames, last one within %.2f of the source\n", d);
	EXPECT(d < 6);
	/* Not exactly its size, odd, absent or over the limit: counted as
	 * failed before anything is copied, and nothing is sent for them. */
	uint64_t sent_before = atomic_load(&s->frames_sent);
	ooblex_video_output_push_i420(o, pic, size - 1, W, H, 2000000, 0);	/* short */
	ooblex_video_output_push_i420(o, pic, size + 1, W, H, 2000001, 0);	/* long */
	ooblex_video_output_push_i420(o, pic, size, W, H + 2, 2000002, 0);	/* another picture's size */
	ooblex_video_output_push_i420(o, pic, (size_t)(W - 1) * (H - 1) + 2 * (W / 2) * (H / 2), W - 1, H - 1,
		2000003, 0);	/* odd: exactly its rounded-up size, still refused */
	ooblex_video_output_push_i420(o, NULL, size, W, H, 2000004, 0);
	ooblex_video_output_push_i420(o, pic, size, 0, H, 2000005, 0);
	ooblex_video_output_push_i420(o, pic, (size_t)4000 * 4000 * 3 / 2, 4000, 4000, 2000006, 0);	/* over 1920x1080 */
	EXPECT_EQ(atomic_load(&s->frames_failed), 7);
	g_usleep(50000);
	EXPECT_EQ(atomic_load(&s->frames_sent), sent_before);
	/* A burst faster than encoding: the newest wins, JPEG and I420 share
	 * the mailbox, and every frame in is accounted for. */
	unsigned long jlen;
	unsigned char *j = pattern_jpeg(3, &jlen);
	for(int n = 0; n < 40; n++) {
		if(n % 2)
			ooblex_video_output_push(o, j, jlen, W, H, 3000000ULL + (uint64_t)n * 1000, 0);
		else
			ooblex_video_output_push_i420(o, pic, size, W, H, 3000000ULL + (uint64_t)n * 1000, 0);
	}
	wait_sent(s, sent_before + 40, 5000);
	uint64_t in = atomic_load(&s->frames_in), sent = atomic_load(&s->frames_sent),
		dropped = atomic_load(&s->frames_dropped), failed = atomic_load(&s->frames_failed);
	EXPECT_EQ(in, sent + dropped + failed);
	EXPECT(dropped > 0);
	EXPECT_EQ(failed, 7);
	free(j);
	free(pic);
	ooblex_video_output_stop(o);
	g_mutex_lock(&r.lock);
	EXPECT_EQ(r.too_big, 0);
	g_mutex_unlock(&r.lock);
	receiver_free(&r);
}

int main(void) {
	av_log_set_level(AV_LOG_QUIET);
	TEST_RUN(test_vp8_roundtrip);
	TEST_RUN(test_h264_roundtrip);
	TEST_RUN(test_encoder_starts_each_size_with_a_keyframe);
	TEST_RUN(test_encoder_refuses_odd_sizes);
	TEST_RUN(test_encoder_keeps_its_bitrate_at_any_picture_rate);
	TEST_RUN(test_output_thread);
	TEST_RUN(test_output_thread_takes_i420);
	return tl_done();
}
