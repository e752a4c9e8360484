/*
 * test_egress.c - the return path (egress.h) against a fake host: real wire
 * results with real JPEGs (ooblex_jpeg.h) in, a page (tests/fake_page.h) that reassembles
 * what the data channel carries and acks when a test says so, and a clock
 * the test moves. No browser, no Janus, no Redis.
 */
#include "testlib.h"

#include <glib.h>
#include <libavutil/log.h>

#include "dc_chunker.h"
#include "egress.h"
#include "fake_page.h"
#include "ooblex_jpeg.h"
#include "ooblex_wire.h"

#define T0 1700000000000000ull	/* the fake clock's start: a wall-clock time, µs */

typedef struct host {
	fake_page page;
	uint64_t now;	/* the clock */
	GArray *sent;	/* uint32_t seqs counted as delivered, in order */
	int told;	/* worker errors the page heard of */
	unsigned told_code;
	uint32_t told_seq;
	atomic_uint rtp_packets;
	int refuse_sends;	/* the handle is closing: relay_data refuses */
} host;

static uint64_t host_now(void *user) {
	return ((host *)user)->now;
}

static int host_send(const uint8_t *msg, size_t len, void *user) {
	if(((host *)user)->refuse_sends)
		return -1;
	return fake_page_receive(&((host *)user)->page, msg, len);
}

static void host_rtp(const uint8_t *packet, size_t len, void *user) {
	(void)packet;
	(void)len;
	atomic_fetch_add(&((host *)user)->rtp_packets, 1);
}

static void host_delivered(const ooblex_frame_header *h, const uint8_t *payload, uint64_t returned_us,
		uint64_t sent_us, void *user) {
	(void)payload;
	(void)returned_us;
	(void)sent_us;
	g_array_append_val(((host *)user)->sent, h->seq);
}

static void host_error(uint32_t seq, unsigned code, const char *reason, void *user) {
	host *hs = user;
	(void)reason;
	hs->told++;
	hs->told_code = code;
	hs->told_seq = seq;
}

static const ooblex_egress_host fake_host = {
	.send_data = host_send,
	.send_rtp = host_rtp,
	.delivered = host_delivered,
	.worker_error = host_error,
	.now_us = host_now,
};

static const uint8_t client_id[OOBLEX_CLIENT_ID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static ooblex_result_gate *gate;
static host hs;

/* A real JPEG (4:2:0), w x h: noise (several chunks) or flat gray. */
static uint8_t *make_jpeg(int w, int h, int noisy, size_t *len) {
	uint8_t *rgb = malloc((size_t)w * h * 3);
	GRand *rng = g_rand_new_with_seed(1);
	for(int i = 0; i < w * h * 3; i++)
		rgb[i] = noisy ? (uint8_t)g_rand_int_range(rng, 0, 256) : 120;
	g_rand_free(rng);
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER);
	const uint8_t *out = NULL;
	char err[128];
	uint8_t *jpeg = NULL;
	*len = 0;
	if(j != NULL && ooblex_jpeg_encode_rgb(j, rgb, w, h, 95, &out, len, err, sizeof(err)) == 0)
		jpeg = g_memdup2(out, *len);
	ooblex_jpeg_free(j);
	free(rgb);
	return jpeg;
}

static uint8_t *small_jpeg, *big_jpeg;
static size_t small_len, big_len;
#define SMALL_W 64
#define SMALL_H 48
#define BIG_W 320
#define BIG_H 240

/* The worker time results are made with (worker_end - worker_start). */
static uint64_t result_worker_us = 100;

/* The header of a result as a worker writes it, for seq, w x h in pixfmt;
 * latency_us: queued -> now. */
static void result_header(ooblex_frame_header *hd, uint32_t seq, unsigned w, unsigned h, uint8_t pixfmt,
		const char *effect, uint64_t latency_us) {
	memset(hd, 0, sizeof(*hd));
	hd->kind = OOBLEX_KIND_RESULT;
	memcpy(hd->client_id, client_id, OOBLEX_CLIENT_ID_LEN);
	hd->frame_id = 100 + seq;
	hd->seq = seq;
	hd->capture_us = hs.now - latency_us - 1000;
	hd->queued_us = hs.now - latency_us;
	hd->worker_start_us = hd->queued_us + 100;
	hd->worker_end_us = hd->worker_start_us + result_worker_us;
	hd->width = (uint16_t)w;
	hd->height = (uint16_t)h;
	hd->pixfmt = pixfmt;
	strcpy(hd->effect, effect);
	strcpy(hd->worker, "w1");
}

/* A JPEG result message as a worker writes it; latency_us: queued -> now. */
static uint8_t *result_msg(uint32_t seq, int big, uint64_t latency_us, size_t *len) {
	ooblex_frame_header h;
	result_header(&h, seq, big ? BIG_W : SMALL_W, big ? BIG_H : SMALL_H, OOBLEX_PIXFMT_JPEG, "invert", latency_us);
	h.payload_len = (uint32_t)(big ? big_len : small_len);
	size_t hlen = ooblex_wire_header_len(&h);
	uint8_t *msg = malloc(hlen + h.payload_len);
	ooblex_wire_write_header(&h, msg);
	memcpy(msg + hlen, big ? big_jpeg : small_jpeg, h.payload_len);
	*len = hlen + h.payload_len;
	return msg;
}

static uint8_t *error_msg(uint32_t seq, uint16_t code, size_t *len) {
	ooblex_frame_header h;
	memset(&h, 0, sizeof(h));
	h.kind = OOBLEX_KIND_ERROR;
	memcpy(h.client_id, client_id, OOBLEX_CLIENT_ID_LEN);
	h.frame_id = 100 + seq;
	h.seq = seq;
	h.queued_us = hs.now - 1000;
	h.width = SMALL_W;
	h.height = SMALL_H;
	h.pixfmt = OOBLEX_PIXFMT_NONE;
	strcpy(h.effect, "teleport");
	strcpy(h.worker, "w1");
	uint8_t body[2 + OOBLEX_ERROR_TEXT_MAX];
	h.payload_len = (uint32_t)ooblex_wire_error_payload(code, "no such effect", body);
	size_t hlen = ooblex_wire_header_len(&h);
	uint8_t *msg = malloc(hlen + h.payload_len);
	ooblex_wire_write_header(&h, msg);
	memcpy(msg + hlen, body, h.payload_len);
	*len = hlen + h.payload_len;
	return msg;
}

static ooblex_result_verdict give(ooblex_egress *e, uint8_t *msg, size_t len);
/* An I420 result as a worker writes it for a video-only session
 * (video_reply_format): w x h, its payload payload_len bytes of gray
 * whatever the size says (a short or long one is a corrupt result). */
static uint8_t *i420_result_msg(uint32_t seq, unsigned w, unsigned h, size_t payload_len, size_t *len) {
	ooblex_frame_header hd;
	result_header(&hd, seq, w, h, OOBLEX_PIXFMT_I420, "invert", 20000);
	hd.payload_len = (uint32_t)payload_len;
	size_t hlen = ooblex_wire_header_len(&hd);
	uint8_t *msg = malloc(hlen + payload_len);
	ooblex_wire_write_header(&hd, msg);
	memset(msg + hlen, 120, payload_len);
	*len = hlen + payload_len;
	return msg;
}

static ooblex_result_verdict give_i420(ooblex_egress *e, uint32_t seq, unsigned w, unsigned h, size_t payload_len) {
	size_t len;
	uint8_t *msg = i420_result_msg(seq, w, h, payload_len, &len);
	return give(e, msg, len);
}

static ooblex_result_verdict give(ooblex_egress *e, uint8_t *msg, size_t len) {
	ooblex_result_verdict v = ooblex_egress_on_result(e, msg, len);
	free(msg);
	return v;
}

static ooblex_result_verdict give_result(ooblex_egress *e, uint32_t seq, int big) {
	size_t len;
	uint8_t *msg = result_msg(seq, big, 20000, &len);
	return give(e, msg, len);
}

/* A small result whose round trip (queued -> returned) took latency_us. */
static void give_result_after(ooblex_egress *e, uint32_t seq, uint64_t latency_us) {
	size_t len;
	uint8_t *msg = result_msg(seq, 0, latency_us, &len);
	give(e, msg, len);
}

static ooblex_result_verdict give_error(ooblex_egress *e, uint32_t seq, uint16_t code) {
	size_t len;
	uint8_t *msg = error_msg(seq, code, &len);
	return give(e, msg, len);
}

static void ack(ooblex_egress *e, const char *text) {
	ooblex_egress_on_data(e, (const uint8_t *)text, strlen(text));
}

static void ack_frame_of(ooblex_egress *e, uint32_t seq) {
	char text[40];
	snprintf(text, sizeof(text), "{\"ack\":%u}", 100 + seq);
	ack(e, text);
}

/* An egress for one run (frame_budget_ms: 0 = none), with the data channel as its output; seqs
 * 1..queued have been queued by the ingest. The channel is not open yet. */
static ooblex_egress *start_with_budget(unsigned max_unacked, unsigned queued, unsigned frame_budget_ms) {
	fake_page_init(&hs.page, 1);
	hs.now = T0;
	hs.sent = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	hs.told = 0;
	hs.refuse_sends = 0;
	atomic_store(&hs.rtp_packets, 0);
	ooblex_egress_config cfg = { .gate = gate, .reorder_wait_ms = 150, .reorder_adaptive = 1,
		.reorder_min_wait_ms = 15, .dc_max_unacked_frames = max_unacked, .video_bitrate_bps = 500000,
		.frame_budget_ms = frame_budget_ms };
	ooblex_egress *e = ooblex_egress_new(&cfg, &fake_host, &hs);
	ooblex_egress_restart(e, client_id);
	char err[256];
	ooblex_egress_set_output(e, OOBLEX_OUTPUT_DATACHANNEL, OOBLEX_CODEC_NONE, 0, err, sizeof(err));
	atomic_store(ooblex_egress_queued_seq(e), queued);
	return e;
}

static ooblex_egress *start(unsigned max_unacked, unsigned queued) {
	return start_with_budget(max_unacked, queued, 0);
}

static void finish(ooblex_egress *e) {
	ooblex_egress_free(e);
	fake_page_clear(&hs.page);
	g_array_unref(hs.sent);
}

static const ooblex_egress_stats *stats(ooblex_egress *e) {
	return ooblex_egress_get_stats(e);
}

/* The seq of the k-th frame the page received whole (from its metadata). */
static int page_seq(unsigned k) {
	if(hs.page.frames == NULL || k >= hs.page.frames->len)
		return -1;
	const fake_page_frame *f = g_ptr_array_index(hs.page.frames, k);
	return (int)(f->frame_id - 100);
}

static unsigned page_frames(void) {
	return hs.page.frames ? hs.page.frames->len : 0;
}

static void test_frames_beyond_the_window_wait_for_an_ack(void) {
	ooblex_egress *e = start(2, 100);
	fake_page_hello(&hs.page, e);
	give_result(e, 1, 0);
	ack_frame_of(e, 1);	/* the page acks: its acks decide from now on */
	give_result(e, 2, 0);
	give_result(e, 3, 0);	/* two on their way: the window is full */
	give_result(e, 4, 0);
	EXPECT_EQ(page_frames(), 3);	/* 4 waits */
	EXPECT_EQ(atomic_load(&stats(e)->frames_sent), 3);
	ack_frame_of(e, 2);	/* room for one: the waiting frame goes */
	EXPECT_EQ(page_frames(), 4);
	EXPECT_EQ(page_seq(3), 4);
	EXPECT_EQ(atomic_load(&stats(e)->frames_sent), 4);
	EXPECT_EQ(atomic_load(&stats(e)->dropped_backpressure), 0);
	finish(e);
}

static void test_backed_up_channel_drops_whole_frames_newest_wins(void) {
	ooblex_egress *e = start(1, 100);
	fake_page_hello(&hs.page, e);
	give_result(e, 1, 1);
	ack_frame_of(e, 1);
	give_result(e, 2, 1);	/* on its way, unacked: the window (1) is full */
	for(uint32_t seq = 3; seq <= 6; seq++)
		give_result(e, seq, 1);	/* each replaces the one waiting */
	ack_frame_of(e, 2);
	REQUIRE(page_frames() == 3);
	EXPECT_EQ(page_seq(0), 1);
	EXPECT_EQ(page_seq(1), 2);
	EXPECT_EQ(page_seq(2), 6);	/* the newest */
	EXPECT_EQ(atomic_load(&stats(e)->dropped_backpressure), 3);	/* 3, 4, 5: whole */
	/* Every frame the page saw came whole, in the chunks it was cut into. */
	EXPECT_EQ(hs.page.broken, 0);
	EXPECT_EQ(hs.page.cur_count, 0);	/* no frame left half-sent */
	unsigned chunks = 0;
	for(unsigned k = 0; k < page_frames(); k++) {
		const fake_page_frame *f = g_ptr_array_index(hs.page.frames, k);
		size_t body = OOBLEX_CHUNK_MAX - OOBLEX_CHUNK_HEADER_LEN;
		EXPECT(f->chunks > 1);
		EXPECT_EQ(f->chunks, (strlen(f->meta) + f->jpeg_len + body - 1) / body);
		EXPECT(f->jpeg_len == big_len && memcmp(f->jpeg, big_jpeg, big_len) == 0);
		chunks += f->chunks;
	}
	EXPECT_EQ(hs.page.chunks, chunks);
	EXPECT_EQ(atomic_load(&stats(e)->chunks_sent), chunks);
	finish(e);
}

static void test_sctp_drain_releases_the_waiting_frame(void) {
	/* A page that never acks: the SCTP stack's "drained" events pace it. */
	ooblex_egress *e = start(2, 100);
	EXPECT_EQ(ooblex_egress_data_ready(e), 1);	/* opens the channel */
	give_result(e, 1, 0);
	give_result(e, 2, 0);
	give_result(e, 3, 0);
	EXPECT_EQ(page_frames(), 2);
	EXPECT_EQ(ooblex_egress_data_ready(e), 0);
	EXPECT_EQ(page_frames(), 3);
	EXPECT_EQ(page_seq(2), 3);
	EXPECT_EQ(atomic_load(&stats(e)->data_ready_events), 2);
	EXPECT_EQ(atomic_load(&stats(e)->dropped_backpressure), 0);
	finish(e);
}

static void test_silent_channel_assumed_moved_after_a_second(void) {
	ooblex_egress *e = start(1, 100);
	ooblex_egress_data_ready(e);	/* the last sign of life, at T0 */
	give_result(e, 1, 0);
	hs.now = T0 + OOBLEX_EGRESS_DRY_FALLBACK_US - 1;
	give_result(e, 2, 0);
	EXPECT_EQ(page_frames(), 1);	/* still waiting for a drain */
	hs.now = T0 + OOBLEX_EGRESS_DRY_FALLBACK_US;
	give_result(e, 3, 0);
	EXPECT_EQ(page_frames(), 2);	/* a second of silence: assumed drained, sent */
	EXPECT_EQ(page_seq(1), 3);
	finish(e);
}

static void test_fallback_never_sends_an_older_frame_after_a_newer_one(void) {
	ooblex_egress *e = start(1, 100);
	ooblex_egress_data_ready(e);	/* the last sign of life, at T0 */
	give_result(e, 1, 0);	/* on its way: the window (1) is full */
	give_result(e, 2, 0);	/* waits */
	hs.now = T0 + OOBLEX_EGRESS_DRY_FALLBACK_US;
	give_result(e, 3, 0);	/* a second of silence: 3 goes */
	ooblex_egress_data_ready(e);	/* the channel moves again */
	give_result(e, 4, 0);
	REQUIRE(page_frames() >= 2);
	for(unsigned k = 1; k < page_frames(); k++)
		EXPECT(page_seq(k) > page_seq(k - 1));	/* 2 never after 3 */
	EXPECT_EQ(page_seq(1), 3);
	EXPECT_EQ(atomic_load(&stats(e)->dropped_backpressure), 1);	/* 2, whole */
	finish(e);
}

static void test_waiting_frame_whose_send_fails_counts_once(void) {
	ooblex_egress *e = start(1, 100);
	ooblex_egress_data_ready(e);
	give_result(e, 1, 0);	/* on its way: the window (1) is full */
	give_result(e, 2, 0);	/* waits */
	hs.refuse_sends = 1;	/* the handle closes */
	ooblex_egress_data_ready(e);	/* 2 is tried, and refused */
	EXPECT_EQ(page_frames(), 1);
	EXPECT_EQ(atomic_load(&stats(e)->dropped_channel), 1);
	EXPECT_EQ(atomic_load(&stats(e)->dropped_backpressure), 0);	/* not twice */
	EXPECT_EQ(atomic_load(&stats(e)->frames_sent), 1);
	finish(e);
}

static void test_adaptive_wait_follows_latency_spread(void) {
	ooblex_egress *e = start(64, 1000);
	fake_page_hello(&hs.page, e);
	ooblex_egress_snapshot snap;
	uint32_t seq = 1;
	/* Steady workers: no spread, the floor (15 ms). */
	for(int i = 0; i < 64; i++, seq++) {
		give_result_after(e, seq, 40000);
		fake_page_send_acks(&hs.page, e);
	}
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT_EQ(snap.reorder_wait_us, 15000);
	/* Round trips of 20..83 ms, evenly: p95 - p50 (+ 10 ms margin). */
	for(int i = 0; i < 64; i++, seq++) {
		give_result_after(e, seq, 20000 + (uint64_t)((i * 37) % 64) * 1000);
		fake_page_send_acks(&hs.page, e);
	}
	ooblex_egress_snapshot_take(e, &snap);
	uint64_t want = (uint64_t)(20000 + 60 * 1000) - (20000 + 32 * 1000) + 10000;	/* sorted[60] - sorted[32] */
	EXPECT_EQ(snap.reorder_wait_us, want);
	/* A fleet all over the place: the bound (150 ms). */
	for(int i = 0; i < 64; i++, seq++) {
		give_result_after(e, seq, i < 40 ? 10000 : 900000);
		fake_page_send_acks(&hs.page, e);
	}
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT_EQ(snap.reorder_wait_us, 150000);
	EXPECT_EQ(snap.reorder.delivered, 192);
	finish(e);
}

static void test_missing_frame_given_up_after_the_wait_in_force(void) {
	ooblex_egress *e = start(64, 100);
	fake_page_hello(&hs.page, e);
	for(uint32_t seq = 1; seq <= 8; seq++)	/* steady: the wait is 15 ms */
		give_result(e, seq, 0);
	fake_page_send_acks(&hs.page, e);
	give_result(e, 10, 0);	/* 9 is missing */
	hs.now += 15000 - 1;
	ooblex_egress_tick(e);
	EXPECT_EQ(page_frames(), 8);
	EXPECT_EQ(atomic_load(ooblex_egress_resolved_seq(e)), 8);
	hs.now += 1;
	ooblex_egress_tick(e);
	EXPECT_EQ(page_frames(), 9);
	EXPECT_EQ(page_seq(8), 10);
	EXPECT_EQ(atomic_load(ooblex_egress_resolved_seq(e)), 10);
	ooblex_egress_snapshot snap;
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT_EQ(snap.reorder.skipped, 1);
	finish(e);
}

static void test_error_result_resolves_its_seq_as_a_skip(void) {
	ooblex_egress *e = start(8, 100);
	fake_page_hello(&hs.page, e);
	give_result(e, 1, 0);
	EXPECT_EQ(give_error(e, 2, OOBLEX_FRAME_ERR_UNKNOWN_EFFECT), OOBLEX_RESULT_OK);
	give_result(e, 3, 0);	/* goes at once: nothing waited for 2 */
	EXPECT_EQ(page_frames(), 2);
	EXPECT_EQ(page_seq(1), 3);
	EXPECT_EQ(atomic_load(ooblex_egress_resolved_seq(e)), 3);
	EXPECT_EQ(atomic_load(&stats(e)->results_error), 1);
	EXPECT_EQ(atomic_load(&stats(e)->errors_resolved), 1);
	EXPECT_EQ(atomic_load(&stats(e)->results), 2);
	ooblex_egress_snapshot snap;
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT_EQ(snap.reorder.skipped, 0);
	EXPECT_EQ(snap.reorder.delivered, 3);
	finish(e);
}

static void test_worker_errors_told_once_a_second_per_reason(void) {
	ooblex_egress *e = start(8, 100);
	give_error(e, 1, OOBLEX_FRAME_ERR_UNKNOWN_EFFECT);
	EXPECT_EQ(hs.told, 1);
	EXPECT_EQ(hs.told_seq, 1);
	EXPECT_EQ(hs.told_code, OOBLEX_FRAME_ERR_UNKNOWN_EFFECT);
	hs.now += 999999;
	give_error(e, 2, OOBLEX_FRAME_ERR_UNKNOWN_EFFECT);
	EXPECT_EQ(hs.told, 1);	/* the same reason within the second */
	give_error(e, 3, OOBLEX_FRAME_ERR_OVER_BUDGET);
	EXPECT_EQ(hs.told, 2);	/* another reason */
	EXPECT_EQ(hs.told_code, OOBLEX_FRAME_ERR_OVER_BUDGET);
	hs.now += 1;
	give_error(e, 4, OOBLEX_FRAME_ERR_UNKNOWN_EFFECT);
	EXPECT_EQ(hs.told, 3);	/* a second later */
	EXPECT_EQ(hs.told_seq, 4);
	EXPECT_EQ(atomic_load(&stats(e)->results_error), 4);
	finish(e);
}

static void test_over_budget_holds_only_when_repeated(void) {
	/* frame_budget_ms 100: a result over it is counted; only the second in a
	 * row (an error result refused as over_budget counting as one) is what
	 * holds the client: one alone may be a loaded machine's hiccup. */
	ooblex_egress *e = start_with_budget(8, 100, 100);
	fake_page_hello(&hs.page, e);
	result_worker_us = 150000;
	give_result(e, 1, 0);
	EXPECT_EQ(atomic_load(&stats(e)->frames_over_budget), 1);
	EXPECT_EQ(atomic_load(&stats(e)->frames_over_budget_again), 0);
	result_worker_us = 5000;
	give_result(e, 2, 0);	/* within: the streak ends */
	result_worker_us = 150000;
	give_result(e, 3, 0);
	EXPECT_EQ(atomic_load(&stats(e)->frames_over_budget), 2);
	EXPECT_EQ(atomic_load(&stats(e)->frames_over_budget_again), 0);
	give_result(e, 4, 0);	/* the second in a row */
	EXPECT_EQ(atomic_load(&stats(e)->frames_over_budget_again), 1);
	give_error(e, 5, OOBLEX_FRAME_ERR_OVER_BUDGET);	/* and a third */
	EXPECT_EQ(atomic_load(&stats(e)->frames_over_budget), 4);
	EXPECT_EQ(atomic_load(&stats(e)->frames_over_budget_again), 2);
	/* Exactly at the budget is within it. */
	result_worker_us = 100000;
	give_result(e, 6, 0);
	result_worker_us = 150000;
	give_result(e, 7, 0);
	EXPECT_EQ(atomic_load(&stats(e)->frames_over_budget), 5);
	EXPECT_EQ(atomic_load(&stats(e)->frames_over_budget_again), 2);
	result_worker_us = 100;
	finish(e);
}

static void test_result_for_a_never_queued_seq_refused(void) {
	ooblex_egress *e = start(8, 3);	/* the ingest queued 1..3 */
	fake_page_hello(&hs.page, e);
	EXPECT_EQ(give_result(e, 4, 0), OOBLEX_RESULT_UNEXPECTED);
	EXPECT_EQ(give_result(e, 1000000, 0), OOBLEX_RESULT_UNEXPECTED);
	EXPECT_EQ(atomic_load(&stats(e)->results_refused[OOBLEX_RESULT_UNEXPECTED]), 2);
	/* The reorder window did not move: the genuine results all go, in order. */
	for(uint32_t seq = 1; seq <= 3; seq++)
		EXPECT_EQ(give_result(e, seq, 0), OOBLEX_RESULT_OK);
	EXPECT_EQ(page_frames(), 3);
	ooblex_egress_snapshot snap;
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT_EQ(snap.reorder.late, 0);
	EXPECT_EQ(snap.reorder.skipped, 0);
	EXPECT_EQ(atomic_load(&stats(e)->results_refused[OOBLEX_RESULT_MALFORMED]), 0);
	finish(e);
}

static void test_refused_results_counted_by_verdict(void) {
	ooblex_egress *e = start(8, 100);
	static const uint8_t junk[] = "definitely not a result";
	EXPECT_EQ(ooblex_egress_on_result(e, junk, sizeof(junk)), OOBLEX_RESULT_MALFORMED);
	size_t len;
	uint8_t *msg = result_msg(1, 0, 1000, &len);
	msg[8] ^= 1;	/* another client's */
	EXPECT_EQ(give(e, msg, len), OOBLEX_RESULT_MALFORMED);
	EXPECT_EQ(atomic_load(&stats(e)->results_refused[OOBLEX_RESULT_MALFORMED]), 2);
	EXPECT_EQ(atomic_load(&stats(e)->results_refused[OOBLEX_RESULT_UNEXPECTED]), 0);
	EXPECT_EQ(atomic_load(&stats(e)->results), 0);
	finish(e);
}

static void test_bad_acks_counted_and_change_nothing(void) {
	ooblex_egress *e = start(1, 100);
	ooblex_egress_data_ready(e);
	give_result(e, 1, 0);
	give_result(e, 2, 0);	/* waits */
	ack(e, "{\"ack\":-1}");	/* malformed */
	ack_frame_of(e, 7);	/* never sent */
	EXPECT_EQ(page_frames(), 1);
	ack_frame_of(e, 1);
	EXPECT_EQ(page_frames(), 2);	/* a valid ack made room */
	ack_frame_of(e, 1);	/* already acked */
	EXPECT_EQ(atomic_load(&stats(e)->bad_acks), 3);
	finish(e);
}

static void test_frames_before_the_channel_opens_are_dropped(void) {
	ooblex_egress *e = start(8, 100);
	give_result(e, 1, 0);
	EXPECT_EQ(atomic_load(&stats(e)->dropped_channel), 1);
	EXPECT_EQ(atomic_load(&stats(e)->frames_sent), 0);
	EXPECT_EQ(ooblex_egress_channel_open(e), 0);
	fake_page_hello(&hs.page, e);
	EXPECT_EQ(ooblex_egress_channel_open(e), 1);
	give_result(e, 2, 0);
	EXPECT_EQ(page_frames(), 1);
	finish(e);
}

static void test_stop_drops_the_waiting_frame_and_closes_the_channel(void) {
	ooblex_egress *e = start(1, 100);
	ooblex_egress_data_ready(e);
	give_result(e, 1, 0);
	give_result(e, 2, 0);	/* waits */
	ooblex_egress_stop(e);
	EXPECT_EQ(atomic_load(&stats(e)->dropped_backpressure), 1);
	EXPECT_EQ(ooblex_egress_channel_open(e), 0);
	ooblex_egress_data_ready(e);	/* nothing waits any more */
	EXPECT_EQ(page_frames(), 1);
	finish(e);
}

static void test_restart_begins_a_fresh_run_counters_go_on(void) {
	ooblex_egress *e = start(8, 100);
	fake_page_hello(&hs.page, e);
	give_result(e, 1, 0);
	give_result(e, 2, 0);
	ooblex_egress_restart(e, client_id);
	EXPECT_EQ(atomic_load(ooblex_egress_resolved_seq(e)), 0);
	EXPECT_EQ(atomic_load(ooblex_egress_queued_seq(e)), 0);
	EXPECT_EQ(give_result(e, 1, 0), OOBLEX_RESULT_UNEXPECTED);	/* not queued in this run yet */
	atomic_store(ooblex_egress_queued_seq(e), 1);
	EXPECT_EQ(give_result(e, 1, 0), OOBLEX_RESULT_OK);
	ooblex_egress_snapshot snap;
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT_EQ(snap.reorder.delivered, 1);	/* this run's */
	EXPECT_EQ(atomic_load(&stats(e)->frames_sent), 3);	/* the egress's life */
	finish(e);
}

static int wait_packets(unsigned n) {
	for(int i = 0; i < 500 && atomic_load(&hs.rtp_packets) < n; i++)
		g_usleep(10000);
	return atomic_load(&hs.rtp_packets) >= n;
}

/* Waits (up to 5 s) until the video track has sent n frames; *snap is the
 * last look. */
static void wait_video_sent(ooblex_egress *e, uint64_t n, ooblex_egress_snapshot *snap) {
	for(int i = 0; i < 500; i++) {
		ooblex_egress_snapshot_take(e, snap);
		if(snap->video.frames_sent >= n)
			break;
		g_usleep(10000);
	}
}

static void test_video_track_runs_while_video_is_wanted(void) {
	ooblex_egress *e = start(8, 100);
	char err[256];
	REQUIRE(ooblex_egress_set_output(e, OOBLEX_OUTPUT_VIDEO, OOBLEX_CODEC_VP8, 96, err, sizeof(err)) == 0);
	give_result(e, 1, 0);
	EXPECT_EQ(atomic_load(&stats(e)->video_frames_pushed), 1);
	EXPECT_EQ(atomic_load(&stats(e)->frames_sent), 1);	/* no data channel needed */
	EXPECT(wait_packets(1));	/* encoded and packetized on the track's thread */
	ooblex_egress_snapshot snap;
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT(snap.video_running);
	EXPECT_EQ(snap.output, OOBLEX_OUTPUT_VIDEO);
	REQUIRE(ooblex_egress_set_output(e, OOBLEX_OUTPUT_DATACHANNEL, OOBLEX_CODEC_VP8, 96, err, sizeof(err)) == 0);
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT(!snap.video_running);
	give_result(e, 2, 0);
	EXPECT_EQ(atomic_load(&stats(e)->video_frames_pushed), 1);
	finish(e);
}

static void test_keyframe_request_and_remb_reach_the_video_track(void) {
	ooblex_egress *e = start(8, 100);
	char err[256];
	REQUIRE(ooblex_egress_set_output(e, OOBLEX_OUTPUT_VIDEO, OOBLEX_CODEC_VP8, 96, err, sizeof(err)) == 0);
	give_result(e, 1, 0);
	REQUIRE(wait_packets(1));
	ooblex_egress_request_keyframe(e);
	ooblex_egress_remb(e, 200000);
	give_result(e, 2, 0);
	ooblex_egress_snapshot snap;
	wait_video_sent(e, 2, &snap);
	EXPECT_EQ(snap.video.keyframe_requests, 1);
	EXPECT(snap.video.bitrate_bps <= 200000);	/* the browser's estimate caps the encoder */
	finish(e);
}

/* A receiver report, as the browser sends one about our track. */
static size_t receiver_report(uint8_t *buf, uint8_t fraction_lost) {
	static const uint8_t rr[32] = { 0x81, 201, 0, 7, 1, 2, 3, 4, 0xca, 0xfe, 0xba, 0xbe };
	memcpy(buf, rr, sizeof(rr));
	buf[12] = fraction_lost;
	return sizeof(rr);
}

static void test_receiver_reports_of_loss_lower_the_video_bitrate(void) {
	/* The browser reports 30% of the track's packets lost, a second apart
	 * (Janus' clock is the host's here): the target falls, the encoder
	 * follows; without loss it grows back. Reports while no video runs
	 * change nothing. */
	ooblex_egress *e = start(8, 100);
	uint8_t rr[32];
	size_t len = receiver_report(rr, 77);
	ooblex_egress_rtcp(e, rr, len);	/* data channel only: not ours to act on */
	char err[256];
	REQUIRE(ooblex_egress_set_output(e, OOBLEX_OUTPUT_VIDEO, OOBLEX_CODEC_VP8, 96, err, sizeof(err)) == 0);
	ooblex_egress_snapshot snap;
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT_EQ(snap.send_rate.reports, 0);
	EXPECT_EQ(snap.send_rate_target_bps, 500000);
	for(int i = 0; i < 3; i++) {
		hs.now += 1000000;
		ooblex_egress_rtcp(e, rr, len);
	}
	ooblex_egress_rtcp(e, rr, len - 1);	/* cut short: not read */
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT_EQ(snap.send_rate.reports, 3);
	int low = snap.send_rate_target_bps;
	printf("# 3 receiver reports of 30%% loss: target %d kbit/s (configured 500)\n", low / 1000);
	EXPECT(low < 500000 * 0.7 && low > 500000 * 0.5);
	give_result(e, 1, 0);
	wait_video_sent(e, 1, &snap);
	EXPECT(snap.video.bitrate_bps > 0 && snap.video.bitrate_bps <= low);	/* the encoder follows */
	len = receiver_report(rr, 0);
	for(int i = 0; i < 30; i++) {
		hs.now += 1000000;
		ooblex_egress_rtcp(e, rr, len);
	}
	ooblex_egress_snapshot_take(e, &snap);
	EXPECT_EQ(snap.send_rate_target_bps, 500000);
	finish(e);
}

/* A video-only session's workers answer in I420: each result of exactly
 * its picture's size goes into the encoder as it is (nothing decoded). */
static void test_video_track_takes_i420_results(void) {
	ooblex_egress *e = start(8, 100);
	char err[256];
	REQUIRE(ooblex_egress_set_output(e, OOBLEX_OUTPUT_VIDEO, OOBLEX_CODEC_VP8, 96, err, sizeof(err)) == 0);
	const size_t size = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, BIG_W, BIG_H);
	EXPECT_EQ(size, (size_t)BIG_W * BIG_H * 3 / 2);
	EXPECT_EQ(give_i420(e, 1, BIG_W, BIG_H, size), OOBLEX_RESULT_OK);
	EXPECT_EQ(atomic_load(&stats(e)->video_frames_pushed), 1);
	EXPECT_EQ(atomic_load(&stats(e)->frames_sent), 1);
	REQUIRE(wait_packets(1));
	EXPECT_EQ(give_i420(e, 2, BIG_W, BIG_H, size), OOBLEX_RESULT_OK);
	ooblex_egress_snapshot snap;
	wait_video_sent(e, 2, &snap);
	EXPECT_EQ(snap.video.frames_in, 2);
	EXPECT_EQ(snap.video.frames_sent, 2);
	EXPECT_EQ(snap.video.frames_failed, 0);
	EXPECT_EQ(snap.video.decode_us_total, 0);	/* no JPEG round trip */
	/* A JPEG result still works on the same track (sampled before a switch). */
	EXPECT_EQ(give_result(e, 3, 1), OOBLEX_RESULT_OK);
	wait_video_sent(e, 3, &snap);
	EXPECT_EQ(snap.video.frames_sent, 3);
	EXPECT(snap.video.decode_us_total > 0);
	finish(e);
}

/* An I420 result not exactly its size, odd, or over the gate's limit is
 * refused before it is copied, counted by verdict, and never reaches the
 * encoder; the seq it claimed stays in flight for the genuine one. */
static void test_i420_result_of_wrong_size_refused(void) {
	ooblex_egress *e = start(8, 100);
	char err[256];
	REQUIRE(ooblex_egress_set_output(e, OOBLEX_OUTPUT_VIDEO, OOBLEX_CODEC_VP8, 96, err, sizeof(err)) == 0);
	const size_t size = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, BIG_W, BIG_H);
	EXPECT_EQ(give_i420(e, 1, BIG_W, BIG_H, size - 1), OOBLEX_RESULT_MALFORMED);	/* short */
	EXPECT_EQ(give_i420(e, 1, BIG_W, BIG_H, size + 1), OOBLEX_RESULT_MALFORMED);	/* long */
	EXPECT_EQ(give_i420(e, 1, BIG_W, BIG_H, 0), OOBLEX_RESULT_MALFORMED);
	EXPECT_EQ(give_i420(e, 1, BIG_W + 2, BIG_H, size), OOBLEX_RESULT_MALFORMED);	/* another size's */
	EXPECT_EQ(give_i420(e, 1, BIG_W - 1, BIG_H - 1, ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, BIG_W - 1, BIG_H - 1)),
		OOBLEX_RESULT_MALFORMED);	/* odd, though exactly its rounded-up size */
	EXPECT_EQ(atomic_load(&stats(e)->results_refused[OOBLEX_RESULT_MALFORMED]), 5);
	EXPECT_EQ(atomic_load(&stats(e)->results), 0);
	EXPECT_EQ(atomic_load(&stats(e)->video_frames_pushed), 0);
	EXPECT_EQ(atomic_load(ooblex_egress_resolved_seq(e)), 0);
	EXPECT_EQ(give_i420(e, 1, BIG_W, BIG_H, size), OOBLEX_RESULT_OK);
	EXPECT_EQ(atomic_load(&stats(e)->video_frames_pushed), 1);
	finish(e);
	/* Over the gate's max_width x max_height. */
	ooblex_result_limits small = { .max_width = SMALL_W, .max_height = SMALL_H };
	ooblex_result_gate *wide = gate;
	gate = ooblex_result_gate_new(&small);
	REQUIRE(gate != NULL);
	e = start(8, 100);
	EXPECT_EQ(give_i420(e, 1, BIG_W, BIG_H, size), OOBLEX_RESULT_TOO_BIG_PICTURE);
	EXPECT_EQ(give_i420(e, 1, SMALL_W, SMALL_H, ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, SMALL_W, SMALL_H)),
		OOBLEX_RESULT_OK);
	finish(e);
	ooblex_result_gate_free(gate);
	gate = wide;
}

/* The page's data channel takes JPEGs only: an I420 result that reaches it
 * (asked for while the video track was the only output, sampled before a
 * configure added the data channel) is counted in dropped_channel and
 * skipped; its seq resolves, and the next JPEG goes out. */
static void test_i420_result_on_the_data_channel_counted_not_sent(void) {
	ooblex_egress *e = start(8, 100);
	fake_page_hello(&hs.page, e);
	EXPECT_EQ(give_i420(e, 1, BIG_W, BIG_H, ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, BIG_W, BIG_H)), OOBLEX_RESULT_OK);
	EXPECT_EQ(atomic_load(&stats(e)->dropped_channel), 1);
	EXPECT_EQ(atomic_load(&stats(e)->frames_sent), 0);
	EXPECT_EQ(page_frames(), 0);
	EXPECT_EQ(atomic_load(ooblex_egress_resolved_seq(e)), 1);
	EXPECT_EQ(give_result(e, 2, 0), OOBLEX_RESULT_OK);
	EXPECT_EQ(page_frames(), 1);
	EXPECT_EQ(page_seq(0), 2);
	/* Both outputs: the video track takes it, the data channel counts it. */
	char err[256];
	REQUIRE(ooblex_egress_set_output(e, OOBLEX_OUTPUT_DATACHANNEL | OOBLEX_OUTPUT_VIDEO, OOBLEX_CODEC_VP8, 96, err,
		sizeof(err)) == 0);
	EXPECT_EQ(give_i420(e, 3, BIG_W, BIG_H, ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, BIG_W, BIG_H)), OOBLEX_RESULT_OK);
	EXPECT_EQ(atomic_load(&stats(e)->video_frames_pushed), 1);
	EXPECT_EQ(atomic_load(&stats(e)->dropped_channel), 2);
	EXPECT_EQ(page_frames(), 1);
	EXPECT(wait_packets(1));
	finish(e);
}

/* A metadata-only result (output "metadata"): what the effect found, no picture. */
static uint8_t *metadata_result_msg(uint32_t seq, const char *found, size_t *len) {
	ooblex_frame_header h;
	result_header(&h, seq, BIG_W, BIG_H, OOBLEX_PIXFMT_NONE, "faces", 20000);
	snprintf(h.meta, sizeof(h.meta), "%s", found);
	uint8_t *msg = malloc(ooblex_wire_header_len(&h));
	*len = ooblex_wire_write_header(&h, msg);
	return msg;
}

/* Output "metadata": each frame is its metadata alone, with the
 * detections, in one chunk of a few hundred bytes; a JPEG result that
 * comes anyway (sampled before `configure`) goes without its picture; a
 * metadata-only result left over after `configure` back to pictures still
 * reaches the page (what it found), and never the video track's encoder. */
static void test_metadata_output_sends_what_was_found_without_the_picture(void) {
	ooblex_egress *e = start(8, 100);
	char err[256];
	REQUIRE(ooblex_egress_set_output(e, OOBLEX_OUTPUT_DATACHANNEL | OOBLEX_OUTPUT_NO_PICTURE, OOBLEX_CODEC_NONE, 0,
		err, sizeof(err)) == 0);
	fake_page_hello(&hs.page, e);
	size_t len;
	uint8_t *msg = metadata_result_msg(1, "{\"faces\":[[10,20,30,40,0.9]]}", &len);
	EXPECT_EQ(give(e, msg, len), OOBLEX_RESULT_OK);
	EXPECT_EQ(give_result(e, 2, 1), OOBLEX_RESULT_OK);	/* a big JPEG: its picture is left out */
	REQUIRE(page_frames() == 2);
	for(unsigned k = 0; k < 2; k++) {
		const fake_page_frame *f = g_ptr_array_index(hs.page.frames, k);
		EXPECT_EQ(f->chunks, 1);
		EXPECT_EQ(f->jpeg_len, 0);
	}
	const fake_page_frame *f = g_ptr_array_index(hs.page.frames, 0);
	printf("# a metadata frame: %s\n", f->meta);
	EXPECT(strstr(f->meta, "\"detections\":{\"faces\":[[10,20,30,40,0.9]]}") != NULL);
	EXPECT(strstr(f->meta, "\"width\":320") != NULL);
	EXPECT_EQ(atomic_load(&stats(e)->frames_sent), 2);
	uint64_t bytes = atomic_load(&stats(e)->dc_bytes_sent);
	EXPECT(bytes > 2 * OOBLEX_CHUNK_HEADER_LEN && bytes < 1024);
	/* Back to pictures: the JPEG goes whole, a late metadata-only result as what it is. */
	REQUIRE(ooblex_egress_set_output(e, OOBLEX_OUTPUT_DATACHANNEL | OOBLEX_OUTPUT_VIDEO, OOBLEX_CODEC_VP8, 96, err,
		sizeof(err)) == 0);
	msg = metadata_result_msg(3, "{\"faces\":[]}", &len);
	EXPECT_EQ(give(e, msg, len), OOBLEX_RESULT_OK);
	EXPECT_EQ(atomic_load(&stats(e)->video_frames_pushed), 0);
	ack_frame_of(e, 1);
	ack_frame_of(e, 2);
	EXPECT_EQ(give_result(e, 4, 1), OOBLEX_RESULT_OK);
	REQUIRE(page_frames() == 4);
	EXPECT_EQ(((const fake_page_frame *)g_ptr_array_index(hs.page.frames, 2))->jpeg_len, 0);
	EXPECT_EQ(((const fake_page_frame *)g_ptr_array_index(hs.page.frames, 3))->jpeg_len, big_len);
	EXPECT_EQ(atomic_load(&stats(e)->video_frames_pushed), 1);
	EXPECT(atomic_load(&stats(e)->dc_bytes_sent) > bytes + big_len);
	/* A metadata-only result with bytes after its header is malformed. */
	msg = metadata_result_msg(5, "{}", &len);
	uint8_t *longer = malloc(len + 3);
	memcpy(longer, msg, len);
	memset(longer + len, 0, 3);
	free(msg);
	EXPECT_EQ(give(e, longer, len + 3), OOBLEX_RESULT_MALFORMED);
	EXPECT(wait_packets(1));
	finish(e);
}

int main(void) {
	av_log_set_level(AV_LOG_ERROR);
	ooblex_result_limits limits = { 0 };
	gate = ooblex_result_gate_new(&limits);
	small_jpeg = make_jpeg(SMALL_W, SMALL_H, 0, &small_len);
	big_jpeg = make_jpeg(BIG_W, BIG_H, 1, &big_len);
	if(gate == NULL || small_jpeg == NULL || big_jpeg == NULL || big_len < 2 * OOBLEX_CHUNK_MAX) {
		fprintf(stderr, "test_egress: cannot set up (gate, JPEGs of %zu and %zu bytes)\n", small_len, big_len);
		return 2;
	}
	TEST_RUN(test_frames_beyond_the_window_wait_for_an_ack);
	TEST_RUN(test_backed_up_channel_drops_whole_frames_newest_wins);
	TEST_RUN(test_sctp_drain_releases_the_waiting_frame);
	TEST_RUN(test_silent_channel_assumed_moved_after_a_second);
	TEST_RUN(test_fallback_never_sends_an_older_frame_after_a_newer_one);
	TEST_RUN(test_waiting_frame_whose_send_fails_counts_once);
	TEST_RUN(test_adaptive_wait_follows_latency_spread);
	TEST_RUN(test_missing_frame_given_up_after_the_wait_in_force);
	TEST_RUN(test_error_result_resolves_its_seq_as_a_skip);
	TEST_RUN(test_worker_errors_told_once_a_second_per_reason);
	TEST_RUN(test_over_budget_holds_only_when_repeated);
	TEST_RUN(test_result_for_a_never_queued_seq_refused);
	TEST_RUN(test_refused_results_counted_by_verdict);
	TEST_RUN(test_bad_acks_counted_and_change_nothing);
	TEST_RUN(test_frames_before_the_channel_opens_are_dropped);
	TEST_RUN(test_stop_drops_the_waiting_frame_and_closes_the_channel);
	TEST_RUN(test_restart_begins_a_fresh_run_counters_go_on);
	TEST_RUN(test_video_track_runs_while_video_is_wanted);
	TEST_RUN(test_keyframe_request_and_remb_reach_the_video_track);
	TEST_RUN(test_receiver_reports_of_loss_lower_the_video_bitrate);
	TEST_RUN(test_video_track_takes_i420_results);
	TEST_RUN(test_i420_result_of_wrong_size_refused);
	TEST_RUN(test_i420_result_on_the_data_channel_counted_not_sent);
	TEST_RUN(test_metadata_output_sends_what_was_found_without_the_picture);
	g_free(small_jpeg);
	g_free(big_jpeg);
	ooblex_result_gate_free(gate);
	return tl_done();
}
