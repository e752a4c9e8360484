/*
 * worker_metrics.h - a worker's Prometheus metrics, written for node
 * exporter's textfile collector.
 *
 * Owns: the counters (frames done per effect, errors by reason) and the
 * per-effect processing-time histograms, and the file
 * <dir>/ooblex_worker_<id>.prom, rewritten atomically (temporary file +
 * rename) whenever ooblex_metrics_write() is called and removed by
 * ooblex_metrics_remove() when the worker stops, so a gone worker's series
 * go with it. Thread-safe: processing threads record, the liveness thread
 * writes.
 */
#ifndef OOBLEX_WORKER_METRICS_H
#define OOBLEX_WORKER_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ooblex_metrics ooblex_metrics;

typedef enum ooblex_error_reason {
	OOBLEX_ERR_MALFORMED,	/* not a frame message */
	OOBLEX_ERR_FAILED,	/* the effect (or JPEG coding) failed */
	OOBLEX_ERR_STALE,	/* past its deadline when taken */
	OOBLEX_ERR_OVER_BUDGET,	/* processed, but over the per-frame time budget: not delivered */
	OOBLEX_ERR_COUNT
} ooblex_error_reason;

/* dir: the textfile collector's folder (NULL or "": keep counts, write
 * nothing). Labels every series with worker="<id>". */
ooblex_metrics *ooblex_metrics_new(const char *dir, const char *worker_id, const char *host, int batch_size,
	int64_t started_unix);
void ooblex_metrics_free(ooblex_metrics *m);

/* A frame done: its effect string (parameters are dropped from the label:
 * "blur:sigma=3|grayscale" counts as "blur|grayscale") and the time it took. */
void ooblex_metrics_frame(ooblex_metrics *m, const char *effect, double seconds);
void ooblex_metrics_error(ooblex_metrics *m, ooblex_error_reason reason);
/* A model ran once for this many frames of a batch (ooblex_effects_run_ahead). */
void ooblex_metrics_model_batch(ooblex_metrics *m, int frames);

/* Writes the file; 0, or -1 (errno kept) when it cannot. */
int ooblex_metrics_write(ooblex_metrics *m);
void ooblex_metrics_remove(ooblex_metrics *m);
/* The file's path, or NULL when not writing. */
const char *ooblex_metrics_path(const ooblex_metrics *m);

/* The effect label for an effect string into out. */
void ooblex_metrics_effect_label(const char *effect, char *out, size_t outlen);

#endif
