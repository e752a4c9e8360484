/*
 * test_track_quality.c - the load generator's measure of the received
 * processed track (tests/bench/track_quality.h): pictures made as the
 * plugin's video output makes them (the worker's JPEG decoded, encoded by
 * video_encoder, packetized by rtp_packetizer with the capture time at
 * 90 kHz) meet the JPEG they came from whichever arrives first, and only
 * that one: another picture scores low, a timestamp one tick off or
 * another size is not compared.
 */
#include <stdlib.h>
#include <string.h>

#include <libavutil/log.h>

#include "ooblex_jpeg.h"
#include "rtp_packetizer.h"
#include "testlib.h"
#include "track_quality.h"
#include "video_encoder.h"
#include "video_test_source.h"

#define TW 320
#define TH 240
#define FRAMES 10

typedef enum {
	REF_RIGHT,	/* the JPEG the picture was encoded from */
	REF_INVERTED,	/* another picture: its negative */
	REF_TICK_OFF,	/* the right JPEG, stamped 12 us later: one 90 kHz tick off */
	REF_SMALLER,	/* the right picture at half the size */
} ref_kind;

typedef struct packets {
	GByteArray *bytes;	/* u16 length + packet, repeated */
} packets;

static void keep(const uint8_t *pkt, size_t len, void *user) {
	packets *p = user;
	uint16_t l = (uint16_t)len;
	g_byte_array_append(p->bytes, (const guint8 *)&l, sizeof(l));
	g_byte_array_append(p->bytes, pkt, (guint)len);
}

static void feed_packets(track_quality *q, packets *p, int measuring) {
	for(guint off = 0; off + 2 <= p->bytes->len;) {
		uint16_t l;
		memcpy(&l, p->bytes->data + off, sizeof(l));
		track_quality_packet(q, p->bytes->data + off + 2, l, measuring);
		off += 2 + l;
	}
	g_byte_array_set_size(p->bytes, 0);
}

/* FRAMES pictures through the output's encoder into q; even frames'
 * references first, odd frames' after their packets. */
static void run(track_quality *q, ref_kind kind, int measuring, track_quality_result *out) {
	ooblex_jpeg *enc = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER), *dec = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
	ooblex_video_encoder *ve = ooblex_video_encoder_new(OOBLEX_CODEC_VP8, 1500000, 30);
	ooblex_rtp_packetizer pk;
	ooblex_rtp_packetizer_init(&pk, OOBLEX_CODEC_VP8, 96, 1, 1, 1200);
	uint8_t *pic = malloc(TW * TH * 3 / 2), *decoded = malloc(TW * TH * 3 / 2), *other = malloc(TW * TH * 3 / 2);
	packets p = { g_byte_array_new() };
	uint64_t capture = 1764000000000000ull;	/* a wall clock in us: the timestamp wraps, as it does */
	char err[256];
	for(int i = 0; i < FRAMES; i++, capture += 33333) {
		test_pattern_i420(pic, TW, TH, i * 5);
		const uint8_t *jpeg;
		size_t len;
		EXPECT(ooblex_jpeg_encode_i420(enc, pic, TW, TH, 90, &jpeg, &len, err, sizeof(err)) == 0);
		uint8_t *right = g_memdup2(jpeg, len);
		size_t right_len = len;
		/* What the output does with the worker's JPEG. */
		EXPECT(ooblex_jpeg_decode_i420(dec, right, right_len, TW, TH, decoded, err, sizeof(err)) == 0);
		EXPECT(ooblex_video_encoder_encode(ve, decoded, TW, TH, 0, capture, capture, err, sizeof(err)) == 0);
		const uint8_t *bits;
		size_t bits_len;
		int key;
		uint64_t tag;
		while(ooblex_video_encoder_next(ve, &bits, &bits_len, &key, &tag) == 1)
			ooblex_rtp_packetize(&pk, bits, bits_len, (uint32_t)(tag * 9 / 100), keep, &p);
		uint8_t *ref = right;
		size_t ref_len = right_len;
		uint64_t ref_capture = capture;
		if(kind == REF_INVERTED) {
			for(int k = 0; k < TW * TH * 3 / 2; k++)
				other[k] = (uint8_t)(255 - decoded[k]);
			EXPECT(ooblex_jpeg_encode_i420(enc, other, TW, TH, 90, &jpeg, &len, err, sizeof(err)) == 0);
			ref = g_memdup2(jpeg, len);
			ref_len = len;
		} else if(kind == REF_SMALLER) {
			test_pattern_i420(other, TW / 2, TH / 2, i * 5);
			EXPECT(ooblex_jpeg_encode_i420(enc, other, TW / 2, TH / 2, 90, &jpeg, &len, err, sizeof(err)) == 0);
			ref = g_memdup2(jpeg, len);
			ref_len = len;
		} else if(kind == REF_TICK_OFF) {
			ref_capture += 12;
		}
		if(i % 2 == 0) {
			track_quality_reference(q, ref_capture, ref, ref_len, measuring);
			feed_packets(q, &p, measuring);
		} else {
			feed_packets(q, &p, measuring);
			track_quality_reference(q, ref_capture, ref, ref_len, measuring);
		}
		if(ref != right)
			g_free(ref);
		g_free(right);
	}
	track_quality_take(q, out);
	g_byte_array_unref(p.bytes);
	free(pic);
	free(decoded);
	free(other);
	ooblex_video_encoder_free(ve);
	ooblex_jpeg_free(enc);
	ooblex_jpeg_free(dec);
}

static double min_of(GArray *a) {
	double m = 1e9;
	for(guint i = 0; i < a->len; i++)
		m = MIN(m, g_array_index(a, double, i));
	return m;
}

static double max_of(GArray *a) {
	double m = -1e9;
	for(guint i = 0; i < a->len; i++)
		m = MAX(m, g_array_index(a, double, i));
	return m;
}

static void matches_its_own_frame_whichever_comes_first(void) {
	track_quality *q = track_quality_new(OOBLEX_CODEC_VP8);
	REQUIRE(q != NULL);
	track_quality_result r;
	run(q, REF_RIGHT, 1, &r);
	EXPECT_EQ(r.pictures, FRAMES);
	EXPECT_EQ(r.compared, FRAMES);
	EXPECT_EQ(r.unmatched, 0);
	EXPECT_EQ(r.undecodable, 0);
	EXPECT_EQ(r.psnr_y->len, FRAMES);
	EXPECT(min_of(r.psnr_y) > 30);
	EXPECT(min_of(r.psnr_uv) > 30);
	EXPECT(min_of(r.ssim_y) > 0.9);
	track_quality_result_clear(&r);
	track_quality_free(q);
}

static void another_picture_scores_low(void) {
	track_quality *q = track_quality_new(OOBLEX_CODEC_VP8);
	REQUIRE(q != NULL);
	track_quality_result r;
	run(q, REF_INVERTED, 1, &r);
	EXPECT_EQ(r.compared, FRAMES);
	EXPECT(max_of(r.psnr_y) < 20);
	track_quality_result_clear(&r);
	track_quality_free(q);
}

static void one_tick_off_is_unmatched(void) {
	track_quality *q = track_quality_new(OOBLEX_CODEC_VP8);
	REQUIRE(q != NULL);
	track_quality_result r;
	run(q, REF_TICK_OFF, 1, &r);
	EXPECT_EQ(r.pictures, FRAMES);
	EXPECT_EQ(r.compared, 0);
	EXPECT_EQ(r.unmatched, FRAMES);
	track_quality_result_clear(&r);
	track_quality_free(q);
}

static void another_size_is_counted_apart(void) {
	track_quality *q = track_quality_new(OOBLEX_CODEC_VP8);
	REQUIRE(q != NULL);
	track_quality_result r;
	run(q, REF_SMALLER, 1, &r);
	EXPECT_EQ(r.compared, 0);
	EXPECT_EQ(r.size_mismatch, FRAMES);
	EXPECT_EQ(r.unmatched, 0);
	track_quality_result_clear(&r);
	track_quality_free(q);
}

static void outside_the_window_nothing_counts(void) {
	track_quality *q = track_quality_new(OOBLEX_CODEC_VP8);
	REQUIRE(q != NULL);
	track_quality_result r;
	run(q, REF_RIGHT, 0, &r);
	EXPECT_EQ(r.pictures, 0);
	EXPECT_EQ(r.compared, 0);
	EXPECT_EQ(r.unmatched, 0);
	track_quality_result_clear(&r);
	track_quality_free(q);
}

static void one_in_every_compared(void) {
	track_quality *q = track_quality_new(OOBLEX_CODEC_VP8);
	REQUIRE(q != NULL);
	track_quality_set_every(q, 2);
	track_quality_result r;
	run(q, REF_RIGHT, 1, &r);
	EXPECT_EQ(r.pictures, FRAMES);
	EXPECT_EQ(r.sampled, FRAMES / 2);
	EXPECT_EQ(r.compared, FRAMES / 2);
	EXPECT_EQ(r.unmatched, 0);
	track_quality_result_clear(&r);
	track_quality_free(q);
}

int main(void) {
	av_log_set_level(AV_LOG_ERROR);
	TEST_RUN(matches_its_own_frame_whichever_comes_first);
	TEST_RUN(another_picture_scores_low);
	TEST_RUN(one_tick_off_is_unmatched);
	TEST_RUN(another_size_is_counted_apart);
	TEST_RUN(outside_the_window_nothing_counts);
	TEST_RUN(one_in_every_compared);
	return tl_done();
}
