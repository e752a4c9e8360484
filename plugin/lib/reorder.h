/*
 * reorder.h - puts numbered items back in order, waiting a bounded time.
 *
 * Owns: items that arrived before their turn. Used twice on the data path:
 * for RTP packets in front of the depacketizer (retransmissions arrive late
 * and out of order; keyed by the unwrapped sequence number) and for processed
 * frames before they go to the viewer (workers finish out of order; keyed by
 * the sampler's sequence number). An item is delivered when every earlier one
 * has been delivered or given up on. A missing one is waited for at most
 * max_wait after a later one arrived; then it is skipped. An item older than
 * what was already delivered is refused as late.
 *
 * Not thread-safe; the caller serialises put/pop for one client.
 */
#ifndef OOBLEX_REORDER_H
#define OOBLEX_REORDER_H

#include <stdint.h>

typedef struct ooblex_reorder_stats {
	uint64_t delivered;
	uint64_t late;	/* arrived after a later frame went out */
	uint64_t duplicates;
	uint64_t skipped;	/* never arrived within the wait */
} ooblex_reorder_stats;

typedef enum ooblex_reorder_put_result {
	OOBLEX_REORDER_ACCEPTED = 0,
	OOBLEX_REORDER_LATE,	/* item not taken: caller frees it */
	OOBLEX_REORDER_DUPLICATE,	/* item not taken: caller frees it */
} ooblex_reorder_put_result;

typedef struct ooblex_reorder ooblex_reorder;

/* capacity: how many results may be held waiting for a gap; past it the
 * wait is cut short.
 * free_item frees items that are still held when the buffer is freed. */
ooblex_reorder *ooblex_reorder_new(unsigned capacity, uint64_t max_wait_us, void (*free_item)(void *));
void ooblex_reorder_free(ooblex_reorder *r);
void ooblex_reorder_set_max_wait(ooblex_reorder *r, uint64_t max_wait_us);
/* Adaptive wait: from now on the wait follows the spread of the latencies
 * given to ooblex_reorder_observe() (p95 - p50 + margin_us over the last 64),
 * never below min_wait_us and never above the max_wait set so far. The idea:
 * a frame missing behind a later one is worth waiting for only as long as
 * latencies actually vary; fast, steady workers mean a short wait (a lost
 * frame costs little), an uneven fleet a longer one, up to the bound. */
void ooblex_reorder_set_adaptive(ooblex_reorder *r, uint64_t min_wait_us, uint64_t margin_us);
/* One result's latency (e.g. queued to returned), for the adaptive wait. */
void ooblex_reorder_observe(ooblex_reorder *r, uint64_t latency_us);
/* The wait in force now. */
uint64_t ooblex_reorder_wait(const ooblex_reorder *r);
/* Sets the sequence number expected first (default 1); only before any put. */
void ooblex_reorder_set_next(ooblex_reorder *r, uint32_t seq);

/* Offers a result; on ACCEPTED the buffer owns item. */
ooblex_reorder_put_result ooblex_reorder_put(ooblex_reorder *r, uint32_t seq, void *item, uint64_t now_us);

/* Next result to deliver now, or NULL. Call until NULL after every put and
 * periodically (a wait may have expired). */
void *ooblex_reorder_pop(ooblex_reorder *r, uint64_t now_us, uint32_t *seq);

/* The sequence number expected next: everything before it was delivered
 * or given up on. */
uint32_t ooblex_reorder_next(const ooblex_reorder *r);
/* Results held, waiting for an earlier one. */
unsigned ooblex_reorder_held(const ooblex_reorder *r);
const ooblex_reorder_stats *ooblex_reorder_get_stats(const ooblex_reorder *r);

#endif
