/*
 * plugin_metrics.h - the plugin's Prometheus metrics, written for node
 * exporter's textfile collector (<dir>/ooblex_plugin_<instance>.prom,
 * replaced atomically; removed when the plugin stops).
 *
 * Owns: plugin-wide counters (packets and frames through each stage, frames
 * dropped by reason) accumulated from per-session counters by deltas, so
 * they only ever grow while sessions come, restart and go; and the per-stage
 * latency histograms, observed lock-free as results are delivered.
 * The caller (the Janus glue) hands in the gauges it reads from its own
 * tables each time it writes.
 */
#ifndef OOBLEX_PLUGIN_METRICS_H
#define OOBLEX_PLUGIN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "fleet.h"
#include "stage_stats.h"

/* Counters a session keeps, read as a snapshot by the caller. */
typedef enum ooblex_counter {
	OOBLEX_C_PACKETS_RECEIVED,
	OOBLEX_C_PACKETS_LOST,
	OOBLEX_C_PACKETS_LATE,
	OOBLEX_C_PACKETS_DUPLICATE,
	OOBLEX_C_PACKETS_MALFORMED,
	OOBLEX_C_PACKETS_DROPPED,	/* the decoder fell behind */
	OOBLEX_C_FRAMES_DECODED,	/* frames in */
	OOBLEX_C_FRAMES_SAMPLED,
	OOBLEX_C_FRAMES_QUEUED,	/* handed to Redis */
	OOBLEX_C_FRAMES_PROCESSED,	/* results back from workers */
	OOBLEX_C_FRAMES_RETURNED,	/* sent to the browser */
	OOBLEX_C_DROP_INCOMPLETE,	/* lost packets left a frame unusable */
	OOBLEX_C_DROP_DECODE_ERROR,
	OOBLEX_C_DROP_IN_FLIGHT,	/* due, but too many frames in flight */
	OOBLEX_C_DROP_QUEUE_FULL,	/* Redis slow or away */
	OOBLEX_C_DROP_LATE,	/* result after later frames went out */
	OOBLEX_C_DROP_DUPLICATE,
	OOBLEX_C_DROP_NEVER_RETURNED,	/* given up on by the reorder wait */
	OOBLEX_C_DROP_CHANNEL,	/* the data channel refused it */
	OOBLEX_C_DROP_MALFORMED_RESULT,
	OOBLEX_C_DROP_BACKPRESSURE,	/* the browser's link backed up: newest frame won */
	OOBLEX_C_DROP_FRAME_OVER_CAP,	/* an encoded frame outgrew max_frame_kib / max_frame_packets */
	OOBLEX_C_DROP_PICTURE_TOO_LARGE,	/* claimed a picture over max_decode_width x height */
	OOBLEX_C_DROP_KEYFRAME_BUDGET,	/* keyframes beyond the per-second budget */
	OOBLEX_C_DROP_UNEXPECTED_RESULT,	/* a result for a seq not in flight (result_gate.h) */
	OOBLEX_C_DROP_UNAUTHENTICATED_RESULT,	/* unsigned or mis-signed, with a fleet secret set */
	OOBLEX_C_DROP_WORKER_ERROR,	/* a worker sent an error result (unknown effect, over budget...) */
	OOBLEX_C_COUNT
} ooblex_counter;

/* What was last added from one session; zeroed when the session starts. */
typedef struct ooblex_counter_tracker {
	uint64_t seen[OOBLEX_C_COUNT];
} ooblex_counter_tracker;

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
/* A counter as accumulated so far (for tests). */
uint64_t ooblex_plugin_metrics_total(ooblex_plugin_metrics *m, ooblex_counter c);

int ooblex_plugin_metrics_write(ooblex_plugin_metrics *m, const ooblex_plugin_gauges *g);
void ooblex_plugin_metrics_remove(ooblex_plugin_metrics *m);

#endif
