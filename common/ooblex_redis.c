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

/* A decimal number of at most 9 digits in [lo, hi]; nothing else. */
static int parse_decimal(const char *s, size_t n, long lo, long hi, long *out) {
	if(n == 0 || n > 9)
		return -1;
	long v = 0;
	for(size_t i = 0; i < n; i++) {
		if(s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if(v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int hex_value(char c) {
	if(c >= '0' && c <= '9')
		return c - '0';
	if(c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if(c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into out (outlen bytes with the NUL). Refuses
 * malformed escapes, %00 and control characters: either would change what
 * AUTH sends without the operator seeing it. */
static int percent_decode(const char *s, size_t n, char *out, size_t outlen, const char **why) {
	size_t o = 0;
	for(size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if(c == '%') {
			int h = i + 2 < n ? hex_value(s[i + 1]) : -1;
			int l = h >= 0 ? hex_value(s[i + 2]) : -1;
			if(h < 0 || l < 0) {
				*why = "a '%' not followed by two hex digits";
				return -1;
			}
			c = (unsigned char)(h * 16 + l);
			i += 2;
			if(c == 0) {
				*why = "%00";
				return -1;
			}
		}
		if(c < 0x20 || c == 0x7f) {
			*why = "a control character";
			return -1;
		}
		if(o + 1 >= outlen) {
			*why = "too long";
			return -1;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int is_name_char(char c) {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		c == '_';
}

static int is_ipv6_char(char c) {
	return hex_value(c) >= 0 || c == ':' || c == '.';
}

/* Everything after the scheme up to the last '@' is userinfo: redacted as
 * "user:***" (or "***" without a ':'). */
char *ooblex_redis_url_redact(const char *url, char *out, size_t outlen) {
	if(outlen == 0)
		return out;
	if(url == NULL) {
		snprintf(out, outlen, "(none)");
		return out;
	}
	const char *at = strrchr(url, '@');
	if(at == NULL) {
		/* Without "://" it may be a password pasted in the wrong place. */
		snprintf(out, outlen, "%s", strstr(url, "://") != NULL ? url : "(not a URL: not shown)");
		return out;
	}
	const char *scheme_end = strstr(url, "://");
	const char *userinfo = scheme_end != NULL && scheme_end < at ? scheme_end + 3 : url;
	const char *colon = memchr(userinfo, ':', (size_t)(at - userinfo));
	size_t keep = colon != NULL ? (size_t)(colon - url) : (size_t)(userinfo - url);
	snprintf(out, outlen, "%.*s%s%s", (int)keep, url, colon != NULL ? ":***@" : "***@", at + 1);
	return out;
}

char *ooblex_redis_config_describe(const ooblex_redis_config *cfg, char *out, size_t outlen) {
	int v6 = strchr(cfg->host, ':') != NULL;
	snprintf(out, outlen, "redis://%s%s%s%s%s:%d/%d", cfg->user,
		cfg->user[0] ? ":***@" : cfg->password[0] ? ":***@" : "",
		v6 ? "[" : "", cfg->host, v6 ? "]" : "", cfg->port, cfg->db);
	return out;
}

/* Sets err to "what in Redis URL <redacted url>". */
static int url_error(char *err, size_t errlen, const char *url, const char *what) {
	char shown[600];
	ooblex_redis_url_redact(url, shown, sizeof(shown));
	snprintf(err, errlen, "%s in Redis URL '%s'", what, shown);
	return -1;
}

int ooblex_redis_parse_url(ooblex_redis_config *cfg, const char *url, char *err, size_t errlen) {
	char what[160];
	const char *why = NULL;
	/* Parsed into a copy: a URL that fails half-way changes nothing. */
	ooblex_redis_config next = *cfg;
	if(url == NULL)
		return url_error(err, errlen, "", "no URL");
	if(strncmp(url, "unix:", 5) == 0)
		return url_error(err, errlen, url, "unix sockets are not supported (use redis://host:port)");
	if(strncmp(url, "redis://", 8) != 0)
		return url_error(err, errlen, url, "not a redis:// URL (rediss:// TLS: see README, Remote workers over TLS)");
	const char *p = url + 8;
	const char *at = strrchr(p, '@');
	if(at != NULL) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if(colon != NULL) {
			if(percent_decode(p, (size_t)(colon - p), next.user, sizeof(next.user), &why) < 0) {
				snprintf(what, sizeof(what), "bad user name (%s)", why);
				return url_error(err, errlen, url, what);
			}
		} else {
			/* "pw@host": a password alone, as redis-cli -a takes it. */
			next.user[0] = '\0';
		}
		const char *pw = colon != NULL ? colon + 1 : p;
		if(percent_decode(pw, (size_t)(at - pw), next.password, sizeof(next.password), &why) < 0) {
			snprintf(what, sizeof(what), "bad password (%s)", why);
			return url_error(err, errlen, url, what);
		}
		p = at + 1;
	}
	/* host */
	const char *host = p, *host_end;
	if(*p == '[') {
		host = p + 1;
		host_end = strchr(host, ']');
		if(host_end == NULL)
			return url_error(err, errlen, url, "an IPv6 address without its closing ']'");
		if(host_end == host || memchr(host, ':', (size_t)(host_end - host)) == NULL)
			return url_error(err, errlen, url, "an empty or malformed IPv6 address");
		for(const char *c = host; c < host_end; c++)
			if(!is_ipv6_char(*c))
				return url_error(err, errlen, url, "a bad character in the IPv6 address");
		p = host_end + 1;
	} else {
		host_end = p;
		while(is_name_char(*host_end))
			host_end++;
		p = host_end;
	}
	size_t hn = (size_t)(host_end - host);
	if(hn >= sizeof(next.host))
		return url_error(err, errlen, url, "a host name that is too long");
	if(hn > 0) {
		memcpy(next.host, host, hn);
		next.host[hn] = '\0';
	}
	/* port */
	if(*p == ':') {
		const char *digits = ++p;
		while(*p >= '0' && *p <= '9')
			p++;
		long port;
		if(parse_decimal(digits, (size_t)(p - digits), 1, 65535, &port) < 0 || (*p != '\0' && *p != '/'))
			return url_error(err, errlen, url, "a bad port (1..65535)");
		next.port = (int)port;
	}
	/* db */
	if(*p == '/') {
		const char *digits = ++p;
		while(*p >= '0' && *p <= '9')
			p++;
		long db;
		if(p > digits || *p != '\0') {
			if(parse_decimal(digits, (size_t)(p - digits), 0, OOBLEX_REDIS_DB_MAX, &db) < 0 || *p != '\0') {
				snprintf(what, sizeof(what), "a bad database number (0..%d)", OOBLEX_REDIS_DB_MAX);
				return url_error(err, errlen, url, what);
			}
			next.db = (int)db;
		}
	}
	if(*p != '\0')
		return url_error(err, errlen, url, hn == 0 && p == host ? "a bad host" : "unexpected characters after the host");
	if(next.host[0] == '\0')
		return url_error(err, errlen, url, "no host");
	*cfg = next;
	err[0] = '\0';
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
		char where[400];
		snprintf(err, errlen, "%s: %s", ooblex_redis_config_describe(cfg, where, sizeof(where)), c->errstr);
		redisFree(c);
		return NULL;
	}
	if(timeout_ms > 0) {
		redisSetTimeout(c, tv);
	} else {
		struct timeval none = { 0, 0 };
		redisSetTimeout(c, none);
	}
	if(cfg->user[0] != '\0' || cfg->password[0] != '\0') {
		/* Redis' own error (WRONGPASS ...) never holds the password; neither does ours. */
		redisReply *r = cfg->user[0] != '\0' ? redisCommand(c, "AUTH %s %s", cfg->user, cfg->password) :
			redisCommand(c, "AUTH %s", cfg->password);
		int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
		if(!ok) {
			snprintf(err, errlen, "AUTH%s%s failed: %s", cfg->user[0] ? " as user " : "", cfg->user,
				r ? (r->str ? r->str : "?") : c->errstr);
			if(r)
				freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
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

int ooblex_redis_scan(redisContext *c, const char *pattern, size_t max_keys, ooblex_redis_scan_fn fn, void *user) {
	char cursor[32] = "0";
	size_t seen = 0;
	for(int pages = 0; pages < OOBLEX_REDIS_SCAN_MAX_PAGES && seen < max_keys; pages++) {
		redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT %d", cursor, pattern, OOBLEX_REDIS_SCAN_COUNT);
		if(r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
				r->element[1]->type != REDIS_REPLY_ARRAY) {
			if(r)
				freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		size_t n = r->element[1]->elements;
		if(n > max_keys - seen)
			n = max_keys - seen;
		seen += n;
		int rc = n > 0 ? fn(c, r->element[1]->element, n, user) : 0;
		freeReplyObject(r);
		if(rc != 0)
			return rc;
		if(strcmp(cursor, "0") == 0)
			break;
	}
	return 0;
}
