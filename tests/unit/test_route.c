/*
 * test_route.c - which queue a frame's effect sends it to.
 */
#include "testlib.h"
#include "ooblex_keys.h"
#include "ooblex_route.h"

static const char *const routes[] = { "faces", "threshold" };
static char q[OOBLEX_KEY_MAX];

static int route(const char *effect) {
	return ooblex_route_queue(effect, routes, 2, q, sizeof(q));
}

static void test_core_effects_use_the_default_queue(void) {
	EXPECT_EQ(route("invert"), 0);
	EXPECT(!strcmp(q, "frames_to_process"));
	EXPECT_EQ(route("blur:sigma=3|grayscale"), 0);
	EXPECT_EQ(route(""), 0);
	EXPECT(!strcmp(q, "frames_to_process"));
}

static void test_routed_effects_use_their_queue(void) {
	EXPECT_EQ(route("faces"), 1);
	EXPECT(!strcmp(q, "frames_to_process:faces"));
	EXPECT_EQ(route("faces:min_size=40"), 1);
	EXPECT(!strcmp(q, "frames_to_process:faces"));
	/* The first routed effect of a chain decides. */
	EXPECT_EQ(route("blur|threshold:level=90|faces"), 1);
	EXPECT(!strcmp(q, "frames_to_process:threshold"));
}

static void test_names_are_matched_whole(void) {
	EXPECT_EQ(route("facesx"), 0);
	EXPECT_EQ(route("face"), 0);
	/* Inside an ffmpeg: graph, nothing is an effect name. */
	EXPECT_EQ(route("ffmpeg:hflip|faces"), 0);
	EXPECT_EQ(route("blur|ffmpeg:format=yuv420p|faces"), 0);
}

static void test_no_routes_known(void) {
	EXPECT_EQ(ooblex_route_queue("faces", routes, 0, q, sizeof(q)), 0);
	EXPECT(!strcmp(q, "frames_to_process"));
}

static int collect(const char *name, size_t len, void *user) {
	char *out = user;
	strncat(out, name, len);
	strcat(out, ",");
	return 0;
}

static void test_effect_names(void) {
	char names[128] = "";
	ooblex_effect_names("blur:sigma=2|grayscale|ffmpeg:hflip,format=a|b", collect, names);
	EXPECT(!strcmp(names, "blur,grayscale,ffmpeg,"));
}

int main(void) {
	TEST_RUN(test_core_effects_use_the_default_queue);
	TEST_RUN(test_routed_effects_use_their_queue);
	TEST_RUN(test_names_are_matched_whole);
	TEST_RUN(test_no_routes_known);
	TEST_RUN(test_effect_names);
	return tl_done();
}
