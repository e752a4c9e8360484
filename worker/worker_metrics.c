/*
 * worker_metrics.c - counters and histograms in Prometheus' text format.
 */
#include "worker_metrics.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Seconds: effects take from under a millisecond (invert) to hundreds
 * (a large ONNX model). */
static const double bucket_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
#define N_BUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))
/* Distinct effect labels kept; the rest count as "other" (a label per
 * client-chosen chain would let browsers grow the series without bound). */
#define MAX_EFFECT_LABELS 32

typedef struct effect_series {
	char label[128];
	uint64_t frames;
	uint64_t buckets[N_BUCKETS];	/* cumulative counts are made when writing */
	double sum;
} effect_series;

struct ooblex_metrics {
	GMutex lock;
	char *path, *tmp_path;
	char *worker, *host;	/* escaped for label values */
	int batch_size;
	int64_t started;
	effect_series effects[MAX_EFFECT_LABELS + 1];
	int n_effects;
	uint64_t errors[OOBLEX_ERR_COUNT];
};

static const char *const reason_names[OOBLEX_ERR_COUNT] = { "malformed", "failed", "stale" };

/* Label values escape backslash, double quote and newline. */
static char *escape_label(const char *s) {
	GString *o = g_string_new(NULL);
	for(; *s; s++) {
		if(*s == '\\' || *s == '"')
			g_string_append_c(o, '\\');
		if(*s == '\n')
			g_string_append(o, "\\n");
		else
			g_string_append_c(o, *s);
	}
	return g_string_free(o, FALSE);
}

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
	m->worker = escape_label(worker_id);
	m->host = escape_label(host);
	m->batch_size = batch_size;
	m->started = started_unix;
	if(dir != NULL && *dir) {
		/* The file name carries the id, so that workers sharing a folder
		 * never overwrite each other; only [A-Za-z0-9_-] reach it. */
		char safe[256];
		size_t i = 0;
		for(const char *p = worker_id; *p && i + 1 < sizeof(safe); p++)
			safe[i++] = g_ascii_isalnum(*p) || *p == '-' || *p == '_' ? *p : '_';
		safe[i] = '\0';
		m->path = g_strdup_printf("%s/ooblex_worker_%s.prom", dir, safe);
		/* Not *.prom: the collector never reads a half-written file. */
		m->tmp_path = g_strdup_printf("%s/.ooblex_worker_%s.prom.%d.tmp", dir, safe, (int)getpid());
	}
	return m;
}

void ooblex_metrics_free(ooblex_metrics *m) {
	if(m == NULL)
		return;
	g_mutex_clear(&m->lock);
	g_free(m->path);
	g_free(m->tmp_path);
	g_free(m->worker);
	g_free(m->host);
	free(m);
}

const char *ooblex_metrics_path(const ooblex_metrics *m) {
	return m->path;
}

void ooblex_metrics_frame(ooblex_metrics *m, const char *effect, double seconds) {
	char label[128];
	ooblex_metrics_effect_label(effect, label, sizeof(label));
	g_mutex_lock(&m->lock);
	effect_series *s = NULL;
	for(int i = 0; i < m->n_effects && s == NULL; i++)
		if(!strcmp(m->effects[i].label, label))
			s = &m->effects[i];
	if(s == NULL) {
		if(m->n_effects < MAX_EFFECT_LABELS) {
			s = &m->effects[m->n_effects++];
			snprintf(s->label, sizeof(s->label), "%s", label);
		} else {
			s = &m->effects[MAX_EFFECT_LABELS];
			snprintf(s->label, sizeof(s->label), "other");
		}
	}
	s->frames++;
	s->sum += seconds;
	for(size_t b = 0; b < N_BUCKETS; b++)
		if(seconds <= bucket_bounds[b]) {
			s->buckets[b]++;
			break;
		}
	g_mutex_unlock(&m->lock);
}

void ooblex_metrics_error(ooblex_metrics *m, ooblex_error_reason reason) {
	g_mutex_lock(&m->lock);
	m->errors[reason]++;
	g_mutex_unlock(&m->lock);
}

static void write_series(FILE *f, const ooblex_metrics *m, const effect_series *s) {
	char *effect = escape_label(s->label);
	fprintf(f, "ooblex_worker_frames_total{worker=\"%s\",effect=\"%s\"} %llu\n", m->worker, effect,
		(unsigned long long)s->frames);
	g_free(effect);
}

static void write_histogram(FILE *f, const ooblex_metrics *m, const effect_series *s) {
	char *effect = escape_label(s->label);
	uint64_t cumulative = 0;
	for(size_t b = 0; b < N_BUCKETS; b++) {
		cumulative += s->buckets[b];
		fprintf(f, "ooblex_worker_processing_seconds_bucket{worker=\"%s\",effect=\"%s\",le=\"%g\"} %llu\n",
			m->worker, effect, bucket_bounds[b], (unsigned long long)cumulative);
	}
	fprintf(f, "ooblex_worker_processing_seconds_bucket{worker=\"%s\",effect=\"%s\",le=\"+Inf\"} %llu\n",
		m->worker, effect, (unsigned long long)s->frames);
	fprintf(f, "ooblex_worker_processing_seconds_sum{worker=\"%s\",effect=\"%s\"} %.6f\n", m->worker, effect, s->sum);
	fprintf(f, "ooblex_worker_processing_seconds_count{worker=\"%s\",effect=\"%s\"} %llu\n", m->worker, effect,
		(unsigned long long)s->frames);
	g_free(effect);
}

int ooblex_metrics_write(ooblex_metrics *m) {
	if(m->path == NULL)
		return 0;
	FILE *f = fopen(m->tmp_path, "w");
	if(f == NULL)
		return -1;
	g_mutex_lock(&m->lock);
	int n = m->n_effects + (m->effects[MAX_EFFECT_LABELS].frames ? 1 : 0);
	const effect_series *series[MAX_EFFECT_LABELS + 1];
	for(int i = 0; i < m->n_effects; i++)
		series[i] = &m->effects[i];
	if(n > m->n_effects)
		series[m->n_effects] = &m->effects[MAX_EFFECT_LABELS];
	fprintf(f, "# HELP ooblex_worker_up 1 while the worker runs; its file is removed when it stops.\n"
		"# TYPE ooblex_worker_up gauge\n"
		"ooblex_worker_up{worker=\"%s\",host=\"%s\"} 1\n", m->worker, m->host);
	fprintf(f, "# HELP ooblex_worker_start_time_seconds When the worker started, in Unix seconds.\n"
		"# TYPE ooblex_worker_start_time_seconds gauge\n"
		"ooblex_worker_start_time_seconds{worker=\"%s\"} %lld\n", m->worker, (long long)m->started);
	fprintf(f, "# HELP ooblex_worker_batch_size Frames the worker takes at once (BATCH_SIZE).\n"
		"# TYPE ooblex_worker_batch_size gauge\n"
		"ooblex_worker_batch_size{worker=\"%s\"} %d\n", m->worker, m->batch_size);
	fprintf(f, "# HELP ooblex_worker_frames_total Frames processed, by effect chain.\n"
		"# TYPE ooblex_worker_frames_total counter\n");
	for(int i = 0; i < n; i++)
		write_series(f, m, series[i]);
	fprintf(f, "# HELP ooblex_worker_errors_total Frames not processed, by reason.\n"
		"# TYPE ooblex_worker_errors_total counter\n");
	for(int r = 0; r < OOBLEX_ERR_COUNT; r++)
		fprintf(f, "ooblex_worker_errors_total{worker=\"%s\",reason=\"%s\"} %llu\n", m->worker, reason_names[r],
			(unsigned long long)m->errors[r]);
	fprintf(f, "# HELP ooblex_worker_processing_seconds Time to process a frame (decode, effect, encode).\n"
		"# TYPE ooblex_worker_processing_seconds histogram\n");
	for(int i = 0; i < n; i++)
		write_histogram(f, m, series[i]);
	g_mutex_unlock(&m->lock);
	int failed = ferror(f);
	if(fclose(f) != 0 || failed || rename(m->tmp_path, m->path) != 0) {
		int e = errno;
		unlink(m->tmp_path);
		errno = e;
		return -1;
	}
	return 0;
}

void ooblex_metrics_remove(ooblex_metrics *m) {
	if(m->path != NULL)
		unlink(m->path);
}
