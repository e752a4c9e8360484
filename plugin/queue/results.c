/*
 * results.c - see results.h.
 */
#include "results.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooblex_keys.h"

/* How many results one round trip may take from each list. */
#define READER_DRAIN_COUNT 16
/* What one round's reply may hold, in results of the largest size allowed
 * (4 x 4 MiB by default; a few hundred of the usual 50 KB JPEGs). */
#define READER_ROUND_RESULTS 4u
#define READER_MAX_RESULT_DEFAULT (4u * 1024u * 1024u)

/* One round over every watched list, in the order given (the reader
 * rotates it each round), up to ARGV[1] results from each: one round trip
 * for whatever is waiting, however many clients it is for, and every list
 * its turn, so that a client whose results come fast cannot keep another's
 * waiting behind them (BRPOP alone always serves the first non-empty list
 * it is given). The size cap is applied inside Redis: an element over
 * ARGV[2] bytes is popped and discarded there, never sent, so hiredis never
 * allocates it, and a round stops taking once it holds ARGV[3] bytes (the
 * reply is bounded however many lists are watched; what is left waits for
 * the next round). Returns { discarded, { key index, { elements... }, ... } }.
 * A BRPOP's own element cannot be bounded this way (a script cannot
 * block): it is bounded only by Redis' proto-max-bulk-len, then checked
 * here before anything is copied. */
static const char take_script[] =
	"local per, cap, budget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local out, dropped, bytes = {}, 0, 0\n"
	"for k = 1, #KEYS do\n"
	"  local got = {}\n"
	"  for i = 1, per do\n"
	"    if bytes >= budget then break end\n"
	"    local v = redis.call('RPOP', KEYS[k])\n"
	"    if not v then break end\n"
	"    if type(v) ~= 'string' or #v > cap then dropped = dropped + 1\n"
	"    else got[#got + 1] = v; bytes = bytes + #v end\n"
	"  end\n"
	"  if #got > 0 then out[#out + 1] = k; out[#out + 1] = got end\n"
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
	unsigned round;	/* reader thread: where this round's list order starts */
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

/* Snapshot of the watched keys, each round starting one list further on,
 * between the command's own words: head, then (with_count) the number of
 * keys, the keys, then tail; so that BRPOP k1 .. kn timeout and
 * EVAL script n k1 .. kn per cap are built alike. Returns argc, or 0 when
 * nothing is watched; *n_keys and *first_key say where the keys are. */
static int build_argv(ooblex_reader *r, const char *const *head, int n_head, int with_count, const char *const *tail,
		int n_tail, char ***argv, size_t **argvlen, int *n_keys, int *first_key) {
	g_mutex_lock(&r->lock);
	int n = (int)g_hash_table_size(r->keys);
	if(n == 0) {
		g_mutex_unlock(&r->lock);
		return 0;
	}
	int argc = n_head + (with_count != 0) + n + n_tail;
	*argv = g_new(char *, argc);
	*argvlen = g_new(size_t, argc);
	int i = 0;
	for(int k = 0; k < n_head; k++)
		(*argv)[i++] = g_strdup(head[k]);
	if(with_count)
		(*argv)[i++] = g_strdup_printf("%d", n);
	*first_key = i;
	unsigned start = r->round++ % (unsigned)n, at = 0;
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, r->keys);
	while(g_hash_table_iter_next(&it, &key, NULL)) {
		(*argv)[*first_key + (at + (unsigned)n - start) % (unsigned)n] = g_strdup(key);
		at++;
	}
	g_mutex_unlock(&r->lock);
	i += n;
	for(int k = 0; k < n_tail; k++)
		(*argv)[i++] = g_strdup(tail[k]);
	for(int k = 0; k < argc; k++)
		(*argvlen)[k] = strlen((*argv)[k]);
	*n_keys = n;
	return argc;
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

/* A round's reply (take_script): each list's results, delivered in turns
 * (the first of each list, then the second of each, ...), each list's own
 * in order. keys are the round's lists as given to the script. Returns how
 * many were taken. */
static size_t deliver_round(ooblex_reader *r, redisReply *rep, char **keys, int n_keys) {
	if(rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_INTEGER ||
			rep->element[1]->type != REDIS_REPLY_ARRAY)
		return 0;
	if(rep->element[0]->integer > 0) {
		atomic_fetch_add(&r->stats.oversized, (uint64_t)rep->element[0]->integer);
		atomic_fetch_add(&r->stats.popped, (uint64_t)rep->element[0]->integer);
	}
	redisReply *lists = rep->element[1];
	size_t taken = rep->element[0]->integer > 0 ? (size_t)rep->element[0]->integer : 0;
	for(size_t turn = 0; turn < READER_DRAIN_COUNT; turn++) {
		int any = 0;
		for(size_t j = 0; j + 1 < lists->elements; j += 2) {
			redisReply *idx = lists->element[j], *items = lists->element[j + 1];
			if(idx->type != REDIS_REPLY_INTEGER || idx->integer < 1 || idx->integer > n_keys ||
					items->type != REDIS_REPLY_ARRAY || turn >= items->elements)
				continue;
			deliver(r, keys[idx->integer - 1], items->element[turn]);
			taken++;
			any = 1;
		}
		if(!any)
			break;
	}
	return taken;
}

static gpointer reader_thread(gpointer data) {
	ooblex_reader *r = data;
	redisContext *c = NULL;
	int outage_logged = 0;
	char timeout[32], per[16];
	/* BRPOP takes fractional seconds since Redis 6. */
	g_snprintf(timeout, sizeof(timeout), "%.3f", r->poll_ms / 1000.0);
	g_snprintf(per, sizeof(per), "%d", READER_DRAIN_COUNT);
	/* Whether the last look found results: then more are likely waiting, in
	 * any list, and a round takes them without blocking; otherwise BRPOP
	 * waits for the next one. */
	int busy = 0;
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
		int n_keys = 0, first_key = 0, argc;
		if(busy) {
			char cap[32], budget[32];
			size_t max_result = atomic_load(&r->max_result);
			g_snprintf(cap, sizeof(cap), "%zu", max_result);
			g_snprintf(budget, sizeof(budget), "%zu", READER_ROUND_RESULTS * max_result);
			const char *head[] = { "EVAL", take_script }, *tail[] = { per, cap, budget };
			argc = build_argv(r, head, 2, 1, tail, 3, &argv, &argvlen, &n_keys, &first_key);
		} else {
			const char *head[] = { "BRPOP" }, *tail[] = { timeout };
			argc = build_argv(r, head, 1, 0, tail, 1, &argv, &argvlen, &n_keys, &first_key);
		}
		if(argc == 0) {
			busy = 0;
			g_usleep(r->poll_ms * 1000);
			r->on_tick(r->user);
			continue;
		}
		redisReply *rep = redisCommandArgv(c, argc, (const char **)argv, argvlen);
		if(rep == NULL) {
			free_argv(argv, argvlen, argc);
			ooblex_queue_log(r->log, 1, "reader: lost the Redis connection (%s)", c->errstr);
			outage_logged = 1;
			redisFree(c);
			c = NULL;
			busy = 0;
			atomic_store(&r->stats.connected, 0);
			continue;
		}
		if(busy) {
			busy = deliver_round(r, rep, argv + first_key, n_keys) > 0;
		} else if(rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->type == REDIS_REPLY_STRING) {
			deliver(r, rep->element[0]->str, rep->element[1]);
			busy = 1;
		}
		if(rep->type == REDIS_REPLY_ERROR) {
			ooblex_queue_log(r->log, 0, "reader: %s failed: %s", argv[0], rep->str);
			busy = 0;
			g_usleep(r->poll_ms * 1000);
		}
		free_argv(argv, argvlen, argc);
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
