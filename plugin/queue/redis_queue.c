/*
 * redis_queue.c - producer and result reader threads.
 */
#include "redis_queue.h"

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effect_grammar.h"
#include "ooblex_keys.h"
#include "ooblex_route.h"
#include "ooblex_wire.h"

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
/* How long stop() waits for queued messages to reach Redis. */
#define PRODUCER_STOP_GRACE_US (500 * 1000)

static void logf_(ooblex_log_fn log, int level, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void logf_(ooblex_log_fn log, int level, const char *fmt, ...) {
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
		logf_(r->log, 1, "%s: Redis unavailable (%s); retrying with backoff", r->who, err);
	else if(after_outage)
		logf_(r->log, 2, "%s: Redis at %s is back", r->who, where);
	else
		logf_(r->log, 2, "%s: connected to Redis at %s", r->who, where);
}

/* Connects, retrying with backoff until it works or *stop is set; one log
 * line per outage. */
static redisContext *connect_with_backoff(const ooblex_redis_config *cfg, int timeout_ms,
		volatile gint *stop, ooblex_log_fn log, const char *who, int *outage_logged) {
	connect_report r = { cfg, stop, log, who };
	return ooblex_redis_connect_retry(cfg, timeout_ms, outage_logged, report_stop, report_connect, &r);
}

/* ---------------------------------------------------------------- producer */

typedef struct pending_msg {
	char key[OOBLEX_KEY_MAX];
	uint8_t *data;
	size_t len;
} pending_msg;

struct ooblex_producer {
	ooblex_redis_config cfg;
	ooblex_log_fn log;
	GThread *thread;
	GMutex lock;
	GCond cond;
	GQueue queue;	/* of pending_msg */
	/* Taken off the queue by the thread and not yet counted pushed or
	 * dropped: still pending. Under lock, with the counters' updates, so that
	 * pushed + dropped_full + dropped_error + pending always equals what was
	 * offered (ooblex_producer_snapshot). */
	unsigned sending;
	unsigned max_pending;
	volatile gint stopping;
	gint64 stop_deadline;
	ooblex_producer_stats stats;
};

static void pending_free(pending_msg *m) {
	free(m->data);
	g_free(m);
}

/* The batch in hand is done: its messages move from pending (sending) to
 * pushed or dropped_error in one step under the lock. */
static void settle_batch(ooblex_producer *p, unsigned pushed, unsigned lost) {
	g_mutex_lock(&p->lock);
	atomic_fetch_add(&p->stats.pushed, pushed);
	atomic_fetch_add(&p->stats.dropped_error, lost);
	p->sending = 0;
	g_mutex_unlock(&p->lock);
}

static gpointer producer_thread(gpointer data) {
	ooblex_producer *p = data;
	redisContext *c = NULL;
	int outage_logged = 0;
	GQueue batch = G_QUEUE_INIT;
	for(;;) {
		if(c == NULL && !g_atomic_int_get(&p->stopping)) {
			/* Connect before there is anything to send, so stats show whether
			 * Redis is reachable. While it is away the in-memory queue fills
			 * and new frames are dropped at push(); stop() ends this wait. */
			c = connect_with_backoff(&p->cfg, 2000, &p->stopping, p->log, "producer", &outage_logged);
			atomic_store(&p->stats.connected, c != NULL);
		}
		g_mutex_lock(&p->lock);
		while(p->queue.length == 0 && !g_atomic_int_get(&p->stopping))
			g_cond_wait(&p->cond, &p->lock);
		/* Take everything queued: one pipelined round trip for the lot. The
		 * batch stays counted as pending (sending) until each message is
		 * counted pushed or dropped: never in no counter at all. */
		batch = p->queue;
		g_queue_init(&p->queue);
		p->sending = batch.length;
		int stopping = g_atomic_int_get(&p->stopping);
		g_mutex_unlock(&p->lock);
		if(batch.length == 0 && stopping)
			break;
		if(stopping && g_get_monotonic_time() > p->stop_deadline) {
			settle_batch(p, 0, batch.length);
			g_queue_clear_full(&batch, (GDestroyNotify)pending_free);
			break;
		}
		if(c == NULL) {	/* only when stopping, after a lost connection */
			settle_batch(p, 0, batch.length);
			g_queue_clear_full(&batch, (GDestroyNotify)pending_free);
			continue;
		}
		for(GList *l = batch.head; l != NULL; l = l->next) {
			pending_msg *m = l->data;
			redisAppendCommand(c, "LPUSH %s %b", m->key, m->data, m->len);
			/* A routed queue whose workers are all gone empties itself
			 * (its frames are long past their deadlines by then). */
			if(strcmp(m->key, OOBLEX_KEY_FRAMES) != 0)
				redisAppendCommand(c, "EXPIRE %s %d", m->key, OOBLEX_ROUTED_QUEUE_TTL_S);
		}
		int failed = 0;
		unsigned pushed = 0, lost = 0;
		for(GList *l = batch.head; l != NULL; l = l->next) {
			pending_msg *m = l->data;
			redisReply *r = NULL;
			if(!failed && redisGetReply(c, (void **)&r) != REDIS_OK)
				failed = 1;
			if(failed || r == NULL || r->type == REDIS_REPLY_ERROR)
				lost++;
			else
				pushed++;
			if(r != NULL)
				freeReplyObject(r);
			if(strcmp(m->key, OOBLEX_KEY_FRAMES) != 0) {
				r = NULL;
				if(!failed && redisGetReply(c, (void **)&r) != REDIS_OK)
					failed = 1;
				if(r != NULL)
					freeReplyObject(r);
			}
		}
		settle_batch(p, pushed, lost);
		g_queue_clear_full(&batch, (GDestroyNotify)pending_free);
		if(failed) {
			logf_(p->log, 1, "producer: lost the Redis connection (%s)", c->errstr);
			outage_logged = 1;
			redisFree(c);
			c = NULL;
			atomic_store(&p->stats.connected, 0);
		}
	}
	if(c != NULL)
		redisFree(c);
	atomic_store(&p->stats.connected, 0);
	return NULL;
}

ooblex_producer *ooblex_producer_start(const ooblex_redis_config *cfg, unsigned max_pending,
		ooblex_log_fn log, char *err, size_t errlen) {
	ooblex_producer *p = g_malloc0(sizeof(*p));
	p->cfg = *cfg;
	p->log = log;
	p->max_pending = max_pending ? max_pending : 64;
	g_mutex_init(&p->lock);
	g_cond_init(&p->cond);
	g_queue_init(&p->queue);
	GError *gerr = NULL;
	p->thread = g_thread_try_new("ooblex redis out", producer_thread, p, &gerr);
	if(p->thread == NULL) {
		snprintf(err, errlen, "cannot start the Redis producer thread: %s", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		g_mutex_clear(&p->lock);
		g_cond_clear(&p->cond);
		g_free(p);
		return NULL;
	}
	return p;
}

int ooblex_producer_push(ooblex_producer *p, const char *key, uint8_t *msg, size_t len) {
	g_mutex_lock(&p->lock);
	/* The bound covers the batch being sent too: what sits in memory is
	 * never more than max_pending, however long a send takes. */
	if(p->queue.length + p->sending >= p->max_pending || g_atomic_int_get(&p->stopping)) {
		atomic_fetch_add(&p->stats.dropped_full, 1);
		g_mutex_unlock(&p->lock);
		free(msg);
		return -1;
	}
	pending_msg *m = g_malloc(sizeof(*m));
	g_strlcpy(m->key, key, sizeof(m->key));
	m->data = msg;
	m->len = len;
	g_queue_push_tail(&p->queue, m);
	g_cond_signal(&p->cond);
	g_mutex_unlock(&p->lock);
	return 0;
}

unsigned ooblex_producer_pending(ooblex_producer *p) {
	g_mutex_lock(&p->lock);
	unsigned n = p->queue.length + p->sending;
	g_mutex_unlock(&p->lock);
	return n;
}

void ooblex_producer_snapshot(ooblex_producer *p, ooblex_producer_counts *out) {
	g_mutex_lock(&p->lock);
	out->pushed = atomic_load(&p->stats.pushed);
	out->dropped_full = atomic_load(&p->stats.dropped_full);
	out->dropped_error = atomic_load(&p->stats.dropped_error);
	out->pending = p->queue.length + p->sending;
	g_mutex_unlock(&p->lock);
}

const ooblex_producer_stats *ooblex_producer_get_stats(ooblex_producer *p) {
	return &p->stats;
}

void ooblex_producer_stop(ooblex_producer *p) {
	if(p == NULL)
		return;
	g_mutex_lock(&p->lock);
	p->stop_deadline = g_get_monotonic_time() + PRODUCER_STOP_GRACE_US;
	g_atomic_int_set(&p->stopping, 1);
	g_cond_signal(&p->cond);
	g_mutex_unlock(&p->lock);
	g_thread_join(p->thread);
	/* Nothing is left (the thread takes all, push refuses once stopping);
	 * counted all the same should that ever change. */
	atomic_fetch_add(&p->stats.dropped_error, p->queue.length);
	g_queue_clear_full(&p->queue, (GDestroyNotify)pending_free);
	g_mutex_clear(&p->lock);
	g_cond_clear(&p->cond);
	g_free(p);
}

/* ------------------------------------------------------------------ reader */

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
	/* Last look at the fleet, under lock. */
	long long queue_len;
	/* ooblex:dropped:stale lives in Redis, which may restart empty: the
	 * total here only grows, by the increases seen (a decrease is a reset). */
	uint64_t stale_seen, stale_total;
	/* Route names refused (core effects), logged once each; reader thread. */
	GHashTable *refused_logged;
	GPtrArray *workers;	/* of g_strdup'ed JSON */
	ooblex_routed_queue routes[OOBLEX_MAX_ROUTES];
	size_t n_routes;
	gint64 fleet_polled_us;
};

#define FLEET_POLL_US (1000 * 1000)

/* Adds the routed effects a registry entry announces to routes (a valid
 * name once; a worker's text is not trusted to be well-formed). A core
 * effect (or anything else the plugin routes to frames_to_process itself) is
 * refused: announced as a route, it would divert every client's frames of
 * that effect to a queue that few or no workers serve. */
_Static_assert(OOBLEX_EFFECT_NAME_MAX < sizeof(((ooblex_routed_queue *)0)->name), "an effect name fits a route's");
static void collect_routes(ooblex_reader *r, const char *entry, ooblex_routed_queue *routes, size_t *n) {
	json_t *w = json_loads(entry, 0, NULL);
	json_t *list = json_object_get(w, "routes");
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		const char *name = json_string_value(v);
		if(ooblex_effect_name_check(name, NULL, 0) < 0)	/* effect_grammar.h; fits routes[].name */
			continue;
		size_t len = strlen(name);
		if(ooblex_effect_is_core_name(name, len)) {
			atomic_fetch_add(&r->stats.routes_refused, 1);
			if(g_hash_table_size(r->refused_logged) < 64 && !g_hash_table_contains(r->refused_logged, name)) {
				g_hash_table_add(r->refused_logged, g_strdup(name));
				const char *id = json_string_value(json_object_get(w, "id"));
				logf_(r->log, 1, "reader: a registry entry (worker %.64s) announces the core effect '%s' as a route; "
					"refused (core effects go to " OOBLEX_KEY_FRAMES ")", id ? id : "?", name);
			}
			continue;
		}
		size_t k = 0;
		while(k < *n && strcmp(routes[k].name, name) != 0)
			k++;
		if(k == *n && *n < OOBLEX_MAX_ROUTES) {
			g_strlcpy(routes[*n].name, name, sizeof(routes[0].name));
			routes[(*n)++].length = 0;
		}
	}
	json_decref(w);
}

/* GET with a size cap applied inside Redis: a string longer than ARGV[1]
 * is not sent; its length comes back instead (an integer reply). Whoever can
 * write to Redis can make a key as big as proto-max-bulk-len; reading it
 * whole with GET would make hiredis allocate all of it. */
static const char capped_get_script[] =
	"local n = redis.call('STRLEN', KEYS[1])\n"
	"if n > tonumber(ARGV[1]) then return n end\n"
	"return redis.call('GET', KEYS[1])\n";

/* A counter's value as a worker wrote it (INCRBY): digits only. */
static int parse_counter(const redisReply *rep, uint64_t *out) {
	if(rep->type == REDIS_REPLY_NIL) {
		*out = 0;
		return 0;
	}
	if(rep->type != REDIS_REPLY_STRING || rep->len == 0 || rep->len > 20 ||
			strspn(rep->str, "0123456789") != rep->len)
		return -1;
	*out = g_ascii_strtoull(rep->str, NULL, 10);
	return 0;
}

typedef struct registry_page {
	ooblex_reader *r;
	GPtrArray *workers;	/* of g_strdup'ed JSON */
} registry_page;

/* The registry entries of one SCAN page, each read with a size cap, in one
 * round trip. -1 when the connection failed. */
static int read_registry_page(redisContext *c, redisReply *const *keys, size_t n, void *user) {
	registry_page *p = user;
	for(size_t i = 0; i < n; i++)
		redisAppendCommand(c, "EVAL %s 1 %b %d", capped_get_script, keys[i]->str, keys[i]->len,
			OOBLEX_REGISTRY_ENTRY_MAX);
	for(size_t i = 0; i < n; i++) {
		redisReply *v = NULL;
		if(redisGetReply(c, (void **)&v) != REDIS_OK)
			return -1;
		/* nil: expired between SCAN and GET; an integer: over the cap;
		 * an error: not a string. Only a string of the right size is read. */
		if(v->type == REDIS_REPLY_STRING && v->len <= OOBLEX_REGISTRY_ENTRY_MAX)
			g_ptr_array_add(p->workers, g_strndup(v->str, v->len));
		else if(v->type == REDIS_REPLY_INTEGER || v->type == REDIS_REPLY_STRING)
			atomic_fetch_add(&p->r->stats.registry_oversized, 1);
		freeReplyObject(v);
	}
	return 0;
}

/* LLEN of the queues and every registry entry (at most
 * OOBLEX_FLEET_MAX_WORKERS, found with SCAN: ooblex_redis_scan). */
static void poll_fleet(ooblex_reader *r, redisContext *c) {
	r->fleet_polled_us = g_get_monotonic_time();
	redisReply *rep = redisCommand(c, "LLEN %s", OOBLEX_KEY_FRAMES);
	if(rep == NULL)
		return;
	long long qlen = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
	freeReplyObject(rep);
	rep = redisCommand(c, "EVAL %s 1 %s 32", capped_get_script, OOBLEX_KEY_DROPPED_STALE);
	if(rep == NULL)
		return;
	uint64_t stale;
	int stale_ok = parse_counter(rep, &stale) == 0;
	freeReplyObject(rep);
	registry_page page = { r, g_ptr_array_new_with_free_func(g_free) };
	if(ooblex_redis_scan(c, OOBLEX_KEY_WORKER_PREFIX "*", OOBLEX_FLEET_MAX_WORKERS, read_registry_page, &page) != 0) {
		g_ptr_array_unref(page.workers);
		return;
	}
	GPtrArray *workers = page.workers;
	ooblex_routed_queue routes[OOBLEX_MAX_ROUTES];
	size_t n_routes = 0;
	for(guint i = 0; i < workers->len; i++)
		collect_routes(r, g_ptr_array_index(workers, i), routes, &n_routes);
	for(size_t i = 0; i < n_routes; i++)
		redisAppendCommand(c, "LLEN " OOBLEX_KEY_FRAMES ":%s", routes[i].name);
	for(size_t i = 0; i < n_routes; i++) {
		redisReply *v = NULL;
		if(redisGetReply(c, (void **)&v) != REDIS_OK)
			break;
		routes[i].length = v->type == REDIS_REPLY_INTEGER ? v->integer : -1;
		freeReplyObject(v);
	}
	g_mutex_lock(&r->lock);
	r->queue_len = qlen;
	if(stale_ok) {
		/* Never backwards: a smaller value means the key started again
		 * (a Redis without persistence restarted), so all of it is new. */
		r->stale_total += stale >= r->stale_seen ? stale - r->stale_seen : stale;
		r->stale_seen = stale;
	}
	g_ptr_array_unref(r->workers);
	r->workers = workers;
	memcpy(r->routes, routes, n_routes * sizeof(routes[0]));
	r->n_routes = n_routes;
	g_mutex_unlock(&r->lock);
}

size_t ooblex_reader_routed(ooblex_reader *r, ooblex_routed_queue *out, size_t max) {
	g_mutex_lock(&r->lock);
	size_t n = MIN(max, r->n_routes);
	memcpy(out, r->routes, n * sizeof(out[0]));
	g_mutex_unlock(&r->lock);
	return n;
}

void ooblex_reader_queue_for(ooblex_reader *r, const char *effect, char *out, size_t outlen) {
	const char *names[OOBLEX_MAX_ROUTES];
	g_mutex_lock(&r->lock);
	for(size_t i = 0; i < r->n_routes; i++)
		names[i] = r->routes[i].name;
	ooblex_route_queue(effect, names, r->n_routes, out, outlen);
	g_mutex_unlock(&r->lock);
}

int ooblex_producer_push_frame(ooblex_producer *p, ooblex_reader *r, uint8_t *msg, size_t len) {
	ooblex_frame_header h;
	const uint8_t *payload;
	char queue[OOBLEX_KEY_MAX];
	if(ooblex_wire_parse(msg, len, &h, &payload) == OOBLEX_WIRE_OK)
		ooblex_reader_queue_for(r, h.effect, queue, sizeof(queue));
	else
		g_strlcpy(queue, OOBLEX_KEY_FRAMES, sizeof(queue));
	return ooblex_producer_push(p, queue, msg, len);
}

GPtrArray *ooblex_reader_fleet(ooblex_reader *r, long long *queue_len, long long *dropped_stale) {
	GPtrArray *copy = g_ptr_array_new_with_free_func(g_free);
	g_mutex_lock(&r->lock);
	*queue_len = r->queue_len;
	*dropped_stale = (long long)MIN(r->stale_total, (uint64_t)G_MAXINT64);
	for(guint i = 0; i < r->workers->len; i++)
		g_ptr_array_add(copy, g_strdup(g_ptr_array_index(r->workers, i)));
	g_mutex_unlock(&r->lock);
	return copy;
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
			c = connect_with_backoff(&r->cfg, 0, &r->stopping, r->log, "reader", &outage_logged);
			if(c == NULL)
				break;
			atomic_store(&r->stats.connected, 1);
		}
		if(g_get_monotonic_time() - r->fleet_polled_us >= FLEET_POLL_US)
			poll_fleet(r, c);
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
			logf_(r->log, 1, "reader: lost the Redis connection (%s)", c->errstr);
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
			rep = redisCommand(c, "EVAL %s 1 %s %d %zu", drain_script, key, READER_DRAIN_COUNT,
				(size_t)atomic_load(&r->max_result));
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
			logf_(r->log, 0, "reader: BRPOP failed: %s", rep->str);
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
	r->workers = g_ptr_array_new_with_free_func(g_free);
	r->refused_logged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	r->queue_len = -1;
	atomic_store(&r->max_result, READER_MAX_RESULT_DEFAULT);
	GError *gerr = NULL;
	r->thread = g_thread_try_new("ooblex redis in", reader_thread, r, &gerr);
	if(r->thread == NULL) {
		snprintf(err, errlen, "cannot start the Redis reader thread: %s", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		g_hash_table_destroy(r->keys);
		g_hash_table_destroy(r->refused_logged);
		g_ptr_array_unref(r->workers);
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
	g_hash_table_destroy(r->refused_logged);
	g_ptr_array_unref(r->workers);
	g_mutex_clear(&r->lock);
	g_free(r);
}
