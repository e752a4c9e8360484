/*
 * plugin_metrics.c - see plugin_metrics.h.
 */
#include "plugin_metrics.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ooblex_prom.h"

/* Seconds. A frame's whole trip is a few ms here and hundreds with a slow
 * model or a remote fleet; each stage is a part of it. */
static const double latency_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.04, 0.06,
	0.1, 0.15, 0.25, 0.5, 1, 2.5 };

struct ooblex_plugin_metrics {
	GMutex lock;	/* guards totals */
	uint64_t totals[OOBLEX_C_COUNT];
	ooblex_prom_hist stages[OOBLEX_STAGE_COUNT];
	char instance[256];	/* escaped */
	char path[1024], tmp_path[1100];	/* path "" when not writing */
	const ooblex_plugin_gauges *gauges;	/* during a write */
};

ooblex_plugin_metrics *ooblex_plugin_metrics_new(const char *dir, const char *instance) {
	ooblex_plugin_metrics *m = g_malloc0(sizeof(*m));
	g_mutex_init(&m->lock);
	ooblex_prom_escape(instance, m->instance, sizeof(m->instance));
	for(int s = 0; s < OOBLEX_STAGE_COUNT; s++)
		ooblex_prom_hist_init(&m->stages[s], latency_bounds, G_N_ELEMENTS(latency_bounds));
	if(dir != NULL && *dir &&
			ooblex_prom_paths(dir, "ooblex_plugin", instance, m->path, sizeof(m->path), m->tmp_path, sizeof(m->tmp_path)) < 0)
		m->path[0] = '\0';
	return m;
}

void ooblex_plugin_metrics_free(ooblex_plugin_metrics *m) {
	if(m == NULL)
		return;
	g_mutex_clear(&m->lock);
	g_free(m);
}

const char *ooblex_plugin_metrics_path(const ooblex_plugin_metrics *m) {
	return m->path[0] ? m->path : NULL;
}

void ooblex_plugin_metrics_accumulate(ooblex_plugin_metrics *m, ooblex_counter_tracker *t,
		const uint64_t now[OOBLEX_C_COUNT]) {
	g_mutex_lock(&m->lock);
	for(int c = 0; c < OOBLEX_C_COUNT; c++) {
		m->totals[c] += now[c] >= t->seen[c] ? now[c] - t->seen[c] : now[c];
		t->seen[c] = now[c];
	}
	g_mutex_unlock(&m->lock);
}

void ooblex_counter_tracker_restart(ooblex_counter_tracker *t) {
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		if(ooblex_counters[c].restarts)
			t->seen[c] = 0;
}

void ooblex_plugin_metrics_totals(ooblex_plugin_metrics *m, uint64_t out[OOBLEX_C_COUNT]) {
	g_mutex_lock(&m->lock);
	memcpy(out, m->totals, sizeof(m->totals));
	g_mutex_unlock(&m->lock);
}

static void observe(ooblex_prom_hist *h, uint64_t from, uint64_t to) {
	if(from != 0 && to >= from)
		ooblex_prom_hist_observe(h, (to - from) / 1e6);
}

void ooblex_plugin_metrics_observe(ooblex_plugin_metrics *m, uint64_t capture, uint64_t queued,
		uint64_t worker_start, uint64_t worker_end, uint64_t returned, uint64_t sent) {
	observe(&m->stages[OOBLEX_STAGE_DECODE], capture, queued);
	observe(&m->stages[OOBLEX_STAGE_QUEUE], queued, worker_start);
	observe(&m->stages[OOBLEX_STAGE_WORKER], worker_start, worker_end);
	observe(&m->stages[OOBLEX_STAGE_RETURN], worker_end, returned);
	observe(&m->stages[OOBLEX_STAGE_REORDER], returned, sent);
	observe(&m->stages[OOBLEX_STAGE_TOTAL], capture, sent);
}

static void print_all(FILE *f, void *user) {
	const ooblex_plugin_metrics *m = user;
	const ooblex_plugin_gauges *g = m->gauges;
	const char *in = m->instance;
	fprintf(f, "# HELP ooblex_up 1 while the Janus plugin runs; its file is removed when it stops.\n"
		"# TYPE ooblex_up gauge\nooblex_up{instance_name=\"%s\"} 1\n", in);
	fprintf(f, "# HELP ooblex_sessions Janus handles attached to the plugin, and those processing video.\n"
		"# TYPE ooblex_sessions gauge\n");
	fprintf(f, "ooblex_sessions{instance_name=\"%s\",state=\"attached\"} %u\n", in, g->sessions);
	fprintf(f, "ooblex_sessions{instance_name=\"%s\",state=\"processing\"} %u\n", in, g->processing);
	fprintf(f, "# HELP ooblex_sessions_started_total Processing sessions started.\n"
		"# TYPE ooblex_sessions_started_total counter\n"
		"ooblex_sessions_started_total{instance_name=\"%s\"} %llu\n", in, (unsigned long long)g->sessions_started);
	for(int fam = OOBLEX_FAMILY_NONE + 1; fam < OOBLEX_FAMILY_COUNT; fam++) {
		ooblex_counters_prom_family(f, (ooblex_counter_family)fam, in, m->totals);
		if(fam == OOBLEX_FAMILY_DROPPED)	/* the producer's, not a session's (redis.dropped_error) */
			fprintf(f, "ooblex_frames_dropped_total{instance_name=\"%s\",reason=\"redis_error\"} %llu\n", in,
				(unsigned long long)g->redis_dropped_error);
	}
	fprintf(f, "# HELP ooblex_fleet_dropped_stale_total Frames workers and reapers found past their deadline "
		"(ooblex:dropped:stale, fleet-wide).\n# TYPE ooblex_fleet_dropped_stale_total counter\n"
		"ooblex_fleet_dropped_stale_total{instance_name=\"%s\"} %lld\n", in,
		g->fleet_dropped_stale > 0 ? g->fleet_dropped_stale : 0);
	fprintf(f, "# HELP ooblex_queue_length Frames waiting in Redis for a worker, by queue.\n"
		"# TYPE ooblex_queue_length gauge\n");
	if(g->queue_length >= 0)
		fprintf(f, "ooblex_queue_length{instance_name=\"%s\",queue=\"frames_to_process\"} %lld\n", in, g->queue_length);
	for(size_t i = 0; i < g->n_routed; i++)
		if(g->routed[i].length >= 0)
			fprintf(f, "ooblex_queue_length{instance_name=\"%s\",queue=\"frames_to_process:%s\"} %lld\n", in,
				g->routed[i].name, g->routed[i].length);
	fprintf(f, "# HELP ooblex_redis_pending Frames in the plugin's memory waiting to be sent to Redis.\n"
		"# TYPE ooblex_redis_pending gauge\nooblex_redis_pending{instance_name=\"%s\"} %llu\n", in,
		(unsigned long long)g->redis_pending);
	fprintf(f, "# HELP ooblex_live_workers Workers whose registry entry is fresh.\n"
		"# TYPE ooblex_live_workers gauge\nooblex_live_workers{instance_name=\"%s\"} %u\n", in, g->live_workers);
	fprintf(f, "# HELP ooblex_redis_connected 1 while the connection is up.\n# TYPE ooblex_redis_connected gauge\n");
	fprintf(f, "ooblex_redis_connected{instance_name=\"%s\",connection=\"producer\"} %d\n", in, g->producer_connected);
	fprintf(f, "ooblex_redis_connected{instance_name=\"%s\",connection=\"reader\"} %d\n", in, g->reader_connected);
	fprintf(f, "# HELP ooblex_latency_shedding_sessions Sessions whose latency budget sheds load now "
		"(effective frame skip above what they asked, or the browser asked to send less).\n"
		"# TYPE ooblex_latency_shedding_sessions gauge\nooblex_latency_shedding_sessions{instance_name=\"%s\"} %u\n",
		in, g->latency_shedding);
	fprintf(f, "# HELP ooblex_latency_level The machine's latency-budget shedding level (0: none).\n"
		"# TYPE ooblex_latency_level gauge\nooblex_latency_level{instance_name=\"%s\"} %u\n", in, g->latency_level);
	fprintf(f, "# HELP ooblex_latency_steps_total Latency-budget steps taken, by step and direction "
		"(docs/api.md, \"Latency budget\").\n# TYPE ooblex_latency_steps_total counter\n");
	for(int st = OOBLEX_LATENCY_STEP_FRAME_SKIP; st < OOBLEX_LATENCY_STEP_COUNT; st++)
		for(int d = 0; d < 2; d++)
			fprintf(f, "ooblex_latency_steps_total{instance_name=\"%s\",step=\"%s\",direction=\"%s\"} %llu\n", in,
				ooblex_latency_step_name((ooblex_latency_step)st), d ? "restore" : "shed",
				(unsigned long long)g->latency_steps[st][d]);
	fprintf(f, "# HELP ooblex_stage_latency_seconds Time each delivered frame spent in each stage: decode "
		"(first packet to queued), queue, worker, return, reorder, and total (first packet to sent).\n"
		"# TYPE ooblex_stage_latency_seconds histogram\n");
	for(int s = 0; s < OOBLEX_STAGE_COUNT; s++) {
		char labels[384];
		snprintf(labels, sizeof(labels), "instance_name=\"%s\",stage=\"%s\"", in, ooblex_stage_name((ooblex_stage)s));
		ooblex_prom_hist_print(f, "ooblex_stage_latency_seconds", labels, &m->stages[s]);
	}
}

int ooblex_plugin_metrics_write(ooblex_plugin_metrics *m, const ooblex_plugin_gauges *g) {
	if(m->path[0] == '\0')
		return 0;
	g_mutex_lock(&m->lock);
	m->gauges = g;
	int rc = ooblex_prom_write_file(m->path, m->tmp_path, print_all, m);
	m->gauges = NULL;
	g_mutex_unlock(&m->lock);
	return rc;
}

void ooblex_plugin_metrics_remove(ooblex_plugin_metrics *m) {
	if(m->path[0] != '\0')
		unlink(m->path);
}
