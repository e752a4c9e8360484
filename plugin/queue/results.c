/*
 * results.c - see results.h.
 */
#include "results.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooblex_keys.h"

/* How many results one round trip may drain per list, after the BRPOP. */
#define READER_DRAIN_COUNT 16
#define READER_MAX_RESULT_DEFAULT (4u * 1024u * 1024u)

/* The drain after a BRPOP, with the size cap applied inside Redis: an
 * element over ARGV[2] bytes is popped and discarded there, never sent, so
 * hiredis never allocates it. Returns { discarded, { elements... } }. The
 * BRPOP's own element cannot be bounded this way (a script cannot block):
 * it is bounded only by Redis' proto-max-bulk-len, then checked here before
 * anything is copied. */
static const char drain_script[] =
	"local cap = tonumber(ARGV[2])\n"
	"local out, dropped = {}, 0\n"
	"for i = 1, tonumber(ARGV[1]) do\n"
	"  local v = redis.call('RPOP', KEYS[1])\n"
	"  if not v then break end\n"
	"  if type(v) ~= 'string' or #v > cap then dropped = dropped + 1 else out[#out + 1] = v end\n"
	"end\n"
	"return { dropped, out }\n";

struct ooblex_reader {
	ooblex_redis_config cfg;
	unsigned poll_ms;
	ooblex_result_fn on_result;
	ooblex_tick_fn on_tick;
	void *user;
	ooblex_log_fn log;
	GThread *thread;
	GMutex lock;
	GHashTable *keys;	/* watched list names (owned strings) */
	volatile gint stopping;
	ooblex_reader_stats stats;
	atomic_size_t max_result;	/* bytes; longer results are dropped unread */
	ooblex_fleet *fleet;	/* looked at from this thread, on this connection */
};

GPtrArray *ooblex_reader_fleet(ooblex_reader *r, long long *queue_len, long long *dropped_stale) {
	return ooblex_fleet_workers(r->fleet, queue_len, dropped_stale);
}

ooblex_fleet_caps *ooblex_reader_fleet_caps(ooblex_reader *r, uint64_t *gen) {
	return ooblex_fleet_caps_now(r->fleet, gen);
}

ooblex_fleet *ooblex_reader_get_fleet(ooblex_reader *r) {
	return r->fleet;
}

size_t ooblex_reader_routed(ooblex_reader *r, ooblex_routed_queue *out, size_t max) {
	return ooblex_fleet_routed(r->fleet, out, max);
}

void ooblex_reader_queue_for(ooblex_reader *r, const char *effect, char *out, size_t outlen) {
	ooblex_fleet_queue_for(r->fleet, effect, out, outlen);
}

/* Snapshot of the watched keys as BRPOP arguments: BRPOP k1 .. kn timeout. */
static int build_argv(ooblex_reader *r, char ***argv, size_t **argvlen, char *timeout) {
	g_mutex_lock(&r->lock);
	int n = (int)g_hash_table_size(r->keys);
	if(n == 0) {
		g_mutex_unlock(&r->lock);
		return 0;
	}
	*argv = g_new(char *, n + 2);
	*argvlen = g_new(size_t, n + 2);
	(*argv)[0] = g_strdup("BRPOP");
	int i = 1;
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, r->keys);
	while(g_hash_table_iter_next(&it, &key, NULL))
		(*argv)[i++] = g_strdup(key);
	g_mutex_unlock(&r->lock);
	(*argv)[i++] = g_strdup(timeout);
	for(int k = 0; k < i; k++)
		(*argvlen)[k] = strlen((*argv)[k]);
	return i;
}

static void free_argv(char **argv, size_t *argvlen, int argc) {
	for(int i = 0; i < argc; i++)
		g_free(argv[i]);
	g_free(argv);
	g_free(argvlen);
}

static void deliver(ooblex_reader *r, const char *key, redisReply *item) {
	if(item->type != REDIS_REPLY_STRING)
		return;
	atomic_fetch_add(&r->stats.popped, 1);
	if(item->len > atomic_load(&r->max_result)) {
		atomic_fetch_add(&r->stats.oversized, 1);
		return;
	}
	r->on_result(key, (const uint8_t *)item->str, item->len, r->user);
}

static gpointer reader_thread(gpointer data) {
	ooblex_reader *r = data;
	redisContext *c = NULL;
	int outage_logged = 0;
	char timeout[32];
	/* BRPOP takes fractional seconds since Redis 6. */
	g_snprintf(timeout, sizeof(timeout), "%.3f", r->poll_ms / 1000.0);
	while(!g_atomic_int_get(&r->stopping)) {
		if(c == NULL) {
			c = ooblex_queue_connect(&r->cfg, 0, &r->stopping, r->log, "reader", &outage_logged);
			if(c == NULL)
				break;
			atomic_store(&r->stats.connected, 1);
			atomic_fetch_add(&r->stats.connects, 1);
		}
		ooblex_fleet_poll(r->fleet, c);
		char **argv = NULL;
		size_t *argvlen = NULL;
		int argc = build_argv(r, &argv, &argvlen, timeout);
		if(argc == 0) {
			g_usleep(r->poll_ms * 1000);
			r->on_tick(r->user);
			continue;
		}
		redisReply *rep = redisCommandArgv(c, argc, (const char **)argv, argvlen);
		free_argv(argv, argvlen, argc);
		if(rep == NULL) {
			ooblex_queue_log(r->log, 1, "reader: lost the Redis connection (%s)", c->errstr);
			outage_logged = 1;
			redisFree(c);
			c = NULL;
			atomic_store(&r->stats.connected, 0);
			continue;
		}
		if(rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->type == REDIS_REPLY_STRING) {
			char key[OOBLEX_KEY_MAX];
			g_strlcpy(key, rep->element[0]->str, sizeof(key));
			deliver(r, key, rep->element[1]);
			freeReplyObject(rep);
			/* More may be waiting in the same list: take them in one round trip
			 * instead of one BRPOP each, those over the cap left in Redis. */
			/* hiredis formats no %zu ("Invalid format string": the reader
			 * dropped its connection after every result): %lld. */
			rep = redisCommand(c, "EVAL %s 1 %s %d %lld", drain_script, key, READER_DRAIN_COUNT,
				(long long)atomic_load(&r->max_result));
			if(rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
					rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[1]->type == REDIS_REPLY_ARRAY) {
				if(rep->element[0]->integer > 0) {
					atomic_fetch_add(&r->stats.oversized, (uint64_t)rep->element[0]->integer);
					atomic_fetch_add(&r->stats.popped, (uint64_t)rep->element[0]->integer);
				}
				for(size_t i = 0; i < rep->element[1]->elements; i++)
					deliver(r, key, rep->element[1]->element[i]);
			}
		} else if(rep->type == REDIS_REPLY_ERROR) {
			ooblex_queue_log(r->log, 0, "reader: BRPOP failed: %s", rep->str);
			g_usleep(r->poll_ms * 1000);
		}
		if(rep != NULL)
			freeReplyObject(rep);
		r->on_tick(r->user);
	}
	if(c != NULL)
		redisFree(c);
	atomic_store(&r->stats.connected, 0);
	return NULL;
}

ooblex_reader *ooblex_reader_start(const ooblex_redis_config *cfg, unsigned poll_ms,
		ooblex_result_fn on_result, ooblex_tick_fn on_tick, void *user, ooblex_log_fn log,
		char *err, size_t errlen) {
	ooblex_reader *r = g_malloc0(sizeof(*r));
	r->cfg = *cfg;
	r->poll_ms = poll_ms ? poll_ms : 20;
	r->on_result = on_result;
	r->on_tick = on_tick;
	r->user = user;
	r->log = log;
	g_mutex_init(&r->lock);
	r->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	r->fleet = ooblex_fleet_new(log, &r->stats.registry_oversized, &r->stats.routes_refused);
	atomic_store(&r->max_result, READER_MAX_RESULT_DEFAULT);
	GError *gerr = NULL;
	r->thread = g_thread_try_new("ooblex redis in", reader_thread, r, &gerr);
	if(r->thread == NULL) {
		snprintf(err, errlen, "cannot start the Redis reader thread: %s", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		g_hash_table_destroy(r->keys);
		ooblex_fleet_free(r->fleet);
		g_mutex_clear(&r->lock);
		g_free(r);
		return NULL;
	}
	return r;
}

void ooblex_reader_watch(ooblex_reader *r, const char *key) {
	g_mutex_lock(&r->lock);
	g_hash_table_add(r->keys, g_strdup(key));
	g_mutex_unlock(&r->lock);
}

void ooblex_reader_unwatch(ooblex_reader *r, const char *key) {
	g_mutex_lock(&r->lock);
	g_hash_table_remove(r->keys, key);
	g_mutex_unlock(&r->lock);
}

void ooblex_reader_set_max_result(ooblex_reader *r, size_t bytes) {
	atomic_store(&r->max_result, bytes ? bytes : READER_MAX_RESULT_DEFAULT);
}

const ooblex_reader_stats *ooblex_reader_get_stats(ooblex_reader *r) {
	return &r->stats;
}

void ooblex_reader_stop(ooblex_reader *r) {
	if(r == NULL)
		return;
	g_atomic_int_set(&r->stopping, 1);
	/* The thread notices within one poll interval (BRPOP's timeout). */
	g_thread_join(r->thread);
	g_hash_table_destroy(r->keys);
	ooblex_fleet_free(r->fleet);
	g_mutex_clear(&r->lock);
	g_free(r);
}
