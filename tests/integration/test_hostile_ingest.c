/*
 * test_hostile_ingest.c - what a hostile browser can make one session hold
 * or cost (issue 12, class 2), with real components: the project's own
 * packet source (tests/video_test_source: the plugin's encoder and
 * packetizer, with a hook that rewrites the encoded frames), ooblex_ingest
 * driven directly, the Redis producer and reader, and the two workers
 * tests/integration/run.sh starts.
 *
 * Each hostile stream goes to session A while session B streams normally
 * beside it; afterwards A gets a normal stream on the same ingest. Checked:
 * the counters move, memory stays bounded (RSS of this process, its peak
 * reset through /proc/self/clear_refs before the stream: a memory bound,
 * not a timing test), B keeps being decoded and processed throughout, and A
 * decodes and gets results again.
 *   - a frame that never ends: one timestamp, no marker, 200 MB of packets;
 *   - tiny keyframes claiming huge pictures (VP8 8000x8000 and 16383x16383,
 *     H.264 SPS 8192x8192);
 *   - keyframe floods: every frame a keyframe, as fast as the encoder goes,
 *     against the count budget and against the byte budget.
 */
#include "testlib.h"

#include <glib.h>
#include <stdatomic.h>
#include <unistd.h>
#include <libavutil/log.h>

#include "bitstream_craft.h"
#include "bitstream_headers.h"
#include "harness.h"
#include "ingest.h"
#include "ooblex_keys.h"
#include "ooblex_wire.h"
#include "producer.h"
#include "results.h"
#include "rtp_packetizer.h"
#include "video_test_source.h"

#define W 320
#define H 240
#define MIB (1024.0 * 1024.0)
/* What a hostile stream may add to this process' peak RSS: the packet
 * queue (4 MiB) and frame assembly (3 x 3 MiB) at their bounds, plus room
 * for what B and the Redis threads do meanwhile. Main (208e913) adds
 * hundreds of MiB with the same streams. */
#define GROWTH_BOUND_MIB 24.0

static ooblex_producer *producer;
static ooblex_reader *reader;

typedef struct session {
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	ooblex_ingest *ing;
	ooblex_ingest_stats stats;
	atomic_int results;
	atomic_uint_fast32_t resolved_seq;	/* the newest result: frames before it are not in flight */
	atomic_int keyframe_wanted;
	atomic_int stopped;
	/* The "network" renumbers packets: one continuous RTP stream, whatever
	 * source feeds it (as one browser's would be). */
	uint16_t next_seq;
} session;

#define MAX_WATCHED 8
static session *watched[MAX_WATCHED];
static GMutex watched_lock;

static void on_result(const char *key, const uint8_t *msg, size_t len, void *user) {
	(void)user;
	ooblex_frame_header h;
	const uint8_t *payload;
	if(ooblex_wire_parse(msg, len, &h, &payload) != OOBLEX_WIRE_OK || h.kind != OOBLEX_KIND_RESULT)
		return;
	g_mutex_lock(&watched_lock);
	for(int i = 0; i < MAX_WATCHED; i++)
		if(watched[i] != NULL && strcmp(watched[i]->key, key) == 0) {
			atomic_fetch_add(&watched[i]->results, 1);
			if((int32_t)(h.seq - (uint32_t)atomic_load(&watched[i]->resolved_seq)) > 0)
				atomic_store(&watched[i]->resolved_seq, h.seq);
		}
	g_mutex_unlock(&watched_lock);
}

static void on_tick(void *user) {
	(void)user;
}

static void cb_keyframe(void *user) {
	atomic_store(&((session *)user)->keyframe_wanted, 1);
}

static void cb_frame(uint8_t *msg, size_t len, void *user) {
	(void)user;
	ooblex_producer_push(producer, OOBLEX_KEY_FRAMES, msg, len);
}

static void cb_stopped(void *user) {
	atomic_store(&((session *)user)->stopped, 1);
}

/* cfg: the limits under test (NULL: the defaults). */
static session *session_start(const char *codec, const ooblex_ingest_config *limits) {
	session *s = calloc(1, sizeof(*s));
	ooblex_client_id_generate(s->id);
	char hex[OOBLEX_CLIENT_ID_HEX_LEN + 1];
	ooblex_client_id_to_hex(s->id, hex);
	ooblex_key_processed(s->key, hex);
	s->next_seq = 4000;
	g_mutex_lock(&watched_lock);
	for(int i = 0; i < MAX_WATCHED; i++)
		if(watched[i] == NULL) {
			watched[i] = s;
			break;
		}
	g_mutex_unlock(&watched_lock);
	ooblex_reader_watch(reader, s->key);
	ooblex_ingest_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	if(limits != NULL)
		cfg = *limits;
	cfg.codec = codec;
	cfg.frame_skip = 1;
	cfg.effect = "invert";
	cfg.reply_pixfmt = OOBLEX_PIXFMT_JPEG;
	cfg.jpeg_quality = 80;
	cfg.pli_interval_ms = 100;
	cfg.max_in_flight = 6;
	cfg.resolved_seq = &s->resolved_seq;
	cfg.deadline_ms = 0;
	memcpy(cfg.client_id, s->id, OOBLEX_CLIENT_ID_LEN);
	cfg.stats = &s->stats;
	ooblex_ingest_callbacks cb = { cb_keyframe, cb_frame, cb_stopped };
	char err[256];
	s->ing = ooblex_ingest_start(&cfg, &cb, s, err, sizeof(err));
	if(s->ing == NULL)
		printf("# ingest: %s\n", err);
	return s;
}

static void session_stop(session *s) {
	if(s->ing != NULL) {
		ooblex_ingest_stop(s->ing);
		for(int i = 0; i < 500 && !atomic_load(&s->stopped); i++)
			g_usleep(10000);
	}
	ooblex_reader_unwatch(reader, s->key);
	g_mutex_lock(&watched_lock);
	for(int i = 0; i < MAX_WATCHED; i++)
		if(watched[i] == s)
			watched[i] = NULL;
	g_mutex_unlock(&watched_lock);
	free(s);
}

/* Sends one packet on s's stream, renumbered. */
static void send_packet(const uint8_t *pkt, size_t len, void *user) {
	session *s = user;
	uint8_t buf[OOBLEX_RTP_MAX_PACKET];
	if(len > sizeof(buf) || len < 12)
		return;
	memcpy(buf, pkt, len);
	buf[2] = (uint8_t)(s->next_seq >> 8);
	buf[3] = (uint8_t)s->next_seq;
	s->next_seq++;
	ooblex_ingest_push_rtp(s->ing, buf, len);
}

static int wait_atleast(atomic_int *v, int want, int ms) {
	for(int i = 0; i < ms / 10 && atomic_load(v) < want; i++)
		g_usleep(10000);
	return atomic_load(v);
}

static uint64_t wait_decoded(session *s, uint64_t want, int ms) {
	for(int i = 0; i < ms / 10 && atomic_load(&s->stats.frames_decoded) < want; i++)
		g_usleep(10000);
	return atomic_load(&s->stats.frames_decoded);
}

/* n frames of the test pattern, answering keyframe requests like a browser. */
static void stream_normal(session *s, const char *codec, int n) {
	video_test_source *src = video_test_source_new(codec, W, H, 30, 1000);
	for(int i = 0; i < n && src != NULL; i++) {
		if(atomic_exchange(&s->keyframe_wanted, 0))
			video_test_source_force_keyframe(src);
		video_test_source_next(src, send_packet, s);
		g_usleep(4000);
	}
	video_test_source_free(src);
}

/* Session B: a normal stream for as long as the hostile one lasts. */
typedef struct bystander {
	session *s;
	const char *codec;
	atomic_int stop;
	int frames;
	GThread *thread;
} bystander;

static gpointer bystander_run(gpointer data) {
	bystander *b = data;
	video_test_source *src = video_test_source_new(b->codec, W, H, 30, 1000);
	while(!atomic_load(&b->stop) && src != NULL) {
		if(atomic_exchange(&b->s->keyframe_wanted, 0))
			video_test_source_force_keyframe(src);
		video_test_source_next(src, send_packet, b->s);
		b->frames++;
		g_usleep(5000);
	}
	video_test_source_free(src);
	return NULL;
}

static void bystander_begin(bystander *b, session *s, const char *codec) {
	b->s = s;
	b->codec = codec;
	atomic_store(&b->stop, 0);
	b->frames = 0;
	b->thread = g_thread_new("bystander", bystander_run, b);
}

/* Ends B's stream and checks that B was decoded and processed all along. */
static void bystander_end(bystander *b, int results_before) {
	atomic_store(&b->stop, 1);
	g_thread_join(b->thread);
	uint64_t decoded = wait_decoded(b->s, (uint64_t)b->frames, 3000);
	int results = wait_atleast(&b->s->results, results_before + 10, 5000);
	printf("# session B beside it: %d frames sent, %lu decoded, %d results (%d before)\n", b->frames,
		(unsigned long)decoded, results, results_before);
	EXPECT(decoded >= (uint64_t)b->frames * 9 / 10);
	EXPECT_EQ(atomic_load(&b->s->stats.decode_errors), 0);
	EXPECT(results >= results_before + 10);
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifdef UNDER_ASAN
/* ASan keeps freed memory in its quarantine, so RSS says little under it:
 * the bytes allocated and not freed (libavcodec's included) are what is
 * measured then, sampled every millisecond by a thread for the peak. */
/* From the sanitizer runtime (sanitizer/allocator_interface.h, which only
 * clang installs). */
size_t __sanitizer_get_current_allocated_bytes(void);
#define MEM_NAME "heap in use"
static atomic_size_t heap_peak;
static atomic_int sampling;
static GThread *sampler;

static gpointer sample_heap(gpointer data) {
	(void)data;
	while(atomic_load(&sampling)) {
		size_t now = __sanitizer_get_current_allocated_bytes();
		if(now > atomic_load(&heap_peak))
			atomic_store(&heap_peak, now);
		g_usleep(1000);
	}
	return NULL;
}

static double rss_now(void) {
	return (double)__sanitizer_get_current_allocated_bytes() / MIB;
}

static double rss_peak(void) {
	return (double)atomic_load(&heap_peak) / MIB;
}

static void rss_reset_peak(void) {
	atomic_store(&heap_peak, __sanitizer_get_current_allocated_bytes());
	if(sampler == NULL) {
		atomic_store(&sampling, 1);
		sampler = g_thread_new("heap sampler", sample_heap, NULL);
	}
}
#else
#define MEM_NAME "RSS"
/* Resident memory now, and the peak since the last reset (MiB). */
static double rss_now(void) {
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if(f != NULL) {
		if(fscanf(f, "%ld %ld", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (double)resident * (double)sysconf(_SC_PAGESIZE) / MIB;
}

static double rss_peak(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kib = 0;
	while(f != NULL && fgets(line, sizeof(line), f) != NULL)
		if(strncmp(line, "VmHWM:", 6) == 0)
			kib = strtod(line + 6, NULL);
	if(f != NULL)
		fclose(f);
	return kib / 1024.0;
}

/* Resets the peak to the current RSS (Linux 4.0+), so that the peak after
 * a stream is that stream's. */
static void rss_reset_peak(void) {
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if(f != NULL) {
		fputs("5", f);
		fclose(f);
	}
}
#endif

/* After the hostile stream: a normal one on the same session decodes and
 * is processed again. */
static void check_recovers(session *a, const char *codec) {
	uint64_t decoded = atomic_load(&a->stats.frames_decoded);
	int results = atomic_load(&a->results);
	stream_normal(a, codec, 40);
	uint64_t now = wait_decoded(a, decoded + 30, 3000);
	int got = wait_atleast(&a->results, results + 10, 5000);
	printf("# session A afterwards: %lu more frames decoded of 40, %d more results\n",
		(unsigned long)(now - decoded), got - results);
	EXPECT(now >= decoded + 30);
	EXPECT(got >= results + 10);
}

/* --------------------------------------------------- a frame that never ends */

static void test_frame_that_never_ends(void) {
	session *a = session_start("vp8", NULL), *b = session_start("vp8", NULL);
	REQUIRE(a->ing != NULL && b->ing != NULL);
	stream_normal(a, "vp8", 10);
	wait_atleast(&a->results, 5, 5000);
	bystander by;
	int b_before = atomic_load(&b->results);
	bystander_begin(&by, b, "vp8");
	g_usleep(200000);
	double base = rss_now();
	rss_reset_peak();
	/* 200 MB at one timestamp: the first packet starts a keyframe, no
	 * packet ever carries the marker. */
	enum { PAYLOAD = 1100, PACKETS = 200 * 1000 * 1000 / PAYLOAD };
	uint8_t pkt[12 + 1 + PAYLOAD];
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x80;
	pkt[1] = 96;
	pkt[4] = 0x40; pkt[5] = 0x00; pkt[6] = 0x12; pkt[7] = 0x34;	/* one timestamp */
	pkt[8] = 0xba; pkt[9] = 0xad; pkt[10] = 0xf0; pkt[11] = 0x0d;
	for(int i = 0; i < PAYLOAD; i++)
		pkt[13 + i] = (uint8_t)(i * 31 + 7);
	for(int i = 0; i < PACKETS; i++) {
		pkt[12] = i == 0 ? 0x10 : 0x00;	/* S on the first packet only */
		pkt[13] = i == 0 ? 0x10 : (uint8_t)i;	/* P=0: a keyframe */
		send_packet(pkt, sizeof(pkt), a);
		if(i % 256 == 255)
			g_usleep(1000);	/* the ingest thread keeps up: this measures assembly, not the queue */
	}
	g_usleep(300000);
	double peak = rss_peak(), after = rss_now();
	printf("# never-ending frame: %d packets (%.0f MB) pushed; " MEM_NAME " %.1f MiB before, peak %.1f, after %.1f MiB\n",
		PACKETS, PACKETS * (double)PAYLOAD / 1e6, base, peak, after);
	printf("# %lu packets dropped (queue full)\n", (unsigned long)atomic_load(&a->stats.packets_dropped));
	printf("# counted: %lu frames over the cap\n", (unsigned long)atomic_load(&a->stats.frames_over_cap));
	EXPECT(atomic_load(&a->stats.frames_over_cap) >= 1);
	EXPECT(peak - base < GROWTH_BOUND_MIB);
	EXPECT(after - base < GROWTH_BOUND_MIB);
	bystander_end(&by, b_before);
	check_recovers(a, "vp8");
	session_stop(a);
	session_stop(b);
}

/* ---------------------------------------------------------- huge pictures */

/* Rewrites every keyframe to claim a huge picture; inter frames go as
 * encoded (and are dropped, waiting for a keyframe that passes). */
typedef struct resizer {
	uint8_t buf[256 * 1024];
	int n;
} resizer;

static const uint8_t *vp8_claim_huge(const uint8_t *bits, size_t *len, int keyframe, void *user) {
	resizer *r = user;
	if(!keyframe || *len < 10 || *len > sizeof(r->buf))
		return bits;
	memcpy(r->buf, bits, *len);
	/* Sizes libavcodec accepts (8000 x 8000: 96 MB a picture) and the largest
	 * a VP8 header can say. */
	unsigned side = r->n++ % 2 ? 16383 : 8000;
	craft_vp8_resize(r->buf, side, side);
	return r->buf;
}

/* The access unit with its SPS rewritten to 8192 x 8192 (coded), all else
 * as the encoder wrote it: the PPS and IDR slice that follow still parse. */
static const uint8_t *h264_claim_huge(const uint8_t *bits, size_t *len, int keyframe, void *user) {
	resizer *r = user;
	(void)keyframe;
	size_t n = *len;
	for(size_t i = 0; i + 4 < n; i++) {
		if(!(bits[i] == 0 && bits[i + 1] == 0 && bits[i + 2] == 1 && (bits[i + 3] & 0x1f) == 7))
			continue;
		size_t start = i + 3, end = start + 1;
		while(end + 2 < n && !(bits[end] == 0 && bits[end + 1] == 0 && (bits[end + 2] == 1 ||
				(bits[end + 2] == 0 && end + 3 < n && bits[end + 3] == 1))))
			end++;
		if(end + 2 >= n)
			end = n;
		ooblex_h264_sps sps;
		if(ooblex_h264_parse_sps(bits + start, end - start, &sps) < 0)
			return bits;
		craft_sps f = craft_sps_from(&sps);
		f.width_mbs_minus1 = f.height_map_units_minus1 = 511;
		uint8_t nal[2 * 4096];
		size_t nal_len = craft_write_sps(&f, nal);
		if(n - (end - start) + nal_len > sizeof(r->buf))
			return bits;
		memcpy(r->buf, bits, start);
		memcpy(r->buf + start, nal, nal_len);
		memcpy(r->buf + start + nal_len, bits + end, n - end);
		*len = n - (end - start) + nal_len;
		r->n++;
		return r->buf;
	}
	return bits;
}

static void huge_pictures(const char *codec, video_tamper_fn tamper) {
	session *a = session_start(codec, NULL), *b = session_start(codec, NULL);
	REQUIRE(a->ing != NULL && b->ing != NULL);
	stream_normal(a, codec, 10);
	wait_atleast(&a->results, 5, 5000);
	bystander by;
	int b_before = atomic_load(&b->results);
	bystander_begin(&by, b, codec);
	g_usleep(200000);
	uint64_t errors_before = atomic_load(&a->stats.decode_errors);
	uint64_t decoded_before = atomic_load(&a->stats.frames_decoded);
	double base = rss_now();
	rss_reset_peak();
	static resizer r;
	r.n = 0;
	enum { N = 20 };
	video_test_source *src = video_test_source_new(codec, W, H, 30, 1000);
	REQUIRE(src != NULL);
	video_test_source_tamper(src, tamper, &r);
	for(int i = 0; i < N; i++) {
		video_test_source_force_keyframe(src);
		video_test_source_next(src, send_packet, a);
		g_usleep(20000);
	}
	video_test_source_free(src);
	g_usleep(500000);
	double peak = rss_peak(), after = rss_now();
	uint64_t decoded = atomic_load(&a->stats.frames_decoded) - decoded_before;
	printf("# %s: %d keyframes claiming huge pictures (%d rewritten); " MEM_NAME " %.1f MiB before, peak %.1f, after %.1f; "
		"%lu decoded, %lu decode errors\n", codec, N, r.n, base, peak, after, (unsigned long)decoded,
		(unsigned long)(atomic_load(&a->stats.decode_errors) - errors_before));
	printf("# counted: %lu refused as too large\n", (unsigned long)atomic_load(&a->stats.frames_too_large));
	EXPECT_EQ(r.n, N);
	EXPECT_EQ(atomic_load(&a->stats.frames_too_large), N);
	/* Refused before decoding: libavcodec never saw them. */
	EXPECT_EQ(decoded, 0);
	EXPECT_EQ(atomic_load(&a->stats.decode_errors), errors_before);
	EXPECT(peak - base < GROWTH_BOUND_MIB);
	bystander_end(&by, b_before);
	check_recovers(a, codec);
	session_stop(a);
	session_stop(b);
}

static void test_vp8_keyframes_claiming_huge_pictures(void) {
	huge_pictures("vp8", vp8_claim_huge);
}

static void test_h264_sps_claiming_a_huge_picture(void) {
	huge_pictures("h264", h264_claim_huge);
}

/* --------------------------------------------------------- keyframe floods */

typedef struct kf_sizes {
	size_t min, total;
	int n;
} kf_sizes;

static const uint8_t *note_keyframe(const uint8_t *bits, size_t *len, int keyframe, void *user) {
	kf_sizes *k = user;
	if(keyframe) {
		k->n++;
		k->total += *len;
		if(k->min == 0 || *len < k->min)
			k->min = *len;
	}
	return bits;
}

/* Every frame a keyframe, as fast as the encoder makes them (no pacing:
 * the flood is the point). Returns the frames decoded during the flood and
 * how long it lasted. */
static uint64_t flood(session *a, const char *codec, int n, kf_sizes *k, double *seconds) {
	uint64_t before = atomic_load(&a->stats.frames_decoded);
	video_test_source *src = video_test_source_new(codec, W, H, 30, 3000);
	video_test_source_tamper(src, note_keyframe, k);
	gint64 t0 = g_get_monotonic_time();
	for(int i = 0; i < n && src != NULL; i++) {
		video_test_source_force_keyframe(src);
		video_test_source_next(src, send_packet, a);
		if(i % 8 == 7)
			g_usleep(1000);	/* the packet queue is not what is under test */
	}
	video_test_source_free(src);
	g_usleep(300000);
	*seconds = (double)(g_get_monotonic_time() - t0) / 1e6;
	return atomic_load(&a->stats.frames_decoded) - before;
}

static void test_keyframe_flood(void) {
	/* A: the default count budget (4 a second). */
	session *a = session_start("vp8", NULL), *b = session_start("vp8", NULL);
	REQUIRE(a->ing != NULL && b->ing != NULL);
	stream_normal(a, "vp8", 10);
	wait_atleast(&a->results, 5, 5000);
	g_usleep(1200000);	/* the budget refills */
	bystander by;
	int b_before = atomic_load(&b->results);
	bystander_begin(&by, b, "vp8");
	double base = rss_now();
	rss_reset_peak();
	kf_sizes k = { 0, 0, 0 };
	double secs = 0;
	uint64_t decoded = flood(a, "vp8", 300, &k, &secs);
	double peak = rss_peak();
	/* An upper bound that only loosens on a slow machine: the bucket's
	 * second of burst, then 4 a second for as long as the flood lasted. */
	double allowed = 4 + 4 * secs + 1;
	printf("# keyframe flood: %d keyframes (%.1f KB each on average) in %.2f s, %lu decoded (at most %.0f "
		"allowed); " MEM_NAME " %.1f MiB before, peak %.1f\n", k.n, k.n ? k.total / 1e3 / k.n : 0.0, secs,
		(unsigned long)decoded, allowed, base, peak);
	printf("# counted: %lu keyframes over the budget\n", (unsigned long)atomic_load(&a->stats.keyframes_over_budget));
	EXPECT_EQ(k.n, 300);
	EXPECT(decoded >= 1);
	EXPECT((double)decoded <= allowed);
	EXPECT(atomic_load(&a->stats.keyframes_over_budget) >= (uint64_t)(k.n - (int)allowed - 1));
	EXPECT(peak - base < GROWTH_BOUND_MIB);
	bystander_end(&by, b_before);
	g_usleep(1200000);
	check_recovers(a, "vp8");
	session_stop(a);
	session_stop(b);
}

static void test_keyframe_byte_budget(void) {
	/* Big keyframes rather than many: 1000 a second may pass, but only
	 * 64 KiB of them a second (and 64 KiB at once). */
	ooblex_ingest_config limits;
	memset(&limits, 0, sizeof(limits));
	limits.max_keyframes_per_s = 1000;
	limits.max_keyframe_bytes_per_s = 64 * 1024;
	limits.max_frame_bytes = 64 * 1024;
	session *a = session_start("h264", &limits);
	REQUIRE(a->ing != NULL);
	stream_normal(a, "h264", 10);
	wait_atleast(&a->results, 5, 5000);
	g_usleep(1200000);
	kf_sizes k = { 0, 0, 0 };
	double secs = 0;
	uint64_t decoded = flood(a, "h264", 200, &k, &secs);
	double allowed = k.min ? (64 * 1024 + 64 * 1024 * secs) / (double)k.min + 1 : 0;
	printf("# keyframe byte flood: %d keyframes of %zu bytes at least in %.2f s, %lu decoded (at most %.0f allowed)\n",
		k.n, k.min, secs, (unsigned long)decoded, allowed);
	printf("# counted: %lu keyframes over the budget\n", (unsigned long)atomic_load(&a->stats.keyframes_over_budget));
	EXPECT_EQ(k.n, 200);
	EXPECT(decoded >= 1);
	EXPECT((double)decoded <= allowed);
	EXPECT(atomic_load(&a->stats.keyframes_over_budget) >= 1);
	g_usleep(1200000);
	check_recovers(a, "h264");
	session_stop(a);
}

int main(void) {
	if(harness_init() < 0) {
		fprintf(stderr, "OOBLEX_TEST_REDIS_PORT or OOBLEX_TEST_WORKER is not set: run tests/integration/run.sh\n");
		return 2;
	}
	av_log_set_level(AV_LOG_QUIET);
#ifdef UNDER_ASAN
	printf("# under ASan: memory is the heap in use (its quarantine inflates RSS), not RSS\n");
#endif
	char err[256];
	producer = ooblex_producer_start(&harness_redis, 1024, NULL, err, sizeof(err));
	reader = ooblex_reader_start(&harness_redis, 20, on_result, on_tick, NULL, NULL, err, sizeof(err));
	if(producer == NULL || reader == NULL) {
		fprintf(stderr, "cannot start Redis threads: %s\n", err);
		return 2;
	}
	TEST_RUN(test_frame_that_never_ends);
	TEST_RUN(test_vp8_keyframes_claiming_huge_pictures);
	TEST_RUN(test_h264_sps_claiming_a_huge_picture);
	TEST_RUN(test_keyframe_flood);
	TEST_RUN(test_keyframe_byte_budget);
#ifdef UNDER_ASAN
	atomic_store(&sampling, 0);
	if(sampler != NULL)
		g_thread_join(sampler);
#endif
	ooblex_reader_stop(reader);
	ooblex_producer_stop(producer);
	return tl_done();
}
