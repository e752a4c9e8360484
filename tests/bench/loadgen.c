/*
 * loadgen.c - N concurrent camera sessions of pre-encoded video through the
 * plugin's data path, with a real Redis and real workers.
 *
 * What it drives: per session, the plugin's own ingest (jitter buffer,
 * depacketizer, libavcodec decoder, sampler, packer) fed at 30 fps with RTP
 * packets encoded once at start-up (no encoder in the loop), the plugin's
 * own Redis producer and result reader, and the plugin's own return path
 * (egress.h) set up as the plugin's defaults: result checks, the reorder
 * buffer (adaptive wait, 15..150 ms), then the data channel's JSON metadata,
 * chunking and ack window, or the video track's thread (JPEG decode,
 * libvpx/libx264 encode, packetizer). What it leaves out is Janus itself:
 * ICE, DTLS, SRTP, SCTP and the Janus callbacks (the Chromium runs of
 * tests/bench/run.sh measure those). Chunks and video packets are counted,
 * not sent anywhere: the viewer (tests/fake_page.h) acks each frame at once.
 *
 * For each session count of a sweep it reports, over a measured window:
 * per-stage latency (p50/p95/p99), processed fps per client, drops (frames
 * the viewer should have got at 30/FRAME_SKIP fps and did not), the CPU of
 * the data path's threads per decoded frame against libavcodec's decode (and
 * encode, for the video track) of the same frames timed alone in the same
 * process, the CPU of the workers and Redis, and memory per session. The
 * sweep stops at the first count that misses the aims (p95 <= --max-p95-ms,
 * drops <= --max-drops-pct). Output: one JSON document on stdout.
 *
 *   loadgen --port REDIS_PORT [--codec vp8|h264] [--skip N] [--sessions 1,2,4,...]
 *           [--output datachannel|video] [--effect NAME] [--source FILE.avi]
 *           [--noise LEVELS] [--warmup S] [--seconds S] [--watch name=pid]... [--no-stop]
 *           [--format i420|jpeg]   (how frames travel to the workers, as general.frame_format)
 *           [--reply-format auto|i420|jpeg]   (what workers answer video-only sessions with, as
 *           general.video_reply_format: auto = i420 with --output video unless --format jpeg)
 *   loadgen --port REDIS_PORT --throughput FRAMES --effect NAME [--queue KEY] [--source FILE]
 *           (frames straight into frames_to_process: the fleet's rate alone)
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "egress.h"
#include "fake_page.h"
#include "footage.h"
#include "depay.h"
#include "frame_packer.h"
#include "ingest.h"
#include "ooblex_keys.h"
#include "ooblex_redis.h"
#include "ooblex_wire.h"
#include "producer.h"
#include "results.h"
#include "rtp_packet.h"
#include "video_decoder.h"
#include "video_encoder.h"
#include "rtp_packetizer.h"
#include "video_test_source.h"

#include "encoded_source.h"

#define MAX_SESSIONS 128

/* ------------------------------------------------------------- clocks */

static double thread_cpu_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double process_cpu_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* utime + stime of another process, in ms (clock-tick resolution). */
static double proc_cpu_ms(const char *which) {
	char path[128], buf[1024];
	snprintf(path, sizeof(path), "/proc/%s/stat", which);
	FILE *f = fopen(path, "r");
	if(f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces: ") S ppid ..." */
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	if(p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (ut + st) * 1000.0 / sysconf(_SC_CLK_TCK);
}

static long rss_kib(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while(f != NULL && fgets(line, sizeof(line), f) != NULL)
		if(sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if(f != NULL)
		fclose(f);
	return kib;
}

static void sleep_until_us(uint64_t mono_us) {
	struct timespec ts = { (time_t)(mono_us / 1000000), (long)(mono_us % 1000000) * 1000 };
	while(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint64_t mono_us(void) {
	return (uint64_t)g_get_monotonic_time();
}

/* ------------------------------------------------------------- sessions */

/* Delivered frames, for percentiles over the window. */
typedef struct sample {
	uint64_t capture, queued, worker_start, worker_end, returned, sent;
} sample;

typedef struct session {
	uint8_t client_id[OOBLEX_CLIENT_ID_LEN];
	char hex[OOBLEX_CLIENT_ID_HEX_LEN + 1];
	char result_key[OOBLEX_KEY_MAX];
	ooblex_ingest *ingest;
	ooblex_ingest_stats stats;
	atomic_int ingest_done;
	/* sending side, pacer thread only */
	uint16_t rtp_seq;
	uint32_t ssrc;
	/* return side: the plugin's return path, and the viewer (reader thread) */
	ooblex_egress *egress;
	fake_page page;
	atomic_uint_fast64_t delivered_in_window;
	uint64_t frames_sent_in_window;	/* pacer */
	atomic_uint_fast64_t video_packets;	/* what the video track sent */
} session;

typedef struct run_config {
	const char *codec;
	unsigned skip;
	const char *effect;
	gboolean video_output;
	double warmup_s, seconds_s;
	uint8_t frame_pixfmt;	/* OOBLEX_PIXFMT_I420 or _JPEG (--format) */
	const char *reply_format;	/* --reply-format: auto, i420 or jpeg */
} run_config;

/* As the plugin's janus_ooblex_reply_pixfmt: the data channel needs JPEG. */
static uint8_t reply_pixfmt(const run_config *rc) {
	if(!rc->video_output || !strcmp(rc->reply_format, "jpeg"))
		return OOBLEX_PIXFMT_JPEG;
	if(!strcmp(rc->reply_format, "i420"))
		return OOBLEX_PIXFMT_I420;
	return rc->frame_pixfmt == OOBLEX_PIXFMT_JPEG ? OOBLEX_PIXFMT_JPEG : OOBLEX_PIXFMT_I420;
}

static ooblex_producer *producer;
static ooblex_reader *reader;
static ooblex_result_gate *gate;	/* as the plugin's: one, for the reader thread */
static GMutex table_lock;
static GHashTable *by_key;	/* result key -> session */
static session *sessions[MAX_SESSIONS];
static int n_sessions;
static GMutex samples_lock;
static GArray *samples;
static uint64_t window_start_us, window_end_us;	/* wall clock, capture times counted */

static int receive_chunk(const uint8_t *msg, size_t len, void *user) {
	session *s = user;
	return fake_page_receive(&s->page, msg, len);
}

static void count_video_packet(const uint8_t *packet, size_t len, void *user) {
	session *s = user;
	(void)packet;
	(void)len;
	atomic_fetch_add(&s->video_packets, 1);
}

/* A frame the return path sent (data channel or video track): timed, when
 * it was captured inside the window. */
static void delivered(const ooblex_frame_header *h, const uint8_t *payload, uint64_t returned, uint64_t sent,
		void *user) {
	session *s = user;
	(void)payload;
	if(h->capture_us >= window_start_us && h->capture_us < window_end_us) {
		atomic_fetch_add(&s->delivered_in_window, 1);
		sample smp = { h->capture_us, h->queued_us, h->worker_start_us, h->worker_end_us, returned, sent };
		g_mutex_lock(&samples_lock);
		g_array_append_val(samples, smp);
		g_mutex_unlock(&samples_lock);
	}
}

static const ooblex_egress_host egress_host = {
	.send_data = receive_chunk,
	.send_rtp = count_video_packet,
	.delivered = delivered,
};

/* Reader thread. table_lock is held throughout: a session is only freed
 * after it left the table. */
static void on_result(const char *key, const uint8_t *msg, size_t len, void *user) {
	(void)user;
	g_mutex_lock(&table_lock);
	session *s = g_hash_table_lookup(by_key, key);
	if(s != NULL) {
		ooblex_egress_on_result(s->egress, msg, len);
		fake_page_send_acks(&s->page, s->egress);
	}
	g_mutex_unlock(&table_lock);
}

static void on_tick(void *user) {
	(void)user;
	g_mutex_lock(&table_lock);
	for(int i = 0; i < n_sessions; i++) {
		ooblex_egress_tick(sessions[i]->egress);
		fake_page_send_acks(&sessions[i]->page, sessions[i]->egress);
	}
	g_mutex_unlock(&table_lock);
}

static void ingest_keyframe(void *user) {
	(void)user;	/* pre-encoded: a keyframe comes with the next loop of the clip */
}

static void ingest_frame(uint8_t *msg, size_t len, void *user) {
	(void)user;
	ooblex_producer_push_frame(producer, reader, msg, len);
}

static void ingest_stopped(void *user) {
	session *s = user;
	atomic_store(&s->ingest_done, 1);
}

static session *session_start(const run_config *rc) {
	session *s = g_new0(session, 1);
	for(int i = 0; i < OOBLEX_CLIENT_ID_LEN; i++)
		s->client_id[i] = (uint8_t)g_random_int();
	ooblex_client_id_to_hex(s->client_id, s->hex);
	ooblex_key_processed(s->result_key, s->hex);
	s->ssrc = g_random_int();
	s->rtp_seq = (uint16_t)g_random_int();
	/* As janus_ooblex.c sets a session up with the default configuration. */
	ooblex_egress_config ecfg = {
		.gate = gate,
		.reorder_wait_ms = 150,
		.reorder_adaptive = 1,
		.reorder_min_wait_ms = 15,
		.dc_max_unacked_frames = 8,
		.video_bitrate_bps = 1500 * 1000,
		.video_fps = (int)(FPS / rc->skip),
		.full_range = &s->stats.full_range,
	};
	s->egress = ooblex_egress_new(&ecfg, &egress_host, s);
	ooblex_egress_restart(s->egress, s->client_id);
	char err[256];
	if(ooblex_egress_set_output(s->egress, rc->video_output ? OOBLEX_OUTPUT_VIDEO : OOBLEX_OUTPUT_DATACHANNEL,
			ooblex_codec_from_name(rc->codec), rc->codec[0] == 'h' ? 102 : 96, err, sizeof(err)) < 0) {
		fprintf(stderr, "loadgen: %s\n", err);
		exit(1);
	}
	fake_page_init(&s->page, 0);
	fake_page_hello(&s->page, s->egress);
	ooblex_ingest_config icfg = {
		.codec = rc->codec,
		.frame_skip = rc->skip,
		.effect = rc->effect,
		.frame_pixfmt = rc->frame_pixfmt,
		.max_width = 1280,
		.max_height = 720,
		.reply_pixfmt = reply_pixfmt(rc),
		.jpeg_quality = 80,
		.max_queued_packets = 2000,
		.pli_interval_ms = 500,
		.deadline_ms = 1000,
		.max_in_flight = 6,
		.resolved_seq = ooblex_egress_resolved_seq(s->egress),
		.queued_seq = ooblex_egress_queued_seq(s->egress),
		.stats = &s->stats,
	};
	memcpy(icfg.client_id, s->client_id, OOBLEX_CLIENT_ID_LEN);
	static const ooblex_ingest_callbacks icb = { ingest_keyframe, ingest_frame, ingest_stopped };
	s->ingest = ooblex_ingest_start(&icfg, &icb, s, err, sizeof(err));
	if(s->ingest == NULL) {
		fprintf(stderr, "loadgen: %s\n", err);
		exit(1);
	}
	return s;
}

static void session_free(session *s) {
	while(!atomic_load(&s->ingest_done))
		g_usleep(2000);
	ooblex_egress_free(s->egress);
	fake_page_clear(&s->page);
	g_free(s);
}

/* ------------------------------------------------------------- the pacer */

typedef struct pacer {
	uint64_t start_mono, end_mono;	/* sending period */
	uint64_t window_mono_start, window_mono_end;
	double cpu_ms;
} pacer;

/* Sends every session's frames at 30 fps, the sessions spread evenly over
 * a frame interval as independent cameras would be. */
static gpointer pacer_thread(gpointer data) {
	pacer *p = data;
	const double interval = 1e6 / FPS;
	uint8_t buf[1600];
	double cpu0 = thread_cpu_ms();
	for(uint64_t tick = 0;; tick++) {
		for(int i = 0; i < n_sessions; i++) {
			uint64_t at = p->start_mono + (uint64_t)(tick * interval + i * interval / n_sessions);
			if(at >= p->end_mono) {
				p->cpu_ms = thread_cpu_ms() - cpu0;
				return NULL;
			}
			sleep_until_us(at);
			session *s = sessions[i];
			source_frame *f = &source[tick % source_n];
			uint32_t ts = (uint32_t)(tick * (90000 / FPS));
			for(guint off = 0; off < f->packets->len;) {
				uint16_t len;
				memcpy(&len, f->packets->data + off, sizeof(len));
				off += sizeof(len);
				memcpy(buf, f->packets->data + off, len);
				off += len;
				/* This session's stream: its own SSRC, sequence and timestamps. */
				buf[2] = (uint8_t)(s->rtp_seq >> 8);
				buf[3] = (uint8_t)s->rtp_seq;
				s->rtp_seq++;
				buf[4] = (uint8_t)(ts >> 24), buf[5] = (uint8_t)(ts >> 16), buf[6] = (uint8_t)(ts >> 8), buf[7] = (uint8_t)ts;
				buf[8] = (uint8_t)(s->ssrc >> 24), buf[9] = (uint8_t)(s->ssrc >> 16);
				buf[10] = (uint8_t)(s->ssrc >> 8), buf[11] = (uint8_t)s->ssrc;
				ooblex_ingest_push_rtp(s->ingest, buf, len);
			}
			if(at >= p->window_mono_start && at < p->window_mono_end)
				s->frames_sent_in_window++;
		}
	}
}

/* ------------------------------------------------------------- figures */

static int cmp_u64(const void *a, const void *b) {
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* p50/p95/p99 in ms of one stage over the samples: end - start per sample. */
static json_t *percentiles(size_t off_start, size_t off_end) {
	guint n = samples->len;
	uint64_t *v = g_new(uint64_t, n ? n : 1);
	guint k = 0;
	for(guint i = 0; i < n; i++) {
		const sample *s = &g_array_index(samples, sample, i);
		uint64_t a = *(const uint64_t *)((const char *)s + off_start), b = *(const uint64_t *)((const char *)s + off_end);
		if(a != 0 && b >= a)
			v[k++] = b - a;
	}
	qsort(v, k, sizeof(*v), cmp_u64);
	json_t *o = json_object();
	if(k > 0) {
		json_object_set_new(o, "p50", json_real(v[(size_t)(k * 0.50)] / 1000.0));
		json_object_set_new(o, "p95", json_real(v[MIN((size_t)(k * 0.95), k - 1)] / 1000.0));
		json_object_set_new(o, "p99", json_real(v[MIN((size_t)(k * 0.99), k - 1)] / 1000.0));
	}
	g_free(v);
	return o;
}

#define OFF(f) offsetof(sample, f)

typedef struct watched {
	char name[32];
	char pid[16];
	double before;
} watched;

static watched watch[16];
static int n_watch;

/* libavcodec alone on the same frames, in this process: decode (and encode
 * at the processed rate) CPU per frame. Timed with the thread's CPU clock. */
static void reference_costs(const char *codec, gboolean with_encode, double *decode_ms, double *encode_ms) {
	char err[256];
	ooblex_decoder *d = ooblex_decoder_new(codec, 1, err, sizeof(err));
	double t0 = thread_cpu_ms();
	int decoded = 0;
	AVFrame *decoded_pic;
	for(int i = 0; i <= source_n; i++) {
		if(i < source_n)
			ooblex_decoder_decode(d, source[i].bitstream->data, source[i].bitstream->len, i);
		else
			ooblex_decoder_drain(d);
		while(ooblex_decoder_next(d, &decoded_pic) == 1)
			decoded++;
	}
	*decode_ms = (thread_cpu_ms() - t0) / MAX(decoded, 1);
	ooblex_decoder_free(d);
	*encode_ms = 0;
	if(!with_encode)
		return;
	ooblex_video_encoder *e = ooblex_video_encoder_new(ooblex_codec_from_name(codec), 1500 * 1000, FPS);
	uint8_t *i420 = malloc(I420_SIZE);
	double total = 0;
	int encoded = 0;
	for(int i = 0; i < source_n; i++) {
		AVFrame *pic = source_pictures[i];
		if(pic == NULL)
			continue;
		/* Packed as the output thread has it (after its JPEG decode, or as the worker's I420). */
		av_image_copy_to_buffer(i420, I420_SIZE, (const uint8_t *const *)pic->data, pic->linesize, AV_PIX_FMT_YUV420P,
			W, H, 1);
		const uint8_t *out;
		size_t len;
		int key;
		uint64_t tag;
		double t = thread_cpu_ms();
		if(ooblex_video_encoder_encode(e, i420, W, H, 0, (uint64_t)i * 1000000 / FPS, (uint64_t)i, err, sizeof(err)) == 0)
			while(ooblex_video_encoder_next(e, &out, &len, &key, &tag) == 1)
				encoded++;
		total += thread_cpu_ms() - t;
	}
	*encode_ms = total / MAX(encoded, 1);
	free(i420);
	ooblex_video_encoder_free(e);
}

static long long redis_used_memory(redisContext *c) {
	redisReply *r = redisCommand(c, "INFO memory");
	long long v = -1;
	const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_memory:") : NULL;
	if(p != NULL)
		v = atoll(p + strlen("used_memory:"));
	freeReplyObject(r);
	return v;
}

/* One step of the sweep: n sessions for warmup + seconds, then a drain. */
static json_t *run_step(int n, const run_config *rc, redisContext *rcon, double ref_decode, double ref_encode) {
	g_array_set_size(samples, 0);
	long rss0 = rss_kib();
	long long redis0 = redis_used_memory(rcon);
	g_mutex_lock(&table_lock);
	for(int i = 0; i < n; i++) {
		sessions[i] = session_start(rc);
		g_hash_table_insert(by_key, sessions[i]->result_key, sessions[i]);
		ooblex_reader_watch(reader, sessions[i]->result_key);
	}
	n_sessions = n;
	g_mutex_unlock(&table_lock);

	pacer p = { 0 };
	p.start_mono = mono_us() + 100 * 1000;
	p.window_mono_start = p.start_mono + (uint64_t)(rc->warmup_s * 1e6);
	p.window_mono_end = p.window_mono_start + (uint64_t)(rc->seconds_s * 1e6);
	p.end_mono = p.window_mono_end;
	uint64_t wall_minus_mono = ooblex_now_us() - mono_us();
	window_start_us = p.window_mono_start + wall_minus_mono;
	window_end_us = p.window_mono_end + wall_minus_mono;
	GThread *pt = g_thread_new("loadgen pacer", pacer_thread, &p);

	/* Snapshot CPU and memory at the window's edges. */
	sleep_until_us(p.window_mono_start);
	/* For tests/bench/run.sh: a profiler may attach now. */
	fprintf(stderr, "loadgen: measuring %d sessions\n", n);
	double self0 = process_cpu_ms(), main0 = thread_cpu_ms();
	uint64_t decoded0 = 0;
	for(int i = 0; i < n; i++)
		decoded0 += atomic_load(&sessions[i]->stats.frames_decoded);
	for(int i = 0; i < n_watch; i++)
		watch[i].before = proc_cpu_ms(watch[i].pid);
	sleep_until_us(p.window_mono_start + (p.window_mono_end - p.window_mono_start) / 2);
	long rss_mid = rss_kib();
	long long redis_mid = redis_used_memory(rcon);
	sleep_until_us(p.window_mono_end);
	g_thread_join(pt);
	double self1 = process_cpu_ms(), main1 = thread_cpu_ms();
	uint64_t decoded1 = 0, frames_sent = 0, delivered = 0;
	json_t *watched_cpu = json_object();
	for(int i = 0; i < n_watch; i++)
		json_object_set_new(watched_cpu, watch[i].name,
			json_real((proc_cpu_ms(watch[i].pid) - watch[i].before) / (rc->seconds_s * 1000.0)));
	for(int i = 0; i < n; i++)
		decoded1 += atomic_load(&sessions[i]->stats.frames_decoded);
	/* Results of the window's last frames may still be on their way. */
	g_usleep(1200 * 1000);
	json_t *per_client_fps = json_array();
	double min_fps = 1e9, sum_fps = 0;
	uint64_t packets_dropped = 0, decode_errors = 0, deferred = 0, chunks = 0, video_packets = 0;
	g_mutex_lock(&table_lock);
	for(int i = 0; i < n; i++) {
		session *s = sessions[i];
		uint64_t got = atomic_load(&s->delivered_in_window);
		double fps = got / rc->seconds_s;
		frames_sent += s->frames_sent_in_window;
		delivered += got;
		json_array_append_new(per_client_fps, json_real(fps));
		min_fps = MIN(min_fps, fps);
		sum_fps += fps;
		packets_dropped += atomic_load(&s->stats.packets_dropped);
		decode_errors += atomic_load(&s->stats.decode_errors);
		deferred += atomic_load(&s->stats.frames_deferred);
		chunks += atomic_load(&ooblex_egress_get_stats(s->egress)->chunks_sent);
		video_packets += atomic_load(&s->video_packets);
		ooblex_reader_unwatch(reader, s->result_key);
		g_hash_table_remove(by_key, s->result_key);
		ooblex_ingest_stop(s->ingest);
	}
	n_sessions = 0;
	g_mutex_unlock(&table_lock);
	for(int i = 0; i < n; i++) {
		redisReply *r = redisCommand(rcon, "DEL %s", sessions[i]->result_key);
		freeReplyObject(r);
		session_free(sessions[i]);
		sessions[i] = NULL;
	}

	double expected = (double)frames_sent / rc->skip;
	double drops_pct = expected > 0 ? MAX(0.0, 100.0 * (1.0 - delivered / expected)) : 100.0;
	/* The data path's CPU: every thread of this process but the pacer (the
	 * load generator's own work) and this one (which only sleeps and reads /proc). */
	double path_cpu_ms = (self1 - self0) - p.cpu_ms * (rc->seconds_s / (rc->warmup_s + rc->seconds_s)) - (main1 - main0);
	uint64_t decoded = decoded1 - decoded0;
	double cpu_per_frame = decoded ? path_cpu_ms / decoded : 0;
	double reference = ref_decode + (rc->video_output ? ref_encode / rc->skip : 0);

	json_t *stages = json_object();
	json_object_set_new(stages, "decode", percentiles(OFF(capture), OFF(queued)));
	json_object_set_new(stages, "queue", percentiles(OFF(queued), OFF(worker_start)));
	json_object_set_new(stages, "worker", percentiles(OFF(worker_start), OFF(worker_end)));
	json_object_set_new(stages, "return", percentiles(OFF(worker_end), OFF(returned)));
	json_object_set_new(stages, "reorder", percentiles(OFF(returned), OFF(sent)));
	json_object_set_new(stages, "total", percentiles(OFF(capture), OFF(sent)));
	json_t *total = json_object_get(stages, "total");
	double p95 = json_real_value(json_object_get(total, "p95"));

	json_t *o = json_pack("{si si sf sf sf sf sI sI sI}", "sessions", n, "frame_skip", (int)rc->skip,
		"processed_fps_per_client_mean", n ? sum_fps / n : 0.0, "processed_fps_per_client_min", n ? min_fps : 0.0,
		"drops_pct", drops_pct, "p95_ms", p95, "frames_sent", (json_int_t)frames_sent, "results_delivered",
		(json_int_t)delivered, "packets_dropped", (json_int_t)packets_dropped);
	json_object_set_new(o, "frames_deferred", json_integer((json_int_t)deferred));
	json_object_set_new(o, "decode_errors", json_integer((json_int_t)decode_errors));
	json_object_set_new(o, "chunks_sent", json_integer((json_int_t)chunks));
	json_object_set_new(o, "video_packets_sent", json_integer((json_int_t)video_packets));
	json_object_set_new(o, "stages_ms", stages);
	json_object_set_new(o, "per_client_fps", per_client_fps);
	json_object_set_new(o, "data_path_cores", json_real(path_cpu_ms / (rc->seconds_s * 1000.0)));
	json_object_set_new(o, "generator_cores", json_real(p.cpu_ms / ((rc->warmup_s + rc->seconds_s) * 1000.0)));
	json_object_set_new(o, "other_cores", watched_cpu);
	json_object_set_new(o, "data_path_cpu_ms_per_frame", json_real(cpu_per_frame));
	json_object_set_new(o, "libavcodec_ms_per_frame", json_real(reference));
	json_object_set_new(o, "cpu_ratio", json_real(reference > 0 ? cpu_per_frame / reference : 0));
	json_object_set_new(o, "rss_kib_per_session", json_real(n ? (double)(rss_mid - rss0) / n : 0));
	json_object_set_new(o, "redis_bytes_per_session", json_real(n ? (double)(redis_mid - redis0) / n : 0));
	return o;
}

/* ------------------------------------------------------------- throughput */

/* FRAMES real 640x480 frames straight into frames_to_process with `effect`;
 * the time until the last result is back is the fleet's rate alone. */
static json_t *throughput(redisContext *c, int frames, const char *effect, const char *queue) {
	ooblex_packer *pk = ooblex_packer_new(OOBLEX_PIXFMT_I420, 0, 0, 80);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char hex[OOBLEX_CLIENT_ID_HEX_LEN + 1], key[OOBLEX_KEY_MAX];
	for(int i = 0; i < OOBLEX_CLIENT_ID_LEN; i++)
		id[i] = (uint8_t)g_random_int();
	ooblex_client_id_to_hex(id, hex);
	ooblex_key_processed(key, hex);
	/* Queue everything first: the workers start on a full queue. */
	GPtrArray *msgs = g_ptr_array_new_with_free_func(free);
	GArray *lens = g_array_new(FALSE, FALSE, sizeof(size_t));
	for(int i = 0; i < frames; i++) {
		ooblex_frame_header h;
		memset(&h, 0, sizeof(h));
		h.kind = OOBLEX_KIND_FRAME;
		memcpy(h.client_id, id, sizeof(id));
		h.frame_id = h.seq = (uint32_t)(i + 1);
		h.reply_pixfmt = OOBLEX_PIXFMT_JPEG;
		h.jpeg_quality = 80;
		g_strlcpy(h.effect, effect, sizeof(h.effect));
		size_t len;
		uint8_t *m = ooblex_packer_pack(pk, source_pictures[i % source_n], &h, &len);
		g_ptr_array_add(msgs, m);
		g_array_append_val(lens, len);
	}
	uint64_t t0 = mono_us();
	for(guint i = 0; i < msgs->len; i++)
		redisAppendCommand(c, "LPUSH %s %b", queue, msgs->pdata[i], g_array_index(lens, size_t, i));
	for(guint i = 0; i < msgs->len; i++) {
		redisReply *r = NULL;
		redisGetReply(c, (void **)&r);
		freeReplyObject(r);
	}
	int got = 0;
	uint64_t first = 0;
	while(got < frames) {
		redisReply *r = redisCommand(c, "BRPOP %s 10", key);
		if(r == NULL || r->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			break;
		}
		if(got++ == 0)
			first = mono_us();
		freeReplyObject(r);
	}
	uint64_t t1 = mono_us();
	g_ptr_array_unref(msgs);
	g_array_unref(lens);
	ooblex_packer_free(pk);
	double secs = (t1 - t0) / 1e6;
	return json_pack("{sssssisisfsfsf}", "effect", effect, "queue", queue, "frames", frames, "results", got, "seconds", secs,
		"fps", got / secs, "first_result_ms", first ? (first - t0) / 1000.0 : -1.0);
}

/* ------------------------------------------------------------- main */

static void quiet_log(int level, const char *msg) {
	if(level <= 1)
		fprintf(stderr, "loadgen: %s\n", msg);
}

int main(int argc, char **argv) {
	run_config rc = { .codec = "vp8", .skip = 3, .effect = "invert", .warmup_s = 2, .seconds_s = 6,
		.frame_pixfmt = OOBLEX_PIXFMT_I420, .reply_format = "auto" };
	const char *sweep = "1", *footage = NULL, *queue = OOBLEX_KEY_FRAMES;
	int port = 0, throughput_frames = 0, noise = 2;
	double max_p95 = 100, max_drops = 1;
	gboolean no_stop = FALSE;
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' }, { "codec", required_argument, NULL, 'c' },
		{ "skip", required_argument, NULL, 'k' }, { "sessions", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' }, { "effect", required_argument, NULL, 'e' },
		{ "source", required_argument, NULL, 's' }, { "warmup", required_argument, NULL, 'w' },
		{ "seconds", required_argument, NULL, 't' }, { "watch", required_argument, NULL, 'W' },
		{ "max-p95-ms", required_argument, NULL, 'P' }, { "max-drops-pct", required_argument, NULL, 'D' },
		{ "throughput", required_argument, NULL, 'T' }, { "noise", required_argument, NULL, 'N' },
		{ "queue", required_argument, NULL, 'Q' }, { "no-stop", no_argument, NULL, 'S' },
		{ "format", required_argument, NULL, 'F' }, { "reply-format", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 } };
	for(int ch; (ch = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch(ch) {
		case 'p': port = atoi(optarg); break;
		case 'c': rc.codec = optarg; break;
		case 'k': rc.skip = (unsigned)MAX(1, atoi(optarg)); break;
		case 'n': sweep = optarg; break;
		case 'o': rc.video_output = !strcmp(optarg, "video"); break;
		case 'e': rc.effect = optarg; break;
		case 's': footage = optarg; break;
		case 'w': rc.warmup_s = atof(optarg); break;
		case 't': rc.seconds_s = atof(optarg); break;
		case 'P': max_p95 = atof(optarg); break;
		case 'D': max_drops = atof(optarg); break;
		case 'T': throughput_frames = atoi(optarg); break;
		case 'N': noise = atoi(optarg); break;
		case 'Q': queue = optarg; break;
		case 'S': no_stop = TRUE; break;
		case 'F': rc.frame_pixfmt = !strcmp(optarg, "jpeg") ? OOBLEX_PIXFMT_JPEG : OOBLEX_PIXFMT_I420; break;
		case 'R':
			if(strcmp(optarg, "auto") && strcmp(optarg, "i420") && strcmp(optarg, "jpeg")) {
				fprintf(stderr, "loadgen: --reply-format is auto, i420 or jpeg\n");
				return 2;
			}
			rc.reply_format = optarg;
			break;
		case 'W': {
			const char *eq = strchr(optarg, '=');
			if(eq != NULL && n_watch < (int)G_N_ELEMENTS(watch)) {
				g_strlcpy(watch[n_watch].name, optarg, MIN(sizeof(watch[0].name), (size_t)(eq - optarg + 1)));
				g_strlcpy(watch[n_watch].pid, eq + 1, sizeof(watch[0].pid));
				n_watch++;
			}
			break;
		}
		default:
			fprintf(stderr, "usage: see the comment at the top of tests/bench/loadgen.c\n");
			return 2;
		}
	}
	if(port <= 0 || (strcmp(rc.codec, "vp8") && strcmp(rc.codec, "h264"))) {
		fprintf(stderr, "loadgen: --port and a codec of vp8 or h264 are needed\n");
		return 2;
	}
	av_log_set_level(AV_LOG_ERROR);
	const char *what;
	if(prepare_source(rc.codec, footage, noise, &what) < 0) {
		fprintf(stderr, "loadgen: cannot encode the source\n");
		return 1;
	}
	ooblex_redis_config redis;
	ooblex_redis_config_default(&redis);
	redis.port = port;
	char err[256];
	redisContext *rcon = ooblex_redis_connect(&redis, 2000, err, sizeof(err));
	if(rcon == NULL) {
		fprintf(stderr, "loadgen: Redis: %s\n", err);
		return 1;
	}
	size_t bytes = 0, packets = 0;
	for(int i = 0; i < source_n; i++)
		bytes += source[i].bitstream->len, packets += source[i].n_packets;
	json_t *doc = json_pack("{sssssisisisfsf}", "codec", rc.codec, "source", what, "width", W, "height", H,
		"sensor_noise", noise, "source_kbps", bytes * 8.0 * FPS / source_n / 1000.0, "packets_per_frame", (double)packets / source_n);
	if(throughput_frames > 0) {
		json_object_set_new(doc, "throughput", throughput(rcon, throughput_frames, rc.effect, queue));
		json_dumpf(doc, stdout, JSON_COMPACT);
		putchar('\n');
		return 0;
	}
	double ref_decode, ref_encode;
	reference_costs(rc.codec, rc.video_output, &ref_decode, &ref_encode);
	json_object_set_new(doc, "libavcodec_decode_ms", json_real(ref_decode));
	json_object_set_new(doc, "libavcodec_encode_ms", json_real(ref_encode));
	json_object_set_new(doc, "output", json_string(rc.video_output ? "video" : "datachannel"));
	json_object_set_new(doc, "reply_format", json_string(ooblex_pixfmt_name(reply_pixfmt(&rc))));
	json_object_set_new(doc, "effect", json_string(rc.effect));
	json_object_set_new(doc, "frame_skip", json_integer(rc.skip));
	json_object_set_new(doc, "aims", json_pack("{sfsf}", "max_p95_ms", max_p95, "max_drops_pct", max_drops));

	samples = g_array_new(FALSE, FALSE, sizeof(sample));
	by_key = g_hash_table_new(g_str_hash, g_str_equal);
	ooblex_result_limits limits = { .max_width = 1280, .max_height = 720 };	/* the plugin's defaults */
	gate = ooblex_result_gate_new(&limits);
	producer = ooblex_producer_start(&redis, 64, quiet_log, err, sizeof(err));
	reader = producer ? ooblex_reader_start(&redis, 50, on_result, on_tick, NULL, quiet_log, err, sizeof(err)) : NULL;
	if(reader == NULL) {
		fprintf(stderr, "loadgen: %s\n", err);
		return 1;
	}
	/* The reader's first look at the fleet (routes) takes up to a second. */
	g_usleep(1100 * 1000);
	json_t *steps = json_array();
	int best = 0;
	gchar **counts = g_strsplit(sweep, ",", -1);
	for(int i = 0; counts[i] != NULL; i++) {
		int n = CLAMP(atoi(counts[i]), 1, MAX_SESSIONS);
		json_t *step = run_step(n, &rc, rcon, ref_decode, ref_encode);
		gboolean ok = json_real_value(json_object_get(step, "p95_ms")) <= max_p95 &&
			json_real_value(json_object_get(step, "drops_pct")) <= max_drops;
		json_object_set_new(step, "within_aims", json_boolean(ok));
		fprintf(stderr, "loadgen: %s skip %u %s, %d sessions: p95 %.1f ms, drops %.2f%%, %.1f fps/client, cpu ratio %.2f%s\n",
			rc.codec, rc.skip, rc.video_output ? "video" : "datachannel", n,
			json_real_value(json_object_get(step, "p95_ms")), json_real_value(json_object_get(step, "drops_pct")),
			json_real_value(json_object_get(step, "processed_fps_per_client_mean")),
			json_real_value(json_object_get(step, "cpu_ratio")), ok ? "" : "  (beyond the aims)");
		json_array_append_new(steps, step);
		if(ok)
			best = MAX(best, n);
		else if(!no_stop)
			break;
		g_usleep(500 * 1000);
	}
	g_strfreev(counts);
	json_object_set_new(doc, "steps", steps);
	json_object_set_new(doc, "max_sessions_within_aims", json_integer(best));
	ooblex_reader_stop(reader);
	ooblex_producer_stop(producer);
	ooblex_result_gate_free(gate);
	json_dumpf(doc, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(doc);
	redisFree(rcon);
	return 0;
}
