/*
 * producer.h - packed frames into Redis, for the workers.
 *
 * Owns: a bounded in-memory queue of (key, message) and one thread ("ooblex
 * to redis": thread names over 15 bytes are refused, and the thread would
 * then show as "janus") with its own connection that LPUSHes them, pipelined, to
 * frames_to_process or a routed frames_to_process:{effect} (which it also
 * EXPIREs: a routed queue whose workers are gone empties itself). The
 * payloads are written (sendmsg of iovecs) straight from the messages (only the
 * RESP around them is formatted; hiredis reads the replies), so a frame is
 * not copied again on its way into Redis. Pushing
 * never blocks: when Redis is slow or gone the queue fills and new messages
 * are dropped and counted (a stale frame is worth nothing to a live viewer).
 * The thread reconnects with backoff and logs once per outage
 * (redis_conn.h). Janus' threads only ever touch the in-memory side.
 */
#ifndef OOBLEX_PRODUCER_H
#define OOBLEX_PRODUCER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "ooblex_redis.h"
#include "redis_conn.h"
#include "results.h"

typedef struct ooblex_producer_stats {
	atomic_uint_fast64_t pushed;
	atomic_uint_fast64_t dropped_full;	/* queue at its bound */
	atomic_uint_fast64_t dropped_error;	/* lost with a broken connection, or at stop */
	atomic_int connected;
} ooblex_producer_stats;

typedef struct ooblex_producer ooblex_producer;

/* max_pending bounds the messages in memory, queued or being sent (0: 64). */
ooblex_producer *ooblex_producer_start(const ooblex_redis_config *cfg, unsigned max_pending,
	ooblex_log_fn log, char *err, size_t errlen);
/* Queues msg for LPUSH to key; takes ownership of msg (free()). Returns 0, or
 * -1 when dropped because the queue is full. Any thread, never blocks. */
int ooblex_producer_push(ooblex_producer *p, const char *key, uint8_t *msg, size_t len);
/* Queues a packed frame (ooblex_wire) where its own effect routes it now
 * (the routes the reader last saw of the fleet: ooblex_reader_queue_for),
 * so a configure mid-stream reroutes from the next frame on; a message that
 * does not parse goes to frames_to_process. Takes msg, as
 * ooblex_producer_push does, with the same result. */
int ooblex_producer_push_frame(ooblex_producer *p, ooblex_reader *r, uint8_t *msg, size_t len);
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

#endif
