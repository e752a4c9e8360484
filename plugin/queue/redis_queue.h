/*
 * redis_queue.h - the plugin's two Redis connections, each on its own thread.
 *
 * Owns:
 *  - the producer: a bounded in-memory queue of (key, message) and a thread
 *    that LPUSHes them, pipelined, to Redis. Producers never block: when
 *    Redis is slow or gone the queue fills and new messages are dropped and
 *    counted (a stale frame is worth nothing to a live viewer);
 *  - the result reader: a thread that BRPOPs across the processed_frames
 *    lists of every active client and hands each message to a callback, and
 *    once a second reads the fleet: the queue lengths, the live workers'
 *    registry entries (ooblex:worker:*) and the effects they route.
 * Both reconnect with backoff (100 ms doubling to 2 s) and log once per outage.
 * Janus' threads only ever touch the in-memory side.
 */
#ifndef OOBLEX_REDIS_QUEUE_H
#define OOBLEX_REDIS_QUEUE_H

#include <glib.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "ooblex_redis.h"

/* Where the two threads report connection changes and errors (the plugin
 * maps this to JANUS_LOG). level: 0 error, 1 warning, 2 info. */
typedef void (*ooblex_log_fn)(int level, const char *msg);

typedef struct ooblex_producer_stats {
	atomic_uint_fast64_t pushed;
	atomic_uint_fast64_t dropped_full;	/* queue at its bound */
	atomic_uint_fast64_t dropped_error;	/* lost with a broken connection, or at stop */
	atomic_int connected;
} ooblex_producer_stats;

typedef struct ooblex_producer ooblex_producer;

ooblex_producer *ooblex_producer_start(const ooblex_redis_config *cfg, unsigned max_pending,
	ooblex_log_fn log, char *err, size_t errlen);
/* Queues msg for LPUSH to key; takes ownership of msg (free()). Returns 0, or
 * -1 when dropped because the queue is full. Any thread, never blocks. */
int ooblex_producer_push(ooblex_producer *p, const char *key, uint8_t *msg, size_t len);
/* Messages in memory: queued, or being sent and not yet counted. */
unsigned ooblex_producer_pending(ooblex_producer *p);
/* Every message offered to push() is in exactly one of these, at any
 * instant: pushed + dropped_full + dropped_error + pending == offered. */
typedef struct ooblex_producer_counts {
	uint64_t pushed, dropped_full, dropped_error, pending;
} ooblex_producer_counts;
/* The four counts taken together, consistent with each other. Any thread. */
void ooblex_producer_snapshot(ooblex_producer *p, ooblex_producer_counts *out);
const ooblex_producer_stats *ooblex_producer_get_stats(ooblex_producer *p);
/* Sends what is queued (bounded by a short grace period), then stops. */
void ooblex_producer_stop(ooblex_producer *p);

/* Called on the reader thread for every popped message; msg is only valid
 * during the call. */
typedef void (*ooblex_result_fn)(const char *key, const uint8_t *msg, size_t len, void *user);
/* Called on the reader thread at least every poll interval, after results,
 * so per-client timers (reorder deadlines) advance without traffic. */
typedef void (*ooblex_tick_fn)(void *user);

/* A registry entry (ooblex:worker:*) longer than this is not read. */
#define OOBLEX_REGISTRY_ENTRY_MAX (32 * 1024)

typedef struct ooblex_reader_stats {
	atomic_uint_fast64_t popped;
	atomic_uint_fast64_t oversized;	/* results over the size cap, dropped unread */
	atomic_uint_fast64_t registry_oversized;	/* registry entries over OOBLEX_REGISTRY_ENTRY_MAX, skipped */
	atomic_uint_fast64_t routes_refused;	/* core effects announced as routes (at every look) */
	atomic_int connected;
} ooblex_reader_stats;

typedef struct ooblex_reader ooblex_reader;

ooblex_reader *ooblex_reader_start(const ooblex_redis_config *cfg, unsigned poll_ms,
	ooblex_result_fn on_result, ooblex_tick_fn on_tick, void *user, ooblex_log_fn log,
	char *err, size_t errlen);
/* Adds or removes a list to read from. Any thread. */
void ooblex_reader_watch(ooblex_reader *r, const char *key);
void ooblex_reader_unwatch(ooblex_reader *r, const char *key);
/* Results longer than bytes are dropped without being handed on (default
 * 4 MiB; 0 restores it); those drained after a BRPOP are discarded inside
 * Redis, never read. Counted in stats.oversized. Any thread. */
void ooblex_reader_set_max_result(ooblex_reader *r, size_t bytes);
const ooblex_reader_stats *ooblex_reader_get_stats(ooblex_reader *r);
/* What the reader last saw of the fleet (it looks once a second): the length
 * of frames_to_process (-1 before the first look) and the JSON descriptions
 * of the live workers, and the frames dropped as stale by workers and
 * reapers (ooblex:dropped:stale, accumulated so that it never decreases,
 * even when Redis restarts without the key). Returns a new array of strings; free it with
 * g_ptr_array_unref. Any thread. */
GPtrArray *ooblex_reader_fleet(ooblex_reader *r, long long *queue_len, long long *dropped_stale);

/* The routed effects live workers announced at the last look (their
 * registry entries' "routes"), each with the length of its queue
 * frames_to_process:{name}. */
#define OOBLEX_MAX_ROUTES 32
typedef struct ooblex_routed_queue {
	char name[32];
	long long length;
} ooblex_routed_queue;
/* Copies up to max of them into out; returns how many. Any thread. */
size_t ooblex_reader_routed(ooblex_reader *r, ooblex_routed_queue *out, size_t max);
/* The queue a frame with this effect goes to now (ooblex_route.h). Any
 * thread; cheap enough for every frame. */
void ooblex_reader_queue_for(ooblex_reader *r, const char *effect, char *out, size_t outlen);
/* Queues a packed frame (ooblex_wire) where its own effect routes it now,
 * so a configure mid-stream reroutes from the next frame on; a message that
 * does not parse goes to frames_to_process. Takes msg, as
 * ooblex_producer_push does, with the same result. */
int ooblex_producer_push_frame(ooblex_producer *p, ooblex_reader *r, uint8_t *msg, size_t len);
void ooblex_reader_stop(ooblex_reader *r);

#endif
