/*
 * test_send_rate.c - the video track's rate control (send_rate.h): RTCP
 * report blocks read from compound packets as browsers send them, and
 * malformed ones; the loss-based controller's falls, holds and growth.
 */
#include "testlib.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "send_rate.h"

static size_t put32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

/* A report block about ssrc: fraction lost, cumulative lost, highest seq, jitter. */
static size_t put_block(uint8_t *p, uint32_t ssrc, uint8_t fraction, int32_t cumulative, uint32_t seq, uint32_t jitter) {
	put32(p, ssrc);
	p[4] = fraction;
	uint32_t c = (uint32_t)cumulative & 0xffffffu;
	p[5] = (uint8_t)(c >> 16);
	p[6] = (uint8_t)(c >> 8);
	p[7] = (uint8_t)c;
	put32(p + 8, seq);
	put32(p + 12, jitter);
	put32(p + 16, 0x11223344);	/* LSR */
	put32(p + 20, 0x00010000);	/* DLSR */
	return 24;
}

/* An RTCP header: count, type, and the packet's length in bytes. */
static size_t put_header(uint8_t *p, unsigned count, uint8_t type, size_t bytes) {
	p[0] = (uint8_t)(0x80 | count);
	p[1] = type;
	size_t words = bytes / 4 - 1;
	p[2] = (uint8_t)(words >> 8);
	p[3] = (uint8_t)words;
	return 4;
}

static void test_receiver_report_in_a_compound_packet(void) {
	/* What Chromium sends about a stream it receives: RR, then SDES, then
	 * (here) a REMB; the block is in the RR. */
	uint8_t buf[128];
	size_t at = 0;
	at += put_header(buf + at, 1, 201, 32);
	at += put32(buf + at, 0x01020304);
	at += put_block(buf + at, 0xcafebabe, 51, -2, 0x00010203, 77);
	size_t sdes = at;
	at += put_header(buf + at, 1, 202, 12);
	at += put32(buf + at, 0x01020304);
	buf[at++] = 0;	/* END, padded */
	buf[at++] = 0;
	buf[at++] = 0;
	buf[at++] = 0;
	EXPECT_EQ(at - sdes, 12);
	at += put_header(buf + at, 15, 206, 24);
	at += put32(buf + at, 0x01020304);
	at += put32(buf + at, 0);
	memcpy(buf + at, "REMB", 4);
	at += 4;
	at += put32(buf + at, 0x01123456);
	at += put32(buf + at, 0xcafebabe);
	ooblex_rtcp_report_block b[4];
	size_t n = ooblex_rtcp_report_blocks(buf, at, b, 4);
	EXPECT_EQ(n, 1);
	EXPECT_EQ(b[0].ssrc, 0xcafebabe);
	EXPECT_EQ(b[0].fraction_lost, 51);
	EXPECT_EQ(b[0].cumulative_lost, -2);
	EXPECT_EQ(b[0].highest_seq, 0x00010203);
	EXPECT_EQ(b[0].jitter, 77);
}

static void test_sender_report_blocks_and_the_limit(void) {
	uint8_t buf[128];
	size_t at = 0;
	at += put_header(buf + at, 3, 200, 28 + 3 * 24);
	at += put32(buf + at, 0x0a0b0c0d);
	memset(buf + at, 0, 20);	/* NTP, RTP timestamp, counts */
	at += 20;
	for(uint8_t i = 0; i < 3; i++)
		at += put_block(buf + at, 100u + i, (uint8_t)(10 * i), i, i, i);
	ooblex_rtcp_report_block b[4];
	EXPECT_EQ(ooblex_rtcp_report_blocks(buf, at, b, 4), 3);
	EXPECT_EQ(b[2].ssrc, 102);
	EXPECT_EQ(b[2].fraction_lost, 20);
	EXPECT_EQ(ooblex_rtcp_report_blocks(buf, at, b, 2), 2);	/* no more than asked for */
}

static void test_malformed_reports_read_no_further_than_they_hold(void) {
	uint8_t buf[64];
	ooblex_rtcp_report_block b[4];
	/* A count of 5 in a packet that holds one block: one is read. */
	size_t at = put_header(buf, 5, 201, 32);
	at += put32(buf + at, 1);
	at += put_block(buf + at, 7, 9, 0, 0, 0);
	EXPECT_EQ(ooblex_rtcp_report_blocks(buf, at, b, 4), 1);
	/* The length says more than was received: nothing. */
	EXPECT_EQ(ooblex_rtcp_report_blocks(buf, at - 1, b, 4), 0);
	/* Version 1, or a header alone, or nothing. */
	buf[0] = 0x41;
	EXPECT_EQ(ooblex_rtcp_report_blocks(buf, at, b, 4), 0);
	EXPECT_EQ(ooblex_rtcp_report_blocks(buf, 3, b, 4), 0);
	EXPECT_EQ(ooblex_rtcp_report_blocks(NULL, 0, b, 4), 0);
	/* An RR whose length is too short for its SSRC: passed over. */
	put_header(buf, 1, 201, 4);
	EXPECT_EQ(ooblex_rtcp_report_blocks(buf, 4, b, 4), 0);
}

static void test_loss_lowers_the_rate_and_its_absence_restores_it(void) {
	ooblex_send_rate r;
	ooblex_send_rate_init(&r, 1500000);
	uint64_t t = 1000000;
	/* No loss: at the configured rate, and never above it. */
	ooblex_send_rate_on_loss(&r, 0, t);
	EXPECT_EQ(ooblex_send_rate_target(&r), 1500000);
	/* 20% lost: down by 10% at each report a second apart. */
	for(int i = 1; i <= 3; i++)
		ooblex_send_rate_on_loss(&r, 51, t += 1000000);
	double want = 1500000 * pow(1 - 0.5 * 51 / 256.0, 3);
	printf("# 3 reports of 20%% loss: %d bit/s (%.0f expected)\n", ooblex_send_rate_target(&r), want);
	EXPECT(fabs(ooblex_send_rate_target(&r) - want) < 2);
	EXPECT_EQ(r.decreases, 3);
	/* A second report 100 ms after a decrease does not decrease again. */
	int before = ooblex_send_rate_target(&r);
	ooblex_send_rate_on_loss(&r, 128, t += 100000);
	EXPECT_EQ(ooblex_send_rate_target(&r), before);
	/* 5% lost holds. */
	ooblex_send_rate_on_loss(&r, 13, t += 1000000);
	EXPECT_EQ(ooblex_send_rate_target(&r), before);
	/* Under 2%: 5% a second back up, to the configured rate and no more. */
	ooblex_send_rate_on_loss(&r, 2, t += 1000000);
	EXPECT(fabs(ooblex_send_rate_target(&r) - before * 1.05) < 2);
	for(int i = 0; i < 60; i++)
		ooblex_send_rate_on_loss(&r, 0, t += 1000000);
	EXPECT_EQ(ooblex_send_rate_target(&r), 1500000);
	/* Heavy loss for long: the floor. */
	for(int i = 0; i < 60; i++)
		ooblex_send_rate_on_loss(&r, 255, t += 1000000);
	EXPECT_EQ(ooblex_send_rate_target(&r), OOBLEX_SEND_RATE_MIN_BPS);
	/* A long silence, then no loss: grows as after two seconds, not sixty. */
	ooblex_send_rate_on_loss(&r, 0, t += 60000000);
	EXPECT(ooblex_send_rate_target(&r) <= OOBLEX_SEND_RATE_MIN_BPS * 1.1 + 1);
}

static void test_remb_is_a_ceiling(void) {
	ooblex_send_rate r;
	ooblex_send_rate_init(&r, 1500000);
	ooblex_send_rate_on_remb(&r, 600000);
	EXPECT_EQ(ooblex_send_rate_target(&r), 600000);
	ooblex_send_rate_on_remb(&r, 5000000);	/* above the configured rate */
	EXPECT_EQ(ooblex_send_rate_target(&r), 1500000);
	ooblex_send_rate_on_remb(&r, 1000);	/* below the floor */
	EXPECT_EQ(ooblex_send_rate_target(&r), OOBLEX_SEND_RATE_MIN_BPS);
	/* The loss-based estimate under a generous REMB decides. */
	ooblex_send_rate_on_remb(&r, 1400000);
	ooblex_send_rate_on_loss(&r, 128, 1000000);
	EXPECT(ooblex_send_rate_target(&r) < 1200000);
}

int main(void) {
	TEST_RUN(test_receiver_report_in_a_compound_packet);
	TEST_RUN(test_sender_report_blocks_and_the_limit);
	TEST_RUN(test_malformed_reports_read_no_further_than_they_hold);
	TEST_RUN(test_loss_lowers_the_rate_and_its_absence_restores_it);
	TEST_RUN(test_remb_is_a_ceiling);
	return tl_done();
}
