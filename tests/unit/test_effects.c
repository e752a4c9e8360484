/*
 * test_effects.c - every effect on known images, checking the pixels.
 */
#include "testlib.h"
#include <math.h>
#include <libavutil/log.h>
#include "effects.h"
#include "ooblex_wire.h"

#define W 64
#define H 48
#define YSZ (W * H)
#define CSZ ((W / 2) * (H / 2))
#define FSZ (YSZ + 2 * CSZ)

static ooblex_effects *fx;
static uint8_t in[FSZ], out[FSZ], out2[FSZ];
static char err[256];

static void fill(uint8_t y, uint8_t u, uint8_t v) {
	memset(in, y, YSZ);
	memset(in + YSZ, u, CSZ);
	memset(in + YSZ + CSZ, v, CSZ);
}

static int apply(const char *effect, uint8_t *dst) {
	int rc = ooblex_effects_apply(fx, effect, OOBLEX_PIXFMT_I420, in, W, H, dst, err, sizeof(err));
	if(rc < 0)
		printf("#   %s: %s\n", effect, err);
	return rc;
}

static double mean(const uint8_t *p, int n) {
	double s = 0;
	for(int i = 0; i < n; i++)
		s += p[i];
	return s / n;
}

static void test_invert(void) {
	fill(100, 90, 200);
	REQUIRE(apply("invert", out) == 0);
	EXPECT_EQ(out[0], 151);	/* 251 - 100: limited-range inversion */
	EXPECT_EQ(out[YSZ], 166);	/* 256 - 90 */
	EXPECT_EQ(out[YSZ + CSZ], 56);
}

static void test_grayscale(void) {
	fill(120, 40, 220);
	REQUIRE(apply("grayscale", out) == 0);
	EXPECT_EQ(out[5], 120);
	EXPECT_EQ(out[YSZ + 3], 128);
	EXPECT_EQ(out[YSZ + CSZ + 3], 128);
}

static void test_sepia(void) {
	fill(128, 128, 128);	/* mid gray */
	REQUIRE(apply("sepia", out) == 0);
	EXPECT(out[YSZ] < 124);	/* less blue */
	EXPECT(out[YSZ + CSZ] > 132);	/* more red: warm */
}

static void test_mirror(void) {
	fill(0, 128, 128);
	for(int y = 0; y < H; y++)
		for(int x = 0; x < W; x++)
			in[y * W + x] = (uint8_t)(16 + x * 3);
	REQUIRE(apply("mirror", out) == 0);
	EXPECT_EQ(out[0], 16 + (W - 1) * 3);
	EXPECT_EQ(out[W - 1], 16);
	EXPECT_EQ(out[10 * W + 20], 16 + (W - 1 - 20) * 3);
}

static void test_blur_spreads_more_with_more_sigma(void) {
	fill(16, 128, 128);
	in[24 * W + 32] = 235;	/* one bright dot */
	REQUIRE(apply("blur:sigma=1", out) == 0);
	REQUIRE(apply("blur:sigma=4", out2) == 0);
	EXPECT(out[24 * W + 32] < 235 && out[24 * W + 33] > 16);	/* spread out */
	EXPECT(out2[24 * W + 32] < out[24 * W + 32]);	/* more sigma, more spread */
}

static void test_blur_refuses_bad_parameters(void) {
	fill(16, 128, 128);
	EXPECT(ooblex_effects_apply(fx, "blur:sigma=abc", OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0);
	EXPECT(strstr(err, "sigma") != NULL);
	EXPECT(ooblex_effects_apply(fx, "blur:sigma=1e9", OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0);
	EXPECT(ooblex_effects_apply(fx, "blur:radius=3", OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0);
	EXPECT(strstr(err, "unknown parameter") != NULL);
	/* Nothing but a number reaches the graph. */
	EXPECT(ooblex_effects_apply(fx, "blur:sigma=1,movie=x", OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0);
}

static void test_edges(void) {
	fill(100, 128, 128);
	REQUIRE(apply("edges", out) == 0);
	EXPECT(mean(out, YSZ) < 20);	/* flat: no edges */
	for(int y = 0; y < H; y++)
		for(int x = W / 2; x < W; x++)
			in[y * W + x] = 220;	/* a vertical step in the middle */
	REQUIRE(apply("edges", out) == 0);
	EXPECT(out[20 * W + W / 2] > 200 || out[20 * W + W / 2 - 1] > 200);
	EXPECT(out[20 * W + 5] < 20);
	EXPECT_EQ(out[YSZ + 7], 128);	/* edges carry no colour */
}

static void test_pixelate(void) {
	fill(0, 128, 128);
	for(int i = 0; i < YSZ; i++)
		in[i] = (uint8_t)(16 + (i * 7) % 200);
	REQUIRE(apply("pixelate:size=8", out) == 0);
	int uniform = 1;
	for(int by = 0; by < H; by += 8)
		for(int bx = 0; bx < W; bx += 8)
			for(int y = by; y < by + 8; y++)
				for(int x = bx; x < bx + 8; x++)
					uniform &= out[y * W + x] == out[by * W + bx];
	EXPECT(uniform);
}

static void test_denoise(void) {
	fill(120, 128, 128);
	unsigned seed = 7;
	for(int i = 0; i < YSZ; i++)
		in[i] = (uint8_t)(120 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 21 - 10);
	double var_in = 0, var_out = 0;
	REQUIRE(apply("denoise:strength=20", out) == 0);
	for(int i = 0; i < YSZ; i++) {
		var_in += (in[i] - 120.0) * (in[i] - 120.0);
		var_out += (out[i] - 120.0) * (out[i] - 120.0);
	}
	printf("# denoise: noise variance %.1f -> %.1f\n", var_in / YSZ, var_out / YSZ);
	EXPECT(var_out < var_in * 0.75);
}

static void test_cartoon(void) {
	fill(0, 100, 150);
	for(int i = 0; i < YSZ; i++)
		in[i] = (uint8_t)(16 + (i % W) * 3);
	REQUIRE(apply("cartoon", out) == 0);
	/* Flattened into bands: far fewer distinct luma values than the gradient. */
	int seen[256] = { 0 }, distinct = 0;
	for(int x = 4; x < W - 4; x++)
		if(!seen[out[20 * W + x]]++)
			distinct++;
	EXPECT(distinct <= 12);
}

static void test_chain(void) {
	fill(0, 128, 128);
	for(int i = 0; i < YSZ; i++)
		in[i] = (uint8_t)(16 + (i % W) * 3);
	REQUIRE(apply("mirror|invert", out) == 0);
	EXPECT_EQ(out[0], 251 - (16 + (W - 1) * 3));
	REQUIRE(apply("grayscale|blur:sigma=2|invert", out) == 0);
	EXPECT_EQ(out[YSZ], 128);
	EXPECT(ooblex_effects_apply(fx, "mirror|nope", OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0);
	EXPECT(strstr(err, "nope") != NULL);
}

static void test_ffmpeg_graph_runs(void) {
	fill(0, 128, 128);
	for(int i = 0; i < YSZ; i++)
		in[i] = (uint8_t)(16 + (i % W) * 3);
	REQUIRE(apply("ffmpeg:hflip,negate", out) == 0);
	EXPECT_EQ(out[0], 255 - (16 + (W - 1) * 3));	/* negate is full-range */
	REQUIRE(apply("ffmpeg:hflip,gblur=sigma=2,negate", out) == 0);
}

static void test_ffmpeg_graphs_that_reach_files_or_code_are_refused(void) {
	fill(0, 128, 128);
	/* Graphs that could read files or load code are refused. */
	const char *evil[] = { "ffmpeg:movie=/etc/passwd", "ffmpeg:drawtext=textfile=/etc/passwd",
		"ffmpeg:sendcmd=f=/etc/passwd,negate", "ffmpeg:negate,frei0r=distort0r", "ffmpeg:",
		"ffmpeg:[in]negate[x];[x]movie=/etc/passwd", "ffmpeg:negate='a,b';sendcmd=f=/x",
		"ffmpeg:sws_flags=bicubic;negate", "ffmpeg:curves=psfile=/etc/passwd" };
	/* Refused before libavfilter parses them: nothing may even be opened, so
	 * libavfilter must not print a word about them. */
	av_log_set_level(AV_LOG_INFO);
	for(int i = 0; i < 9; i++) {
		int rc = ooblex_effects_apply(fx, evil[i], OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err));
		if(rc == 0)
			printf("#   accepted %s\n", evil[i]);
		EXPECT(rc < 0);
		EXPECT(strstr(err, "not allowed") != NULL || strstr(err, "cannot read") != NULL || strstr(err, "empty") != NULL);
	}
	av_log_set_level(AV_LOG_QUIET);
}

static void test_ffmpeg_graph_labels_are_refused(void) {
	fill(0, 128, 128);
	/* Labels are gone with the parser: a linear chain of one-in, one-out
	 * filters (tests/unit/test_effect_grammar.c has the rest). */
	EXPECT(ooblex_effects_apply(fx, "ffmpeg:[in]split[a][b];[a]hflip[a2];[a2][b]blend=all_mode=average",
		OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0);
}

static void test_rgb_input(void) {
	static uint8_t rgb[W * H * 3];
	for(int i = 0; i < W * H; i++) {
		rgb[3 * i] = 255;
		rgb[3 * i + 1] = 0;
		rgb[3 * i + 2] = 0;
	}
	REQUIRE(ooblex_effects_apply(fx, "none", OOBLEX_PIXFMT_RGB24, rgb, W, H, out, err, sizeof(err)) == 0);
	EXPECT(abs(out[0] - 81) <= 2);	/* pure red in limited-range BT.601 */
	EXPECT(out[YSZ + CSZ] > 230);
	REQUIRE(ooblex_effects_apply(fx, "grayscale", OOBLEX_PIXFMT_RGB24, rgb, W, H, out, err, sizeof(err)) == 0);
	EXPECT_EQ(out[YSZ + CSZ], 128);
}

static void test_names(void) {
	EXPECT(ooblex_effect_exists("cartoon"));
	EXPECT(ooblex_effect_exists("blur:sigma=3|grayscale"));
	EXPECT(ooblex_effect_exists("blur|ffmpeg:hflip"));
	EXPECT(!ooblex_effect_exists("teleport"));
	EXPECT(ooblex_effect_is_core("invert") && ooblex_effect_is_core("ffmpeg") && !ooblex_effect_is_core("threshold"));
	int n = 0;
	for(const char *const *e = ooblex_effects_list(); *e; e++)
		n++;
	EXPECT_EQ(n, 10);
}

/* A core chain may end in an ffmpeg: graph (which takes the rest). */
static void test_chain_ending_in_a_graph(void) {
	for(int y = 0; y < H; y++)
		for(int x = 0; x < W; x++)
			in[y * W + x] = (uint8_t)(16 + x);
	memset(in + YSZ, 128, 2 * CSZ);
	REQUIRE(apply("invert|ffmpeg:hflip", out) == 0);
	EXPECT_EQ(out[0], 251 - (16 + W - 1));
}

/* The example module, loaded from its shared object like a user's. */
static void test_effect_module(void) {
	REQUIRE(ooblex_effects_load_module(THRESHOLD_MODULE, err, sizeof(err)) == 0);
	int listed = 0;
	for(const char *const *e = ooblex_effects_list(); *e; e++)
		listed |= !strcmp(*e, "threshold");
	EXPECT(listed);
	EXPECT(!ooblex_effect_is_core("threshold"));
	EXPECT(ooblex_effect_help("threshold") != NULL);
	char first[32];
	ooblex_effect_first_module("blur:sigma=2|threshold:level=90", first, sizeof(first));
	EXPECT(!strcmp(first, "threshold"));
	ooblex_effect_first_module("blur|grayscale", first, sizeof(first));
	EXPECT_EQ(first[0], '\0');
	/* Left half dark (80), right half bright (120), colourful. */
	for(int y = 0; y < H; y++)
		for(int x = 0; x < W; x++)
			in[y * W + x] = x < W / 2 ? 80 : 120;
	memset(in + YSZ, 60, CSZ);
	memset(in + YSZ + CSZ, 200, CSZ);
	REQUIRE(apply("threshold:level=100", out) == 0);
	EXPECT_EQ(out[0], 16);
	EXPECT_EQ(out[W - 1], 235);
	EXPECT_EQ(out[YSZ], 128);
	EXPECT_EQ(out[YSZ + CSZ], 128);
	REQUIRE(apply("threshold", out) == 0);	/* default level 128: all dark */
	EXPECT_EQ(out[W - 1], 16);
	/* Chained both ways with core effects: invert first makes the left
	 * half bright (251-80 = 171). */
	REQUIRE(apply("invert|threshold:level=150", out) == 0);
	EXPECT_EQ(out[0], 235);
	EXPECT_EQ(out[W - 1], 16);
	REQUIRE(apply("threshold:level=100|invert", out) == 0);
	EXPECT_EQ(out[0], 251 - 16);
	/* From RGB24 input too. */
	static uint8_t rgb[W * H * 3];
	memset(rgb, 255, sizeof(rgb));
	REQUIRE(ooblex_effects_apply(fx, "threshold", OOBLEX_PIXFMT_RGB24, rgb, W, H, out, err, sizeof(err)) == 0);
	EXPECT_EQ(out[0], 235);
	/* Its own parameter check. */
	EXPECT(apply("threshold:level=7", out) < 0);
	EXPECT(strstr(err, "level") != NULL);
	EXPECT(ooblex_effect_exists("threshold|grayscale"));
}

static int dummy_process(void *s, ooblex_image *img, char *e, size_t n) {
	(void)s; (void)img; (void)e; (void)n;
	return 0;
}
static void *dummy_create(const char *p, char *e, size_t n) {
	(void)p; (void)e; (void)n;
	return (void *)1;
}

static void test_bad_modules_are_refused(void) {
	EXPECT(ooblex_effects_load_module("/nonexistent/module.so", err, sizeof(err)) < 0);
	/* A library without the entry point. */
	EXPECT(ooblex_effects_load_module("libm.so.6", err, sizeof(err)) < 0);
	EXPECT(strstr(err, "ooblex_effect_module_v1") != NULL);
	ooblex_effect e = { "mine", "", dummy_create, dummy_process, NULL, NULL };
	ooblex_effect_module future = { 99, "future", &e, 1 };
	EXPECT(ooblex_effects_add_module(&future, "future.so", err, sizeof(err)) < 0);
	EXPECT(strstr(err, "ABI") != NULL);
	ooblex_effect clash = { "invert", "", dummy_create, dummy_process, NULL, NULL };
	ooblex_effect_module m = { OOBLEX_EFFECT_ABI_VERSION, "clash", &clash, 1 };
	EXPECT(ooblex_effects_add_module(&m, "clash.so", err, sizeof(err)) < 0);
	ooblex_effect bad_name = { "Bad Name", "", dummy_create, dummy_process, NULL, NULL };
	m.effects = &bad_name;
	EXPECT(ooblex_effects_add_module(&m, "bad.so", err, sizeof(err)) < 0);
}

int main(void) {
	av_log_set_level(AV_LOG_QUIET);
	fx = ooblex_effects_new();
	TEST_RUN(test_invert);
	TEST_RUN(test_grayscale);
	TEST_RUN(test_sepia);
	TEST_RUN(test_mirror);
	TEST_RUN(test_blur_spreads_more_with_more_sigma);
	TEST_RUN(test_blur_refuses_bad_parameters);
	TEST_RUN(test_edges);
	TEST_RUN(test_pixelate);
	TEST_RUN(test_denoise);
	TEST_RUN(test_cartoon);
	TEST_RUN(test_chain);
	TEST_RUN(test_ffmpeg_graph_runs);
	TEST_RUN(test_ffmpeg_graphs_that_reach_files_or_code_are_refused);
	TEST_RUN(test_ffmpeg_graph_labels_are_refused);
	TEST_RUN(test_rgb_input);
	TEST_RUN(test_names);
	TEST_RUN(test_chain_ending_in_a_graph);
	TEST_RUN(test_effect_module);
	TEST_RUN(test_bad_modules_are_refused);
	ooblex_effects_free(fx);
	return tl_done();
}
