/*
 * test_ml_models.c - the pretrained models (deploy/install-models.sh) on real
 * footage from opencv-doc: the person mask of messi5.jpg against regions
 * drawn from the picture (his shirt is person, the grass is not), the
 * background effects' pixels there, BlazeFace's faces in messi5.jpg and in
 * Megamind.avi against the Haar cascade's boxes, landmarks inside the face.
 * A case skips (TAP "# SKIP") only when its model is not installed; CI
 * installs them (tests/run.sh runs deploy/install-models.sh).
 * Models: $OOBLEX_TEST_MODELS_DIR, else /usr/local/share/ooblex/models.
 */
#include "testlib.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <libavutil/log.h>
#include <math.h>
#include <stdlib.h>

#include "effects.h"
#include "footage.h"
#include "still.h"
#include "ml_opencv.h"
#include "ooblex_jpeg.h"
#include "ooblex_wire.h"

#define OPENCV_DATA "/usr/share/doc/opencv-doc/examples/data"

static ooblex_effects *fx;
static char err[512];
static uint8_t *messi;	/* I420 */
static int mw, mh;
static char *work_dir;	/* a models folder of our own: links to the models, and backgrounds/ */
static int have_seg, have_face;

static size_t i420_len(int w, int h) {
	return (size_t)w * h + 2 * (size_t)((w + 1) / 2) * ((h + 1) / 2);
}

/* Like TEST_RUN, or a TAP skip with the reason when the model is missing. */
#define RUN_IF(have, fn, why) do { \
	if(have) \
		TEST_RUN(fn); \
	else \
		printf("ok %d - %s # SKIP %s\n", ++tl_cases, #fn, why); \
} while(0)

/* messi5.jpg as I420, as the worker reads it (still.h). */
static int load_messi(void) {
	mw = 548;
	mh = 342;
	return still_i420(fx, OPENCV_DATA "/messi5.jpg", mw, mh, &messi, err, sizeof(err));
}

static ooblex_image image_of(uint8_t *i420, int w, int h) {
	int cw = (w + 1) / 2, ch = (h + 1) / 2;
	ooblex_image img = { w, h, i420, i420 + (size_t)w * h, i420 + (size_t)w * h + (size_t)cw * ch, w, cw, cw };
	return img;
}

static int apply(const char *effect, const uint8_t *in, int w, int h, uint8_t *out) {
	int rc = ooblex_effects_apply(fx, effect, OOBLEX_PIXFMT_I420, in, w, h, out, err, sizeof(err));
	if(rc < 0)
		printf("#   %s: %s\n", effect, err);
	return rc;
}

/* Mean of a plane's rectangle. */
static double mean_of(const uint8_t *plane, int stride, int x0, int y0, int x1, int y1) {
	double sum = 0;
	for(int y = y0; y < y1; y++)
		for(int x = x0; x < x1; x++)
			sum += plane[(size_t)y * stride + x];
	return sum / ((double)(x1 - x0) * (y1 - y0));
}

/* Regions of messi5.jpg (548x342) drawn by looking at it: inside his shirt
 * and shorts, and grass and stands with nobody in front. */
static const int kPerson[][4] = { { 200, 125, 275, 220 }, { 240, 225, 300, 255 } };
static const int kBackground[][4] = { { 0, 280, 180, 342 }, { 440, 230, 548, 290 }, { 0, 0, 60, 60 } };

static void test_person_mask_covers_the_player(void) {
	uint8_t *copy = malloc(i420_len(mw, mh)), *mask = malloc((size_t)mw * mh);
	memcpy(copy, messi, i420_len(mw, mh));
	ooblex_image img = image_of(copy, mw, mh);
	REQUIRE(ooblex_ml_person_mask(&img, mask, err, sizeof(err)) == 0);
	for(size_t i = 0; i < sizeof(kPerson) / sizeof(kPerson[0]); i++) {
		double m = mean_of(mask, mw, kPerson[i][0], kPerson[i][1], kPerson[i][2], kPerson[i][3]);
		printf("# person region %zu: mask %.1f of 255\n", i, m);
		EXPECT(m >= 0.9 * 255);
	}
	for(size_t i = 0; i < sizeof(kBackground) / sizeof(kBackground[0]); i++) {
		double m = mean_of(mask, mw, kBackground[i][0], kBackground[i][1], kBackground[i][2], kBackground[i][3]);
		printf("# background region %zu: mask %.1f of 255\n", i, m);
		EXPECT(m <= 0.1 * 255);
	}
	/* The input is only read. */
	EXPECT(memcmp(copy, messi, i420_len(mw, mh)) == 0);
	free(copy);
	free(mask);
}

static void test_background_remove_keeps_the_player_only(void) {
	uint8_t *out = malloc(i420_len(mw, mh));
	REQUIRE(apply("background_remove:color=black:smooth=0", messi, mw, mh, out) == 0);
	for(size_t i = 0; i < sizeof(kPerson) / sizeof(kPerson[0]); i++) {
		double a = mean_of(out, mw, kPerson[i][0], kPerson[i][1], kPerson[i][2], kPerson[i][3]);
		double b = mean_of(messi, mw, kPerson[i][0], kPerson[i][1], kPerson[i][2], kPerson[i][3]);
		printf("# person region %zu: luma %.1f, was %.1f\n", i, a, b);
		EXPECT(a > b - 8 && a < b + 8);
	}
	for(size_t i = 0; i < sizeof(kBackground) / sizeof(kBackground[0]); i++) {
		double a = mean_of(out, mw, kBackground[i][0], kBackground[i][1], kBackground[i][2], kBackground[i][3]);
		printf("# background region %zu: luma %.1f (black is 16)\n", i, a);
		EXPECT(a <= 30);
	}
	const char *meta = ooblex_effects_metadata(fx);
	printf("# detections: %s\n", meta);
	double person = -1;
	const char *p = strstr(meta, "\"person\":");
	if(p != NULL)
		person = atof(p + 9);
	/* He covers about a quarter of the picture. */
	EXPECT(person > 0.1 && person < 0.45);
	free(out);
}

static void test_background_blur_blurs_only_the_background(void) {
	uint8_t *out = malloc(i420_len(mw, mh));
	REQUIRE(apply("background_blur:sigma=16", messi, mw, mh, out) == 0);
	/* The stands (top left, busy) lose their detail; the shirt keeps it. */
	double diff_bg = 0, diff_fg = 0;
	int n_bg = 0, n_fg = 0;
	for(int y = 0; y < 60; y++)
		for(int x = 0; x < 60; x++, n_bg++)
			diff_bg += abs(out[y * mw + x] - messi[y * mw + x]);
	for(int y = kPerson[0][1]; y < kPerson[0][3]; y++)
		for(int x = kPerson[0][0]; x < kPerson[0][2]; x++, n_fg++)
			diff_fg += abs(out[y * mw + x] - messi[y * mw + x]);
	printf("# mean luma change: stands %.1f, shirt %.1f\n", diff_bg / n_bg, diff_fg / n_fg);
	EXPECT(diff_bg / n_bg >= 8);
	EXPECT(diff_fg / n_fg <= 2);
	free(out);
}

/* A JPEG of one colour, in the backgrounds folder. */
static void write_background(const char *name, uint8_t yv, uint8_t uv, uint8_t vv) {
	const int w = 320, h = 200;
	uint8_t *i420 = malloc(i420_len(w, h));
	memset(i420, yv, (size_t)w * h);
	memset(i420 + (size_t)w * h, uv, (size_t)w * h / 4);
	memset(i420 + (size_t)w * h * 5 / 4, vv, (size_t)w * h / 4);
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER);
	const uint8_t *jpeg = NULL;
	size_t len = 0;
	if(ooblex_jpeg_encode_i420(j, i420, w, h, 95, &jpeg, &len, err, sizeof(err)) == 0) {
		gchar *dir = g_build_filename(work_dir, "backgrounds", NULL), *path = g_build_filename(dir, name, NULL);
		g_mkdir_with_parents(dir, 0755);
		g_file_set_contents(path, (const char *)jpeg, (gssize)len, NULL);
		g_free(dir);
		g_free(path);
	}
	ooblex_jpeg_free(j);
	free(i420);
}

static void test_background_replace_uses_the_folder_image(void) {
	write_background("plain.jpg", 200, 90, 160);
	uint8_t *out = malloc(i420_len(mw, mh));
	REQUIRE(apply("background_replace:image=plain.jpg:smooth=0", messi, mw, mh, out) == 0);
	double bg = mean_of(out, mw, kBackground[0][0], kBackground[0][1], kBackground[0][2], kBackground[0][3]);
	double fg = mean_of(out, mw, kPerson[0][0], kPerson[0][1], kPerson[0][2], kPerson[0][3]);
	double was = mean_of(messi, mw, kPerson[0][0], kPerson[0][1], kPerson[0][2], kPerson[0][3]);
	const uint8_t *u = out + (size_t)mw * mh;
	double bg_u = mean_of(u, mw / 2, kBackground[0][0] / 2, kBackground[0][1] / 2, kBackground[0][2] / 2,
		kBackground[0][3] / 2);
	/* The chroma planes follow the same mask, scaled to their size. */
	const int *pr = kPerson[0];
	double fg_u = mean_of(u, mw / 2, pr[0] / 2, pr[1] / 2, pr[2] / 2, pr[3] / 2);
	double was_u = mean_of(messi + (size_t)mw * mh, mw / 2, pr[0] / 2, pr[1] / 2, pr[2] / 2, pr[3] / 2);
	printf("# grass: luma %.1f u %.1f (the image: 200, 90); shirt luma %.1f u %.1f, was %.1f %.1f\n", bg, bg_u, fg, fg_u,
		was, was_u);
	EXPECT(bg > 190 && bg < 210);
	EXPECT(bg_u > 82 && bg_u < 98);
	EXPECT(fg > was - 8 && fg < was + 8);
	EXPECT(fg_u > was_u - 6 && fg_u < was_u + 6);
	free(out);
}

static void test_background_parameters_refused(void) {
	uint8_t *out = malloc(i420_len(mw, mh));
	const char *bad[] = { "background_replace:image=../x.jpg", "background_replace:image=/etc/x.jpg",
		"background_replace:image=missing.jpg", "background_replace:image=plain.png", "background_remove:color=pink",
		"background_blur:sigma=1000", "background_blur:smooth=95", "background_blur:image=plain.jpg" };
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT(ooblex_effects_apply(fx, bad[i], OOBLEX_PIXFMT_I420, messi, mw, mh, out, err, sizeof(err)) < 0);
		printf("# %s: %s\n", bad[i], err);
	}
	/* Still working. */
	EXPECT(apply("background_blur", messi, mw, mh, out) == 0);
	free(out);
}

/* The mask is smoothed over time, but a picture that shares little with the
 * last one (another scene, another client's frame) starts afresh. */
static void test_mask_smoothing_resets_on_another_picture(void) {
	uint8_t *out = malloc(i420_len(mw, mh)), *gray = malloc(i420_len(mw, mh));
	memset(gray, 128, i420_len(mw, mh));
	REQUIRE(apply("background_remove:smooth=90", messi, mw, mh, out) == 0);
	REQUIRE(apply("background_remove:smooth=90", gray, mw, mh, out) == 0);
	const char *p = strstr(ooblex_effects_metadata(fx), "\"person\":");
	REQUIRE(p != NULL);
	printf("# a gray picture after messi5: person %.2f\n", atof(p + 9));
	EXPECT(atof(p + 9) < 0.05);
	/* The same picture twice: the mask stays where it is. */
	REQUIRE(apply("background_remove:smooth=50", messi, mw, mh, out) == 0);
	uint8_t *again = malloc(i420_len(mw, mh));
	REQUIRE(apply("background_remove:smooth=50", messi, mw, mh, again) == 0);
	int worst = 0;
	for(size_t i = 0; i < i420_len(mw, mh); i++)
		worst = MAX(worst, abs(out[i] - again[i]));
	printf("# the same picture twice: differs by at most %d levels\n", worst);
	EXPECT(worst <= 2);
	free(again);
	free(out);
	free(gray);
}

/* BATCH_SIZE: frames of several clients (real footage: Megamind.avi's
 * pictures and messi5.jpg, each background effect with other parameters)
 * through one run of the model come out exactly as they do one by one, in
 * a context of their own (fresh states, so the time smoothing starts alike),
 * with one model run for the batch. A picture changed after the batch was
 * computed (as if its frame had been another) runs alone, correctly. */
typedef struct clip_frames {
	uint8_t *i420[6];
	int n, w, h;
} clip_frames;

static int keep_clip_frame(const AVFrame *picture, int index, void *user) {
	clip_frames *c = user;
	if(index % 20 != 10)
		return 0;
	int w = picture->width, h = picture->height;
	c->w = w;
	c->h = h;
	uint8_t *p = c->i420[c->n++] = malloc(i420_len(w, h));
	for(int y = 0; y < h; y++)
		memcpy(p + (size_t)y * w, picture->data[0] + (size_t)y * picture->linesize[0], (size_t)w);
	for(int y = 0; y < (h + 1) / 2; y++) {
		memcpy(p + (size_t)w * h + (size_t)y * ((w + 1) / 2), picture->data[1] + (size_t)y * picture->linesize[1],
			(size_t)(w + 1) / 2);
		memcpy(p + (size_t)w * h + (size_t)((w + 1) / 2) * ((h + 1) / 2) + (size_t)y * ((w + 1) / 2),
			picture->data[2] + (size_t)y * picture->linesize[2], (size_t)(w + 1) / 2);
	}
	return c->n == 6;
}

static void test_batch_matches_frames_one_by_one(void) {
	clip_frames clip = { 0 };
	REQUIRE(footage_decode(OPENCV_DATA "/Megamind.avi", 200, keep_clip_frame, &clip) >= 0);
	REQUIRE(clip.n == 6);
	enum { N = 8 };
	const char *effects[N] = { "background_blur", "background_remove:color=black", "background_blur:sigma=30",
		"background_remove", "background_replace:image=plain.jpg", "background_blur|sepia", "background_remove:smooth=0",
		"grayscale|background_blur" };
	const uint8_t *ins[N];
	int fmts[N], ws[N], hs[N], took[N];
	for(int i = 0; i < N; i++) {
		fmts[i] = OOBLEX_PIXFMT_I420;
		if(i == 3) {	/* another size, another client */
			ins[i] = messi;
			ws[i] = mw;
			hs[i] = mh;
		} else {
			ins[i] = clip.i420[i % 6];
			ws[i] = clip.w;
			hs[i] = clip.h;
		}
	}
	uint8_t *one[N], *batched[N];
	ooblex_effects *alone = ooblex_effects_new(), *together = ooblex_effects_new();
	char meta_one[N][256], meta_batched[N][256];
	for(int i = 0; i < N; i++) {
		one[i] = malloc(i420_len(ws[i], hs[i]));
		batched[i] = malloc(i420_len(ws[i], hs[i]));
		REQUIRE(ooblex_effects_apply(alone, effects[i], fmts[i], ins[i], ws[i], hs[i], one[i], err, sizeof(err)) == 0);
		snprintf(meta_one[i], sizeof(meta_one[i]), "%s", ooblex_effects_metadata(alone));
	}
	uint64_t runs0, frames0, runs1, frames1;
	ooblex_ml_segment_stats(&runs0, &frames0);
	int k = ooblex_effects_run_ahead(together, N, effects, fmts, ins, ws, hs, took);
	/* The last chain starts with a core effect: the model sees its output, not the frame. */
	EXPECT_EQ(k, N - 1);
	for(int i = 0; i < N; i++)
		EXPECT_EQ(took[i], i < N - 1);
	for(int i = 0; i < N; i++) {
		REQUIRE(ooblex_effects_apply(together, effects[i], fmts[i], ins[i], ws[i], hs[i], batched[i], err,
			sizeof(err)) == 0);
		snprintf(meta_batched[i], sizeof(meta_batched[i]), "%s", ooblex_effects_metadata(together));
	}
	ooblex_ml_segment_stats(&runs1, &frames1);
	printf("# %d frames: %llu model runs for %llu frames\n", N, (unsigned long long)(runs1 - runs0),
		(unsigned long long)(frames1 - frames0));
	EXPECT_EQ(runs1 - runs0, 2);	/* the batch, and the chain that starts with grayscale */
	EXPECT_EQ(frames1 - frames0, N);
	for(int i = 0; i < N; i++) {
		int worst = 0;
		for(size_t j = 0; j < i420_len(ws[i], hs[i]); j++)
			worst = MAX(worst, abs(one[i][j] - batched[i][j]));
		printf("# frame %d (%s): batched differs by at most %d levels; %s\n", i, effects[i], worst, meta_batched[i]);
		EXPECT(worst <= 1);
		EXPECT(strcmp(meta_one[i], meta_batched[i]) == 0);
	}
	/* A picture that is not the one the batch was computed for: alone. */
	uint8_t *changed = malloc(i420_len(clip.w, clip.h));
	memcpy(changed, clip.i420[0], i420_len(clip.w, clip.h));
	memset(changed, 200, (size_t)clip.w * 40);
	const char *e1[1] = { "background_remove:color=black:smooth=0" };
	const uint8_t *in1[1] = { clip.i420[0] };
	int t1[1], f1[1] = { OOBLEX_PIXFMT_I420 };
	EXPECT_EQ(ooblex_effects_run_ahead(together, 1, e1, f1, in1, &clip.w, &clip.h, t1), 0);	/* one frame: no batch */
	const uint8_t *in2[2] = { clip.i420[0], clip.i420[1] };
	const char *e2[2] = { e1[0], e1[0] };
	int t2[2], f2[2] = { OOBLEX_PIXFMT_I420, OOBLEX_PIXFMT_I420 }, w2[2] = { clip.w, clip.w }, h2[2] = { clip.h, clip.h };
	EXPECT_EQ(ooblex_effects_run_ahead(together, 2, e2, f2, in2, w2, h2, t2), 2);
	uint8_t *a = malloc(i420_len(clip.w, clip.h)), *b = malloc(i420_len(clip.w, clip.h));
	REQUIRE(ooblex_effects_apply(together, e1[0], OOBLEX_PIXFMT_I420, changed, clip.w, clip.h, a, err, sizeof(err)) == 0);
	REQUIRE(ooblex_effects_apply(alone, e1[0], OOBLEX_PIXFMT_I420, changed, clip.w, clip.h, b, err, sizeof(err)) == 0);
	EXPECT(memcmp(a, b, i420_len(clip.w, clip.h)) == 0);
	free(a);
	free(b);
	free(changed);
	for(int i = 0; i < N; i++) {
		free(one[i]);
		free(batched[i]);
	}
	for(int i = 0; i < clip.n; i++)
		free(clip.i420[i]);
	ooblex_effects_free(alone);
	ooblex_effects_free(together);
}

/* The faces of the last apply, from its detections: up to max of
 * [x,y,w,h,score,x1,y1..x6,y6]; returns how many. */
static int parse_faces(float faces[][17], int max, int *values_per_face) {
	const char *p = strstr(ooblex_effects_metadata(fx), "\"faces\":[");
	if(p == NULL)
		return 0;
	p += 9;
	int n = 0;
	*values_per_face = 0;
	while(*p == '[' || *p == ',') {
		if(*p == ',') p++;
		if(*p != '[') break;
		p++;
		int k = 0;
		while(*p && *p != ']') {
			char *end = NULL;
			float v = strtof(p, &end);
			if(end == p) return n;
			if(n < max && k < 17) faces[n][k] = v;
			k++;
			p = end;
			if(*p == ',') p++;
		}
		*values_per_face = k;
		p++;
		n++;
	}
	return n < max ? n : max;
}

static void test_dnn_face_in_messi5(void) {
	uint8_t *out = malloc(i420_len(mw, mh));
	REQUIRE(apply("faces", messi, mw, mh, out) == 0);
	float f[8][17];
	int k = 0, n = parse_faces(f, 8, &k);
	printf("# messi5.jpg: %s\n", ooblex_effects_metadata(fx));
	REQUIRE(n >= 1);
	EXPECT_EQ(k, 17);
	/* His face, by looking at the picture: brows to chin about x 222..260, y 95..132. */
	float cx = f[0][0] + f[0][2] / 2, cy = f[0][1] + f[0][3] / 2;
	EXPECT(cx > 230 && cx < 252 && cy > 103 && cy < 125);
	EXPECT(f[0][2] > 30 && f[0][2] < 80);
	EXPECT(f[0][4] >= 0.6f && f[0][4] <= 1.0f);
	/* Eyes above the mouth, all six landmarks near the box. */
	EXPECT(f[0][6] < f[0][12] && f[0][8] < f[0][12]);
	for(int i = 0; i < 6; i++) {
		float x = f[0][5 + 2 * i], y = f[0][6 + 2 * i];
		EXPECT(x > f[0][0] - f[0][2] / 2 && x < f[0][0] + 1.5f * f[0][2]);
		EXPECT(y > f[0][1] - f[0][3] / 2 && y < f[0][1] + 1.5f * f[0][3]);
	}
	free(out);
}

/* Megamind.avi, every 4th of 240 frames: BlazeFace against the cascade. */
typedef struct face_compare {
	int frames, dnn, cascade, both, agree, known, known_ok;
	uint8_t *i420, *out;
} face_compare;

static int compare_faces(const AVFrame *picture, int index, void *user) {
	face_compare *c = user;
	if((index + 1) % 4 != 0)
		return 0;
	int w = picture->width, h = picture->height;
	for(int y = 0; y < h; y++)
		memcpy(c->i420 + (size_t)y * w, picture->data[0] + (size_t)y * picture->linesize[0], (size_t)w);
	for(int y = 0; y < h / 2; y++) {
		memcpy(c->i420 + (size_t)w * h + (size_t)y * (w / 2), picture->data[1] + (size_t)y * picture->linesize[1],
			(size_t)w / 2);
		memcpy(c->i420 + (size_t)w * h * 5 / 4 + (size_t)y * (w / 2), picture->data[2] + (size_t)y * picture->linesize[2],
			(size_t)w / 2);
	}
	int r[4][4];
	int nc = ooblex_ml_detect_faces(c->i420, w, w, h, 30, &r[0][0], 4, err, sizeof(err));
	float f[4][17];
	int k = 0, nd = 0;
	if(apply("faces", c->i420, w, h, c->out) == 0)
		nd = parse_faces(f, 4, &k);
	c->frames++;
	c->dnn += nd > 0;
	c->cascade += nc > 0;
	if(nd > 0 && nc > 0) {
		c->both++;
		/* The cascade's first face is one of BlazeFace's: centres within a
		 * third of the cascade's box, sizes within a factor of two. */
		int same = 0;
		for(int i = 0; i < nd && !same; i++) {
			float dx = (f[i][0] + f[i][2] / 2) - (r[0][0] + r[0][2] / 2.0f);
			float dy = (f[i][1] + f[i][3] / 2) - (r[0][1] + r[0][3] / 2.0f);
			same = dx * dx + dy * dy < (r[0][2] / 3.0f) * (r[0][2] / 3.0f) && f[i][2] > r[0][2] / 2.0f &&
				f[i][2] < r[0][2] * 2.0f;
		}
		c->agree += same;
		if(!same)
			printf("# frame %d: the cascade's %d,%d %dx%d is none of BlazeFace's %d\n", index, r[0][0], r[0][1], r[0][2],
				r[0][3], nd);
	}
	/* Frames checked by eye (the effect's boxes drawn on them): in frame 67
	 * the woman's face turned three quarters, which the cascade misses, and
	 * a small face behind her; in frame 127 the man's face. */
	static const struct { int index, n; int box[2][4]; } known[] = {
		{ 67, 2, { { 238, 239, 126, 126 }, { 465, 176, 67, 68 } } },
		{ 127, 1, { { 414, 181, 164, 165 } } },
	};
	for(size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if(known[i].index != index)
			continue;
		c->known++;
		int found = 0;
		for(int j = 0; j < known[i].n; j++)
			for(int m = 0; m < nd; m++) {
				int ok = 1;
				for(int q = 0; q < 4; q++)
					ok &= fabsf(f[m][q] - known[i].box[j][q]) <= 12;
				found += ok;
			}
		printf("# frame %d: %d of the %d faces seen there found within 12 pixels\n", index, found, known[i].n);
		c->known_ok += found == known[i].n && nd == known[i].n;
	}
	return c->frames >= 60;
}

static void test_dnn_faces_in_megamind_clip(void) {
	face_compare c = { 0 };
	c.i420 = malloc(i420_len(1920, 1080));
	c.out = malloc(i420_len(1920, 1080));
	REQUIRE(footage_decode(OPENCV_DATA "/Megamind.avi", 240, compare_faces, &c) >= 0);
	printf("# Megamind.avi, %d frames: BlazeFace finds a face in %d, the cascade in %d; both in %d, the same box in %d\n",
		c.frames, c.dnn, c.cascade, c.both, c.agree);
	EXPECT(c.frames >= 50);
	EXPECT(c.dnn >= c.cascade);
	EXPECT(c.agree >= c.both * 8 / 10);
	EXPECT_EQ(c.known, 2);
	EXPECT_EQ(c.known_ok, 2);
	free(c.i420);
	free(c.out);
}

static void test_no_face_in_a_flat_picture(void) {
	uint8_t *flat = malloc(i420_len(320, 240)), *out = malloc(i420_len(320, 240));
	memset(flat, 120, i420_len(320, 240));
	REQUIRE(apply("faces", flat, 320, 240, out) == 0);
	float f[4][17];
	int k = 0;
	EXPECT_EQ(parse_faces(f, 4, &k), 0);
	free(flat);
	free(out);
}

/* Links the installed model into our folder, if it is there. */
static int link_model(const char *models, const char *name) {
	gchar *src = g_build_filename(models, name, NULL), *dst = g_build_filename(work_dir, name, NULL);
	int ok = g_file_test(src, G_FILE_TEST_IS_REGULAR) && symlink(src, dst) == 0;
	g_free(src);
	g_free(dst);
	return ok;
}

int main(void) {
	av_log_set_level(AV_LOG_QUIET);
	const char *models = getenv("OOBLEX_TEST_MODELS_DIR");
	if(models == NULL || !*models)
		models = "/usr/local/share/ooblex/models";
	work_dir = g_dir_make_tmp("ooblex-models-XXXXXX", NULL);
	have_seg = link_model(models, "selfie_segmentation.pb");
	have_face = link_model(models, "blazeface_full_range.pb");
	ooblex_ml_set_paths(NULL, work_dir);
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
	const char *no_seg = "selfie_segmentation.pb is not installed (deploy/install-models.sh)";
	const char *no_face = "blazeface_full_range.pb is not installed (deploy/install-models.sh)";
	RUN_IF(have_seg, test_person_mask_covers_the_player, no_seg);
	RUN_IF(have_seg, test_background_remove_keeps_the_player_only, no_seg);
	RUN_IF(have_seg, test_background_blur_blurs_only_the_background, no_seg);
	RUN_IF(have_seg, test_background_replace_uses_the_folder_image, no_seg);
	RUN_IF(have_seg, test_background_parameters_refused, no_seg);
	RUN_IF(have_seg, test_mask_smoothing_resets_on_another_picture, no_seg);
	RUN_IF(have_seg, test_batch_matches_frames_one_by_one, no_seg);
	RUN_IF(have_face, test_dnn_face_in_messi5, no_face);
	RUN_IF(have_face, test_dnn_faces_in_megamind_clip, no_face);
	RUN_IF(have_face, test_no_face_in_a_flat_picture, no_face);
	ooblex_effects_free(fx);
	free(messi);
	gchar *rm = g_strdup_printf("rm -rf '%s'", work_dir);
	if(system(rm) != 0)
		printf("# could not remove %s\n", work_dir);
	g_free(rm);
	g_free(work_dir);
	return tl_done();
}
