/*
 * plugin_metrics.h - the plugin's Prometheus metrics, written for node
 * exporter's textfile collector (<dir>/ooblex_plugin_<instance>.prom,
 * replaced atomically; removed when the plugin stops).
 *
 * Owns: the plugin's totals of the session counters (counters.h),
 * accumulated from each session's snapshots by deltas, so that they only
 * ever grow while sessions come, restart and go (the Admin API's totals and
 * Prometheus read these same totals); and the per-stage latency histograms,
 * observed lock-free as results are delivered.
 * The caller (the Janus glue) hands in the gauges it reads from its own
 * tables each time it writes.
 */
#ifndef OOBLEX_PLUGIN_METRICS_H
#define OOBLEX_PLUGIN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "counters.h"
#include "fleet.h"
#include "latency_budget.h"
#include "stage_stats.h"

/* What was last added from one session. */
typedef struct ooblex_counter_tracker {
	uint64_t seen[OOBLEX_C_COUNT];
} ooblex_counter_tracker;

/* The session started again: its counters that restart at zero (counters.h)
 * are counted from zero from now on. Call after taking the last run's. */
void ooblex_counter_tracker_restart(ooblex_counter_tracker *t);

/* Read by the caller for each write. */
typedef struct ooblex_plugin_gauges {
	unsigned sessions, processing;
	uint64_t sessions_started;
	long long queue_length;	/* frames_to_process; -1 unknown */
	ooblex_routed_queue routed[OOBLEX_MAX_ROUTES];
	size_t n_routed;
	long long fleet_dropped_stale;
	unsigned live_workers;
	int producer_connected, reader_connected;
	uint64_t redis_pending, redis_dropped_error;
	/* The latency budget (latency_budget.h): sessions shedding now, the
	 * machine's level, and its steps so far ([step][0 shed, 1 restore]). */
	unsigned latency_shedding, latency_level;
	uint64_t latency_steps[OOBLEX_LATENCY_STEP_COUNT][2];
} ooblex_plugin_gauges;

typedef struct ooblex_plugin_metrics ooblex_plugin_metrics;

/* dir NULL or "": count, write nothing. instance labels every series and
 * names the file (several Janus instances may share one node exporter). */
ooblex_plugin_metrics *ooblex_plugin_metrics_new(const char *dir, const char *instance);
void ooblex_plugin_metrics_free(ooblex_plugin_metrics *m);
const char *ooblex_plugin_metrics_path(const ooblex_plugin_metrics *m);

/* Adds what grew since t last saw `now` (a counter that went down — a
 * session that restarted — counts from zero). Serialize calls per tracker. */
void ooblex_plugin_metrics_accumulate(ooblex_plugin_metrics *m, ooblex_counter_tracker *t,
	const uint64_t now[OOBLEX_C_COUNT]);
/* One delivered frame's stage timestamps (µs, wall clock). Any thread. */
void ooblex_plugin_metrics_observe(ooblex_plugin_metrics *m, uint64_t capture, uint64_t queued,
	uint64_t worker_start, uint64_t worker_end, uint64_t returned, uint64_t sent);
/* The totals so far. */
void ooblex_plugin_metrics_totals(ooblex_plugin_metrics *m, uint64_t out[OOBLEX_C_COUNT]);

int ooblex_plugin_metrics_write(ooblex_plugin_metrics *m, const ooblex_plugin_gauges *g);
void ooblex_plugin_metrics_remove(ooblex_plugin_metrics *m);

#endif
