/*
 * worker_main.c - a worker of the Ooblex fleet.
 *
 * Takes frames from the Redis list `frames_to_process` (BLMOVE into its own
 * processing list: each frame goes to exactly one worker, FIFO), applies the
 * frame's effect, and pushes the result (a JPEG, or I420 if asked) to
 * `processed_frames:{client_id}`, clearing its processing list in the same
 * transaction. Frames whose effect only some workers offer (the OpenCV ones,
 * modules) come through `frames_to_process:{effect}` instead: the worker
 * serves each queue it listens to (--effects) with a thread of its own, so a
 * busy queue never delays another. Any number of workers may run, on any
 * machine that reaches Redis. A liveness thread keeps the worker's liveness
 * and registry keys fresh, reaps the processing lists of workers that died
 * (ooblex_keys.h) and writes the Prometheus metrics file.
 *
 * Run with --help for the options. Flags win over the environment.
 * SIGTERM/SIGINT: finish the frames in hand, take nothing new, exit 0.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>

#include "effects.h"
#include "jpeg_codec.h"
#ifdef OOBLEX_HAVE_OPENCV
#include "ml_opencv.h"
#endif
#include "ooblex_auth.h"
#include "ooblex_keys.h"
#include "ooblex_redis.h"
#include "ooblex_wire.h"
#include "ooblex_wire_check.h"
#include "worker_metrics.h"

#ifndef OOBLEX_MODULE_DIR
#define OOBLEX_MODULE_DIR "/usr/local/lib/ooblex/effects"
#endif

static volatile sig_atomic_t stop_requested = 0;

#define OOBLEX_MAX_BATCH 64
/* The default queue plus one per routed effect. */
#define OOBLEX_MAX_QUEUES 17

static void on_signal(int sig) {
	(void)sig;
	stop_requested = 1;
}

typedef struct worker_options {
	ooblex_redis_config redis;
	char id[OOBLEX_NAME_MAX + 1];
	long max_frames;	/* 0: run until stopped */
	long delay_ms;	/* extra time per frame, to emulate a slow model in tests */
	long frame_budget_ms;	/* a frame whose processing took longer is not delivered; 0 = no budget */
	long batch_size;	/* frames taken at once (BATCH_SIZE), for effects that gain from batches */
	const char *effects;	/* --effects: "core" and/or routed effect names; NULL: everything */
	GPtrArray *modules;	/* --module paths */
	const char *module_dir;
	const char *models_dir;
	const char *metrics_dir;
	int list_effects;
	/* The fleet secret: results are signed with it (ooblex_auth.h) when set. */
	uint8_t secret[OOBLEX_SECRET_MAX];
	int secret_len;
} worker_options;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

static void usage(FILE *f) {
	fprintf(f,
		"usage: ooblex-worker [options]\n"
		"  --redis-url URL   redis://[[user]:password@]host[:port][/db], user and password\n"
		"                    percent-encoded, IPv6 as [::1] (env REDIS_URL)\n"
		"  --host HOST       Redis host (env REDIS_HOST, default 127.0.0.1)\n"
		"  --port PORT       Redis port (env REDIS_PORT, default 6379)\n"
		"  --user NAME       Redis ACL user (env REDIS_USER; default: the default user)\n"
		"  --password PW     Redis password (env REDIS_PASSWORD)\n"
		"  --db N            Redis database (default 0)\n"
		"  --id NAME         worker id in logs and results (env OOBLEX_WORKER_ID, default host:pid)\n"
		"  --effects LIST    what to serve, comma-separated: 'core' (the libavfilter effects, queue\n"
		"                    frames_to_process) and routed effects such as faces, onnx or a module's\n"
		"                    (queue frames_to_process:{effect}); default: everything (env OOBLEX_EFFECTS)\n"
		"  --module PATH     load an effect module (ooblex_effect.h); repeatable\n"
		"  --module-dir DIR  load every *.so in DIR (env OOBLEX_MODULE_DIR, default " OOBLEX_MODULE_DIR ")\n"
		"  --models-dir DIR  where onnx:<name>.onnx models are (env OOBLEX_MODELS_DIR)\n"
		"  --metrics-dir DIR write Prometheus metrics there every second, for node exporter's\n"
		"                    textfile collector (env OOBLEX_METRICS_DIR)\n"
		"  --max-frames N    exit after N frames (0 = never)\n"
		"  --batch-size N    take up to N frames at once (env BATCH_SIZE, default 1)\n"
		"  --delay-ms N      add N ms per frame (testing a slow worker; not counted in the budget)\n"
		"  --fleet-secret-file PATH  sign results with the secret in PATH (at least 16 bytes; env\n"
		"                    OOBLEX_FLEET_SECRET_FILE, or the secret itself in OOBLEX_FLEET_SECRET); the\n"
		"                    plugin's fleet_secret must be the same\n"
		"  --frame-budget-ms N  a frame whose processing (decode, effect, encode) takes longer\n"
		"                    is not delivered: the client gets an error result instead\n"
		"                    (env OOBLEX_FRAME_BUDGET_MS, default 250, 0 = no budget)\n"
		"  --list-effects    print the effects this worker offers and exit\n");
}

static int parse_int(const char *s, long lo, long hi, long *out) {
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if(errno || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static const char *env_or(const char *name, const char *fallback) {
	const char *v = getenv(name);
	return v != NULL && *v ? v : fallback;
}

static int parse_options(int argc, char **argv, worker_options *o) {
	char err[256];
	long v;
	ooblex_redis_config_default(&o->redis);
	const char *env;
	if((env = getenv("REDIS_URL")) != NULL && *env && ooblex_redis_parse_url(&o->redis, env, err, sizeof(err)) < 0) {
		fprintf(stderr, "ooblex-worker: REDIS_URL: %s\n", err);
		return -1;
	}
	if((env = getenv("REDIS_HOST")) != NULL && *env)
		snprintf(o->redis.host, sizeof(o->redis.host), "%s", env);
	if((env = getenv("REDIS_PORT")) != NULL && *env) {
		if(parse_int(env, 1, 65535, &v) < 0) {
			fprintf(stderr, "ooblex-worker: REDIS_PORT: not a port: %s\n", env);
			return -1;
		}
		o->redis.port = (int)v;
	}
	if((env = getenv("REDIS_USER")) != NULL && *env)
		snprintf(o->redis.user, sizeof(o->redis.user), "%s", env);
	if((env = getenv("REDIS_PASSWORD")) != NULL)
		snprintf(o->redis.password, sizeof(o->redis.password), "%s", env);
	char host[128] = "worker";
	gethostname(host, sizeof(host) - 1);
	snprintf(o->id, sizeof(o->id), "%s:%d", host, (int)getpid());
	if((env = getenv("OOBLEX_WORKER_ID")) != NULL && *env)
		snprintf(o->id, sizeof(o->id), "%s", env);
	o->batch_size = 1;
	if((env = getenv("BATCH_SIZE")) != NULL && *env && parse_int(env, 1, OOBLEX_MAX_BATCH, &o->batch_size) < 0) {
		fprintf(stderr, "ooblex-worker: BATCH_SIZE must be 1..%d (got %s)\n", OOBLEX_MAX_BATCH, env);
		return -1;
	}
	o->frame_budget_ms = 250;
	if((env = getenv("OOBLEX_FRAME_BUDGET_MS")) != NULL && *env && parse_int(env, 0, 600000, &o->frame_budget_ms) < 0) {
		fprintf(stderr, "ooblex-worker: OOBLEX_FRAME_BUDGET_MS must be 0..600000 ms (got %s)\n", env);
		return -1;
	}
	o->effects = env_or("OOBLEX_EFFECTS", NULL);
	o->module_dir = env_or("OOBLEX_MODULE_DIR", OOBLEX_MODULE_DIR);
	o->models_dir = env_or("OOBLEX_MODELS_DIR", NULL);
	o->metrics_dir = env_or("OOBLEX_METRICS_DIR", NULL);
	o->modules = g_ptr_array_new_with_free_func(g_free);
	if((env = getenv("OOBLEX_EFFECT_MODULES")) != NULL && *env) {
		gchar **paths = g_strsplit(env, ":", -1);
		for(gchar **p = paths; *p; p++)
			if(**p)
				g_ptr_array_add(o->modules, g_strdup(*p));
		g_strfreev(paths);
	}

	/* A file is better than the environment (visible in /proc/PID/environ to
	 * the same user), and both better than a command line (visible to all). */
	const char *secret_file = getenv("OOBLEX_FLEET_SECRET_FILE");
	const char *secret_text = getenv("OOBLEX_FLEET_SECRET");
	static const struct option longopts[] = {
		{ "redis-url", required_argument, NULL, 'u' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "password", required_argument, NULL, 'a' },
		{ "user", required_argument, NULL, 'U' },
		{ "db", required_argument, NULL, 'n' },
		{ "id", required_argument, NULL, 'i' },
		{ "effects", required_argument, NULL, 'e' },
		{ "module", required_argument, NULL, 'M' },
		{ "module-dir", required_argument, NULL, 'D' },
		{ "models-dir", required_argument, NULL, 'O' },
		{ "metrics-dir", required_argument, NULL, 'P' },
		{ "max-frames", required_argument, NULL, 'm' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "batch-size", required_argument, NULL, 'b' },
		{ "frame-budget-ms", required_argument, NULL, 'B' },
		{ "list-effects", no_argument, NULL, 'l' },
		{ "fleet-secret-file", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while((c = getopt_long(argc, argv, "u:H:p:a:U:n:i:e:M:D:O:P:m:d:b:B:S:lh", longopts, NULL)) != -1) {
		switch(c) {
			case 'u':
				if(ooblex_redis_parse_url(&o->redis, optarg, err, sizeof(err)) < 0) {
					fprintf(stderr, "ooblex-worker: --redis-url: %s\n", err);
					return -1;
				}
				break;
			case 'H': snprintf(o->redis.host, sizeof(o->redis.host), "%s", optarg); break;
			case 'a': snprintf(o->redis.password, sizeof(o->redis.password), "%s", optarg); break;
			case 'U': snprintf(o->redis.user, sizeof(o->redis.user), "%s", optarg); break;
			case 'i': snprintf(o->id, sizeof(o->id), "%s", optarg); break;
			case 'e': o->effects = optarg; break;
			case 'M': g_ptr_array_add(o->modules, g_strdup(optarg)); break;
			case 'D': o->module_dir = optarg; break;
			case 'O': o->models_dir = optarg; break;
			case 'P': o->metrics_dir = optarg; break;
			case 'b':
				if(parse_int(optarg, 1, OOBLEX_MAX_BATCH, &o->batch_size) < 0) {
					fprintf(stderr, "ooblex-worker: --batch-size must be 1..%d\n", OOBLEX_MAX_BATCH);
					return -1;
				}
				break;
			case 'B':
				if(parse_int(optarg, 0, 600000, &o->frame_budget_ms) < 0) {
					fprintf(stderr, "ooblex-worker: --frame-budget-ms must be 0..600000\n");
					return -1;
				}
				break;
			case 'p':
			case 'n':
			case 'm':
			case 'd':
				if(parse_int(optarg, c == 'p' ? 1 : 0, c == 'p' ? 65535 : 1000000000, &v) < 0) {
					fprintf(stderr, "ooblex-worker: bad number '%s'\n", optarg);
					return -1;
				}
				if(c == 'p') o->redis.port = (int)v;
				else if(c == 'n') o->redis.db = (int)v;
				else if(c == 'm') o->max_frames = v;
				else o->delay_ms = v;
				break;
			case 'l': o->list_effects = 1; break;
			case 'S': secret_file = optarg; break;
			case 'h': usage(stdout); exit(0);
			default: usage(stderr); return -1;
		}
	}
	if(optind < argc) {
		fprintf(stderr, "ooblex-worker: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	if((secret_file != NULL && *secret_file) || (secret_text != NULL && *secret_text)) {
		o->secret_len = ooblex_auth_load_secret(secret_file && *secret_file ? secret_file : NULL, secret_text,
			o->secret, err, sizeof(err));
		if(o->secret_len < 0) {
			fprintf(stderr, "ooblex-worker: %s\n", err);
			return -1;
		}
	}
	/* '#' separates the id from the effect in a processing list's name. */
	if(strchr(o->id, '#') != NULL || o->id[0] == '\0') {
		fprintf(stderr, "ooblex-worker: a worker id must be non-empty and without '#'\n");
		return -1;
	}
	return 0;
}

/* The OpenCV effects, every module in the module folder, then --module:
 * an explicitly named module that cannot load stops the worker; a broken
 * file in the shared folder is logged and skipped. */
static int load_effects(const worker_options *o) {
	char err[512];
#ifdef OOBLEX_HAVE_OPENCV
	ooblex_ml_set_paths(getenv("OOBLEX_CASCADE_DIR"), o->models_dir);
	if(ooblex_effects_add_module(ooblex_ml_module(), "built-in OpenCV effects", err, sizeof(err)) < 0) {
		fprintf(stderr, "ooblex-worker: %s\n", err);
		return -1;
	}
#else
	if(o->models_dir != NULL)
		fprintf(stderr, "ooblex-worker: built without OpenCV: --models-dir has no effect\n");
#endif
	DIR *d = o->module_dir ? opendir(o->module_dir) : NULL;
	if(d != NULL) {
		GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
		struct dirent *de;
		while((de = readdir(d)) != NULL)
			if(g_str_has_suffix(de->d_name, ".so"))
				g_ptr_array_add(names, g_strdup(de->d_name));
		closedir(d);
		/* Sorted: which module wins a name clash must not depend on the disk. */
		g_ptr_array_sort(names, (GCompareFunc)g_ascii_strcasecmp);
		for(guint i = 0; i < names->len; i++) {
			gchar *path = g_build_filename(o->module_dir, g_ptr_array_index(names, i), NULL);
			if(ooblex_effects_load_module(path, err, sizeof(err)) < 0)
				fprintf(stderr, "ooblex-worker: skipping module %s: %s\n", path, err);
			g_free(path);
		}
		g_ptr_array_unref(names);
	}
	for(guint i = 0; i < o->modules->len; i++) {
		const char *path = g_ptr_array_index(o->modules, i);
		if(ooblex_effects_load_module(path, err, sizeof(err)) < 0) {
			fprintf(stderr, "ooblex-worker: --module %s: %s\n", path, err);
			return -1;
		}
	}
	return 0;
}

static int stop_was_requested(void *user) {
	(void)user;
	return stop_requested;
}

typedef struct worker worker;

/* One queue the worker serves, with everything its thread owns. */
typedef struct queue_loop {
	worker *w;
	int index;	/* 0 logs connection changes for the whole worker */
	char route[32];	/* "" for frames_to_process, else the effect */
	char queue[OOBLEX_KEY_MAX];
	char processing_key[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX + 40];
	redisContext *c;
	ooblex_effects *fx;
	ooblex_jpeg *jpeg;
	uint8_t *decoded;	/* a JPEG frame, decoded */
	size_t decoded_cap;
	uint8_t *pixels;	/* the processed frame, I420 */
	size_t pixels_cap;
	uint8_t *out;	/* result message */
	size_t out_cap;
	pthread_t thread;
	int started;
} queue_loop;

struct worker {
	worker_options opt;
	time_t started;
	char host[256];
	char registry_key[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX];
	char alive_key[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX];
	atomic_int liveness_stop;
	/* Until when (ooblex_now_us) the liveness key is known to exist: set by
	 * the liveness thread after each refresh. A queue never takes a frame
	 * unless it has a good margin left, or reapers could take it back. */
	atomic_ullong alive_until_us;
	atomic_ulong processed;	/* all queues; read by the liveness thread */
	atomic_ulong garbage, failed, stale;
	ooblex_metrics *metrics;
	int serves_core;	/* listens to frames_to_process */
	queue_loop loops[OOBLEX_MAX_QUEUES];
	int n_loops;
};

static void report_connect(void *user, const char *err, int after_outage) {
	const queue_loop *q = user;
	if(q->index != 0)
		return;
	if(err != NULL)
		logmsg("[%s] waiting for Redis: %s (retrying with backoff)", q->w->opt.id, err);
	else
	{
		char where[400];
		logmsg("[%s] connected to Redis at %s%s", q->w->opt.id,
			ooblex_redis_config_describe(&q->w->opt.redis, where, sizeof(where)),
			after_outage ? " (back after an outage)" : "");
	}
}

static void add_loop(worker *w, const char *route) {
	queue_loop *q = &w->loops[w->n_loops];
	q->w = w;
	q->index = w->n_loops++;
	snprintf(q->route, sizeof(q->route), "%s", route);
	if(*route) {
		snprintf(q->queue, sizeof(q->queue), OOBLEX_KEY_FRAMES ":%s", route);
		snprintf(q->processing_key, sizeof(q->processing_key), OOBLEX_KEY_PROCESSING_PREFIX "%s#%s", w->opt.id, route);
	} else {
		snprintf(q->queue, sizeof(q->queue), OOBLEX_KEY_FRAMES);
		snprintf(q->processing_key, sizeof(q->processing_key), OOBLEX_KEY_PROCESSING_PREFIX "%s", w->opt.id);
	}
}

/* --effects -> the queues to serve. "core" is frames_to_process; each other
 * name must be an effect from the OpenCV set or a module. */
static int plan_queues(worker *w) {
	const char *const *all = ooblex_effects_list();
	if(w->opt.effects == NULL) {
		w->serves_core = 1;
		add_loop(w, "");
		for(const char *const *e = all; *e; e++)
			if(!ooblex_effect_is_core(*e))
				add_loop(w, *e);
		return 0;
	}
	gchar **names = g_strsplit(w->opt.effects, ",", -1);
	int rc = 0;
	for(gchar **n = names; *n && rc == 0; n++) {
		g_strstrip(*n);
		int known = 0, dup = 0;
		for(const char *const *e = all; *e; e++)
			known |= !strcmp(*e, *n);
		for(int i = 0; i < w->n_loops; i++)
			dup |= !strcmp(w->loops[i].route, !strcmp(*n, "core") ? "" : *n);
		if(**n == '\0' || dup) {
			continue;
		} else if(!strcmp(*n, "core")) {
			w->serves_core = 1;
			add_loop(w, "");
		} else if(known && ooblex_effect_is_core(*n)) {
			fprintf(stderr, "ooblex-worker: --effects: '%s' is a core effect, which every worker runs; "
				"'core' serves them all (queue " OOBLEX_KEY_FRAMES ")\n", *n);
			rc = -1;
		} else if(!known) {
			fprintf(stderr, "ooblex-worker: --effects: no effect '%s' here (see --list-effects)\n", *n);
			rc = -1;
		} else if(w->n_loops == OOBLEX_MAX_QUEUES) {
			fprintf(stderr, "ooblex-worker: --effects: at most %d queues\n", OOBLEX_MAX_QUEUES);
			rc = -1;
		} else {
			add_loop(w, *n);
		}
	}
	g_strfreev(names);
	if(rc == 0 && w->n_loops == 0) {
		fprintf(stderr, "ooblex-worker: --effects names nothing to serve\n");
		rc = -1;
	}
	return rc;
}

/* Registers (or refreshes) this worker in the fleet registry; the key
 * expires by itself if the worker dies. */
static void heartbeat(worker *w, redisContext *c) {
	json_t *effects = json_array(), *queues = json_array(), *routes = json_array();
	if(w->serves_core)
		for(const char *const *e = ooblex_effects_list(); *e; e++)
			if(ooblex_effect_is_core(*e))
				json_array_append_new(effects, json_string(*e));
	for(int i = 0; i < w->n_loops; i++) {
		json_array_append_new(queues, json_string(w->loops[i].queue));
		if(w->loops[i].route[0]) {
			json_array_append_new(effects, json_string(w->loops[i].route));
			json_array_append_new(routes, json_string(w->loops[i].route));
		}
	}
	json_t *info = json_pack("{s:s, s:s, s:i, s:o, s:o, s:o, s:i, s:I, s:I}",
		"id", w->opt.id, "host", w->host, "pid", (int)getpid(), "effects", effects, "routes", routes,
		"queues", queues, "batch_size", (int)w->opt.batch_size, "started", (json_int_t)w->started,
		"frames_done", (json_int_t)atomic_load(&w->processed));
	char *text = info ? json_dumps(info, JSON_COMPACT) : NULL;
	json_decref(info);
	if(text == NULL)
		return;
	redisReply *r = redisCommand(c, "SET %s %s EX %d", w->registry_key, text, OOBLEX_WORKER_TTL_S);
	if(r != NULL)
		freeReplyObject(r);
	free(text);
}

/* Moves what a dead worker left in its processing list back to the front of
 * its queue, or counts it as stale when its deadline (header offset 56,
 * little-endian µs) has passed. Atomic, so several reapers never move a frame
 * twice, and it does nothing while the owner's liveness key exists.
 * KEYS: processing list, liveness key, queue, stale counter. ARGV: now (µs). */
static const char *reap_script =
	"if redis.call('EXISTS', KEYS[2]) == 1 then return {0, 0} end\n"
	"local back, stale = 0, 0\n"
	"while true do\n"
	"  local m = redis.call('RPOP', KEYS[1])\n"
	"  if not m then break end\n"
	"  local deadline = 0\n"
	"  if #m >= 88 and string.sub(m, 1, 4) == 'OOBX' then\n"
	"    deadline = struct.unpack('<I4', m, 61) * 4294967296 + struct.unpack('<I4', m, 57)\n"
	"  end\n"
	"  if deadline ~= 0 and deadline < tonumber(ARGV[1]) then\n"
	"    stale = stale + 1\n"
	"  else\n"
	"    redis.call('RPUSH', KEYS[3], m)\n"
	"    back = back + 1\n"
	"  end\n"
	"end\n"
	"if stale > 0 then redis.call('INCRBY', KEYS[4], stale) end\n"
	"return {back, stale}\n";

static void reap(const worker *w, redisContext *c, const char *processing_key, const char *alive_key,
		const char *queue) {
	char now[32];
	snprintf(now, sizeof(now), "%llu", (unsigned long long)ooblex_now_us());
	redisReply *r = redisCommand(c, "EVAL %s 4 %s %s %s %s %s", reap_script, processing_key, alive_key,
		queue, OOBLEX_KEY_DROPPED_STALE, now);
	if(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
			(r->element[0]->integer > 0 || r->element[1]->integer > 0))
		logmsg("[%s] reaped %s: %lld frame(s) back to %s, %lld past their deadline", w->opt.id,
			processing_key, r->element[0]->integer, queue, r->element[1]->integer);
	else if(r != NULL && r->type == REDIS_REPLY_ERROR)
		logmsg("[%s] reaper failed: %s", w->opt.id, r->str);
	if(r != NULL)
		freeReplyObject(r);
}

/* Reaps every processing list whose owner's liveness key is gone. A list's
 * name says whose it is and which queue its frames came from:
 * ooblex:processing:{id} (frames_to_process) or
 * ooblex:processing:{id}#{effect} (frames_to_process:{effect}). */
static void reap_dead(worker *w, redisContext *c) {
	char cursor[32] = "0";
	int rounds = 0;
	size_t own_len = strlen(w->opt.id);
	do {
		redisReply *r = redisCommand(c, "SCAN %s MATCH %s* COUNT 200", cursor, OOBLEX_KEY_PROCESSING_PREFIX);
		if(r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			if(r)
				freeReplyObject(r);
			return;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str ? r->element[0]->str : "0");
		for(size_t i = 0; i < r->element[1]->elements; i++) {
			const char *key = r->element[1]->element[i]->str;
			const char *owner = key + strlen(OOBLEX_KEY_PROCESSING_PREFIX);
			const char *hash = strrchr(owner, '#');
			size_t owner_len = hash ? (size_t)(hash - owner) : strlen(owner);
			if(owner_len == own_len && !strncmp(owner, w->opt.id, own_len))
				continue;
			char alive[OOBLEX_KEY_MAX + OOBLEX_NAME_MAX], queue[OOBLEX_KEY_MAX + 64];
			snprintf(alive, sizeof(alive), OOBLEX_KEY_ALIVE_PREFIX "%.*s", (int)owner_len, owner);
			if(hash)
				snprintf(queue, sizeof(queue), OOBLEX_KEY_FRAMES ":%s", hash + 1);
			else
				snprintf(queue, sizeof(queue), OOBLEX_KEY_FRAMES);
			reap(w, c, key, alive, queue);
		}
		freeReplyObject(r);
	} while(strcmp(cursor, "0") != 0 && ++rounds < 1000);
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
		if(c == NULL) {
			char err[256];
			c = ooblex_redis_connect(&w->opt.redis, 1000, err, sizeof(err));
		}
		if(c != NULL) {
			uint64_t before = ooblex_now_us();
			redisReply *r = redisCommand(c, "SET %s 1 PX %d", w->alive_key, OOBLEX_ALIVE_TTL_MS);
			if(r != NULL && r->type == REDIS_REPLY_STATUS)
				atomic_store(&w->alive_until_us, before + OOBLEX_ALIVE_TTL_MS * 1000ULL);
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
			logmsg("[%s] cannot write %s: %s (metrics are not exported)", w->opt.id,
				ooblex_metrics_path(w->metrics), strerror(errno));
		}
		tick++;
		struct timespec ts = { 0, OOBLEX_ALIVE_REFRESH_MS * 1000000L };
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

static int ensure(uint8_t **buf, size_t *cap, size_t need) {
	if(need <= *cap)
		return 0;
	uint8_t *n = realloc(*buf, need);
	if(n == NULL)
		return -1;
	*buf = n;
	*cap = need;
	return 0;
}

/* The largest picture a worker processes: 4K UHD. The plugin downscales to
 * its max_width x max_height (1280x720 by default) before queueing, so only
 * a hostile writer to Redis sends more. */
#define OOBLEX_WORKER_MAX_PIXELS (3840u * 2160u)

static void count_error(worker *w, ooblex_error_reason reason) {
	atomic_fetch_add(reason == OOBLEX_ERR_MALFORMED ? &w->garbage : reason == OOBLEX_ERR_STALE ? &w->stale :
		&w->failed, 1);
	ooblex_metrics_error(w->metrics, reason);
}

/* The message telling the client a frame could not be processed: the
 * frame's header as a result would carry it, kind ERROR, the code and
 * reason as payload (ooblex_wire.h). It completes like a result, so the
 * plugin's reorder buffer resolves the frame's seq instead of waiting. */
static int error_result(queue_loop *q, ooblex_frame_header *h, uint64_t start, ooblex_frame_error code,
		const char *reason, const uint8_t **result, size_t *result_len) {
	uint8_t body[2 + OOBLEX_ERROR_TEXT_MAX];
	h->kind = OOBLEX_KIND_ERROR;
	h->pixfmt = OOBLEX_PIXFMT_NONE;
	h->meta[0] = '\0';
	h->payload_len = (uint32_t)ooblex_wire_error_payload((uint16_t)code, reason, body);
	h->worker_start_us = start;
	h->worker_end_us = ooblex_now_us();
	snprintf(h->worker, sizeof(h->worker), "%s", q->w->opt.id);
	/* Signed like a result: with a fleet secret set, the plugin takes
	 * nothing else (a forged error would otherwise skip genuine frames). */
	h->has_mac = q->w->opt.secret_len > 0;
	memset(h->mac, 0, sizeof(h->mac));
	size_t hlen = ooblex_wire_header_len(h);
	if(ensure(&q->out, &q->out_cap, hlen + h->payload_len) < 0)
		return -1;
	ooblex_wire_write_header(h, q->out);
	memcpy(q->out + hlen, body, h->payload_len);
	if(h->has_mac)
		ooblex_auth_sign(q->w->opt.secret, (size_t)q->w->opt.secret_len, q->out, hlen + h->payload_len);
	*result = q->out;
	*result_len = hlen + h->payload_len;
	return 0;
}

static ooblex_frame_error frame_error_of(int fx_kind) {
	switch(fx_kind) {
		case OOBLEX_FX_ERR_UNKNOWN: return OOBLEX_FRAME_ERR_UNKNOWN_EFFECT;
		case OOBLEX_FX_ERR_REFUSED: return OOBLEX_FRAME_ERR_REFUSED;
		default: return OOBLEX_FRAME_ERR_FAILED;
	}
}

/* Processes one message; fills result, result_len and the key to push to
 * with the processed frame, or with an error result when the frame was
 * addressable but could not be processed (unknown effect, refused graph,
 * failed effect, undecodable pixels, over the time budget). Returns 0 for
 * "push it", 1 for "skip quietly" (stale), -1 for nothing to push
 * (malformed: no client to tell; out of memory). */
static int process(queue_loop *q, const uint8_t *msg, size_t len, char key[OOBLEX_KEY_MAX],
		const uint8_t **result, size_t *result_len) {
	worker *w = q->w;
	ooblex_frame_header h;
	const uint8_t *payload = NULL;
	const char *refused = ooblex_wire_accept_frame(msg, len, &h, &payload);
	if(refused != NULL) {
		count_error(w, OOBLEX_ERR_MALFORMED);
		logmsg("[%s] skipping a malformed message (%zu bytes): %s", w->opt.id, len, refused);
		return -1;
	}
	uint64_t start = ooblex_now_us();
	if(h.deadline_us != 0 && start > h.deadline_us) {
		count_error(w, OOBLEX_ERR_STALE);
		return 1;
	}
	char client_hex[OOBLEX_CLIENT_ID_HEX_LEN + 1];
	ooblex_client_id_to_hex(h.client_id, client_hex);
	ooblex_key_processed(key, client_hex);
	char err[256];
	/* Sizes before use: a JPEG of a few hundred bytes can claim 8192x8192
	 * (its own header agreeing), and the buffers below are sized from it. */
	if((uint64_t)h.width * h.height > OOBLEX_WORKER_MAX_PIXELS) {
		count_error(w, OOBLEX_ERR_MALFORMED);
		snprintf(err, sizeof(err), "a %ux%u frame is over this worker's limit of %u pixels (3840x2160)", h.width,
			h.height, (unsigned)OOBLEX_WORKER_MAX_PIXELS);
		logmsg("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
		return error_result(q, &h, start, OOBLEX_FRAME_ERR_BAD_FRAME, err, result, result_len);
	}
	/* Every transport format ends up as I420 or RGB24 for the effect graph. */
	const uint8_t *in = payload;
	int in_fmt = h.pixfmt;
	if(h.pixfmt == OOBLEX_PIXFMT_JPEG) {
		if(ensure(&q->decoded, &q->decoded_cap, (size_t)h.width * h.height * 3) < 0)
			return -1;
		if(ooblex_jpeg_decode(q->jpeg, payload, h.payload_len, h.width, h.height, q->decoded, &in_fmt,
				err, sizeof(err)) < 0) {
			count_error(w, OOBLEX_ERR_MALFORMED);
			logmsg("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
			return error_result(q, &h, start, OOBLEX_FRAME_ERR_BAD_FRAME, err, result, result_len);
		}
		in = q->decoded;
	}
	if(ensure(&q->pixels, &q->pixels_cap, ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, h.width, h.height)) < 0)
		return -1;
	if(ooblex_effects_apply(q->fx, h.effect, in_fmt, in, h.width, h.height, q->pixels, err, sizeof(err)) < 0) {
		count_error(w, OOBLEX_ERR_FAILED);
		logmsg("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
		return error_result(q, &h, start, frame_error_of(ooblex_effects_error_kind(q->fx)), err, result, result_len);
	}
	/* The budget counts the real work (decode, effect, encode), not the
	 * test-only --delay-ms. */
	uint64_t worked_us = ooblex_now_us() - start;
	if(w->opt.delay_ms > 0) {
		struct timespec ts = { w->opt.delay_ms / 1000, (w->opt.delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	const uint8_t *body = q->pixels;
	size_t body_len = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, h.width, h.height);
	uint8_t fmt = OOBLEX_PIXFMT_I420;
	if(h.reply_pixfmt != OOBLEX_PIXFMT_I420) {
		uint64_t t0 = ooblex_now_us();
		if(ooblex_jpeg_encode_i420(q->jpeg, q->pixels, h.width, h.height, h.jpeg_quality,
				&body, &body_len, err, sizeof(err)) < 0) {
			count_error(w, OOBLEX_ERR_FAILED);
			logmsg("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
			return error_result(q, &h, start, OOBLEX_FRAME_ERR_FAILED, err, result, result_len);
		}
		worked_us += ooblex_now_us() - t0;
		fmt = OOBLEX_PIXFMT_JPEG;
	}
	if(w->opt.frame_budget_ms > 0 && worked_us > (uint64_t)w->opt.frame_budget_ms * 1000u) {
		count_error(w, OOBLEX_ERR_OVER_BUDGET);
		snprintf(err, sizeof(err), "over budget: took %.1f ms (budget %ld ms) for %ux%u",
			worked_us / 1000.0, w->opt.frame_budget_ms, h.width, h.height);
		logmsg("[%s] frame %llu (client %.8s, %s): %s; not delivered", w->opt.id, (unsigned long long)h.frame_id,
			client_hex, h.effect[0] ? h.effect : "none", err);
		return error_result(q, &h, start, OOBLEX_FRAME_ERR_OVER_BUDGET, err, result, result_len);
	}
	h.kind = OOBLEX_KIND_RESULT;
	const char *meta = ooblex_effects_metadata(q->fx);
	if(strlen(meta) <= OOBLEX_META_MAX)
		snprintf(h.meta, sizeof(h.meta), "%s", meta);
	h.pixfmt = fmt;
	h.payload_len = (uint32_t)body_len;
	h.worker_start_us = start;
	snprintf(h.worker, sizeof(h.worker), "%s", w->opt.id);
	h.worker_end_us = ooblex_now_us();
	h.has_mac = w->opt.secret_len > 0;
	memset(h.mac, 0, sizeof(h.mac));
	size_t hlen = ooblex_wire_header_len(&h);
	if(ensure(&q->out, &q->out_cap, hlen + body_len) < 0)
		return -1;
	ooblex_wire_write_header(&h, q->out);
	memcpy(q->out + hlen, body, body_len);
	if(h.has_mac)
		ooblex_auth_sign(w->opt.secret, (size_t)w->opt.secret_len, q->out, hlen + body_len);
	*result = q->out;
	*result_len = hlen + body_len;
	atomic_fetch_add(&w->processed, 1);
	ooblex_metrics_frame(w->metrics, h.effect, (h.worker_end_us - start) / 1e6);
	logmsg("Processing frame %llu... (client %.8s, %s, %ux%u, %.1f ms) [%s]",
		(unsigned long long)h.frame_id, client_hex, h.effect[0] ? h.effect : "none",
		h.width, h.height, (h.worker_end_us - start) / 1000.0, w->opt.id);
	return 0;
}

static int keep_going(worker *w) {
	return !stop_requested && (w->opt.max_frames == 0 || (long)atomic_load(&w->processed) < w->opt.max_frames);
}

/* Completion, atomic: the results go out and the processing list is cleared
 * only if the list still holds exactly this batch. If a reaper took the
 * frames back (the liveness key lapsed: a stalled process, a Redis outage),
 * they are someone else's now and these results are dropped, so a frame's
 * result is never delivered twice.
 * KEYS: processing list, stale counter, result key per result.
 * ARGV: batch size, result TTL, stale count, result per result.
 * Returns 1, or 0 when the batch had been reaped. */
static const char *complete_script =
	"if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end\n"
	"for i = 3, #KEYS do\n"
	"  redis.call('LPUSH', KEYS[i], ARGV[i + 1])\n"
	"  redis.call('EXPIRE', KEYS[i], ARGV[2])\n"
	"end\n"
	"if tonumber(ARGV[3]) > 0 then redis.call('INCRBY', KEYS[2], ARGV[3]) end\n"
	"redis.call('DEL', KEYS[1])\n"
	"return 1\n";

/* Processes a batch taken into the processing list and completes it. */
static void complete_batch(queue_loop *q, redisReply **batch, int nb) {
	worker *w = q->w;
	/* EVAL script numkeys processing stale results... nb ttl stale payloads...
	 * Argument vectors point into the batch's results, copied because the
	 * result buffer is reused frame to frame. */
	int max_args = 4 + 2 + 3 + 2 * nb;
	const char **argv = calloc((size_t)max_args, sizeof(*argv));
	size_t *argvlen = calloc((size_t)max_args, sizeof(*argvlen));
	char (*keys)[OOBLEX_KEY_MAX] = calloc((size_t)nb, sizeof(*keys));
	uint8_t **payloads = calloc((size_t)nb, sizeof(*payloads));
	size_t *payload_lens = calloc((size_t)nb, sizeof(*payload_lens));
	int n_results = 0, stale = 0;
	for(int i = 0; argv && argvlen && keys && payloads && payload_lens && i < nb; i++) {
		const uint8_t *res = NULL;
		size_t res_len = 0;
		int rc = process(q, (const uint8_t *)batch[i]->str, batch[i]->len, keys[n_results], &res, &res_len);
		if(rc == 0 && (payloads[n_results] = malloc(res_len)) != NULL) {
			memcpy(payloads[n_results], res, res_len);
			payload_lens[n_results++] = res_len;
		} else if(rc == 1) {
			stale++;
		}
	}
	if(argv == NULL || argvlen == NULL || keys == NULL || payloads == NULL || payload_lens == NULL) {
		logmsg("[%s] out of memory completing a batch; the frames stay for the reaper", w->opt.id);
	} else {
		char numkeys[16], count[16], ttl[16], stale_s[16];
		snprintf(numkeys, sizeof(numkeys), "%d", 2 + n_results);
		snprintf(count, sizeof(count), "%d", nb);
		snprintf(ttl, sizeof(ttl), "%d", OOBLEX_PROCESSED_TTL_S);
		snprintf(stale_s, sizeof(stale_s), "%d", stale);
		int argc = 0;
		argv[argc++] = "EVAL";
		argv[argc++] = complete_script;
		argv[argc++] = numkeys;
		argv[argc++] = q->processing_key;
		argv[argc++] = OOBLEX_KEY_DROPPED_STALE;
		for(int i = 0; i < n_results; i++)
			argv[argc++] = keys[i];
		argv[argc++] = count;
		argv[argc++] = ttl;
		argv[argc++] = stale_s;
		for(int i = 0; i < n_results; i++) {
			argvlen[argc] = payload_lens[i];
			argv[argc++] = (const char *)payloads[i];
		}
		for(int i = 0; i < argc; i++)
			if(argvlen[i] == 0)
				argvlen[i] = strlen(argv[i]);
		redisReply *r = redisCommandArgv(q->c, argc, argv, argvlen);
		if(r == NULL) {
			if(q->index == 0)
				logmsg("[%s] lost the Redis connection while completing frames (%s)", w->opt.id, q->c->errstr);
		} else if(r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
			logmsg("[%s] %d frame(s) were taken back by a reaper while being processed; their results are dropped",
				w->opt.id, nb);
		} else if(r->type == REDIS_REPLY_ERROR) {
			logmsg("[%s] completing frames failed: %s", w->opt.id, r->str);
		}
		if(r != NULL)
			freeReplyObject(r);
	}
	for(int i = 0; payloads && i < n_results; i++)
		free(payloads[i]);
	free(payloads);
	free(payload_lens);
	free(keys);
	free(argvlen);
	free(argv);
}

/* Waits until the liveness key has a safe margin left (at start, and after
 * an outage, until the liveness thread has set it). 0 when asked to stop. */
static int wait_alive(worker *w) {
	const uint64_t margin = OOBLEX_ALIVE_TTL_MS * 1000ULL / 2;
	while(keep_going(w)) {
		if(atomic_load(&w->alive_until_us) > ooblex_now_us() + margin)
			return 1;
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* One queue's loop: take a batch (BLMOVE, then up to batch_size-1 more
 * without waiting), process it, complete it; reconnect when Redis goes. */
static void *queue_thread(void *arg) {
	queue_loop *q = arg;
	worker *w = q->w;
	int outage_logged = 0;
	while(keep_going(w)) {
		if(q->c == NULL) {
			q->c = ooblex_redis_connect_retry(&w->opt.redis, 0, &outage_logged, stop_was_requested, report_connect, q);
			if(q->c == NULL)
				break;
			/* Frames this id held before a restart go back to the queue. */
			reap(w, q->c, q->processing_key, "ooblex:no-such-key", q->queue);
		}
		if(!wait_alive(w))
			break;
		/* Atomically into our processing list: if we die now, a reaper finds
		 * the frame there. A half-second timeout keeps SIGTERM responsive
		 * (every queue thread notices within it). */
		redisReply *r = redisCommand(q->c, "BLMOVE %s %s RIGHT LEFT 0.5", q->queue, q->processing_key);
		if(r == NULL) {
			if(q->index == 0)
				logmsg("[%s] lost the Redis connection (%s); reconnecting", w->opt.id, q->c->errstr);
			outage_logged = 1;
			redisFree(q->c);
			q->c = NULL;
			continue;
		}
		if(r->type == REDIS_REPLY_STRING) {
			redisReply *batch[OOBLEX_MAX_BATCH] = { r };
			int nb = 1;
			for(long i = 1; i < w->opt.batch_size; i++)
				redisAppendCommand(q->c, "LMOVE %s %s RIGHT LEFT", q->queue, q->processing_key);
			for(long i = 1; i < w->opt.batch_size; i++) {
				redisReply *more = NULL;
				if(redisGetReply(q->c, (void **)&more) != REDIS_OK)
					break;
				if(more->type == REDIS_REPLY_STRING)
					batch[nb++] = more;
				else
					freeReplyObject(more);
			}
			if(q->c->err == 0)
				complete_batch(q, batch, nb);
			for(int i = 1; i < nb; i++)
				freeReplyObject(batch[i]);
			if(q->c->err) {
				redisFree(q->c);
				q->c = NULL;
				outage_logged = 1;
			}
		} else if(r->type == REDIS_REPLY_ERROR) {
			logmsg("[%s] Redis error on %s: %s", w->opt.id, q->queue, r->str);
			sleep(1);
		}
		freeReplyObject(r);
	}
	if(q->c != NULL) {
		redisFree(q->c);
		q->c = NULL;
	}
	return NULL;
}

static void free_loop(queue_loop *q) {
	ooblex_effects_free(q->fx);
	ooblex_jpeg_free(q->jpeg);
	free(q->pixels);
	free(q->decoded);
	free(q->out);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	static worker w;
	if(parse_options(argc, argv, &w.opt) < 0 || load_effects(&w.opt) < 0)
		return 2;
	if(w.opt.list_effects) {
		for(const char *const *e = ooblex_effects_list(); *e; e++) {
			const char *help = ooblex_effect_help(*e);
			printf("%s%s%s\n", *e, help ? "\t" : "", help ? help : "");
		}
		return 0;
	}
	if(plan_queues(&w) < 0)
		return 2;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	gethostname(w.host, sizeof(w.host) - 1);
	w.started = time(NULL);
	w.metrics = ooblex_metrics_new(w.opt.metrics_dir, w.opt.id, w.host, (int)w.opt.batch_size, (int64_t)w.started);
	for(int i = 0; i < w.n_loops; i++) {
		w.loops[i].fx = ooblex_effects_new();
		w.loops[i].jpeg = ooblex_jpeg_new();
		if(w.loops[i].fx == NULL || w.loops[i].jpeg == NULL || w.metrics == NULL) {
			fprintf(stderr, "ooblex-worker: cannot initialise effects or JPEG encoder\n");
			return 1;
		}
	}
	GString *queues = g_string_new(NULL), *effects = g_string_new(NULL);
	for(int i = 0; i < w.n_loops; i++)
		g_string_append_printf(queues, "%s%s", i ? ", " : "", w.loops[i].queue);
	for(const char *const *e = ooblex_effects_list(); *e; e++)
		g_string_append_printf(effects, "%s%s", effects->len ? " " : "", *e);
	char where[400];
	logmsg("[%s] ooblex-worker starting: Redis %s, queue %s, batch size %ld, effects: %s%s%s", w.opt.id,
		ooblex_redis_config_describe(&w.opt.redis, where, sizeof(where)), queues->str, w.opt.batch_size, effects->str,
		ooblex_metrics_path(w.metrics) ? ", metrics: " : "",
		ooblex_metrics_path(w.metrics) ? ooblex_metrics_path(w.metrics) : "");
	g_string_free(queues, TRUE);
	g_string_free(effects, TRUE);
	snprintf(w.registry_key, sizeof(w.registry_key), OOBLEX_KEY_WORKER_PREFIX "%s", w.opt.id);
	snprintf(w.alive_key, sizeof(w.alive_key), OOBLEX_KEY_ALIVE_PREFIX "%s", w.opt.id);

	/* Queue 0 runs here; the others (routed effects) on threads of their own. */
	for(int i = 1; i < w.n_loops; i++)
		w.loops[i].started = pthread_create(&w.loops[i].thread, NULL, queue_thread, &w.loops[i]) == 0;
	pthread_t liveness;
	int liveness_running = pthread_create(&liveness, NULL, liveness_thread, &w) == 0;
	queue_thread(&w.loops[0]);
	/* --max-frames ends one loop; the others follow. */
	stop_requested = 1;
	for(int i = 1; i < w.n_loops; i++)
		if(w.loops[i].started)
			pthread_join(w.loops[i].thread, NULL);
	logmsg("[%s] stopping: %lu processed, %lu stale, %lu malformed, %lu failed", w.opt.id,
		atomic_load(&w.processed), atomic_load(&w.stale), atomic_load(&w.garbage), atomic_load(&w.failed));
	if(liveness_running) {
		atomic_store(&w.liveness_stop, 1);
		pthread_join(liveness, NULL);
	}
	ooblex_metrics_remove(w.metrics);
	ooblex_metrics_free(w.metrics);
	for(int i = 0; i < w.n_loops; i++)
		free_loop(&w.loops[i]);
	g_ptr_array_free(w.opt.modules, TRUE);
	return 0;
}
