/*
 * redis_conn.c - see redis_conn.h.
 */
#include "redis_conn.h"

#include <stdarg.h>
#include <stdio.h>

void ooblex_queue_log(ooblex_log_fn log, int level, const char *fmt, ...) {
	if(log == NULL)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log(level, buf);
}

/* How a thread's connection attempts are reported. */
typedef struct connect_report {
	const ooblex_redis_config *cfg;
	volatile gint *stop;
	ooblex_log_fn log;
	const char *who;
} connect_report;

static int report_stop(void *user) {
	return g_atomic_int_get(((connect_report *)user)->stop);
}

static void report_connect(void *user, const char *err, int after_outage) {
	connect_report *r = user;
	char where[400];	/* never the password */
	ooblex_redis_config_describe(r->cfg, where, sizeof(where));
	if(err != NULL)
		ooblex_queue_log(r->log, 1, "%s: Redis unavailable (%s); retrying with backoff", r->who, err);
	else if(after_outage)
		ooblex_queue_log(r->log, 2, "%s: Redis at %s is back", r->who, where);
	else
		ooblex_queue_log(r->log, 2, "%s: connected to Redis at %s", r->who, where);
}

redisContext *ooblex_queue_connect(const ooblex_redis_config *cfg, int timeout_ms, volatile gint *stop,
		ooblex_log_fn log, const char *who, int *outage_logged) {
	connect_report r = { cfg, stop, log, who };
	return ooblex_redis_connect_retry(cfg, timeout_ms, outage_logged, report_stop, report_connect, &r);
}
