/*
 * harness.c - see harness.h.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

ooblex_redis_config harness_redis;

int harness_init(void) {
	const char *port = getenv("OOBLEX_TEST_REDIS_PORT");
	ooblex_redis_config_default(&harness_redis);
	if(port == NULL || getenv("OOBLEX_TEST_WORKER") == NULL)
		return -1;
	harness_redis.port = atoi(port);
	return 0;
}

redisContext *harness_connect(int db, int flush) {
	ooblex_redis_config cfg = harness_redis;
	cfg.db = db;
	char err[256];
	redisContext *c = ooblex_redis_connect(&cfg, 2000, err, sizeof(err));
	if(c != NULL && flush)
		freeReplyObject(redisCommand(c, "FLUSHDB"));
	return c;
}

long long harness_int(redisContext *c, const char *fmt, const char *arg) {
	redisReply *r = redisCommand(c, fmt, arg);
	/* A missing key (nil) counts as 0, as INCR would start it. */
	long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer :
		r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : r && r->type == REDIS_REPLY_NIL ? 0 : -1;
	if(r)
		freeReplyObject(r);
	return v;
}

long long harness_wait_len(redisContext *c, const char *key, long long want, int ms) {
	long long n = harness_int(c, "LLEN %s", key);
	for(int i = 0; i < ms / 5 && n < want; i++) {
		g_usleep(5000);
		n = harness_int(c, "LLEN %s", key);
	}
	return n;
}

typedef struct child_setup {
	const char *log_path;
} child_setup;

/* In the child, before exec: stdout and stderr to the log file. */
static void redirect_output(gpointer data) {
	const child_setup *s = data;
	int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if(fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
}

GPid harness_spawn_worker(int db, const char *id, int delay_ms, int batch, const char *const *extra,
		const char *log_path) {
	const char *bin = getenv("OOBLEX_TEST_WORKER");
	char port[16], delay[16], dbs[16], batchs[16];
	g_snprintf(port, sizeof(port), "%d", harness_redis.port);
	g_snprintf(delay, sizeof(delay), "%d", delay_ms);
	g_snprintf(dbs, sizeof(dbs), "%d", db);
	g_snprintf(batchs, sizeof(batchs), "%d", batch);
	GPtrArray *argv = g_ptr_array_new();
	const char *fixed[] = { bin, "--port", port, "--db", dbs, "--id", id, "--delay-ms", delay, "--batch-size", batchs };
	for(size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
		g_ptr_array_add(argv, (gpointer)fixed[i]);
	for(const char *const *e = extra; e && *e; e++)
		g_ptr_array_add(argv, (gpointer)*e);
	g_ptr_array_add(argv, NULL);
	child_setup setup = { log_path };
	GPid pid = 0;
	GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD | (log_path ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL);
	if(bin == NULL || !g_spawn_async(NULL, (gchar **)argv->pdata, NULL, flags, log_path ? redirect_output : NULL,
			&setup, &pid, NULL))
		pid = 0;
	g_ptr_array_free(argv, TRUE);
	return pid;
}

void harness_stop(GPid pid, int sig, int *status) {
	kill(pid, sig);
	waitpid(pid, status, 0);
	g_spawn_close_pid(pid);
}

void harness_new_client(uint8_t id[OOBLEX_CLIENT_ID_LEN], char key[OOBLEX_KEY_MAX]) {
	char hex[OOBLEX_CLIENT_ID_HEX_LEN + 1];
	ooblex_client_id_generate(id);
	ooblex_client_id_to_hex(id, hex);
	ooblex_key_processed(key, hex);
}

static void flood(redisContext *c, const char *queue, const uint8_t id[OOBLEX_CLIENT_ID_LEN], const char *effect,
		uint32_t first, int n, const uint8_t *fill, uint64_t deadline_us);

void harness_flood(redisContext *c, const char *queue, const uint8_t id[OOBLEX_CLIENT_ID_LEN], const char *effect,
		int n, const uint8_t *fill, uint64_t deadline_us) {
	flood(c, queue, id, effect, 1, n, fill, deadline_us);
}

void harness_flood_from(redisContext *c, const char *queue, const uint8_t id[OOBLEX_CLIENT_ID_LEN], const char *effect,
		uint32_t first, int n) {
	flood(c, queue, id, effect, first, n, NULL, 0);
}

void harness_frame_header(ooblex_frame_header *h, const uint8_t id[OOBLEX_CLIENT_ID_LEN], const char *effect) {
	memset(h, 0, sizeof(*h));
	h->kind = OOBLEX_KIND_FRAME;
	memcpy(h->client_id, id, OOBLEX_CLIENT_ID_LEN);
	h->width = HARNESS_W;
	h->height = HARNESS_H;
	h->pixfmt = OOBLEX_PIXFMT_I420;
	h->reply_pixfmt = OOBLEX_PIXFMT_JPEG;
	h->jpeg_quality = 50;
	g_strlcpy(h->effect, effect, sizeof(h->effect));
	h->payload_len = (uint32_t)ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, HARNESS_W, HARNESS_H);
}

static void flood(redisContext *c, const char *queue, const uint8_t id[OOBLEX_CLIENT_ID_LEN], const char *effect,
		uint32_t first, int n, const uint8_t *fill, uint64_t deadline_us) {
	ooblex_frame_header h;
	harness_frame_header(&h, id, effect);
	h.deadline_us = deadline_us;
	size_t hlen = ooblex_wire_header_len(&h);
	uint8_t *msg = malloc(hlen + h.payload_len);
	if(fill != NULL)
		memcpy(msg + hlen, fill, h.payload_len);
	else
		memset(msg + hlen, 128, h.payload_len);
	for(int i = 0; i < n; i++) {
		h.frame_id = h.seq = first + (uint32_t)i;
		ooblex_wire_write_header(&h, msg);
		redisAppendCommand(c, "LPUSH %s %b", queue, msg, hlen + h.payload_len);
	}
	for(int i = 0; i < n; i++) {
		redisReply *r = NULL;
		if(redisGetReply(c, (void **)&r) == REDIS_OK)
			freeReplyObject(r);
	}
	free(msg);
}
