/*
 * ooblex_prom.c - see ooblex_prom.h.
 */
#include "ooblex_prom.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void ooblex_prom_hist_init(ooblex_prom_hist *h, const double *bounds, size_t n_bounds) {
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->n_bounds = n_bounds < OOBLEX_PROM_MAX_BUCKETS ? n_bounds : OOBLEX_PROM_MAX_BUCKETS;
}

void ooblex_prom_hist_observe(ooblex_prom_hist *h, double seconds) {
	/* Timestamps come from other processes (and from Redis, where anyone may
	 * write): a span of years would overflow the nanosecond sum's conversion
	 * (undefined behaviour), and NaN compares false with everything. Clamp
	 * to what a histogram of latencies can mean. */
	if(!(seconds >= 0))
		seconds = 0;
	if(seconds > OOBLEX_PROM_MAX_OBSERVED_S)
		seconds = OOBLEX_PROM_MAX_OBSERVED_S;
	for(size_t b = 0; b < h->n_bounds; b++)
		if(seconds <= h->bounds[b]) {
			atomic_fetch_add(&h->counts[b], 1);
			break;
		}
	atomic_fetch_add(&h->sum_ns, (uint_fast64_t)(seconds * 1e9));
	atomic_fetch_add(&h->count, 1);
}

void ooblex_prom_hist_print(FILE *f, const char *name, const char *labels, const ooblex_prom_hist *h) {
	const char *sep = labels[0] ? "," : "";
	uint64_t count = atomic_load(&h->count), cumulative = 0;
	for(size_t b = 0; b < h->n_bounds; b++) {
		cumulative += atomic_load(&h->counts[b]);
		/* Buckets are read one by one while others observe: never let one
		 * exceed the total printed for +Inf. */
		if(cumulative > count)
			cumulative = count;
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, h->bounds[b], (unsigned long long)cumulative);
	}
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)count);
	fprintf(f, "%s_sum{%s} %.9f\n", name, labels, atomic_load(&h->sum_ns) / 1e9);
	fprintf(f, "%s_count{%s} %llu\n", name, labels, (unsigned long long)count);
}

void ooblex_prom_escape(const char *value, char *out, size_t outlen) {
	size_t n = 0;
	for(const char *p = value; *p && n + 3 < outlen; p++) {
		if(*p == '\\' || *p == '"') {
			out[n++] = '\\';
			out[n++] = *p;
		} else if(*p == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *p;
		}
	}
	if(outlen > 0)
		out[n] = '\0';
}

int ooblex_prom_paths(const char *dir, const char *stem, const char *id, char *path, size_t pathlen,
		char *tmp, size_t tmplen) {
	char safe[128];
	size_t i = 0;
	for(const char *p = id; *p && i + 1 < sizeof(safe); p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
		safe[i++] = ok ? c : '_';
	}
	safe[i] = '\0';
	int a = snprintf(path, pathlen, "%s/%s_%s.prom", dir, stem, safe);
	int b = snprintf(tmp, tmplen, "%s/.%s_%s.prom.%d.tmp", dir, stem, safe, (int)getpid());
	return a < 0 || (size_t)a >= pathlen || b < 0 || (size_t)b >= tmplen ? -1 : 0;
}

int ooblex_prom_write_file(const char *path, const char *tmp_path, void (*print)(FILE *f, void *user), void *user) {
	FILE *f = fopen(tmp_path, "w");
	if(f == NULL)
		return -1;
	print(f, user);
	int failed = ferror(f);
	if(fclose(f) != 0 || failed || rename(tmp_path, path) != 0) {
		int e = errno ? errno : EIO;
		unlink(tmp_path);
		errno = e;
		return -1;
	}
	return 0;
}
