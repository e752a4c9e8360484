/*
 * test_depay.c - RTP parsing and VP8 / H.264 depacketization on synthetic packets:
 * splitting, loss, reordering, duplicates, padding, lost markers, wraparound.
 */
#include "testlib.h"
#include "rtp_packet.h"
#include "depay.h"

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

static ooblex_depay_result feed(ooblex_depay *d, pkt *p, ooblex_encoded_frame *f, int *need_kf) {
	ooblex_rtp_packet rp;
	if(ooblex_rtp_parse(p->buf, p->len, &rp) != 0)
		return OOBLEX_DEPAY_NONE;
	return ooblex_depay_push(d, &rp, 1000, f, need_kf);
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
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
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
	const ooblex_depay_stats *s = ooblex_depay_get_stats(d);
	EXPECT_EQ(s->frames, 2);
	EXPECT_EQ(s->keyframes, 1);
	EXPECT_EQ(s->frames_dropped, 0);
	ooblex_depay_free(d);
}

static void test_waits_for_first_keyframe(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
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
	ooblex_depay_free(d);
}

static void test_loss_drops_until_keyframe(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
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
	const ooblex_depay_stats *s = ooblex_depay_get_stats(d);
	EXPECT_EQ(s->losses, 1);
	EXPECT_EQ(s->frames_dropped, 2);
	EXPECT_EQ(s->frames, 3);
	ooblex_depay_free(d);
}

static void test_lost_first_packet(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
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
	EXPECT_EQ(ooblex_depay_get_stats(d)->frames_dropped, 1);	/* counted once */
	ooblex_depay_free(d);
}

static void test_lost_marker_still_completes(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
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
	REQUIRE(ooblex_depay_next(d, &f) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.timestamp, 2000);
	EXPECT_EQ(f.len, 10);
	EXPECT_EQ(ooblex_depay_next(d, &f), OOBLEX_DEPAY_NONE);
	ooblex_depay_free(d);
}

/* A frame's first and last packet arrival: what lies between is the
 * sender's pacing (the latency budget leaves it out, ingest.h). The latest
 * of its packets, not the one that completes it: a frame completed by the
 * next frame's packet (its marker lost) ends at its own last packet. */
static void test_arrival_spread(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	ooblex_rtp_packet rp;
	const struct { uint16_t seq; uint32_t ts; int marker, start; uint8_t first; uint64_t at; } in[] = {
		{ 1, 1000, 0, 1, KEY, 5000 }, { 2, 1000, 0, 0, 3, 21000 }, { 3, 1000, 1, 0, 4, 49000 },
		{ 4, 2000, 0, 1, INTER, 60000 }, { 5, 2000, 0, 0, 5, 61000 },	/* its marker lost */
		{ 6, 3000, 1, 1, INTER, 90000 },
	};
	uint64_t firsts[3], lasts[3];
	int got = 0;
	for(size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		make_vp8(&p, in[i].seq, in[i].ts, in[i].marker, in[i].start, (uint16_t)in[i].ts, in[i].first, 20);
		REQUIRE(ooblex_rtp_parse(p.buf, p.len, &rp) == 0);
		ooblex_depay_result r = ooblex_depay_push(d, &rp, in[i].at, &f, &kf);
		while(r == OOBLEX_DEPAY_FRAME && got < 3) {
			firsts[got] = f.first_arrival_us;
			lasts[got++] = f.last_arrival_us;
			r = ooblex_depay_next(d, &f);
		}
	}
	REQUIRE(got == 3);
	EXPECT_EQ(firsts[0], 5000);
	EXPECT_EQ(lasts[0], 49000);
	EXPECT_EQ(firsts[1], 60000);
	EXPECT_EQ(lasts[1], 61000);
	EXPECT_EQ(firsts[2], 90000);
	EXPECT_EQ(lasts[2], 90000);
	ooblex_depay_free(d);
}

static void test_duplicates_padding_and_wrap(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
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
	EXPECT_EQ(ooblex_depay_push(d, &rp, 0, &f, &kf), OOBLEX_DEPAY_NONE);
	/* Sequence wrapped 65535 -> 0 -> 1: no loss. */
	make_vp8(&p, 1, 2000, 1, 1, 2, INTER, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(ooblex_depay_get_stats(d)->losses, 0);
	/* An old packet arriving late after the frame went out is ignored. */
	make_vp8(&p, 65535, 1000, 1, 0, 1, 4, 20);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	EXPECT_EQ(ooblex_depay_get_stats(d)->frames, 2);
	ooblex_depay_free(d);
}

static void test_malformed_descriptor_breaks_frame(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
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
	EXPECT_EQ(ooblex_depay_get_stats(d)->bad_packets, 1);
	EXPECT_EQ(ooblex_depay_get_stats(d)->frames, 0);
	ooblex_depay_free(d);
}

static void test_large_frame_grows_buffer(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
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
	ooblex_depay_free(d);
}

/* ------------------------------------------------------------------ H.264 */

/* An RTP packet with an arbitrary H.264 payload. */
static void make_h264(pkt *p, uint16_t seq, uint32_t ts, int marker, const uint8_t *payload, size_t n) {
	uint8_t *b = p->buf;
	b[0] = 0x80;
	b[1] = (uint8_t)((marker ? 0x80 : 0) | 102);
	b[2] = seq >> 8; b[3] = seq & 0xff;
	b[4] = ts >> 24; b[5] = ts >> 16; b[6] = ts >> 8; b[7] = ts;
	b[8] = 1; b[9] = 2; b[10] = 3; b[11] = 4;
	memcpy(b + 12, payload, n);
	p->len = 12 + n;
}

static const uint8_t SPS[] = { 0x67, 0x42, 0xc0, 0x1f, 0xda };
static const uint8_t PPS[] = { 0x68, 0xce, 0x3c, 0x80 };
static const uint8_t SC[] = { 0, 0, 0, 1 };

/* STAP-A with SPS and PPS, as browsers send before every IDR. */
static size_t stap_sps_pps(uint8_t *out) {
	size_t o = 0;
	out[o++] = 0x78;	/* NRI 3, type 24 */
	out[o++] = 0; out[o++] = sizeof(SPS); memcpy(out + o, SPS, sizeof(SPS)); o += sizeof(SPS);
	out[o++] = 0; out[o++] = sizeof(PPS); memcpy(out + o, PPS, sizeof(PPS)); o += sizeof(PPS);
	return o;
}

/* FU-A fragment of a NAL unit of `type` (NRI 3) with n body bytes. */
static size_t fu_a(uint8_t *out, int type, int start, int end, uint8_t fill, size_t n) {
	out[0] = 0x7c;	/* NRI 3, type 28 */
	out[1] = (uint8_t)((start ? 0x80 : 0) | (end ? 0x40 : 0) | type);
	memset(out + 2, fill, n);
	return 2 + n;
}

static void test_h264_stap_and_fu_a(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_H264);
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	uint8_t pl[1500];
	size_t n = stap_sps_pps(pl);
	make_h264(&p, 7, 900, 0, pl, n);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	n = fu_a(pl, 5, 1, 0, 0xaa, 100);
	make_h264(&p, 8, 900, 0, pl, n);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	n = fu_a(pl, 5, 0, 0, 0xbb, 100);
	make_h264(&p, 9, 900, 0, pl, n);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	n = fu_a(pl, 5, 0, 1, 0xcc, 50);
	make_h264(&p, 10, 900, 1, pl, n);
	REQUIRE(feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.keyframe, 1);
	/* Annex B: SC SPS SC PPS SC <rebuilt IDR header 0x65> body... */
	size_t want = 4 + sizeof(SPS) + 4 + sizeof(PPS) + 4 + 1 + 250;
	EXPECT_EQ(f.len, want);
	EXPECT(memcmp(f.data, SC, 4) == 0 && memcmp(f.data + 4, SPS, sizeof(SPS)) == 0);
	size_t o = 4 + sizeof(SPS);
	EXPECT(memcmp(f.data + o, SC, 4) == 0 && memcmp(f.data + o + 4, PPS, sizeof(PPS)) == 0);
	o += 4 + sizeof(PPS);
	EXPECT(memcmp(f.data + o, SC, 4) == 0);
	EXPECT_EQ(f.data[o + 4], 0x65);	/* forbidden 0, NRI 3, type 5 */
	EXPECT_EQ(f.data[o + 5], 0xaa);
	EXPECT_EQ(f.data[o + 5 + 100], 0xbb);
	EXPECT_EQ(f.data[want - 1], 0xcc);
	/* A single-NAL non-IDR slice next: an inter frame. */
	uint8_t slice[] = { 0x41, 0x9a, 0x01, 0x02 };
	make_h264(&p, 11, 3900, 1, slice, sizeof(slice));
	REQUIRE(feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.keyframe, 0);
	EXPECT_EQ(f.len, 4 + sizeof(slice));
	ooblex_depay_free(d);
}

static void test_h264_single_nal_units(void) {
	/* Packetization mode 0 style: SPS, PPS and IDR each in its own packet. */
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_H264);
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	uint8_t idr[] = { 0x65, 0x88, 0x80, 0x10 };
	make_h264(&p, 1, 100, 0, SPS, sizeof(SPS));
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	make_h264(&p, 2, 100, 0, PPS, sizeof(PPS));
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	make_h264(&p, 3, 100, 1, idr, sizeof(idr));
	REQUIRE(feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.keyframe, 1);
	EXPECT_EQ(f.len, 12 + sizeof(SPS) + sizeof(PPS) + sizeof(idr));
	ooblex_depay_free(d);
}

static void test_h264_loss_in_fu_a(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_H264);
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	uint8_t pl[1500];
	size_t n = stap_sps_pps(pl);
	make_h264(&p, 1, 100, 0, pl, n);
	feed(d, &p, &f, &kf);
	n = fu_a(pl, 5, 1, 1, 1, 10);
	make_h264(&p, 2, 100, 1, pl, n);
	REQUIRE(feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME);
	/* Inter frame in 3 fragments, the middle one (seq 4) lost. */
	n = fu_a(pl, 1, 1, 0, 2, 10);
	make_h264(&p, 3, 200, 0, pl, n);
	feed(d, &p, &f, &kf);
	n = fu_a(pl, 1, 0, 1, 2, 10);
	make_h264(&p, 5, 200, 1, pl, n);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	EXPECT_EQ(kf, 1);
	/* A frame that starts with a lone FU-A continuation lost its head. */
	n = fu_a(pl, 1, 0, 1, 3, 10);
	make_h264(&p, 7, 300, 1, pl, n);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	/* A slice right after a gap may have lost its head too: not trusted. */
	uint8_t slice[] = { 0x41, 0x9a };
	make_h264(&p, 9, 400, 1, slice, sizeof(slice));
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	/* A keyframe opening with SPS/PPS is a sure start, even after a gap. */
	n = stap_sps_pps(pl);
	make_h264(&p, 12, 500, 0, pl, n);
	feed(d, &p, &f, &kf);
	n = fu_a(pl, 5, 1, 1, 4, 10);
	make_h264(&p, 13, 500, 1, pl, n);
	REQUIRE(feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.keyframe, 1);
	EXPECT_EQ(f.timestamp, 500);
	ooblex_depay_free(d);
}

static void test_h264_malformed_payloads(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_H264);
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	const uint8_t stap_overrun[] = { 0x78, 0x00, 0x20, 0x67, 0x42 };	/* says 32 bytes, has 2 */
	const uint8_t stap_empty[] = { 0x78 };
	const uint8_t fu_short[] = { 0x7c, 0x85 };
	const uint8_t fu_b[] = { 0x7d, 0x85, 0, 0, 1 };	/* interleaved mode only */
	const uint8_t forbidden[] = { 0xe7, 0x42 };
	const uint8_t *bad[] = { stap_overrun, stap_empty, fu_short, fu_b, forbidden };
	const size_t lens[] = { sizeof(stap_overrun), sizeof(stap_empty), sizeof(fu_short), sizeof(fu_b), sizeof(forbidden) };
	for(int i = 0; i < 5; i++) {
		make_h264(&p, (uint16_t)(10 + i), (uint32_t)(1000 * (i + 1)), 1, bad[i], lens[i]);
		EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	}
	EXPECT_EQ(ooblex_depay_get_stats(d)->bad_packets, 5);
	EXPECT_EQ(ooblex_depay_get_stats(d)->frames, 0);
	/* And a good keyframe still comes through afterwards. */
	uint8_t pl[64];
	size_t n = stap_sps_pps(pl);
	make_h264(&p, 15, 9000, 0, pl, n);
	feed(d, &p, &f, &kf);
	n = fu_a(pl, 5, 1, 1, 9, 20);
	make_h264(&p, 16, 9000, 1, pl, n);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_FRAME);
	ooblex_depay_free(d);
}

static void test_frame_over_byte_cap(void) {
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
	ooblex_depay_set_limits(d, 10000, 0);
	const ooblex_depay_stats *s = ooblex_depay_get_stats(d);
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	uint16_t seq = 1;
	/* 9 x 1000 bytes: under the cap, whole. */
	for(int i = 0; i < 9; i++) {
		make_vp8(&p, seq++, 3000, i == 8, i == 0, 1, i == 0 ? KEY : 0x55, 1000);
		ooblex_depay_result r = feed(d, &p, &f, &kf);
		EXPECT_EQ(r, i == 8 ? OOBLEX_DEPAY_FRAME : OOBLEX_DEPAY_NONE);
	}
	EXPECT_EQ(f.len, 9000);
	/* 30 x 1000: dropped as the 11th packet passes 10000 bytes; the rest of
	 * the timestamp, marker included, is discarded. */
	int need_kf = 0;
	for(int i = 0; i < 30; i++) {
		make_vp8(&p, seq++, 6000, i == 29, i == 0, 2, i == 0 ? INTER : 0x55, 1000);
		EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
		need_kf |= kf;
		if(i == 10)
			EXPECT_EQ(s->frames_over_cap, 1);
	}
	EXPECT_EQ(s->frames_over_cap, 1);
	EXPECT_EQ(s->frames_dropped, 0);	/* counted once, under its own reason */
	EXPECT_EQ(need_kf, 1);
	/* What follows waits for a keyframe. */
	make_vp8(&p, seq++, 9000, 1, 1, 3, INTER, 100);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	EXPECT_EQ(s->frames_dropped, 1);
	make_vp8(&p, seq++, 12000, 1, 1, 4, KEY, 100);
	EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.len, 100);
	ooblex_depay_free(d);
}

static void test_frame_that_never_ends(void) {
	/* One timestamp, no marker, forever: 200 000 packets of 1000 bytes (200
	 * MB). Dropped once at the packet cap; nothing after it is kept. */
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_VP8);
	ooblex_depay_set_limits(d, 4 << 20, 3000);
	const ooblex_depay_stats *s = ooblex_depay_get_stats(d);
	ooblex_encoded_frame f;
	int kf, frames = 0;
	pkt p;
	for(uint32_t i = 0; i < 200000; i++) {
		make_vp8(&p, (uint16_t)(i + 1), 3000, 0, i == 0, 1, i == 0 ? KEY : 0x55, 1000);
		frames += feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME;
	}
	EXPECT_EQ(frames, 0);
	EXPECT_EQ(s->frames_over_cap, 1);
	EXPECT_EQ(s->bad_packets, 0);
	/* A new timestamp ends the discarding: the stream recovers at a keyframe. */
	make_vp8(&p, (uint16_t)200001, 6000, 1, 1, 2, KEY, 500);
	REQUIRE(feed(d, &p, &f, &kf) == OOBLEX_DEPAY_FRAME);
	EXPECT_EQ(f.len, 500);
	EXPECT_EQ(f.keyframe, 1);
	ooblex_depay_free(d);
}

static void test_h264_frame_over_cap(void) {
	/* FU-A fragments of one NAL unit that never ends: the byte cap. */
	ooblex_depay *d = ooblex_depay_new(OOBLEX_CODEC_H264);
	ooblex_depay_set_limits(d, 64 * 1024, 0);
	const ooblex_depay_stats *s = ooblex_depay_get_stats(d);
	ooblex_encoded_frame f;
	int kf;
	pkt p;
	uint8_t pl[1400];
	for(int i = 0; i < 1000; i++) {
		size_t n = fu_a(pl, 5, i == 0, 0, 9, 1000);
		make_h264(&p, (uint16_t)(i + 1), 9000, 0, pl, n);
		EXPECT_EQ(feed(d, &p, &f, &kf), OOBLEX_DEPAY_NONE);
	}
	EXPECT_EQ(s->frames_over_cap, 1);
	ooblex_depay_free(d);
}

static void test_seq_unwrap(void) {
	ooblex_seq_unwrapper u = { 0 };
	uint32_t a = ooblex_seq_unwrap(&u, 65533);
	EXPECT_EQ(ooblex_seq_unwrap(&u, 65535), a + 2);
	EXPECT_EQ(ooblex_seq_unwrap(&u, 1), a + 4);	/* wrapped */
	EXPECT_EQ(ooblex_seq_unwrap(&u, 65534), a + 1);	/* late, from before the wrap */
	EXPECT_EQ(ooblex_seq_unwrap(&u, 2), a + 5);
	EXPECT_EQ(ooblex_codec_from_name("h264"), OOBLEX_CODEC_H264);
	EXPECT(strcmp(ooblex_codec_name(OOBLEX_CODEC_VP8), "vp8") == 0);
	EXPECT(ooblex_depay_new(OOBLEX_CODEC_NONE) == NULL);
}

int main(void) {
	TEST_RUN(test_rtp_parse);
	TEST_RUN(test_descriptor_lengths);
	TEST_RUN(test_frames_across_packets);
	TEST_RUN(test_waits_for_first_keyframe);
	TEST_RUN(test_loss_drops_until_keyframe);
	TEST_RUN(test_lost_first_packet);
	TEST_RUN(test_lost_marker_still_completes);
	TEST_RUN(test_arrival_spread);
	TEST_RUN(test_duplicates_padding_and_wrap);
	TEST_RUN(test_malformed_descriptor_breaks_frame);
	TEST_RUN(test_large_frame_grows_buffer);
	TEST_RUN(test_h264_stap_and_fu_a);
	TEST_RUN(test_h264_single_nal_units);
	TEST_RUN(test_h264_loss_in_fu_a);
	TEST_RUN(test_h264_malformed_payloads);
	TEST_RUN(test_frame_over_byte_cap);
	TEST_RUN(test_frame_that_never_ends);
	TEST_RUN(test_h264_frame_over_cap);
	TEST_RUN(test_seq_unwrap);
	return tl_done();
}
