/*
 * reorder.c - a small array of held results kept sorted by sequence number.
 *
 * Few results are ever held (about fps x max_wait), so a sorted array with
 * insertion beats any cleverer structure. When more than `capacity` are
 * held, the wait is cut short: the oldest is delivered (skipping the gap in
 * front of it), so memory stays bounded even if pop() is called rarely.
 */
#include "reorder.h"

#include <stdlib.h>
#include <string.h>

#define ADAPT_WINDOW 64
#define ADAPT_EVERY 8	/* recompute the wait every this many observations */

typedef struct held_result {
	void *item;
	uint32_t seq;
	uint64_t arrived_us;
} held_result;

struct ooblex_reorder {
	held_result *held;	/* sorted by seq (circular order from `next`) */
	unsigned count, capacity;
	uint32_t next;	/* sequence number to deliver next */
	uint64_t max_wait_us;	/* the bound */
	uint64_t wait_us;	/* in force: max_wait_us, or less when adaptive */
	/* Adaptive wait: recent latencies, in a ring. */
	int adaptive;
	uint64_t min_wait_us, margin_us;
	uint32_t lat[ADAPT_WINDOW];
	unsigned lat_count, lat_next, lat_since;
	void (*free_item)(void *);
	ooblex_reorder_stats stats;
};

ooblex_reorder *ooblex_reorder_new(unsigned capacity, uint64_t max_wait_us, void (*free_item)(void *)) {
	ooblex_reorder *r = calloc(1, sizeof(*r));
	if(r == NULL)
		return NULL;
	r->capacity = capacity ? capacity : 64;
	/* One extra slot: a put on a full buffer is accepted, then forced out. */
	r->held = calloc(r->capacity + 1, sizeof(held_result));
	if(r->held == NULL) {
		free(r);
		return NULL;
	}
	r->next = 1;
	r->max_wait_us = max_wait_us;
	r->wait_us = max_wait_us;
	r->free_item = free_item;
	return r;
}

void ooblex_reorder_free(ooblex_reorder *r) {
	if(r == NULL)
		return;
	for(unsigned i = 0; i < r->count; i++)
		if(r->free_item != NULL)
			r->free_item(r->held[i].item);
	free(r->held);
	free(r);
}

void ooblex_reorder_set_max_wait(ooblex_reorder *r, uint64_t max_wait_us) {
	r->max_wait_us = max_wait_us;
	if(!r->adaptive || r->wait_us > max_wait_us)
		r->wait_us = max_wait_us;
}

void ooblex_reorder_set_adaptive(ooblex_reorder *r, uint64_t min_wait_us, uint64_t margin_us) {
	r->adaptive = 1;
	r->min_wait_us = min_wait_us;
	r->margin_us = margin_us;
}

static int cmp_u32(const void *a, const void *b) {
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void ooblex_reorder_observe(ooblex_reorder *r, uint64_t latency_us) {
	if(!r->adaptive)
		return;
	r->lat[r->lat_next] = latency_us > UINT32_MAX ? UINT32_MAX : (uint32_t)latency_us;
	r->lat_next = (r->lat_next + 1) % ADAPT_WINDOW;
	if(r->lat_count < ADAPT_WINDOW)
		r->lat_count++;
	if(++r->lat_since < ADAPT_EVERY || r->lat_count < ADAPT_EVERY)
		return;
	r->lat_since = 0;
	uint32_t sorted[ADAPT_WINDOW];
	memcpy(sorted, r->lat, r->lat_count * sizeof(uint32_t));
	qsort(sorted, r->lat_count, sizeof(uint32_t), cmp_u32);
	uint64_t p50 = sorted[r->lat_count / 2], p95 = sorted[(r->lat_count * 95) / 100];
	uint64_t w = p95 - p50 + r->margin_us;
	if(w < r->min_wait_us)
		w = r->min_wait_us;
	if(w > r->max_wait_us)
		w = r->max_wait_us;
	r->wait_us = w;
}

uint64_t ooblex_reorder_wait(const ooblex_reorder *r) {
	return r->wait_us;
}

void ooblex_reorder_set_next(ooblex_reorder *r, uint32_t seq) {
	if(r->count == 0)
		r->next = seq;
}

/* seq - next on the 32-bit circle: negative means already behind us. */
static int64_t ahead(const ooblex_reorder *r, uint32_t seq) {
	return (int64_t)(int32_t)(seq - r->next);
}

ooblex_reorder_put_result ooblex_reorder_put(ooblex_reorder *r, uint32_t seq, void *item, uint64_t now_us) {
	int64_t d = ahead(r, seq);
	if(d < 0) {
		r->stats.late++;
		return OOBLEX_REORDER_LATE;
	}
	unsigned pos = r->count;
	while(pos > 0 && ahead(r, r->held[pos - 1].seq) >= d) {
		if(r->held[pos - 1].seq == seq) {
			r->stats.duplicates++;
			return OOBLEX_REORDER_DUPLICATE;
		}
		pos--;
	}
	if(r->count > r->capacity) {
		/* Still over capacity because pop() was not called since the last
		 * overflow: drop the oldest to stay bounded. */
		if(r->free_item)
			r->free_item(r->held[0].item);
		memmove(&r->held[0], &r->held[1], (r->count - 1) * sizeof(held_result));
		r->count--;
		r->stats.skipped++;
		if(pos > 0)
			pos--;
	}
	memmove(&r->held[pos + 1], &r->held[pos], (r->count - pos) * sizeof(held_result));
	r->held[pos] = (held_result){ .item = item, .seq = seq, .arrived_us = now_us };
	r->count++;
	return OOBLEX_REORDER_ACCEPTED;
}

void *ooblex_reorder_pop(ooblex_reorder *r, uint64_t now_us, uint32_t *seq) {
	if(r->count == 0)
		return NULL;
	held_result *h = &r->held[0];
	if(h->seq != r->next) {
		/* A gap in front. Give up on it once the oldest result waiting behind
		 * it has waited max_wait, or when too many are held. */
		uint64_t oldest = UINT64_MAX;
		for(unsigned i = 0; i < r->count; i++)
			if(r->held[i].arrived_us < oldest)
				oldest = r->held[i].arrived_us;
		if(now_us < oldest + r->wait_us && r->count <= r->capacity)
			return NULL;
		r->stats.skipped += (uint32_t)(h->seq - r->next);
		r->next = h->seq;
	}
	void *item = h->item;
	*seq = h->seq;
	r->next = h->seq + 1;
	memmove(&r->held[0], &r->held[1], (r->count - 1) * sizeof(held_result));
	r->count--;
	r->stats.delivered++;
	return item;
}

uint32_t ooblex_reorder_next(const ooblex_reorder *r) {
	return r->next;
}

unsigned ooblex_reorder_held(const ooblex_reorder *r) {
	return r->count;
}

const ooblex_reorder_stats *ooblex_reorder_get_stats(const ooblex_reorder *r) {
	return &r->stats;
}
