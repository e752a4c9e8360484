/*
 * worker_metrics.c - counters and histograms in Prometheus' text format.
 */
#include "worker_metrics.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ooblex_prom.h"

/* Seconds: effects take from under a millisecond (invert) to hundreds
 * (a large ONNX model). */
static const double bucket_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
/* Distinct effect labels kept; the rest count as "other" (a label per
 * client-chosen chain would let browsers grow the series without bound). */
#define MAX_EFFECT_LABELS 32

typedef struct effect_series {
	char label[128];	/* escaped */
	ooblex_prom_hist time;	/* its count is the frames done */
} effect_series;

struct ooblex_metrics {
	GMutex lock;	/* guards the series table; the histograms are atomic */
	char path[1024], tmp_path[1100];	/* path "" when not writing */
	char worker[512], host[512];	/* escaped for label values */
	int batch_size;
	int64_t started;
	effect_series effects[MAX_EFFECT_LABELS + 1];	/* the last one is "other" */
	int n_effects;
	uint64_t errors[OOBLEX_ERR_COUNT];
	atomic_uint_fast64_t model_batches, model_batch_frames;	/* batched model runs, frames in them */
};

static const char *const reason_names[OOBLEX_ERR_COUNT] = { "malformed", "failed", "stale", "over_budget" };

void ooblex_metrics_effect_label(const char *effect, char *out, size_t outlen) {
	size_t n = 0;
	if(outlen == 0)
		return;
	if(*effect == '\0')
		effect = "none";
	for(const char *p = effect; *p && n + 1 < outlen;) {
		if(!strncmp(p, "ffmpeg:", 7)) {
			/* A whole graph is the user's text: one label for all of them. */
			n += (size_t)snprintf(out + n, outlen - n, "ffmpeg");
			break;
		}
		size_t len = strcspn(p, ":|");
		for(size_t i = 0; i < len && n + 1 < outlen; i++)
			out[n++] = g_ascii_isalnum(p[i]) || p[i] == '_' ? p[i] : '_';
		p = strchr(p, '|');
		if(p == NULL)
			break;
		p++;
		if(n + 1 < outlen)
			out[n++] = '|';
	}
	out[n < outlen ? n : outlen - 1] = '\0';
}

ooblex_metrics *ooblex_metrics_new(const char *dir, const char *worker_id, const char *host, int batch_size,
		int64_t started_unix) {
	ooblex_metrics *m = calloc(1, sizeof(*m));
	if(m == NULL)
		return NULL;
	g_mutex_init(&m->lock);
	ooblex_prom_escape(worker_id, m->worker, sizeof(m->worker));
	ooblex_prom_escape(host, m->host, sizeof(m->host));
	m->batch_size = batch_size;
	m->started = started_unix;
	snprintf(m->effects[MAX_EFFECT_LABELS].label, sizeof(m->effects[0].label), "other");
	ooblex_prom_hist_init(&m->effects[MAX_EFFECT_LABELS].time, bucket_bounds, G_N_ELEMENTS(bucket_bounds));
	if(dir != NULL && *dir &&
			ooblex_prom_paths(dir, "ooblex_worker", worker_id, m->path, sizeof(m->path), m->tmp_path, sizeof(m->tmp_path)) < 0)
		m->path[0] = '\0';
	return m;
}

void ooblex_metrics_free(ooblex_metrics *m) {
	if(m == NULL)
		return;
	g_mutex_clear(&m->lock);
	free(m);
}

const char *ooblex_metrics_path(const ooblex_metrics *m) {
	return m->path[0] ? m->path : NULL;
}

void ooblex_metrics_frame(ooblex_metrics *m, const char *effect, double seconds) {
	char label[128], escaped[128];
	ooblex_metrics_effect_label(effect, label, sizeof(label));
	ooblex_prom_escape(label, escaped, sizeof(escaped));
	g_mutex_lock(&m->lock);
	effect_series *s = &m->effects[MAX_EFFECT_LABELS];
	for(int i = 0; i < m->n_effects; i++)
		if(!strcmp(m->effects[i].label, escaped)) {
			s = &m->effects[i];
			break;
		}
	if(s == &m->effects[MAX_EFFECT_LABELS] && m->n_effects < MAX_EFFECT_LABELS) {
		s = &m->effects[m->n_effects++];
		snprintf(s->label, sizeof(s->label), "%s", escaped);
		ooblex_prom_hist_init(&s->time, bucket_bounds, G_N_ELEMENTS(bucket_bounds));
	}
	ooblex_prom_hist_observe(&s->time, seconds);
	g_mutex_unlock(&m->lock);
}

void ooblex_metrics_model_batch(ooblex_metrics *m, int frames) {
	atomic_fetch_add(&m->model_batches, 1);
	atomic_fetch_add(&m->model_batch_frames, (uint64_t)frames);
}

void ooblex_metrics_error(ooblex_metrics *m, ooblex_error_reason reason) {
	g_mutex_lock(&m->lock);
	m->errors[reason]++;
	g_mutex_unlock(&m->lock);
}

/* The series worth printing: the named ones, and "other" once it has any. */
static int printable(const ooblex_metrics *m, int i) {
	return i < m->n_effects || (i == MAX_EFFECT_LABELS && atomic_load(&m->effects[i].time.count) > 0);
}

static void print_all(FILE *f, void *user) {
	const ooblex_metrics *m = user;
	fprintf(f, "# HELP ooblex_worker_up 1 while the worker runs; its file is removed when it stops.\n"
		"# TYPE ooblex_worker_up gauge\n"
		"ooblex_worker_up{worker=\"%s\",host=\"%s\"} 1\n", m->worker, m->host);
	fprintf(f, "# HELP ooblex_worker_start_time_seconds When the worker started, in Unix seconds.\n"
		"# TYPE ooblex_worker_start_time_seconds gauge\n"
		"ooblex_worker_start_time_seconds{worker=\"%s\"} %lld\n", m->worker, (long long)m->started);
	fprintf(f, "# HELP ooblex_worker_batch_size Frames the worker takes at once (BATCH_SIZE).\n"
		"# TYPE ooblex_worker_batch_size gauge\n"
		"ooblex_worker_batch_size{worker=\"%s\"} %d\n", m->worker, m->batch_size);
	fprintf(f, "# HELP ooblex_worker_model_batches_total Model runs on a batch of frames (BATCH_SIZE above 1).\n"
		"# TYPE ooblex_worker_model_batches_total counter\n"
		"ooblex_worker_model_batches_total{worker=\"%s\"} %llu\n", m->worker,
		(unsigned long long)atomic_load(&m->model_batches));
	fprintf(f, "# HELP ooblex_worker_model_batch_frames_total Frames whose model ran in a batch.\n"
		"# TYPE ooblex_worker_model_batch_frames_total counter\n"
		"ooblex_worker_model_batch_frames_total{worker=\"%s\"} %llu\n", m->worker,
		(unsigned long long)atomic_load(&m->model_batch_frames));
	fprintf(f, "# HELP ooblex_worker_frames_total Frames processed, by effect chain.\n"
		"# TYPE ooblex_worker_frames_total counter\n");
	for(int i = 0; i <= MAX_EFFECT_LABELS; i++)
		if(printable(m, i))
			fprintf(f, "ooblex_worker_frames_total{worker=\"%s\",effect=\"%s\"} %llu\n", m->worker, m->effects[i].label,
				(unsigned long long)atomic_load(&m->effects[i].time.count));
	fprintf(f, "# HELP ooblex_worker_errors_total Frames not processed, by reason.\n"
		"# TYPE ooblex_worker_errors_total counter\n");
	for(int r = 0; r < OOBLEX_ERR_COUNT; r++)
		fprintf(f, "ooblex_worker_errors_total{worker=\"%s\",reason=\"%s\"} %llu\n", m->worker, reason_names[r],
			(unsigned long long)m->errors[r]);
	fprintf(f, "# HELP ooblex_worker_processing_seconds Time to process a frame (decode, effect, encode).\n"
		"# TYPE ooblex_worker_processing_seconds histogram\n");
	for(int i = 0; i <= MAX_EFFECT_LABELS; i++) {
		if(!printable(m, i))
			continue;
		char labels[768];
		snprintf(labels, sizeof(labels), "worker=\"%s\",effect=\"%s\"", m->worker, m->effects[i].label);
		ooblex_prom_hist_print(f, "ooblex_worker_processing_seconds", labels, &m->effects[i].time);
	}
}

int ooblex_metrics_write(ooblex_metrics *m) {
	if(m->path[0] == '\0')
		return 0;
	g_mutex_lock(&m->lock);
	int rc = ooblex_prom_write_file(m->path, m->tmp_path, print_all, m);
	g_mutex_unlock(&m->lock);
	return rc;
}

void ooblex_metrics_remove(ooblex_metrics *m) {
	if(m->path[0] != '\0')
		unlink(m->path);
}
