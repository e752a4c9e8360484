/*
 * test_redis_acl.c - a Redis that only lets an ACL user in (its default user
 * is off), reached with a redis:// URL carrying that user and a password
 * with '@', ':', '%' and '/' in it, percent-encoded: the plugin's Redis
 * pipeline (producer and reader) and a real ooblex-worker process get frames
 * through; a wrong password is reported clearly, without the password, and
 * retried with backoff until the ACL accepts it (no crash, no frame lost);
 * the same Redis over an IPv6 literal.
 *
 * tests/integration/run.sh starts that Redis (OOBLEX_TEST_ACL_PORT) with
 * user OOBLEX_TEST_ACL_USER and password OOBLEX_TEST_ACL_PASSWORD, and
 * gives the worker binary (OOBLEX_TEST_WORKER).
 */
#include "testlib.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "harness.h"
#include "producer.h"
#include "results.h"

static char user[64], password[128], encoded_password[384], acl_url[512];
static int acl_port;
static char log_dir[256] = "/tmp";

/* Everything the pipeline logged, to look for errors and leaks. */
static GMutex log_lock;
static GString *logged;

static void capture_log(int level, const char *msg) {
	(void)level;
	g_mutex_lock(&log_lock);
	g_string_append_printf(logged, "%s\n", msg);
	g_mutex_unlock(&log_lock);
}

static int log_has(const char *text) {
	g_mutex_lock(&log_lock);
	int found = strstr(logged->str, text) != NULL;
	g_mutex_unlock(&log_lock);
	return found;
}

static void percent_encode(const char *in, char *out, size_t outlen) {
	size_t o = 0;
	for(const unsigned char *p = (const unsigned char *)in; *p && o + 4 < outlen; p++) {
		if(g_ascii_isalnum(*p) || *p == '-' || *p == '_' || *p == '.')
			out[o++] = (char)*p;
		else
			o += (size_t)g_snprintf(out + o, outlen - o, "%%%02X", *p);
	}
	out[o] = '\0';
}

static char *whoami(const ooblex_redis_config *cfg, char *err, size_t errlen) {
	redisContext *c = ooblex_redis_connect(cfg, 2000, err, errlen);
	if(c == NULL)
		return NULL;
	redisReply *r = redisCommand(c, "ACL WHOAMI");
	char *who = r && r->type == REDIS_REPLY_STRING ? g_strdup(r->str) : NULL;
	if(r)
		freeReplyObject(r);
	redisFree(c);
	return who;
}

static void test_the_acl_user_is_authenticated(void) {
	ooblex_redis_config cfg;
	char err[256];
	ooblex_redis_config_default(&cfg);
	REQUIRE(ooblex_redis_parse_url(&cfg, acl_url, err, sizeof(err)) == 0);
	EXPECT(strcmp(cfg.user, user) == 0);
	EXPECT(strcmp(cfg.password, password) == 0);
	char *who = whoami(&cfg, err, sizeof(err));
	if(who == NULL)
		printf("#   %s\n", err);
	EXPECT(who != NULL && strcmp(who, user) == 0);
	g_free(who);
	/* The default user is off: the password alone gets nowhere, with a
	 * message that says so and does not repeat the password. */
	ooblex_redis_config alone = cfg;
	alone.user[0] = '\0';
	who = whoami(&alone, err, sizeof(err));
	EXPECT(who == NULL);
	EXPECT(strstr(err, "AUTH failed") != NULL);
	EXPECT(strstr(err, password) == NULL && strstr(err, encoded_password) == NULL);
	g_free(who);
}

static void test_the_same_redis_over_ipv6(void) {
	/* Only where this machine has ::1 (run.sh binds Redis there if it can). */
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)acl_port), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int reachable = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if(s >= 0)
		close(s);
	if(!reachable) {
		printf("# no Redis on [::1]:%d (no IPv6 loopback here): skipped\n", acl_port);
		return;
	}
	char url[600], err[256];
	g_snprintf(url, sizeof(url), "redis://%s:%s@[::1]:%d/3", user, encoded_password, acl_port);
	ooblex_redis_config cfg;
	ooblex_redis_config_default(&cfg);
	REQUIRE(ooblex_redis_parse_url(&cfg, url, err, sizeof(err)) == 0);
	EXPECT(strcmp(cfg.host, "::1") == 0 && cfg.db == 3);
	char *who = whoami(&cfg, err, sizeof(err));
	if(who == NULL)
		printf("#   %s\n", err);
	EXPECT(who != NULL && strcmp(who, user) == 0);
	g_free(who);
}

typedef struct results {
	atomic_int n;
} results;

static void count_result(const char *key, const uint8_t *msg, size_t len, void *user_data) {
	(void)key;
	ooblex_frame_header h;
	const uint8_t *payload;
	if(ooblex_wire_parse(msg, len, &h, &payload) == OOBLEX_WIRE_OK && h.kind == OOBLEX_KIND_RESULT)
		atomic_fetch_add(&((results *)user_data)->n, 1);
}

static void no_tick(void *user_data) {
	(void)user_data;
}

/* A small I420 frame for client id, seq, effect "invert". */
static uint8_t *make_frame(const uint8_t id[OOBLEX_CLIENT_ID_LEN], uint32_t seq, size_t *len) {
	ooblex_frame_header h;
	harness_frame_header(&h, id, "invert");
	h.frame_id = h.seq = seq;
	size_t hlen = ooblex_wire_header_len(&h);
	uint8_t *msg = malloc(hlen + h.payload_len);
	memset(msg + hlen, 100, h.payload_len);
	ooblex_wire_write_header(&h, msg);
	*len = hlen + h.payload_len;
	return msg;
}

static int wait_count(atomic_int *n, int want, int ms) {
	for(int i = 0; i < ms / 10 && atomic_load(n) < want; i++)
		g_usleep(10000);
	return atomic_load(n);
}

static int file_has(const char *path, const char *text) {
	gchar *s = NULL;
	int found = g_file_get_contents(path, &s, NULL, NULL) && strstr(s, text) != NULL;
	g_free(s);
	return found;
}

static int wait_file_has(const char *path, const char *text, int ms) {
	for(int i = 0; i < ms / 20; i++) {
		if(file_has(path, text))
			return 1;
		g_usleep(20000);
	}
	return file_has(path, text);
}

/* The plugin's producer and reader, and a worker process, all as the ACL
 * user: frames in, results back. */
static void test_pipeline_and_worker_as_the_acl_user(void) {
	ooblex_redis_config cfg;
	char err[256];
	ooblex_redis_config_default(&cfg);
	REQUIRE(ooblex_redis_parse_url(&cfg, acl_url, err, sizeof(err)) == 0);
	cfg.db = 1;
	harness_redis = cfg;
	redisContext *rc = harness_connect(1, 1);
	REQUIRE(rc != NULL);
	char log_path[512];
	g_snprintf(log_path, sizeof(log_path), "%s/acl-worker.log", log_dir);
	g_unlink(log_path);
	const char *extra[] = { "--redis-url", acl_url, NULL };
	GPid w = harness_spawn_worker(1, "acl-worker", 0, 1, extra, log_path);
	REQUIRE(w > 0);
	EXPECT(wait_file_has(log_path, "connected to Redis", 10000));

	results got = { 0 };
	ooblex_producer *p = ooblex_producer_start(&cfg, 64, capture_log, err, sizeof(err));
	REQUIRE(p != NULL);
	ooblex_reader *r = ooblex_reader_start(&cfg, 20, count_result, no_tick, &got, capture_log, err, sizeof(err));
	REQUIRE(r != NULL);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	ooblex_reader_watch(r, key);
	for(uint32_t seq = 1; seq <= 20; seq++) {
		size_t len;
		uint8_t *msg = make_frame(id, seq, &len);
		EXPECT_EQ(ooblex_producer_push_frame(p, r, msg, len), 0);
	}
	EXPECT_EQ(wait_count(&got.n, 20, 10000), 20);
	ooblex_reader_stop(r);
	ooblex_producer_stop(p);
	harness_stop(w, SIGTERM, NULL);
	EXPECT(file_has(log_path, "Processing frame"));
	EXPECT(file_has(log_path, "redis://"));	/* the worker says where, ... */
	EXPECT(!file_has(log_path, password) && !file_has(log_path, encoded_password));	/* ... never with what */
	EXPECT(!log_has(password) && !log_has(encoded_password));
	redisFree(rc);
}

/* A wrong password: the plugin's connections and a worker say why they
 * cannot connect (WRONGPASS, not the password), keep retrying with backoff,
 * and get in as soon as the ACL takes that password; frames queued meanwhile
 * are delivered. */
static void test_wrong_password_is_reported_and_retried(void) {
	const char *wrong = "wr0ng@pass:word";
	char wrong_enc[128], url[600], err[256];
	percent_encode(wrong, wrong_enc, sizeof(wrong_enc));
	g_snprintf(url, sizeof(url), "redis://%s:%s@127.0.0.1:%d/4", user, wrong_enc, acl_port);
	ooblex_redis_config bad, good;
	ooblex_redis_config_default(&bad);
	REQUIRE(ooblex_redis_parse_url(&bad, url, err, sizeof(err)) == 0);
	ooblex_redis_config_default(&good);
	REQUIRE(ooblex_redis_parse_url(&good, acl_url, err, sizeof(err)) == 0);
	good.db = 4;
	harness_redis = good;
	redisContext *admin = harness_connect(4, 1);
	REQUIRE(admin != NULL);

	g_mutex_lock(&log_lock);
	g_string_truncate(logged, 0);
	g_mutex_unlock(&log_lock);
	ooblex_producer *p = ooblex_producer_start(&bad, 64, capture_log, err, sizeof(err));
	REQUIRE(p != NULL);
	char log_path[512];
	g_snprintf(log_path, sizeof(log_path), "%s/acl-wrong-worker.log", log_dir);
	g_unlink(log_path);
	const char *extra[] = { "--redis-url", url, NULL };
	GPid w = harness_spawn_worker(4, "acl-wrong", 0, 1, extra, log_path);
	REQUIRE(w > 0);
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	for(uint32_t seq = 1; seq <= 5; seq++) {
		size_t len;
		uint8_t *msg = make_frame(id, seq, &len);
		EXPECT_EQ(ooblex_producer_push(p, OOBLEX_KEY_FRAMES, msg, len), 0);
	}
	for(int i = 0; i < 300 && !log_has("WRONGPASS"); i++)
		g_usleep(10000);
	EXPECT(log_has("WRONGPASS"));
	EXPECT(log_has("retrying with backoff"));
	EXPECT(wait_file_has(log_path, "WRONGPASS", 5000));
	g_usleep(1500 * 1000);	/* several retries */
	EXPECT_EQ(atomic_load(&ooblex_producer_get_stats(p)->connected), 0);
	EXPECT_EQ(ooblex_producer_pending(p), 5);
	EXPECT_EQ(kill(w, 0), 0);	/* still running */
	EXPECT(!file_has(log_path, "connected to Redis"));

	/* Now the ACL takes that password too: both get in by themselves. */
	redisReply *r = redisCommand(admin, "ACL SETUSER %s >%s", user, wrong);
	EXPECT(r != NULL && r->type == REDIS_REPLY_STATUS);
	if(r)
		freeReplyObject(r);
	EXPECT(wait_file_has(log_path, "connected to Redis", 6000));
	/* The worker processes what the producer delivers once connected. */
	char done_key[OOBLEX_KEY_MAX];
	g_strlcpy(done_key, key, sizeof(done_key));
	EXPECT_EQ(harness_wait_len(admin, done_key, 5, 10000), 5);
	EXPECT_EQ(atomic_load(&ooblex_producer_get_stats(p)->connected), 1);
	EXPECT_EQ(ooblex_producer_pending(p), 0);
	ooblex_producer_stop(p);
	harness_stop(w, SIGTERM, NULL);
	r = redisCommand(admin, "ACL SETUSER %s <%s", user, wrong);
	if(r)
		freeReplyObject(r);
	EXPECT(!log_has(wrong) && !log_has(wrong_enc));
	EXPECT(!file_has(log_path, wrong) && !file_has(log_path, wrong_enc));
	redisFree(admin);
}

int main(void) {
	const char *port = getenv("OOBLEX_TEST_ACL_PORT"), *u = getenv("OOBLEX_TEST_ACL_USER"),
		*pw = getenv("OOBLEX_TEST_ACL_PASSWORD");
	if(port == NULL || u == NULL || pw == NULL || getenv("OOBLEX_TEST_WORKER") == NULL) {
		printf("not ok - test_redis_acl needs tests/integration/run.sh\n");
		return 1;
	}
	acl_port = atoi(port);
	if(getenv("OOBLEX_TEST_LOG_DIR") != NULL)
		g_strlcpy(log_dir, getenv("OOBLEX_TEST_LOG_DIR"), sizeof(log_dir));
	g_strlcpy(user, u, sizeof(user));
	g_strlcpy(password, pw, sizeof(password));
	percent_encode(password, encoded_password, sizeof(encoded_password));
	g_snprintf(acl_url, sizeof(acl_url), "redis://%s:%s@127.0.0.1:%d", user, encoded_password, acl_port);
	logged = g_string_new(NULL);
	TEST_RUN(test_the_acl_user_is_authenticated);
	TEST_RUN(test_the_same_redis_over_ipv6);
	TEST_RUN(test_pipeline_and_worker_as_the_acl_user);
	TEST_RUN(test_wrong_password_is_reported_and_retried);
	g_string_free(logged, TRUE);
	return tl_done();
}
