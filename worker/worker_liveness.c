/*
 * worker_liveness.c - liveness and registry keys, the reaper, the metrics
 * file (see worker_liveness.h).
 */
#include "worker_liveness.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>

#include "ooblex_scripts.h"
#ifdef OOBLEX_HAVE_OPENCV
#include "ml_opencv.h"
#endif

/* The models this worker has for its onnx effect: the file names in the
 * models folder that onnx:<name> accepts (ml_opencv.cpp), at most
 * MAX_MODELS, sorted. The plugin refuses onnx:<name> for a model no live
 * worker lists (plugin/queue/fleet_effects.h), so a page hears at once,
 * not from every frame. Read at each heartbeat: models come and go. */
#define MAX_MODELS 64
#ifdef OOBLEX_HAVE_OPENCV
static gint by_name(gconstpointer a, gconstpointer b) {
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}
#endif
static json_t *onnx_models(void) {
	json_t *list = json_array();
#ifdef OOBLEX_HAVE_OPENCV
	GDir *dir = g_dir_open(ooblex_ml_models_dir(), 0, NULL);
	GPtrArray *names = g_ptr_array_new();
	const char *n;
	while(dir != NULL && (n = g_dir_read_name(dir)) != NULL && names->len < MAX_MODELS) {
		size_t len = strlen(n);
		if(len >= 6 && len <= 128 && n[0] != '.' && g_str_has_suffix(n, ".onnx") &&
				strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len)
			g_ptr_array_add(names, (gpointer)g_strdup(n));
	}
	g_ptr_array_sort(names, by_name);
	for(guint i = 0; i < names->len; i++) {
		json_array_append_new(list, json_string(g_ptr_array_index(names, i)));
		g_free(g_ptr_array_index(names, i));
	}
	g_ptr_array_unref(names);
	if(dir != NULL)
		g_dir_close(dir);
#endif
	return list;
}

/* An effect whose model is missing is not announced (ml_opencv.h). */
static int effect_ready(const char *name) {
#ifdef OOBLEX_HAVE_OPENCV
	return ooblex_ml_effect_ready(name);
#else
	(void)name;
	return 1;
#endif
}

/* Registers (or refreshes) this worker in the fleet registry; the key
 * expires by itself if the worker dies. */
static void heartbeat(worker *w, redisContext *c) {
	json_t *effects = json_array(), *queues = json_array(), *routes = json_array();
	/* A frame on frames_to_process may carry any effect no live worker
	 * routes, and this worker runs every effect it has on it (modules
	 * included): so all of them are announced, and the plugin's check of an
	 * effect against the fleet (plugin/queue/fleet_effects.h) is right. */
	if(w->serves_core)
		for(const char *const *e = ooblex_effects_list(); *e; e++)
			if(effect_ready(*e))
				json_array_append_new(effects, json_string(*e));
	gboolean runs_onnx = FALSE;
	for(int i = 0; i < w->n_loops; i++) {
		json_array_append_new(queues, json_string(w->loops[i].queue));
		if(w->loops[i].route[0]) {
			if(!w->serves_core && effect_ready(w->loops[i].route))
				json_array_append_new(effects, json_string(w->loops[i].route));
			json_array_append_new(routes, json_string(w->loops[i].route));
		}
	}
	for(size_t i = 0; i < json_array_size(effects); i++)
		runs_onnx |= !strcmp(json_string_value(json_array_get(effects, i)), "onnx");
	char prefetch[32] = "auto";
	if(w->opt.prefetch >= 0)
		snprintf(prefetch, sizeof(prefetch), "%ld", w->opt.prefetch);
	json_t *info = json_pack("{s:s, s:s, s:i, s:o, s:o, s:o, s:i, s:s, s:f, s:I, s:I, s:I}",
		"id", w->opt.id, "host", w->host, "pid", (int)getpid(), "effects", effects, "routes", routes,
		"queues", queues, "batch_size", (int)w->opt.batch_size, "prefetch", prefetch,
		"redis_rtt_ms", atomic_load(&w->redis_rtt_us) / 1000.0, "started", (json_int_t)w->started,
		"frames_done", (json_int_t)atomic_load(&w->processed),
		"handed_back", (json_int_t)atomic_load(&w->handed_back));
	/* "models": {effect: [names]} for the effects that need one. */
	if(info != NULL && runs_onnx)
		json_object_set_new(info, "models", json_pack("{s:o}", "onnx", onnx_models()));
	char *text = info ? json_dumps(info, JSON_COMPACT) : NULL;
	json_decref(info);
	if(text == NULL)
		return;
	redisReply *r = redisCommand(c, "SET %s %s EX %d", w->registry_key, text, OOBLEX_WORKER_TTL_S);
	if(r != NULL)
		freeReplyObject(r);
	free(text);
}

/* Queues the reap of one processing list on c (its reply read by
 * reap_reply). */
static int reap_append(redisContext *c, const char *processing_key, const char *alive_key, const char *queue) {
	char now[32];
	snprintf(now, sizeof(now), "%llu", (unsigned long long)ooblex_now_us());
	return redisAppendCommand(c, "EVAL %s 4 %s %s %s %s %s", ooblex_script_reap, processing_key, alive_key, queue,
		OOBLEX_KEY_DROPPED_STALE, now);
}

/* Reads one reap's reply and logs what it did; -1 when the connection broke. */
static int reap_reply(const worker *w, redisContext *c, const char *processing_key, const char *queue) {
	redisReply *r = NULL;
	if(redisGetReply(c, (void **)&r) != REDIS_OK)
		return -1;
	if(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
			(r->element[0]->integer > 0 || r->element[1]->integer > 0))
		worker_log("[%s] reaped %s: %lld frame(s) back to %s, %lld past their deadline", w->opt.id,
			processing_key, r->element[0]->integer, queue, r->element[1]->integer);
	else if(r != NULL && r->type == REDIS_REPLY_ERROR)
		worker_log("[%s] reaper failed: %s", w->opt.id, r->str);
	if(r != NULL)
		freeReplyObject(r);
	return 0;
}

void worker_reap(const worker *w, redisContext *c, const char *processing_key, const char *alive_key,
		const char *queue) {
	if(reap_append(c, processing_key, alive_key, queue) == REDIS_OK)
		reap_reply(w, c, processing_key, queue);
}

/* The queue a processing list's frames came from, and its owner's
 * liveness key (see reap_dead). 0, or -1 for our own lists. */
static int list_owner(const worker *w, const char *key, char alive[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX],
		char queue[OOBLEX_KEY_MAX + 64]) {
	size_t own_len = strlen(w->opt.id);
	const char *owner = key + strlen(OOBLEX_KEY_PROCESSING_PREFIX);
	const char *hash = strrchr(owner, '#');
	size_t owner_len = hash ? (size_t)(hash - owner) : strlen(owner);
	if(owner_len == own_len && !strncmp(owner, w->opt.id, own_len))
		return -1;
	snprintf(alive, OOBLEX_KEY_MAX + OOBLEX_NAME_MAX, OOBLEX_KEY_ALIVE_PREFIX "%.*s", (int)owner_len, owner);
	if(hash)
		snprintf(queue, OOBLEX_KEY_MAX + 64, OOBLEX_KEY_FRAMES ":%s", hash + 1);
	else
		snprintf(queue, OOBLEX_KEY_MAX + 64, OOBLEX_KEY_FRAMES);
	return 0;
}

/* One SCAN page of processing lists (see reap_dead): the reaps of a page go
 * out together, so a worker far from Redis spends one round trip on them,
 * not one per worker of the fleet. */
static int reap_page(redisContext *c, redisReply *const *keys, size_t n, void *user) {
	worker *w = user;
	char alive[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX], queue[OOBLEX_KEY_MAX + 64];
	size_t sent = 0;
	for(size_t i = 0; i < n; i++)
		if(list_owner(w, keys[i]->str, alive, queue) == 0 && reap_append(c, keys[i]->str, alive, queue) == REDIS_OK)
			sent++;
	for(size_t i = 0; i < n && sent > 0; i++) {
		if(list_owner(w, keys[i]->str, alive, queue) < 0)
			continue;
		if(reap_reply(w, c, keys[i]->str, queue) < 0)
			return -1;
		sent--;
	}
	return 0;
}

/* Reaps every processing list whose owner's liveness key is gone. A list's
 * name says whose it is and which queue its frames came from:
 * ooblex:processing:{id} (frames_to_process) or
 * ooblex:processing:{id}#{effect} (frames_to_process:{effect}). */
static void reap_dead(worker *w, redisContext *c) {
	ooblex_redis_scan(c, OOBLEX_KEY_PROCESSING_PREFIX "*", OOBLEX_FLEET_MAX_PROCESSING_LISTS, reap_page, w);
}

/* The liveness thread: its own connection, so a slow frame never lets the
 * liveness key lapse. Also writes the metrics file once a second, Redis or
 * not. */
static void *liveness_thread(void *arg) {
	worker *w = arg;
	redisContext *c = NULL;
	unsigned tick = 0;
	const unsigned per_second = 1000 / OOBLEX_ALIVE_REFRESH_MS;
	int metrics_failed = 0;
	while(!atomic_load(&w->liveness_stop)) {
		uint64_t pass_start = ooblex_now_us();
		if(c == NULL) {
			char err[256];
			c = ooblex_redis_connect(&w->opt.redis, 1000, err, sizeof(err));
		}
		if(c != NULL) {
			uint64_t before = ooblex_now_us();
			redisReply *r = redisCommand(c, "SET %s 1 PX %d", w->alive_key, OOBLEX_ALIVE_TTL_MS);
			if(r != NULL && r->type == REDIS_REPLY_STATUS) {
				atomic_store(&w->alive_until_us, before + OOBLEX_ALIVE_TTL_MS * 1000ULL);
				/* The round trip, smoothed (1/4 new): the queues size their
				 * prefetch from it (worker_loop.h). */
				unsigned long long rtt = ooblex_now_us() - before, old = atomic_load(&w->redis_rtt_us);
				atomic_store(&w->redis_rtt_us, old == 0 ? rtt : (3 * old + rtt) / 4);
			}
			if(r == NULL) {
				redisFree(c);
				c = NULL;
			} else {
				freeReplyObject(r);
				if(tick % per_second == 0)
					heartbeat(w, c);
				reap_dead(w, c);
			}
		}
		if(tick % per_second == 0 && ooblex_metrics_write(w->metrics) < 0 && !metrics_failed) {
			metrics_failed = 1;
			worker_log("[%s] cannot write %s: %s (metrics are not exported)", w->opt.id,
				ooblex_metrics_path(w->metrics), strerror(errno));
		}
		tick++;
		/* Refreshes every OOBLEX_ALIVE_REFRESH_MS however long the pass took
		 * (far from Redis its round trips are much of it). */
		uint64_t took_us = ooblex_now_us() - pass_start;
		long sleep_us = OOBLEX_ALIVE_REFRESH_MS * 1000L - (long)took_us;
		if(sleep_us < 10000)
			sleep_us = 10000;
		struct timespec ts = { 0, sleep_us * 1000L };
		nanosleep(&ts, NULL);
	}
	if(c != NULL) {
		/* Leave at once rather than when the keys expire. */
		redisReply *r = redisCommand(c, "DEL %s %s", w->alive_key, w->registry_key);
		if(r != NULL)
			freeReplyObject(r);
		redisFree(c);
	}
	return NULL;
}

void worker_liveness_start(worker *w) {
	snprintf(w->registry_key, sizeof(w->registry_key), OOBLEX_KEY_WORKER_PREFIX "%s", w->opt.id);
	snprintf(w->alive_key, sizeof(w->alive_key), OOBLEX_KEY_ALIVE_PREFIX "%s", w->opt.id);
	w->liveness_running = pthread_create(&w->liveness, NULL, liveness_thread, w) == 0;
}

void worker_liveness_stop(worker *w) {
	if(!w->liveness_running)
		return;
	atomic_store(&w->liveness_stop, 1);
	pthread_join(w->liveness, NULL);
	w->liveness_running = 0;
}
