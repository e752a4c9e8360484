/*
 * test_fleet.c - the worker fleet with real Redis and real worker processes:
 * a flood shared by four workers with every frame processed exactly once, a
 * worker killed under load with every frame accounted for, routing of
 * effects only some workers run (OpenCV, a module) to their own queues,
 * a routed worker's crash sending its frame back to the right queue, the
 * metrics file a worker writes, error results (over the per-frame time
 * budget, unknown effect, refused graph) reaching the client's list, the
 * reap script reading a frame's deadline inside Redis, and the one SCAN loop
 * (ooblex_redis_scan) with its bounds.
 *
 * Each test uses a Redis database of its own with workers it starts itself;
 * tests/integration/run.sh provides the Redis (OOBLEX_TEST_REDIS_PORT), the
 * worker binary (OOBLEX_TEST_WORKER), the example module
 * (OOBLEX_TEST_THRESHOLD) and the test module that sleeps (OOBLEX_TEST_STALL).
 */
#include "testlib.h"

#include <glib.h>
#include <math.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "egress.h"
#include "fake_page.h"
#include "harness.h"
#include "ooblex_auth.h"
#include "ooblex_jpeg.h"
#include "ooblex_scripts.h"
#include "producer.h"
#include "results.h"
#include "result_gate.h"

/* Every result in key, parsed: seq -> count, and worker id per result. */
typedef struct tally {
	int n;	/* results */
	int *per_seq;	/* [max_seq + 1] */
	GHashTable *per_worker;	/* id -> count */
	int malformed;
} tally;

static void tally_free(tally *t) {
	g_free(t->per_seq);
	if(t->per_worker)
		g_hash_table_unref(t->per_worker);
	memset(t, 0, sizeof(*t));
}

static void tally_results(redisContext *c, const char *key, int max_seq, tally *t) {
	memset(t, 0, sizeof(*t));
	t->per_seq = g_new0(int, max_seq + 1);
	t->per_worker = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	redisReply *r = redisCommand(c, "LRANGE %s 0 -1", key);
	for(size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		ooblex_frame_header h;
		const uint8_t *payload;
		if(ooblex_wire_parse((const uint8_t *)r->element[i]->str, r->element[i]->len, &h, &payload) != OOBLEX_WIRE_OK ||
				h.kind != OOBLEX_KIND_RESULT || h.seq == 0 || (int)h.seq > max_seq) {
			t->malformed++;
			continue;
		}
		t->n++;
		t->per_seq[h.seq]++;
		gpointer old = g_hash_table_lookup(t->per_worker, h.worker);
		g_hash_table_replace(t->per_worker, g_strdup(h.worker), GINT_TO_POINTER(GPOINTER_TO_INT(old) + 1));
	}
	if(r)
		freeReplyObject(r);
}

static void test_flood_processed_exactly_once(void) {
	/* 3000 frames at once, four workers taking 1, 1, 4 and 8 at a time:
	 * each frame comes back once, none twice, and all four share the work. */
	const int n = 3000;
	redisContext *rc = harness_connect(2, 1);
	REQUIRE(rc != NULL);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	const int batches[4] = { 1, 1, 4, 8 };
	GPid w[4];
	for(int i = 0; i < 4; i++) {
		char wid[32];
		g_snprintf(wid, sizeof(wid), "flood-%d", i + 1);
		/* 1 ms a frame: a flood of free frames was drained in 0.1 s by
		 * two workers taking up to 32 ahead each (auto prefetch sizes the
		 * depth from the round trip against a frame's work, which was
		 * microseconds), and a worker between two BLMOVEs just then took
		 * none. With a frame's work well above a round trip to a Redis
		 * beside it, nobody takes ahead and the flood lasts long enough
		 * for all four to take part (taking ahead: test_remote.c). */
		w[i] = harness_spawn_worker(2, wid, 1, batches[i], NULL, NULL);
	}
	/* All four waiting in BLMOVE before the flood: a worker that starts
	 * late would find the queue already drained by the others. */
	int waiting = 0;
	for(int i = 0; i < 2000 && waiting < 4; i++) {
		redisReply *r = redisCommand(rc, "CLIENT LIST");
		waiting = 0;
		for(const char *p = r && r->type == REDIS_REPLY_STRING ? r->str : ""; (p = strstr(p, "cmd=blmove")) != NULL; p++)
			waiting++;
		freeReplyObject(r);
		if(waiting < 4)
			g_usleep(5000);
	}
	REQUIRE(waiting >= 4);
	gint64 t0 = g_get_monotonic_time();
	harness_flood(rc, OOBLEX_KEY_FRAMES, id, "none", n, NULL, 0);
	long long got = harness_wait_len(rc, key, n, 60000);
	double secs = (g_get_monotonic_time() - t0) / 1e6;
	g_usleep(300000);	/* anything processed twice would show up by now */
	for(int i = 0; i < 4; i++)
		if(w[i])
			harness_stop(w[i], SIGTERM, NULL);
	tally t;
	tally_results(rc, key, n, &t);
	int missing = 0, twice = 0;
	for(int s = 1; s <= n; s++) {
		missing += t.per_seq[s] == 0;
		twice += t.per_seq[s] > 1;
	}
	printf("# flood: %lld of %d results in %.1f s (%.0f frames/s); by worker:", got, n, secs, got / secs);
	for(int i = 0; i < 4; i++) {
		char wid[32];
		g_snprintf(wid, sizeof(wid), "flood-%d", i + 1);
		int c = GPOINTER_TO_INT(g_hash_table_lookup(t.per_worker, wid));
		printf(" %s %d", wid, c);
		EXPECT(c > 0);
	}
	printf("\n");
	EXPECT_EQ(t.n, n);
	EXPECT_EQ(missing, 0);
	EXPECT_EQ(twice, 0);
	EXPECT_EQ(t.malformed, 0);
	EXPECT_EQ(harness_int(rc, "LLEN %s", OOBLEX_KEY_FRAMES), 0);
	tally_free(&t);
	redisFree(rc);
}

static void test_kill_one_of_three_under_load(void) {
	/* Three workers at ~100 frames/s each through 900 frames; one is killed
	 * with SIGKILL a third of the way. Every frame is delivered exactly once
	 * or counted stale, and results keep coming after the kill. */
	const int n = 900;
	redisContext *rc = harness_connect(3, 1);
	REQUIRE(rc != NULL);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	harness_flood(rc, OOBLEX_KEY_FRAMES, id, "invert", n, NULL, ooblex_now_us() + 60 * 1000000ULL);
	GPid w[3];
	for(int i = 0; i < 3; i++) {
		char wid[32];
		g_snprintf(wid, sizeof(wid), "load-%d", i + 1);
		w[i] = harness_spawn_worker(3, wid, 10, 1, NULL, NULL);
		REQUIRE(w[i] != 0);
	}
	harness_wait_len(rc, key, n / 3, 30000);
	harness_stop(w[0], SIGKILL, NULL);
	w[0] = 0;
	long long at_kill = harness_int(rc, "LLEN %s", key);
	g_usleep(500000);
	long long after = harness_int(rc, "LLEN %s", key);
	long long got = harness_wait_len(rc, key, n, 30000);
	long long stale = harness_int(rc, "GET %s", OOBLEX_KEY_DROPPED_STALE);
	for(int i = 1; i < 3; i++)
		harness_stop(w[i], SIGTERM, NULL);
	tally t;
	tally_results(rc, key, n, &t);
	int twice = 0;
	for(int s = 1; s <= n; s++)
		twice += t.per_seq[s] > 1;
	printf("# kill -9 under load: %lld results at the kill, %lld half a second later, %lld in the end + %lld stale "
		"of %d\n", at_kill, after, got, stale, n);
	EXPECT(after > at_kill);	/* output continues */
	EXPECT_EQ(t.n + stale, n);	/* every frame accounted for */
	EXPECT_EQ(twice, 0);
	EXPECT_EQ(harness_int(rc, "LLEN %s", OOBLEX_KEY_PROCESSING_PREFIX "load-1"), 0);
	tally_free(&t);
	redisFree(rc);
}

static void on_nothing(const char *key, const uint8_t *msg, size_t len, void *user) {
	(void)key; (void)msg; (void)len; (void)user;
}
static void no_tick(void *user) { (void)user; }

/* Luma of a decoded JPEG result at (x, y). */
static int result_luma(const uint8_t *msg, size_t len, int x, int y) {
	ooblex_frame_header h;
	const uint8_t *payload;
	if(ooblex_wire_parse(msg, len, &h, &payload) != OOBLEX_WIRE_OK || h.pixfmt != OOBLEX_PIXFMT_JPEG)
		return -1;
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
	uint8_t gray[HARNESS_W * HARNESS_H];
	char err[256];
	int rc = j ? ooblex_jpeg_decode_gray(j, payload, h.payload_len, HARNESS_W, HARNESS_H, gray, err, sizeof(err)) : -1;
	ooblex_jpeg_free(j);
	return rc == 0 ? gray[y * HARNESS_W + x] : -1;
}

static void test_fleet_shares_queues_and_plugins(void) {
	/* What the fair scheduler learns from the fleet's look (fleet.h): the
	 * live workers per queue, and what other plugins announce (their own
	 * ooblex:plugin:{id}); its own announcement goes out and is not counted
	 * as another's. */
	redisContext *rc = harness_connect(7, 1);
	REQUIRE(rc != NULL);
	const char *module = getenv("OOBLEX_TEST_THRESHOLD");
	REQUIRE(module != NULL);
	const char *core_args[] = { "--effects", "core", NULL };
	const char *thr_args[] = { "--module", module, "--effects", "threshold", NULL };
	GPid w[3] = {
		harness_spawn_worker(7, "share-core-1", 0, 1, core_args, NULL),
		harness_spawn_worker(7, "share-core-2", 0, 1, core_args, NULL),
		harness_spawn_worker(7, "share-thr-1", 0, 1, thr_args, NULL),
	};
	REQUIRE(w[0] && w[1] && w[2]);
	redisReply *r = redisCommand(rc, "SET " OOBLEX_KEY_PLUGIN_PREFIX "other-janus %s PX 60000",
		"{\"queues\":{\"frames_to_process\":{\"clients\":3,\"demand\":1.5},\"frames_to_process:x\":{\"clients\":-4,\"demand\":1}}}");
	if(r)
		freeReplyObject(r);
	ooblex_redis_config cfg = harness_redis;
	cfg.db = 7;
	char err[256];
	ooblex_reader *reader = ooblex_reader_start(&cfg, 20, on_nothing, no_tick, NULL, NULL, err, sizeof(err));
	REQUIRE(reader != NULL);
	ooblex_fleet *fleet = ooblex_reader_get_fleet(reader);
	ooblex_queue_demand mine = { .queue = "frames_to_process", .clients = 2, .demand = 0.25 };
	ooblex_fleet_announce(fleet, &mine, 1);
	unsigned core = 0, thr = 0, rc_clients = 0, thr_clients = 0;
	double rc_demand = 0, thr_demand = 0;
	for(int i = 0; i < 100 && (core < 2 || thr < 1 || rc_clients == 0); i++) {
		g_usleep(50000);
		core = ooblex_fleet_queue_share(fleet, "frames_to_process", &rc_clients, &rc_demand);
		thr = ooblex_fleet_queue_share(fleet, "frames_to_process:threshold", &thr_clients, &thr_demand);
	}
	EXPECT_EQ(core, 2);
	EXPECT_EQ(thr, 1);
	EXPECT_EQ(rc_clients, 3);	/* the other plugin's, not ours */
	EXPECT(fabs(rc_demand - 1.5) < 1e-9);
	EXPECT_EQ(thr_clients, 0);
	unsigned x_clients = 9;
	double x_demand = 9;
	EXPECT_EQ(ooblex_fleet_queue_share(fleet, "frames_to_process:x", &x_clients, &x_demand), 0);
	EXPECT_EQ(x_clients, 0);	/* a negative count is refused */
	/* Ours is in Redis for the other plugins, with an expiry. */
	int found = 0;
	redisReply *keys = redisCommand(rc, "KEYS " OOBLEX_KEY_PLUGIN_PREFIX "*");
	for(size_t i = 0; keys && keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++) {
		if(strstr(keys->element[i]->str, "other-janus"))
			continue;
		redisReply *v = redisCommand(rc, "GET %s", keys->element[i]->str);
		redisReply *ttl = redisCommand(rc, "PTTL %s", keys->element[i]->str);
		found = v && v->type == REDIS_REPLY_STRING && strstr(v->str, "\"frames_to_process\":{\"clients\":2") &&
			ttl && ttl->type == REDIS_REPLY_INTEGER && ttl->integer > 0 && ttl->integer <= OOBLEX_PLUGIN_TTL_MS;
		if(v)
			freeReplyObject(v);
		if(ttl)
			freeReplyObject(ttl);
	}
	if(keys)
		freeReplyObject(keys);
	EXPECT(found);
	ooblex_reader_stop(reader);
	for(int i = 0; i < 3; i++)
		harness_stop(w[i], SIGTERM, NULL);
	redisFree(rc);
}

static void test_routing_by_effect(void) {
	/* A core worker, an OpenCV faces worker and a worker with the example
	 * module: each frame reaches the one worker that runs its effect. */
	redisContext *rc = harness_connect(4, 1);
	REQUIRE(rc != NULL);
	const char *module = getenv("OOBLEX_TEST_THRESHOLD");
	REQUIRE(module != NULL);
	const char *core_args[] = { "--effects", "core", NULL };
	const char *faces_args[] = { "--effects", "faces", NULL };
	const char *thr_args[] = { "--module", module, "--effects", "threshold", NULL };
	GPid w[3] = {
		harness_spawn_worker(4, "core-1", 0, 1, core_args, NULL),
		harness_spawn_worker(4, "faces-1", 0, 1, faces_args, NULL),
		harness_spawn_worker(4, "thr-1", 0, 1, thr_args, NULL),
	};
	REQUIRE(w[0] && w[1] && w[2]);
	/* The plugin's reader learns the routes from the registry. */
	ooblex_redis_config cfg = harness_redis;
	cfg.db = 4;
	char err[256];
	ooblex_reader *reader = ooblex_reader_start(&cfg, 20, on_nothing, no_tick, NULL, NULL, err, sizeof(err));
	REQUIRE(reader != NULL);
	ooblex_routed_queue routes[8];
	size_t n_routes = 0;
	for(int i = 0; i < 100 && n_routes < 2; i++) {
		g_usleep(50000);
		n_routes = ooblex_reader_routed(reader, routes, 8);
	}
	EXPECT_EQ(n_routes, 2);
	char q_invert[OOBLEX_KEY_MAX], q_thr[OOBLEX_KEY_MAX], q_faces[OOBLEX_KEY_MAX];
	ooblex_reader_queue_for(reader, "invert", q_invert, sizeof(q_invert));
	ooblex_reader_queue_for(reader, "blur|threshold:level=100", q_thr, sizeof(q_thr));
	ooblex_reader_queue_for(reader, "faces:min_size=20", q_faces, sizeof(q_faces));
	EXPECT(!strcmp(q_invert, "frames_to_process"));
	EXPECT(!strcmp(q_thr, "frames_to_process:threshold"));
	EXPECT(!strcmp(q_faces, "frames_to_process:faces"));
	/* The faces worker says what it serves. */
	redisReply *reg = redisCommand(rc, "GET %s", OOBLEX_KEY_WORKER_PREFIX "faces-1");
	EXPECT(reg && reg->type == REDIS_REPLY_STRING && strstr(reg->str, "\"queues\":[\"frames_to_process:faces\"]") &&
		strstr(reg->str, "\"routes\":[\"faces\"]"));
	if(reg)
		freeReplyObject(reg);

	/* Left half dark (Y 60), right half bright (Y 200). */
	uint8_t fill[HARNESS_W * HARNESS_H * 3 / 2];
	for(int y = 0; y < HARNESS_H; y++)
		for(int x = 0; x < HARNESS_W; x++)
			fill[y * HARNESS_W + x] = x < HARNESS_W / 2 ? 60 : 200;
	memset(fill + HARNESS_W * HARNESS_H, 128, HARNESS_W * HARNESS_H / 2);
	uint8_t id_inv[OOBLEX_CLIENT_ID_LEN], id_thr[OOBLEX_CLIENT_ID_LEN], id_faces[OOBLEX_CLIENT_ID_LEN];
	char key_inv[OOBLEX_KEY_MAX], key_thr[OOBLEX_KEY_MAX], key_faces[OOBLEX_KEY_MAX];
	harness_new_client(id_inv, key_inv);
	harness_new_client(id_thr, key_thr);
	harness_new_client(id_faces, key_faces);
	harness_flood(rc, q_invert, id_inv, "invert", 20, fill, 0);
	harness_flood(rc, q_thr, id_thr, "threshold:level=100", 20, fill, 0);
	harness_flood(rc, q_faces, id_faces, "faces:min_size=20", 10, fill, 0);
	EXPECT_EQ(harness_wait_len(rc, key_inv, 20, 10000), 20);
	EXPECT_EQ(harness_wait_len(rc, key_thr, 20, 10000), 20);
	EXPECT_EQ(harness_wait_len(rc, key_faces, 10, 10000), 10);
	tally t;
	tally_results(rc, key_inv, 20, &t);
	EXPECT_EQ(GPOINTER_TO_INT(g_hash_table_lookup(t.per_worker, "core-1")), 20);
	tally_free(&t);
	tally_results(rc, key_thr, 20, &t);
	EXPECT_EQ(GPOINTER_TO_INT(g_hash_table_lookup(t.per_worker, "thr-1")), 20);
	tally_free(&t);
	tally_results(rc, key_faces, 10, &t);
	EXPECT_EQ(GPOINTER_TO_INT(g_hash_table_lookup(t.per_worker, "faces-1")), 10);
	tally_free(&t);
	/* What the face detector found travels with the frame (nothing, here). */
	redisReply *fr = redisCommand(rc, "LINDEX %s 0", key_faces);
	REQUIRE(fr && fr->type == REDIS_REPLY_STRING);
	ooblex_frame_header fh;
	const uint8_t *fp;
	EXPECT_EQ(ooblex_wire_parse((const uint8_t *)fr->str, fr->len, &fh, &fp), OOBLEX_WIRE_OK);
	EXPECT(!strcmp(fh.meta, "{\"faces\":[]}"));
	freeReplyObject(fr);
	/* The module's pixels: black left, white right. */
	redisReply *r = redisCommand(rc, "LINDEX %s 0", key_thr);
	REQUIRE(r && r->type == REDIS_REPLY_STRING);
	int left = result_luma((const uint8_t *)r->str, r->len, 4, 12), right = result_luma((const uint8_t *)r->str, r->len, 28, 12);
	freeReplyObject(r);
	printf("# routed: invert -> core-1, threshold -> thr-1 (luma %d | %d), faces -> faces-1\n", left, right);
	EXPECT(left >= 0 && left < 30);
	EXPECT(right > 220);
	/* A routed queue the plugin pushes to expires if its workers leave. */
	ooblex_producer *producer = ooblex_producer_start(&cfg, 16, NULL, err, sizeof(err));
	REQUIRE(producer != NULL);
	for(int i = 0; i < 100 && !atomic_load(&ooblex_producer_get_stats(producer)->connected); i++)
		g_usleep(20000);
	uint8_t *frame = calloc(1, OOBLEX_WIRE_FIXED_LEN);
	ooblex_producer_push(producer, OOBLEX_KEY_FRAMES ":nobody", frame, OOBLEX_WIRE_FIXED_LEN);
	ooblex_producer_stop(producer);
	long long ttl = harness_int(rc, "TTL %s", OOBLEX_KEY_FRAMES ":nobody");
	EXPECT(ttl > 0 && ttl <= OOBLEX_ROUTED_QUEUE_TTL_S);
	ooblex_reader_stop(reader);
	for(int i = 0; i < 3; i++)
		harness_stop(w[i], SIGTERM, NULL);
	redisFree(rc);
}

/* The verdict start and configure give (fleet_effects.h), from what real
 * workers announce in the registry and the reader reads: a core worker, an
 * onnx worker with one model, a module worker. A model added to the folder
 * is seen at the next heartbeat; a killed worker's effects go when its entry
 * expires; with every worker stopped there are none. */
static ooblex_fleet_verdict verdict_now(ooblex_reader *reader, const char *effect, char *why, size_t whylen) {
	uint64_t gen = 0;
	ooblex_fleet_caps *caps = ooblex_reader_fleet_caps(reader, &gen);
	ooblex_fleet_verdict v = ooblex_fleet_caps_check(caps, effect, why, whylen);
	ooblex_fleet_caps_unref(caps);
	return v;
}

/* Polls every 50 ms for up to ms until effect gets verdict want. */
static int wait_verdict(ooblex_reader *reader, const char *effect, ooblex_fleet_verdict want, int ms, char *why,
		size_t whylen) {
	for(int waited = 0;; waited += 50) {
		if(verdict_now(reader, effect, why, whylen) == want)
			return 1;
		if(waited >= ms)
			return 0;
		g_usleep(50000);
	}
}

static void test_live_fleet_decides_which_effects_run(void) {
	redisContext *rc = harness_connect(7, 1);
	REQUIRE(rc != NULL);
	const char *module = getenv("OOBLEX_TEST_THRESHOLD");
	REQUIRE(module != NULL);
	gchar *models = g_dir_make_tmp("ooblex-models-XXXXXX", NULL);
	REQUIRE(models != NULL);
	gchar *present = g_build_filename(models, "present.onnx", NULL), *late = g_build_filename(models, "late.onnx", NULL);
	REQUIRE(g_file_set_contents(present, "not a real model: only its name is announced", -1, NULL));
	const char *core_args[] = { "--effects", "core", NULL };
	const char *onnx_args[] = { "--effects", "onnx", "--models-dir", models, NULL };
	const char *thr_args[] = { "--module", module, "--effects", "threshold", NULL };
	ooblex_redis_config cfg = harness_redis;
	cfg.db = 7;
	char err[256], why[512];
	ooblex_reader *reader = ooblex_reader_start(&cfg, 20, on_nothing, no_tick, NULL, NULL, err, sizeof(err));
	REQUIRE(reader != NULL);
	/* Nobody yet. */
	EXPECT(wait_verdict(reader, "invert", OOBLEX_FLEET_NO_WORKERS, 2000, why, sizeof(why)));
	GPid core = harness_spawn_worker(7, "fx-core", 0, 1, core_args, NULL);
	GPid onnx = harness_spawn_worker(7, "fx-onnx", 0, 1, onnx_args, NULL);
	GPid thr = harness_spawn_worker(7, "fx-thr", 0, 1, thr_args, NULL);
	REQUIRE(core && onnx && thr);
	EXPECT(wait_verdict(reader, "onnx:present.onnx", OOBLEX_FLEET_RUNNABLE, 5000, why, sizeof(why)));
	EXPECT(wait_verdict(reader, "blur|threshold:level=100", OOBLEX_FLEET_RUNNABLE, 5000, why, sizeof(why)));
	EXPECT_EQ(verdict_now(reader, "invert|ffmpeg:hflip", why, sizeof(why)), OOBLEX_FLEET_RUNNABLE);
	EXPECT_EQ(verdict_now(reader, "teleport", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	printf("# teleport: %s\n", why);
	EXPECT(strstr(why, "invert") && strstr(why, "threshold") && strstr(why, "onnx"));
	EXPECT_EQ(verdict_now(reader, "onnx", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	printf("# onnx: %s\n", why);
	EXPECT(strstr(why, "present.onnx") != NULL);
	EXPECT_EQ(verdict_now(reader, "onnx:late.onnx", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	printf("# onnx:late.onnx: %s\n", why);
	/* threshold's worker serves only its route: a chain starting there
	 * with an onnx item has no one worker for all of it. */
	EXPECT_EQ(verdict_now(reader, "threshold|onnx:present.onnx", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	/* A model copied in is announced at the next heartbeat. */
	REQUIRE(g_file_set_contents(late, "x", -1, NULL));
	EXPECT(wait_verdict(reader, "onnx:late.onnx", OOBLEX_FLEET_RUNNABLE, 3000, why, sizeof(why)));
	/* Killed: its entry expires (OOBLEX_WORKER_TTL_S), its effect goes. */
	harness_stop(onnx, SIGKILL, NULL);
	EXPECT(wait_verdict(reader, "onnx:present.onnx", OOBLEX_FLEET_NOT_RUNNABLE, (OOBLEX_WORKER_TTL_S + 2) * 1000,
		why, sizeof(why)));
	EXPECT_EQ(verdict_now(reader, "invert", why, sizeof(why)), OOBLEX_FLEET_RUNNABLE);
	/* Stopped: a worker leaves the registry at once. */
	harness_stop(core, SIGTERM, NULL);
	harness_stop(thr, SIGTERM, NULL);
	EXPECT(wait_verdict(reader, "invert", OOBLEX_FLEET_NO_WORKERS, 2500, why, sizeof(why)));
	ooblex_reader_stop(reader);
	g_unlink(present);
	g_unlink(late);
	g_rmdir(models);
	g_free(present);
	g_free(late);
	g_free(models);
	redisFree(rc);
}

static void test_routed_worker_crash_returns_frame_to_its_queue(void) {
	/* A module worker holding a slow frame is killed: the frame goes back to
	 * frames_to_process:threshold (where only threshold workers look), not to
	 * the default queue, and a second threshold worker finishes it. */
	redisContext *rc = harness_connect(5, 1);
	REQUIRE(rc != NULL);
	const char *module = getenv("OOBLEX_TEST_THRESHOLD");
	REQUIRE(module != NULL);
	const char *thr_args[] = { "--module", module, "--effects", "threshold", NULL };
	/* A core worker is there too, and must not get it. */
	const char *core_args[] = { "--effects", "core", NULL };
	GPid core = harness_spawn_worker(5, "core-2", 0, 1, core_args, NULL);
	GPid victim = harness_spawn_worker(5, "thr-victim", 3000, 1, thr_args, NULL);
	REQUIRE(core && victim);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	g_usleep(300000);
	harness_flood(rc, OOBLEX_KEY_FRAMES ":threshold", id, "threshold", 1, NULL, 0);
	const char *held = OOBLEX_KEY_PROCESSING_PREFIX "thr-victim#threshold";
	REQUIRE(harness_wait_len(rc, held, 1, 3000) == 1);
	harness_stop(victim, SIGKILL, NULL);
	gint64 t0 = g_get_monotonic_time();
	int back = harness_wait_len(rc, OOBLEX_KEY_FRAMES ":threshold", 1, 1500) == 1;
	double ms = (g_get_monotonic_time() - t0) / 1000.0;
	printf("# routed crash: frame back in frames_to_process:threshold %.0f ms after SIGKILL\n", ms);
	EXPECT(back);
	EXPECT(ms < 1000);
	EXPECT_EQ(harness_int(rc, "LLEN %s", held), 0);
	EXPECT_EQ(harness_int(rc, "LLEN %s", OOBLEX_KEY_FRAMES), 0);
	GPid rescuer = harness_spawn_worker(5, "thr-rescuer", 0, 1, thr_args, NULL);
	EXPECT_EQ(harness_wait_len(rc, key, 1, 10000), 1);
	tally t;
	tally_results(rc, key, 1, &t);
	EXPECT_EQ(GPOINTER_TO_INT(g_hash_table_lookup(t.per_worker, "thr-rescuer")), 1);
	tally_free(&t);
	harness_stop(rescuer, SIGTERM, NULL);
	harness_stop(core, SIGTERM, NULL);
	redisFree(rc);
}

static void test_result_of_a_reaped_frame_is_dropped(void) {
	/* A worker stalls long enough for a reaper to take its frame back (done
	 * here by hand, as the reaper's script would): its late completion must
	 * not deliver a result, or the frame would arrive twice. The frame goes
	 * round again and arrives exactly once. */
	redisContext *rc = harness_connect(11, 1);
	REQUIRE(rc != NULL);
	gchar *log = g_strdup_printf("%s/ooblex-stall-%d.log", g_get_tmp_dir(), (int)getpid());
	GPid w = harness_spawn_worker(11, "stall", 800, 1, NULL, log);
	REQUIRE(w != 0);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	harness_flood(rc, OOBLEX_KEY_FRAMES, id, "none", 1, NULL, 0);
	REQUIRE(harness_wait_len(rc, OOBLEX_KEY_PROCESSING_PREFIX "stall", 1, 3000) == 1);
	freeReplyObject(redisCommand(rc, "LMOVE %s %s RIGHT RIGHT", OOBLEX_KEY_PROCESSING_PREFIX "stall", OOBLEX_KEY_FRAMES));
	EXPECT_EQ(harness_wait_len(rc, key, 1, 5000), 1);
	g_usleep(1200000);	/* a second result would be here by now */
	EXPECT_EQ(harness_int(rc, "LLEN %s", key), 1);
	harness_stop(w, SIGTERM, NULL);
	gchar *text = NULL;
	g_file_get_contents(log, &text, NULL, NULL);
	EXPECT(text && strstr(text, "taken back by a reaper"));
	g_free(text);
	g_unlink(log);
	g_free(log);
	redisFree(rc);
}

/* The value of the first line of text that starts with prefix, or -1. */
static double metric(const char *text, const char *prefix) {
	const char *p = text;
	size_t len = strlen(prefix);
	while(p && *p) {
		if(!strncmp(p, prefix, len) && p[len] == ' ')
			return g_ascii_strtod(p + len + 1, NULL);
		p = strchr(p, '\n');
		if(p)
			p++;
	}
	return -1;
}

/* Whoever can write to Redis can write a registry entry. One that announces
 * core effects ("invert", "ffmpeg") as its routes must not divert them: a
 * real core worker still gets invert frames from frames_to_process. An entry
 * too big to be a worker's is not read at all. */
static void test_registry_cannot_route_core_effects(void) {
	redisContext *rc = harness_connect(8, 1);
	REQUIRE(rc != NULL);
	redisReply *x = redisCommand(rc, "SET %s %s EX 60", OOBLEX_KEY_WORKER_PREFIX "forged",
		"{\"id\":\"forged\",\"routes\":[\"invert\",\"ffmpeg\",\"core\",\"sepia\",\"forgedfx\"]}");
	if(x)
		freeReplyObject(x);
	/* 1 MiB of entry announcing a route: skipped unread (the cap is 32 KiB). */
	GString *big = g_string_new("{\"id\":\"big\",\"routes\":[\"bigfx\"],\"pad\":\"");
	while(big->len < 1024 * 1024)
		g_string_append(big, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	g_string_append(big, "\"}");
	x = redisCommand(rc, "SET %s %b EX 60", OOBLEX_KEY_WORKER_PREFIX "big", big->str, big->len);
	if(x)
		freeReplyObject(x);
	g_string_free(big, TRUE);
	const char *core_args[] = { "--effects", "core", NULL };
	GPid w = harness_spawn_worker(8, "core-8", 0, 1, core_args, NULL);
	REQUIRE(w != 0);
	ooblex_redis_config cfg = harness_redis;
	cfg.db = 8;
	char err[256];
	ooblex_reader *reader = ooblex_reader_start(&cfg, 20, on_nothing, no_tick, NULL, NULL, err, sizeof(err));
	REQUIRE(reader != NULL);
	const ooblex_reader_stats *rs = ooblex_reader_get_stats(reader);
	ooblex_routed_queue routes[8];
	size_t n_routes = 0;
	for(int i = 0; i < 100 && (n_routes < 1 || atomic_load(&rs->registry_oversized) == 0); i++) {
		g_usleep(50000);
		n_routes = ooblex_reader_routed(reader, routes, 8);
	}
	/* Only the harmless name is taken. */
	EXPECT_EQ(n_routes, 1);
	EXPECT(n_routes >= 1 && !strcmp(routes[0].name, "forgedfx"));
	EXPECT(atomic_load(&rs->routes_refused) >= 4);
	EXPECT(atomic_load(&rs->registry_oversized) >= 1);
	char q_invert[OOBLEX_KEY_MAX], q_sepia[OOBLEX_KEY_MAX];
	ooblex_reader_queue_for(reader, "invert", q_invert, sizeof(q_invert));
	ooblex_reader_queue_for(reader, "blur|sepia", q_sepia, sizeof(q_sepia));
	EXPECT(!strcmp(q_invert, OOBLEX_KEY_FRAMES));
	EXPECT(!strcmp(q_sepia, OOBLEX_KEY_FRAMES));
	/* And the frames go where the core worker takes them. */
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	harness_flood(rc, q_invert, id, "invert", 10, NULL, 0);
	EXPECT_EQ(harness_wait_len(rc, key, 10, 10000), 10);
	tally t;
	tally_results(rc, key, 10, &t);
	EXPECT_EQ(GPOINTER_TO_INT(g_hash_table_lookup(t.per_worker, "core-8")), 10);
	tally_free(&t);
	ooblex_reader_stop(reader);
	harness_stop(w, SIGTERM, NULL);
	redisFree(rc);
}

static long long fleet_stale(ooblex_reader *reader) {
	long long qlen, stale;
	GPtrArray *w = ooblex_reader_fleet(reader, &qlen, &stale);
	g_ptr_array_unref(w);
	return stale;
}

static long long wait_stale(ooblex_reader *reader, long long want) {
	long long v = -1;
	for(int i = 0; i < 60 && (v = fleet_stale(reader)) != want; i++)
		g_usleep(50000);
	return v;
}

/* ooblex:dropped:stale lives in Redis; a Redis without persistence that
 * restarts (here: the key reset, then gone) starts it again from 0. The
 * plugin's figure must keep growing by what is added, never go back. */
static void test_fleet_stale_count_never_decreases(void) {
	redisContext *rc = harness_connect(9, 1);
	REQUIRE(rc != NULL);
	ooblex_redis_config cfg = harness_redis;
	cfg.db = 9;
	char err[256];
	ooblex_reader *reader = ooblex_reader_start(&cfg, 20, on_nothing, no_tick, NULL, NULL, err, sizeof(err));
	REQUIRE(reader != NULL);
	redisReply *x = redisCommand(rc, "INCRBY %s 50", OOBLEX_KEY_DROPPED_STALE);
	if(x)
		freeReplyObject(x);
	EXPECT_EQ(wait_stale(reader, 50), 50);
	/* Gone with a restart, then counted again from 0. */
	x = redisCommand(rc, "DEL %s", OOBLEX_KEY_DROPPED_STALE);
	if(x)
		freeReplyObject(x);
	g_usleep(1500 * 1000);
	EXPECT_EQ(fleet_stale(reader), 50);
	x = redisCommand(rc, "INCRBY %s 3", OOBLEX_KEY_DROPPED_STALE);
	if(x)
		freeReplyObject(x);
	EXPECT_EQ(wait_stale(reader, 53), 53);
	x = redisCommand(rc, "INCRBY %s 2", OOBLEX_KEY_DROPPED_STALE);
	if(x)
		freeReplyObject(x);
	EXPECT_EQ(wait_stale(reader, 55), 55);
	/* Garbage in the key is not a count. */
	x = redisCommand(rc, "SET %s %s", OOBLEX_KEY_DROPPED_STALE, "-1000");
	if(x)
		freeReplyObject(x);
	g_usleep(1500 * 1000);
	EXPECT_EQ(fleet_stale(reader), 55);
	ooblex_reader_stop(reader);
	redisFree(rc);
}

/* ---- the return path's checks (result_gate.h), as the plugin runs them:
 * its egress on the reader thread (the gate, then the in-flight check
 * against the reorder buffer), with real workers producing the genuine
 * results, and a page that acks what it gets. */

typedef struct gated_client {
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	ooblex_result_gate *gate;
	ooblex_egress *egress;
	fake_page page;	/* the reader thread's */
	GMutex lock;	/* guards the three below */
	int verdicts[OOBLEX_RESULT_VERDICTS];
	GArray *delivered;	/* of uint32_t seq */
	GHashTable *workers;	/* ids of delivered results */
} gated_client;

static void gated_delivered_frame(const ooblex_frame_header *h, const uint8_t *payload, uint64_t returned_us,
		uint64_t sent_us, void *user) {
	gated_client *c = user;
	(void)payload;
	(void)returned_us;
	(void)sent_us;
	g_mutex_lock(&c->lock);
	g_array_append_val(c->delivered, h->seq);
	g_hash_table_add(c->workers, g_strdup(h->worker));
	g_mutex_unlock(&c->lock);
}

static int gated_chunk(const uint8_t *msg, size_t len, void *user) {
	gated_client *c = user;
	return fake_page_receive(&c->page, msg, len);
}

static const ooblex_egress_host gated_host = { .send_data = gated_chunk, .delivered = gated_delivered_frame };

static void gated_on_result(const char *key, const uint8_t *msg, size_t len, void *user) {
	gated_client *c = user;
	if(strcmp(key, c->key) != 0)
		return;
	ooblex_result_verdict v = ooblex_egress_on_result(c->egress, msg, len);
	fake_page_send_acks(&c->page, c->egress);
	g_mutex_lock(&c->lock);
	c->verdicts[v]++;
	g_mutex_unlock(&c->lock);
}

static void gated_init(gated_client *c, const ooblex_result_limits *limits) {
	memset(c, 0, sizeof(*c));
	harness_new_client(c->id, c->key);
	c->gate = ooblex_result_gate_new(limits);
	ooblex_egress_config ecfg = { .gate = c->gate, .reorder_wait_ms = 5000 };
	c->egress = ooblex_egress_new(&ecfg, &gated_host, c);
	ooblex_egress_restart(c->egress, c->id);
	char err[256];
	ooblex_egress_set_output(c->egress, OOBLEX_OUTPUT_DATACHANNEL, OOBLEX_CODEC_NONE, 0, err, sizeof(err));
	fake_page_init(&c->page, 0);
	fake_page_hello(&c->page, c->egress);
	g_mutex_init(&c->lock);
	c->delivered = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	c->workers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

/* As the ingest publishes it: the last seq queued. */
static void gated_queued(gated_client *c, uint32_t seq) {
	atomic_store(ooblex_egress_queued_seq(c->egress), seq);
}

static ooblex_reorder_stats gated_reorder(gated_client *c) {
	ooblex_egress_snapshot snap;
	ooblex_egress_snapshot_take(c->egress, &snap);
	return snap.reorder;
}

static void gated_free(gated_client *c) {
	ooblex_egress_free(c->egress);
	fake_page_clear(&c->page);
	ooblex_result_gate_free(c->gate);
	g_array_unref(c->delivered);
	g_hash_table_unref(c->workers);
	g_mutex_clear(&c->lock);
}

static int gated_count(gated_client *c, ooblex_result_verdict v) {
	g_mutex_lock(&c->lock);
	int n = c->verdicts[v];
	g_mutex_unlock(&c->lock);
	return n;
}

static unsigned gated_delivered(gated_client *c) {
	g_mutex_lock(&c->lock);
	unsigned n = c->delivered->len;
	g_mutex_unlock(&c->lock);
	return n;
}

static int wait_for_count(gated_client *c, ooblex_result_verdict v, int want) {
	int n = 0;
	for(int i = 0; i < 200 && (n = gated_count(c, v)) < want; i++)
		g_usleep(25000);
	return n;
}

static unsigned wait_delivered(gated_client *c, unsigned want) {
	unsigned n = 0;
	for(int i = 0; i < 400 && (n = gated_delivered(c)) < want; i++)
		g_usleep(25000);
	return n;
}

/* A small real JPEG, as a worker would send (free() it). */
static uint8_t *gray_jpeg(int w, int h, unsigned long *len) {
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER);
	uint8_t *gray = malloc((size_t)w * h);
	memset(gray, 100, (size_t)w * h);
	const uint8_t *out = NULL;
	size_t n = 0;
	char err[256];
	uint8_t *jpeg = NULL;
	if(j != NULL && ooblex_jpeg_encode_gray(j, gray, w, h, 80, &out, &n, err, sizeof(err)) == 0 &&
			(jpeg = malloc(n)) != NULL)
		memcpy(jpeg, out, n);
	*len = jpeg ? n : 0;
	ooblex_jpeg_free(j);
	free(gray);
	return jpeg;
}

/* Sets a JPEG's own idea of its size (the SOF marker). */
static void patch_jpeg_size(uint8_t *jpeg, unsigned long len, int w, int h) {
	for(unsigned long i = 2; i + 9 < len; i++)
		if(jpeg[i] == 0xff && (jpeg[i + 1] == 0xc0 || jpeg[i + 1] == 0xc1 || jpeg[i + 1] == 0xc2)) {
			jpeg[i + 5] = (uint8_t)(h >> 8);
			jpeg[i + 6] = (uint8_t)h;
			jpeg[i + 7] = (uint8_t)(w >> 8);
			jpeg[i + 8] = (uint8_t)w;
			return;
		}
}

/* A result message as a worker writes it; signed when key is given. */
static uint8_t *forge_result(const uint8_t id[OOBLEX_CLIENT_ID_LEN], uint32_t seq, int w, int h, const uint8_t *jpeg,
		size_t jlen, const char *key, size_t *len) {
	ooblex_frame_header hd;
	memset(&hd, 0, sizeof(hd));
	hd.kind = OOBLEX_KIND_RESULT;
	memcpy(hd.client_id, id, OOBLEX_CLIENT_ID_LEN);
	hd.frame_id = hd.seq = seq;
	hd.width = (uint16_t)w;
	hd.height = (uint16_t)h;
	hd.pixfmt = OOBLEX_PIXFMT_JPEG;
	hd.payload_len = (uint32_t)jlen;
	g_strlcpy(hd.effect, "invert", sizeof(hd.effect));
	g_strlcpy(hd.worker, "forger", sizeof(hd.worker));
	hd.has_mac = key != NULL;
	size_t hlen = ooblex_wire_header_len(&hd);
	uint8_t *msg = malloc(hlen + jlen);
	ooblex_wire_write_header(&hd, msg);
	memcpy(msg + hlen, jpeg, jlen);
	*len = hlen + jlen;
	if(key)
		ooblex_auth_sign((const uint8_t *)key, strlen(key), msg, *len);
	return msg;
}

static void push_raw(redisContext *rc, const char *key, const uint8_t *msg, size_t len) {
	redisReply *x = redisCommand(rc, "LPUSH %s %b", key, msg, len);
	if(x)
		freeReplyObject(x);
}

/* Whoever can write to Redis pushes results of their own into a client's
 * list: a far-future seq, a seq already delivered, elements too big to be
 * results, a JPEG claiming a huge picture. None is taken, each is counted,
 * and the genuine results of real workers still all reach the client. */
static void test_hostile_results_refused_genuine_flow(void) {
	redisContext *rc = harness_connect(10, 1);
	REQUIRE(rc != NULL);
	GPid w = harness_spawn_worker(10, "gate-1", 0, 1, NULL, NULL);
	REQUIRE(w != 0);
	ooblex_result_limits limits = { .max_bytes = 256 * 1024, .max_width = 640, .max_height = 480 };
	gated_client c;
	gated_init(&c, &limits);
	ooblex_redis_config cfg = harness_redis;
	cfg.db = 10;
	char err[256];
	ooblex_reader *reader = ooblex_reader_start(&cfg, 20, gated_on_result, no_tick, &c, NULL, err, sizeof(err));
	REQUIRE(reader != NULL);
	ooblex_reader_set_max_result(reader, limits.max_bytes);
	const ooblex_reader_stats *rs = ooblex_reader_get_stats(reader);
	unsigned long jlen;
	uint8_t *jpeg = gray_jpeg(HARNESS_W, HARNESS_H, &jlen);
	/* Before anything was queued: a far-future seq, and seq 1 (not queued yet). */
	size_t len;
	uint8_t *msg = forge_result(c.id, 1000000, HARNESS_W, HARNESS_H, jpeg, jlen, NULL, &len);
	push_raw(rc, c.key, msg, len);
	free(msg);
	msg = forge_result(c.id, 1, HARNESS_W, HARNESS_H, jpeg, jlen, NULL, &len);
	push_raw(rc, c.key, msg, len);
	free(msg);
	ooblex_reader_watch(reader, c.key);
	EXPECT_EQ(wait_for_count(&c, OOBLEX_RESULT_UNEXPECTED, 2), 2);
	/* The session queues 10 frames; real workers answer them. */
	gated_queued(&c, 10);
	harness_flood(rc, OOBLEX_KEY_FRAMES, c.id, "invert", 10, NULL, 0);
	EXPECT_EQ(wait_delivered(&c, 10), 10);
	/* Once delivered, a seq is not in flight any more: a copy is refused as
	 * late, and nothing moves. */
	msg = forge_result(c.id, 5, HARNESS_W, HARNESS_H, jpeg, jlen, NULL, &len);
	push_raw(rc, c.key, msg, len);
	free(msg);
	for(int i = 0; i < 200 && gated_reorder(&c).late < 1; i++)
		g_usleep(25000);
	EXPECT_EQ(gated_reorder(&c).late, 1);
	EXPECT_EQ(atomic_load(ooblex_egress_resolved_seq(c.egress)), 10);	/* the reorder window did not move */
	/* Too big: 1 MiB elements (the cap is 256 KiB), two at once so that one
	 * comes by BRPOP and one by the drain; neither reaches the callback. */
	uint8_t *big = calloc(1, 1024 * 1024);
	memcpy(big, "OOBX", 4);
	ooblex_reader_unwatch(reader, c.key);
	g_usleep(100 * 1000);
	push_raw(rc, c.key, big, 1024 * 1024);
	push_raw(rc, c.key, big, 1024 * 1024);
	free(big);
	/* A JPEG that says 30000x30000 inside a 32x24 result, and a result that
	 * says 8000x6000 (over the configured 640x480). */
	patch_jpeg_size(jpeg, jlen, 30000, 30000);
	msg = forge_result(c.id, 11, HARNESS_W, HARNESS_H, jpeg, jlen, NULL, &len);
	push_raw(rc, c.key, msg, len);
	free(msg);
	msg = forge_result(c.id, 12, 8000, 6000, jpeg, jlen, NULL, &len);
	push_raw(rc, c.key, msg, len);
	free(msg);
	ooblex_reader_watch(reader, c.key);
	for(int i = 0; i < 200 && atomic_load(&rs->oversized) < 2; i++)
		g_usleep(25000);
	EXPECT_EQ(atomic_load(&rs->oversized), 2);
	EXPECT_EQ(wait_for_count(&c, OOBLEX_RESULT_TOO_BIG_PICTURE, 2), 2);
	EXPECT_EQ(harness_int(rc, "LLEN %s", c.key), 0);
	/* And genuine results keep flowing after all that. */
	gated_queued(&c, 20);
	/* Frames 11..20: seqs 11 and 12 were the forged ones' (refused, so
	 * still in flight and answered for real now). */
	harness_flood_from(rc, OOBLEX_KEY_FRAMES, c.id, "invert", 11, 10);
	EXPECT_EQ(wait_delivered(&c, 20), 20);
	g_mutex_lock(&c.lock);
	int in_order = c.delivered->len == 20;
	for(guint i = 0; in_order && i < c.delivered->len; i++)
		in_order = g_array_index(c.delivered, uint32_t, i) == i + 1;
	int genuine_only = g_hash_table_size(c.workers) == 1 && g_hash_table_contains(c.workers, "gate-1");
	g_mutex_unlock(&c.lock);
	EXPECT(in_order);
	EXPECT(genuine_only);
	printf("# refused: %d unexpected, %d picture too big, %llu oversized\n", gated_count(&c, OOBLEX_RESULT_UNEXPECTED),
		gated_count(&c, OOBLEX_RESULT_TOO_BIG_PICTURE), (unsigned long long)atomic_load(&rs->oversized));
	free(jpeg);
	ooblex_reader_stop(reader);
	gated_free(&c);
	harness_stop(w, SIGTERM, NULL);
	redisFree(rc);
}

/* Moves a result to another client or frame, the way a replaying attacker
 * would: rewrites the client id or seq in the header, keeps the MAC. */
static void rewrite_u32(uint8_t *msg, size_t off, uint32_t v) {
	msg[off] = (uint8_t)v;
	msg[off + 1] = (uint8_t)(v >> 8);
	msg[off + 2] = (uint8_t)(v >> 16);
	msg[off + 3] = (uint8_t)(v >> 24);
}

static char *write_secret(const char *secret) {
	char *path = g_build_filename(g_get_tmp_dir(), "ooblex-test-secret-XXXXXX", NULL);
	int fd = g_mkstemp(path);
	if(fd < 0)
		return NULL;
	if(write(fd, secret, strlen(secret)) != (ssize_t)strlen(secret)) {
		close(fd);
		return NULL;
	}
	close(fd);
	return path;
}

/* With a fleet secret, only results signed by workers that have it are
 * taken. Real workers sign (one with the secret, one with another); the test
 * takes their genuine results and tampers with copies. */
static void test_results_must_be_signed(void) {
	static const char secret[] = "the fleet secret of this test run";
	static const char wrong[] = "a different secret, not the fleet's";
	char *secret_path = write_secret(secret), *wrong_path = write_secret(wrong);
	REQUIRE(secret_path != NULL && wrong_path != NULL);
	redisContext *rc = harness_connect(11, 1);
	redisContext *rc_wrong = harness_connect(12, 1);
	REQUIRE(rc != NULL && rc_wrong != NULL);
	const char *args[] = { "--fleet-secret-file", secret_path, NULL };
	const char *wrong_args[] = { "--fleet-secret-file", wrong_path, NULL };
	GPid w = harness_spawn_worker(11, "signed-1", 0, 1, args, NULL);
	GPid w_wrong = harness_spawn_worker(12, "wrong-1", 0, 1, wrong_args, NULL);
	REQUIRE(w != 0 && w_wrong != 0);
	ooblex_result_limits limits = { .secret = (const uint8_t *)secret, .secret_len = strlen(secret) };
	gated_client a, b;
	gated_init(&a, &limits);
	gated_init(&b, &limits);
	ooblex_redis_config cfg = harness_redis;
	cfg.db = 11;
	char err[256];
	ooblex_reader *ra = ooblex_reader_start(&cfg, 20, gated_on_result, no_tick, &a, NULL, err, sizeof(err));
	ooblex_reader *rb = ooblex_reader_start(&cfg, 20, gated_on_result, no_tick, &b, NULL, err, sizeof(err));
	REQUIRE(ra != NULL && rb != NULL);
	/* Genuine signed results from a real worker: all taken. */
	gated_queued(&a, 10);
	gated_queued(&b, 10);
	ooblex_reader_watch(ra, a.key);
	harness_flood(rc, OOBLEX_KEY_FRAMES, a.id, "invert", 10, NULL, 0);
	EXPECT_EQ(wait_delivered(&a, 10), 10);
	/* Results to tamper with: 4 more for a, kept in Redis (not watched). */
	ooblex_reader_unwatch(ra, a.key);
	g_usleep(100 * 1000);
	uint8_t sink_id[OOBLEX_CLIENT_ID_LEN];
	char sink_key[OOBLEX_KEY_MAX];
	harness_new_client(sink_id, sink_key);
	harness_flood(rc, OOBLEX_KEY_FRAMES, sink_id, "invert", 4, NULL, 0);
	EXPECT_EQ(harness_wait_len(rc, sink_key, 4, 10000), 4);
	/* And 2 from the worker with the wrong secret, for client b. */
	harness_flood(rc_wrong, OOBLEX_KEY_FRAMES, b.id, "invert", 2, NULL, 0);
	EXPECT_EQ(harness_wait_len(rc_wrong, b.key, 2, 10000), 2);
	redisReply *got = redisCommand(rc, "LRANGE %s 0 -1", sink_key);
	redisReply *got_wrong = redisCommand(rc_wrong, "LRANGE %s 0 -1", b.key);
	REQUIRE(got && got->type == REDIS_REPLY_ARRAY && got->elements == 4);
	REQUIRE(got_wrong && got_wrong->type == REDIS_REPLY_ARRAY && got_wrong->elements == 2);
	ooblex_frame_header h;
	const uint8_t *payload;
	uint8_t *m[4];
	size_t mlen[4];
	for(int i = 0; i < 4; i++) {
		mlen[i] = got->element[i]->len;
		m[i] = g_memdup2(got->element[i]->str, mlen[i]);
		REQUIRE(ooblex_wire_parse(m[i], mlen[i], &h, &payload) == OOBLEX_WIRE_OK && h.has_mac);
	}
	/* 0: replayed to client b as it is (the client id says sink: malformed). */
	push_raw(rc, b.key, m[0], mlen[0]);
	/* 1: its client id rewritten to b's: the MAC no longer checks. */
	memcpy(m[1] + 8, b.id, OOBLEX_CLIENT_ID_LEN);
	push_raw(rc, b.key, m[1], mlen[1]);
	/* 2: rewritten to b and to another seq. */
	memcpy(m[2] + 8, b.id, OOBLEX_CLIENT_ID_LEN);
	rewrite_u32(m[2], 32, 3);
	push_raw(rc, b.key, m[2], mlen[2]);
	/* 3: a pixel changed. */
	memcpy(m[3] + 8, b.id, OOBLEX_CLIENT_ID_LEN);
	m[3][mlen[3] - 10] ^= 0x40;
	push_raw(rc, b.key, m[3], mlen[3]);
	/* Signed by a real worker with another secret. */
	for(size_t i = 0; i < got_wrong->elements; i++)
		push_raw(rc, b.key, (const uint8_t *)got_wrong->element[i]->str, got_wrong->element[i]->len);
	/* Unsigned (as a worker without the secret writes it). */
	unsigned long jlen;
	uint8_t *jpeg = gray_jpeg(HARNESS_W, HARNESS_H, &jlen);
	size_t len, unsigned_len;
	uint8_t *unsigned_msg = forge_result(b.id, 4, HARNESS_W, HARNESS_H, jpeg, jlen, NULL, &unsigned_len);
	push_raw(rc, b.key, unsigned_msg, unsigned_len);
	/* Signed with the secret by someone who has it: taken. */
	uint8_t *good = forge_result(b.id, 1, HARNESS_W, HARNESS_H, jpeg, jlen, secret, &len);
	push_raw(rc, b.key, good, len);
	ooblex_reader_watch(rb, b.key);
	EXPECT_EQ(wait_for_count(&b, OOBLEX_RESULT_BAD_MAC, 5), 5);
	EXPECT_EQ(wait_for_count(&b, OOBLEX_RESULT_UNSIGNED, 1), 1);
	EXPECT_EQ(wait_for_count(&b, OOBLEX_RESULT_MALFORMED, 1), 1);
	EXPECT_EQ(wait_delivered(&b, 1), 1);
	EXPECT_EQ(gated_count(&b, OOBLEX_RESULT_OK), 1);
	/* Without a secret the plugin behaves as before: unsigned is taken. */
	ooblex_result_limits open_limits = { 0 };
	ooblex_result_gate *open_gate = ooblex_result_gate_new(&open_limits);
	EXPECT_EQ(ooblex_result_gate_check(open_gate, b.id, unsigned_msg, unsigned_len, &h, &payload), OOBLEX_RESULT_OK);
	ooblex_result_gate_free(open_gate);
	printf("# signed: %u taken from the fleet worker; refused %d bad MAC, %d unsigned, %d malformed\n",
		gated_delivered(&a), gated_count(&b, OOBLEX_RESULT_BAD_MAC), gated_count(&b, OOBLEX_RESULT_UNSIGNED),
		gated_count(&b, OOBLEX_RESULT_MALFORMED));
	/* Error results (a frame the worker cannot process) are signed too:
	 * with a secret set, a forged one could otherwise skip genuine frames. */
	uint8_t err_id[OOBLEX_CLIENT_ID_LEN];
	char err_key[OOBLEX_KEY_MAX];
	harness_new_client(err_id, err_key);
	harness_flood(rc, OOBLEX_KEY_FRAMES, err_id, "teleport", 1, NULL, 0);
	EXPECT_EQ(harness_wait_len(rc, err_key, 1, 10000), 1);
	redisReply *er = redisCommand(rc, "RPOP %s", err_key);
	REQUIRE(er && er->type == REDIS_REPLY_STRING);
	ooblex_result_gate *gate = ooblex_result_gate_new(&limits);
	EXPECT_EQ(ooblex_result_gate_check(gate, err_id, (const uint8_t *)er->str, er->len, &h, &payload), OOBLEX_RESULT_OK);
	EXPECT_EQ(h.kind, OOBLEX_KIND_ERROR);
	EXPECT_EQ(h.error_code, OOBLEX_FRAME_ERR_UNKNOWN_EFFECT);
	uint8_t *forged_err = g_memdup2(er->str, er->len);
	forged_err[er->len - h.payload_len] ^= 2;	/* the code: unknown_effect becomes failed */
	EXPECT_EQ(ooblex_result_gate_check(gate, err_id, forged_err, er->len, &h, &payload), OOBLEX_RESULT_BAD_MAC);
	g_free(forged_err);
	ooblex_result_gate_free(gate);
	freeReplyObject(er);
	free(unsigned_msg);
	free(good);
	free(jpeg);
	for(int i = 0; i < 4; i++)
		g_free(m[i]);
	freeReplyObject(got);
	freeReplyObject(got_wrong);
	ooblex_reader_stop(ra);
	ooblex_reader_stop(rb);
	gated_free(&a);
	gated_free(&b);
	harness_stop(w, SIGTERM, NULL);
	harness_stop(w_wrong, SIGTERM, NULL);
	g_unlink(secret_path);
	g_unlink(wrong_path);
	g_free(secret_path);
	g_free(wrong_path);
	redisFree(rc);
	redisFree(rc_wrong);
}

static void test_metrics_file(void) {
	/* Frames of two effects and two malformed messages: the worker's
	 * textfile has the counts, the histogram agrees, and the file goes
	 * when the worker stops. */
	redisContext *rc = harness_connect(6, 1);
	REQUIRE(rc != NULL);
	gchar *dir = g_dir_make_tmp("ooblex-metrics-XXXXXX", NULL);
	const char *args[] = { "--metrics-dir", dir, NULL };
	GPid w = harness_spawn_worker(6, "met-1", 0, 1, args, NULL);
	REQUIRE(w != 0);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	harness_flood(rc, OOBLEX_KEY_FRAMES, id, "blur:sigma=2|invert", 25, NULL, 0);
	harness_flood(rc, OOBLEX_KEY_FRAMES, id, "grayscale", 5, NULL, 0);
	freeReplyObject(redisCommand(rc, "LPUSH %s %s %s", OOBLEX_KEY_FRAMES, "garbage", "OOBXtruncated"));
	EXPECT_EQ(harness_wait_len(rc, key, 30, 10000), 30);
	gchar *path = g_build_filename(dir, "ooblex_worker_met-1.prom", NULL);
	gchar *text = NULL;
	/* Written every second: wait for a file that has all of it. */
	for(int i = 0; i < 40; i++) {
		g_free(text);
		text = NULL;
		g_usleep(100000);
		if(g_file_get_contents(path, &text, NULL, NULL) &&
				metric(text, "ooblex_worker_errors_total{worker=\"met-1\",reason=\"malformed\"}") == 2 &&
				metric(text, "ooblex_worker_frames_total{worker=\"met-1\",effect=\"grayscale\"}") == 5)
			break;
	}
	REQUIRE(text != NULL);
	EXPECT_EQ(metric(text, "ooblex_worker_frames_total{worker=\"met-1\",effect=\"blur|invert\"}"), 25);
	EXPECT_EQ(metric(text, "ooblex_worker_frames_total{worker=\"met-1\",effect=\"grayscale\"}"), 5);
	EXPECT_EQ(metric(text, "ooblex_worker_processing_seconds_count{worker=\"met-1\",effect=\"blur|invert\"}"), 25);
	EXPECT_EQ(metric(text, "ooblex_worker_processing_seconds_bucket{worker=\"met-1\",effect=\"blur|invert\",le=\"+Inf\"}"), 25);
	EXPECT(metric(text, "ooblex_worker_processing_seconds_sum{worker=\"met-1\",effect=\"blur|invert\"}") > 0);
	EXPECT_EQ(metric(text, "ooblex_worker_errors_total{worker=\"met-1\",reason=\"malformed\"}"), 2);
	EXPECT_EQ(metric(text, "ooblex_worker_errors_total{worker=\"met-1\",reason=\"stale\"}"), 0);
	EXPECT(strstr(text, "# TYPE ooblex_worker_processing_seconds histogram") != NULL);
	/* No half-written files are ever left for the collector. */
	GDir *d = g_dir_open(dir, 0, NULL);
	int files = 0;
	for(const char *f; d && (f = g_dir_read_name(d)) != NULL;)
		files++;
	if(d)
		g_dir_close(d);
	EXPECT_EQ(files, 1);
	int status = -1;
	harness_stop(w, SIGTERM, &status);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT(!g_file_test(path, G_FILE_TEST_EXISTS));
	g_free(text);
	g_free(path);
	g_rmdir(dir);
	g_free(dir);
	redisFree(rc);
}

/* One 640x480 I420 frame of noise (the costliest input for nlmeans) with
 * this effect and seq for client id, into frames_to_process. */
static void push_vga_frame(redisContext *c, const uint8_t id[OOBLEX_CLIENT_ID_LEN], const char *effect, uint32_t seq) {
	ooblex_frame_header h;
	memset(&h, 0, sizeof(h));
	h.kind = OOBLEX_KIND_FRAME;
	memcpy(h.client_id, id, OOBLEX_CLIENT_ID_LEN);
	h.width = 640;
	h.height = 480;
	h.pixfmt = OOBLEX_PIXFMT_I420;
	h.reply_pixfmt = OOBLEX_PIXFMT_JPEG;
	h.jpeg_quality = 50;
	h.frame_id = h.seq = seq;
	g_strlcpy(h.effect, effect, sizeof(h.effect));
	h.payload_len = (uint32_t)ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, 640, 480);
	size_t hlen = ooblex_wire_header_len(&h);
	uint8_t *msg = malloc(hlen + h.payload_len);
	ooblex_wire_write_header(&h, msg);
	uint32_t x = seq * 2654435761u;
	for(uint32_t i = 0; i < h.payload_len; i++) {
		x = x * 1103515245u + 12345u;
		msg[hlen + i] = (uint8_t)(x >> 16);
	}
	freeReplyObject(redisCommand(c, "LPUSH %s %b", OOBLEX_KEY_FRAMES, msg, hlen + h.payload_len));
	free(msg);
}

/* The error results in key by seq (code, or 0), and how many real results. */
static int collect_errors(redisContext *c, const char *key, int codes[8], char reasons[8][OOBLEX_ERROR_TEXT_MAX + 1]) {
	int results = 0;
	redisReply *r = redisCommand(c, "LRANGE %s 0 -1", key);
	for(size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		ooblex_frame_header h;
		const uint8_t *payload;
		if(ooblex_wire_parse((const uint8_t *)r->element[i]->str, r->element[i]->len, &h, &payload) != OOBLEX_WIRE_OK)
			continue;
		if(h.kind == OOBLEX_KIND_RESULT)
			results++;
		else if(h.kind == OOBLEX_KIND_ERROR && h.seq < 8) {
			codes[h.seq] = h.error_code;
			snprintf(reasons[h.seq], sizeof(reasons[h.seq]), "%s", h.error);
		}
	}
	if(r)
		freeReplyObject(r);
	return results;
}

static void test_error_results_reach_the_client(void) {
	/* A worker with a 1 ms budget: an allowed but slow graph (nlmeans at its
	 * bounds on a 640x480 frame: tens of ms on any machine) is processed and
	 * not delivered; the client's list gets an error result for it, as for an
	 * unknown effect and a refused graph, each through the same exactly-once
	 * completion; the metrics count over_budget. */
	redisContext *rc = harness_connect(12, 1);
	REQUIRE(rc != NULL);
	gchar *dir = g_dir_make_tmp("ooblex-budget-XXXXXX", NULL);
	const char *args[] = { "--metrics-dir", dir, "--frame-budget-ms", "1", NULL };
	gchar *log = g_build_filename(dir, "worker.log", NULL);
	GPid w = harness_spawn_worker(12, "budget-1", 0, 1, args, log);
	REQUIRE(w != 0);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	const char *slow = "ffmpeg:nlmeans=s=30:p=7:pc=7:r=7:rc=7";
	push_vga_frame(rc, id, slow, 1);
	push_vga_frame(rc, id, slow, 2);
	push_vga_frame(rc, id, "teleport", 3);
	push_vga_frame(rc, id, "ffmpeg:[']null='x]movie=/etc/passwd,'", 4);
	/* A tiny JPEG whose own header claims 8192x8192, as the frame's does:
	 * refused before any buffer is sized from it. */
	{
		unsigned long jlen = 0;
		uint8_t *jpeg = gray_jpeg(64, 64, &jlen);
		patch_jpeg_size(jpeg, jlen, 8192, 8192);
		ooblex_frame_header fh;
		memset(&fh, 0, sizeof(fh));
		fh.kind = OOBLEX_KIND_FRAME;
		memcpy(fh.client_id, id, OOBLEX_CLIENT_ID_LEN);
		fh.width = fh.height = 8192;
		fh.pixfmt = OOBLEX_PIXFMT_JPEG;
		fh.reply_pixfmt = OOBLEX_PIXFMT_JPEG;
		fh.jpeg_quality = 50;
		fh.frame_id = fh.seq = 5;
		g_strlcpy(fh.effect, "invert", sizeof(fh.effect));
		fh.payload_len = (uint32_t)jlen;
		size_t hlen = ooblex_wire_header_len(&fh);
		uint8_t *msg = malloc(hlen + jlen);
		ooblex_wire_write_header(&fh, msg);
		memcpy(msg + hlen, jpeg, jlen);
		freeReplyObject(redisCommand(rc, "LPUSH %s %b", OOBLEX_KEY_FRAMES, msg, hlen + jlen));
		free(msg);
		free(jpeg);
	}
	EXPECT_EQ(harness_wait_len(rc, key, 5, 20000), 5);
	int codes[8] = { 0 };
	char reasons[8][OOBLEX_ERROR_TEXT_MAX + 1] = { "" };
	EXPECT_EQ(collect_errors(rc, key, codes, reasons), 0);	/* nothing delivered */
	EXPECT_EQ(codes[1], OOBLEX_FRAME_ERR_OVER_BUDGET);
	EXPECT_EQ(codes[2], OOBLEX_FRAME_ERR_OVER_BUDGET);
	EXPECT(strstr(reasons[1], "over budget") != NULL && strstr(reasons[1], "budget 1 ms") != NULL);
	EXPECT_EQ(codes[3], OOBLEX_FRAME_ERR_UNKNOWN_EFFECT);
	EXPECT(strstr(reasons[3], "teleport") != NULL);
	EXPECT_EQ(codes[4], OOBLEX_FRAME_ERR_REFUSED);
	EXPECT(strstr(reasons[4], "not allowed") != NULL);
	EXPECT_EQ(codes[5], OOBLEX_FRAME_ERR_BAD_FRAME);
	EXPECT(strstr(reasons[5], "over this worker's limit") != NULL);
	/* The processing list is empty: the batch completed. */
	EXPECT_EQ(harness_int(rc, "LLEN %s", OOBLEX_KEY_PROCESSING_PREFIX "budget-1"), 0);
	gchar *path = g_build_filename(dir, "ooblex_worker_budget-1.prom", NULL);
	gchar *text = NULL;
	for(int i = 0; i < 40; i++) {
		g_free(text);
		text = NULL;
		g_usleep(100000);
		if(g_file_get_contents(path, &text, NULL, NULL) &&
				metric(text, "ooblex_worker_errors_total{worker=\"budget-1\",reason=\"over_budget\"}") == 2)
			break;
	}
	REQUIRE(text != NULL);
	EXPECT_EQ(metric(text, "ooblex_worker_errors_total{worker=\"budget-1\",reason=\"over_budget\"}"), 2);
	EXPECT_EQ(metric(text, "ooblex_worker_errors_total{worker=\"budget-1\",reason=\"failed\"}"), 2);
	harness_stop(w, SIGTERM, NULL);
	gchar *logtext = NULL;
	EXPECT(g_file_get_contents(log, &logtext, NULL, NULL) && strstr(logtext, "not delivered") != NULL);
	g_free(logtext);
	/* The same graph with the budget off is delivered: what the budget
	 * refused was the time, not the graph. */
	const char *off[] = { "--frame-budget-ms", "0", NULL };
	w = harness_spawn_worker(12, "budget-2", 0, 1, off, NULL);
	REQUIRE(w != 0);
	char key2[OOBLEX_KEY_MAX];
	harness_new_client(id, key2);
	push_vga_frame(rc, id, slow, 1);
	EXPECT_EQ(harness_wait_len(rc, key2, 1, 20000), 1);
	memset(codes, 0, sizeof(codes));
	EXPECT_EQ(collect_errors(rc, key2, codes, reasons), 1);
	EXPECT_EQ(codes[1], 0);
	harness_stop(w, SIGTERM, NULL);
	/* The budget is CPU, not wall time: a frame that holds its worker 300 ms
	 * without working (the stall module sleeps) is within a 50 ms budget,
	 * as a cheap frame on a machine loaded by others is. */
	const char *stall_module = getenv("OOBLEX_TEST_STALL");
	REQUIRE(stall_module != NULL);
	const char *sleeper[] = { "--module", stall_module, "--frame-budget-ms", "50", NULL };
	w = harness_spawn_worker(12, "budget-3", 0, 1, sleeper, NULL);
	REQUIRE(w != 0);
	char key3[OOBLEX_KEY_MAX];
	harness_new_client(id, key3);
	push_vga_frame(rc, id, "stall:ms=300", 1);
	EXPECT_EQ(harness_wait_len(rc, key3, 1, 20000), 1);
	memset(codes, 0, sizeof(codes));
	EXPECT_EQ(collect_errors(rc, key3, codes, reasons), 1);
	EXPECT_EQ(codes[1], 0);
	harness_stop(w, SIGTERM, NULL);
	g_unlink(log);
	g_unlink(path);
	g_rmdir(dir);
	g_free(text);
	g_free(path);
	g_free(log);
	g_free(dir);
	redisFree(rc);
}

/* Runs the reap script itself on a dead worker's processing list. The
 * frames' other timestamps are all in the distant past, so reading any
 * field but the deadline (or only one half of it) gives another verdict:
 * the script must find the deadline where the wire header puts it. */
static void test_reap_script_reads_the_deadline_where_the_wire_puts_it(void) {
	redisContext *rc = harness_connect(13, 1);
	REQUIRE(rc != NULL);
	const uint64_t now = ooblex_now_us();
	const struct { uint64_t deadline; int stale; } cases[] = {
		{ 1ull << 32, 1 },	/* past, only the high half set */
		{ 0xffffffffull, 1 },	/* past, only the low half set */
		{ now + 60000000ull, 0 },	/* a minute ahead */
		{ 0, 0 },	/* no deadline */
	};
	const char *list = OOBLEX_KEY_PROCESSING_PREFIX "ghost", *queue = OOBLEX_KEY_FRAMES;
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	for(size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		ooblex_frame_header h;
		harness_frame_header(&h, id, "invert");
		h.frame_id = h.seq = (uint32_t)i + 1;
		h.capture_us = h.queued_us = h.worker_start_us = h.worker_end_us = 1;
		h.deadline_us = cases[i].deadline;
		size_t hlen = ooblex_wire_header_len(&h);
		uint8_t *msg = calloc(1, hlen + h.payload_len);
		ooblex_wire_write_header(&h, msg);
		freeReplyObject(redisCommand(rc, "LPUSH %s %b", list, msg, hlen + h.payload_len));
		free(msg);
	}
	/* Not frames: no deadline to read, so back they go (the worker that
	 * takes them counts them malformed). */
	freeReplyObject(redisCommand(rc, "LPUSH %s %s", list, "OOBX too short"));
	uint8_t nomagic[OOBLEX_WIRE_FIXED_LEN + 16];
	memset(nomagic, 0, sizeof(nomagic));
	freeReplyObject(redisCommand(rc, "LPUSH %s %b", list, nomagic, sizeof(nomagic)));
	char now_s[32];
	g_snprintf(now_s, sizeof(now_s), "%" G_GUINT64_FORMAT, now);
	/* While the owner's liveness key exists, nothing moves. */
	freeReplyObject(redisCommand(rc, "SET %s 1", OOBLEX_KEY_ALIVE_PREFIX "ghost"));
	redisReply *r = redisCommand(rc, "EVAL %s 4 %s %s %s %s %s", ooblex_script_reap, list,
		OOBLEX_KEY_ALIVE_PREFIX "ghost", queue, OOBLEX_KEY_DROPPED_STALE, now_s);
	REQUIRE(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
	EXPECT_EQ(r->element[0]->integer + r->element[1]->integer, 0);
	freeReplyObject(r);
	EXPECT_EQ(harness_int(rc, "LLEN %s", list), 6);
	freeReplyObject(redisCommand(rc, "DEL %s", OOBLEX_KEY_ALIVE_PREFIX "ghost"));
	r = redisCommand(rc, "EVAL %s 4 %s %s %s %s %s", ooblex_script_reap, list, OOBLEX_KEY_ALIVE_PREFIX "ghost",
		queue, OOBLEX_KEY_DROPPED_STALE, now_s);
	REQUIRE(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
	EXPECT_EQ(r->element[0]->integer, 4);	/* back: a minute ahead, none, and the two non-frames */
	EXPECT_EQ(r->element[1]->integer, 2);	/* stale: the two past deadlines */
	freeReplyObject(r);
	EXPECT_EQ(harness_int(rc, "GET %s", OOBLEX_KEY_DROPPED_STALE), 2);
	EXPECT_EQ(harness_int(rc, "LLEN %s", list), 0);
	/* Which ones went back: seq 3 and 4, in the order they were taken. */
	r = redisCommand(rc, "LRANGE %s 0 -1", queue);
	REQUIRE(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 4);
	int seqs = 0;
	for(size_t i = 0; i < r->elements; i++) {
		ooblex_frame_header h;
		const uint8_t *payload;
		if(ooblex_wire_parse((const uint8_t *)r->element[i]->str, r->element[i]->len, &h, &payload) == OOBLEX_WIRE_OK)
			seqs = seqs * 10 + (int)h.seq;
	}
	EXPECT_EQ(seqs, 34);
	freeReplyObject(r);
	redisFree(rc);
}

typedef struct scan_tally {
	GHashTable *seen;
	size_t keys, pages, foreign;
	size_t stop_at_page;	/* 0: never */
} scan_tally;

static int tally_page(redisContext *c, redisReply *const *keys, size_t n, void *user) {
	(void)c;
	scan_tally *t = user;
	t->pages++;
	t->keys += n;
	for(size_t i = 0; i < n; i++) {
		if(strncmp(keys[i]->str, "scan:hit:", 9) != 0)
			t->foreign++;
		g_hash_table_add(t->seen, g_strndup(keys[i]->str, keys[i]->len));
	}
	return t->stop_at_page && t->pages == t->stop_at_page ? 7 : 0;
}

static int scan_with(redisContext *c, const char *pattern, size_t max_keys, size_t stop_at_page, scan_tally *t) {
	memset(t, 0, sizeof(*t));
	t->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	t->stop_at_page = stop_at_page;
	return ooblex_redis_scan(c, pattern, max_keys, tally_page, t);
}

/* The one SCAN loop (the plugin's registry, the reapers' processing
 * lists): every matching key, only those, page by page, within its bound;
 * the callback can stop it; a lost connection is an error. And the plugin
 * reads no more than OOBLEX_FLEET_MAX_WORKERS registry entries. */
static void test_scan_visits_matching_keys_within_bounds(void) {
	redisContext *rc = harness_connect(14, 1);
	REQUIRE(rc != NULL);
	for(int i = 0; i < 450; i++)
		redisAppendCommand(rc, "SET scan:hit:%d 1", i);
	for(int i = 0; i < 600; i++)
		redisAppendCommand(rc, "SET scan:miss:%d 1", i);
	for(int i = 0; i < 1050; i++) {
		redisReply *x = NULL;
		REQUIRE(redisGetReply(rc, (void **)&x) == REDIS_OK);
		freeReplyObject(x);
	}
	scan_tally t;
	EXPECT_EQ(scan_with(rc, "scan:hit:*", 100000, 0, &t), 0);
	EXPECT_EQ(g_hash_table_size(t.seen), 450);
	EXPECT(t.keys >= 450);
	EXPECT_EQ(t.foreign, 0);
	EXPECT(t.pages > 1);
	printf("# scan: 450 of 1050 keys in %zu pages\n", t.pages);
	g_hash_table_unref(t.seen);
	EXPECT_EQ(scan_with(rc, "scan:hit:*", 100, 0, &t), 0);
	EXPECT_EQ(t.keys, 100);
	g_hash_table_unref(t.seen);
	EXPECT_EQ(scan_with(rc, "scan:hit:*", 100000, 1, &t), 7);
	EXPECT_EQ(t.pages, 1);
	g_hash_table_unref(t.seen);
	EXPECT_EQ(scan_with(rc, "scan:none:*", 100000, 0, &t), 0);
	EXPECT_EQ(t.keys, 0);
	g_hash_table_unref(t.seen);
	redisContext *gone = harness_connect(14, 0);
	REQUIRE(gone != NULL);
	freeReplyObject(redisCommand(gone, "QUIT"));
	EXPECT_EQ(scan_with(gone, "scan:hit:*", 100000, 0, &t), -1);
	g_hash_table_unref(t.seen);
	redisFree(gone);
	/* More registry entries than the bound: the plugin's reader keeps
	 * OOBLEX_FLEET_MAX_WORKERS of them. */
	int fakes = OOBLEX_FLEET_MAX_WORKERS + 100;
	for(int i = 0; i < fakes; i++)
		redisAppendCommand(rc, "SET " OOBLEX_KEY_WORKER_PREFIX "fake-%d {\"id\":\"fake-%d\",\"effects\":[]} EX 60", i, i);
	for(int i = 0; i < fakes; i++) {
		redisReply *x = NULL;
		REQUIRE(redisGetReply(rc, (void **)&x) == REDIS_OK);
		freeReplyObject(x);
	}
	ooblex_redis_config cfg = harness_redis;
	cfg.db = 14;
	char err[256];
	ooblex_reader *reader = ooblex_reader_start(&cfg, 20, on_nothing, no_tick, NULL, NULL, err, sizeof(err));
	REQUIRE(reader != NULL);
	guint seen = 0;
	for(int i = 0; i < 100 && seen == 0; i++) {
		g_usleep(50000);
		long long qlen, stale;
		GPtrArray *w = ooblex_reader_fleet(reader, &qlen, &stale);
		seen = w->len;
		g_ptr_array_unref(w);
	}
	EXPECT_EQ(seen, OOBLEX_FLEET_MAX_WORKERS);
	ooblex_reader_stop(reader);
	redisFree(rc);
}

int main(void) {
	if(harness_init() < 0) {
		fprintf(stderr, "OOBLEX_TEST_REDIS_PORT or OOBLEX_TEST_WORKER is not set: run tests/integration/run.sh\n");
		return 2;
	}
	TEST_RUN(test_flood_processed_exactly_once);
	TEST_RUN(test_kill_one_of_three_under_load);
	TEST_RUN(test_routing_by_effect);
	TEST_RUN(test_live_fleet_decides_which_effects_run);
	TEST_RUN(test_fleet_shares_queues_and_plugins);
	TEST_RUN(test_routed_worker_crash_returns_frame_to_its_queue);
	TEST_RUN(test_result_of_a_reaped_frame_is_dropped);
	TEST_RUN(test_metrics_file);
	TEST_RUN(test_registry_cannot_route_core_effects);
	TEST_RUN(test_fleet_stale_count_never_decreases);
	TEST_RUN(test_hostile_results_refused_genuine_flow);
	TEST_RUN(test_results_must_be_signed);
	TEST_RUN(test_error_results_reach_the_client);
	TEST_RUN(test_reap_script_reads_the_deadline_where_the_wire_puts_it);
	TEST_RUN(test_scan_visits_matching_keys_within_bounds);
	return tl_done();
}
