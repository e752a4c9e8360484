/*
 * ooblex_redis.h - where Redis is and how to reach it, for plugin and worker.
 *
 * Owns: parsing redis:// URLs and environment settings, opening a hiredis
 * connection (AUTH, SELECT, timeouts) and the reconnect backoff schedule.
 * hiredis contexts are not thread-safe: every thread opens its own.
 */
#ifndef OOBLEX_REDIS_H
#define OOBLEX_REDIS_H

#include <stdint.h>
#include <hiredis/hiredis.h>

typedef struct ooblex_redis_config {
	char host[256];
	int port;
	char password[256];	/* empty: no AUTH */
	int db;
} ooblex_redis_config;

/* localhost:6379, no password, db 0. */
void ooblex_redis_config_default(ooblex_redis_config *cfg);

/* redis://[[user]:password@]host[:port][/db]; fields not in the URL keep
 * their value. Returns 0, or -1 with a reason in err. */
int ooblex_redis_parse_url(ooblex_redis_config *cfg, const char *url, char *err, size_t errlen);

/* Connects, authenticates and selects the database. timeout_ms bounds the
 * connect and every later command (0: no bound, for blocking pops). Returns
 * NULL with a reason in err. */
redisContext *ooblex_redis_connect(const ooblex_redis_config *cfg, int timeout_ms, char *err, size_t errlen);

/* Says how connecting went: err is NULL once connected (after_outage: a
 * failure was reported before), else the reason of the first failure of an
 * outage (later ones are not reported: one line per outage). */
typedef void (*ooblex_redis_report_fn)(void *user, const char *err, int after_outage);
/* Non-zero: give up waiting. */
typedef int (*ooblex_redis_stop_fn)(void *user);

/* Connects, retrying with backoff (ooblex_backoff_next_ms) until it works or
 * stop() says so (checked at least every 50 ms). *outage says whether the
 * connection is being re-established after a failure; callers set it when
 * they lose a connection. Returns NULL only when stopped. */
redisContext *ooblex_redis_connect_retry(const ooblex_redis_config *cfg, int timeout_ms, int *outage,
	ooblex_redis_stop_fn stop, ooblex_redis_report_fn report, void *user);

/* Next wait before a reconnect: doubles from 100 ms up to 2 s. */
static inline int ooblex_backoff_next_ms(int prev_ms) {
	if(prev_ms <= 0)
		return 100;
	return prev_ms >= 1000 ? 2000 : prev_ms * 2;
}

#endif
