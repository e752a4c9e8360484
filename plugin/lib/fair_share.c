/*
 * fair_share.c - see fair_share.h.
 */
#include "fair_share.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *ooblex_fair_reason_name(ooblex_fair_reason r) {
	switch(r) {
	case OOBLEX_FAIR_SHARE:
		return "fair_share";
	case OOBLEX_FAIR_OVER_BUDGET:
		return "over_budget";
	default:
		return "none";
	}
}

/* One claimant on a queue's workers: a local client (index >= 0) or one of
 * another plugin's (index -1, its demand the average of what that plugin
 * announced). */
typedef struct claimant {
	long client;
	double demand;
	double share;
} claimant;

static int by_demand(const void *a, const void *b) {
	double x = ((const claimant *)a)->demand, y = ((const claimant *)b)->demand;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* Max-min fair: the smallest demands are met in full while they fit an
 * equal split of what is left; everyone above gets that split. */
static void water_fill(claimant *c, size_t n, double capacity) {
	qsort(c, n, sizeof(*c), by_demand);
	double left = capacity;
	for(size_t i = 0; i < n; i++) {
		double even = left / (double)(n - i);
		c[i].share = c[i].demand <= even ? c[i].demand : even;
		left -= c[i].share;
		if(left < 0)
			left = 0;
	}
}

static uint64_t spacing_us(double cost_us, double share) {
	if(share <= 0)
		return OOBLEX_FAIR_MAX_INTERVAL_US;
	double v = cost_us / share;
	return v >= (double)OOBLEX_FAIR_MAX_INTERVAL_US ? OOBLEX_FAIR_MAX_INTERVAL_US : (uint64_t)v;
}

static void share_queue(const ooblex_fair_queue *q, size_t qi, ooblex_fair_client *clients, size_t n_clients,
		unsigned max_in_flight) {
	size_t n_local = 0;
	for(size_t i = 0; i < n_clients; i++)
		if(clients[i].queue == qi)
			n_local++;
	if(n_local == 0)
		return;
	size_t n = n_local + q->remote_clients;
	claimant *c = calloc(n, sizeof(*c));
	if(c == NULL)
		return;	/* everyone keeps the defaults set by the caller */
	size_t k = 0;
	for(size_t i = 0; i < n_clients; i++)
		if(clients[i].queue == qi)
			c[k++] = (claimant){ (long)i, clients[i].demand, 0 };
	double remote_each = q->remote_clients ? q->remote_demand / q->remote_clients : 0;
	for(unsigned r = 0; r < q->remote_clients; r++)
		c[k++] = (claimant){ -1, remote_each, 0 };
	water_fill(c, n, (double)q->workers);
	/* Throttled local clients share out the whole workers their shares
	 * add up to: floor each (at least 1), then one more each to the largest
	 * fractions while whole workers are left. */
	double throttled_total = 0;
	long whole = 0;
	for(size_t j = 0; j < n; j++) {
		if(c[j].client < 0)
			continue;
		ooblex_fair_client *cl = &clients[c[j].client];
		cl->share = c[j].share;
		if(cl->demand <= c[j].share * (1 + 1e-9) || cl->cost_us <= 0)
			continue;	/* needs no more than its share */
		cl->reason = OOBLEX_FAIR_SHARE;
		unsigned cap = (unsigned)floor(c[j].share);
		cl->max_in_flight = cap < 1 ? 1 : cap;
		cl->min_interval_us = spacing_us(cl->cost_us, c[j].share);
		throttled_total += c[j].share;
		whole += cl->max_in_flight;
	}
	long spare = (long)floor(throttled_total + 1e-9) - whole;
	while(spare > 0) {
		long best = -1;
		double best_frac = 0;
		for(size_t j = 0; j < n; j++) {
			if(c[j].client < 0 || clients[c[j].client].reason != OOBLEX_FAIR_SHARE)
				continue;
			const ooblex_fair_client *cl = &clients[c[j].client];
			double frac = c[j].share - (double)cl->max_in_flight;
			if(frac > best_frac + 1e-9) {
				best_frac = frac;
				best = c[j].client;
			}
		}
		if(best < 0)
			break;
		clients[best].max_in_flight++;
		spare--;
	}
	for(size_t j = 0; j < n; j++)
		if(c[j].client >= 0 && clients[c[j].client].max_in_flight > max_in_flight)
			clients[c[j].client].max_in_flight = max_in_flight;
	free(c);
}

void ooblex_fair_share_compute(const ooblex_fair_queue *queues, size_t n_queues, ooblex_fair_client *clients,
		size_t n_clients, unsigned max_in_flight) {
	if(max_in_flight < 1)
		max_in_flight = 1;
	for(size_t i = 0; i < n_clients; i++) {
		ooblex_fair_client *cl = &clients[i];
		cl->demand = cl->due_fps > 0 && cl->cost_us > 0 ? cl->due_fps * cl->cost_us / 1e6 : 0;
		cl->share = cl->demand;
		cl->max_in_flight = max_in_flight;
		cl->min_interval_us = 0;
		cl->reason = OOBLEX_FAIR_FREE;
	}
	for(size_t qi = 0; qi < n_queues; qi++)
		if(queues[qi].workers > 0)
			share_queue(&queues[qi], qi, clients, n_clients, max_in_flight);
	for(size_t i = 0; i < n_clients; i++) {
		ooblex_fair_client *cl = &clients[i];
		if(cl->cost_us <= 0 && cl->reason == OOBLEX_FAIR_FREE)
			cl->max_in_flight = 1;	/* until its first result says what it costs */
		if(cl->over_budget) {
			/* One frame in flight, and no more than its share of one worker. */
			cl->reason = OOBLEX_FAIR_OVER_BUDGET;
			cl->max_in_flight = 1;
			double share = cl->share > 0 && cl->share < 1 ? cl->share : 1;
			uint64_t spacing = cl->cost_us > 0 ? spacing_us(cl->cost_us, share) : 0;
			if(spacing > cl->min_interval_us)
				cl->min_interval_us = spacing;
		}
	}
}

ooblex_admission_verdict ooblex_admission_decide(const ooblex_admission_input *in, unsigned *frame_skip) {
	unsigned asked = in->frame_skip ? in->frame_skip : 1;
	*frame_skip = asked;
	if(in->cpu_limit_percent > 0 && in->cpus > 0 &&
			in->cpu_busy * 100.0 >= (double)in->cpus * (double)in->cpu_limit_percent)
		return OOBLEX_ADMIT_REFUSED;
	if(in->fleet_limit_percent > 0 && in->fleet_workers > 0 &&
			in->fleet_demand * 100.0 >= in->fleet_workers * (double)in->fleet_limit_percent) {
		/* The fleet is spoken for: this session's frames come at most half
		 * as often, less again the further demand is past the workers. */
		double over = ceil(in->fleet_demand / in->fleet_workers);
		unsigned factor = over < 2 ? 2 : over > 8 ? 8 : (unsigned)over;
		unsigned skip = asked * factor;
		unsigned bound = in->max_frame_skip ? in->max_frame_skip : 1000;
		if(skip > bound)
			skip = bound;
		if(skip <= asked)
			return OOBLEX_ADMIT;	/* nothing to degrade to */
		*frame_skip = skip;
		return OOBLEX_ADMIT_DEGRADED;
	}
	return OOBLEX_ADMIT;
}
