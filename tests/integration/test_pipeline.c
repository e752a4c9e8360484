/*
 * test_pipeline.c - the whole server-side path with real components:
 * VP8 or H.264 RTP (in order, or damaged like a real network) -> ingest
 * (reorder, depacketize, decode, sample) -> Redis producer ->
 * real ooblex-worker processes -> processed_frames:{id} -> reader -> egress
 * (result checks, reorder, the data channel to a page that acks each frame).
 *
 * Needs a Redis on OOBLEX_TEST_REDIS_PORT and at least two workers on it;
 * tests/integration/run.sh starts them. Pixels are checked against the
 * source frames, not just counted.
 */
#include "testlib.h"

#include <glib.h>
#include <signal.h>
#include <sys/wait.h>
#include <libavutil/log.h>
#include <unistd.h>

#include "dc_window.h"
#include "egress.h"
#include "fake_page.h"
#include "harness.h"
#include "ingest.h"
#include "ooblex_jpeg.h"
#include "ooblex_keys.h"
#include "ooblex_redis.h"
#include "ooblex_wire.h"
#include "producer.h"
#include "results.h"
#include "video_test_source.h"

#define W 320
#define H 240

static ooblex_producer *producer;
static ooblex_reader *reader;
static ooblex_result_gate *gate;	/* the plugin's checks, at their defaults */

/* One client: its return path (the plugin's egress) and its page, driven
 * by the reader thread; what was delivered, for the checks. */
typedef struct client {
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	ooblex_egress *egress;
	fake_page page;	/* the reader thread's */
	GMutex lock;	/* guards the three below */
	GPtrArray *delivered;	/* of result (in delivery order) */
	GHashTable *workers;	/* worker ids seen */
	int last_error_code;	/* the last worker error the page was told of */
	ooblex_ingest_stats stats;
	volatile gint stopped;
} client;

typedef struct result {
	ooblex_frame_header h;
	uint8_t *jpeg;
	size_t jpeg_len;
} result;

static client *current;

static void result_free(void *p) {
	result *r = p;
	free(r->jpeg);
	free(r);
}

/* The egress delivered a frame to the page: kept, with its JPEG. */
static void on_delivered(const ooblex_frame_header *h, const uint8_t *payload, uint64_t returned_us, uint64_t sent_us,
		void *user) {
	client *c = user;
	(void)returned_us;
	(void)sent_us;
	result *r = calloc(1, sizeof(*r));
	r->h = *h;
	r->jpeg = malloc(h->payload_len);
	memcpy(r->jpeg, payload, h->payload_len);
	r->jpeg_len = h->payload_len;
	g_mutex_lock(&c->lock);
	g_ptr_array_add(c->delivered, r);
	g_hash_table_add(c->workers, g_strdup(h->worker));
	g_mutex_unlock(&c->lock);
}

static void on_worker_error(uint32_t seq, unsigned code, const char *reason, void *user) {
	client *c = user;
	(void)seq;
	(void)reason;
	g_mutex_lock(&c->lock);
	c->last_error_code = (int)code;
	g_mutex_unlock(&c->lock);
}

static int on_chunk(const uint8_t *msg, size_t len, void *user) {
	client *c = user;
	return fake_page_receive(&c->page, msg, len);
}

static const ooblex_egress_host client_host = {
	.send_data = on_chunk,
	.delivered = on_delivered,
	.worker_error = on_worker_error,
};

static void on_result(const char *key, const uint8_t *msg, size_t len, void *user) {
	(void)user;
	client *c = current;
	if(c == NULL || strcmp(key, c->key) != 0)
		return;
	ooblex_egress_on_result(c->egress, msg, len);
	fake_page_send_acks(&c->page, c->egress);
}

static void on_tick(void *user) {
	(void)user;
	client *c = current;
	if(c == NULL)
		return;
	ooblex_egress_tick(c->egress);
	fake_page_send_acks(&c->page, c->egress);
}

/* Results the egress refused, for any reason. */
static uint64_t refused(const client *c) {
	const ooblex_egress_stats *es = ooblex_egress_get_stats(c->egress);
	uint64_t n = 0;
	for(int v = 0; v < OOBLEX_RESULT_VERDICTS; v++)
		n += atomic_load(&es->results_refused[v]);
	return n;
}

static uint64_t worker_errors(const client *c) {
	return atomic_load(&ooblex_egress_get_stats(c->egress)->results_error);
}

static ooblex_reorder_stats reorder_stats(client *c) {
	ooblex_egress_snapshot snap;
	ooblex_egress_snapshot_take(c->egress, &snap);
	return snap.reorder;
}

/* The "browser" side of a stream: the encoder, and what the network does to
 * its packets on the way. */
typedef struct stream_opts {
	const char *codec;
	uint8_t frame_pixfmt;	/* transport format to the workers (0: I420) */
	unsigned max_width, max_height;	/* downscale limit (0: none) */
	unsigned expect_width, expect_height;	/* the size results should have (0: the source's) */
	int swap_every;	/* swap packet k with k+1 every this many packets (0: never) */
	int duplicate_every;	/* send packet k twice every this many (0: never) */
	int drop_packet;	/* drop this one packet, counted from 1 (0: none) */
} stream_opts;

static volatile gint keyframe_wanted;
static void cb_keyframe(void *user) { (void)user; g_atomic_int_set(&keyframe_wanted, 1); }
static void cb_frame(uint8_t *msg, size_t len, void *user) {
	(void)user;
	ooblex_producer_push(producer, OOBLEX_KEY_FRAMES, msg, len);
}
static void cb_stopped(void *user) { g_atomic_int_set(&((client *)user)->stopped, 1); }

/* Stops an ingest and waits (up to 3 s) for its stopped callback. */
static void stop_ingest(ooblex_ingest *ing, client *c) {
	ooblex_ingest_stop(ing);
	for(int i = 0; i < 300 && !g_atomic_int_get(&c->stopped); i++)
		g_usleep(10000);
}

static client *client_new_waiting(unsigned reorder_wait_ms) {
	client *c = calloc(1, sizeof(*c));
	ooblex_client_id_generate(c->id);
	char hex[OOBLEX_CLIENT_ID_HEX_LEN + 1];
	ooblex_client_id_to_hex(c->id, hex);
	ooblex_key_processed(c->key, hex);
	g_mutex_init(&c->lock);
	/* A fixed wait, and a page that keeps up with any burst the reorder
	 * buffer releases: what is checked here is the fleet's work, frame by
	 * frame (backpressure has its own tests, tests/unit/test_egress.c). */
	ooblex_egress_config ecfg = { .gate = gate, .reorder_wait_ms = reorder_wait_ms,
		.dc_max_unacked_frames = OOBLEX_DC_WINDOW };
	c->egress = ooblex_egress_new(&ecfg, &client_host, c);
	ooblex_egress_restart(c->egress, c->id);
	char err[256];
	ooblex_egress_set_output(c->egress, OOBLEX_OUTPUT_DATACHANNEL, OOBLEX_CODEC_NONE, 0, err, sizeof(err));
	fake_page_init(&c->page, 0);
	fake_page_hello(&c->page, c->egress);
	c->delivered = g_ptr_array_new_with_free_func(result_free);
	c->workers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	return c;
}

static client *client_new(void) {
	return client_new_waiting(500);
}

static void client_free(client *c) {
	ooblex_egress_free(c->egress);
	fake_page_clear(&c->page);
	g_ptr_array_free(c->delivered, TRUE);
	g_hash_table_destroy(c->workers);
	g_mutex_clear(&c->lock);
	free(c);
}

static unsigned delivered_count(client *c) {
	g_mutex_lock(&c->lock);
	unsigned n = c->delivered->len;
	g_mutex_unlock(&c->lock);
	return n;
}

typedef struct network {
	ooblex_ingest *ing;
	const stream_opts *opts;
	int count;
	uint8_t held[2048];	/* a packet kept back to be sent after the next one */
	size_t held_len;
} network;

static void push_packet(const uint8_t *pkt, size_t len, void *user) {
	network *net = user;
	const stream_opts *o = net->opts;
	net->count++;
	if(o->drop_packet == net->count)
		return;
	if(o->swap_every && net->count % o->swap_every == 0 && net->held_len == 0 && len <= sizeof(net->held)) {
		memcpy(net->held, pkt, len);
		net->held_len = len;
		return;
	}
	ooblex_ingest_push_rtp(net->ing, pkt, len);
	if(o->duplicate_every && net->count % o->duplicate_every == 0)
		ooblex_ingest_push_rtp(net->ing, pkt, len);
	if(net->held_len) {
		ooblex_ingest_push_rtp(net->ing, net->held, net->held_len);
		net->held_len = 0;
	}
}

static const stream_opts plain_vp8 = { .codec = "vp8" };

/* Starts an ingest for client c (its id, its stats), with c's results read
 * from Redis. cfg holds the rest. NULL (and a message) if it cannot start. */
static ooblex_ingest *begin_stream(client *c, ooblex_ingest_config *cfg) {
	current = c;
	ooblex_reader_watch(reader, c->key);
	memcpy(cfg->client_id, c->id, OOBLEX_CLIENT_ID_LEN);
	cfg->stats = &c->stats;
	/* The egress refuses results for seqs the ingest never queued. */
	cfg->queued_seq = ooblex_egress_queued_seq(c->egress);
	if(cfg->resolved_seq == NULL)
		cfg->resolved_seq = ooblex_egress_resolved_seq(c->egress);
	ooblex_ingest_callbacks cb = { cb_keyframe, cb_frame, cb_stopped };
	char err[256];
	ooblex_ingest *ing = ooblex_ingest_start(cfg, &cb, c, err, sizeof(err));
	if(ing == NULL)
		printf("# ingest: %s\n", err);
	return ing;
}

/* Waits for `expect` delivered results (up to 5 s), then stops the ingest
 * and stops reading c's results. */
static void end_stream(client *c, ooblex_ingest *ing, unsigned expect) {
	for(int i = 0; i < 500 && delivered_count(c) < expect; i++)
		g_usleep(10000);
	if(ing != NULL)
		stop_ingest(ing, c);
	ooblex_reader_unwatch(reader, c->key);
	current = NULL;
}

/* Streams n frames of the test pattern through an ingest and waits for
 * `expect` delivered results. Keeps the source frames for pixel checks. */
static client *run_stream_with(const stream_opts *opts, int n, unsigned frame_skip, const char *effect,
		unsigned expect, uint8_t **sources) {
	client *c = client_new();
	ooblex_ingest_config cfg = {
		.codec = opts->codec, .frame_skip = frame_skip, .effect = effect,
		.reply_pixfmt = OOBLEX_PIXFMT_JPEG, .jpeg_quality = 90,
		.frame_pixfmt = opts->frame_pixfmt, .max_width = opts->max_width, .max_height = opts->max_height,
		.max_queued_packets = 100000, .pli_interval_ms = 500, .deadline_ms = 0,
	};
	ooblex_ingest *ing = begin_stream(c, &cfg);
	if(ing == NULL) {
		end_stream(c, NULL, 0);
		return c;
	}
	video_test_source *src = video_test_source_new(opts->codec, W, H, 30, 3000);
	network net = { .ing = ing, .opts = opts };
	g_atomic_int_set(&keyframe_wanted, 0);
	for(int i = 0; i < n; i++) {
		if(g_atomic_int_compare_and_exchange(&keyframe_wanted, 1, 0))
			video_test_source_force_keyframe(src);
		const uint8_t *raw = video_test_source_next(src, push_packet, &net);
		if(sources != NULL && raw != NULL) {
			sources[i] = malloc(W * H * 3 / 2);
			memcpy(sources[i], raw, W * H * 3 / 2);
		}
		/* Real time, roughly: a flood would test the producer's bound instead,
		 * and a lost packet's gap must expire while frames still flow. */
		g_usleep(opts->drop_packet ? 15000 : 2000);
	}
	if(net.held_len)	/* the network lets go of what it held back */
		ooblex_ingest_push_rtp(ing, net.held, net.held_len);
	video_test_source_free(src);
	if(expect == 0) {
		g_usleep(1000000);	/* expecting nothing: give the fleet a second to prove it */
		/* and the error results for what it could not process time to come */
		for(int waited = 0; waited < 1000; waited++) {
			int answered = (int)worker_errors(c) + (int)delivered_count(c);
			if(answered >= (int)atomic_load(&c->stats.frames_sampled))
				break;
			g_usleep(10000);
		}
	}
	for(int waited = 0; waited < 2000 && delivered_count(c) < expect; waited++)
		g_usleep(10000);
	/* Anything processed twice would show up now as a duplicate or extra result. */
	g_usleep(300000);
	end_stream(c, ing, expect);
	return c;
}

static client *run_stream(int n, unsigned frame_skip, const char *effect, unsigned expect, uint8_t **sources) {
	return run_stream_with(&plain_vp8, n, frame_skip, effect, expect, sources);
}

/* Decodes a result JPEG to I420; the result may be smaller than the
 * source (max_width/max_height). */
static int decode_jpeg(const result *r, uint8_t *i420) {
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
	char err[256];
	int ok = j && ooblex_jpeg_decode_i420(j, r->jpeg, r->jpeg_len, r->h.width, r->h.height, i420, err, sizeof(err)) == 0;
	ooblex_jpeg_free(j);
	return ok ? 0 : -1;
}

/* Mean |Y_result - Y_expected| where the expected luma is the source's
 * (inverted, if asked), box-averaged down to the result's size. */
static double mean_abs_y(const uint8_t *a, int aw, int ah, const uint8_t *src, int invert) {
	double sum = 0;
	int fx = W / aw, fy = H / ah;
	for(int y = 0; y < ah; y++)
		for(int x = 0; x < aw; x++) {
			int acc = 0;
			for(int dy = 0; dy < fy; dy++)
				for(int dx = 0; dx < fx; dx++)
					acc += src[(y * fy + dy) * W + x * fx + dx];
			int want = acc / (fx * fy);
			if(invert)
				want = 251 - want;
			sum += abs((int)a[y * aw + x] - want);
		}
	return sum / (aw * ah);
}

/* N frames through the fleet: each delivered once, in order, by several
 * workers, each one really the inverted source frame. */
static void check_inverted_stream(const stream_opts *opts) {
	enum { N = 60 };
	uint8_t *sources[N] = { 0 };
	client *c = run_stream_with(opts, N, 1, "invert", N, sources);
	EXPECT_EQ(atomic_load(&c->stats.frames_decoded), N);
	EXPECT_EQ(atomic_load(&c->stats.frames_sampled), N);
	EXPECT_EQ(atomic_load(&c->stats.decode_errors), 0);
	EXPECT_EQ(c->delivered->len, N);	/* each exactly once: no more, no less */
	EXPECT_EQ(refused(c), 0);
	EXPECT_EQ(reorder_stats(c).duplicates, 0);
	EXPECT_EQ(reorder_stats(c).skipped, 0);
	EXPECT_EQ(c->page.whole, N);	/* the page got every frame whole */
	EXPECT_EQ(c->page.broken, 0);
	EXPECT(g_hash_table_size(c->workers) >= 2);	/* the work was shared */
	uint8_t *img = malloc(W * H * 3 / 2);
	double worst = 0, best_wrong = 1e9;
	for(unsigned i = 0; i < c->delivered->len; i++) {
		result *r = g_ptr_array_index(c->delivered, i);
		EXPECT_EQ(r->h.seq, i + 1);
		EXPECT_EQ(r->h.frame_id, i + 1);
		EXPECT(r->h.worker_end_us >= r->h.worker_start_us && r->h.worker_start_us >= r->h.queued_us);
		EXPECT(strcmp(r->h.effect, "invert") == 0);
		if(r->h.frame_id < 1 || r->h.frame_id > N || sources[r->h.frame_id - 1] == NULL)
			continue;
		unsigned want_w = opts->expect_width ? opts->expect_width : W, want_h = opts->expect_height ? opts->expect_height : H;
		EXPECT(r->h.width == want_w && r->h.height == want_h);
		REQUIRE(decode_jpeg(r, img) == 0);
		double d = mean_abs_y(img, r->h.width, r->h.height, sources[r->h.frame_id - 1], 1);
		double wrong = mean_abs_y(img, r->h.width, r->h.height, sources[r->h.frame_id - 1], 0);
		if(d > worst) worst = d;
		if(wrong < best_wrong) best_wrong = wrong;
	}
	printf("# %s via %s%s: worst mean |Y - (251-Y_src)| = %.2f, closest to the uninverted source = %.2f\n",
		opts->codec, ooblex_pixfmt_name(opts->frame_pixfmt ? opts->frame_pixfmt : OOBLEX_PIXFMT_I420),
		opts->max_width ? " (downscaled)" : "", worst, best_wrong);
	EXPECT(worst < 6.0);	/* VP8 + JPEG losses only */
	EXPECT(best_wrong > 40.0);	/* and really inverted */
	free(img);
	for(int i = 0; i < N; i++)
		free(sources[i]);
	client_free(c);
}

static void test_frames_processed_in_order_by_both_workers(void) {
	check_inverted_stream(&plain_vp8);
}

static void test_h264_stream(void) {
	static const stream_opts h264 = { .codec = "h264" };
	check_inverted_stream(&h264);
}

static void test_rgb24_transport(void) {
	static const stream_opts o = { .codec = "vp8", .frame_pixfmt = OOBLEX_PIXFMT_RGB24 };
	check_inverted_stream(&o);
}

static void test_jpeg_transport(void) {
	static const stream_opts o = { .codec = "vp8", .frame_pixfmt = OOBLEX_PIXFMT_JPEG };
	check_inverted_stream(&o);
}

static void test_downscaled_to_max_size(void) {
	/* 320x240 with a 160x160 limit: 160x120, aspect kept. */
	static const stream_opts o = { .codec = "h264", .max_width = 160, .max_height = 160,
		.expect_width = 160, .expect_height = 120 };
	check_inverted_stream(&o);
}

static void test_resolution_change_mid_stream(void) {
	/* 320x240, then 160x120 (congestion), then back: every frame decodes and
	 * is processed at the size it was sent. */
	client *c = client_new();
	ooblex_ingest_config cfg = {
		.codec = "vp8", .frame_skip = 1, .effect = "invert", .reply_pixfmt = OOBLEX_PIXFMT_JPEG, .jpeg_quality = 90,
	};
	ooblex_ingest *ing = begin_stream(c, &cfg);
	REQUIRE(ing != NULL);
	video_test_source *src = video_test_source_new("vp8", W, H, 30, 2000);
	network net = { .ing = ing, .opts = &plain_vp8 };
	const int sizes[3][2] = { { W, H }, { W / 2, H / 2 }, { W, H } };
	for(int part = 0; part < 3; part++) {
		if(part > 0)
			REQUIRE(video_test_source_resize(src, sizes[part][0], sizes[part][1]) == 0);
		for(int i = 0; i < 10; i++) {
			video_test_source_next(src, push_packet, &net);
			g_usleep(2000);
		}
	}
	video_test_source_free(src);
	end_stream(c, ing, 30);
	EXPECT_EQ(atomic_load(&c->stats.frames_decoded), 30);
	EXPECT_EQ(atomic_load(&c->stats.decode_errors), 0);
	REQUIRE(c->delivered->len == 30);
	for(unsigned i = 0; i < 30; i++) {
		result *r = g_ptr_array_index(c->delivered, i);
		int part = (int)(r->h.frame_id - 1) / 10;
		EXPECT(r->h.width == sizes[part][0] && r->h.height == sizes[part][1]);
	}
	client_free(c);
}

static void test_reordered_and_duplicated_packets(void) {
	/* Late retransmissions: every 4th packet swapped with the next, every
	 * 3rd sent twice. The jitter buffer must hide all of it. */
	static const stream_opts damaged = { .codec = "vp8", .swap_every = 4, .duplicate_every = 3 };
	client *c = run_stream_with(&damaged, 40, 1, "none", 40, NULL);
	EXPECT_EQ(atomic_load(&c->stats.frames_decoded), 40);
	EXPECT_EQ(atomic_load(&c->stats.frames_incomplete), 0);
	EXPECT_EQ(atomic_load(&c->stats.decode_errors), 0);
	printf("# reordered/duplicated: %lu duplicate, %lu late, %lu received\n", (unsigned long)atomic_load(&c->stats.packets_duplicate), (unsigned long)atomic_load(&c->stats.packets_late), (unsigned long)atomic_load(&c->stats.packets_received));
	/* A copy that arrives after its original went on looks like a late packet. */
	EXPECT(atomic_load(&c->stats.packets_duplicate) + atomic_load(&c->stats.packets_late) >= 8);
	EXPECT_EQ(atomic_load(&c->stats.packets_lost), 0);
	EXPECT_EQ(c->delivered->len, 40);
	client_free(c);
}

static void test_loss_recovers_at_next_keyframe(void) {
	/* One packet lost for good (H.264, inside a frame): that frame and what
	 * depends on it are dropped, a keyframe is requested, and decoding
	 * resumes with it. Nothing garbled reaches the decoder. */
	static const stream_opts lossy = { .codec = "h264", .drop_packet = 40 };
	client *c = run_stream_with(&lossy, 40, 1, "none", 20, NULL);
	unsigned long decoded = atomic_load(&c->stats.frames_decoded);
	printf("# loss: %lu of 40 frames decoded, %lu incomplete, %lu keyframe requests, %lu packets lost\n",
		decoded, (unsigned long)atomic_load(&c->stats.frames_incomplete),
		(unsigned long)atomic_load(&c->stats.keyframes_requested), (unsigned long)atomic_load(&c->stats.packets_lost));
	EXPECT_EQ(atomic_load(&c->stats.packets_lost), 1);
	EXPECT(atomic_load(&c->stats.frames_incomplete) >= 1);
	EXPECT(atomic_load(&c->stats.keyframes_requested) >= 1);
	EXPECT_EQ(atomic_load(&c->stats.decode_errors), 0);
	EXPECT(decoded >= 20 && decoded < 40);
	/* The last frames made it: decoding resumed after the keyframe. */
	REQUIRE(c->delivered->len > 0);
	result *last = g_ptr_array_index(c->delivered, c->delivered->len - 1);
	EXPECT(last->h.frame_id == decoded);
	client_free(c);
}

static int frames_out;
static void count_frame(uint8_t *msg, size_t len, void *user) {
	(void)len; (void)user;
	free(msg);
	g_atomic_int_inc(&frames_out);
}

static void feed_frames(video_test_source *src, ooblex_ingest *ing, int n) {
	network net = { .ing = ing, .opts = &plain_vp8 };
	for(int i = 0; i < n; i++)
		video_test_source_next(src, push_packet, &net);
}

static void wait_decoded(client *c, unsigned n) {
	for(int i = 0; i < 300 && atomic_load(&c->stats.frames_decoded) < n; i++)
		g_usleep(10000);
}

static void test_in_flight_limit_defers_sampling(void) {
	/* Workers that never answer: after max_in_flight frames, nothing more is
	 * queued until the return path resolves some, and then the newest goes. */
	client *c = client_new();
	atomic_uint_fast32_t resolved = 0;
	ooblex_ingest_config cfg = {
		.codec = "vp8", .frame_skip = 1, .effect = "none", .reply_pixfmt = OOBLEX_PIXFMT_JPEG,
		.max_in_flight = 2, .resolved_seq = &resolved, .deadline_ms = 60000, .stats = &c->stats,
	};
	ooblex_ingest_callbacks cb = { cb_keyframe, count_frame, cb_stopped };
	char err[256];
	g_atomic_int_set(&frames_out, 0);
	ooblex_ingest *ing = ooblex_ingest_start(&cfg, &cb, c, err, sizeof(err));
	REQUIRE(ing != NULL);
	video_test_source *src = video_test_source_new("vp8", W, H, 30, 1000);
	feed_frames(src, ing, 10);
	wait_decoded(c, 10);
	EXPECT_EQ(atomic_load(&c->stats.frames_sampled), 2);
	EXPECT_EQ(atomic_load(&c->stats.frames_deferred), 8);
	EXPECT_EQ(g_atomic_int_get(&frames_out), 2);
	/* Results for both came back: two slots free, taken by the next frames. */
	atomic_store(&resolved, 2);
	feed_frames(src, ing, 5);
	wait_decoded(c, 15);
	EXPECT_EQ(atomic_load(&c->stats.frames_sampled), 4);
	EXPECT_EQ(atomic_load(&c->stats.frames_deferred), 11);
	video_test_source_free(src);
	stop_ingest(ing, c);
	client_free(c);
}

static void test_fair_share_cap_and_spacing_defer_sampling(void) {
	/* The fair scheduler's cap and spacing (fair_share.h), as the plugin
	 * hands them to the ingest: below max_in_flight, counted apart. */
	client *c = client_new();
	atomic_uint_fast32_t resolved = 0;
	atomic_uint cap = 1;
	atomic_uint_fast64_t interval = 0;
	ooblex_ingest_config cfg = {
		.codec = "vp8", .frame_skip = 1, .effect = "none", .reply_pixfmt = OOBLEX_PIXFMT_JPEG,
		.max_in_flight = 6, .resolved_seq = &resolved, .deadline_ms = 60000, .stats = &c->stats,
		.fair_in_flight_cap = &cap, .fair_min_interval_us = &interval,
	};
	ooblex_ingest_callbacks cb = { cb_keyframe, count_frame, cb_stopped };
	char err[256];
	g_atomic_int_set(&frames_out, 0);
	ooblex_ingest *ing = ooblex_ingest_start(&cfg, &cb, c, err, sizeof(err));
	REQUIRE(ing != NULL);
	video_test_source *src = video_test_source_new("vp8", W, H, 30, 1000);
	feed_frames(src, ing, 10);
	wait_decoded(c, 10);
	EXPECT_EQ(atomic_load(&c->stats.frames_sampled), 1);
	EXPECT_EQ(atomic_load(&c->stats.frames_deferred_fair), 9);
	EXPECT_EQ(atomic_load(&c->stats.frames_deferred), 0);
	/* Its result came back, no cap any more, but a minute between frames. */
	atomic_store(&resolved, 1);
	atomic_store(&cap, 0);
	atomic_store(&interval, 60 * 1000 * 1000);
	feed_frames(src, ing, 5);
	wait_decoded(c, 15);
	EXPECT_EQ(atomic_load(&c->stats.frames_sampled), 1);
	EXPECT_EQ(atomic_load(&c->stats.frames_deferred_fair), 14);
	/* Let go: every frame is sampled again, up to max_in_flight. */
	atomic_store(&interval, 0);
	feed_frames(src, ing, 3);
	wait_decoded(c, 18);
	EXPECT_EQ(atomic_load(&c->stats.frames_sampled), 4);
	EXPECT_EQ(atomic_load(&c->stats.frames_deferred_fair), 14);
	EXPECT_EQ(atomic_load(&c->stats.frames_deferred), 0);
	EXPECT_EQ(g_atomic_int_get(&frames_out), 4);
	video_test_source_free(src);
	stop_ingest(ing, c);
	client_free(c);
}

static void test_latency_budget_extra_skip(void) {
	/* The latency budget's extra skip (latency_budget.h), as the plugin
	 * hands it to the ingest: FRAME_SKIP 3 made an effective 5 (5000 / 3
	 * thousandths): of the 10 frames the sampler takes from 30, 6 go on, the
	 * first at once, and 4 are counted shed; off again, every 3rd goes. */
	client *c = client_new();
	atomic_uint extra = 1667;
	ooblex_ingest_config cfg = {
		.codec = "vp8", .frame_skip = 3, .effect = "none", .reply_pixfmt = OOBLEX_PIXFMT_JPEG,
		.deadline_ms = 60000, .stats = &c->stats, .latency_skip_milli = &extra,
	};
	ooblex_ingest_callbacks cb = { cb_keyframe, count_frame, cb_stopped };
	char err[256];
	g_atomic_int_set(&frames_out, 0);
	ooblex_ingest *ing = ooblex_ingest_start(&cfg, &cb, c, err, sizeof(err));
	REQUIRE(ing != NULL);
	video_test_source *src = video_test_source_new("vp8", W, H, 30, 1000);
	feed_frames(src, ing, 30);
	wait_decoded(c, 30);
	EXPECT_EQ(atomic_load(&c->stats.frames_sampled), 6);
	EXPECT_EQ(atomic_load(&c->stats.frames_shed_latency), 4);
	atomic_store(&extra, 0);
	feed_frames(src, ing, 30);
	wait_decoded(c, 60);
	EXPECT_EQ(atomic_load(&c->stats.frames_sampled), 16);
	EXPECT_EQ(atomic_load(&c->stats.frames_shed_latency), 4);
	EXPECT_EQ(g_atomic_int_get(&frames_out), 16);
	video_test_source_free(src);
	stop_ingest(ing, c);
	client_free(c);
}

/* Feeds n frames of a VP8 source at fps to a fresh ingest of a
 * source-sampled session asked for every 3rd camera frame, then n more
 * after it is asked for nothing more (sender_skip 1); returns the frames
 * processed of the first n, and of the second in *after. */
static unsigned long held_to_sender_rate(int fps, int n, unsigned long *after, unsigned long *over) {
	client *c = client_new();
	atomic_uint sender_skip = 3;
	ooblex_ingest_config cfg = {
		.codec = "vp8", .frame_skip = 1, .effect = "none", .reply_pixfmt = OOBLEX_PIXFMT_JPEG,
		.deadline_ms = 60000, .stats = &c->stats, .sender_skip = &sender_skip,
	};
	ooblex_ingest_callbacks cb = { cb_keyframe, count_frame, cb_stopped };
	char err[256];
	*after = *over = 0;
	ooblex_ingest *ing = ooblex_ingest_start(&cfg, &cb, c, err, sizeof(err));
	EXPECT(ing != NULL);
	if(ing == NULL) {
		client_free(c);
		return 0;
	}
	video_test_source *src = video_test_source_new("vp8", W, H, fps, 1000);
	feed_frames(src, ing, n);
	wait_decoded(c, (unsigned)n);
	EXPECT_EQ(atomic_load(&c->stats.frames_decoded), n);	/* all decoded: the next refer to them */
	unsigned long first = (unsigned long)atomic_load(&c->stats.frames_sampled);
	*over = (unsigned long)atomic_load(&c->stats.frames_over_sender_rate);
	atomic_store(&sender_skip, 1);
	feed_frames(src, ing, n);
	wait_decoded(c, 2u * (unsigned)n);
	*after = (unsigned long)atomic_load(&c->stats.frames_sampled) - first;
	video_test_source_free(src);
	stop_ingest(ing, c);
	client_free(c);
	return first;
}

static void test_source_sampled_sender_held_to_the_rate_it_was_asked(void) {
	/* A source-sampled page asked to send every 3rd camera frame that sends
	 * all 30 a second anyway (no maxFramerate, or a hostile client): every
	 * frame is decoded, but only one in three by capture time is processed,
	 * the rest counted. A page that keeps the rate (10 fps) has all of its
	 * frames processed. Asked for nothing more, both have all. */
	unsigned long after_fast, over_fast, after_kept, over_kept;
	unsigned long fast = held_to_sender_rate(30, 30, &after_fast, &over_fast);
	unsigned long kept = held_to_sender_rate(10, 10, &after_kept, &over_kept);
	printf("# asked for every 3rd camera frame: 30 frames at 30 fps -> %lu processed (%lu counted over the rate); "
		"10 at 10 fps -> %lu; then asked for all: %lu of 30, %lu of 10\n", fast, over_fast, kept, after_fast,
		after_kept);
	EXPECT_EQ(fast, 10);
	EXPECT_EQ(over_fast, 20);
	EXPECT_EQ(kept, 10);
	EXPECT_EQ(over_kept, 0);
	EXPECT_EQ(after_fast, 30);
	EXPECT_EQ(after_kept, 10);
}

static void test_frame_skip_samples_every_third(void) {
	client *c = run_stream(30, 3, "grayscale", 10, NULL);
	EXPECT_EQ(atomic_load(&c->stats.frames_decoded), 30);
	EXPECT_EQ(atomic_load(&c->stats.frames_sampled), 10);
	REQUIRE(c->delivered->len == 10);
	uint8_t *img = malloc(W * H * 3 / 2);
	for(unsigned i = 0; i < 10; i++) {
		result *r = g_ptr_array_index(c->delivered, i);
		EXPECT_EQ(r->h.frame_id, 1 + 3 * i);	/* frames 1, 4, 7, ... */
		EXPECT_EQ(r->h.seq, i + 1);
		REQUIRE(decode_jpeg(r, img) == 0);
		/* Gray: both chroma planes at the neutral 128. */
		const uint8_t *u = img + W * H;
		int off = 0;
		for(int k = 0; k < W * H / 2; k++)
			off += abs(u[k] - 128) > 3;
		EXPECT(off < W * H / 200);
	}
	free(img);
	client_free(c);
}

typedef struct drained {
	GMutex lock;
	GArray *lens;	/* of size_t: each message handed on, in order */
	int last;	/* the place in the list of the last one (its first two bytes) */
	int bad_order;	/* one came before one pushed earlier */
} drained;

static void on_drained(const char *key, const uint8_t *msg, size_t len, void *user) {
	(void)key;
	drained *d = user;
	g_mutex_lock(&d->lock);
	int place = len >= 2 ? msg[0] << 8 | msg[1] : -1;
	if(place <= d->last)
		d->bad_order = 1;
	d->last = place;
	g_array_append_val(d->lens, len);
	g_mutex_unlock(&d->lock);
}

/* A message of len bytes whose first two say its place. */
static void push_placed(redisContext *rc, const char *key, int place, size_t len) {
	uint8_t *buf = calloc(1, len);
	buf[0] = (uint8_t)(place >> 8);
	buf[1] = (uint8_t)place;
	freeReplyObject(redisCommand(rc, "LPUSH %s %b", key, buf, len));
	free(buf);
}

static void on_drained_tick(void *user) {
	(void)user;
}

static void test_reader_drains_a_backlog_on_one_connection(void) {
	/* A backlog of results waiting in one list (a burst from many workers):
	 * the reader takes the first with BRPOP and the rest through its drain
	 * script, 16 a round trip, those over the size cap discarded inside
	 * Redis; all of it on the connection it started with (a reply it could
	 * not parse, like hiredis' "Invalid format string", costs a reconnect
	 * each time and shows here). Each message's first byte is its place in
	 * the list, so order is checked too. */
	redisContext *rc = harness_connect(0, 0);
	REQUIRE(rc != NULL);
	const char *key = "processed_frames:reader-drain-test";
	freeReplyObject(redisCommand(rc, "DEL %s", key));
	enum { N = 200, CAP = 1000 };
	int oversized = 0;
	for(int i = 0; i < N; i++) {
		size_t len = i % 7 == 3 ? 2 * CAP : 100 + (size_t)i;
		oversized += len > CAP;
		push_placed(rc, key, i, len);
	}
	drained d = { .lens = g_array_new(FALSE, FALSE, sizeof(size_t)), .last = -1 };
	g_mutex_init(&d.lock);
	char err[256];
	ooblex_reader *r = ooblex_reader_start(&harness_redis, 20, on_drained, on_drained_tick, &d, NULL, err, sizeof(err));
	REQUIRE(r != NULL);
	ooblex_reader_set_max_result(r, CAP);
	const ooblex_reader_stats *st = ooblex_reader_get_stats(r);
	ooblex_reader_watch(r, key);
	for(int i = 0; i < 200 && atomic_load(&st->popped) < N; i++)
		g_usleep(25000);
	/* And a few more, one at a time, as results usually come. */
	for(int i = N; i < N + 20; i++) {
		push_placed(rc, key, i, 64);
		g_usleep(5000);
	}
	for(int i = 0; i < 200 && atomic_load(&st->popped) < N + 20; i++)
		g_usleep(25000);
	ooblex_reader_unwatch(r, key);
	EXPECT_EQ(atomic_load(&st->popped), N + 20);
	EXPECT_EQ(atomic_load(&st->oversized), oversized);
	g_mutex_lock(&d.lock);
	EXPECT_EQ(d.lens->len, N + 20 - oversized);
	g_mutex_unlock(&d.lock);
	EXPECT_EQ(d.bad_order, 0);
	EXPECT_EQ(atomic_load(&st->connects), 1);
	EXPECT_EQ(harness_int(rc, "LLEN %s", key), 0);
	ooblex_reader_stop(r);
	g_array_unref(d.lens);
	g_mutex_clear(&d.lock);
	redisFree(rc);
}

/* What a two-list reader saw: for each delivery, which list (0 or 1) and
 * its place in that list. */
typedef struct taken_from_two {
	GMutex lock;
	char keys[2][OOBLEX_KEY_MAX];
	GArray *lists;	/* of int: 0 or 1, one per delivery, in order */
	int last[2];	/* each list's last place seen */
	int bad_order;	/* a list's result came before one pushed earlier to it */
} taken_from_two;

static void on_taken_from_two(const char *key, const uint8_t *msg, size_t len, void *user) {
	taken_from_two *t = user;
	int which = strcmp(key, t->keys[0]) == 0 ? 0 : 1;
	int place = len >= 2 ? msg[0] << 8 | msg[1] : -1;
	g_mutex_lock(&t->lock);
	if(place <= t->last[which])
		t->bad_order = 1;
	t->last[which] = place;
	g_array_append_val(t->lists, which);
	g_mutex_unlock(&t->lock);
}

/* Fills `big` with n_big results and `small` with n_small, both at once
 * (built under other names and renamed in one MULTI, so the reader finds
 * them together), and returns where in the deliveries the small list's last
 * result came. */
static int small_list_last_place(redisContext *rc, const char *big, int n_big, const char *small, int n_small) {
	char tmp[2][OOBLEX_KEY_MAX];
	g_snprintf(tmp[0], sizeof(tmp[0]), "%s:filling", big);
	g_snprintf(tmp[1], sizeof(tmp[1]), "%s:filling", small);
	const char *keys[2] = { big, small };
	int counts[2] = { n_big, n_small };
	for(int k = 0; k < 2; k++) {
		freeReplyObject(redisCommand(rc, "DEL %s %s", keys[k], tmp[k]));
		for(int i = 0; i < counts[k]; i++)
			push_placed(rc, tmp[k], i, 200);
	}
	taken_from_two t = { .lists = g_array_new(FALSE, FALSE, sizeof(int)), .last = { -1, -1 } };
	g_mutex_init(&t.lock);
	g_strlcpy(t.keys[0], big, sizeof(t.keys[0]));
	g_strlcpy(t.keys[1], small, sizeof(t.keys[1]));
	char err[256];
	ooblex_reader *r = ooblex_reader_start(&harness_redis, 20, on_taken_from_two, on_drained_tick, &t, NULL, err,
		sizeof(err));
	EXPECT(r != NULL);
	if(r == NULL)
		return -1;
	const ooblex_reader_stats *st = ooblex_reader_get_stats(r);
	ooblex_reader_watch(r, big);
	ooblex_reader_watch(r, small);
	g_usleep(50000);	/* the reader is blocked on both, waiting */
	freeReplyObject(redisCommand(rc, "MULTI"));
	freeReplyObject(redisCommand(rc, "RENAME %s %s", tmp[0], big));
	freeReplyObject(redisCommand(rc, "RENAME %s %s", tmp[1], small));
	freeReplyObject(redisCommand(rc, "EXEC"));
	for(int i = 0; i < 400 && atomic_load(&st->popped) < (uint64_t)(n_big + n_small); i++)
		g_usleep(10000);
	ooblex_reader_unwatch(r, big);
	ooblex_reader_unwatch(r, small);
	ooblex_reader_stop(r);
	int last_small = -1, got[2] = { 0, 0 };
	for(guint i = 0; i < t.lists->len; i++) {
		int which = g_array_index(t.lists, int, i);
		got[which]++;
		if(which == 1)
			last_small = (int)i;
	}
	EXPECT_EQ(got[0], n_big);
	EXPECT_EQ(got[1], n_small);
	EXPECT_EQ(t.bad_order, 0);
	EXPECT_EQ(harness_int(rc, "LLEN %s", big), 0);
	g_array_unref(t.lists);
	g_mutex_clear(&t.lock);
	return last_small;
}

static void test_reader_serves_every_client_in_turn(void) {
	/* One client's results waiting in hundreds (a fast effect, many
	 * workers), another's a few: the few are handed on within the first
	 * round, not after the hundreds (BRPOP serves the first non-empty list
	 * it is given, and a drain of that list alone kept the other waiting
	 * until it was empty). Both ways round, since which list a BRPOP names
	 * first depends on the hash table. */
	redisContext *rc = harness_connect(0, 0);
	REQUIRE(rc != NULL);
	enum { BIG = 300, SMALL = 5 };
	const char *a = "processed_frames:reader-turns-a", *b = "processed_frames:reader-turns-b";
	int small_b = small_list_last_place(rc, a, BIG, b, SMALL);
	int small_a = small_list_last_place(rc, b, BIG, a, SMALL);
	printf("# %d results in one list, %d in another: the small list's last was handed on %d-th and %d-th\n", BIG,
		SMALL, small_b + 1, small_a + 1);
	/* The first BRPOP takes one, then each round takes up to 16 from
	 * every list, in turns: the small list is done by about the 11th. Room
	 * for two rounds more, should the reader on a loaded machine have begun
	 * its first round before it saw the second watch. */
	EXPECT(small_b >= 0 && small_b < 2 * SMALL + 2 + 2 * 16);
	EXPECT(small_a >= 0 && small_a < 2 * SMALL + 2 + 2 * 16);
	freeReplyObject(redisCommand(rc, "DEL %s %s", a, b));
	redisFree(rc);
}

static void test_workers_survive_garbage(void) {
	char err[256];
	redisContext *rc = ooblex_redis_connect(&harness_redis, 2000, err, sizeof(err));
	REQUIRE(rc != NULL);
	/* Bad magic, truncated header, absurd size, a valid header with a short payload. */
	uint8_t absurd[128] = "OOBX";
	absurd[4] = 1; absurd[5] = 1; absurd[6] = 89; absurd[80] = 0xff; absurd[81] = 0xff;
	absurd[36] = absurd[37] = absurd[38] = absurd[39] = 0xff;
	const char *junk[] = { "definitely not a frame", "OOBX\x01\x01" };
	for(int i = 0; i < 2; i++)
		freeReplyObject(redisCommand(rc, "LPUSH %s %b", OOBLEX_KEY_FRAMES, junk[i], strlen(junk[i])));
	freeReplyObject(redisCommand(rc, "LPUSH %s %b", OOBLEX_KEY_FRAMES, absurd, sizeof(absurd)));
	freeReplyObject(redisCommand(rc, "LPUSH %s %b", OOBLEX_KEY_FRAMES, "", (size_t)0));
	redisFree(rc);
	/* The fleet still processes everything that follows. */
	client *c = run_stream(12, 1, "invert", 12, NULL);
	EXPECT_EQ(c->delivered->len, 12);
	client_free(c);
}

static void test_unknown_effect_is_not_fatal(void) {
	/* The worker logs a frame with an effect it does not have and tells the
	 * client with an error result (which resolves the frame's seq); later
	 * frames keep coming. */
	client *c = run_stream(5, 1, "no-such-effect", 0, NULL);
	EXPECT_EQ(c->delivered->len, 0);
	EXPECT_EQ(worker_errors(c), 5);
	EXPECT_EQ(c->last_error_code, OOBLEX_FRAME_ERR_UNKNOWN_EFFECT);
	EXPECT_EQ(refused(c), 0);
	EXPECT_EQ(reorder_stats(c).skipped, 0);	/* resolved, not waited out */
	client_free(c);
	c = run_stream(6, 1, "grayscale", 6, NULL);
	EXPECT_EQ(c->delivered->len, 6);
	client_free(c);
}

/* Starts a throw-away redis-server on port; returns its pid. */
static GPid spawn_redis(int port) {
	char portstr[16];
	g_snprintf(portstr, sizeof(portstr), "%d", port);
	gchar *argv[] = { "redis-server", "--port", portstr, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--logfile", "/dev/null", NULL };
	GPid pid = 0;
	if(!g_spawn_async(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, NULL))
		return 0;
	char err[256];
	ooblex_redis_config cfg;
	ooblex_redis_config_default(&cfg);
	cfg.port = port;
	for(int i = 0; i < 100; i++) {
		redisContext *c = ooblex_redis_connect(&cfg, 200, err, sizeof(err));
		if(c != NULL) {
			redisFree(c);
			return pid;
		}
		g_usleep(50000);
	}
	return pid;
}

static void kill_redis(GPid pid) {
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	g_spawn_close_pid(pid);
}

static int restart_results;
static void count_result(const char *key, const uint8_t *msg, size_t len, void *user) {
	(void)key; (void)msg; (void)len; (void)user;
	g_atomic_int_inc(&restart_results);
}
static void no_tick(void *user) { (void)user; }

static int wait_atomic(atomic_int *v, int want, int ms) {
	for(int i = 0; i < ms / 10 && atomic_load(v) != want; i++)
		g_usleep(10000);
	return atomic_load(v) == want;
}

static void test_sigterm_drains(void) {
	/* SIGTERM while holding a batch of slow frames: the worker finishes them,
	 * takes nothing new, and exits 0; nothing is left for a reaper. */
	redisContext *rc = harness_connect(1, 1);
	REQUIRE(rc != NULL);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	harness_flood(rc, OOBLEX_KEY_FRAMES, id, "none", 20, NULL, 0);
	GPid w = harness_spawn_worker(1, "drainer", 200, 3, NULL, NULL);
	REQUIRE(w != 0);
	REQUIRE(harness_wait_len(rc, OOBLEX_KEY_PROCESSING_PREFIX "drainer", 3, 2000) == 3);
	long long done_before = harness_int(rc, "LLEN %s", key);
	gint64 t0 = g_get_monotonic_time();
	int status = -1;
	harness_stop(w, SIGTERM, &status);
	double took = (g_get_monotonic_time() - t0) / 1000.0;
	long long done = harness_int(rc, "LLEN %s", key), left = harness_int(rc, "LLEN %s", OOBLEX_KEY_FRAMES);
	printf("# SIGTERM with 3 frames in hand: exited after %.0f ms, %lld -> %lld results, %lld still queued\n",
		took, done_before, done, left);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(done, done_before + 3);	/* the batch in hand was finished */
	EXPECT_EQ(done + left, 20);	/* and nothing else was taken */
	EXPECT_EQ(harness_int(rc, "LLEN %s", OOBLEX_KEY_PROCESSING_PREFIX "drainer"), 0);
	EXPECT(took < 3000);
	redisFree(rc);
}

/* Results for `key` that appear in `ms` milliseconds. */
static long long results_in(redisContext *rc, const char *key, int ms) {
	long long a = harness_int(rc, "LLEN %s", key);
	g_usleep((gulong)ms * 1000);
	return harness_int(rc, "LLEN %s", key) - a;
}

static void test_throughput_grows_with_workers(void) {
	/* A model that takes 100 ms a frame: one worker does ~10 frames/s; two
	 * more added during the run triple it. The delay is a sleep, so the
	 * figure holds on a busy machine. */
	redisContext *rc = harness_connect(1, 1);
	REQUIRE(rc != NULL);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	harness_flood(rc, OOBLEX_KEY_FRAMES, id, "none", 200, NULL, 0);
	GPid w[3];
	w[0] = harness_spawn_worker(1, "grow-1", 100, 1, NULL, NULL);
	REQUIRE(w[0] != 0);
	g_usleep(500000);
	long long one = results_in(rc, key, 2000);
	w[1] = harness_spawn_worker(1, "grow-2", 100, 1, NULL, NULL);
	w[2] = harness_spawn_worker(1, "grow-3", 100, 1, NULL, NULL);
	g_usleep(500000);
	long long three = results_in(rc, key, 2000);
	for(int i = 0; i < 3; i++)
		if(w[i])
			harness_stop(w[i], SIGTERM, NULL);
	printf("# throughput: %.1f frames/s with 1 worker, %.1f with 3 (x%.2f)\n", one / 2.0, three / 2.0,
		one ? (double)three / one : 0.0);
	EXPECT(one >= 10 && one <= 22);
	EXPECT(three >= 2 * one);
	redisFree(rc);
}

static void test_worker_killed_mid_frame_loses_nothing(void) {
	/* A slow worker takes a frame and is killed with SIGKILL while it works
	 * on it: the frame goes back to the queue within a second, another worker
	 * processes it, and every frame comes back exactly once. */
	redisContext *rc = harness_connect(0, 0);
	REQUIRE(rc != NULL);
	GPid victim = harness_spawn_worker(0, "victim", 400, 1, NULL, NULL);
	REQUIRE(victim != 0);
	g_usleep(300000);
	/* This viewer waits for late frames (a real one gives up after 150 ms:
	 * then the recovered frame is counted late instead of shown). */
	client *c = client_new_waiting(5000);
	ooblex_ingest_config cfg = {
		.codec = "vp8", .frame_skip = 1, .effect = "invert", .reply_pixfmt = OOBLEX_PIXFMT_JPEG, .jpeg_quality = 80,
	};
	ooblex_ingest *ing = begin_stream(c, &cfg);
	REQUIRE(ing != NULL);
	video_test_source *src = video_test_source_new("vp8", W, H, 30, 2000);
	network net = { .ing = ing, .opts = &plain_vp8 };
	int killed = 0;
	gint64 killed_at = 0, reaped_at = 0;
	for(int i = 0; i < 40; i++) {
		video_test_source_next(src, push_packet, &net);
		g_usleep(20000);
		if(!killed && i >= 5 && harness_wait_len(rc, OOBLEX_KEY_PROCESSING_PREFIX "victim", 1, 500) > 0) {
			kill(victim, SIGKILL);
			waitpid(victim, NULL, 0);
			g_spawn_close_pid(victim);
			killed = 1;
			killed_at = g_get_monotonic_time();
		}
		if(killed && !reaped_at && harness_int(rc, "LLEN %s", OOBLEX_KEY_PROCESSING_PREFIX "victim") == 0)
			reaped_at = g_get_monotonic_time();
	}
	video_test_source_free(src);
	for(int i = 0; i < 300 && !reaped_at; i++) {
		if(harness_int(rc, "LLEN %s", OOBLEX_KEY_PROCESSING_PREFIX "victim") == 0)
			reaped_at = g_get_monotonic_time();
		else
			g_usleep(10000);
	}
	for(int i = 0; i < 500 && delivered_count(c) < 40; i++)
		g_usleep(10000);
	g_usleep(300000);	/* a frame processed twice would arrive now */
	end_stream(c, ing, 40);
	EXPECT(killed);
	printf("# killed mid-frame: held frame back in the queue %.0f ms after SIGKILL; %u of 40 frames delivered\n",
		(reaped_at - killed_at) / 1000.0, c->delivered->len);
	EXPECT(reaped_at > 0 && reaped_at - killed_at < 1000000);
	EXPECT_EQ(c->delivered->len, 40);
	EXPECT_EQ(reorder_stats(c).duplicates, 0);
	EXPECT_EQ(reorder_stats(c).skipped, 0);
	client_free(c);
	redisFree(rc);
}

static void test_killed_worker_frame_past_deadline_counted_stale(void) {
	/* The same, but the frame's deadline passes before anyone could redo it:
	 * it is dropped and counted in ooblex:dropped:stale, not processed late. */
	redisContext *rc = harness_connect(0, 0);
	REQUIRE(rc != NULL);
	long long stale_before = harness_int(rc, "GET %s", OOBLEX_KEY_DROPPED_STALE);
	GPid victim = harness_spawn_worker(0, "victim2", 5000, 1, NULL, NULL);
	REQUIRE(victim != 0);
	g_usleep(300000);
	/* Hand the victim one frame directly, with a deadline 200 ms away. */
	ooblex_frame_header h;
	memset(&h, 0, sizeof(h));
	h.kind = OOBLEX_KIND_FRAME;
	h.frame_id = h.seq = 1;
	h.capture_us = h.queued_us = ooblex_now_us();
	h.deadline_us = h.capture_us + 200000;
	h.width = 64;
	h.height = 48;
	h.pixfmt = OOBLEX_PIXFMT_I420;
	h.reply_pixfmt = OOBLEX_PIXFMT_JPEG;
	strcpy(h.effect, "none");
	h.payload_len = (uint32_t)ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, 64, 48);
	size_t hlen = ooblex_wire_header_len(&h);
	uint8_t *msg = calloc(1, hlen + h.payload_len);
	/* RPUSH: the front of the queue, where the idle workers wait too; retry
	 * (as another client each time: these are different frames) until the
	 * victim is the one that got it. */
	int held = 0;
	for(int tries = 0; tries < 20 && !held; tries++) {
		ooblex_client_id_generate(h.client_id);
		h.deadline_us = ooblex_now_us() + 200000;
		ooblex_wire_write_header(&h, msg);
		freeReplyObject(redisCommand(rc, "RPUSH %s %b", OOBLEX_KEY_FRAMES, msg, hlen + h.payload_len));
		held = harness_wait_len(rc, OOBLEX_KEY_PROCESSING_PREFIX "victim2", 1, 100) > 0;
	}
	free(msg);
	REQUIRE(held);
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
	g_spawn_close_pid(victim);
	long long stale = stale_before;
	for(int i = 0; i < 200 && stale == stale_before; i++) {
		g_usleep(10000);
		stale = harness_int(rc, "GET %s", OOBLEX_KEY_DROPPED_STALE);
	}
	EXPECT_EQ(stale, stale_before + 1);
	EXPECT_EQ(harness_int(rc, "LLEN %s", OOBLEX_KEY_PROCESSING_PREFIX "victim2"), 0);
	redisFree(rc);
}

static void test_redis_restart_is_survived(void) {
	/* Its own Redis, so the fleet's is not disturbed. */
	int port = 20000 + (int)(getpid() % 10000);
	GPid pid = spawn_redis(port);
	REQUIRE(pid != 0);
	ooblex_redis_config cfg;
	ooblex_redis_config_default(&cfg);
	cfg.port = port;
	char err[256];
	ooblex_producer *p = ooblex_producer_start(&cfg, 8, NULL, err, sizeof(err));
	ooblex_reader *r = ooblex_reader_start(&cfg, 20, count_result, no_tick, NULL, NULL, err, sizeof(err));
	REQUIRE(p != NULL && r != NULL);
	ooblex_reader_watch(r, "ooblex_test_list");
	const ooblex_producer_stats *ps = ooblex_producer_get_stats(p);
	const ooblex_reader_stats *rs = ooblex_reader_get_stats(r);
	EXPECT(wait_atomic((atomic_int *)&ps->connected, 1, 3000));
	ooblex_producer_push(p, "ooblex_test_list", (uint8_t *)strdup("one"), 3);
	for(int i = 0; i < 300 && g_atomic_int_get(&restart_results) < 1; i++)
		g_usleep(10000);
	EXPECT_EQ(g_atomic_int_get(&restart_results), 1);

	kill_redis(pid);
	/* Both threads notice; the producer's queue bounds what piles up meanwhile. */
	EXPECT(wait_atomic((atomic_int *)&rs->connected, 0, 3000));
	for(int i = 0; i < 20; i++)
		ooblex_producer_push(p, "ooblex_test_list", (uint8_t *)strdup("lost"), 4);
	/* Every frame offered is pushed, dropped with a reason or pending, at
	 * any instant; the bound covers a batch being sent too. */
	ooblex_producer_counts n;
	ooblex_producer_snapshot(p, &n);
	EXPECT(n.pending <= 8);
	EXPECT_EQ(n.pushed + n.dropped_full + n.dropped_error + n.pending, 21);
	EXPECT_EQ(n.pushed, 1);

	pid = spawn_redis(port);
	REQUIRE(pid != 0);
	/* Backoff tops out at 2 s: both are back well within 5. */
	EXPECT(wait_atomic((atomic_int *)&rs->connected, 1, 5000));
	EXPECT(wait_atomic((atomic_int *)&ps->connected, 1, 5000));
	int before = g_atomic_int_get(&restart_results);
	ooblex_producer_push(p, "ooblex_test_list", (uint8_t *)strdup("two"), 3);
	for(int i = 0; i < 300 && g_atomic_int_get(&restart_results) <= before; i++)
		g_usleep(10000);
	EXPECT(g_atomic_int_get(&restart_results) > before);
	for(int i = 0; i < 300 && ooblex_producer_pending(p) > 0; i++)
		g_usleep(10000);
	ooblex_producer_snapshot(p, &n);
	EXPECT_EQ(n.pushed + n.dropped_full + n.dropped_error + n.pending, 22);
	EXPECT_EQ(n.pending, 0);
	ooblex_reader_stop(r);
	ooblex_producer_stop(p);
	kill_redis(pid);
}

/* A message of len bytes that says which it is: byte i of message k is
 * (i * 131 + k * 7) mod 251, CR and LF included, so that a shifted, cut or
 * mixed-up payload shows. */
static uint8_t *patterned(size_t len, unsigned k) {
	uint8_t *m = malloc(len ? len : 1);
	for(size_t i = 0; i < len; i++)
		m[i] = (uint8_t)((i * 131 + k * 7) % 251);
	return m;
}

static int is_patterned(const char *s, size_t len, size_t want_len, unsigned k) {
	if(len != want_len)
		return 0;
	for(size_t i = 0; i < len; i++)
		if((uint8_t)s[i] != (uint8_t)((i * 131 + k * 7) % 251))
			return 0;
	return 1;
}

/* The most a TCP connection on this host can hold unread for a stopped
 * reader: the receiver's buffer and the sender's at their largest
 * (tcp_rmem and tcp_wmem's last fields). */
static size_t socket_buffers_max(void) {
	size_t total = 0;
	const char *files[] = { "/proc/sys/net/ipv4/tcp_rmem", "/proc/sys/net/ipv4/tcp_wmem" };
	for(unsigned i = 0; i < G_N_ELEMENTS(files); i++) {
		unsigned long lo = 0, def = 0, max = 0;
		FILE *f = fopen(files[i], "r");
		if(f != NULL && fscanf(f, "%lu %lu %lu", &lo, &def, &max) == 3)
			total += max;
		else
			total += 32u * 1024 * 1024;	/* not readable: assume a large one */
		if(f != NULL)
			fclose(f);
	}
	return total;
}

static int wait_pending_zero(ooblex_producer *p, int ms) {
	for(int i = 0; i < ms / 10 && ooblex_producer_pending(p) > 0; i++)
		g_usleep(10000);
	return ooblex_producer_pending(p) == 0;
}

/* The producer writes each payload straight from the message (writev, no
 * copy into hiredis' buffer): every byte arrives as sent, whatever its size
 * (empty, a few bytes, a raw frame, several MB: partial writes), pipelined
 * with the EXPIRE of a routed queue; a Redis killed in the middle of a run
 * of 4 MB frames costs the batch in hand (each counted once), the producer
 * reconnects, and what follows arrives exact again. */
static void test_producer_writes_payloads_exactly(void) {
	int port = 20000 + (int)((getpid() + 2500) % 10000);
	GPid pid = spawn_redis(port);
	REQUIRE(pid != 0);
	ooblex_redis_config cfg;
	ooblex_redis_config_default(&cfg);
	cfg.port = port;
	char err[256];
	ooblex_producer *p = ooblex_producer_start(&cfg, 16, NULL, err, sizeof(err));
	REQUIRE(p != NULL);
	const ooblex_producer_stats *ps = ooblex_producer_get_stats(p);
	EXPECT(wait_atomic((atomic_int *)&ps->connected, 1, 3000));
	static const size_t sizes[] = { 0, 1, 3, 1000, 640 * 480 * 3 / 2, 6 * 1024 * 1024 + 17, 2, 921600 };
	const unsigned n = G_N_ELEMENTS(sizes);
	/* Its own Redis: the fleet's queue name is free here. */
	const char *routed = OOBLEX_KEY_FRAMES ":exacttest";
	for(unsigned k = 0; k < n; k++)
		EXPECT_EQ(ooblex_producer_push(p, k % 2 ? routed : OOBLEX_KEY_FRAMES, patterned(sizes[k], k), sizes[k]), 0);
	EXPECT(wait_pending_zero(p, 5000));
	EXPECT_EQ(atomic_load(&ps->pushed), n);
	redisContext *rc = redisConnect("127.0.0.1", port);
	REQUIRE(rc != NULL && !rc->err);
	for(int q = 0; q < 2; q++) {
		/* LPUSHed: the oldest is at the tail. */
		redisReply *r = redisCommand(rc, "LRANGE %s 0 -1", q ? routed : OOBLEX_KEY_FRAMES);
		REQUIRE(r != NULL && r->type == REDIS_REPLY_ARRAY);
		EXPECT_EQ(r->elements, n / 2);
		for(size_t e = 0; e < r->elements && e < n / 2; e++) {
			unsigned k = (unsigned)(2 * (n / 2 - 1 - e) + (unsigned)q);
			if(!is_patterned(r->element[e]->str, r->element[e]->len, sizes[k], k)) {
				printf("#   message %u (%zu bytes) arrived as %zu different bytes\n", k, sizes[k], r->element[e]->len);
				EXPECT(0);
			}
		}
		freeReplyObject(r);
	}
	long long ttl = harness_int(rc, "TTL %s", routed);
	EXPECT(ttl > 0 && ttl <= OOBLEX_ROUTED_QUEUE_TTL_S);
	EXPECT_EQ(harness_int(rc, "TTL %s", OOBLEX_KEY_FRAMES), -1);
	redisFree(rc);

	/* A Redis that stops reading for longer than the send timeout (2 s) in
	 * the middle of a payload: the send returns part-way, the producer goes
	 * on from where it stopped once Redis reads again (within its second
	 * wait), and the payload arrives whole, once.
	 * Redis is stopped before the push, and the payload is more than the
	 * kernel can hold for a stopped reader (its receive buffer and our send
	 * buffer at their largest): stopped after the push, Redis had at times
	 * read all 24 MB first (loopback moves that in under 10 ms), and the
	 * 2.6 s stop then fell on the wait for the reply, whose timeout is 2 s. */
	{
		size_t huge = socket_buffers_max() + 8 * 1024 * 1024;
		if(huge < 24 * 1024 * 1024)
			huge = 24 * 1024 * 1024;
		if(huge > OOBLEX_MAX_PAYLOAD)
			huge = OOBLEX_MAX_PAYLOAD;
		printf("# a %zu MB payload to a Redis stopped for 2.6 s\n", huge >> 20);
		uint64_t pushed0 = atomic_load(&ps->pushed), lost0 = atomic_load(&ps->dropped_error);
		kill(pid, SIGSTOP);
		EXPECT_EQ(ooblex_producer_push(p, "ooblex_test_huge", patterned(huge, 77), huge), 0);
		g_usleep(2600 * 1000);
		EXPECT_EQ(ooblex_producer_pending(p), 1);	/* still being written */
		kill(pid, SIGCONT);
		EXPECT(wait_pending_zero(p, 8000));
		EXPECT_EQ(atomic_load(&ps->pushed), pushed0 + 1);
		EXPECT_EQ(atomic_load(&ps->dropped_error), lost0);
		rc = redisConnect("127.0.0.1", port);
		REQUIRE(rc != NULL && !rc->err);
		redisReply *r = redisCommand(rc, "LRANGE %s 0 -1", "ooblex_test_huge");
		REQUIRE(r != NULL && r->type == REDIS_REPLY_ARRAY);
		EXPECT_EQ(r->elements, 1);
		EXPECT(r->elements == 1 && is_patterned(r->element[0]->str, r->element[0]->len, huge, 77));
		freeReplyObject(r);
		redisFree(rc);
	}

	/* Killed while 4 MB frames stream in: the batch in hand is lost (and
	 * counted so), what is queued meanwhile waits for the reconnect. */
	const size_t big = 4 * 1024 * 1024;
	unsigned offered = n + 1;	/* and the 24 MB one */
	for(unsigned k = 0; k < 12; k++, offered++) {
		ooblex_producer_push(p, OOBLEX_KEY_FRAMES, patterned(big, 100 + k), big);
		if(k == 6)
			kill_redis(pid);
		g_usleep(2000);
	}
	EXPECT(wait_atomic((atomic_int *)&ps->connected, 0, 3000));
	ooblex_producer_counts c;
	ooblex_producer_snapshot(p, &c);
	printf("# killed mid-stream: %llu pushed, %llu lost with the connection, %llu refused (queue full)\n",
		(unsigned long long)(c.pushed - n - 1), (unsigned long long)c.dropped_error, (unsigned long long)c.dropped_full);
	EXPECT_EQ(c.pushed + c.dropped_full + c.dropped_error + c.pending, offered);
	EXPECT(c.dropped_error > 0);
	pid = spawn_redis(port);
	REQUIRE(pid != 0);
	EXPECT(wait_atomic((atomic_int *)&ps->connected, 1, 5000));
	uint64_t pushed_before = c.pushed;
	for(unsigned k = 0; k < 3; k++, offered++)
		EXPECT_EQ(ooblex_producer_push(p, OOBLEX_KEY_FRAMES, patterned(big + k, 200 + k), big + k), 0);
	EXPECT(wait_pending_zero(p, 5000));
	ooblex_producer_snapshot(p, &c);
	EXPECT_EQ(c.pushed + c.dropped_full + c.dropped_error + c.pending, offered);
	rc = redisConnect("127.0.0.1", port);
	REQUIRE(rc != NULL && !rc->err);
	redisReply *r = redisCommand(rc, "LRANGE %s 0 -1", OOBLEX_KEY_FRAMES);
	REQUIRE(r != NULL && r->type == REDIS_REPLY_ARRAY);
	/* The new Redis holds exactly what was counted pushed since: the three
	 * sent since, newest first, after what waited for the reconnect, each
	 * whole and once; nothing half-written. */
	EXPECT_EQ(r->elements, c.pushed - pushed_before);
	for(size_t e = 0; e < r->elements && e < 3; e++)
		EXPECT(is_patterned(r->element[e]->str, r->element[e]->len, big + (2 - e), (unsigned)(200 + 2 - e)));
	unsigned seen = 0;
	for(size_t e = 3; e < r->elements; e++) {
		int which = -1;
		for(unsigned k = 0; k < 12 && which < 0; k++)
			if(is_patterned(r->element[e]->str, r->element[e]->len, big, 100 + k))
				which = (int)k;
		EXPECT(which >= 0 && !(seen & (1u << which)));
		if(which >= 0)
			seen |= 1u << which;
	}
	printf("# after the reconnect: %zu waited and were pushed, 3 new\n", r->elements >= 3 ? r->elements - 3 : 0);
	freeReplyObject(r);
	redisFree(rc);
	ooblex_producer_stop(p);
	kill_redis(pid);
}

/* A Redis that hangs (stopped, not dead) holds the producer's batch in the
 * middle of a round trip for as long as the connection's timeout: the frames
 * in that batch are neither queued nor pushed nor dropped yet, and must still
 * be counted (as pending), and the memory bound must still hold. */
static void test_frames_accounted_while_redis_hangs(void) {
	int port = 20000 + (int)((getpid() + 5000) % 10000);
	GPid pid = spawn_redis(port);
	REQUIRE(pid != 0);
	ooblex_redis_config cfg;
	ooblex_redis_config_default(&cfg);
	cfg.port = port;
	char err[256];
	ooblex_producer *p = ooblex_producer_start(&cfg, 8, NULL, err, sizeof(err));
	REQUIRE(p != NULL);
	const ooblex_producer_stats *ps = ooblex_producer_get_stats(p);
	EXPECT(wait_atomic((atomic_int *)&ps->connected, 1, 3000));
	kill(pid, SIGSTOP);
	int offered = 0, exact = 1, bounded = 1;
	for(int i = 0; i < 40; i++) {
		ooblex_producer_push(p, "ooblex_test_list", (uint8_t *)strdup("hung"), 4);
		offered++;
		g_usleep(5000);	/* lets the thread take a batch into its round trip */
		ooblex_producer_counts n;
		ooblex_producer_snapshot(p, &n);
		exact &= n.pushed + n.dropped_full + n.dropped_error + n.pending == (uint64_t)offered;
		bounded &= n.pending <= 8;
	}
	EXPECT(exact);
	EXPECT(bounded);
	kill(pid, SIGCONT);
	ooblex_producer_stop(p);
	kill_redis(pid);
}

int main(void) {
	if(harness_init() < 0) {
		fprintf(stderr, "OOBLEX_TEST_REDIS_PORT or OOBLEX_TEST_WORKER is not set: run tests/integration/run.sh\n");
		return 2;
	}
	av_log_set_level(AV_LOG_ERROR);
	char err[256];
	ooblex_result_limits limits = { 0 };
	gate = ooblex_result_gate_new(&limits);
	producer = ooblex_producer_start(&harness_redis, 1024, NULL, err, sizeof(err));
	reader = ooblex_reader_start(&harness_redis, 20, on_result, on_tick, NULL, NULL, err, sizeof(err));
	if(producer == NULL || reader == NULL) {
		fprintf(stderr, "cannot start Redis threads: %s\n", err);
		return 2;
	}
	TEST_RUN(test_frames_processed_in_order_by_both_workers);
	TEST_RUN(test_h264_stream);
	TEST_RUN(test_rgb24_transport);
	TEST_RUN(test_jpeg_transport);
	TEST_RUN(test_downscaled_to_max_size);
	TEST_RUN(test_resolution_change_mid_stream);
	TEST_RUN(test_reordered_and_duplicated_packets);
	TEST_RUN(test_loss_recovers_at_next_keyframe);
	TEST_RUN(test_frame_skip_samples_every_third);
	TEST_RUN(test_in_flight_limit_defers_sampling);
	TEST_RUN(test_fair_share_cap_and_spacing_defer_sampling);
	TEST_RUN(test_latency_budget_extra_skip);
	TEST_RUN(test_source_sampled_sender_held_to_the_rate_it_was_asked);
	TEST_RUN(test_reader_drains_a_backlog_on_one_connection);
	TEST_RUN(test_reader_serves_every_client_in_turn);
	TEST_RUN(test_workers_survive_garbage);
	TEST_RUN(test_unknown_effect_is_not_fatal);
	TEST_RUN(test_worker_killed_mid_frame_loses_nothing);
	TEST_RUN(test_killed_worker_frame_past_deadline_counted_stale);
	TEST_RUN(test_sigterm_drains);
	TEST_RUN(test_throughput_grows_with_workers);
	TEST_RUN(test_redis_restart_is_survived);
	TEST_RUN(test_producer_writes_payloads_exactly);
	TEST_RUN(test_frames_accounted_while_redis_hangs);
	ooblex_reader_stop(reader);
	ooblex_producer_stop(producer);
	ooblex_result_gate_free(gate);
	return tl_done();
}
