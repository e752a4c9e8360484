/*
 * worker_liveness.h - the worker's liveness thread: being seen alive,
 * and returning the frames of workers that are not.
 *
 * Owns: the keys that say this worker lives (ooblex:alive:{id}, refreshed
 * every OOBLEX_ALIVE_REFRESH_MS, and its registry entry ooblex:worker:{id},
 * rewritten every second: ooblex_keys.h), the worker's alive_until_us (the
 * queue threads take frames only while it has a margin left), the reaper
 * (every processing list whose owner's liveness key is gone goes back to
 * its queue, or into ooblex:dropped:stale past its deadline: the reap
 * script of ooblex_scripts.h), and writing the Prometheus file once a
 * second. One thread with its own Redis connection, so a slow frame never
 * lets the liveness key lapse.
 */
#ifndef OOBLEX_WORKER_LIVENESS_H
#define OOBLEX_WORKER_LIVENESS_H

#include "worker.h"

/* Names the worker's keys and starts the thread; w->liveness_running says
 * whether it runs. Call once the queues are planned. */
void worker_liveness_start(worker *w);
/* Stops the thread, deleting the worker's keys (it leaves the registry at
 * once rather than when they expire). */
void worker_liveness_stop(worker *w);

/* Moves the frames in processing_key back to queue (or counts them stale)
 * unless alive_key exists; logs what it did. Any thread, on its own
 * connection. */
void worker_reap(const worker *w, redisContext *c, const char *processing_key, const char *alive_key,
	const char *queue);

#endif
