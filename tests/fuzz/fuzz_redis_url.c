/*
 * fuzz_redis_url.c - the Redis URL parser and its redacting formatters on
 * arbitrary text.
 *
 * fuzz-sources: common/ooblex_redis.c
 * fuzz-pkgs: hiredis
 *
 * Checks, beyond the sanitizers: a refused URL leaves the configuration
 * byte for byte as it was; an accepted one gives terminated fields, a port
 * and a db in range and a non-empty host; neither an error message nor a
 * description nor a redacted URL ever holds the password (raw as typed or
 * decoded: a description is exactly user, mask, host, port and db) when
 * that password does not also occur elsewhere in the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ooblex_redis.h"

/* text occurs in s outside [skip, skip + skiplen)? */
static int occurs_elsewhere(const char *s, size_t slen, const char *text, size_t tlen, size_t skip, size_t skiplen) {
	for(size_t i = 0; i + tlen <= slen; i++)
		if((i + tlen <= skip || i >= skip + skiplen) && memcmp(s + i, text, tlen) == 0)
			return 1;
	return 0;
}

/* The secret must not be in out, except where a match overlaps the mask
 * (out[mask_at, mask_at + mask_len)): the mask reveals nothing, and a user
 * name ending in "/0sis" beside ":***@" spells a secret "/0sis:*" by chance. */
static void must_not_show(const char *out, const char *input, size_t inlen, const char *secret, size_t slen,
		size_t at, size_t len, size_t mask_at, size_t mask_len) {
	/* Short secrets match by chance (a host name). */
	if(slen < 4 || occurs_elsewhere(input, inlen, secret, slen, at, len))
		return;
	size_t olen = strlen(out);
	for(size_t i = 0; i + slen <= olen; i++) {
		if(memcmp(out + i, secret, slen) != 0)
			continue;
		if(i < mask_at + mask_len && i + slen > mask_at)
			continue;
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if(size > 4096)
		return 0;
	char *url = malloc(size + 1);
	memcpy(url, data, size);
	url[size] = '\0';
	size_t len = strlen(url);	/* an embedded NUL ends the string, as in C callers */

	ooblex_redis_config cfg, before;
	ooblex_redis_config_default(&cfg);
	strcpy(cfg.user, "before-user");
	strcpy(cfg.password, "before-password");
	before = cfg;
	char err[256], shown[512], where[600];
	int rc = ooblex_redis_parse_url(&cfg, url, err, sizeof(err));
	if(strnlen(err, sizeof(err)) >= sizeof(err))
		abort();
	ooblex_redis_url_redact(url, shown, sizeof(shown));

	/* The raw password as typed: after the first ':' of the userinfo (or all
	 * of it) up to the last '@'. */
	const char *scheme = strstr(url, "://");
	const char *at = strrchr(url, '@');
	if(at != NULL) {
		const char *ui = scheme != NULL && scheme < at ? scheme + 3 : url;
		const char *colon = memchr(ui, ':', (size_t)(at - ui));
		const char *pw = colon != NULL ? colon + 1 : ui;
		size_t pwlen = (size_t)(at - pw);
		/* Where the redactor puts its mask: ":***@" for the colon on, or
		 * "***@" for the whole userinfo (ooblex_redis_url_redact). */
		size_t mask_at = colon != NULL ? (size_t)(colon - url) : (size_t)(ui - url);
		size_t mask_len = colon != NULL ? 5 : 4;
		must_not_show(shown, url, len, pw, pwlen, (size_t)(pw - url), pwlen, mask_at, mask_len);
		/* In an error, the URL is what is quoted (the reason is fixed text). */
		const char *quoted = strstr(err, "in Redis URL '");
		if(rc != 0 && quoted != NULL) {
			/* Without the closing quote, which is ours, not the URL's: a
			 * password ending in ' would otherwise "show" when the text
			 * after the '@' ends in the rest of it. */
			char inner[sizeof(err)];
			snprintf(inner, sizeof(inner), "%s", quoted + 14);
			size_t n = strlen(inner);
			if(n > 0 && inner[n - 1] == '\'')
				inner[n - 1] = '\0';
			must_not_show(inner, url, len, pw, pwlen, (size_t)(pw - url), pwlen, mask_at, mask_len);
		}
	}
	if(rc != 0) {
		if(memcmp(&cfg, &before, sizeof(cfg)) != 0)
			abort();
	} else {
		if(memchr(cfg.host, 0, sizeof(cfg.host)) == NULL || memchr(cfg.user, 0, sizeof(cfg.user)) == NULL ||
				memchr(cfg.password, 0, sizeof(cfg.password)) == NULL)
			abort();
		if(cfg.host[0] == '\0' || cfg.port < 1 || cfg.port > 65535 || cfg.db < 0 || cfg.db > OOBLEX_REDIS_DB_MAX)
			abort();
		ooblex_redis_config_describe(&cfg, where, sizeof(where));
		/* Exactly user, a mask, host, port and db: no room for the password. */
		char want[600];
		int v6 = strchr(cfg.host, ':') != NULL;
		snprintf(want, sizeof(want), "redis://%s%s%s%s%s:%d/%d", cfg.user,
			cfg.user[0] || cfg.password[0] ? ":***@" : "", v6 ? "[" : "", cfg.host, v6 ? "]" : "", cfg.port, cfg.db);
		if(strcmp(where, want) != 0)
			abort();
	}
	free(url);
	return 0;
}
