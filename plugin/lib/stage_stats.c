/*
 * stage_stats.c - latency windows and the rate meter.
 */
#include "stage_stats.h"

#include <stdlib.h>
#include <string.h>

static const char *const stage_names[OOBLEX_STAGE_COUNT] = {
	"decode", "queue", "worker", "return", "reorder", "total",
};

const char *ooblex_stage_name(ooblex_stage stage) {
	return stage < OOBLEX_STAGE_COUNT ? stage_names[stage] : "?";
}

void ooblex_stage_stats_init(ooblex_stage_stats *s) {
	memset(s, 0, sizeof(*s));
}

/* b - a, clamped: clocks of different processes can disagree by a few µs. */
static uint32_t span(uint64_t a, uint64_t b) {
	if(b <= a || a == 0)
		return 0;
	uint64_t d = b - a;
	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

void ooblex_stage_stats_add(ooblex_stage_stats *s, uint64_t capture, uint64_t queued, uint64_t worker_start,
		uint64_t worker_end, uint64_t returned, uint64_t sent) {
	unsigned i = s->next;
	s->us[OOBLEX_STAGE_DECODE][i] = span(capture, queued);
	s->us[OOBLEX_STAGE_QUEUE][i] = span(queued, worker_start);
	s->us[OOBLEX_STAGE_WORKER][i] = span(worker_start, worker_end);
	s->us[OOBLEX_STAGE_RETURN][i] = span(worker_end, returned);
	s->us[OOBLEX_STAGE_REORDER][i] = span(returned, sent);
	s->us[OOBLEX_STAGE_TOTAL][i] = span(capture, sent);
	s->next = (i + 1) % OOBLEX_STAGE_WINDOW;
	if(s->filled < OOBLEX_STAGE_WINDOW)
		s->filled++;
	uint64_t second = sent / 1000000u;
	if(second != s->second) {
		s->last_second = second == s->second + 1 ? s->this_second : 0;
		s->second = second;
		s->this_second = 0;
	}
	s->this_second++;
}

static int cmp_u32(const void *a, const void *b) {
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

void ooblex_stage_stats_summary(const ooblex_stage_stats *s, ooblex_stage stage, ooblex_stage_summary *out) {
	memset(out, 0, sizeof(*out));
	if(s->filled == 0 || stage >= OOBLEX_STAGE_COUNT)
		return;
	uint32_t v[OOBLEX_STAGE_WINDOW];
	memcpy(v, s->us[stage], s->filled * sizeof(uint32_t));
	qsort(v, s->filled, sizeof(uint32_t), cmp_u32);
	out->samples = s->filled;
	out->p50_ms = v[(s->filled - 1) / 2] / 1000.0;
	out->p95_ms = v[(s->filled - 1) * 95 / 100] / 1000.0;
	out->max_ms = v[s->filled - 1] / 1000.0;
}

unsigned ooblex_stage_stats_fps(const ooblex_stage_stats *s, uint64_t now_us) {
	uint64_t second = now_us / 1000000u;
	if(second == s->second)
		return s->last_second;
	if(second == s->second + 1)
		return s->this_second;
	return 0;
}
