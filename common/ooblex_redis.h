/*
 * ooblex_redis.h - where Redis is and how to reach it, for plugin and worker.
 *
 * Owns: parsing redis:// URLs and environment settings, opening a hiredis
 * connection (AUTH, SELECT, timeouts), the reconnect backoff schedule, and
 * describing where Redis is without ever showing a password (every log line
 * and error message that names a Redis goes through the formatters here),
 * and walking keys by pattern (SCAN, bounded).
 * hiredis contexts are not thread-safe: every thread opens its own.
 * hiredis 0.14 has no TLS: remote workers reach a TLS-only Redis through a
 * local stunnel (deploy/tls/, README "Remote workers over TLS").
 */
#ifndef OOBLEX_REDIS_H
#define OOBLEX_REDIS_H

#include <stdint.h>
#include <hiredis/hiredis.h>

typedef struct ooblex_redis_config {
	char host[256];	/* a name, an IPv4 address or an IPv6 address (no brackets) */
	int port;
	char user[128];	/* Redis 6+ ACL user; empty: AUTH password alone (the default user) */
	char password[256];	/* empty and no user: no AUTH */
	int db;
} ooblex_redis_config;

#define OOBLEX_REDIS_DB_MAX 1000000

/* localhost:6379, no password, db 0. */
void ooblex_redis_config_default(ooblex_redis_config *cfg);

/* redis://[[user]:password@]host[:port][/db]
 *  - userinfo ends at the LAST '@' (a password may hold '@'); user and
 *    password split at the first ':' and are percent-decoded (%40 is '@',
 *    %3A ':'); "user:pw@" sends AUTH user pw, ":pw@" and "pw@" AUTH pw;
 *  - host: a name, an IPv4 address, or an IPv6 literal in brackets
 *    (redis://[::1]:6380/2); empty keeps the current host;
 *  - port 1..65535, db 0..OOBLEX_REDIS_DB_MAX, nothing after the db.
 * Fields not in the URL keep their value. All or nothing: on error cfg is
 * untouched and err says why, without the password (the URL is quoted
 * redacted). Returns 0 or -1. */
int ooblex_redis_parse_url(ooblex_redis_config *cfg, const char *url, char *err, size_t errlen);

/* url with any password replaced by "***" (redis://user:***@host:6379/0),
 * also for URLs that do not parse: safe to log. Returns out. */
char *ooblex_redis_url_redact(const char *url, char *out, size_t outlen);

/* Where cfg points, for logs: "redis://user:***@[::1]:6380/2" (the password
 * never appears, only whether there is one). Returns out. */
char *ooblex_redis_config_describe(const ooblex_redis_config *cfg, char *out, size_t outlen);

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

/* Walks the keys matching pattern with SCAN (COUNT OOBLEX_REDIS_SCAN_COUNT,
 * never KEYS: it never blocks Redis, however many keys it holds), calling
 * fn once per page with the page's keys (bulk string replies; fn may send
 * commands of its own on c: the page has been read whole). Bounded twice:
 * at most max_keys keys reach fn in all (a page is cut to fit), and at most
 * OOBLEX_REDIS_SCAN_MAX_PAGES pages are asked for (SCAN may return empty
 * pages when few of many keys match). A key may come twice if the keyspace
 * is rehashed meanwhile (SCAN's own guarantee: every key present throughout
 * comes at least once). Returns 0 once done, -1 when Redis gave no reply or
 * no SCAN reply, or fn's value when fn returned non-zero (which stops it). */
#define OOBLEX_REDIS_SCAN_COUNT 200
#define OOBLEX_REDIS_SCAN_MAX_PAGES 1000
typedef int (*ooblex_redis_scan_fn)(redisContext *c, redisReply *const *keys, size_t n, void *user);
int ooblex_redis_scan(redisContext *c, const char *pattern, size_t max_keys, ooblex_redis_scan_fn fn, void *user);

/* Next wait before a reconnect: doubles from 100 ms up to 2 s. */
static inline int ooblex_backoff_next_ms(int prev_ms) {
	if(prev_ms <= 0)
		return 100;
	return prev_ms >= 1000 ? 2000 : prev_ms * 2;
}

#endif
