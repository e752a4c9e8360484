/*
 * ooblex_worker.c - a worker of the Ooblex fleet.
 *
 * Takes frames from the Redis list `frames_to_process` (BLMOVE into its own
 * processing list: each frame goes to exactly one worker, FIFO), applies the
 * frame's effect, and pushes the result (a JPEG, or I420 if asked) to
 * `processed_frames:{client_id}`, clearing its processing list in the same
 * transaction. Any number of workers may run, on any machine that reaches
 * Redis. A thread of its own keeps the worker's liveness and registry keys
 * fresh and reaps the processing lists of workers that died (ooblex_keys.h).
 *
 *   ooblex-worker [--redis-url redis://[:pw@]host[:port][/db]] [--host H] [--port P]
 *                 [--password PW] [--db N] [--id NAME] [--max-frames N] [--delay-ms N]
 * Environment: REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, OOBLEX_WORKER_ID.
 * Flags win over the environment. SIGTERM/SIGINT: finish the frame in hand, exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "effects.h"
#include "jpeg_codec.h"
#include "ooblex_keys.h"
#include "ooblex_redis.h"
#include "ooblex_wire.h"

static volatile sig_atomic_t stop_requested = 0;

#define OOBLEX_MAX_BATCH 64

static void on_signal(int sig) {
	(void)sig;
	stop_requested = 1;
}

typedef struct worker_options {
	ooblex_redis_config redis;
	char id[OOBLEX_NAME_MAX + 1];
	long max_frames;	/* 0: run until stopped */
	long delay_ms;	/* extra time per frame, to emulate a slow model in tests */
	long batch_size;	/* frames taken at once (BATCH_SIZE), for effects that gain from batches */
} worker_options;

typedef struct worker_stats {
	atomic_ulong processed;	/* read by the liveness thread too */
	unsigned long garbage, failed, stale;
} worker_stats;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

static void usage(FILE *f) {
	fprintf(f,
		"usage: ooblex-worker [options]\n"
		"  --redis-url URL   redis://[:password@]host[:port][/db] (env REDIS_URL)\n"
		"  --host HOST       Redis host (env REDIS_HOST, default 127.0.0.1)\n"
		"  --port PORT       Redis port (env REDIS_PORT, default 6379)\n"
		"  --password PW     Redis password (env REDIS_PASSWORD)\n"
		"  --db N            Redis database (default 0)\n"
		"  --id NAME         worker id in logs and results (env OOBLEX_WORKER_ID, default host:pid)\n"
		"  --max-frames N    exit after N frames (0 = never)\n"
		"  --batch-size N    take up to N frames at once (env BATCH_SIZE, default 1)\n"
		"  --delay-ms N      add N ms per frame (testing a slow worker)\n"
		"  --list-effects    print the effects this worker offers and exit\n");
}

static int parse_int(const char *s, long lo, long hi, long *out) {
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if(errno || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_options(int argc, char **argv, worker_options *o) {
	char err[256];
	long v;
	ooblex_redis_config_default(&o->redis);
	const char *env;
	if((env = getenv("REDIS_URL")) != NULL && *env && ooblex_redis_parse_url(&o->redis, env, err, sizeof(err)) < 0) {
		fprintf(stderr, "ooblex-worker: REDIS_URL: %s\n", err);
		return -1;
	}
	if((env = getenv("REDIS_HOST")) != NULL && *env)
		snprintf(o->redis.host, sizeof(o->redis.host), "%s", env);
	if((env = getenv("REDIS_PORT")) != NULL && *env) {
		if(parse_int(env, 1, 65535, &v) < 0) {
			fprintf(stderr, "ooblex-worker: REDIS_PORT: not a port: %s\n", env);
			return -1;
		}
		o->redis.port = (int)v;
	}
	if((env = getenv("REDIS_PASSWORD")) != NULL)
		snprintf(o->redis.password, sizeof(o->redis.password), "%s", env);
	char host[128] = "worker";
	gethostname(host, sizeof(host) - 1);
	snprintf(o->id, sizeof(o->id), "%s:%d", host, (int)getpid());
	if((env = getenv("OOBLEX_WORKER_ID")) != NULL && *env)
		snprintf(o->id, sizeof(o->id), "%s", env);
	o->batch_size = 1;
	if((env = getenv("BATCH_SIZE")) != NULL && *env && parse_int(env, 1, OOBLEX_MAX_BATCH, &o->batch_size) < 0) {
		fprintf(stderr, "ooblex-worker: BATCH_SIZE must be 1..%d (got %s)\n", OOBLEX_MAX_BATCH, env);
		return -1;
	}

	static const struct option longopts[] = {
		{ "redis-url", required_argument, NULL, 'u' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "password", required_argument, NULL, 'a' },
		{ "db", required_argument, NULL, 'n' },
		{ "id", required_argument, NULL, 'i' },
		{ "max-frames", required_argument, NULL, 'm' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "batch-size", required_argument, NULL, 'b' },
		{ "list-effects", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while((c = getopt_long(argc, argv, "u:H:p:a:n:i:m:d:b:lh", longopts, NULL)) != -1) {
		switch(c) {
			case 'u':
				if(ooblex_redis_parse_url(&o->redis, optarg, err, sizeof(err)) < 0) {
					fprintf(stderr, "ooblex-worker: --redis-url: %s\n", err);
					return -1;
				}
				break;
			case 'H': snprintf(o->redis.host, sizeof(o->redis.host), "%s", optarg); break;
			case 'a': snprintf(o->redis.password, sizeof(o->redis.password), "%s", optarg); break;
			case 'i': snprintf(o->id, sizeof(o->id), "%s", optarg); break;
			case 'b':
				if(parse_int(optarg, 1, OOBLEX_MAX_BATCH, &o->batch_size) < 0) {
					fprintf(stderr, "ooblex-worker: --batch-size must be 1..%d\n", OOBLEX_MAX_BATCH);
					return -1;
				}
				break;
			case 'p':
			case 'n':
			case 'm':
			case 'd':
				if(parse_int(optarg, c == 'p' ? 1 : 0, c == 'p' ? 65535 : 1000000000, &v) < 0) {
					fprintf(stderr, "ooblex-worker: bad number '%s'\n", optarg);
					return -1;
				}
				if(c == 'p') o->redis.port = (int)v;
				else if(c == 'n') o->redis.db = (int)v;
				else if(c == 'm') o->max_frames = v;
				else o->delay_ms = v;
				break;
			case 'l':
				for(const char *const *e = ooblex_effects_list(); *e; e++)
					printf("%s\n", *e);
				exit(0);
			case 'h': usage(stdout); exit(0);
			default: usage(stderr); return -1;
		}
	}
	if(optind < argc) {
		fprintf(stderr, "ooblex-worker: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

static int stop_was_requested(void *user) {
	(void)user;
	return stop_requested;
}

static void report_connect(void *user, const char *err, int after_outage) {
	const worker_options *o = user;
	if(err != NULL)
		logmsg("[%s] waiting for Redis: %s (retrying with backoff)", o->id, err);
	else
		logmsg("[%s] connected to Redis at %s:%d%s", o->id, o->redis.host, o->redis.port,
			after_outage ? " (back after an outage)" : "");
}

/* Waits for Redis with backoff; NULL only when asked to stop. */
static redisContext *connect_redis(const worker_options *o, int *outage_logged) {
	return ooblex_redis_connect_retry(&o->redis, 0, outage_logged, stop_was_requested, report_connect, (void *)o);
}

typedef struct worker {
	worker_options opt;
	time_t started;
	char registry_key[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX];
	char processing_key[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX];
	char alive_key[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX];
	atomic_int liveness_stop;
	ooblex_effects *fx;
	ooblex_jpeg *jpeg;
	uint8_t *decoded;	/* a JPEG frame, decoded */
	size_t decoded_cap;
	uint8_t *pixels;	/* the processed frame, I420 */
	size_t pixels_cap;
	uint8_t *out;	/* result message */
	size_t out_cap;
	worker_stats stats;
} worker;

static int ensure(uint8_t **buf, size_t *cap, size_t need) {
	if(need <= *cap)
		return 0;
	uint8_t *n = realloc(*buf, need);
	if(n == NULL)
		return -1;
	*buf = n;
	*cap = need;
	return 0;
}

/* Registers (or refreshes) this worker in the fleet registry; the key
 * expires by itself if the worker dies. */
static void heartbeat(worker *w, redisContext *c) {
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	json_t *effects = json_array();
	for(const char *const *e = ooblex_effects_list(); *e; e++)
		json_array_append_new(effects, json_string(*e));
	json_t *info = json_pack("{s:s, s:s, s:i, s:o, s:i, s:I, s:I, s:[s]}",
		"id", w->opt.id, "host", host, "pid", (int)getpid(), "effects", effects, "batch_size", (int)w->opt.batch_size,
		"started", (json_int_t)w->started, "frames_done", (json_int_t)atomic_load(&w->stats.processed),
		"queues", OOBLEX_KEY_FRAMES);
	char *text = info ? json_dumps(info, JSON_COMPACT) : NULL;
	json_decref(info);
	if(text == NULL)
		return;
	redisReply *r = redisCommand(c, "SET %s %s EX %d", w->registry_key, text, OOBLEX_WORKER_TTL_S);
	if(r != NULL)
		freeReplyObject(r);
	free(text);
}

/* Moves what a dead worker left in its processing list back to the front of
 * the queue, or counts it as stale when its deadline (header offset 56,
 * little-endian µs) has passed. Atomic, so several reapers never move a frame
 * twice, and it does nothing while the owner's liveness key exists.
 * KEYS: processing list, liveness key, queue, stale counter. ARGV: now (µs). */
static const char *reap_script =
	"if redis.call('EXISTS', KEYS[2]) == 1 then return {0, 0} end\n"
	"local back, stale = 0, 0\n"
	"while true do\n"
	"  local m = redis.call('RPOP', KEYS[1])\n"
	"  if not m then break end\n"
	"  local deadline = 0\n"
	"  if #m >= 88 and string.sub(m, 1, 4) == 'OOBX' then\n"
	"    deadline = struct.unpack('<I4', m, 61) * 4294967296 + struct.unpack('<I4', m, 57)\n"
	"  end\n"
	"  if deadline ~= 0 and deadline < tonumber(ARGV[1]) then\n"
	"    stale = stale + 1\n"
	"  else\n"
	"    redis.call('RPUSH', KEYS[3], m)\n"
	"    back = back + 1\n"
	"  end\n"
	"end\n"
	"if stale > 0 then redis.call('INCRBY', KEYS[4], stale) end\n"
	"return {back, stale}\n";

static void reap(worker *w, redisContext *c, const char *processing_key, const char *alive_key) {
	char now[32];
	snprintf(now, sizeof(now), "%llu", (unsigned long long)ooblex_now_us());
	redisReply *r = redisCommand(c, "EVAL %s 4 %s %s %s %s %s", reap_script, processing_key, alive_key,
		OOBLEX_KEY_FRAMES, OOBLEX_KEY_DROPPED_STALE, now);
	if(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
			(r->element[0]->integer > 0 || r->element[1]->integer > 0))
		logmsg("[%s] reaped %s: %lld frame(s) back to the queue, %lld past their deadline", w->opt.id,
			processing_key, r->element[0]->integer, r->element[1]->integer);
	else if(r != NULL && r->type == REDIS_REPLY_ERROR)
		logmsg("[%s] reaper failed: %s", w->opt.id, r->str);
	if(r != NULL)
		freeReplyObject(r);
}

/* Reaps every processing list whose owner's liveness key is gone. */
static void reap_dead(worker *w, redisContext *c) {
	char cursor[32] = "0";
	int rounds = 0;
	do {
		redisReply *r = redisCommand(c, "SCAN %s MATCH %s* COUNT 200", cursor, OOBLEX_KEY_PROCESSING_PREFIX);
		if(r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			if(r)
				freeReplyObject(r);
			return;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str ? r->element[0]->str : "0");
		for(size_t i = 0; i < r->element[1]->elements; i++) {
			const char *key = r->element[1]->element[i]->str;
			if(strcmp(key, w->processing_key) == 0)
				continue;
			char alive[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX];
			snprintf(alive, sizeof(alive), OOBLEX_KEY_ALIVE_PREFIX "%s", key + strlen(OOBLEX_KEY_PROCESSING_PREFIX));
			reap(w, c, key, alive);
		}
		freeReplyObject(r);
	} while(strcmp(cursor, "0") != 0 && ++rounds < 1000);
}

/* The liveness thread: its own connection, so a slow frame on the main
 * thread never lets the liveness key lapse. */
static void *liveness_thread(void *arg) {
	worker *w = arg;
	redisContext *c = NULL;
	unsigned tick = 0;
	while(!atomic_load(&w->liveness_stop)) {
		if(c == NULL) {
			char err[256];
			c = ooblex_redis_connect(&w->opt.redis, 1000, err, sizeof(err));
		}
		if(c != NULL) {
			redisReply *r = redisCommand(c, "SET %s 1 PX %d", w->alive_key, OOBLEX_ALIVE_TTL_MS);
			if(r == NULL) {
				redisFree(c);
				c = NULL;
			} else {
				freeReplyObject(r);
				if(tick % (1000 / OOBLEX_ALIVE_REFRESH_MS) == 0)
					heartbeat(w, c);
				reap_dead(w, c);
			}
		}
		tick++;
		struct timespec ts = { 0, OOBLEX_ALIVE_REFRESH_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
	if(c != NULL) {
		/* Leave at once rather than when the keys expire. */
		redisReply *r = redisCommand(c, "DEL %s %s", w->alive_key, w->registry_key);
		if(r != NULL)
			freeReplyObject(r);
		redisFree(c);
	}
	return NULL;
}

/* Processes one message; on success fills result, result_len and the key to
 * push to. Returns 0, 1 for "skip quietly" (stale), -1 for errors. */
static int process(worker *w, const uint8_t *msg, size_t len, char key[OOBLEX_KEY_MAX],
		const uint8_t **result, size_t *result_len) {
	ooblex_frame_header h;
	const uint8_t *payload = NULL;
	ooblex_wire_error e = ooblex_wire_parse(msg, len, &h, &payload);
	if(e != OOBLEX_WIRE_OK || h.kind != OOBLEX_KIND_FRAME) {
		w->stats.garbage++;
		logmsg("[%s] skipping a malformed message (%zu bytes): %s", w->opt.id, len,
			e != OOBLEX_WIRE_OK ? ooblex_wire_error_str(e) : "not a frame");
		return -1;
	}
	uint64_t start = ooblex_now_us();
	if(h.deadline_us != 0 && start > h.deadline_us) {
		w->stats.stale++;
		return 1;
	}
	char client_hex[OOBLEX_CLIENT_ID_HEX_LEN + 1];
	ooblex_client_id_to_hex(h.client_id, client_hex);
	ooblex_key_processed(key, client_hex);
	char err[256];
	/* Every transport format ends up as I420 or RGB24 for the effect graph. */
	const uint8_t *in = payload;
	int in_fmt = h.pixfmt;
	if(h.pixfmt == OOBLEX_PIXFMT_JPEG) {
		if(ensure(&w->decoded, &w->decoded_cap, (size_t)h.width * h.height * 3) < 0)
			return -1;
		if(ooblex_jpeg_decode(w->jpeg, payload, h.payload_len, h.width, h.height, w->decoded, &in_fmt,
				err, sizeof(err)) < 0) {
			w->stats.garbage++;
			logmsg("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
			return -1;
		}
		in = w->decoded;
	} else if(h.pixfmt != OOBLEX_PIXFMT_I420 && h.pixfmt != OOBLEX_PIXFMT_RGB24) {
		w->stats.failed++;
		logmsg("[%s] frame %llu: unsupported pixel format %s", w->opt.id,
			(unsigned long long)h.frame_id, ooblex_pixfmt_name(h.pixfmt));
		return -1;
	}
	if(ensure(&w->pixels, &w->pixels_cap, ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, h.width, h.height)) < 0)
		return -1;
	if(ooblex_effects_apply(w->fx, h.effect, in_fmt, in, h.width, h.height, w->pixels, err, sizeof(err)) < 0) {
		w->stats.failed++;
		logmsg("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
		return -1;
	}
	if(w->opt.delay_ms > 0) {
		struct timespec ts = { w->opt.delay_ms / 1000, (w->opt.delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	const uint8_t *body = w->pixels;
	size_t body_len = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, h.width, h.height);
	uint8_t fmt = OOBLEX_PIXFMT_I420;
	if(h.reply_pixfmt != OOBLEX_PIXFMT_I420) {
		if(ooblex_jpeg_encode_i420(w->jpeg, w->pixels, h.width, h.height, h.jpeg_quality,
				&body, &body_len, err, sizeof(err)) < 0) {
			w->stats.failed++;
			logmsg("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
			return -1;
		}
		fmt = OOBLEX_PIXFMT_JPEG;
	}
	h.kind = OOBLEX_KIND_RESULT;
	h.pixfmt = fmt;
	h.payload_len = (uint32_t)body_len;
	h.worker_start_us = start;
	snprintf(h.worker, sizeof(h.worker), "%s", w->opt.id);
	h.worker_end_us = ooblex_now_us();
	size_t hlen = ooblex_wire_header_len(&h);
	if(ensure(&w->out, &w->out_cap, hlen + body_len) < 0)
		return -1;
	ooblex_wire_write_header(&h, w->out);
	memcpy(w->out + hlen, body, body_len);
	*result = w->out;
	*result_len = hlen + body_len;
	atomic_fetch_add(&w->stats.processed, 1);
	logmsg("Processing frame %llu... (client %.8s, %s, %ux%u, %.1f ms) [%s]",
		(unsigned long long)h.frame_id, client_hex, h.effect[0] ? h.effect : "none",
		h.width, h.height, (h.worker_end_us - start) / 1000.0, w->opt.id);
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	worker w;
	memset(&w, 0, sizeof(w));
	if(parse_options(argc, argv, &w.opt) < 0)
		return 2;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	w.fx = ooblex_effects_new();
	w.jpeg = ooblex_jpeg_new();
	if(w.fx == NULL || w.jpeg == NULL) {
		fprintf(stderr, "ooblex-worker: cannot initialise effects or JPEG encoder\n");
		return 1;
	}
	char effects[256] = "";
	for(const char *const *e = ooblex_effects_list(); *e; e++)
		snprintf(effects + strlen(effects), sizeof(effects) - strlen(effects), "%s%s", effects[0] ? " " : "", *e);
	logmsg("[%s] ooblex-worker starting: Redis %s:%d, queue %s, batch size %ld, effects: %s", w.opt.id,
		w.opt.redis.host, w.opt.redis.port, OOBLEX_KEY_FRAMES, w.opt.batch_size, effects);
	int outage_logged = 0;
	redisContext *c = NULL;
	w.started = time(NULL);
	snprintf(w.registry_key, sizeof(w.registry_key), OOBLEX_KEY_WORKER_PREFIX "%s", w.opt.id);
	snprintf(w.processing_key, sizeof(w.processing_key), OOBLEX_KEY_PROCESSING_PREFIX "%s", w.opt.id);
	snprintf(w.alive_key, sizeof(w.alive_key), OOBLEX_KEY_ALIVE_PREFIX "%s", w.opt.id);
	pthread_t liveness;
	int liveness_running = 0;
	while(!stop_requested && (w.opt.max_frames == 0 || (long)atomic_load(&w.stats.processed) < w.opt.max_frames)) {
		if(c == NULL) {
			if((c = connect_redis(&w.opt, &outage_logged)) == NULL)
				break;
			/* Frames this id held before a restart go back to the queue. */
			reap(&w, c, w.processing_key, "ooblex:no-such-key");
			if(!liveness_running)
				liveness_running = pthread_create(&liveness, NULL, liveness_thread, &w) == 0;
		}
		/* Take the next frame into our processing list, atomically: if we die
		 * now, the reaper finds it there. A 1 s timeout keeps SIGTERM responsive. */
		redisReply *r = redisCommand(c, "BLMOVE %s %s RIGHT LEFT 1", OOBLEX_KEY_FRAMES, w.processing_key);
		if(r == NULL) {
			logmsg("[%s] lost the Redis connection (%s); reconnecting", w.opt.id, c->errstr);
			outage_logged = 1;
			redisFree(c);
			c = NULL;
			continue;
		}
		if(r->type == REDIS_REPLY_STRING) {
			/* BATCH_SIZE: up to batch_size-1 more, without waiting, into the
			 * same processing list (one round trip for all of them). */
			redisReply *batch[OOBLEX_MAX_BATCH] = { r };
			int nb = 1;
			for(long i = 1; i < w.opt.batch_size; i++)
				redisAppendCommand(c, "LMOVE %s %s RIGHT LEFT", OOBLEX_KEY_FRAMES, w.processing_key);
			for(long i = 1; i < w.opt.batch_size; i++) {
				redisReply *more = NULL;
				if(redisGetReply(c, (void **)&more) != REDIS_OK)
					break;
				if(more->type == REDIS_REPLY_STRING)
					batch[nb++] = more;
				else
					freeReplyObject(more);
			}
			/* Completion is one transaction: results in, frames out of our
			 * hands. hiredis copies each command as it is appended, so the
			 * result buffer can be reused for the next frame. */
			int queued = 0;
			redisAppendCommand(c, "MULTI");
			for(int i = 0; i < nb; i++) {
				char key[OOBLEX_KEY_MAX];
				const uint8_t *res = NULL;
				size_t res_len = 0;
				int rc = process(&w, (const uint8_t *)batch[i]->str, batch[i]->len, key, &res, &res_len);
				if(rc == 0) {
					redisAppendCommand(c, "LPUSH %s %b", key, res, res_len);
					/* A list whose client left disappears by itself. */
					redisAppendCommand(c, "EXPIRE %s %d", key, OOBLEX_PROCESSED_TTL_S);
					queued += 2;
				} else if(rc == 1) {
					redisAppendCommand(c, "INCR %s", OOBLEX_KEY_DROPPED_STALE);
					queued++;
				}
				if(i > 0)
					freeReplyObject(batch[i]);
			}
			redisAppendCommand(c, "DEL %s", w.processing_key);
			redisAppendCommand(c, "EXEC");
			for(int i = 0; i < queued + 3; i++) {
				redisReply *rr = NULL;
				if(redisGetReply(c, (void **)&rr) != REDIS_OK) {
					logmsg("[%s] lost the Redis connection while completing frames (%s)", w.opt.id, c->errstr);
					break;
				}
				freeReplyObject(rr);
			}
			if(c->err) {
				redisFree(c);
				c = NULL;
				outage_logged = 1;
			}
		} else if(r->type == REDIS_REPLY_ERROR) {
			logmsg("[%s] Redis error: %s", w.opt.id, r->str);
			sleep(1);
		}
		freeReplyObject(r);
	}
	logmsg("[%s] stopping: %lu processed, %lu stale, %lu malformed, %lu failed", w.opt.id,
		atomic_load(&w.stats.processed), w.stats.stale, w.stats.garbage, w.stats.failed);
	if(liveness_running) {
		atomic_store(&w.liveness_stop, 1);
		pthread_join(liveness, NULL);
	}
	if(c != NULL)
		redisFree(c);
	ooblex_effects_free(w.fx);
	ooblex_jpeg_free(w.jpeg);
	free(w.pixels);
	free(w.decoded);
	free(w.out);
	return 0;
}
