/*
 * redis_conn.h - what the queue's two threads share: where they log, and
 * how they (re)connect.
 *
 * Owns nothing that lives: connecting retries with backoff (100 ms doubling
 * to 2 s, ooblex_redis.h) and says so in one log line per outage. Each
 * thread opens and keeps its own connection (hiredis contexts are not
 * thread-safe): the producer's (producer.h), the reader's (results.h, on
 * which the fleet look of fleet.h also runs).
 */
#ifndef OOBLEX_REDIS_CONN_H
#define OOBLEX_REDIS_CONN_H

#include <glib.h>
#include "ooblex_redis.h"

/* Where the threads report connection changes and errors (the plugin maps
 * this to JANUS_LOG). level: 0 error, 1 warning, 2 info. May be NULL. */
typedef void (*ooblex_log_fn)(int level, const char *msg);

/* Formats one line and hands it to log (nothing when log is NULL). */
void ooblex_queue_log(ooblex_log_fn log, int level, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Connects, retrying with backoff until it works or *stop is set; one log
 * line per outage, naming the thread (who). Returns NULL only when stopped. */
redisContext *ooblex_queue_connect(const ooblex_redis_config *cfg, int timeout_ms, volatile gint *stop,
	ooblex_log_fn log, const char *who, int *outage_logged);

#endif
