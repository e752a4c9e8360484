/*
 * test_redis_url.c - redis:// URLs as operators write them (ACL users,
 * passwords holding '@' and ':', IPv6 literals) and as they mistype them:
 * every bad URL is refused with a reason that never shows the password, and
 * leaves the configuration exactly as it was.
 */
#include "testlib.h"

#include "ooblex_redis.h"

typedef struct good_url {
	const char *url;
	const char *host;
	int port;
	const char *user;
	const char *password;
	int db;
} good_url;

/* From the defaults (127.0.0.1:6379, db 0, no user, no password). */
static const good_url good[] = {
	{ "redis://cache.example:6380/2", "cache.example", 6380, "", "", 2 },
	{ "redis://10.1.2.3", "10.1.2.3", 6379, "", "", 0 },
	{ "redis://:s3cret@10.1.2.3", "10.1.2.3", 6379, "", "s3cret", 0 },
	{ "redis://s3cret@h", "h", 6379, "", "s3cret", 0 },
	{ "redis://ooblex:pw@h:1", "h", 1, "ooblex", "pw", 0 },
	{ "redis://ooblex:pw@h:65535/15", "h", 65535, "ooblex", "pw", 15 },
	/* The last '@' ends the userinfo; the first ':' ends the user. */
	{ "redis://u:p@ss@h:7", "h", 7, "u", "p@ss", 0 },
	{ "redis://u:a:b:c@h", "h", 6379, "u", "a:b:c", 0 },
	{ "redis://:p@ss:w@rd@redis.internal:6390/3", "redis.internal", 6390, "", "p@ss:w@rd", 3 },
	/* Percent-encoded '@', ':', '%' and '/'. */
	{ "redis://u%40corp:p%40ss%3Aw%25rd%2F@h", "h", 6379, "u@corp", "p@ss:w%rd/", 0 },
	{ "redis://worker:%3a%40@h", "h", 6379, "worker", ":@", 0 },
	/* A user with an empty password (an ACL user with nopass). */
	{ "redis://worker:@h", "h", 6379, "worker", "", 0 },
	/* IPv6 literals. */
	{ "redis://[::1]:6380/2", "::1", 6380, "", "", 2 },
	{ "redis://[::1]", "::1", 6379, "", "", 0 },
	{ "redis://u:pw@[2001:db8::7]:6390", "2001:db8::7", 6390, "u", "pw", 0 },
	{ "redis://[::ffff:10.0.0.1]/1", "::ffff:10.0.0.1", 6379, "", "", 1 },
	/* Empty host: keeps the current one; '/' alone keeps the db. */
	{ "redis://:6390", "127.0.0.1", 6390, "", "", 0 },
	{ "redis://:pw@/3", "127.0.0.1", 6379, "", "pw", 3 },
	{ "redis://h/", "h", 6379, "", "", 0 },
	{ "redis://h:6379/1000000", "h", 6379, "", "", 1000000 },
};

typedef struct bad_url {
	const char *url;
	const char *reason;	/* part of the error message */
} bad_url;

static const bad_url bad[] = {
	{ "http://u:hunter2@h:1", "not a redis:// URL" },
	{ "rediss://u:hunter2@h", "not a redis:// URL" },
	{ "unix:/run/redis.sock", "unix sockets are not supported" },
	{ "hunter2", "not a redis:// URL" },
	{ "", "not a redis:// URL" },
	{ "redis://u:hunter2@h:99999", "bad port" },
	{ "redis://u:hunter2@h:0", "bad port" },
	{ "redis://u:hunter2@h:", "bad port" },
	{ "redis://u:hunter2@h:12ab", "bad port" },
	{ "redis://u:hunter2@h:-1", "bad port" },
	{ "redis://u:hunter2@h:+80", "bad port" },
	{ "redis://u:hunter2@h: 80", "bad port" },
	{ "redis://u:hunter2@h:0000000000006379", "bad port" },
	{ "redis://u:hunter2@h/x", "bad database" },
	{ "redis://u:hunter2@h/-1", "bad database" },
	{ "redis://u:hunter2@h/1000001", "bad database" },
	{ "redis://u:hunter2@h/99999999999999999999", "bad database" },
	{ "redis://u:hunter2@h/2?timeout=1", "bad database" },
	{ "redis://u:hunter2@h/2/3", "bad database" },
	{ "redis://u:hunter2@h:6379x", "bad port" },
	{ "redis://u:hunter2@ho st", "unexpected characters" },
	{ "redis://u:hunter2@h?x", "unexpected characters" },
	{ "redis://u:hunter2@h#frag", "unexpected characters" },
	{ "redis://u:hunter2@[::1", "closing ']'" },
	{ "redis://u:hunter2@[]:6379", "IPv6" },
	{ "redis://u:hunter2@[abc]:6379", "IPv6" },
	{ "redis://u:hunter2@[::1%eth0]", "IPv6" },
	{ "redis://u:hunter2@[::1]x", "unexpected characters" },
	{ "redis://u:hunter2@[::1]:65536", "bad port" },
	{ "redis://u:hunter2%@h", "bad password" },
	{ "redis://u:hunter2%4@h", "bad password" },
	{ "redis://u:hunter2%zz@h", "bad password" },
	{ "redis://u:hunter2%00x@h", "bad password" },
	{ "redis://u:hunter2%0a@h", "bad password" },
	{ "redis://u%zz:hunter2@h", "bad user" },
};

/* A configuration nobody would write, to see that a refused URL leaves it. */
static void sentinel(ooblex_redis_config *c) {
	ooblex_redis_config_default(c);
	snprintf(c->host, sizeof(c->host), "sentinel.host");
	c->port = 4242;
	snprintf(c->user, sizeof(c->user), "sentinel-user");
	snprintf(c->password, sizeof(c->password), "sentinel-pw");
	c->db = 7;
}

static void test_good_urls(void) {
	for(size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ooblex_redis_config c;
		char err[256] = "";
		ooblex_redis_config_default(&c);
		int rc = ooblex_redis_parse_url(&c, good[i].url, err, sizeof(err));
		if(rc != 0 || strcmp(c.host, good[i].host) != 0 || c.port != good[i].port || strcmp(c.user, good[i].user) != 0 ||
				strcmp(c.password, good[i].password) != 0 || c.db != good[i].db) {
			printf("#   %s: rc %d (%s) host '%s' port %d user '%s' password '%s' db %d\n", good[i].url, rc, err, c.host,
				c.port, c.user, c.password, c.db);
			EXPECT(0);
		}
	}
}

static void test_bad_urls_are_refused_and_change_nothing(void) {
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ooblex_redis_config c, before;
		char err[256] = "";
		sentinel(&c);
		before = c;
		int rc = ooblex_redis_parse_url(&c, bad[i].url, err, sizeof(err));
		if(rc != -1 || memcmp(&c, &before, sizeof(c)) != 0 || strstr(err, bad[i].reason) == NULL) {
			printf("#   %s: rc %d, err '%s' (want '%s'), config %s\n", bad[i].url, rc, err, bad[i].reason,
				memcmp(&c, &before, sizeof(c)) ? "CHANGED" : "kept");
			EXPECT(0);
		}
	}
}

/* Every URL of both tables carrying "hunter2" or a password of the good
 * table: the error messages and the descriptions never show it. */
static void test_passwords_never_shown(void) {
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ooblex_redis_config c;
		char err[256] = "", shown[256];
		sentinel(&c);
		ooblex_redis_parse_url(&c, bad[i].url, err, sizeof(err));
		if(strstr(err, "hunter2") != NULL) {
			printf("#   the error for %s shows the password: %s\n", bad[i].url, err);
			EXPECT(0);
		}
		ooblex_redis_url_redact(bad[i].url, shown, sizeof(shown));
		if(strstr(shown, "hunter2") != NULL) {
			printf("#   redacting %s gives %s\n", bad[i].url, shown);
			EXPECT(0);
		}
	}
	for(size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ooblex_redis_config c;
		char err[256], where[400], shown[256];
		ooblex_redis_config_default(&c);
		if(ooblex_redis_parse_url(&c, good[i].url, err, sizeof(err)) != 0 || c.password[0] == '\0')
			continue;
		ooblex_redis_config_describe(&c, where, sizeof(where));
		ooblex_redis_url_redact(good[i].url, shown, sizeof(shown));
		/* Raw and decoded, as it could leak either way. */
		const char *at = strrchr(good[i].url, '@'), *colon = strchr(good[i].url + 8, ':');
		char raw[128] = "";
		if(at != NULL) {
			const char *pw = colon != NULL && colon < at ? colon + 1 : good[i].url + 8;
			snprintf(raw, sizeof(raw), "%.*s", (int)(at - pw), pw);
		}
		if(strstr(where, c.password) != NULL || strstr(shown, c.password) != NULL ||
				(raw[0] && (strstr(where, raw) || strstr(shown, raw))) || strstr(where, "***") == NULL) {
			printf("#   %s: described as %s, redacted as %s\n", good[i].url, where, shown);
			EXPECT(0);
		}
	}
}

static void test_descriptions(void) {
	ooblex_redis_config c;
	char err[256], where[400], shown[256];
	ooblex_redis_config_default(&c);
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://ooblex:p%40ss@[::1]:6380/2", err, sizeof(err)), 0);
	EXPECT(strcmp(ooblex_redis_config_describe(&c, where, sizeof(where)), "redis://ooblex:***@[::1]:6380/2") == 0);
	ooblex_redis_config_default(&c);
	EXPECT(strcmp(ooblex_redis_config_describe(&c, where, sizeof(where)), "redis://127.0.0.1:6379/0") == 0);
	EXPECT(strcmp(ooblex_redis_url_redact("redis://u:p@ss@h:1/2", shown, sizeof(shown)), "redis://u:***@h:1/2") == 0);
	EXPECT(strcmp(ooblex_redis_url_redact("redis://secret@h", shown, sizeof(shown)), "redis://***@h") == 0);
	EXPECT(strcmp(ooblex_redis_url_redact("redis://h:1", shown, sizeof(shown)), "redis://h:1") == 0);
	EXPECT(strcmp(ooblex_redis_url_redact("u:pw@h", shown, sizeof(shown)), "u:***@h") == 0);
	EXPECT(strstr(ooblex_redis_url_redact("hunter2", shown, sizeof(shown)), "hunter2") == NULL);
	/* The error quotes the URL so that the operator can find it, redacted. */
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://u:hunter2@h:99999", err, sizeof(err)), -1);
	EXPECT(strstr(err, "'redis://u:***@h:99999'") != NULL);
}

/* Fields the URL leaves out keep their value (REDIS_PASSWORD then a URL
 * without one). */
static void test_fields_the_url_leaves_out_keep_their_value(void) {
	ooblex_redis_config c;
	char err[256];
	sentinel(&c);
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://other", err, sizeof(err)), 0);
	EXPECT(strcmp(c.host, "other") == 0 && c.port == 4242 && c.db == 7);
	EXPECT(strcmp(c.user, "sentinel-user") == 0 && strcmp(c.password, "sentinel-pw") == 0);
}

/* A URL with userinfo replaces both user and password. */
static void test_userinfo_replaces_user_and_password(void) {
	ooblex_redis_config c;
	char err[256];
	sentinel(&c);
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://:new@other", err, sizeof(err)), 0);
	EXPECT(c.user[0] == '\0' && strcmp(c.password, "new") == 0);
}

static void test_sizes(void) {
	ooblex_redis_config c, before;
	char err[256], url[1024];
	sentinel(&c);
	before = c;
	char longpw[300];
	memset(longpw, 'x', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	snprintf(url, sizeof(url), "redis://u:%s@h", longpw);
	EXPECT_EQ(ooblex_redis_parse_url(&c, url, err, sizeof(err)), -1);
	EXPECT(strstr(err, "too long") != NULL && strstr(err, "xxxxxxxx") == NULL);
	char longhost[300];
	memset(longhost, 'h', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	snprintf(url, sizeof(url), "redis://%s", longhost);
	EXPECT_EQ(ooblex_redis_parse_url(&c, url, err, sizeof(err)), -1);
	EXPECT(memcmp(&c, &before, sizeof(c)) == 0);
	/* A tiny error buffer is still a terminated string. */
	char tiny[8];
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://u:hunter2@h:0", tiny, sizeof(tiny)), -1);
	EXPECT(strlen(tiny) < sizeof(tiny));
}

int main(void) {
	TEST_RUN(test_good_urls);
	TEST_RUN(test_bad_urls_are_refused_and_change_nothing);
	TEST_RUN(test_passwords_never_shown);
	TEST_RUN(test_descriptions);
	TEST_RUN(test_fields_the_url_leaves_out_keep_their_value);
	TEST_RUN(test_userinfo_replaces_user_and_password);
	TEST_RUN(test_sizes);
	return tl_done();
}
