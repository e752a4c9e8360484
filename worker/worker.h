/*
 * worker.h - what the threads of one ooblex-worker share.
 *
 * Owns: the worker's options (filled by worker_main.c from flags and the
 * environment, read-only once the threads run), one queue_loop per queue
 * it serves (each used by its own thread only: worker_loop.h), the
 * counters every thread adds to, the liveness deadline the liveness thread
 * sets and the queue threads read (worker_liveness.h), the stop request
 * (SIGTERM/SIGINT) and the log. Cross-thread fields are atomics; the rest
 * is written before the threads start.
 */
#ifndef OOBLEX_WORKER_H
#define OOBLEX_WORKER_H

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <glib.h>
#include <hiredis/hiredis.h>

#include "effects.h"
#include "ooblex_auth.h"
#include "ooblex_jpeg.h"
#include "ooblex_keys.h"
#include "ooblex_redis.h"
#include "worker_metrics.h"

#define OOBLEX_MAX_BATCH 64
/* The default queue plus one per routed effect. */
#define OOBLEX_MAX_QUEUES 17
/* Most frames a queue keeps taken ahead of the one it processes
 * (--prefetch, worker_loop.h). */
#define OOBLEX_MAX_PREFETCH 32
/* Frame costs remembered per queue (effect x picture size). */
#define OOBLEX_COST_SLOTS 16
/* Completions sent and not yet answered, per queue. */
#define OOBLEX_MAX_PENDING_COMPLETIONS 16

/* Set by SIGTERM/SIGINT (and when --max-frames is reached): finish the
 * frames in hand, take nothing new. */
extern volatile sig_atomic_t worker_stop_requested;

typedef struct worker_options {
	ooblex_redis_config redis;
	char id[OOBLEX_NAME_MAX + 1];
	long max_frames;	/* 0: run until stopped */
	long delay_ms;	/* extra time per frame, to emulate a slow model in tests */
	long frame_budget_ms;	/* a frame whose processing took longer is not delivered; 0 = no budget */
	long batch_size;	/* frames taken at once (BATCH_SIZE), for effects that gain from batches */
	/* Frames kept taken ahead (--prefetch, OOBLEX_PREFETCH): -1 = sized from
	 * the Redis round trip and the time per frame, 0 = none (take, process,
	 * complete one after the other, each waiting for Redis), N = N. */
	long prefetch;
	const char *effects;	/* --effects: "core" and/or routed effect names; NULL: everything */
	GPtrArray *modules;	/* --module paths */
	const char *module_dir;
	const char *models_dir;
	const char *metrics_dir;
	int list_effects;
	/* The fleet secret: results are signed with it (ooblex_auth.h) when set. */
	uint8_t secret[OOBLEX_SECRET_MAX];
	int secret_len;
} worker_options;

typedef struct worker worker;

/* One queue the worker serves, with everything its thread owns. */
typedef struct queue_loop {
	worker *w;
	int index;	/* 0 logs connection changes for the whole worker */
	char route[32];	/* "" for frames_to_process, else the effect */
	char queue[OOBLEX_KEY_MAX];
	char processing_key[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX + 40];
	redisContext *c;	/* completions and reaps */
	/* Takes only (a BLMOVE may hold it up to half a second), so that a
	 * completion never waits behind one. */
	redisContext *take;
	int takes_owed;	/* take replies not read yet, oldest first */
	int blmove_at;	/* 1-based place of a BLMOVE among them; 0 = none */
	int queue_was_empty;	/* the last take found nothing */
	/* Frames taken but not processed yet, oldest first (a ring). */
	redisReply *ready[OOBLEX_MAX_PREFETCH + OOBLEX_MAX_BATCH];
	int ready_head, ready_n;
	int completions_owed;	/* completion replies not read yet */
	int owed_sizes[OOBLEX_MAX_PENDING_COMPLETIONS];	/* their batch sizes, oldest first (a ring) */
	int owed_head;
	double frame_us;	/* smoothed time per frame (process and complete), 0 before the first */
	/* What a frame costs here, by effect and picture size (the last
	 * OOBLEX_COST_SLOTS seen): a frame's expected work decides whether
	 * frames may be taken ahead behind it (worker_loop.c, any_long). */
	struct {
		char effect[OOBLEX_NAME_MAX + 1];
		uint32_t pixels;
		double us;	/* smoothed wall time of process(), > 0 */
		uint64_t used;	/* the last frame_seq it matched, for replacing the oldest */
	} costs[OOBLEX_COST_SLOTS];
	uint64_t frame_seq;
	ooblex_effects *fx;
	ooblex_jpeg *jpeg;
	uint8_t *decoded;	/* a JPEG frame, decoded */
	size_t decoded_cap;
	uint8_t *pixels;	/* the processed frame, I420 */
	size_t pixels_cap;
	uint8_t *out;	/* result message */
	size_t out_cap;
	pthread_t thread;
	int started;
} queue_loop;

struct worker {
	worker_options opt;
	time_t started;
	char host[256];
	char registry_key[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX];
	char alive_key[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX];
	pthread_t liveness;
	int liveness_running;
	atomic_int liveness_stop;
	/* Until when (ooblex_now_us) the liveness key is known to exist: set by
	 * the liveness thread after each refresh. A queue never takes a frame
	 * unless it has a good margin left, or reapers could take it back. */
	atomic_ullong alive_until_us;
	/* Smoothed round trip to Redis (µs), measured by the liveness thread on
	 * its refreshes; 0 until the first. Sizes the prefetch. */
	atomic_ullong redis_rtt_us;
	atomic_ulong processed;	/* all queues; read by the liveness thread */
	atomic_ulong garbage, failed, stale;
	/* Frames taken ahead and given back to their queue because the frame in
	 * hand would hold them too long (worker_loop.c, hand_back_ready). */
	atomic_ulong handed_back;
	ooblex_metrics *metrics;
	int serves_core;	/* listens to frames_to_process */
	queue_loop loops[OOBLEX_MAX_QUEUES];
	int n_loops;
};

/* The worker's log: one line on stdout (line-buffered, see main). */
static inline void worker_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void worker_log(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

#endif
