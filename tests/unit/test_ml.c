/*
 * test_ml.c - the OpenCV effects on real footage and a real ONNX model:
 * faces found in opencv-doc's messi5.jpg and in frames of Megamind.avi,
 * boxes drawn only on the outline, pixelation only over the face, and a
 * generated channel-rotating model run through the DNN module. Checks pixels.
 */
#include "testlib.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <libavutil/log.h>
#include <stdlib.h>

#include "effects.h"
#include "footage.h"
#include "still.h"
#include "ooblex_jpeg.h"
#include "ml_opencv.h"
#include "ooblex_wire.h"

#define OPENCV_DATA "/usr/share/doc/opencv-doc/examples/data"

static ooblex_effects *fx;
static char err[512];
static uint8_t *messi;	/* I420 */
static int mw, mh;
static char *models_dir;

static size_t i420_len(int w, int h) {
	return (size_t)w * h + 2 * (size_t)((w + 1) / 2) * ((h + 1) / 2);
}

/* messi5.jpg as I420, as the worker reads it (still.h). */
static int load_messi(void) {
	mw = 548;
	mh = 342;
	return still_i420(fx, OPENCV_DATA "/messi5.jpg", mw, mh, &messi, err, sizeof(err));
}

static int apply(const char *effect, const uint8_t *in, int w, int h, uint8_t *out) {
	int rc = ooblex_effects_apply(fx, effect, OOBLEX_PIXFMT_I420, in, w, h, out, err, sizeof(err));
	if(rc < 0)
		printf("#   %s: %s\n", effect, err);
	return rc;
}

static int detect(const uint8_t *y, int stride, int w, int h, int rects[][4], int max) {
	int n = ooblex_ml_detect_faces(y, stride, w, h, 30, &rects[0][0], max, err, sizeof(err));
	if(n < 0)
		printf("#   detect: %s\n", err);
	return n;
}

static void test_finds_the_face_in_messi5(void) {
	int r[8][4];
	int n = detect(messi, mw, mw, mh, r, 8);
	printf("# messi5.jpg: %d face(s); first at %d,%d %dx%d\n", n, r[0][0], r[0][1], r[0][2], r[0][3]);
	REQUIRE(n >= 1);
	/* One player's face in the upper half: a plausible size and place. */
	EXPECT(r[0][2] >= 20 && r[0][2] <= 150);
	EXPECT(r[0][1] + r[0][3] <= mh / 2 + 40);
}

static void test_no_face_in_a_flat_picture(void) {
	uint8_t *flat = malloc(i420_len(320, 240));
	memset(flat, 120, i420_len(320, 240));
	int r[4][4];
	EXPECT_EQ(detect(flat, 320, 320, 240, r, 4), 0);
	uint8_t *out = malloc(i420_len(320, 240));
	REQUIRE(apply("faces", flat, 320, 240, out) == 0);
	EXPECT(memcmp(out, flat, i420_len(320, 240)) == 0);	/* nothing to draw */
	free(out);
	free(flat);
}

static void test_faces_draws_boxes_only(void) {
	int r[8][4];
	int n = detect(messi, mw, mw, mh, r, 8);
	REQUIRE(n >= 1);
	uint8_t *out = malloc(i420_len(mw, mh));
	REQUIRE(apply("faces", messi, mw, mh, out) == 0);
	/* The box's top edge is green (Y 145), the middle of the face is not
	 * touched, and neither is a corner of the picture far from any face. */
	int x0 = r[0][0], y0 = r[0][1], fw = r[0][2], fh = r[0][3];
	EXPECT_EQ(out[(size_t)y0 * mw + x0 + fw / 2], 145);
	size_t mid = (size_t)(y0 + fh / 2) * mw + x0 + fw / 2;
	EXPECT_EQ(out[mid], messi[mid]);
	size_t changed = 0;
	for(size_t i = 0; i < (size_t)mw * mh; i++)
		changed += out[i] != messi[i];
	/* Only outlines: a few perimeters' worth of pixels. */
	printf("# faces: %zu luma pixels changed for %d box(es)\n", changed, n);
	EXPECT(changed > 0 && changed < (size_t)n * 4 * 4 * (fw + fh));
	/* What was found goes with the frame, as JSON keyed by effect. */
	const char *meta = ooblex_effects_metadata(fx);
	char expect[64];
	snprintf(expect, sizeof(expect), "{\"faces\":[[%d,%d,%d,%d]", x0, y0, fw, fh);
	printf("# faces metadata: %s\n", meta);
	EXPECT(!strncmp(meta, expect, strlen(expect)));
	uint8_t *gray = malloc(i420_len(mw, mh));
	REQUIRE(apply("grayscale", messi, mw, mh, gray) == 0);
	EXPECT_EQ(ooblex_effects_metadata(fx)[0], '\0');
	free(gray);
	/* The outline's chroma is green too. */
	size_t cu = (size_t)mw * mh + (size_t)(y0 / 2) * (mw / 2) + (x0 + fw / 2) / 2;
	EXPECT(abs(out[cu] - 54) <= 2);
	free(out);
}

static void test_face_pixelate_hides_only_the_face(void) {
	int r[8][4];
	int n = detect(messi, mw, mw, mh, r, 8);
	REQUIRE(n >= 1);
	uint8_t *out = malloc(i420_len(mw, mh));
	REQUIRE(apply("face_pixelate:size=8", messi, mw, mh, out) == 0);
	int x0 = r[0][0], y0 = r[0][1], fw = r[0][2], fh = r[0][3];
	/* Inside the face: rows repeat in runs (blocks); the source's do not. */
	int same_rows = 0, src_same_rows = 0, rows = 0;
	for(int y = y0 + 2; y < y0 + fh - 2; y++, rows++) {
		same_rows += !memcmp(out + (size_t)y * mw + x0, out + (size_t)(y + 1) * mw + x0, (size_t)fw / 2);
		src_same_rows += !memcmp(messi + (size_t)y * mw + x0, messi + (size_t)(y + 1) * mw + x0, (size_t)fw / 2);
	}
	printf("# face_pixelate: %d of %d rows repeat the next one inside the face (source: %d)\n", same_rows, rows,
		src_same_rows);
	EXPECT(same_rows >= rows * 3 / 5);
	EXPECT(src_same_rows <= rows / 10);
	/* Every luma pixel that changed is inside a grown face box. */
	size_t outside = 0;
	for(int y = 0; y < mh; y++)
		for(int x = 0; x < mw; x++) {
			size_t i = (size_t)y * mw + x;
			if(out[i] == messi[i])
				continue;
			int inside = 0;
			for(int k = 0; k < n && k < 8; k++)
				inside |= x >= r[k][0] - r[k][2] / 5 - 2 && x < r[k][0] + r[k][2] * 6 / 5 + 2 &&
					y >= r[k][1] - r[k][3] / 5 - 2 && y < r[k][1] + r[k][3] * 6 / 5 + 2;
			outside += !inside;
		}
	EXPECT_EQ(outside, 0);
	free(out);
}

static void test_chain_with_a_core_effect(void) {
	uint8_t *out = malloc(i420_len(mw, mh));
	REQUIRE(apply("face_pixelate|grayscale", messi, mw, mh, out) == 0);
	size_t cs = (size_t)(mw / 2) * (mh / 2), colour = 0;
	for(size_t i = 0; i < 2 * cs; i++)
		colour += out[(size_t)mw * mh + i] != 128;
	EXPECT_EQ(colour, 0);
	/* And the other way round: a core effect first, then a module one. */
	REQUIRE(apply("mirror|faces", messi, mw, mh, out) == 0);
	EXPECT_EQ(out[(size_t)(mh - 1) * mw + (mw - 1)] == messi[(size_t)(mh - 1) * mw], 1);
	free(out);
}

static void test_bad_parameters_are_refused(void) {
	uint8_t *out = malloc(i420_len(mw, mh));
	EXPECT(ooblex_effects_apply(fx, "faces:min_size=2", OOBLEX_PIXFMT_I420, messi, mw, mh, out, err, sizeof(err)) < 0);
	EXPECT(strstr(err, "min_size") != NULL);
	EXPECT(ooblex_effects_apply(fx, "face_pixelate:size=x", OOBLEX_PIXFMT_I420, messi, mw, mh, out, err,
		sizeof(err)) < 0);
	free(out);
}

/* Megamind.avi's frames: every 4th, 60 of them. */
typedef struct face_count {
	int frames, with_face;
} face_count;

static int count_faces(const AVFrame *picture, int index, void *user) {
	face_count *c = user;
	if((index + 1) % 4 == 0) {
		int r[4][4];
		c->with_face += detect(picture->data[0], picture->linesize[0], picture->width, picture->height, r, 4) > 0;
		c->frames++;
	}
	return c->frames >= 60;
}

static void test_faces_in_megamind_clip(void) {
	face_count c = { 0, 0 };
	REQUIRE(footage_decode(OPENCV_DATA "/Megamind.avi", 240, count_faces, &c) >= 0);
	printf("# Megamind.avi: a face in %d of %d sampled frames\n", c.with_face, c.frames);
	EXPECT(c.frames >= 50);
	EXPECT(c.with_face >= c.frames / 2);
}

/* A picture in one RGB colour, as I420 (through libavfilter). */
static void solid(uint8_t r, uint8_t g, uint8_t b, int w, int h, uint8_t *out) {
	uint8_t *rgb = malloc((size_t)w * h * 3);
	for(int i = 0; i < w * h; i++) {
		rgb[3 * i] = r;
		rgb[3 * i + 1] = g;
		rgb[3 * i + 2] = b;
	}
	ooblex_effects_apply(fx, "none", OOBLEX_PIXFMT_RGB24, rgb, w, h, out, err, sizeof(err));
	free(rgb);
}

static void test_onnx_model_runs(void) {
	const int w = 64, h = 48;
	uint8_t *red = malloc(i420_len(w, h)), *blue = malloc(i420_len(w, h)), *out = malloc(i420_len(w, h));
	solid(230, 20, 20, w, h, red);
	solid(20, 20, 230, w, h, blue);
	REQUIRE(apply("onnx:rotate_channels.onnx", red, w, h, out) == 0);
	/* Red in, blue out: compare with a blue picture made directly. */
	int worst = 0;
	for(size_t i = 0; i < i420_len(w, h); i++)
		worst = MAX(worst, abs(out[i] - blue[i]));
	printf("# onnx rotate_channels: red became blue within %d levels\n", worst);
	EXPECT(worst <= 3);
	/* A fixed-size model input: the picture is resized in and out. */
	REQUIRE(apply("onnx:rotate_channels.onnx:size=32x32", red, w, h, out) == 0);
	EXPECT(abs(out[100] - blue[100]) <= 3);
	free(red);
	free(blue);
	free(out);
}

static void test_onnx_refuses_paths_outside_the_models_folder(void) {
	const int w = 32, h = 24;
	uint8_t *in = calloc(1, i420_len(w, h)), *out = malloc(i420_len(w, h));
	EXPECT(ooblex_effects_apply(fx, "onnx:../../etc/passwd", OOBLEX_PIXFMT_I420, in, w, h, out, err, sizeof(err)) < 0);
	EXPECT(strstr(err, "models folder") != NULL);
	EXPECT(ooblex_effects_apply(fx, "onnx:/etc/x.onnx", OOBLEX_PIXFMT_I420, in, w, h, out, err, sizeof(err)) < 0);
	free(in);
	free(out);
}

/* Missing, corrupt or misconfigured: refused, and the effect works on. */
static void test_onnx_model_it_cannot_run_fails_alone(void) {
	const int w = 32, h = 24;
	uint8_t *in = calloc(1, i420_len(w, h)), *out = malloc(i420_len(w, h));
	EXPECT(ooblex_effects_apply(fx, "onnx:missing.onnx", OOBLEX_PIXFMT_I420, in, w, h, out, err, sizeof(err)) < 0);
	EXPECT(strstr(err, "cannot load") != NULL);
	gchar *garbage = g_build_filename(models_dir, "garbage.onnx", NULL);
	g_file_set_contents(garbage, "this is not a model", -1, NULL);
	EXPECT(ooblex_effects_apply(fx, "onnx:garbage.onnx", OOBLEX_PIXFMT_I420, in, w, h, out, err, sizeof(err)) < 0);
	printf("# a corrupt model: %s\n", err);
	EXPECT(ooblex_effects_apply(fx, "onnx:rotate_channels.onnx:size=big", OOBLEX_PIXFMT_I420, in, w, h, out, err,
		sizeof(err)) < 0);
	/* Still working afterwards. */
	EXPECT(apply("onnx:rotate_channels.onnx", in, w, h, out) == 0);
	g_free(garbage);
	free(in);
	free(out);
}

int main(void) {
	av_log_set_level(AV_LOG_QUIET);
	models_dir = g_dir_make_tmp("ooblex-models-XXXXXX", NULL);
	gchar *cmd = g_strdup_printf("/usr/bin/python3 %s/tests/unit/make_onnx_models.py %s >/dev/null", SRCDIR, models_dir);
	int made = system(cmd);
	g_free(cmd);
	ooblex_ml_set_paths(NULL, models_dir);
	char e[256];
	if(ooblex_effects_add_module(ooblex_ml_module(), "OpenCV", e, sizeof(e)) < 0) {
		printf("Bail out! %s\n", e);
		return 1;
	}
	fx = ooblex_effects_new();
	if(load_messi() < 0) {
		printf("Bail out! cannot read %s/messi5.jpg (Debian: opencv-doc): %s\n", OPENCV_DATA, err);
		return 1;
	}
	TEST_RUN(test_finds_the_face_in_messi5);
	TEST_RUN(test_no_face_in_a_flat_picture);
	TEST_RUN(test_faces_draws_boxes_only);
	TEST_RUN(test_face_pixelate_hides_only_the_face);
	TEST_RUN(test_chain_with_a_core_effect);
	TEST_RUN(test_bad_parameters_are_refused);
	TEST_RUN(test_faces_in_megamind_clip);
	if(made != 0)
		printf("# could not generate the ONNX model (needs Debian's python3-onnx)\n");
	TEST_RUN(test_onnx_model_runs);
	TEST_RUN(test_onnx_refuses_paths_outside_the_models_folder);
	TEST_RUN(test_onnx_model_it_cannot_run_fails_alone);
	ooblex_effects_free(fx);
	free(messi);
	gchar *rm = g_strdup_printf("rm -rf '%s'", models_dir);
	if(system(rm) != 0)
		printf("# could not remove %s\n", models_dir);
	g_free(rm);
	g_free(models_dir);
	return tl_done();
}
