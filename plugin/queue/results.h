/*
 * results.h - processed frames back from Redis, for the return path.
 *
 * Owns: one thread ("ooblex redis in") with its own connection that reads
 * the processed_frames:{client_id} lists being watched (one per active
 * client) and hands each message to on_result; then on_tick, at least every
 * poll interval. While results keep coming it takes them in rounds, one
 * round trip each: a script takes up to 16 from every list (discarding
 * those over the size bound inside Redis), handed on in turns, the first
 * list named one further on each round, so that no client's results wait
 * behind another's backlog. When a round finds nothing it BRPOPs across the
 * lists until one has a result.
 * The same thread and connection take the fleet's look once a second
 * (fleet.h): the reader owns that fleet, and answers for it below. The
 * thread reconnects with backoff and logs once per outage (redis_conn.h).
 * Janus' threads only watch, unwatch and read what the reader saw.
 */
#ifndef OOBLEX_RESULTS_H
#define OOBLEX_RESULTS_H

#include <glib.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "fleet.h"
#include "ooblex_redis.h"
#include "redis_conn.h"

/* Called on the reader thread for every popped message; msg is only valid
 * during the call. */
typedef void (*ooblex_result_fn)(const char *key, const uint8_t *msg, size_t len, void *user);
/* Called on the reader thread at least every poll interval, after results,
 * so per-client timers (reorder deadlines) advance without traffic. */
typedef void (*ooblex_tick_fn)(void *user);

typedef struct ooblex_reader_stats {
	atomic_uint_fast64_t popped;
	atomic_uint_fast64_t oversized;	/* results over the size cap, dropped unread */
	atomic_uint_fast64_t registry_oversized;	/* registry entries over OOBLEX_REGISTRY_ENTRY_MAX, skipped */
	atomic_uint_fast64_t routes_refused;	/* core effects announced as routes (at every look) */
	atomic_int connected;
	atomic_uint_fast64_t connects;	/* connections made: 1 unless Redis went away (or a reply broke one) */
} ooblex_reader_stats;

typedef struct ooblex_reader ooblex_reader;

/* poll_ms: BRPOP's timeout, so the most on_tick waits (0: 20). */
ooblex_reader *ooblex_reader_start(const ooblex_redis_config *cfg, unsigned poll_ms,
	ooblex_result_fn on_result, ooblex_tick_fn on_tick, void *user, ooblex_log_fn log,
	char *err, size_t errlen);
/* Adds or removes a list to read from. Any thread. */
void ooblex_reader_watch(ooblex_reader *r, const char *key);
void ooblex_reader_unwatch(ooblex_reader *r, const char *key);
/* Results longer than bytes are dropped without being handed on (default
 * 4 MiB; 0 restores it); those taken in a round are discarded inside
 * Redis, never read. Counted in stats.oversized. Any thread. */
void ooblex_reader_set_max_result(ooblex_reader *r, size_t bytes);
const ooblex_reader_stats *ooblex_reader_get_stats(ooblex_reader *r);
/* What the reader last saw of the fleet (fleet.h: ooblex_fleet_workers,
 * ooblex_fleet_routed, ooblex_fleet_queue_for). Any thread. */
GPtrArray *ooblex_reader_fleet(ooblex_reader *r, long long *queue_len, long long *dropped_stale);
/* What the live workers can run (fleet.h: ooblex_fleet_caps_now). Any thread. */
ooblex_fleet_caps *ooblex_reader_fleet_caps(ooblex_reader *r, uint64_t *gen);
/* The fleet itself, for its other queries (fleet.h). Valid as long as the reader. */
ooblex_fleet *ooblex_reader_get_fleet(ooblex_reader *r);
size_t ooblex_reader_routed(ooblex_reader *r, ooblex_routed_queue *out, size_t max);
void ooblex_reader_queue_for(ooblex_reader *r, const char *effect, char *out, size_t outlen);
/* Stops the thread (within one poll interval) and frees the reader. */
void ooblex_reader_stop(ooblex_reader *r);

#endif
