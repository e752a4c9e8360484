/*
 * test_fleet_effects.c - which effect strings a fleet can run (the verdict
 * start and configure give), from registry entries as workers write them
 * (worker_liveness.c: heartbeat), and the per-session watch that tells a
 * page when that changes, at most once a second.
 */
#include <jansson.h>
#include <string.h>

#include "fleet_effects.h"
#include "testlib.h"

/* As worker_liveness.c writes them: a default worker (core and every routed
 * effect it has, with its models), a core-only one, a faces-only one. */
#define CORE_EFFECTS "\"none\",\"invert\",\"grayscale\",\"sepia\",\"mirror\",\"blur\",\"edges\",\"cartoon\",\"pixelate\",\"denoise\""
static const char *everything =
	"{\"id\":\"w1\",\"host\":\"h\",\"pid\":1,\"effects\":[" CORE_EFFECTS ",\"faces\",\"face_pixelate\",\"onnx\"],"
	"\"routes\":[\"faces\",\"face_pixelate\",\"onnx\"],\"queues\":[\"frames_to_process\",\"frames_to_process:faces\"],"
	"\"models\":{\"onnx\":[\"candy.onnx\",\"rotate_channels.onnx\"]},\"batch_size\":1,\"started\":1,\"frames_done\":0}";
static const char *core_only =
	"{\"id\":\"w2\",\"effects\":[" CORE_EFFECTS "],\"routes\":[],\"queues\":[\"frames_to_process\"]}";
static const char *faces_only =
	"{\"id\":\"w3\",\"effects\":[\"faces\"],\"routes\":[\"faces\"],\"queues\":[\"frames_to_process:faces\"]}";

static ooblex_fleet_verdict check(const char *const *entries, size_t n, const char *effect, char *why, size_t len) {
	ooblex_fleet_caps *c = ooblex_fleet_caps_new(entries, n);
	ooblex_fleet_verdict v = ooblex_fleet_caps_check(c, effect, why, len);
	ooblex_fleet_caps_unref(c);
	return v;
}

static void test_what_a_default_worker_runs(void) {
	const char *fleet[] = { everything };
	char why[512];
	const char *ok[] = { "invert", "blur:sigma=3|grayscale", "ffmpeg:hflip,vflip", "faces", "grayscale|faces:min_size=40",
		"onnx:candy.onnx", "onnx:rotate_channels.onnx:size=32x32", "face_pixelate|ffmpeg:lutyuv=y=255-val" };
	for(size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ooblex_fleet_verdict v = check(fleet, 1, ok[i], why, sizeof(why));
		if(v != OOBLEX_FLEET_RUNNABLE)
			printf("#   %s: %s\n", ok[i], why);
		EXPECT_EQ(v, OOBLEX_FLEET_RUNNABLE);
	}
}

static void test_refusals_say_what_is_live(void) {
	const char *fleet[] = { everything };
	char why[512];
	EXPECT_EQ(check(fleet, 1, "teleport", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT(strstr(why, "'teleport'") != NULL && strstr(why, "invert") != NULL && strstr(why, "faces") != NULL);
	EXPECT_EQ(check(fleet, 1, "blur|teleport:x=1", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT(strstr(why, "'teleport'") != NULL);
	/* A bare onnx names no model: nothing runs it. */
	EXPECT_EQ(check(fleet, 1, "onnx", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT(strstr(why, "needs a model") != NULL && strstr(why, "candy.onnx") != NULL);
	EXPECT_EQ(check(fleet, 1, "onnx:missing.onnx", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT(strstr(why, "'missing.onnx'") != NULL && strstr(why, "rotate_channels.onnx") != NULL);
	/* Paths are not model names. */
	EXPECT_EQ(check(fleet, 1, "onnx:../../etc/passwd", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT_EQ(check(fleet, 1, "onnx:/etc/x.onnx", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	/* "core" is a queue's name, not an effect. */
	EXPECT_EQ(check(fleet, 1, "core", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
}

static void test_models_for_list_effects(void) {
	const char *fleet[] = { everything, "{\"id\":\"w5\",\"effects\":[\"onnx\"],\"routes\":[\"onnx\"],"
		"\"models\":{\"onnx\":[\"candy.onnx\",\"mosaic.onnx\"]}}" };
	ooblex_fleet_caps *c = ooblex_fleet_caps_new(fleet, 2);
	json_t *m = ooblex_fleet_caps_models(c);
	char *text = json_dumps(m, JSON_COMPACT);
	EXPECT(!strcmp(text, "{\"onnx\":[\"candy.onnx\",\"rotate_channels.onnx\",\"mosaic.onnx\"]}"));
	printf("# models: %s\n", text);
	free(text);
	json_decref(m);
	ooblex_fleet_caps_unref(c);
	m = ooblex_fleet_caps_models(NULL);
	EXPECT(json_object_size(m) == 0);
	json_decref(m);
}

static void test_no_workers(void) {
	char why[512];
	EXPECT_EQ(ooblex_fleet_caps_check(NULL, "invert", why, sizeof(why)), OOBLEX_FLEET_NO_WORKERS);
	EXPECT(strstr(why, "No worker is alive") != NULL);
	EXPECT_EQ(check(NULL, 0, "invert", why, sizeof(why)), OOBLEX_FLEET_NO_WORKERS);
	/* Entries that do not parse are no workers. */
	const char *junk[] = { "{", "[]", "{\"effects\":5}", NULL };
	EXPECT_EQ(check(junk, 4, "invert", why, sizeof(why)), OOBLEX_FLEET_NO_WORKERS);
}

/* The routing rule: a chain goes to its first routed effect's queue, and a
 * worker there must run all of it. */
static void test_routes_decide_who_must_run_it(void) {
	char why[512];
	const char *faces_and_core[] = { faces_only, core_only };
	EXPECT_EQ(check(faces_and_core, 2, "invert", why, sizeof(why)), OOBLEX_FLEET_RUNNABLE);
	EXPECT_EQ(check(faces_and_core, 2, "grayscale|faces", why, sizeof(why)), OOBLEX_FLEET_RUNNABLE);
	EXPECT_EQ(check(faces_and_core, 2, "onnx:candy.onnx", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT(strstr(why, "'onnx'") != NULL);
	/* Only a faces worker: the core queue has nobody. */
	const char *faces[] = { faces_only };
	EXPECT_EQ(check(faces, 1, "faces", why, sizeof(why)), OOBLEX_FLEET_RUNNABLE);
	EXPECT_EQ(check(faces, 1, "invert", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT(strstr(why, "core effects") != NULL);
	/* Two routed effects no single worker has together. */
	const char *split[] = { faces_only, "{\"id\":\"w4\",\"effects\":[\"onnx\"],\"routes\":[\"onnx\"],\"models\":{\"onnx\":[\"a.onnx\"]}}" };
	EXPECT_EQ(check(split, 2, "faces|onnx:a.onnx", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT(strstr(why, "queue of 'faces'") != NULL);
}

/* A worker's text is not trusted: names outside the grammar, core effects
 * as routes, bad model names are left out. */
static void test_registry_text_is_filtered(void) {
	char why[512];
	const char *forged[] = { "{\"id\":\"x\",\"effects\":[\"Blur\",\"../x\",\"ok_name\",5],\"routes\":[\"invert\",\"ok_name\"],"
		"\"models\":{\"ok_name\":[\"../../etc/passwd\",\".hidden.onnx\",\"fine.onnx\"],\"BAD\":[\"a.onnx\"]}}" };
	EXPECT_EQ(check(forged, 1, "ok_name:fine.onnx", why, sizeof(why)), OOBLEX_FLEET_RUNNABLE);
	EXPECT_EQ(check(forged, 1, "ok_name:../../etc/passwd", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT_EQ(check(forged, 1, "ok_name:.hidden.onnx", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	/* No core effect announced: it takes no frames_to_process; "invert" as
	 * a route is refused, so invert has nobody. */
	EXPECT_EQ(check(forged, 1, "invert", why, sizeof(why)), OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT(strstr(why, "Blur") == NULL);
}

static void test_watch_tells_changes_once_a_second(void) {
	ooblex_fleet_watch w;
	ooblex_fleet_watch_init(&w);
	const char *one[] = { everything };
	ooblex_fleet_caps *up = ooblex_fleet_caps_new(one, 1), *down = ooblex_fleet_caps_new(NULL, 0);
	ooblex_fleet_verdict v = OOBLEX_FLEET_RUNNABLE;
	char why[512], effect[256];
	const int64_t s = 1000 * 1000;
	/* Not started (a configure before start sets nothing): nothing. */
	ooblex_fleet_watch_set_effect(&w, "teleport");
	EXPECT_EQ(ooblex_fleet_watch_step(&w, down, 1, 1 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_NOTHING);
	/* Started with workers: all well is not told. */
	ooblex_fleet_watch_start(&w, "invert");
	EXPECT_EQ(ooblex_fleet_watch_step(&w, up, 2, 2 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_NOTHING);
	/* The same look again: nothing, even without workers (it is not re-checked). */
	EXPECT_EQ(ooblex_fleet_watch_step(&w, up, 2, 2 * s + 10, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_NOTHING);
	/* All gone: told once. */
	EXPECT_EQ(ooblex_fleet_watch_step(&w, down, 3, 3 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_LOST);
	EXPECT_EQ(v, OOBLEX_FLEET_NO_WORKERS);
	EXPECT(!strcmp(effect, "invert"));
	EXPECT_EQ(ooblex_fleet_watch_step(&w, down, 4, 4 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_NOTHING);
	/* Back: told. */
	EXPECT_EQ(ooblex_fleet_watch_step(&w, up, 5, 5 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_BACK);
	/* A flap within the second: gone is held back, and back before the
	 * second is over is never told. */
	EXPECT_EQ(ooblex_fleet_watch_step(&w, down, 6, 5 * s + 300000, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_NOTHING);
	EXPECT_EQ(ooblex_fleet_watch_step(&w, up, 7, 5 * s + 600000, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_NOTHING);
	EXPECT_EQ(ooblex_fleet_watch_step(&w, up, 7, 7 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_NOTHING);
	/* Gone again, over a second after the last telling: told at once. A
	 * configure within the second to an effect they run: held, then told
	 * once the second is over (the same look, stepped again while pending). */
	EXPECT_EQ(ooblex_fleet_watch_step(&w, down, 8, 7 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_LOST);
	ooblex_fleet_watch_set_effect(&w, "onnx:candy.onnx");
	EXPECT_EQ(ooblex_fleet_watch_step(&w, up, 9, 7 * s + 500000, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_NOTHING);
	EXPECT_EQ(ooblex_fleet_watch_step(&w, up, 9, 8 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_BACK);
	EXPECT(!strcmp(effect, "onnx:candy.onnx"));
	/* configure to an effect the fleet cannot run (start/configure refuse
	 * it while workers live; with none they accept it): told as lost. */
	ooblex_fleet_watch_set_effect(&w, "onnx:other.onnx");
	EXPECT_EQ(ooblex_fleet_watch_step(&w, up, 9, 10 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_LOST);
	EXPECT_EQ(v, OOBLEX_FLEET_NOT_RUNNABLE);
	EXPECT(strstr(why, "other.onnx") != NULL);
	/* Stopped: nothing more; a new start with no workers is told at once. */
	ooblex_fleet_watch_stop(&w);
	EXPECT_EQ(ooblex_fleet_watch_step(&w, up, 10, 20 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_NOTHING);
	ooblex_fleet_watch_set_effect(&w, "onnx:candy.onnx");
	EXPECT_EQ(ooblex_fleet_watch_step(&w, down, 11, 20 * s, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_NOTHING);
	ooblex_fleet_watch_start(&w, "invert");
	EXPECT_EQ(ooblex_fleet_watch_step(&w, down, 11, 20 * s + 1, &v, why, sizeof(why), effect, sizeof(effect)), OOBLEX_FLEET_TELL_LOST);
	ooblex_fleet_caps_unref(up);
	ooblex_fleet_caps_unref(down);
	ooblex_fleet_watch_clear(&w);
}

int main(void) {
	TEST_RUN(test_what_a_default_worker_runs);
	TEST_RUN(test_refusals_say_what_is_live);
	TEST_RUN(test_models_for_list_effects);
	TEST_RUN(test_no_workers);
	TEST_RUN(test_routes_decide_who_must_run_it);
	TEST_RUN(test_registry_text_is_filtered);
	TEST_RUN(test_watch_tells_changes_once_a_second);
	return tl_done();
}
