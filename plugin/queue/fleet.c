/*
 * fleet.c - see fleet.h.
 */
#include "fleet.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effect_grammar.h"
#include "ooblex_keys.h"
#include "ooblex_route.h"

struct ooblex_fleet {
	ooblex_log_fn log;
	GMutex lock;
	/* Where what the look skips or refuses is counted (the reader's stats). */
	atomic_uint_fast64_t *registry_oversized, *routes_refused;
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
	ooblex_fleet_caps *caps;	/* of workers; NULL before the first look */
	uint64_t looks;	/* looks taken: the caps' generation */
	gint64 fleet_polled_us;	/* reader thread */
	/* Fair shares: this plugin's id and announcement, and the other
	 * plugins' demand by queue (of ooblex_queue_demand), under lock. */
	char plugin_id[33];
	char *announcement;
	GHashTable *remote;
};

static void exchange_demand(ooblex_fleet *r, redisContext *c);

#define FLEET_POLL_US (1000 * 1000)

/* Adds the routed effects a registry entry announces to routes (a valid
 * name once; a worker's text is not trusted to be well-formed). A core
 * effect (or anything else the plugin routes to frames_to_process itself) is
 * refused: announced as a route, it would divert every client's frames of
 * that effect to a queue that few or no workers serve. */
_Static_assert(OOBLEX_EFFECT_NAME_MAX < sizeof(((ooblex_routed_queue *)0)->name), "an effect name fits a route's");
static void collect_routes(ooblex_fleet *r, const char *entry, ooblex_routed_queue *routes, size_t *n) {
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
			atomic_fetch_add(r->routes_refused, 1);
			if(g_hash_table_size(r->refused_logged) < 64 && !g_hash_table_contains(r->refused_logged, name)) {
				g_hash_table_add(r->refused_logged, g_strdup(name));
				const char *id = json_string_value(json_object_get(w, "id"));
				ooblex_queue_log(r->log, 1, "reader: a registry entry (worker %.64s) announces the core effect '%s' as a route; "
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

/* Reads the values of one SCAN page's keys, each with a size cap inside
 * Redis, in one round trip, and hands each to take: value NULL when it was
 * not a string of at most OOBLEX_REGISTRY_ENTRY_MAX bytes (oversized 1 when
 * it was one over the cap), or gone (expired between SCAN and GET). -1
 * when the connection failed. Registry entries and plugins' announcements
 * both come this way. */
typedef void (*capped_take)(void *user, const redisReply *key, const char *value, size_t len, int oversized);
static int read_capped_page(redisContext *c, redisReply *const *keys, size_t n, capped_take take, void *user) {
	for(size_t i = 0; i < n; i++)
		redisAppendCommand(c, "EVAL %s 1 %b %d", capped_get_script, keys[i]->str, keys[i]->len,
			OOBLEX_REGISTRY_ENTRY_MAX);
	for(size_t i = 0; i < n; i++) {
		redisReply *v = NULL;
		if(redisGetReply(c, (void **)&v) != REDIS_OK)
			return -1;
		/* nil: expired between SCAN and GET; an integer: over the cap;
		 * an error: not a string. Only a string of the right size is read. */
		gboolean fits = v->type == REDIS_REPLY_STRING && v->len <= OOBLEX_REGISTRY_ENTRY_MAX;
		take(user, keys[i], fits ? v->str : NULL, fits ? v->len : 0,
			!fits && (v->type == REDIS_REPLY_INTEGER || v->type == REDIS_REPLY_STRING));
		freeReplyObject(v);
	}
	return 0;
}

typedef struct registry_page {
	ooblex_fleet *r;
	GPtrArray *workers;	/* of g_strdup'ed JSON */
} registry_page;

static void take_registry_entry(void *user, const redisReply *key, const char *value, size_t len, int oversized) {
	registry_page *p = user;
	(void)key;
	if(value != NULL)
		g_ptr_array_add(p->workers, g_strndup(value, len));
	else if(oversized)
		atomic_fetch_add(p->r->registry_oversized, 1);
}

static int read_registry_page(redisContext *c, redisReply *const *keys, size_t n, void *user) {
	return read_capped_page(c, keys, n, take_registry_entry, user);
}

/* LLEN of the queues and every registry entry (at most
 * OOBLEX_FLEET_MAX_WORKERS, found with SCAN: ooblex_redis_scan). */
static void poll_fleet(ooblex_fleet *r, redisContext *c) {
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
	ooblex_fleet_caps *caps = ooblex_fleet_caps_new((const char *const *)workers->pdata, workers->len);
	g_mutex_lock(&r->lock);
	ooblex_fleet_caps *old_caps = r->caps;
	r->caps = caps;
	r->looks++;
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
	ooblex_fleet_caps_unref(old_caps);
	exchange_demand(r, c);
}

/* A look at most once a second: the reader calls this every round. */
void ooblex_fleet_poll(ooblex_fleet *f, redisContext *c) {
	if(g_get_monotonic_time() - f->fleet_polled_us >= FLEET_POLL_US)
		poll_fleet(f, c);
}

size_t ooblex_fleet_routed(ooblex_fleet *f, ooblex_routed_queue *out, size_t max) {
	g_mutex_lock(&f->lock);
	size_t n = MIN(max, f->n_routes);
	memcpy(out, f->routes, n * sizeof(out[0]));
	g_mutex_unlock(&f->lock);
	return n;
}

void ooblex_fleet_queue_for(ooblex_fleet *f, const char *effect, char *out, size_t outlen) {
	const char *names[OOBLEX_MAX_ROUTES];
	g_mutex_lock(&f->lock);
	for(size_t i = 0; i < f->n_routes; i++)
		names[i] = f->routes[i].name;
	ooblex_route_queue(effect, names, f->n_routes, out, outlen);
	g_mutex_unlock(&f->lock);
}

ooblex_fleet_caps *ooblex_fleet_caps_now(ooblex_fleet *f, uint64_t *gen) {
	g_mutex_lock(&f->lock);
	ooblex_fleet_caps *c = ooblex_fleet_caps_ref(f->caps);
	*gen = f->looks;
	g_mutex_unlock(&f->lock);
	return c;
}

GPtrArray *ooblex_fleet_workers(ooblex_fleet *f, long long *queue_len, long long *dropped_stale) {
	GPtrArray *copy = g_ptr_array_new_with_free_func(g_free);
	g_mutex_lock(&f->lock);
	*queue_len = f->queue_len;
	*dropped_stale = (long long)MIN(f->stale_total, (uint64_t)G_MAXINT64);
	for(guint i = 0; i < f->workers->len; i++)
		g_ptr_array_add(copy, g_strdup(g_ptr_array_index(f->workers, i)));
	g_mutex_unlock(&f->lock);
	return copy;
}

ooblex_fleet *ooblex_fleet_new(ooblex_log_fn log, atomic_uint_fast64_t *registry_oversized,
		atomic_uint_fast64_t *routes_refused) {
	ooblex_fleet *f = g_malloc0(sizeof(*f));
	f->log = log;
	f->registry_oversized = registry_oversized;
	f->routes_refused = routes_refused;
	g_mutex_init(&f->lock);
	f->workers = g_ptr_array_new_with_free_func(g_free);
	f->refused_logged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	f->queue_len = -1;
	f->remote = ooblex_demand_table_new();
	for(int i = 0; i < 4; i++)
		g_snprintf(f->plugin_id + 8 * i, 9, "%08x", g_random_int());
	return f;
}

void ooblex_fleet_free(ooblex_fleet *f) {
	if(f == NULL)
		return;
	g_hash_table_destroy(f->refused_logged);
	ooblex_fleet_caps_unref(f->caps);
	g_hash_table_destroy(f->remote);
	g_free(f->announcement);
	g_ptr_array_unref(f->workers);
	g_mutex_clear(&f->lock);
	g_free(f);
}

/* ----------------------------------------------------------- fair shares */

void ooblex_fleet_announce(ooblex_fleet *f, const ooblex_queue_demand *d, size_t n) {
	char *text = ooblex_demand_encode(d, n);
	g_mutex_lock(&f->lock);
	g_free(f->announcement);
	f->announcement = text ? g_strdup(text) : NULL;
	g_mutex_unlock(&f->lock);
	free(text);
}

typedef struct plugin_page {
	ooblex_fleet *r;
	GHashTable *by_queue;
} plugin_page;

static void take_announcement(void *user, const redisReply *key, const char *value, size_t len, int oversized) {
	plugin_page *p = user;
	(void)oversized;
	char own[sizeof(OOBLEX_KEY_PLUGIN_PREFIX) + 33];
	g_snprintf(own, sizeof(own), OOBLEX_KEY_PLUGIN_PREFIX "%s", p->r->plugin_id);
	if(value != NULL && !(key->len == strlen(own) && memcmp(key->str, own, key->len) == 0))
		ooblex_demand_add(p->by_queue, value, len);
}

static int read_plugin_page(redisContext *c, redisReply *const *keys, size_t n, void *user) {
	return read_capped_page(c, keys, n, take_announcement, user);
}

/* Once a look: this plugin's announcement out, the others' in. */
static void exchange_demand(ooblex_fleet *r, redisContext *c) {
	g_mutex_lock(&r->lock);
	char *text = g_strdup(r->announcement);
	g_mutex_unlock(&r->lock);
	if(text != NULL) {
		redisReply *rep = redisCommand(c, "SET " OOBLEX_KEY_PLUGIN_PREFIX "%s %s PX %d", r->plugin_id, text,
			OOBLEX_PLUGIN_TTL_MS);
		g_free(text);
		if(rep == NULL)
			return;
		freeReplyObject(rep);
	}
	plugin_page page = { r, ooblex_demand_table_new() };
	if(ooblex_redis_scan(c, OOBLEX_KEY_PLUGIN_PREFIX "*", OOBLEX_FLEET_MAX_PLUGINS, read_plugin_page, &page) != 0) {
		g_hash_table_destroy(page.by_queue);
		return;
	}
	g_mutex_lock(&r->lock);
	g_hash_table_destroy(r->remote);
	r->remote = page.by_queue;
	g_mutex_unlock(&r->lock);
}

/* Whether a registry entry lists queue among those its worker serves. */
static int serves_queue(const char *entry, const char *queue) {
	json_t *w = json_loads(entry, 0, NULL);
	json_t *list = json_object_get(w, "queues");
	size_t i;
	json_t *v;
	int found = 0;
	json_array_foreach(list, i, v) {
		const char *name = json_string_value(v);
		if(name != NULL && strcmp(name, queue) == 0)
			found = 1;
	}
	json_decref(w);
	return found;
}

unsigned ooblex_fleet_queue_share(ooblex_fleet *f, const char *queue, unsigned *remote_clients, double *remote_demand) {
	unsigned workers = 0;
	g_mutex_lock(&f->lock);
	for(guint i = 0; i < f->workers->len; i++)
		workers += (unsigned)serves_queue(g_ptr_array_index(f->workers, i), queue);
	const ooblex_queue_demand *d = g_hash_table_lookup(f->remote, queue);
	*remote_clients = d ? d->clients : 0;
	*remote_demand = d ? d->demand : 0;
	g_mutex_unlock(&f->lock);
	return workers;
}
