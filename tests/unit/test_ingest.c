/*
 * test_ingest.c - the hand-off from Janus' media thread to a session's decode
 * thread (ingest.h): one wake-up per frame, not per packet; frames still
 * complete when their marker is lost or their packets come out of order;
 * the queue's bounds hold while the thread is busy; stop is asynchronous
 * and works whatever is queued.
 *
 * Real footage in VP8 from the load generators' source (encoded_source.h),
 * the real ingest thread and libavcodec decoder; packets are pushed paced,
 * as a browser sends them (a frame's packets about 0.3 ms apart), so that
 * a thread woken per packet would be woken for every one.
 */
#include "testlib.h"

#include <glib.h>
#include <stdatomic.h>

#include "ingest.h"
#include "bench/encoded_source.h"

#define FRAMES 30

typedef struct packet {
	uint8_t data[1500];
	size_t len;
	int frame;
} packet;

static packet *packets;
static unsigned n_packets;

/* FRAMES frames of real footage (vtest.avi, or the test pattern with
 * sensor noise) in 640x480 VP8 at the ~2 Mbit/s Chrome sends, as
 * tests/bench's load generators send it: several packets each. */
static void make_stream(void) {
	if(packets != NULL)
		return;
	const char *what;
	if(prepare_source("vp8", "/usr/share/doc/opencv-doc/examples/data/vtest.avi", 2, &what) != 0)
		return;
	unsigned total = 0;
	for(int f = 0; f < FRAMES; f++)
		total += source[f].n_packets;
	packets = calloc(total, sizeof(*packets));
	for(int f = 0; f < FRAMES; f++) {
		const uint8_t *p = source[f].packets->data, *end = p + source[f].packets->len;
		while(p + 2 <= end) {
			uint16_t len;
			memcpy(&len, p, 2);
			memcpy(packets[n_packets].data, p + 2, len);
			packets[n_packets].len = len;
			packets[n_packets].frame = f;
			n_packets++;
			p += 2 + len;
		}
	}
}

typedef struct session {
	ooblex_ingest_stats stats;
	atomic_int frames, stopped;
	/* While set, frame_ready waits: the decode thread is busy. */
	GMutex lock;
	GCond cond;
	int hold, holding;
	/* What each queued frame asked the workers to answer with, in order;
	 * after switch_after frames (0: never) the callback asks for switch_to. */
	ooblex_ingest *ing;
	uint8_t reply[FRAMES + 1];
	unsigned switch_after;
	uint8_t switch_to;
} session;

static void cb_keyframe(void *user) {
	(void)user;
}

static void cb_frame(uint8_t *msg, size_t len, void *user) {
	session *s = user;
	int n = atomic_fetch_add(&s->frames, 1);
	if(n < FRAMES + 1 && len > OOBLEX_WIRE_OFF_REPLY_PIXFMT)
		s->reply[n] = msg[OOBLEX_WIRE_OFF_REPLY_PIXFMT];
	free(msg);
	/* On the ingest's own thread, between two frames: as a configure from
	 * Janus' handler thread would land. */
	if(s->switch_after > 0 && (unsigned)n + 1 == s->switch_after)
		ooblex_ingest_set_reply_pixfmt(s->ing, s->switch_to);
	g_mutex_lock(&s->lock);
	s->holding = s->hold;
	g_cond_broadcast(&s->cond);
	while(s->hold)
		g_cond_wait(&s->cond, &s->lock);
	s->holding = 0;
	g_mutex_unlock(&s->lock);
}

static void cb_stopped(void *user) {
	atomic_store(&((session *)user)->stopped, 1);
}

static ooblex_arrival_spread *start_spread;	/* given to the next start(), then cleared */

static ooblex_ingest *start(session *s, unsigned max_queued_packets, size_t max_queued_bytes) {
	memset(s, 0, sizeof(*s));
	g_mutex_init(&s->lock);
	g_cond_init(&s->cond);
	ooblex_ingest_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.codec = "vp8";
	cfg.frame_skip = 1;
	cfg.effect = "invert";
	cfg.reply_pixfmt = OOBLEX_PIXFMT_I420;
	cfg.max_queued_packets = max_queued_packets;
	cfg.max_queued_bytes = max_queued_bytes;
	cfg.stats = &s->stats;
	cfg.arrival_spread = start_spread;
	start_spread = NULL;
	ooblex_ingest_callbacks cb = { cb_keyframe, cb_frame, cb_stopped };
	char err[256];
	ooblex_ingest *ing = ooblex_ingest_start(&cfg, &cb, s, err, sizeof(err));
	if(ing == NULL)
		printf("#   start: %s\n", err);
	return ing;
}

/* Waits (up to 5 s) for *v to reach want. */
static int wait_for(atomic_uint_fast64_t *v, uint64_t want) {
	for(int i = 0; i < 5000 && atomic_load(v) < want; i++)
		g_usleep(1000);
	return atomic_load(v) >= want;
}

static int wait_stopped(session *s) {
	for(int i = 0; i < 5000 && !atomic_load(&s->stopped); i++)
		g_usleep(1000);
	int ok = atomic_load(&s->stopped);
	if(ok) {
		g_mutex_clear(&s->lock);
		g_cond_clear(&s->cond);
	}
	return ok;
}

/* Pushes the stream as a browser sends it; edit may change each packet. */
static void push_paced(ooblex_ingest *ing, void (*edit)(uint8_t *pkt, size_t len, unsigned i)) {
	for(unsigned i = 0; i < n_packets; i++) {
		uint8_t copy[1500];
		memcpy(copy, packets[i].data, packets[i].len);
		if(edit != NULL)
			edit(copy, packets[i].len, i);
		ooblex_ingest_push_rtp(ing, copy, packets[i].len);
		int frame_ends = i + 1 == n_packets || packets[i + 1].frame != packets[i].frame;
		g_usleep(frame_ends ? 3000 : 300);
	}
}

/* Each sampled frame's arrival spread (first to last packet: the sender's
 * pacing, which the latency budget leaves out) reaches the ring under its
 * seq: packets of a frame 4 ms apart make a spread of at least 4 ms per
 * packet after the first. */
static void test_arrival_spread_by_seq(void) {
	make_stream();
	REQUIRE(n_packets > 0);
	static ooblex_arrival_spread ring;
	memset(&ring, 0, sizeof(ring));
	session s;
	start_spread = &ring;
	ooblex_ingest *ing = start(&s, 0, 0);
	REQUIRE(ing != NULL);
	s.ing = ing;
	unsigned per_frame[FRAMES] = { 0 };
	for(unsigned i = 0; i < n_packets; i++) {
		per_frame[packets[i].frame]++;
		ooblex_ingest_push_rtp(ing, packets[i].data, packets[i].len);
		int frame_ends = i + 1 == n_packets || packets[i + 1].frame != packets[i].frame;
		g_usleep(frame_ends ? 3000 : 4000);
	}
	EXPECT(wait_for(&s.stats.frames_sampled, FRAMES - 1));
	unsigned checked = 0, multi = 0;
	for(uint32_t seq = 1; seq <= atomic_load(&s.stats.frames_sampled) && seq <= FRAMES; seq++) {
		uint64_t spread = ooblex_arrival_spread_get(&ring, seq);
		uint64_t least = 4000ull * (per_frame[seq - 1] - 1);
		if(spread < least || spread > least + 1000000)
			printf("#   seq %u: %u packets, spread %llu us\n", seq, per_frame[seq - 1], (unsigned long long)spread);
		EXPECT(spread >= least && spread <= least + 1000000);
		multi += per_frame[seq - 1] > 1;
		checked++;
	}
	EXPECT(checked >= FRAMES - 1);
	EXPECT(multi > 0);
	EXPECT_EQ(ooblex_arrival_spread_get(&ring, 100000), 0);	/* never queued */
	ooblex_ingest_stop(ing);
	EXPECT(wait_stopped(&s));
}

static void test_one_wakeup_per_frame(void) {
	make_stream();
	REQUIRE(n_packets >= 3 * FRAMES);	/* several packets per frame, or this shows nothing */
	session s;
	ooblex_ingest *ing = start(&s, 0, 0);
	REQUIRE(ing != NULL);
	push_paced(ing, NULL);
	EXPECT(wait_for(&s.stats.frames_decoded, FRAMES));
	EXPECT_EQ(atomic_load(&s.stats.frames_decoded), FRAMES);
	EXPECT_EQ(atomic_load(&s.stats.frames_incomplete), 0);
	uint64_t wakeups = atomic_load(&s.stats.wakeups);
	printf("# %u packets, %d frames: %llu wake-ups\n", n_packets, FRAMES, (unsigned long long)wakeups);
	/* One per frame (its marker); a few more when a frame's packets are
	 * spread over more than the flush time on a loaded machine. */
	EXPECT(wakeups >= FRAMES / 2);
	EXPECT(wakeups <= FRAMES + FRAMES / 3);
	ooblex_ingest_stop(ing);
	EXPECT(wait_stopped(&s));
}

static void clear_marker(uint8_t *pkt, size_t len, unsigned i) {
	(void)len;
	(void)i;
	pkt[1] &= 0x7f;
}

static void test_frames_complete_without_markers(void) {
	make_stream();
	session s;
	ooblex_ingest *ing = start(&s, 0, 0);
	REQUIRE(ing != NULL);
	/* Every marker lost: each frame ends on the next one's first packet,
	 * which wakes the thread; the last has nothing after it. */
	push_paced(ing, clear_marker);
	EXPECT(wait_for(&s.stats.frames_decoded, FRAMES - 1));
	EXPECT_EQ(atomic_load(&s.stats.frames_decoded), FRAMES - 1);
	EXPECT_EQ(atomic_load(&s.stats.frames_incomplete), 0);
	uint64_t wakeups = atomic_load(&s.stats.wakeups);
	printf("# without markers: %llu wake-ups\n", (unsigned long long)wakeups);
	EXPECT(wakeups <= FRAMES + FRAMES / 3);
	/* A packet that ends nothing is still taken (after the flush time):
	 * here the last of the stream again, already used: late. */
	uint64_t before = atomic_load(&s.stats.wakeups);
	uint8_t copy[1500];
	memcpy(copy, packets[n_packets - 1].data, packets[n_packets - 1].len);
	clear_marker(copy, 0, 0);
	ooblex_ingest_push_rtp(ing, copy, packets[n_packets - 1].len);
	EXPECT(wait_for(&s.stats.wakeups, before + 1));
	EXPECT(wait_for(&s.stats.packets_late, 1));
	ooblex_ingest_stop(ing);
	EXPECT(wait_stopped(&s));
}

/* The marker packet of every frame comes before the one in front of it:
 * the jitter buffer waits behind the gap, and the missing packet (no
 * marker, same timestamp) must wake the thread as well. */
static void test_reordered_frames_complete(void) {
	make_stream();
	session s;
	ooblex_ingest *ing = start(&s, 0, 0);
	REQUIRE(ing != NULL);
	for(unsigned i = 0; i < n_packets; i++) {
		int ends = i + 1 == n_packets || packets[i + 1].frame != packets[i].frame;
		/* Not in the first frame: the jitter buffer starts at the first packet seen. */
		int swap = packets[i].frame > 0 && i + 1 < n_packets && packets[i + 1].frame == packets[i].frame &&
			(i + 2 == n_packets || packets[i + 2].frame != packets[i].frame);
		if(swap) {	/* the last two of the frame, marker first */
			ooblex_ingest_push_rtp(ing, packets[i + 1].data, packets[i + 1].len);
			g_usleep(300);
			ooblex_ingest_push_rtp(ing, packets[i].data, packets[i].len);
			i++;
			ends = 1;
		} else
			ooblex_ingest_push_rtp(ing, packets[i].data, packets[i].len);
		g_usleep(ends ? 3000 : 300);
	}
	EXPECT(wait_for(&s.stats.frames_decoded, FRAMES));
	EXPECT_EQ(atomic_load(&s.stats.frames_incomplete), 0);
	EXPECT_EQ(atomic_load(&s.stats.packets_lost), 0);
	ooblex_ingest_stop(ing);
	EXPECT(wait_stopped(&s));
}

/* While the thread is busy (a frame in hand), the media thread's pushes
 * stay within both bounds, what it has taken but not handled included,
 * and every packet over them is counted dropped. */
static void test_bounds_hold_while_busy(void) {
	make_stream();
	for(int bytes_bound = 0; bytes_bound < 2; bytes_bound++) {
		session s;
		/* 40 packets, or (the second time) about 40 full packets' bytes. */
		ooblex_ingest *ing = bytes_bound ? start(&s, 0, 40 * (packets[0].len + 64)) : start(&s, 40, 0);
		REQUIRE(ing != NULL);
		g_mutex_lock(&s.lock);
		s.hold = 1;
		g_mutex_unlock(&s.lock);
		unsigned i = 0;
		/* Until the first frame is out and the thread holds in frame_ready. */
		for(; i < n_packets && packets[i].frame == 0; i++)
			ooblex_ingest_push_rtp(ing, packets[i].data, packets[i].len);
		g_mutex_lock(&s.lock);
		while(!s.holding)
			g_cond_wait(&s.cond, &s.lock);
		g_mutex_unlock(&s.lock);
		uint64_t received = atomic_load(&s.stats.packets_received);
		unsigned pushed = 0;
		for(; i < n_packets && pushed < 60; i++, pushed++)
			ooblex_ingest_push_rtp(ing, packets[i].data, packets[i].len);
		uint64_t dropped = atomic_load(&s.stats.packets_dropped);
		EXPECT_EQ(atomic_load(&s.stats.packets_received), received + pushed);
		printf("# bound %s: %u pushed while busy, %llu dropped\n", bytes_bound ? "bytes" : "packets", pushed,
			(unsigned long long)dropped);
		EXPECT(pushed == 60);
		/* At most the bound accepted (less what the thread still holds). */
		EXPECT(dropped >= pushed - (bytes_bound ? 50 : 40));
		EXPECT(dropped > 0);
		g_mutex_lock(&s.lock);
		s.hold = 0;
		g_cond_broadcast(&s.cond);
		g_mutex_unlock(&s.lock);
		ooblex_ingest_stop(ing);
		EXPECT(wait_stopped(&s));
	}
}

/* The host's output decides the reply format (video alone: I420; the data
 * channel: JPEG); a change holds from the next frame sampled on. */
static void test_reply_format_follows_from_the_next_frame(void) {
	make_stream();
	session s;
	ooblex_ingest *ing = start(&s, 0, 0);
	REQUIRE(ing != NULL);
	s.ing = ing;
	s.switch_to = OOBLEX_PIXFMT_JPEG;
	s.switch_after = 5;
	push_paced(ing, NULL);
	EXPECT(wait_for(&s.stats.frames_decoded, FRAMES));
	int n = atomic_load(&s.frames);
	REQUIRE(n > 10);
	for(int i = 0; i < n && i <= FRAMES; i++)
		EXPECT_EQ(s.reply[i], i < 5 ? OOBLEX_PIXFMT_I420 : OOBLEX_PIXFMT_JPEG);
	ooblex_ingest_stop(ing);
	EXPECT(wait_stopped(&s));
}

static void test_stop_whatever_is_queued(void) {
	make_stream();
	/* Nothing ever pushed. */
	session s;
	ooblex_ingest *ing = start(&s, 0, 0);
	REQUIRE(ing != NULL);
	ooblex_ingest_stop(ing);
	EXPECT(wait_stopped(&s));
	/* Half a frame queued, nothing due to wake the thread for. */
	ing = start(&s, 0, 0);
	REQUIRE(ing != NULL);
	for(unsigned i = 0; i < 2; i++)
		ooblex_ingest_push_rtp(ing, packets[i].data, packets[i].len);
	ooblex_ingest_stop(ing);
	EXPECT(wait_stopped(&s));
	/* Mid-stream, a whole burst queued at once, the thread decoding. */
	ing = start(&s, 0, 0);
	REQUIRE(ing != NULL);
	for(unsigned i = 0; i < n_packets; i++)
		ooblex_ingest_push_rtp(ing, packets[i].data, packets[i].len);
	ooblex_ingest_stop(ing);
	EXPECT(wait_stopped(&s));
	/* While the thread holds in frame_ready: the stop waits for nobody. */
	ing = start(&s, 0, 0);
	REQUIRE(ing != NULL);
	g_mutex_lock(&s.lock);
	s.hold = 1;
	g_mutex_unlock(&s.lock);
	for(unsigned i = 0; i < n_packets; i++)
		ooblex_ingest_push_rtp(ing, packets[i].data, packets[i].len);
	g_mutex_lock(&s.lock);
	while(!s.holding)
		g_cond_wait(&s.cond, &s.lock);
	g_mutex_unlock(&s.lock);
	ooblex_ingest_stop(ing);	/* returns at once */
	EXPECT(!atomic_load(&s.stopped));
	g_mutex_lock(&s.lock);
	s.hold = 0;
	g_cond_broadcast(&s.cond);
	g_mutex_unlock(&s.lock);
	EXPECT(wait_stopped(&s));
	/* The stop finished the frame in hand, not the rest of the burst. */
	EXPECT(atomic_load(&s.frames) < FRAMES);
}

int main(void) {
	TEST_RUN(test_one_wakeup_per_frame);
	TEST_RUN(test_arrival_spread_by_seq);
	TEST_RUN(test_frames_complete_without_markers);
	TEST_RUN(test_reordered_frames_complete);
	TEST_RUN(test_bounds_hold_while_busy);
	TEST_RUN(test_reply_format_follows_from_the_next_frame);
	TEST_RUN(test_stop_whatever_is_queued);
	free(packets);
	return tl_done();
}
