/*
 * test_metrics.c - the plugin's metrics.
 *
 * Latency figures from timestamps nobody vouches for: far apart, reversed or
 * absurd timestamps in a result must give clamped figures, never an
 * out-of-range conversion (run under UBSan by tests/run.sh).
 *
 * The counter table (counters.h): one row per counter, names unique in each
 * view, the names readers use (tests/e2e, the Grafana dashboard, docs) still
 * there, the JSON and Prometheus text of known snapshots, totals that
 * survive restarts and departures without ever going down, and docs/api.md's
 * table as generated:
 *   tests/unit/test_metrics --print-counters-md   prints the table for the docs.
 */
#include "testlib.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>

#include "counters.h"
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

/* ------------------------------------------------------- the counter table */

static void test_every_counter_has_a_complete_row(void) {
	for(int c = 0; c < OOBLEX_C_COUNT; c++) {
		const ooblex_counter_def *d = &ooblex_counters[c];
		/* A counter added to the enum without a row has all of these zero. */
		EXPECT(d->stats != NULL && d->stats[0] != '\0');
		EXPECT(d->total != NULL && d->total[0] != '\0');
		EXPECT(d->help != NULL && strlen(d->help) > 10 && strchr(d->help, '|') == NULL);
		EXPECT(d->family >= OOBLEX_FAMILY_NONE && d->family < OOBLEX_FAMILY_COUNT);
		EXPECT((d->family == OOBLEX_FAMILY_NONE) == (d->label_value == NULL));
		/* A sum adds up counters that are no sums themselves, and restarts as they do. */
		for(int p = 0; p < OOBLEX_C_COUNT; p++)
			if(d->sum_of & OOBLEX_COUNTER_BIT(p)) {
				EXPECT(p != c && ooblex_counters[p].sum_of == 0);
				EXPECT(ooblex_counters[p].restarts == d->restarts);
			}
		EXPECT(d->sum_of >> OOBLEX_C_COUNT == 0);
		if(tl_case_failed) {
			printf("#   row %d (%s)\n", c, d->stats ? d->stats : "no row");
			return;
		}
	}
	for(int f = OOBLEX_FAMILY_NONE + 1; f < OOBLEX_FAMILY_COUNT; f++)
		EXPECT(ooblex_counter_families[f].metric != NULL && ooblex_counter_families[f].label != NULL &&
			ooblex_counter_families[f].help != NULL && g_str_has_suffix(ooblex_counter_families[f].metric, "_total"));
}

/* Two paths clash when equal or when one is an object on the other's way. */
static int paths_clash(const char *a, const char *b) {
	size_t la = strlen(a), lb = strlen(b);
	if(la > lb)
		return paths_clash(b, a);
	return strncmp(a, b, la) == 0 && (b[la] == '\0' || b[la] == '.');
}

static void test_names_are_unique(void) {
	for(int a = 0; a < OOBLEX_C_COUNT; a++)
		for(int b = a + 1; b < OOBLEX_C_COUNT; b++) {
			const ooblex_counter_def *x = &ooblex_counters[a], *y = &ooblex_counters[b];
			if(paths_clash(x->stats, y->stats) || paths_clash(x->total, y->total) ||
					(x->family != OOBLEX_FAMILY_NONE && x->family == y->family &&
					 strcmp(x->label_value, y->label_value) == 0)) {
				tl_case_failed = 1;
				printf("#   rows %s and %s share a name\n", x->stats, y->stats);
			}
		}
	/* The plugin adds this one to the drops itself (the producer's count). */
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		EXPECT(!(ooblex_counters[c].family == OOBLEX_FAMILY_DROPPED &&
			strcmp(ooblex_counters[c].label_value, "redis_error") == 0));
}

static const ooblex_counter_def *row_at(const char *path, int totals) {
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		if(strcmp(totals ? ooblex_counters[c].total : ooblex_counters[c].stats, path) == 0)
			return &ooblex_counters[c];
	return NULL;
}

static const ooblex_counter_def *row_in(ooblex_counter_family f, const char *value) {
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		if(ooblex_counters[c].family == f && strcmp(ooblex_counters[c].label_value, value) == 0)
			return &ooblex_counters[c];
	return NULL;
}

/* What readers outside the plugin use: renaming one of these breaks them. */
static void test_names_readers_use_are_kept(void) {
	/* tests/e2e/e2e.js, flood.js and docs/api.md read these in a session's stats. */
	static const char *stats[] = { "frames.packets_received", "frames.assembled", "frames.decoded",
		"frames.decode_errors", "frames.sampled", "frames.deferred_in_flight", "frames.queued",
		"frames.dropped_queue_full", "frames.results", "frames.results_malformed", "frames.results_error",
		"frames.errors_resolved", "frames.sent", "frames.dropped_channel", "frames.dropped_backpressure",
		"frames.bad_acks", "frames.data_ready_events", "frames.results_refused.unexpected",
		"reorder.delivered", "reorder.late", "reorder.duplicates", "reorder.skipped" };
	for(size_t i = 0; i < G_N_ELEMENTS(stats); i++)
		if(row_at(stats[i], 0) == NULL) {
			tl_case_failed = 1;
			printf("#   no stats counter %s\n", stats[i]);
		}
	/* The Admin API's totals before the table (tests/e2e/e2e.js reads frames_sent). */
	static const char *totals[] = { "frames_queued", "frames_dropped_queue_full", "results", "results_malformed",
		"results_error", "frames_sent", "results_refused.oversized", "results_refused.malformed",
		"results_refused.picture_too_big", "results_refused.unsigned", "results_refused.bad_mac",
		"results_refused.unexpected" };
	for(size_t i = 0; i < G_N_ELEMENTS(totals); i++)
		if(row_at(totals[i], 1) == NULL) {
			tl_case_failed = 1;
			printf("#   no totals counter %s\n", totals[i]);
		}
	/* The Grafana dashboard and tests/e2e/run.sh. */
	EXPECT(row_in(OOBLEX_FAMILY_FRAMES, "in") == &ooblex_counters[OOBLEX_C_FRAMES_DECODED]);
	EXPECT(row_in(OOBLEX_FAMILY_FRAMES, "sampled") == &ooblex_counters[OOBLEX_C_FRAMES_SAMPLED]);
	EXPECT(row_in(OOBLEX_FAMILY_FRAMES, "processed") == &ooblex_counters[OOBLEX_C_RESULTS]);
	EXPECT(row_in(OOBLEX_FAMILY_FRAMES, "returned") == &ooblex_counters[OOBLEX_C_FRAMES_SENT]);
	EXPECT(row_in(OOBLEX_FAMILY_RTP_PACKETS, "received") == &ooblex_counters[OOBLEX_C_PACKETS_RECEIVED]);
	EXPECT_EQ(strcmp(ooblex_counter_families[OOBLEX_FAMILY_FRAMES].metric, "ooblex_frames_total"), 0);
	EXPECT_EQ(strcmp(ooblex_counter_families[OOBLEX_FAMILY_DROPPED].metric, "ooblex_frames_dropped_total"), 0);
	EXPECT_EQ(strcmp(ooblex_counter_families[OOBLEX_FAMILY_RTP_PACKETS].metric, "ooblex_rtp_packets_total"), 0);
	/* A deferral is not a drop. */
	EXPECT(ooblex_counters[OOBLEX_C_FRAMES_DEFERRED].family == OOBLEX_FAMILY_DEFERRED);
	EXPECT(row_in(OOBLEX_FAMILY_DROPPED, "in_flight_limit") == NULL);
}

static long long json_at(json_t *root, const char *path) {
	gchar **parts = g_strsplit(path, ".", -1);
	json_t *at = root;
	for(int i = 0; parts[i] != NULL && at != NULL; i++)
		at = json_object_get(at, parts[i]);
	g_strfreev(parts);
	return json_is_integer(at) ? (long long)json_integer_value(at) : -1;
}

/* A snapshot in which every counter has a value of its own. */
static void known_snapshot(uint64_t v[OOBLEX_C_COUNT], uint64_t base) {
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		v[c] = base + 10u * (uint64_t)c;
	ooblex_counters_derive(v);
}

static void test_stats_json_of_a_known_snapshot(void) {
	uint64_t v[OOBLEX_C_COUNT];
	known_snapshot(v, 1);
	json_t *info = json_object();
	ooblex_counters_json(info, OOBLEX_VIEW_STATS, v);
	EXPECT_EQ(json_object_size(info), 2);	/* "frames" and "reorder" */
	EXPECT_EQ(json_at(info, "frames.packets_received"), 1 + 10 * OOBLEX_C_PACKETS_RECEIVED);
	EXPECT_EQ(json_at(info, "frames.deferred_in_flight"), 1 + 10 * OOBLEX_C_FRAMES_DEFERRED);
	EXPECT_EQ(json_at(info, "frames.sent"), 1 + 10 * OOBLEX_C_FRAMES_SENT);
	EXPECT_EQ(json_at(info, "frames.results_refused.bad_mac"), 1 + 10 * OOBLEX_C_REFUSED_BAD_MAC);
	EXPECT_EQ(json_object_size(json_object_get(json_object_get(info, "frames"), "results_refused")), 6);
	EXPECT_EQ(json_at(info, "reorder.skipped"), 1 + 10 * OOBLEX_C_REORDER_SKIPPED);
	/* The sums are the sums of their parts. */
	EXPECT_EQ(json_at(info, "frames.results_malformed"), json_at(info, "frames.results_refused.oversized") +
		json_at(info, "frames.results_refused.malformed") + json_at(info, "frames.results_refused.picture_too_big"));
	EXPECT_EQ(json_at(info, "frames.results_unauthenticated"), json_at(info, "frames.results_refused.unsigned") +
		json_at(info, "frames.results_refused.bad_mac"));
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		EXPECT_EQ(json_at(info, ooblex_counters[c].stats), v[c]);
	json_decref(info);
	json_t *totals = json_object();
	ooblex_counters_json(totals, OOBLEX_VIEW_TOTALS, v);
	EXPECT_EQ(json_at(totals, "frames_sent"), 1 + 10 * OOBLEX_C_FRAMES_SENT);
	EXPECT_EQ(json_at(totals, "frames_deferred_in_flight"), 1 + 10 * OOBLEX_C_FRAMES_DEFERRED);
	EXPECT_EQ(json_at(totals, "results_refused.unexpected"), 1 + 10 * OOBLEX_C_REFUSED_UNEXPECTED);
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		EXPECT_EQ(json_at(totals, ooblex_counters[c].total), v[c]);
	json_decref(totals);
}

/* The value of one series in Prometheus text, or -1. */
static long long prom_value(const char *text, const char *series) {
	gchar *needle = g_strdup_printf("\n%s ", series);
	const char *at = strstr(text, needle);
	long long v = at ? strtoll(at + strlen(needle), NULL, 10) : -1;
	g_free(needle);
	return v;
}

static void test_totals_survive_restarts_and_departures(void) {
	gchar *dir = g_dir_make_tmp("ooblex-metrics-XXXXXX", NULL);
	REQUIRE(dir != NULL);
	ooblex_plugin_metrics *m = ooblex_plugin_metrics_new(dir, "test");
	REQUIRE(m != NULL && ooblex_plugin_metrics_path(m) != NULL);
	ooblex_counter_tracker a = { { 0 } }, b = { { 0 } };
	uint64_t run1[OOBLEX_C_COUNT], run2[OOBLEX_C_COUNT], other[OOBLEX_C_COUNT], t[OOBLEX_C_COUNT],
		last[OOBLEX_C_COUNT] = { 0 };
	/* Session a runs, and restarts: what restarts is smaller than before. */
	known_snapshot(run1, 100);
	ooblex_plugin_metrics_accumulate(m, &a, run1);
	ooblex_plugin_metrics_totals(m, t);
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		EXPECT_EQ(t[c], run1[c]);
	memcpy(last, t, sizeof(t));
	ooblex_counter_tracker_restart(&a);
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		run2[c] = ooblex_counters[c].restarts ? 3 : run1[c] + 5;
	ooblex_counters_derive(run2);
	ooblex_plugin_metrics_accumulate(m, &a, run2);
	ooblex_plugin_metrics_totals(m, t);
	for(int c = 0; c < OOBLEX_C_COUNT; c++) {
		EXPECT(t[c] >= last[c]);
		EXPECT_EQ(t[c], ooblex_counters[c].restarts ? run1[c] + run2[c] : run2[c]);
	}
	memcpy(last, t, sizeof(t));
	/* Session b comes, is counted, and leaves: its counts stay. */
	known_snapshot(other, 7);
	ooblex_plugin_metrics_accumulate(m, &b, other);
	ooblex_plugin_metrics_accumulate(m, &a, run2);	/* nothing new */
	ooblex_plugin_metrics_totals(m, t);
	for(int c = 0; c < OOBLEX_C_COUNT; c++) {
		EXPECT(t[c] >= last[c]);
		EXPECT_EQ(t[c], last[c] + other[c]);
	}
	/* Prometheus says what the totals say: the same numbers by construction. */
	ooblex_plugin_gauges g;
	memset(&g, 0, sizeof(g));
	g.redis_dropped_error = 4;
	EXPECT_EQ(ooblex_plugin_metrics_write(m, &g), 0);
	gchar *text = NULL;
	EXPECT(g_file_get_contents(ooblex_plugin_metrics_path(m), &text, NULL, NULL));
	for(int c = 0; text != NULL && c < OOBLEX_C_COUNT; c++) {
		const ooblex_counter_def *d = &ooblex_counters[c];
		if(d->family == OOBLEX_FAMILY_NONE)
			continue;
		const ooblex_counter_family_def *f = &ooblex_counter_families[d->family];
		gchar *series = g_strdup_printf("%s{instance_name=\"test\",%s=\"%s\"}", f->metric, f->label, d->label_value);
		EXPECT_EQ(prom_value(text, series), t[c]);
		g_free(series);
	}
	EXPECT_EQ(prom_value(text, "ooblex_frames_dropped_total{instance_name=\"test\",reason=\"redis_error\"}"), 4);
	EXPECT_EQ(prom_value(text, "ooblex_frames_deferred_total{instance_name=\"test\",reason=\"in_flight_limit\"}"),
		t[OOBLEX_C_FRAMES_DEFERRED]);
	/* Each family once, its series together (the text format's rule). */
	for(int f = OOBLEX_FAMILY_NONE + 1; text != NULL && f < OOBLEX_FAMILY_COUNT; f++) {
		gchar *type = g_strdup_printf("# TYPE %s counter\n", ooblex_counter_families[f].metric);
		const char *at = strstr(text, type);
		EXPECT(at != NULL && strstr(at + 1, type) == NULL);
		g_free(type);
	}
	g_free(text);
	ooblex_plugin_metrics_remove(m);
	ooblex_plugin_metrics_free(m);
	g_rmdir(dir);
	g_free(dir);
}

#define DOCS_BEGIN "<!-- counters: made by tests/unit/test_metrics --print-counters-md; edit plugin/metrics/counters.c -->\n"
#define DOCS_END "<!-- end of counters -->\n"

static void test_docs_table_is_the_generated_one(void) {
	gchar *docs = NULL;
	REQUIRE(g_file_get_contents(SRCDIR "/docs/api.md", &docs, NULL, NULL));
	const char *begin = strstr(docs, DOCS_BEGIN), *end = begin ? strstr(begin, DOCS_END) : NULL;
	EXPECT(begin != NULL && end != NULL);
	if(begin != NULL && end != NULL) {
		begin += strlen(DOCS_BEGIN);
		char *made = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&made, &len);
		ooblex_counters_markdown(f);
		fclose(f);
		int same = (size_t)(end - begin) == len && memcmp(begin, made, len) == 0;
		EXPECT(same);
		if(!same)
			printf("#   docs/api.md's counter table is not the table's: replace it with what\n"
				"#   tests/unit/test_metrics --print-counters-md prints\n");
		free(made);
	}
	g_free(docs);
}

int main(int argc, char **argv) {
	if(argc == 2 && strcmp(argv[1], "--print-counters-md") == 0) {
		ooblex_counters_markdown(stdout);
		return 0;
	}
	TEST_RUN(test_histogram_clamps);
	TEST_RUN(test_plugin_metrics_extreme_timestamps);
	TEST_RUN(test_every_counter_has_a_complete_row);
	TEST_RUN(test_names_are_unique);
	TEST_RUN(test_names_readers_use_are_kept);
	TEST_RUN(test_stats_json_of_a_known_snapshot);
	TEST_RUN(test_totals_survive_restarts_and_departures);
	TEST_RUN(test_docs_table_is_the_generated_one);
	return tl_done();
}
