/*
 * test_fair_share.c - the fleet's shares across clients, and admission
 * (plugin/lib/fair_share.h), driven directly: no Janus, no Redis.
 */
#include <math.h>

#include "testlib.h"
#include "fair_share.h"

#define MAX_IN_FLIGHT 6

static ooblex_fair_client client(size_t queue, double fps, double cost_ms) {
	ooblex_fair_client c;
	memset(&c, 0, sizeof(c));
	c.queue = queue;
	c.due_fps = fps;
	c.cost_us = cost_ms * 1000;
	return c;
}

/* The noisy neighbour: 3 workers, a 2 ms client and a 500 ms one, 10 fps
 * each. The fast one is left alone; the slow one may hold at most the two
 * workers the fast one does not need, spaced to its share. */
static void test_a_slow_client_leaves_a_worker_to_the_fast_one(void) {
	ooblex_fair_queue q = { .workers = 3 };
	ooblex_fair_client c[2] = { client(0, 10, 2), client(0, 10, 500) };
	ooblex_fair_share_compute(&q, 1, c, 2, MAX_IN_FLIGHT);
	EXPECT_EQ(c[0].reason, OOBLEX_FAIR_FREE);
	EXPECT_EQ(c[0].max_in_flight, MAX_IN_FLIGHT);
	EXPECT_EQ(c[0].min_interval_us, 0);
	EXPECT(fabs(c[0].share - 0.02) < 1e-9);
	EXPECT_EQ(c[1].reason, OOBLEX_FAIR_SHARE);
	EXPECT_EQ(c[1].max_in_flight, 2);
	EXPECT(fabs(c[1].share - 2.98) < 1e-9);
	/* 500 ms / 2.98 workers: one frame every 168 ms at most. */
	EXPECT_EQ(c[1].min_interval_us, 167785);
}

/* Alone, the slow client gets the whole fleet (no more in flight than workers). */
static void test_alone_a_slow_client_gets_every_worker(void) {
	ooblex_fair_queue q = { .workers = 3 };
	ooblex_fair_client c = client(0, 10, 500);
	ooblex_fair_share_compute(&q, 1, &c, 1, MAX_IN_FLIGHT);
	EXPECT_EQ(c.reason, OOBLEX_FAIR_SHARE);
	EXPECT_EQ(c.max_in_flight, 3);
	EXPECT(fabs(c.share - 3) < 1e-9);
}

/* Light clients that fit are never throttled, however many. */
static void test_clients_that_fit_are_left_alone(void) {
	ooblex_fair_queue q = { .workers = 2 };
	ooblex_fair_client c[8];
	for(int i = 0; i < 8; i++)
		c[i] = client(0, 30, 5);	/* 0.15 workers each, 1.2 in all */
	ooblex_fair_share_compute(&q, 1, c, 8, MAX_IN_FLIGHT);
	for(int i = 0; i < 8; i++) {
		EXPECT_EQ(c[i].reason, OOBLEX_FAIR_FREE);
		EXPECT_EQ(c[i].max_in_flight, MAX_IN_FLIGHT);
	}
}

/* Heavy clients share evenly; whole workers left over go to the largest
 * fractions, and the caps never add up to more workers than there are. */
static void test_heavy_clients_split_the_workers(void) {
	ooblex_fair_queue q = { .workers = 5 };
	ooblex_fair_client c[3] = { client(0, 10, 400), client(0, 10, 400), client(0, 10, 400) };
	ooblex_fair_share_compute(&q, 1, c, 3, MAX_IN_FLIGHT);
	unsigned total = 0;
	for(int i = 0; i < 3; i++) {
		EXPECT_EQ(c[i].reason, OOBLEX_FAIR_SHARE);
		EXPECT(fabs(c[i].share - 5.0 / 3) < 1e-9);
		EXPECT(c[i].max_in_flight == 1 || c[i].max_in_flight == 2);
		total += c[i].max_in_flight;
	}
	EXPECT_EQ(total, 5);
}

/* More heavy clients than workers: one frame in flight each, and spaced so
 * that each uses its share (2 workers, 4 clients: half a worker each). */
static void test_more_heavy_clients_than_workers_are_spaced(void) {
	ooblex_fair_queue q = { .workers = 2 };
	ooblex_fair_client c[4];
	for(int i = 0; i < 4; i++)
		c[i] = client(0, 10, 300);
	ooblex_fair_share_compute(&q, 1, c, 4, MAX_IN_FLIGHT);
	for(int i = 0; i < 4; i++) {
		EXPECT_EQ(c[i].max_in_flight, 1);
		EXPECT_EQ(c[i].min_interval_us, 600000);
	}
}

/* Other plugins' clients on the same queue count: their announced demand
 * takes its share, so this plugin's heavy client gets less. */
static void test_other_plugins_clients_count(void) {
	ooblex_fair_queue q = { .workers = 4, .remote_clients = 2, .remote_demand = 10 };
	ooblex_fair_client c = client(0, 10, 500);
	ooblex_fair_share_compute(&q, 1, &c, 1, MAX_IN_FLIGHT);
	EXPECT(fabs(c.share - 4.0 / 3) < 1e-9);
	EXPECT_EQ(c.max_in_flight, 1);
	/* A light remote plugin takes only what it needs. */
	ooblex_fair_queue light = { .workers = 4, .remote_clients = 2, .remote_demand = 0.2 };
	ooblex_fair_share_compute(&light, 1, &c, 1, MAX_IN_FLIGHT);
	EXPECT(fabs(c.share - 3.8) < 1e-9);
	EXPECT_EQ(c.max_in_flight, 3);
}

/* Queues are shared separately: a heavy routed client does not touch the
 * core queue's clients. */
static void test_queues_are_separate(void) {
	ooblex_fair_queue q[2] = { { .workers = 3 }, { .workers = 1 } };
	ooblex_fair_client c[3] = { client(0, 10, 50), client(1, 10, 500), client(1, 10, 2) };
	ooblex_fair_share_compute(q, 2, c, 3, MAX_IN_FLIGHT);
	EXPECT_EQ(c[0].reason, OOBLEX_FAIR_FREE);
	EXPECT_EQ(c[0].max_in_flight, MAX_IN_FLIGHT);
	EXPECT_EQ(c[1].reason, OOBLEX_FAIR_SHARE);
	EXPECT_EQ(c[1].max_in_flight, 1);
	EXPECT(fabs(c[1].share - 0.98) < 1e-9);
	EXPECT_EQ(c[2].reason, OOBLEX_FAIR_FREE);
}

/* No workers known: nobody is throttled for a share (the fleet checks
 * speak), and a client not measured yet has one frame in flight. */
static void test_unknown_fleet_and_unmeasured_clients(void) {
	ooblex_fair_queue q = { .workers = 0 };
	ooblex_fair_client c[2] = { client(0, 10, 500), client(0, 10, 0) };
	ooblex_fair_share_compute(&q, 1, c, 2, MAX_IN_FLIGHT);
	EXPECT_EQ(c[0].reason, OOBLEX_FAIR_FREE);
	EXPECT_EQ(c[0].max_in_flight, MAX_IN_FLIGHT);
	EXPECT_EQ(c[1].max_in_flight, 1);
	EXPECT_EQ(c[1].min_interval_us, 0);
}

/* Over the per-frame budget: one frame in flight whatever its share, and
 * spaced by its cost. */
static void test_over_budget_holds_one_frame(void) {
	ooblex_fair_queue q = { .workers = 8 };
	ooblex_fair_client c = client(0, 10, 400);
	c.over_budget = 1;
	ooblex_fair_share_compute(&q, 1, &c, 1, MAX_IN_FLIGHT);
	EXPECT_EQ(c.reason, OOBLEX_FAIR_OVER_BUDGET);
	EXPECT_EQ(c.max_in_flight, 1);
	EXPECT_EQ(c.min_interval_us, 400000);
	EXPECT(!strcmp(ooblex_fair_reason_name(c.reason), "over_budget"));
}

/* The configured limit bounds every cap. */
static void test_caps_stay_within_the_limit(void) {
	ooblex_fair_queue q = { .workers = 50 };
	ooblex_fair_client c = client(0, 30, 5000);
	ooblex_fair_share_compute(&q, 1, &c, 1, 4);
	EXPECT_EQ(c.max_in_flight, 4);
}

static void test_admission(void) {
	ooblex_admission_input in = {
		.cpu_busy = 0.5, .cpus = 2, .cpu_limit_percent = 90,
		.fleet_workers = 3, .fleet_demand = 1, .fleet_limit_percent = 100,
		.frame_skip = 3, .max_frame_skip = 30,
	};
	unsigned skip = 0;
	EXPECT_EQ(ooblex_admission_decide(&in, &skip), OOBLEX_ADMIT);
	EXPECT_EQ(skip, 3);
	/* The fleet is spoken for: half as often, or less the further past. */
	in.fleet_demand = 3.1;
	EXPECT_EQ(ooblex_admission_decide(&in, &skip), OOBLEX_ADMIT_DEGRADED);
	EXPECT_EQ(skip, 6);
	in.fleet_demand = 15;
	EXPECT_EQ(ooblex_admission_decide(&in, &skip), OOBLEX_ADMIT_DEGRADED);
	EXPECT_EQ(skip, 15);
	in.max_frame_skip = 10;
	EXPECT_EQ(ooblex_admission_decide(&in, &skip), OOBLEX_ADMIT_DEGRADED);
	EXPECT_EQ(skip, 10);
	in.frame_skip = 10;	/* already at the bound: nothing to degrade to */
	EXPECT_EQ(ooblex_admission_decide(&in, &skip), OOBLEX_ADMIT);
	EXPECT_EQ(skip, 10);
	/* No CPU left: refused, whatever the fleet. */
	in.cpu_busy = 1.85;
	EXPECT_EQ(ooblex_admission_decide(&in, &skip), OOBLEX_ADMIT_REFUSED);
	in.cpu_limit_percent = 0;
	in.fleet_limit_percent = 0;
	EXPECT_EQ(ooblex_admission_decide(&in, &skip), OOBLEX_ADMIT);
}

int main(void) {
	TEST_RUN(test_a_slow_client_leaves_a_worker_to_the_fast_one);
	TEST_RUN(test_alone_a_slow_client_gets_every_worker);
	TEST_RUN(test_clients_that_fit_are_left_alone);
	TEST_RUN(test_heavy_clients_split_the_workers);
	TEST_RUN(test_more_heavy_clients_than_workers_are_spaced);
	TEST_RUN(test_other_plugins_clients_count);
	TEST_RUN(test_queues_are_separate);
	TEST_RUN(test_unknown_fleet_and_unmeasured_clients);
	TEST_RUN(test_over_budget_holds_one_frame);
	TEST_RUN(test_caps_stay_within_the_limit);
	TEST_RUN(test_admission);
	return tl_done();
}
