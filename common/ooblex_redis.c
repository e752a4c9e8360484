/*
 * ooblex_redis.c - Redis addressing and connection set-up.
 */
#include "ooblex_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

void ooblex_redis_config_default(ooblex_redis_config *cfg) {
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
	cfg->port = 6379;
}

static int parse_port(const char *s, size_t n, int *port) {
	char buf[8];
	if(n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *end = NULL;
	long v = strtol(buf, &end, 10);
	if(*end != '\0' || v <= 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int ooblex_redis_parse_url(ooblex_redis_config *cfg, const char *url, char *err, size_t errlen) {
	const char *p = url;
	if(strncmp(p, "redis://", 8) != 0) {
		snprintf(err, errlen, "Redis URL must start with redis:// (got '%s')", url);
		return -1;
	}
	p += 8;
	const char *end = p + strcspn(p, "/?");
	const char *at = memchr(p, '@', (size_t)(end - p));
	if(at != NULL) {
		/* user:password@ or :password@ or password@ (Redis 6 ACL user is ignored:
		 * AUTH with the password alone uses the default user). */
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *pw = colon ? colon + 1 : p;
		size_t n = (size_t)(at - pw);
		if(n >= sizeof(cfg->password)) {
			snprintf(err, errlen, "Redis password too long");
			return -1;
		}
		memcpy(cfg->password, pw, n);
		cfg->password[n] = '\0';
		p = at + 1;
	}
	const char *colon = memchr(p, ':', (size_t)(end - p));
	const char *host_end = colon ? colon : end;
	size_t hn = (size_t)(host_end - p);
	if(hn > 0) {
		if(hn >= sizeof(cfg->host)) {
			snprintf(err, errlen, "Redis host too long");
			return -1;
		}
		memcpy(cfg->host, p, hn);
		cfg->host[hn] = '\0';
	}
	if(colon != NULL && parse_port(colon + 1, (size_t)(end - colon - 1), &cfg->port) < 0) {
		snprintf(err, errlen, "bad port in Redis URL '%s'", url);
		return -1;
	}
	if(*end == '/' && end[1] != '\0' && end[1] != '?') {
		char *dend = NULL;
		long db = strtol(end + 1, &dend, 10);
		if((*dend != '\0' && *dend != '?') || db < 0 || db > 1000000) {
			snprintf(err, errlen, "bad database number in Redis URL '%s'", url);
			return -1;
		}
		cfg->db = (int)db;
	}
	return 0;
}

redisContext *ooblex_redis_connect(const ooblex_redis_config *cfg, int timeout_ms, char *err, size_t errlen) {
	struct timeval tv = { .tv_sec = (timeout_ms > 0 ? timeout_ms : 2000) / 1000,
		.tv_usec = ((timeout_ms > 0 ? timeout_ms : 2000) % 1000) * 1000 };
	redisContext *c = redisConnectWithTimeout(cfg->host, cfg->port, tv);
	if(c == NULL) {
		snprintf(err, errlen, "cannot allocate a Redis context");
		return NULL;
	}
	if(c->err) {
		snprintf(err, errlen, "%s:%d: %s", cfg->host, cfg->port, c->errstr);
		redisFree(c);
		return NULL;
	}
	if(timeout_ms > 0) {
		redisSetTimeout(c, tv);
	} else {
		struct timeval none = { 0, 0 };
		redisSetTimeout(c, none);
	}
	if(cfg->password[0] != '\0') {
		redisReply *r = redisCommand(c, "AUTH %s", cfg->password);
		int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
		snprintf(err, errlen, "AUTH failed: %s", r ? (r->str ? r->str : "?") : c->errstr);
		if(r)
			freeReplyObject(r);
		if(!ok) {
			redisFree(c);
			return NULL;
		}
	}
	if(cfg->db != 0) {
		redisReply *r = redisCommand(c, "SELECT %d", cfg->db);
		int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
		snprintf(err, errlen, "SELECT %d failed: %s", cfg->db, r ? (r->str ? r->str : "?") : c->errstr);
		if(r)
			freeReplyObject(r);
		if(!ok) {
			redisFree(c);
			return NULL;
		}
	}
	err[0] = '\0';
	return c;
}

redisContext *ooblex_redis_connect_retry(const ooblex_redis_config *cfg, int timeout_ms, int *outage,
		ooblex_redis_stop_fn stop, ooblex_redis_report_fn report, void *user) {
	int wait_ms = 0;
	while(!stop(user)) {
		char err[256];
		redisContext *c = ooblex_redis_connect(cfg, timeout_ms, err, sizeof(err));
		if(c != NULL) {
			report(user, NULL, *outage);
			*outage = 0;
			return c;
		}
		if(!*outage) {
			report(user, err, 0);
			*outage = 1;
		}
		wait_ms = ooblex_backoff_next_ms(wait_ms);
		/* In slices, so that a stop is noticed while waiting. */
		for(int slept = 0; slept < wait_ms && !stop(user); slept += 50) {
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}
