/*
 * ooblex_keys.h - Redis key names, the contract between plugin, workers and
 * operators (the mission's troubleshooting commands use them verbatim).
 *
 * Owns nothing at run time; only names and the helpers that build them.
 */
#ifndef OOBLEX_KEYS_H
#define OOBLEX_KEYS_H

#include <stdio.h>
#include "ooblex_wire.h"

/* Input queue: the plugin LPUSHes, workers take from the other end (BLMOVE
 * into their processing list, below), so the list is FIFO. */
#define OOBLEX_KEY_FRAMES	"frames_to_process"
/* Frames whose effect only some workers run go to frames_to_process:{effect}
 * instead (ooblex_route.h). Such a queue expires this long after the last
 * frame was pushed, so one whose workers all left does not stay behind. */
#define OOBLEX_ROUTED_QUEUE_TTL_S	30
/* Output queue of one client: workers LPUSH, the plugin BRPOPs. */
#define OOBLEX_KEY_PROCESSED_PREFIX	"processed_frames:"
/* A processed_frames list nobody reads (its client left) expires after this. */
#define OOBLEX_PROCESSED_TTL_S	30

/* One key per live worker: a JSON description (id, host, pid, effects,
 * batch_size, started, frames_done) that the worker rewrites every second
 * and that expires OOBLEX_WORKER_TTL_S after its last heartbeat: a worker
 * that dies leaves the registry by itself. */
#define OOBLEX_KEY_WORKER_PREFIX	"ooblex:worker:"
#define OOBLEX_WORKER_TTL_S	5

/* One key per running plugin (Janus instance) sharing the fleet: the
 * clients it has on each queue and their demand in workers, JSON
 * ({"queues":{"frames_to_process":{"clients":2,"demand":1.52}}}), rewritten
 * once a second and expiring OOBLEX_PLUGIN_TTL_MS after; each plugin reads
 * the others' to share the workers fairly (docs/protocol.md, "Fair shares"). */
#define OOBLEX_KEY_PLUGIN_PREFIX	"ooblex:plugin:"
#define OOBLEX_PLUGIN_TTL_MS	3000
#define OOBLEX_FLEET_MAX_PLUGINS	256

/* Reliable hand-off. A worker takes a frame with BLMOVE from
 * frames_to_process into its own processing list, and completes it in one
 * Lua script (results pushed, processing list cleared, only if the list still
 * holds that batch). While it lives it keeps
 * ooblex:alive:{id} (PX OOBLEX_ALIVE_TTL_MS, refreshed every
 * OOBLEX_ALIVE_REFRESH_MS by a thread of its own). When that key is gone, any
 * worker's reaper moves the frames left in the dead worker's processing list
 * back to the front of the queue, or counts them in ooblex:dropped:stale if
 * their deadline has passed: a frame held by a worker killed with SIGKILL is
 * back in the queue within a second. */
#define OOBLEX_KEY_PROCESSING_PREFIX	"ooblex:processing:"
#define OOBLEX_KEY_ALIVE_PREFIX	"ooblex:alive:"
#define OOBLEX_KEY_DROPPED_STALE	"ooblex:dropped:stale"
#define OOBLEX_ALIVE_TTL_MS	700
#define OOBLEX_ALIVE_REFRESH_MS	200

/* What one look at the fleet reads at most (ooblex_redis_scan): registry
 * entries (the plugin, once a second) and processing lists (each reaper,
 * every OOBLEX_ALIVE_REFRESH_MS; a worker has one per queue it serves, at
 * most 17). Far above any real fleet: they bound the memory and work that
 * keys written by someone else can cost. */
#define OOBLEX_FLEET_MAX_WORKERS	1024
#define OOBLEX_FLEET_MAX_PROCESSING_LISTS	(OOBLEX_FLEET_MAX_WORKERS * 32)

#define OOBLEX_KEY_MAX	64

/* "processed_frames:<32 hex>" into out (OOBLEX_KEY_MAX bytes). */
static inline void ooblex_key_processed(char out[OOBLEX_KEY_MAX], const char *client_hex) {
	snprintf(out, OOBLEX_KEY_MAX, OOBLEX_KEY_PROCESSED_PREFIX "%s", client_hex);
}

#endif
