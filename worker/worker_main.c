/*
 * worker_main.c - a worker of the Ooblex fleet: options, start, stop.
 *
 * Takes frames from the Redis list `frames_to_process` (BLMOVE into its own
 * processing list: each frame goes to exactly one worker, FIFO), applies the
 * frame's effect, and pushes the result (a JPEG, or I420 if asked) to
 * `processed_frames:{client_id}`, clearing its processing list in the same
 * script. Frames whose effect only some workers offer (the OpenCV ones,
 * modules) come through `frames_to_process:{effect}` instead: the worker
 * serves each queue it listens to (--effects) with a thread of its own, so a
 * busy queue never delays another. Any number of workers may run, on any
 * machine that reaches Redis.
 *
 * The worker by job: this file reads the options and the environment, loads
 * the effects, plans the queues and runs the threads; worker_loop.c is one
 * queue's loop (take, process, deliver); worker_liveness.c keeps the
 * liveness and registry keys fresh, reaps the processing lists of workers
 * that died (ooblex_keys.h) and writes the Prometheus metrics file.
 *
 * Run with --help for the options. Flags win over the environment.
 * SIGTERM/SIGINT: finish the frames in hand, take nothing new, exit 0.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#ifdef OOBLEX_HAVE_OPENCV
#include "ml_opencv.h"
#endif
#include "worker.h"
#include "worker_liveness.h"
#include "worker_loop.h"

#ifndef OOBLEX_MODULE_DIR
#define OOBLEX_MODULE_DIR "/usr/local/lib/ooblex/effects"
#endif

volatile sig_atomic_t worker_stop_requested = 0;

static void on_signal(int sig) {
	(void)sig;
	worker_stop_requested = 1;
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
		"  --prefetch N|auto frames to keep taken ahead of the one being processed, so that a worker\n"
		"                    far from Redis never waits a round trip per frame; auto sizes it from\n"
		"                    the measured round trip and time per frame (1..%d); 0 takes, processes\n"
		"                    and completes one frame after the other (env OOBLEX_PREFETCH, default auto)\n"
		"  --delay-ms N      add N ms per frame (testing a slow worker; not counted in the budget)\n"
		"  --fleet-secret-file PATH  sign results with the secret in PATH (at least 16 bytes; env\n"
		"                    OOBLEX_FLEET_SECRET_FILE, or the secret itself in OOBLEX_FLEET_SECRET); the\n"
		"                    plugin's fleet_secret must be the same\n"
		"  --frame-budget-ms N  a frame whose processing (decode, effect, encode) uses more\n"
		"                    than N ms of CPU is not delivered: the client gets an error result\n"
		"                    instead (CPU, not wall time: a loaded machine does not trip it)\n"
		"                    (env OOBLEX_FRAME_BUDGET_MS, default 250, 0 = no budget)\n"
		"  --list-effects    print the effects this worker offers and exit\n", OOBLEX_MAX_PREFETCH);
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

/* --prefetch / OOBLEX_PREFETCH: "auto" (-1) or 0..OOBLEX_MAX_PREFETCH. */
static int parse_prefetch(const char *s, long *out) {
	if(!strcmp(s, "auto")) {
		*out = -1;
		return 0;
	}
	return parse_int(s, 0, OOBLEX_MAX_PREFETCH, out);
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
	o->prefetch = -1;
	if((env = getenv("OOBLEX_PREFETCH")) != NULL && *env && parse_prefetch(env, &o->prefetch) < 0) {
		fprintf(stderr, "ooblex-worker: OOBLEX_PREFETCH must be auto or 0..%d (got %s)\n", OOBLEX_MAX_PREFETCH, env);
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
		{ "prefetch", required_argument, NULL, 'F' },
		{ "frame-budget-ms", required_argument, NULL, 'B' },
		{ "list-effects", no_argument, NULL, 'l' },
		{ "fleet-secret-file", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while((c = getopt_long(argc, argv, "u:H:p:a:U:n:i:e:M:D:O:P:m:d:b:F:B:S:lh", longopts, NULL)) != -1) {
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
			case 'F':
				if(parse_prefetch(optarg, &o->prefetch) < 0) {
					fprintf(stderr, "ooblex-worker: --prefetch must be auto or 0..%d\n", OOBLEX_MAX_PREFETCH);
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
		if(worker_loop_prepare(&w.loops[i]) < 0 || w.metrics == NULL) {
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
	char prefetch[32] = "auto";
	if(w.opt.prefetch >= 0)
		snprintf(prefetch, sizeof(prefetch), "%ld", w.opt.prefetch);
	worker_log("[%s] ooblex-worker starting: Redis %s, queue %s, batch size %ld, prefetch %s, effects: %s%s%s",
		w.opt.id, ooblex_redis_config_describe(&w.opt.redis, where, sizeof(where)), queues->str, w.opt.batch_size,
		prefetch, effects->str,
		ooblex_metrics_path(w.metrics) ? ", metrics: " : "",
		ooblex_metrics_path(w.metrics) ? ooblex_metrics_path(w.metrics) : "");
	g_string_free(queues, TRUE);
	g_string_free(effects, TRUE);

	/* Queue 0 runs here; the others (routed effects) on threads of their own. */
	for(int i = 1; i < w.n_loops; i++)
		w.loops[i].started = pthread_create(&w.loops[i].thread, NULL, worker_loop_run, &w.loops[i]) == 0;
	worker_liveness_start(&w);
	worker_loop_run(&w.loops[0]);
	/* --max-frames ends one loop; the others follow. */
	worker_stop_requested = 1;
	for(int i = 1; i < w.n_loops; i++)
		if(w.loops[i].started)
			pthread_join(w.loops[i].thread, NULL);
	worker_log("[%s] stopping: %lu processed, %lu stale, %lu malformed, %lu failed, %lu taken ahead and handed back",
		w.opt.id, atomic_load(&w.processed), atomic_load(&w.stale), atomic_load(&w.garbage), atomic_load(&w.failed),
		atomic_load(&w.handed_back));
	worker_liveness_stop(&w);
	ooblex_metrics_remove(w.metrics);
	ooblex_metrics_free(w.metrics);
	for(int i = 0; i < w.n_loops; i++)
		worker_loop_free(&w.loops[i]);
	g_ptr_array_free(w.opt.modules, TRUE);
	return 0;
}

