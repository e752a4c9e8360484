/*
 * ooblex_prom.h - Prometheus text exposition for node exporter's textfile
 * collector, shared by the plugin and the workers.
 *
 * Owns: a lock-free histogram (fixed bucket bounds, atomic counts, so media
 * and processing threads observe without a lock while a writer thread reads)
 * and the atomic replacement of a .prom file: written to a temporary name the
 * collector ignores, then renamed over the old one, so the collector never
 * reads half a file.
 */
#ifndef OOBLEX_PROM_H
#define OOBLEX_PROM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OOBLEX_PROM_MAX_BUCKETS 16

typedef struct ooblex_prom_hist {
	const double *bounds;	/* upper bounds in seconds, ascending; +Inf is implied */
	size_t n_bounds;
	atomic_uint_fast64_t counts[OOBLEX_PROM_MAX_BUCKETS];	/* per bucket, not cumulative */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_ns;
} ooblex_prom_hist;

/* One observation counts at most this (a day): anything longer is a clock
 * error or a forged timestamp, and the sum's nanoseconds stay in range. */
#define OOBLEX_PROM_MAX_OBSERVED_S 86400.0

/* bounds must outlive the histogram; at most OOBLEX_PROM_MAX_BUCKETS. */
void ooblex_prom_hist_init(ooblex_prom_hist *h, const double *bounds, size_t n_bounds);
void ooblex_prom_hist_observe(ooblex_prom_hist *h, double seconds);
/* Writes name_bucket{labels,le=".."}, name_sum{labels}, name_count{labels};
 * labels is the inside of the braces ("worker=\"a\",effect=\"x\""). */
void ooblex_prom_hist_print(FILE *f, const char *name, const char *labels, const ooblex_prom_hist *h);

/* A label value with backslash, double quote and newline escaped, into out. */
void ooblex_prom_escape(const char *value, char *out, size_t outlen);

/* Where a process's metrics go: <dir>/<stem>_<id>.prom, with id reduced to
 * [A-Za-z0-9_-] so that processes sharing a folder never collide or escape
 * it, and the temporary name it is first written under (not *.prom: the
 * collector never reads a half-written file). Returns 0, or -1 when the
 * names do not fit. */
int ooblex_prom_paths(const char *dir, const char *stem, const char *id, char *path, size_t pathlen,
	char *tmp, size_t tmplen);

/* Replaces path with what print writes, atomically (tmp_path must be in the
 * same folder and not end in .prom). Returns 0, or -1 with errno set. */
int ooblex_prom_write_file(const char *path, const char *tmp_path, void (*print)(FILE *f, void *user), void *user);

#endif
