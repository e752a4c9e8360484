/*
 * harness.h - what the integration tests share: the test Redis, worker
 * processes, and frames put straight into a queue.
 *
 * The Redis is the one tests/integration/run.sh started
 * (OOBLEX_TEST_REDIS_PORT); workers are the built ooblex-worker
 * (OOBLEX_TEST_WORKER). Database 0 holds the long-running fleet run.sh
 * starts; a test that needs workers of its own uses another database, where
 * that fleet cannot take its frames.
 */
#ifndef OOBLEX_TEST_HARNESS_H
#define OOBLEX_TEST_HARNESS_H

#include <glib.h>
#include <stdint.h>

#include "ooblex_keys.h"
#include "ooblex_redis.h"
#include "ooblex_wire.h"

extern ooblex_redis_config harness_redis;

/* Reads the environment; 0, or -1 when run outside run.sh. */
int harness_init(void);
/* A connection to database db, emptied first when flush is set. */
redisContext *harness_connect(int db, int flush);
/* An integer reply (or a string holding one; nil counts as 0; -1 on error). */
long long harness_int(redisContext *c, const char *fmt, const char *arg);

/* Waits until the list at key holds at least `want` elements, polling every
 * 5 ms for up to ms; returns its length then. */
long long harness_wait_len(redisContext *c, const char *key, long long want, int ms);

/* Starts a worker on database db with `delay_ms` extra per frame, taking
 * `batch` frames at once, plus any extra arguments (NULL-terminated, or
 * NULL). Its output goes to log_path (NULL: discarded). Returns its pid. */
GPid harness_spawn_worker(int db, const char *id, int delay_ms, int batch, const char *const *extra,
	const char *log_path);
/* Sends sig and reaps; status may be NULL. */
void harness_stop(GPid pid, int sig, int *status);

/* A fresh client id and the key its results go to. */
void harness_new_client(uint8_t id[OOBLEX_CLIENT_ID_LEN], char key[OOBLEX_KEY_MAX]);
/* A HARNESS_W x HARNESS_H I420 frame's header for client id and effect, JPEG
 * replies at quality 50; seq, frame id and deadline are the caller's. */
void harness_frame_header(ooblex_frame_header *h, const uint8_t id[OOBLEX_CLIENT_ID_LEN], const char *effect);
/* Queues n small (32x24) I420 frames, seq 1..n, for client id with this
 * effect into queue; pixels are mid-gray unless fill is given (32*24*3/2
 * bytes). deadline_us: 0 for none. */
void harness_flood(redisContext *c, const char *queue, const uint8_t id[OOBLEX_CLIENT_ID_LEN], const char *effect,
	int n, const uint8_t *fill, uint64_t deadline_us);
/* The same, mid-gray, with seq first..first+n-1. */
void harness_flood_from(redisContext *c, const char *queue, const uint8_t id[OOBLEX_CLIENT_ID_LEN], const char *effect,
	uint32_t first, int n);
#define HARNESS_W 32
#define HARNESS_H 24

#endif
