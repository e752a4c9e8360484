/*
 * test_rtp_vp8.c - RTP parsing and VP8 depacketization on synthetic packets:
 * splitting, loss, reordering, duplicates, padding, lost markers, wraparound.
 */
#include "testlib.h"
#include "rtp_packet.h"
#include "vp8_depay.h"

typedef struct pkt {
	uint8_t buf[1500];
	size_t len;
} pkt;

/* An RTP packet carrying a VP8 descriptor (X=1, I=1, 15-bit picture id)
 * and `n` bytes of VP8 data starting with `first`, then a counter. */
static void make_vp8(pkt *p, uint16_t seq, uint32_t ts, int marker, int start, uint16_t picid,
		uint8_t first, size_t n) {
	uint8_t *b = p->buf;
	b[0] = 0x80;
	b[1] = (uint8_t)((marker ? 0x80 : 0) | 96);
	b[2] = seq >> 8; b[3] = seq & 0xff;
	b[4] = ts >> 24; b[5] = ts >> 16; b[6] = ts >> 8; b[7] = ts;
	b[8] = 0x11; b[9] = 0x22; b[10] = 0x33; b[11] = 0x44;
	b[12] = 0x80 | (start ? 0x10 : 0);	/* X, S, PID 0 */
	b[13] = 0x80;	/* I */
	b[14] = 0x80 | ((picid >> 8) & 0x7f);	/* M: 15-bit picture id */
	b[15] = picid & 0xff;
	for(size_t i = 0; i < n; i++)
		b[16 + i] = (uint8_t)(i == 0 ? first : i);
	p->len = 16 + n;
}

static ooblex_depay_result feed(ooblex_vp8_depay *d, pkt *p, ooblex_encoded_frame *f, int *need_kf) {
	ooblex_rtp_packet rp;
	if(ooblex_rtp_parse(p->buf, p->len, &rp) != 0)
		return OOBLEX_DEPAY_NONE;
	return ooblex_vp8_depay_push(d, &rp, 1000, f, need_kf);
}

#define KEY 0x00	/* P bit clear: keyframe */
#define INTER 0x01

static void test_rtp_parse(void) {
	uint8_t b[64] = { 0x80 | 0x20 | 0x10 | 0x02, 0x80 | 100, 0xff, 0xfe, 0, 0, 0x10, 0, 1, 2, 3, 4 };
	/* two CSRCs */
	memset(b + 12, 0xcc, 8);
	/* extension: profile 0xbede, 1 word */
	b[20] = 0xbe; b[21] = 0xde; b[22] = 0; b[23] = 1;
	memset(b + 24, 0xee, 4);
	/* payload 5 bytes, then 3 bytes of padding */
	memcpy(b + 28, "hello", 5);
	b[33] = 0; b[34] = 0; b[35] = 3;
	ooblex_rtp_packet p;
	REQUIRE(ooblex_rtp_parse(b, 36, &p) == 0);
	EXPECT_EQ(p.seq, 0xfffe);
	EXPECT_EQ(p.timestamp, 0x1000);
	EXPECT_EQ(p.ssrc, 0x01020304);
	EXPECT_EQ(p.payload_type, 100);
	EXPECT_EQ(p.marker, 1);
	EXPECT_EQ(p.payload_len, 5);
	EXPECT(memcmp(p.payload, "hello", 5) == 0);
	/* Malformed: wrong version, short, padding larger than the packet, extension past the end. */
	uint8_t bad[36];
	memcpy(bad, b, 36);
	bad[0] = 0x40;
	EXPECT_EQ(ooblex_rtp_parse(bad, 36, &p), -1);
	EXPECT_EQ(ooblex_rtp_parse(b, 11, &p), -1);
	memcpy(bad, b, 36);
	bad[35] = 200;
	EXPECT_EQ(ooblex_rtp_parse(bad, 36, &p), -1);
	memcpy(bad, b, 36);
	bad[23] = 50;
	EXPECT_EQ(ooblex_rtp_parse(bad, 36, &p), -1);
	EXPECT_EQ(ooblex_rtp_parse(NULL, 0, &p), -1);
	EXPECT_EQ(ooblex_seq_diff(2, 65534), 4);
	EXPECT_EQ(ooblex_seq_diff(65534, 2), -4);
}

static void test_descriptor_lengths(void) {
	int start;
	uint8_t plain[] = { 0x10, 0x9d };
	EXPECT_EQ(ooblex_vp8_descriptor_len(plain, 2, &start), 1);
	EXPECT_EQ(start, 1);
	uint8_t pid7[] = { 0x90, 0x80, 0x05, 0x00 };
	EXPECT_EQ(ooblex_vp8_descriptor_len(pid7, 4, &start), 3);
	uint8_t all[] = { 0x90, 0xf0, 0x80, 0x01, 0x02, 0x03, 0x00 };	/* I(15) L T/K */
	EXPECT_EQ(ooblex_vp8_descriptor_len(all, 7, &start), 6);
	uint8_t partition2[] = { 0x12, 0x00 };	/* S=1 but PID=2: not a frame start */
	EXPECT_EQ(ooblex_vp8_descriptor_len(partition2, 2, &start), 1);
	EXPECT_EQ(start, 0);
	uint8_t truncated[] = { 0x80 };
	EXPECT_EQ(ooblex_vp8_descriptor_len(truncated, 1, &start), -1);
	uint8_t truncated_pid[] = { 0x80, 0x80 };
	EXPECT_EQ(ooblex_vp8_descriptor_len(truncated_pid, 2, &start), -1);
}

static void test_frames_across_packets(void) {
	ooblex_vp8_depay *d = ooblex_vp8_depay_new();
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	/* Keyframe in 3 packets: 100 + 100 + 50 bytes of VP8 data. */
	make_vp8(&p, 10, 3000, 0, 1, 1, KEY, 100);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	make_vp8(&p, 11, 3000, 0, 0, 1, 0x55, 100);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	make_vp8(&p, 12, 3000, 1, 0, 1, 0x66, 50);
	REQUIRE(feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.len, 250);
	EXPECT_EQ(f.keyframe, 1);
	EXPECT_EQ(f.timestamp, 3000);
	EXPECT_EQ(f.data[0], KEY);
	EXPECT_EQ(f.data[100], 0x55);
	EXPECT_EQ(f.data[200], 0x66);
	EXPECT_EQ(f.data[249], 49);
	EXPECT_EQ(f.data[250], 0);	/* zeroed padding for libavcodec */
	EXPECT_EQ(kf, 0);
	/* Single-packet inter frame. */
	make_vp8(&p, 13, 6000, 1, 1, 2, INTER, 30);
	REQUIRE(feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.len, 30);
	EXPECT_EQ(f.keyframe, 0);
	const ooblex_vp8_depay_stats *s = ooblex_vp8_depay_get_stats(d);
	EXPECT_EQ(s->frames, 2);
	EXPECT_EQ(s->keyframes, 1);
	EXPECT_EQ(s->frames_dropped, 0);
	ooblex_vp8_depay_free(d);
}

static void test_waits_for_first_keyframe(void) {
	ooblex_vp8_depay *d = ooblex_vp8_depay_new();
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	make_vp8(&p, 1, 100, 1, 1, 1, INTER, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	EXPECT_EQ(kf, 1);	/* ask for a keyframe */
	make_vp8(&p, 2, 200, 1, 1, 2, KEY, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.keyframe, 1);
	EXPECT_EQ(kf, 0);
	ooblex_vp8_depay_free(d);
}

static void test_loss_drops_until_keyframe(void) {
	ooblex_vp8_depay *d = ooblex_vp8_depay_new();
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	make_vp8(&p, 100, 1000, 1, 1, 1, KEY, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_FRAME);
	/* Inter frame whose middle packet (seq 102) is lost. */
	make_vp8(&p, 101, 2000, 0, 1, 2, INTER, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	make_vp8(&p, 103, 2000, 1, 0, 2, 7, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	EXPECT_EQ(kf, 1);
	/* A whole inter frame next is still useless: its reference is broken. */
	make_vp8(&p, 104, 3000, 1, 1, 3, INTER, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	EXPECT_EQ(kf, 1);
	/* The keyframe resumes output. */
	make_vp8(&p, 105, 4000, 1, 1, 4, KEY, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.timestamp, 4000);
	make_vp8(&p, 106, 5000, 1, 1, 5, INTER, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_FRAME);
	const ooblex_vp8_depay_stats *s = ooblex_vp8_depay_get_stats(d);
	EXPECT_EQ(s->losses, 1);
	EXPECT_EQ(s->frames_dropped, 2);
	EXPECT_EQ(s->frames, 3);
	ooblex_vp8_depay_free(d);
}

static void test_lost_first_packet(void) {
	ooblex_vp8_depay *d = ooblex_vp8_depay_new();
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	make_vp8(&p, 1, 1000, 1, 1, 1, KEY, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_FRAME);
	/* seq 2 (the start of ts 2000) is lost; 3 and 4 are the rest of it. */
	make_vp8(&p, 3, 2000, 0, 0, 2, 9, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	make_vp8(&p, 4, 2000, 1, 0, 2, 9, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	EXPECT_EQ(ooblex_vp8_depay_get_stats(d)->frames_dropped, 1);	/* counted once */
	ooblex_vp8_depay_free(d);
}

static void test_lost_marker_still_completes(void) {
	ooblex_vp8_depay *d = ooblex_vp8_depay_new();
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	make_vp8(&p, 1, 1000, 0, 1, 1, KEY, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	make_vp8(&p, 2, 1000, 0, 0, 1, 3, 20);	/* marker bit lost */
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	/* Next frame is single-packet with its marker: both frames come out. */
	make_vp8(&p, 3, 2000, 1, 1, 2, INTER, 10);
	REQUIRE(feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.timestamp, 1000);
	EXPECT_EQ(f.len, 40);
	REQUIRE(ooblex_vp8_depay_next(d, &f) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.timestamp, 2000);
	EXPECT_EQ(f.len, 10);
	EXPECT_EQ(ooblex_vp8_depay_next(d, &f), OOBLEX_DEPAY_NONE);
	ooblex_vp8_depay_free(d);
}

static void test_duplicates_padding_and_wrap(void) {
	ooblex_vp8_depay *d = ooblex_vp8_depay_new();
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	make_vp8(&p, 65534, 1000, 0, 1, 1, KEY, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);	/* duplicate: ignored */
	make_vp8(&p, 65535, 1000, 1, 0, 1, 4, 20);
	REQUIRE(feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.len, 40);
	/* A padding-only packet (bandwidth probe) takes seq 0 and carries nothing. */
	uint8_t probe[32] = { 0xa0, 96, 0, 0, 0, 0, 0x03, 0xe8, 0x11, 0x22, 0x33, 0x44 };
	probe[31] = 20;
	ooblex_rtp_packet rp;
	REQUIRE(ooblex_rtp_parse(probe, 32, &rp) == 0);
	EXPECT_EQ(rp.payload_len, 0);
	EXPECT_EQ(ooblex_vp8_depay_push(d, &rp, 0, &f, &kf), OOBLEX_DEPAY_NONE);
	/* Sequence wrapped 65535 -> 0 -> 1: no loss. */
	make_vp8(&p, 1, 2000, 1, 1, 2, INTER, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(ooblex_vp8_depay_get_stats(d)->losses, 0);
	/* An old packet arriving late after the frame went out is ignored. */
	make_vp8(&p, 65535, 1000, 1, 0, 1, 4, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	EXPECT_EQ(ooblex_vp8_depay_get_stats(d)->frames, 2);
	ooblex_vp8_depay_free(d);
}

static void test_malformed_descriptor_breaks_frame(void) {
	ooblex_vp8_depay *d = ooblex_vp8_depay_new();
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	make_vp8(&p, 1, 1000, 0, 1, 1, KEY, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	make_vp8(&p, 2, 1000, 1, 0, 1, 4, 0);	/* descriptor only, no data */
	p.len = 13;	/* and even that cut short */
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	make_vp8(&p, 3, 1000, 1, 0, 1, 4, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	EXPECT_EQ(ooblex_vp8_depay_get_stats(d)->bad_packets, 1);
	EXPECT_EQ(ooblex_vp8_depay_get_stats(d)->frames, 0);
	ooblex_vp8_depay_free(d);
}

static void test_large_frame_grows_buffer(void) {
	ooblex_vp8_depay *d = ooblex_vp8_depay_new();
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	/* 200 packets of 1200 bytes = 240 KB, larger than the first allocation. */
	ooblex_depay_result r = OOBLEX_DEPAY_NONE;
	for(int i = 0; i < 200; i++) {
		make_vp8(&p, (uint16_t)(500 + i), 9000, i == 199, i == 0, 7, i == 0 ? KEY : (uint8_t)i, 1200);
		r = feed(d, &p, &f, &kf);
	}
	REQUIRE(r == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.len, 240000);
	EXPECT_EQ(f.data[1200 * 150], 150);
	ooblex_vp8_depay_free(d);
}

int main(void) {
	TEST_RUN(test_rtp_parse);
	TEST_RUN(test_descriptor_lengths);
	TEST_RUN(test_frames_across_packets);
	TEST_RUN(test_waits_for_first_keyframe);
	TEST_RUN(test_loss_drops_until_keyframe);
	TEST_RUN(test_lost_first_packet);
	TEST_RUN(test_lost_marker_still_completes);
	TEST_RUN(test_duplicates_padding_and_wrap);
	TEST_RUN(test_malformed_descriptor_breaks_frame);
	TEST_RUN(test_large_frame_grows_buffer);
	return tl_done();
}
