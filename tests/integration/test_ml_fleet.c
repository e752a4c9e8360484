/*
 * test_ml_fleet.c - the pretrained-model effects through a real worker and
 * a real Redis: opencv-doc's messi5.jpg (548x342 I420) pushed to
 * frames_to_process:background_remove and :faces, as the plugin's producer
 * does; the result comes back on processed_frames:{client} with its pixels
 * (grass turned black, the shirt kept) and its detections (the person's
 * share, the face box with landmarks) in the metadata.
 * Skips (TAP "# SKIP") only when the models are not installed
 * (deploy/install-models.sh; OOBLEX_TEST_MODELS_DIR, else
 * /usr/local/share/ooblex/models).
 */
#include "testlib.h"
#include "harness.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "ooblex_jpeg.h"
#include "ooblex_keys.h"
#include "ooblex_wire.h"
#include "ooblex_wire_check.h"

#define OPENCV_DATA "/usr/share/doc/opencv-doc/examples/data"
#define MW 548
#define MH 342

static const char *models;
static uint8_t messi[MW * MH * 3 / 2];

static int load_messi(void) {
	gchar *data = NULL;
	gsize len = 0;
	char err[256];
	if(!g_file_get_contents(OPENCV_DATA "/messi5.jpg", &data, &len, NULL))
		return -1;
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
	/* messi5.jpg is 4:2:0 inside: straight to I420, as the worker reads it. */
	int rc = j ? ooblex_jpeg_decode_i420(j, (const uint8_t *)data, len, MW, MH, messi, err, sizeof(err)) : -1;
	ooblex_jpeg_free(j);
	g_free(data);
	return rc < 0 ? -1 : 0;
}

/* Pushes messi5 for effect to queue and waits for its result: the wire
 * header (meta copied into meta) and the luma of the JPEG; with luma NULL,
 * asks for the metadata alone (reply pixfmt NONE, output "metadata") and
 * checks the result is what the plugin accepts as one: no picture. */
static int round_trip(redisContext *rc, const char *queue, const char *effect, char *meta, size_t meta_len,
		uint8_t *luma) {
	uint8_t id[OOBLEX_CLIENT_ID_LEN];
	char key[OOBLEX_KEY_MAX];
	harness_new_client(id, key);
	ooblex_frame_header h;
	harness_frame_header(&h, id, effect);
	h.width = MW;
	h.height = MH;
	h.jpeg_quality = 95;
	h.reply_pixfmt = luma == NULL ? OOBLEX_PIXFMT_NONE : OOBLEX_PIXFMT_JPEG;
	h.payload_len = (uint32_t)ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, MW, MH);
	h.frame_id = h.seq = 1;
	size_t hlen = ooblex_wire_header_len(&h);
	uint8_t *msg = malloc(hlen + h.payload_len);
	ooblex_wire_write_header(&h, msg);
	memcpy(msg + hlen, messi, h.payload_len);
	redisReply *r = redisCommand(rc, "LPUSH %s %b", queue, msg, hlen + h.payload_len);
	free(msg);
	if(r)
		freeReplyObject(r);
	if(harness_wait_len(rc, key, 1, 20000) != 1)
		return -1;
	r = redisCommand(rc, "LINDEX %s 0", key);
	if(r == NULL || r->type != REDIS_REPLY_STRING) {
		if(r)
			freeReplyObject(r);
		return -1;
	}
	ooblex_frame_header out;
	const uint8_t *payload;
	int rcw = ooblex_wire_parse((const uint8_t *)r->str, r->len, &out, &payload);
	int ok = rcw == OOBLEX_WIRE_OK && out.width == MW && out.height == MH;
	if(ok && luma == NULL) {
		const char *why = ooblex_wire_accept_result((const uint8_t *)r->str, r->len, id, &out, &payload);
		printf("# metadata only: %zu bytes in all, pixfmt %s, payload %u bytes, accepted: %s\n", r->len,
			ooblex_pixfmt_name(out.pixfmt), out.payload_len, why ? why : "yes");
		ok = why == NULL && out.kind == OOBLEX_KIND_RESULT && out.pixfmt == OOBLEX_PIXFMT_NONE &&
			out.payload_len == 0 && r->len < 1024;
		snprintf(meta, meta_len, "%s", out.meta);
	} else if(ok) {
		snprintf(meta, meta_len, "%s", out.meta);
		char err[256];
		ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
		ok = j && ooblex_jpeg_decode_gray(j, payload, out.payload_len, MW, MH, luma, err, sizeof(err)) == 0;
		ooblex_jpeg_free(j);
	} else {
		printf("#   result: wire %d, %ux%u, meta %s\n", rcw, out.width, out.height, rcw == OOBLEX_WIRE_OK ? out.meta : "");
	}
	freeReplyObject(r);
	return ok ? 0 : -1;
}

static double mean_of(const uint8_t *plane, int x0, int y0, int x1, int y1) {
	double sum = 0;
	for(int y = y0; y < y1; y++)
		for(int x = x0; x < x1; x++)
			sum += plane[y * MW + x];
	return sum / ((double)(x1 - x0) * (y1 - y0));
}

static void test_worker_serves_the_model_effects(void) {
	redisContext *rc = harness_connect(12, 1);
	REQUIRE(rc != NULL);
	char dir_arg[512];
	snprintf(dir_arg, sizeof(dir_arg), "%s", models);
	const char *args[] = { "--models-dir", dir_arg, "--effects", "background_remove,faces", NULL };
	GPid w = harness_spawn_worker(12, "ml-1", 0, 1, args, NULL);
	REQUIRE(w != 0);
	/* It announces both routes. */
	int announced = 0;
	for(int i = 0; i < 100 && !announced; i++) {
		g_usleep(50000);
		redisReply *reg = redisCommand(rc, "GET %s", OOBLEX_KEY_WORKER_PREFIX "ml-1");
		announced = reg && reg->type == REDIS_REPLY_STRING && strstr(reg->str, "\"background_remove\"") &&
			strstr(reg->str, "\"faces\"");
		if(reg)
			freeReplyObject(reg);
	}
	EXPECT(announced);
	static char meta[OOBLEX_META_MAX + 1];
	static uint8_t luma[MW * MH];
	EXPECT(round_trip(rc, "frames_to_process:background_remove", "background_remove:color=black:smooth=0", meta,
		sizeof(meta), luma) == 0);
	printf("# background_remove: %s\n", meta);
	const char *p = strstr(meta, "{\"background_remove\":{\"person\":");
	EXPECT(p != NULL && atof(p + 32) > 0.1 && atof(p + 32) < 0.45);
	/* Grass (lower left) black, the shirt as it was (JPEG at quality 95). */
	double grass = mean_of(luma, 0, 280, 180, 342), shirt = mean_of(luma, 200, 125, 275, 220);
	double was = 0;
	for(int y = 125; y < 220; y++)
		for(int x = 200; x < 275; x++)
			was += messi[y * MW + x];
	was /= 75.0 * 95;
	printf("# grass luma %.1f (black is 16); shirt %.1f, was %.1f\n", grass, shirt, was);
	EXPECT(grass < 24);
	EXPECT(shirt > was - 8 && shirt < was + 8);

	EXPECT(round_trip(rc, "frames_to_process:faces", "faces", meta, sizeof(meta), luma) == 0);
	printf("# faces: %s\n", meta);
	int x = 0, y = 0, fw = 0, fh = 0;
	float score = 0;
	p = strstr(meta, "{\"faces\":[[");
	EXPECT(p != NULL && sscanf(p + 11, "%d,%d,%d,%d,%f", &x, &y, &fw, &fh, &score) == 5);
	/* His face, checked by eye: about x 222..260, y 95..132. */
	EXPECT(x + fw / 2 > 230 && x + fw / 2 < 252 && y + fh / 2 > 103 && y + fh / 2 < 125);
	EXPECT(score >= 0.6f);
	/* Output "metadata": the same box, and no picture (no JPEG encoded). */
	EXPECT(round_trip(rc, "frames_to_process:faces", "faces", meta, sizeof(meta), NULL) == 0);
	printf("# faces, metadata only: %s\n", meta);
	int x2 = 0, y2 = 0, fw2 = 0, fh2 = 0;
	p = strstr(meta, "{\"faces\":[[");
	EXPECT(p != NULL && sscanf(p + 11, "%d,%d,%d,%d", &x2, &y2, &fw2, &fh2) == 4);
	EXPECT(abs(x2 - x) <= 2 && abs(y2 - y) <= 2 && abs(fw2 - fw) <= 2 && abs(fh2 - fh) <= 2);
	int status = 0;
	harness_stop(w, SIGTERM, &status);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	redisFree(rc);
}

/* BATCH_SIZE=4 as real batching: eight frames of two clients wait in the
 * background_remove queue before the worker starts, so it takes them up to
 * four at a time and runs the model once per batch (its metrics count the
 * batched runs); every frame still comes back right (grass black, the
 * person's share) and in order. */
static void test_worker_batches_the_model(void) {
	redisContext *rc = harness_connect(14, 1);
	REQUIRE(rc != NULL);
	uint8_t ids[2][OOBLEX_CLIENT_ID_LEN];
	char keys[2][OOBLEX_KEY_MAX];
	harness_new_client(ids[0], keys[0]);
	harness_new_client(ids[1], keys[1]);
	size_t plen = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, MW, MH);
	for(int i = 0; i < 8; i++) {
		ooblex_frame_header h;
		harness_frame_header(&h, ids[i % 2], i % 2 ? "background_remove:color=black:smooth=0" :
			"background_remove:color=black:smooth=20");
		h.width = MW;
		h.height = MH;
		h.jpeg_quality = 95;
		h.payload_len = (uint32_t)plen;
		h.frame_id = h.seq = (uint64_t)(i / 2 + 1);
		size_t hlen = ooblex_wire_header_len(&h);
		uint8_t *msg = malloc(hlen + plen);
		ooblex_wire_write_header(&h, msg);
		memcpy(msg + hlen, messi, plen);
		redisReply *r = redisCommand(rc, "LPUSH frames_to_process:background_remove %b", msg, hlen + plen);
		free(msg);
		if(r)
			freeReplyObject(r);
	}
	char metrics[] = "/tmp/ooblex-batch-metrics.XXXXXX";
	REQUIRE(g_mkdtemp(metrics) != NULL);
	const char *args[] = { "--models-dir", models, "--effects", "background_remove", "--metrics-dir", metrics, NULL };
	GPid w = harness_spawn_worker(14, "ml-batch", 0, 4, args, NULL);
	REQUIRE(w != 0);
	for(int c = 0; c < 2; c++)
		EXPECT_EQ(harness_wait_len(rc, keys[c], 4, 30000), 4);
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
	static uint8_t luma[MW * MH];
	for(int c = 0; c < 2; c++)
		for(int i = 0; i < 4; i++) {
			redisReply *r = redisCommand(rc, "LINDEX %s %d", keys[c], -1 - i);
			ooblex_frame_header out;
			const uint8_t *payload;
			char err[256];
			int ok = r && r->type == REDIS_REPLY_STRING &&
				ooblex_wire_parse((const uint8_t *)r->str, r->len, &out, &payload) == OOBLEX_WIRE_OK &&
				out.kind == OOBLEX_KIND_RESULT && out.seq == (uint64_t)(i + 1) &&
				ooblex_jpeg_decode_gray(j, payload, out.payload_len, MW, MH, luma, err, sizeof(err)) == 0;
			EXPECT(ok);
			if(ok) {
				const char *p = strstr(out.meta, "\"person\":");
				double grass = mean_of(luma, 0, 280, 180, 342);
				printf("# client %d frame %d: %s, grass luma %.1f\n", c, i + 1, out.meta, grass);
				EXPECT(p != NULL && atof(p + 9) > 0.1 && atof(p + 9) < 0.45);
				EXPECT(grass < 24);
			}
			if(r)
				freeReplyObject(r);
		}
	ooblex_jpeg_free(j);
	/* The metrics file, rewritten every second: batched runs of the model. */
	gchar *path = g_strdup_printf("%s/ooblex_worker_ml-batch.prom", metrics);
	long long batches = -1, frames = -1;
	for(int i = 0; i < 40 && frames < 8; i++) {
		g_usleep(100000);
		gchar *text = NULL;
		if(g_file_get_contents(path, &text, NULL, NULL)) {
			const char *b = strstr(text, "ooblex_worker_model_batches_total{worker=\"ml-batch\"} ");
			const char *f = strstr(text, "ooblex_worker_model_batch_frames_total{worker=\"ml-batch\"} ");
			if(b && f) {
				batches = atoll(strchr(b, '}') + 2);
				frames = atoll(strchr(f, '}') + 2);
			}
		}
		g_free(text);
	}
	printf("# model runs on batches: %lld, covering %lld frames\n", batches, frames);
	/* The first take finds all eight waiting and holds four: one run for
	 * them at least. How the rest split depends on the takes in flight. */
	EXPECT(frames >= 4 && frames <= 8);
	EXPECT(batches >= 1 && batches * 2 <= frames);
	int status = 0;
	harness_stop(w, SIGTERM, &status);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	g_unlink(path);
	g_free(path);
	g_rmdir(metrics);
	redisFree(rc);
}

/* A worker whose models folder lacks the segmentation model runs the
 * background effects for nobody: it must not announce them (the plugin then
 * refuses them at start with 420 instead of every frame failing), while it
 * still announces faces (the cascade) and the core effects. Needs no model. */
static void test_worker_without_the_model_does_not_announce_it(void) {
	redisContext *rc = harness_connect(13, 1);
	REQUIRE(rc != NULL);
	char tmpl[] = "/tmp/ooblex-nomodels.XXXXXX";
	REQUIRE(g_mkdtemp(tmpl) != NULL);
	const char *args[] = { "--models-dir", tmpl, NULL };
	GPid w = harness_spawn_worker(13, "ml-bare", 0, 1, args, NULL);
	REQUIRE(w != 0);
	char *entry = NULL;
	for(int i = 0; i < 100 && entry == NULL; i++) {
		g_usleep(50000);
		redisReply *reg = redisCommand(rc, "GET %s", OOBLEX_KEY_WORKER_PREFIX "ml-bare");
		if(reg && reg->type == REDIS_REPLY_STRING)
			entry = g_strdup(reg->str);
		if(reg)
			freeReplyObject(reg);
	}
	EXPECT(entry != NULL);
	printf("# entry: %.300s\n", entry ? entry : "(none)");
	/* "effects" is what it runs; its routed queues stay listed under
	 * "routes" and "queues" (the threads exist), but with the effect not
	 * in "effects" the plugin's check (fleet_effects.h) refuses it. */
	json_t *j = entry ? json_loads(entry, 0, NULL) : NULL;
	json_t *effects = json_object_get(j, "effects");
	int invert = 0, faces = 0, background = 0;
	for(size_t i = 0; i < json_array_size(effects); i++) {
		const char *e = json_string_value(json_array_get(effects, i));
		invert |= e && !strcmp(e, "invert");
		faces |= e && !strcmp(e, "faces");
		background |= e && !strncmp(e, "background_", 11);
	}
	EXPECT(json_is_array(effects) && invert && faces);
	EXPECT(!background);
	json_decref(j);
	g_free(entry);
	int status = 0;
	harness_stop(w, SIGTERM, &status);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	g_rmdir(tmpl);
	redisFree(rc);
}

int main(void) {
	if(harness_init() < 0) {
		printf("Bail out! set OOBLEX_TEST_REDIS_PORT and OOBLEX_TEST_WORKER\n");
		return 1;
	}
	models = getenv("OOBLEX_TEST_MODELS_DIR");
	if(models == NULL || !*models)
		models = "/usr/local/share/ooblex/models";
	if(load_messi() < 0) {
		printf("Bail out! cannot read %s/messi5.jpg (Debian: opencv-doc)\n", OPENCV_DATA);
		return 1;
	}
	TEST_RUN(test_worker_without_the_model_does_not_announce_it);
	gchar *seg = g_build_filename(models, "selfie_segmentation.pb", NULL), *face = g_build_filename(models,
		"blazeface_full_range.pb", NULL);
	if(g_file_test(seg, G_FILE_TEST_IS_REGULAR) && g_file_test(face, G_FILE_TEST_IS_REGULAR)) {
		TEST_RUN(test_worker_serves_the_model_effects);
		TEST_RUN(test_worker_batches_the_model);
	} else {
		printf("ok %d - test_worker_serves_the_model_effects # SKIP the models are not installed in %s "
			"(deploy/install-models.sh)\n", ++tl_cases, models);
		printf("ok %d - test_worker_batches_the_model # SKIP the models are not installed in %s "
			"(deploy/install-models.sh)\n", ++tl_cases, models);
	}
	g_free(seg);
	g_free(face);
	return tl_done();
}
