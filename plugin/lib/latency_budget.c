/*
 * latency_budget.c - see latency_budget.h.
 */
#include "latency_budget.h"

#include <stdlib.h>
#include <string.h>

const char *ooblex_latency_step_name(ooblex_latency_step s) {
	switch(s) {
	case OOBLEX_LATENCY_STEP_FRAME_SKIP:
		return "frame_skip";
	case OOBLEX_LATENCY_STEP_REMB:
		return "remb";
	case OOBLEX_LATENCY_STEP_RESOLUTION:
		return "resolution";
	default:
		return "none";
	}
}

void ooblex_latency_window_init(ooblex_latency_window *w) {
	memset(w, 0, sizeof(*w));
}

static uint32_t clamp_u32(uint64_t v) {
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void ooblex_latency_window_add_split(ooblex_latency_window *w, uint64_t at_us, uint64_t latency_us,
		uint64_t waiting_us) {
	w->at_us[w->next] = at_us;
	w->latency_us[w->next] = clamp_u32(latency_us);
	w->waiting_us[w->next] = clamp_u32(waiting_us < latency_us ? waiting_us : latency_us);
	w->next = (w->next + 1) % OOBLEX_LATENCY_SAMPLES;
	if(w->filled < OOBLEX_LATENCY_SAMPLES)
		w->filled++;
}

void ooblex_latency_window_add(ooblex_latency_window *w, uint64_t at_us, uint64_t latency_us) {
	ooblex_latency_window_add_split(w, at_us, latency_us, latency_us);
}

static int cmp_u32(const void *a, const void *b) {
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static double p95_of(const ooblex_latency_window *w, const uint32_t *values, uint64_t since_us, unsigned *n) {
	uint32_t v[OOBLEX_LATENCY_SAMPLES];
	unsigned k = 0;
	for(unsigned i = 0; i < w->filled; i++)
		if(w->at_us[i] >= since_us)
			v[k++] = values[i];
	if(n != NULL)
		*n = k;
	if(k == 0)
		return 0;
	qsort(v, k, sizeof(v[0]), cmp_u32);
	/* Nearest rank: with few samples this is the worst of them or nearly,
	 * which errs on the side of the budget. */
	unsigned rank = (k * 95 + 99) / 100;
	return v[rank > 0 ? rank - 1 : 0] / 1000.0;
}

double ooblex_latency_window_p95(const ooblex_latency_window *w, uint64_t since_us, unsigned *n) {
	return p95_of(w, w->latency_us, since_us, n);
}

double ooblex_latency_window_waiting_p95(const ooblex_latency_window *w, uint64_t since_us) {
	return p95_of(w, w->waiting_us, since_us, NULL);
}

void ooblex_latency_config_default(ooblex_latency_config *c) {
	c->max_auto_frame_skip = 10;
	c->shed_ratio = 0.8;
	c->restore_ratio = 0.5;
	c->shed_hold_us = 1000 * 1000;
	c->restore_hold_us = 2000 * 1000;
	c->restore_hold_max_us = 16000 * 1000;
}

void ooblex_latency_fleet_init(ooblex_latency_fleet *f, const ooblex_latency_config *cfg) {
	memset(f, 0, sizeof(*f));
	f->cfg = *cfg;
	unsigned max = cfg->max_auto_frame_skip ? cfg->max_auto_frame_skip : 1;
	f->skips[0] = 1;
	unsigned n = 0;
	while(f->skips[n] < max && n < OOBLEX_LATENCY_MAX_SKIP_LEVELS) {
		unsigned s = f->skips[n];
		unsigned next = (s * 3 + 1) / 2;	/* x1.5, rounded up */
		if(next < s + 1)
			next = s + 1;
		if(next > max || n + 1 == OOBLEX_LATENCY_MAX_SKIP_LEVELS)
			next = max;
		f->skips[++n] = next;
	}
	f->n_skip_levels = n;
	f->restore_hold_us = cfg->restore_hold_us;
}

unsigned ooblex_latency_max_level(const ooblex_latency_fleet *f) {
	return f->n_skip_levels + 2;
}

ooblex_latency_step ooblex_latency_level_step(const ooblex_latency_fleet *f, unsigned level) {
	if(level == 0)
		return OOBLEX_LATENCY_STEP_NONE;
	if(level <= f->n_skip_levels)
		return OOBLEX_LATENCY_STEP_FRAME_SKIP;
	if(level == f->n_skip_levels + 1)
		return OOBLEX_LATENCY_STEP_REMB;
	return OOBLEX_LATENCY_STEP_RESOLUTION;
}

unsigned ooblex_latency_level_skip(const ooblex_latency_fleet *f, unsigned level) {
	return f->skips[level < f->n_skip_levels ? level : f->n_skip_levels];
}

static unsigned effective(unsigned frame_skip, unsigned common) {
	unsigned s = frame_skip ? frame_skip : 1;
	return s > common ? s : common;
}

/* Whether going from level a to level b changes some participant's skip. */
static int changes_someone(const ooblex_latency_fleet *f, const ooblex_latency_participant *p, size_t n,
		unsigned a, unsigned b) {
	unsigned sa = ooblex_latency_level_skip(f, a), sb = ooblex_latency_level_skip(f, b);
	for(size_t i = 0; i < n; i++)
		if(effective(p[i].frame_skip, sa) != effective(p[i].frame_skip, sb))
			return 1;
	return 0;
}

/* Counts a move from level a to b: each kind of step it crosses, once. */
static void count_steps(ooblex_latency_fleet *f, unsigned a, unsigned b) {
	int crossed[OOBLEX_LATENCY_STEP_COUNT] = { 0 };
	int dir = b < a;
	for(unsigned l = (a < b ? a : b) + 1; l <= (a < b ? b : a); l++)
		crossed[ooblex_latency_level_step(f, l)] = 1;
	for(int k = 0; k < OOBLEX_LATENCY_STEP_COUNT; k++)
		if(crossed[k])
			f->steps[k][dir]++;
}

static void set_level(ooblex_latency_fleet *f, unsigned level, size_t n, uint64_t now) {
	f->level = level;
	f->last_change_us = now;
	f->calm_since_us = 0;
	f->participants_at_level = (unsigned)n;
}

ooblex_latency_change ooblex_latency_fleet_step(ooblex_latency_fleet *f, ooblex_latency_participant *p, size_t n,
		uint64_t now_us) {
	ooblex_latency_change change = OOBLEX_LATENCY_KEPT;
	if(n == 0) {
		if(f->level > 0) {
			count_steps(f, f->level, 0);
			change = OOBLEX_LATENCY_RESTORED_LOAD_FELL;
		}
		set_level(f, 0, 0, now_us);
		f->last_restore_us = 0;
		f->restore_hold_us = f->cfg.restore_hold_us;
		f->worst_ratio = 0;
		return change;
	}
	/* Sessions left: the load they brought goes with them, now, not one
	 * restore_hold per step. */
	if(f->level > 0 && n * 4 <= (size_t)f->participants_at_level * 3) {
		unsigned top = f->level < f->n_skip_levels ? f->level : f->n_skip_levels;
		double target = (double)f->skips[top] * (double)n / (double)f->participants_at_level;
		unsigned to = 0;
		for(unsigned l = 1; l <= top; l++)
			if(f->skips[l] <= target)
				to = l;
		if(to < f->level) {
			count_steps(f, f->level, to);
			set_level(f, to, n, now_us);
			f->restore_hold_us = f->cfg.restore_hold_us;
			f->last_restore_us = 0;
			change = OOBLEX_LATENCY_RESTORED_LOAD_FELL;
		} else {
			f->participants_at_level = (unsigned)n;
		}
	}
	/* A restore that held for OOBLEX_LATENCY_RELAPSE_US was right: the
	 * back-off is forgotten. */
	if(f->last_restore_us != 0 && now_us - f->last_restore_us >= OOBLEX_LATENCY_RELAPSE_US) {
		f->last_restore_us = 0;
		f->restore_hold_us = f->cfg.restore_hold_us;
	}
	if((unsigned)n > f->participants_at_level)
		f->participants_at_level = (unsigned)n;

	/* The vote: results since the window's start, and since the last step showed. */
	uint64_t since = now_us > OOBLEX_LATENCY_WINDOW_US ? now_us - OOBLEX_LATENCY_WINDOW_US : 0;
	if(f->last_change_us != 0 && f->last_change_us + OOBLEX_LATENCY_SETTLE_US > since)
		since = f->last_change_us + OOBLEX_LATENCY_SETTLE_US;
	unsigned voters = 0, hot = 0, calm = 0;
	double worst = 0, worst_hot = 0;
	for(size_t i = 0; i < n; i++) {
		p[i].p95_ms = ooblex_latency_window_p95(p[i].window, since, &p[i].samples);
		p[i].waiting_p95_ms = ooblex_latency_window_waiting_p95(p[i].window, since);
		p[i].voted = !p[i].own_cause && p[i].budget_ms > 0 && p[i].samples >= OOBLEX_LATENCY_MIN_SAMPLES;
		if(!p[i].voted)
			continue;
		voters++;
		double ratio = p[i].p95_ms / p[i].budget_ms;
		if(ratio > worst)
			worst = ratio;
		if(ratio >= f->cfg.shed_ratio) {
			/* Over the line, but shedding can take it back only if enough
			 * of it is waiting (latency_budget.h): otherwise it neither
			 * sheds nor lets a restore through. */
			if(p[i].waiting_p95_ms >= OOBLEX_LATENCY_WAITING_MIN * p[i].budget_ms) {
				hot++;
				if(ratio > worst_hot)
					worst_hot = ratio;
			}
		} else if(ratio < f->cfg.restore_ratio) {
			calm++;
		}
	}
	f->worst_ratio = worst;
	unsigned max = ooblex_latency_max_level(f);
	/* The machine is overloaded when most voters are near their budgets:
	 * what they share is slow for all of them. One session of several over
	 * its budget while the rest are not is that session's own trouble (an
	 * effect that slowed down before its cost was measured, a bad link),
	 * and shedding everybody would not help it. */
	int overloaded = hot > 0 && hot * 2 > voters;
	if(!overloaded)
		f->hot_since_us = 0;
	else if(f->hot_since_us == 0)
		f->hot_since_us = now_us;
	/* The last change was a restore, and it has not held yet (last_restore_us
	 * is cleared by every other change and once a restore has held for
	 * OOBLEX_LATENCY_RELAPSE_US, above): the restore was a probe of the machine's capacity, and the first look over the
	 * shed line says it failed. Undone at once, not after HOT_HOLD and
	 * shed_hold: those keep one stall from shedding a level that held,
	 * while this level never did, and every look spent over the line
	 * adds to the backlog that each session's p95 carries for seconds
	 * (at the edge of capacity, on this 2-core machine, the relapses of
	 * a restore one step too far were what took sessions past their
	 * budgets). */
	int probe_failed = f->last_restore_us != 0;
	if(change == OOBLEX_LATENCY_KEPT && overloaded) {
		f->calm_since_us = 0;
		if(f->level < max && (probe_failed || (now_us - f->hot_since_us >= OOBLEX_LATENCY_HOT_HOLD_US &&
				(f->last_change_us == 0 || now_us - f->last_change_us >= f->cfg.shed_hold_us)))) {
			/* Far over the budget (twice, four times): two or three steps at
			 * once, so that the backlog a step takes a second to show does not
			 * grow for seconds more. A failed restore goes back one step,
			 * to the level that held. */
			unsigned jumps = 1;
			if(!probe_failed)
				jumps += (worst_hot >= 2 * f->cfg.shed_ratio) + (worst_hot >= 4 * f->cfg.shed_ratio);
			unsigned to = f->level;
			while(jumps-- > 0 && to < max) {
				unsigned from = to++;
				while(to <= f->n_skip_levels && to < max && !changes_someone(f, p, n, from, to))
					to++;
			}
			/* The last restore was one too many: wait longer before the next. */
			if(probe_failed) {
				f->restore_hold_us *= 2;
				if(f->restore_hold_us > f->cfg.restore_hold_max_us)
					f->restore_hold_us = f->cfg.restore_hold_max_us;
			}
			f->last_restore_us = 0;	/* judged: it did not hold */
			count_steps(f, f->level, to);
			set_level(f, to, n, now_us);
			f->hot_since_us = 0;	/* the next shed waits for this one to show */
			change = OOBLEX_LATENCY_SHED;
		}
	} else if(change == OOBLEX_LATENCY_KEPT && voters > 0 && calm == voters) {
		if(f->calm_since_us == 0)
			f->calm_since_us = now_us;
		/* Far under (a quarter of the budget): half the hold, unless a
		 * restore from here failed lately (backed off): it was as far
		 * under then. */
		uint64_t hold = f->restore_hold_us;
		if(worst < f->cfg.restore_ratio / 2 && f->restore_hold_us == f->cfg.restore_hold_us)
			hold /= 2;
		if(f->level > 0 && now_us - f->calm_since_us >= hold && now_us - f->last_change_us >= hold) {
			unsigned from = f->level, to = f->level - 1;
			while(from <= f->n_skip_levels && to > 0 && !changes_someone(f, p, n, to, from))
				to--;
			double more = (double)ooblex_latency_level_skip(f, from) / ooblex_latency_level_skip(f, to);
			double asked = f->demand_workers;
			for(size_t i = 0; i < n; i++)
				if(!p[i].own_cause && p[i].demand_workers > 0)
					asked += p[i].demand_workers;
			if(f->workers > 0 && asked * more > OOBLEX_LATENCY_RESTORE_FIT * f->workers) {
				f->vetoed++;
				f->calm_since_us = now_us;	/* looked at again after another hold */
				goto out;
			}
			count_steps(f, from, to);
			set_level(f, to, n, now_us);
			f->last_restore_us = now_us;
			change = OOBLEX_LATENCY_RESTORED;
		}
	} else if(change == OOBLEX_LATENCY_KEPT) {
		f->calm_since_us = 0;
	}
out:;
	unsigned common = ooblex_latency_level_skip(f, f->level);
	for(size_t i = 0; i < n; i++)
		p[i].effective_skip = effective(p[i].frame_skip, common);
	return change;
}
