/*
 * test_sampling.c - FRAME_SKIP sampling, deferral under load, and the
 * per-stage latency and rate statistics.
 */
#include "testlib.h"
#include "frame_sampler.h"
#include "stage_stats.h"

static void test_every_third_frame(void) {
	ooblex_sampler s;
	ooblex_sampler_init(&s, 3);
	char taken[13] = { 0 };
	for(int i = 0; i < 12; i++)
		taken[i] = ooblex_sampler_take(&s) ? 'x' : '.';
	EXPECT(strcmp(taken, "x..x..x..x..") == 0);	/* frames 1, 4, 7, 10 */
}

static void test_skip_changes_apply_at_once(void) {
	ooblex_sampler s;
	ooblex_sampler_init(&s, 10);
	EXPECT_EQ(ooblex_sampler_take(&s), 1);
	EXPECT_EQ(ooblex_sampler_take(&s), 0);
	ooblex_sampler_set_skip(&s, 1);	/* from 10 to every frame: no 8-frame wait */
	EXPECT_EQ(ooblex_sampler_take(&s), 1);
	EXPECT_EQ(ooblex_sampler_take(&s), 1);
	ooblex_sampler_set_skip(&s, 0);	/* nonsense means every frame, not a division by zero */
	EXPECT_EQ(ooblex_sampler_take(&s), 1);
}

static void test_deferred_frame_goes_to_the_next(void) {
	ooblex_sampler s;
	ooblex_sampler_init(&s, 3);
	EXPECT_EQ(ooblex_sampler_take(&s), 1);	/* frame 1: due, but workers are full */
	ooblex_sampler_defer(&s);
	EXPECT_EQ(ooblex_sampler_take(&s), 1);	/* frame 2 takes its place */
	EXPECT_EQ(ooblex_sampler_take(&s), 0);	/* and the cadence restarts from there */
	EXPECT_EQ(ooblex_sampler_take(&s), 0);
	EXPECT_EQ(ooblex_sampler_take(&s), 1);
}

static void test_stage_percentiles(void) {
	static ooblex_stage_stats st;
	ooblex_stage_stats_init(&st);
	uint64_t t = 1700000000000000ull;
	/* 100 frames: worker time 1..100 ms, everything else 1 ms per stage. */
	for(int i = 1; i <= 100; i++) {
		uint64_t c = t + (uint64_t)i * 33000;
		ooblex_stage_stats_add(&st, c, c + 1000, c + 2000, c + 2000 + (uint64_t)i * 1000,
			c + 3000 + (uint64_t)i * 1000, c + 4000 + (uint64_t)i * 1000);
	}
	ooblex_stage_summary w, d, tot;
	ooblex_stage_stats_summary(&st, OOBLEX_STAGE_WORKER, &w);
	ooblex_stage_stats_summary(&st, OOBLEX_STAGE_DECODE, &d);
	ooblex_stage_stats_summary(&st, OOBLEX_STAGE_TOTAL, &tot);
	EXPECT_EQ(w.samples, 100);
	EXPECT(w.p50_ms >= 49.9 && w.p50_ms <= 51.1);
	EXPECT(w.p95_ms >= 94.9 && w.p95_ms <= 96.1);
	EXPECT(w.max_ms > 99.9 && w.max_ms < 100.1);
	EXPECT(d.p50_ms > 0.99 && d.max_ms < 1.01);
	EXPECT(tot.max_ms > 103.9 && tot.max_ms < 104.1);
	EXPECT(strcmp(ooblex_stage_name(OOBLEX_STAGE_QUEUE), "queue") == 0);
}

static void test_window_is_bounded(void) {
	static ooblex_stage_stats st;
	ooblex_stage_stats_init(&st);
	for(int i = 0; i < 1000; i++)
		ooblex_stage_stats_add(&st, 1000, 1000 + (uint64_t)(i < 900 ? 50000 : 1000), 0, 0, 0, 2000000);
	ooblex_stage_summary d;
	ooblex_stage_stats_summary(&st, OOBLEX_STAGE_DECODE, &d);
	EXPECT_EQ(d.samples, OOBLEX_STAGE_WINDOW);
	EXPECT(d.p50_ms < 1.01);	/* only the last 128 frames count */
}

static void test_clock_skew_does_not_wrap(void) {
	static ooblex_stage_stats st;
	ooblex_stage_stats_init(&st);
	/* A worker's clock a little behind the plugin's: no 4294-second stage. */
	ooblex_stage_stats_add(&st, 5000, 6000, 5990, 7000, 8000, 9000);
	ooblex_stage_summary q;
	ooblex_stage_stats_summary(&st, OOBLEX_STAGE_QUEUE, &q);
	EXPECT(q.max_ms == 0.0);
}

static void test_effective_fps(void) {
	static ooblex_stage_stats st;
	ooblex_stage_stats_init(&st);
	uint64_t base = 100ull * 1000000;	/* second 100 */
	for(int i = 0; i < 30; i++)
		ooblex_stage_stats_add(&st, 0, 0, 0, 0, 0, base + (uint64_t)i * 33000);
	for(int i = 0; i < 10; i++)
		ooblex_stage_stats_add(&st, 0, 0, 0, 0, 0, base + 1000000 + (uint64_t)i * 100000);
	EXPECT_EQ(ooblex_stage_stats_fps(&st, base + 1500000), 30);	/* second 100 was whole: 30 */
	EXPECT_EQ(ooblex_stage_stats_fps(&st, base + 2100000), 10);	/* second 101 is over: 10 */
	EXPECT_EQ(ooblex_stage_stats_fps(&st, base + 5000000), 0);	/* nothing for a while */
}

int main(void) {
	TEST_RUN(test_every_third_frame);
	TEST_RUN(test_skip_changes_apply_at_once);
	TEST_RUN(test_deferred_frame_goes_to_the_next);
	TEST_RUN(test_stage_percentiles);
	TEST_RUN(test_window_is_bounded);
	TEST_RUN(test_clock_skew_does_not_wrap);
	TEST_RUN(test_effective_fps);
	return tl_done();
}
