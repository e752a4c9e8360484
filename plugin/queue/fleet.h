/*
 * fleet.h - what the plugin knows of the worker fleet, read from Redis.
 *
 * Owns: the last look at the fleet: the length of frames_to_process, the
 * live workers' registry entries (ooblex:worker:*, found with SCAN, never
 * KEYS, and read with a GET capped inside Redis), the routed effects they
 * announce (core effects refused) with the length of each
 * frames_to_process:{name}, what the live workers can run (fleet_effects.h,
 * rebuilt at each look), and the frames workers and reapers dropped as
 * stale (ooblex:dropped:stale, a total that never decreases).
 * For fair shares (fair_share.h) it also counts the live workers serving
 * each queue, and at each look announces this plugin's clients per queue
 * under ooblex:plugin:{id} and reads what the other plugins announced.
 * Threads: the look is taken on the result reader's thread and connection
 * (results.h calls ooblex_fleet_poll every round; it looks once a second);
 * the queries copy it out under the fleet's lock, from any thread.
 */
#ifndef OOBLEX_FLEET_H
#define OOBLEX_FLEET_H

#include <glib.h>
#include <stdatomic.h>
#include <stddef.h>
#include "fleet_effects.h"
#include "demand.h"
#include "ooblex_keys.h"
#include "ooblex_redis.h"
#include "redis_conn.h"

/* A registry entry (ooblex:worker:*) longer than this is not read. */
#define OOBLEX_REGISTRY_ENTRY_MAX (32 * 1024)

/* The routed effects live workers announced at the last look (their
 * registry entries' "routes"), each with the length of its queue
 * frames_to_process:{name}. */
#define OOBLEX_MAX_ROUTES 32
typedef struct ooblex_routed_queue {
	char name[32];
	long long length;
} ooblex_routed_queue;

typedef struct ooblex_fleet ooblex_fleet;

/* registry_oversized, routes_refused: where entries over
 * OOBLEX_REGISTRY_ENTRY_MAX (skipped) and core effects announced as routes
 * (at every look) are counted; the reader passes its own stats. log names
 * a refused route once. */
ooblex_fleet *ooblex_fleet_new(ooblex_log_fn log, atomic_uint_fast64_t *registry_oversized,
	atomic_uint_fast64_t *routes_refused);
void ooblex_fleet_free(ooblex_fleet *f);
/* Takes a new look with c if the last one is a second old. The reader's
 * thread only. */
void ooblex_fleet_poll(ooblex_fleet *f, redisContext *c);

/* The length of frames_to_process (-1 before the first look), the frames
 * dropped as stale, and a new array of the live workers' JSON descriptions
 * (free it with g_ptr_array_unref). Any thread. */
GPtrArray *ooblex_fleet_workers(ooblex_fleet *f, long long *queue_len, long long *dropped_stale);
/* Copies up to max routed queues into out; returns how many. Any thread. */
size_t ooblex_fleet_routed(ooblex_fleet *f, ooblex_routed_queue *out, size_t max);
/* The queue a frame with this effect goes to now (ooblex_route.h). Any
 * thread; cheap enough for every frame. */
void ooblex_fleet_queue_for(ooblex_fleet *f, const char *effect, char *out, size_t outlen);

/* What the live workers could run at the last look (a reference: unref it;
 * NULL before the first look), and that look's number in *gen (1, 2, ...;
 * 0 before the first). Any thread. */
ooblex_fleet_caps *ooblex_fleet_caps_now(ooblex_fleet *f, uint64_t *gen);
/* What the next looks announce (copied). Any thread. */
void ooblex_fleet_announce(ooblex_fleet *f, const ooblex_queue_demand *d, size_t n);
/* The live workers serving queue at the last look (their registry entries'
 * "queues"), and the clients and demand other plugins announced on it.
 * Any thread. */
unsigned ooblex_fleet_queue_share(ooblex_fleet *f, const char *queue, unsigned *remote_clients, double *remote_demand);

#endif
