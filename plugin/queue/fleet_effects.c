/*
 * fleet_effects.c - see fleet_effects.h.
 */
#include "fleet_effects.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "effect_grammar.h"
#include "ooblex_keys.h"
#include "ooblex_route.h"

/* A model file name as a worker announces it, and as a page may name it
 * after "onnx:": what the worker itself accepts (ml_opencv.cpp), within the
 * characters of an effect string. */
#define MODEL_NAME_MAX 128

typedef struct worker_caps {
	gboolean serves_core;	/* announces the core effects: takes frames_to_process */
	GPtrArray *effects;	/* names in the grammar */
	GPtrArray *routes;	/* routed (not core) names */
	GHashTable *models;	/* effect name -> GPtrArray of model names */
} worker_caps;

struct ooblex_fleet_caps {
	gint ref;
	GPtrArray *workers;	/* of worker_caps */
};

static void worker_caps_free(gpointer p) {
	worker_caps *w = p;
	g_ptr_array_unref(w->effects);
	g_ptr_array_unref(w->routes);
	g_hash_table_destroy(w->models);
	g_free(w);
}

static gboolean has_name(const GPtrArray *a, const char *name, size_t len) {
	for(guint i = 0; a != NULL && i < a->len; i++) {
		const char *s = g_ptr_array_index(a, i);
		if(strlen(s) == len && !strncmp(s, name, len))
			return TRUE;
	}
	return FALSE;
}

static gboolean model_name_ok(const char *s) {
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= MODEL_NAME_MAX && s[0] != '.' &&
		strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

/* The names of a JSON array that pass check, each once. */
static GPtrArray *names_of(json_t *list, gboolean (*check)(const char *)) {
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		if(s != NULL && check(s) && !has_name(out, s, strlen(s)))
			g_ptr_array_add(out, g_strdup(s));
	}
	return out;
}

static gboolean effect_name_ok(const char *s) {
	return ooblex_effect_name_check(s, NULL, 0) == 0;
}

static worker_caps *parse_entry(const char *text) {
	json_t *e = json_loads(text, 0, NULL);
	json_t *effects = json_object_get(e, "effects");
	if(!json_is_object(e) || !json_is_array(effects)) {
		json_decref(e);
		return NULL;
	}
	worker_caps *w = g_malloc0(sizeof(*w));
	w->effects = names_of(effects, effect_name_ok);
	for(guint i = 0; i < w->effects->len; i++) {
		const char *s = g_ptr_array_index(w->effects, i);
		if(ooblex_effect_is_core_name(s, strlen(s)))
			w->serves_core = TRUE;
	}
	GPtrArray *routes = names_of(json_object_get(e, "routes"), effect_name_ok);
	w->routes = g_ptr_array_new_with_free_func(g_free);
	for(guint i = 0; i < routes->len; i++) {
		const char *s = g_ptr_array_index(routes, i);
		if(!ooblex_effect_is_core_name(s, strlen(s)))	/* refused as routes, as fleet.c does */
			g_ptr_array_add(w->routes, g_strdup(s));
	}
	g_ptr_array_unref(routes);
	w->models = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
	const char *name;
	json_t *list;
	json_object_foreach(json_object_get(e, "models"), name, list)
		if(effect_name_ok(name) && json_is_array(list))
			g_hash_table_replace(w->models, g_strdup(name), names_of(list, model_name_ok));
	json_decref(e);
	return w;
}

ooblex_fleet_caps *ooblex_fleet_caps_new(const char *const *entries, size_t n) {
	ooblex_fleet_caps *c = g_malloc0(sizeof(*c));
	c->ref = 1;
	c->workers = g_ptr_array_new_with_free_func(worker_caps_free);
	for(size_t i = 0; i < n; i++) {
		worker_caps *w = entries[i] ? parse_entry(entries[i]) : NULL;
		if(w != NULL)
			g_ptr_array_add(c->workers, w);
	}
	return c;
}

ooblex_fleet_caps *ooblex_fleet_caps_ref(ooblex_fleet_caps *c) {
	if(c != NULL)
		g_atomic_int_inc(&c->ref);
	return c;
}

void ooblex_fleet_caps_unref(ooblex_fleet_caps *c) {
	if(c != NULL && g_atomic_int_dec_and_test(&c->ref)) {
		g_ptr_array_unref(c->workers);
		g_free(c);
	}
}

unsigned ooblex_fleet_caps_workers(const ooblex_fleet_caps *c) {
	return c ? c->workers->len : 0;
}

json_t *ooblex_fleet_caps_models(const ooblex_fleet_caps *c) {
	json_t *out = json_object();
	for(guint i = 0; c != NULL && i < c->workers->len; i++) {
		const worker_caps *w = g_ptr_array_index(c->workers, i);
		GHashTableIter it;
		gpointer name, list;
		g_hash_table_iter_init(&it, w->models);
		while(g_hash_table_iter_next(&it, &name, &list)) {
			json_t *names = json_object_get(out, name);
			if(names == NULL)
				json_object_set_new(out, name, names = json_array());
			GPtrArray *models = list;
			for(guint k = 0; k < models->len; k++) {
				const char *m = g_ptr_array_index(models, k);
				size_t j;
				json_t *v;
				gboolean dup = FALSE;
				json_array_foreach(names, j, v)
					dup |= !strcmp(json_string_value(v), m);
				if(!dup)
					json_array_append_new(names, json_string(m));
			}
		}
	}
	return out;
}

/* ------------------------------------------------------------- the verdict */

/* One item of a chain: its name and the text after its ':' (params). */
typedef struct chain_item {
	const char *name;
	size_t name_len;
	const char *params;
	size_t params_len;
} chain_item;

/* An effect string of at most OOBLEX_EFFECT_TEXT_MAX bytes has at most
 * half as many items (each a name and a '|'), plus one. */
#define MAX_ITEMS (OOBLEX_EFFECT_TEXT_MAX / 2 + 1)

static size_t split_chain(const char *effect, chain_item *items) {
	size_t n = 0;
	for(const char *p = effect; n < MAX_ITEMS;) {
		size_t len = ooblex_effect_item_len(p);
		size_t name = strcspn(p, ":|");
		if(name > len)
			name = len;
		items[n].name = p;
		items[n].name_len = name;
		items[n].params = name < len ? p + name + 1 : p + len;
		items[n].params_len = name < len ? len - name - 1 : 0;
		n++;
		if(p[len] == '\0')
			break;
		p += len + 1;
	}
	return n;
}

/* Every worker has the core effects and ffmpeg: graphs ("core" names a
 * queue, not an effect). */
static gboolean item_is_core(const chain_item *it) {
	return ooblex_effect_is_core_name(it->name, it->name_len) &&
		!(it->name_len == 4 && !strncmp(it->name, "core", 4));
}

/* The model an item names: its first parameter, up to the next ':'. */
static size_t item_model_len(const chain_item *it) {
	const char *colon = memchr(it->params, ':', it->params_len);
	return colon ? (size_t)(colon - it->params) : it->params_len;
}

static GPtrArray *worker_models(const worker_caps *w, const chain_item *it) {
	char name[OOBLEX_EFFECT_NAME_MAX + 1];
	if(it->name_len > OOBLEX_EFFECT_NAME_MAX)
		return NULL;
	memcpy(name, it->name, it->name_len);
	name[it->name_len] = '\0';
	return g_hash_table_lookup(w->models, name);
}

static gboolean worker_runs_item(const worker_caps *w, const chain_item *it) {
	if(item_is_core(it))
		return TRUE;
	if(!has_name(w->effects, it->name, it->name_len))
		return FALSE;
	GPtrArray *models = worker_models(w, it);
	return models == NULL || (item_model_len(it) > 0 && has_name(models, it->params, item_model_len(it)));
}

/* "a, b, c": the distinct names over all workers of their effects (it
 * NULL) or of their models for the effect of it; "none" when empty. */
static char *fleet_list(const ooblex_fleet_caps *c, const chain_item *it) {
	GPtrArray *seen = g_ptr_array_new();
	GString *s = g_string_new(NULL);
	for(guint i = 0; i < c->workers->len; i++) {
		const worker_caps *w = g_ptr_array_index(c->workers, i);
		GPtrArray *names = it ? worker_models(w, it) : w->effects;
		for(guint k = 0; names != NULL && k < names->len; k++) {
			const char *n = g_ptr_array_index(names, k);
			if(has_name(seen, n, strlen(n)))
				continue;
			g_ptr_array_add(seen, (gpointer)n);
			g_string_append_printf(s, "%s%s", s->len ? ", " : "", n);
		}
	}
	g_ptr_array_unref(seen);
	for(guint i = 0; it == NULL && i < c->workers->len; i++)
		if(((const worker_caps *)g_ptr_array_index(c->workers, i))->serves_core) {
			g_string_append(s, ", ffmpeg:<graph>");
			break;
		}
	if(s->len == 0)
		g_string_assign(s, "none");
	return g_string_free(s, FALSE);
}

static ooblex_fleet_verdict refuse(char *why, size_t whylen, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static ooblex_fleet_verdict refuse(char *why, size_t whylen, const char *fmt, ...) {
	if(why != NULL && whylen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return OOBLEX_FLEET_NOT_RUNNABLE;
}

ooblex_fleet_verdict ooblex_fleet_caps_check(const ooblex_fleet_caps *caps, const char *effect, char *why,
		size_t whylen) {
	if(why != NULL && whylen > 0)
		why[0] = '\0';
	if(caps == NULL || caps->workers->len == 0) {
		if(why != NULL && whylen > 0)
			g_strlcpy(why, "No worker is alive: frames are processed once an ooblex-worker runs", whylen);
		return OOBLEX_FLEET_NO_WORKERS;
	}
	chain_item items[MAX_ITEMS];
	size_t n = split_chain(effect ? effect : "", items);
	/* What no worker has at all, named first: that is what to fix. */
	for(size_t i = 0; i < n; i++) {
		const chain_item *it = &items[i];
		if(item_is_core(it))
			continue;
		gboolean offered = FALSE, listed = FALSE, has_model = FALSE;
		size_t mlen = item_model_len(it);
		for(guint k = 0; k < caps->workers->len; k++) {
			const worker_caps *w = g_ptr_array_index(caps->workers, k);
			if(!has_name(w->effects, it->name, it->name_len))
				continue;
			offered = TRUE;
			GPtrArray *models = worker_models(w, it);
			listed |= models != NULL;
			has_model |= models == NULL || (mlen > 0 && has_name(models, it->params, mlen));
		}
		if(!offered) {
			char *live = fleet_list(caps, NULL);
			ooblex_fleet_verdict v = refuse(why, whylen, "No live worker offers the effect '%.*s' (live workers offer: %s)",
				(int)it->name_len, it->name, live);
			g_free(live);
			return v;
		}
		if(listed && !has_model) {
			char *models = fleet_list(caps, it);
			ooblex_fleet_verdict v = mlen == 0 ?
				refuse(why, whylen, "The effect '%.*s' needs a model: %.*s:<model> (models on live workers: %s)",
					(int)it->name_len, it->name, (int)it->name_len, it->name, models) :
				refuse(why, whylen, "No live worker has the model '%.*s' for '%.*s' (models on live workers: %s)",
					(int)mlen, it->params, (int)it->name_len, it->name, models);
			g_free(models);
			return v;
		}
	}
	/* The queue the chain goes to (ooblex_route.h): its first routed name's. */
	const chain_item *route = NULL;
	for(size_t i = 0; i < n && route == NULL; i++)
		for(guint k = 0; k < caps->workers->len && route == NULL; k++)
			if(has_name(((worker_caps *)g_ptr_array_index(caps->workers, k))->routes, items[i].name, items[i].name_len))
				route = &items[i];
	gboolean any_on_queue = FALSE;
	for(guint k = 0; k < caps->workers->len; k++) {
		const worker_caps *w = g_ptr_array_index(caps->workers, k);
		if(route ? !has_name(w->routes, route->name, route->name_len) : !w->serves_core)
			continue;
		any_on_queue = TRUE;
		size_t i = 0;
		while(i < n && worker_runs_item(w, &items[i]))
			i++;
		if(i == n)
			return OOBLEX_FLEET_RUNNABLE;
	}
	char *live = fleet_list(caps, NULL);
	ooblex_fleet_verdict v = !any_on_queue ?
		refuse(why, whylen, "No live worker serves the core effects (queue " OOBLEX_KEY_FRAMES "); live workers offer: %s",
			live) :
		refuse(why, whylen, "No one live worker on the queue of '%.*s' runs all of '%s' (live workers offer: %s)",
			route ? (int)route->name_len : 4, route ? route->name : "core", effect, live);
	g_free(live);
	return v;
}

/* --------------------------------------------------------------- the watch */

void ooblex_fleet_watch_init(ooblex_fleet_watch *w) {
	memset(w, 0, sizeof(*w));
	g_mutex_init(&w->lock);
}

void ooblex_fleet_watch_clear(ooblex_fleet_watch *w) {
	g_mutex_clear(&w->lock);
}

void ooblex_fleet_watch_start(ooblex_fleet_watch *w, const char *effect) {
	g_mutex_lock(&w->lock);
	/* A new run: the page was told nothing yet. */
	/* An effect that does not fit (longer than any the wire carries,
	 * OOBLEX_NAME_MAX) is not watched: a verdict on its first 255 bytes
	 * would be about another effect. */
	w->active = effect == NULL || strlen(effect) <= OOBLEX_FLEET_WATCH_EFFECT_MAX;
	w->lost = FALSE;
	w->told_us = 0;
	w->pending = FALSE;
	g_strlcpy(w->effect, effect ? effect : "", sizeof(w->effect));
	w->dirty = TRUE;
	g_mutex_unlock(&w->lock);
}

void ooblex_fleet_watch_set_effect(ooblex_fleet_watch *w, const char *effect) {
	g_mutex_lock(&w->lock);
	if(w->active && effect != NULL) {
		if(strlen(effect) > OOBLEX_FLEET_WATCH_EFFECT_MAX)
			w->active = FALSE;	/* as in start */
		g_strlcpy(w->effect, effect, sizeof(w->effect));
		w->dirty = TRUE;
	}
	g_mutex_unlock(&w->lock);
}

void ooblex_fleet_watch_stop(ooblex_fleet_watch *w) {
	g_mutex_lock(&w->lock);
	w->active = FALSE;
	g_mutex_unlock(&w->lock);
}

ooblex_fleet_tell ooblex_fleet_watch_step(ooblex_fleet_watch *w, const ooblex_fleet_caps *caps, uint64_t gen,
		int64_t now_us, ooblex_fleet_verdict *verdict, char *why, size_t whylen, char *effect, size_t effectlen) {
	ooblex_fleet_tell tell = OOBLEX_FLEET_TELL_NOTHING;
	g_mutex_lock(&w->lock);
	if(!w->active || (!w->dirty && !w->pending && gen == w->caps_seen))
		goto done;
	w->dirty = FALSE;
	w->caps_seen = gen;
	ooblex_fleet_verdict v = ooblex_fleet_caps_check(caps, w->effect, why, whylen);
	gboolean lost = v != OOBLEX_FLEET_RUNNABLE;
	if(lost == w->lost) {
		w->pending = FALSE;	/* flipped back within the interval: nothing to tell */
		goto done;
	}
	if(w->told_us != 0 && now_us - w->told_us < OOBLEX_FLEET_TELL_INTERVAL_US) {
		w->pending = TRUE;
		goto done;
	}
	w->pending = FALSE;
	w->lost = lost;
	w->told_us = now_us;
	tell = lost ? OOBLEX_FLEET_TELL_LOST : OOBLEX_FLEET_TELL_BACK;
	if(verdict != NULL)
		*verdict = v;
	if(effect != NULL && effectlen > 0)
		g_strlcpy(effect, w->effect, effectlen);
done:
	g_mutex_unlock(&w->lock);
	return tell;
}
