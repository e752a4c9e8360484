/*
 * ml_cost.c - what the ML effects cost per frame on real footage at 640x480.
 *
 * Frames of opencv-doc's vtest.avi (people walking) and Megamind.avi (faces),
 * scaled to 640x480 I420 beforehand (libswscale), go through the worker's
 * own effects code one at a time on this thread, as a worker's processing
 * thread runs them (OpenCV single-threaded): per effect the p50 and p95 of
 * the per-frame time in ms and frames per second for one core. The models
 * folder is $OOBLEX_MODELS_DIR, else /usr/local/share/ooblex/models.
 * Prints a Markdown table (the README's).
 *   ml_cost [FRAMES]     default 200 (after 10 warm-up frames)
 *   ml_cost --batches [FRAMES]
 *                        BATCH_SIZE: background_blur on Megamind.avi with its
 *                        model run on batches of 1, 2, 4 and 8 frames, as a
 *                        worker holding that many does (ooblex_effects_run_ahead,
 *                        then each frame's effect): per frame its share of the
 *                        CPU time, the batch's wall time (what its last frame
 *                        waits) and frames per second per core. The sizes take
 *                        turns, batch by batch, so that a machine busy with
 *                        other work slows them alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libavutil/log.h>

#include "effects.h"
#include "footage.h"
#include "ml_opencv.h"
#include "ooblex_wire.h"

#define W 640
#define H 480
#define OPENCV_DATA "/usr/share/doc/opencv-doc/examples/data"
#define MAX_FRAMES 400

typedef struct clip {
	uint8_t *frames[MAX_FRAMES];
	int n, max;
} clip;

/* The first c->max pictures of a clip at 640x480 (footage.h). */
static int load_clip(const char *path, clip *c) {
	c->n = footage_i420(path, c->max, W, H, c->frames);
	return c->n;
}

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double cpu_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ml_cost --batches: see the top of the file. */
static int batches(int frames) {
	static const int sizes[] = { 1, 2, 4, 8 };
	enum { NS = sizeof(sizes) / sizeof(sizes[0]), MAXB = 8 };
	const char *effect = "background_blur";
	clip c = { .max = MAX_FRAMES };
	if(load_clip(OPENCV_DATA "/Megamind.avi", &c) < 16) {
		fprintf(stderr, "Megamind.avi: too few frames\n");
		return 1;
	}
	ooblex_effects *fx[NS];
	uint8_t *out = malloc((size_t)W * H * 3 / 2);
	double *share[NS], *wall[NS], cpu_total[NS] = { 0 };
	int done[NS] = { 0 }, next = 0;
	char err[512];
	for(int s = 0; s < NS; s++) {
		fx[s] = ooblex_effects_new();
		share[s] = malloc(sizeof(double) * (size_t)(frames + MAXB));
		wall[s] = malloc(sizeof(double) * (size_t)(frames + MAXB));
	}
	/* Round after round, one batch of each size, until each has done FRAMES
	 * frames (after a warm-up round). */
	for(int round = 0;; round++) {
		int all = 1;
		for(int s = 0; s < NS; s++) {
			int n = sizes[s];
			if(round > 0 && done[s] >= frames)
				continue;
			all = 0;
			const char *effects[MAXB];
			const uint8_t *ins[MAXB];
			int fmts[MAXB], ws[MAXB], hs[MAXB], took[MAXB];
			for(int i = 0; i < n; i++) {
				effects[i] = effect;
				ins[i] = c.frames[next++ % c.n];
				fmts[i] = OOBLEX_PIXFMT_I420;
				ws[i] = W;
				hs[i] = H;
			}
			double t0 = now_ms(), c0 = cpu_ms();
			if(n > 1 && ooblex_effects_run_ahead(fx[s], n, effects, fmts, ins, ws, hs, took) != n) {
				fprintf(stderr, "a batch of %d was not run as one\n", n);
				return 1;
			}
			for(int i = 0; i < n; i++)
				if(ooblex_effects_apply(fx[s], effect, OOBLEX_PIXFMT_I420, ins[i], W, H, out, err, sizeof(err)) < 0) {
					fprintf(stderr, "%s: %s\n", effect, err);
					return 1;
				}
			double t = now_ms() - t0, cpu = cpu_ms() - c0;
			if(round == 0)
				continue;
			for(int i = 0; i < n; i++) {
				share[s][done[s]] = cpu / n;
				wall[s][done[s]++] = t;
			}
			cpu_total[s] += cpu;
		}
		if(all && round > 0)
			break;
	}
	printf("| `%s`, batch | CPU ms/frame p50 | p95 | batch wall ms p50 | p95 | frames/s per core |\n"
		"| --- | --- | --- | --- | --- | --- |\n", effect);
	for(int s = 0; s < NS; s++) {
		int n = done[s];
		double fps = 1000.0 * n / cpu_total[s];
		qsort(share[s], (size_t)n, sizeof(double), cmp);
		qsort(wall[s], (size_t)n, sizeof(double), cmp);
		printf("| %d | %.2f | %.2f | %.1f | %.1f | %.0f |\n", sizes[s], share[s][n / 2], share[s][n * 95 / 100],
			wall[s][n / 2], wall[s][n * 95 / 100], fps);
		free(share[s]);
		free(wall[s]);
		ooblex_effects_free(fx[s]);
	}
	for(int i = 0; i < c.n; i++)
		free(c.frames[i]);
	free(out);
	return 0;
}

int main(int argc, char **argv) {
	int batch_mode = argc > 1 && strcmp(argv[1], "--batches") == 0;
	if(batch_mode) {
		argc--;
		argv++;
	}
	int frames = argc > 1 ? atoi(argv[1]) : 200;
	if(frames < 10 || frames > MAX_FRAMES - 10) {
		fprintf(stderr, "usage: ml_cost [FRAMES 10..%d]\n", MAX_FRAMES - 10);
		return 2;
	}
	av_log_set_level(AV_LOG_QUIET);
	const char *models = getenv("OOBLEX_MODELS_DIR");
	ooblex_ml_set_paths(NULL, models && *models ? models : "/usr/local/share/ooblex/models");
	char err[512];
	if(ooblex_effects_add_module(ooblex_ml_module(), "OpenCV", err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if(batch_mode)
		return batches(frames);
	static const struct { const char *effect, *clip; int cascade; } runs[] = {
		{ "none", "vtest.avi", 0 },
		{ "blur", "vtest.avi", 0 },
		{ "background_blur", "Megamind.avi", 0 },
		{ "background_remove", "Megamind.avi", 0 },
		{ "faces", "Megamind.avi", 0 },
		{ "face_pixelate", "Megamind.avi", 0 },
		{ "faces", "Megamind.avi", 1 },	/* the fallback: no face model installed */
	};
	ooblex_effects *fx = ooblex_effects_new();
	uint8_t *out = malloc((size_t)W * H * 3 / 2);
	double *ms = malloc(sizeof(double) * (size_t)frames);
	printf("| effect | footage | ms/frame p50 | p95 | frames/s per core |\n| --- | --- | --- | --- | --- |\n");
	for(size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		if(runs[r].cascade) {
			/* A folder without the face model: the cascade, in a fresh context. */
			ooblex_ml_set_paths(NULL, "/nonexistent");
			ooblex_effects_free(fx);
			fx = ooblex_effects_new();
		}
		clip c = { .max = frames + 10 };
		char path[256];
		snprintf(path, sizeof(path), OPENCV_DATA "/%s", runs[r].clip);
		if(load_clip(path, &c) < c.max) {
			fprintf(stderr, "%s: fewer than %d frames\n", path, c.max);
			return 1;
		}
		double total = 0;
		int failed = 0;
		for(int i = 0; i < c.n; i++) {
			double t0 = now_ms();
			failed |= ooblex_effects_apply(fx, runs[r].effect, OOBLEX_PIXFMT_I420, c.frames[i], W, H, out, err,
				sizeof(err)) < 0;
			double t = now_ms() - t0;
			if(i >= 10) {
				ms[i - 10] = t;
				total += t;
			}
		}
		if(failed) {
			printf("| `%s` | %s | failed: %s | | |\n", runs[r].effect, runs[r].clip, err);
		} else {
			qsort(ms, (size_t)frames, sizeof(double), cmp);
			printf("| `%s`%s | %s | %.2f | %.2f | %.0f |\n", runs[r].effect, runs[r].cascade ? " (Haar cascade)" : "",
				runs[r].clip, ms[frames / 2],
				ms[frames * 95 / 100], 1000.0 * frames / total);
		}
		fflush(stdout);
		for(int i = 0; i < c.n; i++)
			free(c.frames[i]);
	}
	free(ms);
	free(out);
	ooblex_effects_free(fx);
	return 0;
}
