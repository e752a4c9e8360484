/*
 * counters.h - the one table of a session's counters.
 *
 * Owns: each counter's names (where it sits in a session's `stats`, in the
 * Admin API's plugin-wide `totals`, and which Prometheus series carries it),
 * its help text, whether it starts again from zero when a session restarts,
 * and the counters that are sums of others. From the table come the session
 * stats' counters and the totals as JSON, the Prometheus counter families
 * and the table in docs/api.md (tests/unit/test_metrics --print-counters-md
 * prints it; the test fails when the docs differ).
 *
 * Values travel as a snapshot, uint64_t v[OOBLEX_C_COUNT]: the Janus glue
 * reads a session's counters into one (janus_ooblex_counters_read), the
 * plugin's totals are another (plugin_metrics.h).
 */
#ifndef OOBLEX_COUNTERS_H
#define OOBLEX_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

typedef enum ooblex_counter {
	/* The way in: RTP packets, then frames through the ingest. */
	OOBLEX_C_PACKETS_RECEIVED,
	OOBLEX_C_PACKETS_DROPPED,
	OOBLEX_C_PACKETS_MALFORMED,
	OOBLEX_C_PACKETS_LOST,
	OOBLEX_C_PACKETS_LATE,
	OOBLEX_C_PACKETS_DUPLICATE,
	OOBLEX_C_FRAMES_ASSEMBLED,
	OOBLEX_C_FRAMES_INCOMPLETE,
	OOBLEX_C_FRAMES_OVER_CAP,
	OOBLEX_C_FRAMES_PICTURE_TOO_LARGE,
	OOBLEX_C_KEYFRAMES_OVER_BUDGET,
	OOBLEX_C_FRAMES_DECODED,
	OOBLEX_C_DECODE_ERRORS,
	OOBLEX_C_KEYFRAMES_REQUESTED,
	OOBLEX_C_INGEST_WAKEUPS,
	OOBLEX_C_FRAMES_SAMPLED,
	OOBLEX_C_FRAMES_DEFERRED,	/* not a drop: the next frame is taken instead */
	OOBLEX_C_FRAMES_DEFERRED_FAIR,	/* the same, by the client's fair share (fair_share.h) */
	OOBLEX_C_FRAMES_SHED_LATENCY,	/* taken by the sampler, shed by the latency budget (latency_budget.h) */
	OOBLEX_C_FRAMES_OVER_SENDER_RATE,	/* a source-sampled sender sent more than it was asked */
	OOBLEX_C_FRAMES_UNSUPPORTED,
	OOBLEX_C_FRAMES_QUEUED,
	OOBLEX_C_FRAMES_DROPPED_QUEUE_FULL,
	/* The way back: results, then frames to the page. */
	OOBLEX_C_RESULTS,
	OOBLEX_C_RESULTS_MALFORMED,	/* a sum of refusals */
	OOBLEX_C_RESULTS_UNAUTHENTICATED,	/* a sum of refusals */
	OOBLEX_C_REFUSED_OVERSIZED,
	OOBLEX_C_REFUSED_MALFORMED,
	OOBLEX_C_REFUSED_PICTURE_TOO_BIG,
	OOBLEX_C_REFUSED_UNSIGNED,
	OOBLEX_C_REFUSED_BAD_MAC,
	OOBLEX_C_REFUSED_UNEXPECTED,
	OOBLEX_C_RESULTS_ERROR,
	OOBLEX_C_ERRORS_RESOLVED,
	OOBLEX_C_WORKER_US,
	OOBLEX_C_FRAMES_OVER_BUDGET,
	OOBLEX_C_FRAMES_SENT,
	OOBLEX_C_CHUNKS_SENT,
	OOBLEX_C_DC_BYTES_SENT,
	OOBLEX_C_FRAMES_DROPPED_CHANNEL,
	OOBLEX_C_FRAMES_DROPPED_BACKPRESSURE,
	OOBLEX_C_BAD_ACKS,
	OOBLEX_C_DATA_READY_EVENTS,
	OOBLEX_C_REORDER_DELIVERED,
	OOBLEX_C_REORDER_LATE,
	OOBLEX_C_REORDER_DUPLICATES,
	OOBLEX_C_REORDER_SKIPPED,
	OOBLEX_C_COUNT
} ooblex_counter;

/* The Prometheus counter families session counters go into: one series per
 * counter, told apart by one label. */
typedef enum ooblex_counter_family {
	OOBLEX_FAMILY_NONE = 0,	/* in the JSON only */
	OOBLEX_FAMILY_RTP_PACKETS,
	OOBLEX_FAMILY_FRAMES,
	OOBLEX_FAMILY_DEFERRED,
	OOBLEX_FAMILY_DROPPED,
	OOBLEX_FAMILY_OVER_BUDGET,
	OOBLEX_FAMILY_COUNT
} ooblex_counter_family;

typedef struct ooblex_counter_family_def {
	const char *metric;	/* ooblex_frames_dropped_total */
	const char *label;	/* reason */
	const char *help;
} ooblex_counter_family_def;

typedef struct ooblex_counter_def {
	const char *stats;	/* path in a session's stats: "frames.sent", "frames.results_refused.unsigned" */
	const char *total;	/* path in the Admin API's totals: "frames_sent" */
	ooblex_counter_family family;
	const char *label_value;	/* the series' label value in its family */
	bool restarts;	/* zero again when the session starts again */
	uint64_t sum_of;	/* 0, or the bits (1 << counter) of the counters it adds up */
	const char *help;	/* markdown, one line */
} ooblex_counter_def;

#define OOBLEX_COUNTER_BIT(c) (UINT64_C(1) << (c))
_Static_assert(OOBLEX_C_COUNT <= 64, "sum_of is a 64-bit set of counters");

extern const ooblex_counter_def ooblex_counters[OOBLEX_C_COUNT];
extern const ooblex_counter_family_def ooblex_counter_families[OOBLEX_FAMILY_COUNT];

typedef enum ooblex_counter_view {
	OOBLEX_VIEW_STATS,	/* a session's stats (handle_info, the "stats" request) */
	OOBLEX_VIEW_TOTALS,	/* the Admin API's totals */
} ooblex_counter_view;

/* Fills in the counters that are sums of others (from the others). */
void ooblex_counters_derive(uint64_t v[OOBLEX_C_COUNT]);

/* Sets every counter at its path under root, making the objects on the way. */
void ooblex_counters_json(json_t *root, ooblex_counter_view view, const uint64_t v[OOBLEX_C_COUNT]);

/* One family: # HELP, # TYPE and a series per counter in it, each labelled
 * instance_name="<instance>" (escaped by the caller) and the family's label.
 * A caller may print more series of the family right after it. */
void ooblex_counters_prom_family(FILE *f, ooblex_counter_family family, const char *instance,
	const uint64_t v[OOBLEX_C_COUNT]);

/* docs/api.md's table of counters, in markdown. */
void ooblex_counters_markdown(FILE *f);

#endif
