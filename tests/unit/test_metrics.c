/*
 * test_metrics.c - latency figures from timestamps nobody vouches for: far
 * apart, reversed or absurd timestamps in a result must give clamped
 * figures, never an out-of-range conversion (run under UBSan by tests/run.sh).
 */
#include "testlib.h"

#include "ooblex_prom.h"
#include "plugin_metrics.h"
#include "stage_stats.h"

static const double bounds[] = { 0.001, 0.01, 0.1, 1 };

static void test_histogram_clamps(void) {
	ooblex_prom_hist h;
	ooblex_prom_hist_init(&h, bounds, 4);
	ooblex_prom_hist_observe(&h, 1.8e13);	/* UINT64_MAX µs, as seconds */
	ooblex_prom_hist_observe(&h, 1e300);
	ooblex_prom_hist_observe(&h, 1.0 / 0.0);
	ooblex_prom_hist_observe(&h, -1e300);
	ooblex_prom_hist_observe(&h, 0.0 / 0.0);
	EXPECT_EQ(atomic_load(&h.count), 5);
	/* Three clamped to a day, two to zero. */
	EXPECT(atomic_load(&h.sum_ns) == (uint64_t)(3 * OOBLEX_PROM_MAX_OBSERVED_S * 1e9));
	EXPECT_EQ(atomic_load(&h.counts[0]), 2);
}

static void test_plugin_metrics_extreme_timestamps(void) {
	ooblex_plugin_metrics *m = ooblex_plugin_metrics_new(NULL, "test");
	REQUIRE(m != NULL);
	/* A result whose stamps span the whole 64-bit range, in every order. */
	ooblex_plugin_metrics_observe(m, 1, UINT64_MAX, 1, UINT64_MAX, 1, UINT64_MAX);
	ooblex_plugin_metrics_observe(m, UINT64_MAX, 1, UINT64_MAX, 1, UINT64_MAX, 1);
	ooblex_plugin_metrics_observe(m, 1, 2, UINT64_MAX - 1, UINT64_MAX, UINT64_MAX, UINT64_MAX);
	ooblex_plugin_metrics_free(m);
	ooblex_stage_stats s;
	ooblex_stage_stats_init(&s);
	ooblex_stage_stats_add(&s, 1, UINT64_MAX, 1, UINT64_MAX, 1, UINT64_MAX);
	ooblex_stage_stats_add(&s, UINT64_MAX, 1, UINT64_MAX, 1, UINT64_MAX, 1);
	ooblex_stage_summary sum;
	ooblex_stage_stats_summary(&s, OOBLEX_STAGE_TOTAL, &sum);
	EXPECT_EQ(sum.samples, 2);
	EXPECT(sum.max_ms <= UINT32_MAX / 1000.0 + 1);
	EXPECT(ooblex_stage_stats_fps(&s, UINT64_MAX) <= 2);
}

int main(void) {
	TEST_RUN(test_histogram_clamps);
	TEST_RUN(test_plugin_metrics_extreme_timestamps);
	return tl_done();
}
