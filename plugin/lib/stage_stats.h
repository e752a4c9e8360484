/*
 * stage_stats.h - per-session latency of each stage, and the delivered rate.
 *
 * Owns: a window of the last OOBLEX_STAGE_WINDOW frames' stage durations
 * (decode, queue wait, worker, return, reorder, total), summarised on demand
 * as p50 / p95 / max, and a one-second rate meter for the effective processed
 * frames per second. Fixed size: a session's stats never grow. Not
 * thread-safe; the egress (egress.h) guards it with its lock.
 */
#ifndef OOBLEX_STAGE_STATS_H
#define OOBLEX_STAGE_STATS_H

#include <stdint.h>

#define OOBLEX_STAGE_WINDOW 128

typedef enum ooblex_stage {
	OOBLEX_STAGE_DECODE = 0,	/* first packet in -> queued for Redis (depacketize, decode, pack) */
	OOBLEX_STAGE_QUEUE,	/* queued -> a worker took it */
	OOBLEX_STAGE_WORKER,	/* the worker's own time */
	OOBLEX_STAGE_RETURN,	/* worker done -> the plugin popped the result */
	OOBLEX_STAGE_REORDER,	/* popped -> sent (waiting for earlier frames) */
	OOBLEX_STAGE_TOTAL,	/* first packet in -> sent to the browser */
	OOBLEX_STAGE_COUNT
} ooblex_stage;

const char *ooblex_stage_name(ooblex_stage stage);

typedef struct ooblex_stage_summary {
	unsigned samples;
	double p50_ms, p95_ms, max_ms;
} ooblex_stage_summary;

typedef struct ooblex_stage_stats {
	uint32_t us[OOBLEX_STAGE_COUNT][OOBLEX_STAGE_WINDOW];
	unsigned next, filled;
	/* rate meter: frames in the current and the last whole second */
	uint64_t second;
	unsigned this_second, last_second;
} ooblex_stage_stats;

void ooblex_stage_stats_init(ooblex_stage_stats *s);
/* Records one delivered frame from its timestamps (µs, wall clock). */
void ooblex_stage_stats_add(ooblex_stage_stats *s, uint64_t capture, uint64_t queued, uint64_t worker_start,
	uint64_t worker_end, uint64_t returned, uint64_t sent);
void ooblex_stage_stats_summary(const ooblex_stage_stats *s, ooblex_stage stage, ooblex_stage_summary *out);
/* Frames delivered in the last whole second (0 if that second is long gone). */
unsigned ooblex_stage_stats_fps(const ooblex_stage_stats *s, uint64_t now_us);

#endif
