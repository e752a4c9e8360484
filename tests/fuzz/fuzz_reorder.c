/*
 * fuzz_reorder.c - the reorder buffer with arbitrary sequence numbers and times.
 *
 * fuzz-sources: plugin/lib/reorder.c
 * fuzz-pkgs:
 *
 * The buffer is used twice (plugin/lib/reorder.h): as the RTP jitter buffer,
 * keyed by unwrapped 16-bit sequence numbers (ooblex_seq_unwrap, first one
 * sets `next`), and as the result reorder, keyed by whatever 32-bit seq a
 * result from Redis carries, with the adaptive wait fed by
 * ooblex_reorder_observe. Both run against a shadow model of what is held.
 *
 * Input: byte 0 bit 0 picks the use (0: jitter, 1: results), bit 1 the
 * adaptive wait; byte 1 the capacity (1..64); byte 2 the max wait (ms).
 * Then operations, one byte each plus their argument:
 *   0 put [u16 seq] (jitter) or [u32 seq] (results) | 1 put next + [i8]
 *   2 advance the clock [u16 x 100 µs] | 3 the clock steps back [u8 ms]
 *   4 pop until empty-handed | 5 observe [u32 latency µs]
 *   6 set_max_wait [u8 ms] | 7 put then pop (the plugin's on_result)
 *
 * Checked (abort = finding):
 *  - it never holds more than capacity + 1 after a put, nor more than
 *    capacity once pop returns NULL; what it says it holds is what the
 *    shadow holds;
 *  - each accepted item comes out exactly once: popped (in circular order,
 *    never behind `next`, no seq twice until the releases went round the
 *    2^32 circle) or freed by the buffer
 *    on overflow; refused items are left to the caller (ASan and LSan see
 *    double frees and leaks);
 *  - pop releases the lowest held seq, and returns NULL only while that one
 *    is not `next` and the oldest arrival has waited less than the wait;
 *  - the wait stays within [min_wait, max_wait]; counters never decrease.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reorder.h"
#include "rtp_packet.h"

#define CHECK(cond) do { if(!(cond)) { \
	fprintf(stderr, "fuzz_reorder: invariant failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while(0)

#define MAX_CAPACITY 64
#define MIN_WAIT_US 2000
#define MAX_RELEASED 4096

typedef struct item {
	uint32_t seq;
	uint64_t arrived_us;
} item;

typedef struct shadow {
	item held[MAX_CAPACITY + 2];
	unsigned count;
	uint64_t accepted, popped, freed;
} shadow;

/* The buffer frees items itself only when it overflows; it has no user
 * pointer, hence the global. */
static shadow *current;

static void shadow_remove(shadow *s, uint32_t seq) {
	for(unsigned i = 0; i < s->count; i++)
		if(s->held[i].seq == seq) {
			s->held[i] = s->held[--s->count];
			return;
		}
	CHECK(!"an item the buffer does not hold left it");
}

static void free_item(void *p) {
	item *it = p;
	current->freed++;
	shadow_remove(current, it->seq);
	free(it);
}

/* The held seq that comes first from `next` on the 32-bit circle. */
static int shadow_first(const shadow *s, uint32_t next) {
	int best = -1;
	for(unsigned i = 0; i < s->count; i++)
		if(best < 0 || (uint32_t)(s->held[i].seq - next) < (uint32_t)(s->held[best].seq - next))
			best = (int)i;
	return best;
}

typedef struct run {
	ooblex_reorder *r;
	shadow s;
	unsigned capacity;
	uint64_t now, max_wait;
	uint64_t lowest_max;	/* a wait cut by a lower max stays until the next observations */
	int adaptive;
	int have_released;
	uint32_t last_released;
	uint64_t advance;	/* how far releases went round the circle */
	uint32_t released[MAX_RELEASED];
	unsigned n_released;
	ooblex_reorder_stats stats;
} run;

static void check_stats(run *t) {
	const ooblex_reorder_stats *st = ooblex_reorder_get_stats(t->r);
	CHECK(st->delivered >= t->stats.delivered && st->late >= t->stats.late);
	CHECK(st->duplicates >= t->stats.duplicates && st->skipped >= t->stats.skipped);
	CHECK(st->delivered == t->s.popped);
	t->stats = *st;
	CHECK(ooblex_reorder_held(t->r) == t->s.count);
	CHECK(t->s.accepted == t->s.popped + t->s.freed + t->s.count);
	uint64_t w = ooblex_reorder_wait(t->r);
	CHECK(w <= t->max_wait);
	if(t->adaptive && w < t->max_wait)
		CHECK(w >= (t->lowest_max < MIN_WAIT_US ? t->lowest_max : MIN_WAIT_US));
}

static void put(run *t, uint32_t seq) {
	item *it = malloc(sizeof(*it));
	CHECK(it != NULL);
	it->seq = seq;
	it->arrived_us = t->now;
	uint32_t next = ooblex_reorder_next(t->r);
	int already = 0;
	for(unsigned i = 0; i < t->s.count; i++)
		already |= t->s.held[i].seq == seq;
	ooblex_reorder_put_result res = ooblex_reorder_put(t->r, seq, it, t->now);
	if(res == OOBLEX_REORDER_ACCEPTED) {
		CHECK(!already);
		CHECK((int32_t)(seq - next) >= 0);
		t->s.accepted++;
		CHECK(t->s.count < MAX_CAPACITY + 2);
		t->s.held[t->s.count++] = *it;
	} else {
		CHECK(res == OOBLEX_REORDER_LATE ? (int32_t)(seq - next) < 0 : already);
		free(it);
	}
	CHECK(ooblex_reorder_held(t->r) <= t->capacity + 1);
	check_stats(t);
}

static void pop_all(run *t) {
	for(;;) {
		uint32_t next = ooblex_reorder_next(t->r), seq = 0;
		int first = shadow_first(&t->s, next);
		uint64_t oldest = UINT64_MAX;
		for(unsigned i = 0; i < t->s.count; i++)
			if(t->s.held[i].arrived_us < oldest)
				oldest = t->s.held[i].arrived_us;
		uint64_t wait = ooblex_reorder_wait(t->r);
		item *it = ooblex_reorder_pop(t->r, t->now, &seq);
		if(it == NULL) {
			/* Nothing due: empty, or a gap still worth waiting for. */
			if(first >= 0) {
				CHECK(t->s.held[first].seq != next);
				CHECK(t->now < oldest + wait);
			}
			CHECK(ooblex_reorder_held(t->r) <= t->capacity);
			break;
		}
		CHECK(first >= 0 && it->seq == seq && seq == t->s.held[first].seq);
		/* In order: at or after `next` on the circle. Once: until `next` has
		 * gone round the whole circle (2^32 sequence numbers later, which only
		 * a hostile writer of seqs can make happen), no seq comes out twice. */
		CHECK((int32_t)(seq - next) >= 0);
		if(t->have_released)
			t->advance += (uint64_t)(uint32_t)(seq - t->last_released);
		t->have_released = 1;
		t->last_released = seq;
		if(t->advance < (1ull << 32) && t->n_released < MAX_RELEASED) {
			for(unsigned i = 0; i < t->n_released; i++)
				CHECK(t->released[i] != seq);
			t->released[t->n_released++] = seq;
		}
		CHECK(ooblex_reorder_next(t->r) == seq + 1);
		t->s.popped++;
		shadow_remove(&t->s, seq);
		free(it);
		check_stats(t);
	}
	check_stats(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if(size < 3)
		return 0;
	int results = data[0] & 1;
	run *t = calloc(1, sizeof(*t));
	CHECK(t != NULL);
	current = &t->s;
	t->adaptive = (data[0] & 2) != 0;
	t->capacity = 1 + data[1] % MAX_CAPACITY;
	t->max_wait = 1000ull * data[2];
	t->lowest_max = t->max_wait;
	t->r = ooblex_reorder_new(t->capacity, t->max_wait, free_item);
	CHECK(t->r != NULL);
	if(t->adaptive)
		ooblex_reorder_set_adaptive(t->r, MIN_WAIT_US, 5000);
	t->now = 1700000000000000ull;
	ooblex_seq_unwrapper unwrap = { 0 };
	size_t off = 3;
	while(off < size) {
		uint8_t op = data[off++] & 7;
		const uint8_t *arg = data + off;
		size_t left = size - off;
		switch(op) {
			case 0:
			case 7:
				if(results) {
					if(left < 4)
						goto done;
					put(t, (uint32_t)arg[0] | (uint32_t)arg[1] << 8 | (uint32_t)arg[2] << 16 | (uint32_t)arg[3] << 24);
					off += 4;
				} else {
					if(left < 2)
						goto done;
					int first = !unwrap.started;
					uint32_t seq = ooblex_seq_unwrap(&unwrap, (uint16_t)(arg[0] << 8 | arg[1]));
					if(first)
						ooblex_reorder_set_next(t->r, seq);
					put(t, seq);
					off += 2;
				}
				if(op == 7)
					pop_all(t);
				break;
			case 1:
				if(left < 1)
					goto done;
				put(t, ooblex_reorder_next(t->r) + (uint32_t)(int32_t)(int8_t)arg[0]);
				off += 1;
				break;
			case 2:
				if(left < 2)
					goto done;
				t->now += 100ull * (arg[0] | arg[1] << 8);
				off += 2;
				break;
			case 3:
				/* A wall clock step back (NTP): the plugin's clock is CLOCK_REALTIME. */
				if(left < 1)
					goto done;
				t->now -= 1000ull * arg[0];
				off += 1;
				break;
			case 4:
				pop_all(t);
				break;
			case 5:
				if(left < 4)
					goto done;
				ooblex_reorder_observe(t->r, (uint64_t)arg[0] | (uint64_t)arg[1] << 8 | (uint64_t)arg[2] << 16 |
					(uint64_t)arg[3] << 24);
				off += 4;
				check_stats(t);
				break;
			case 6:
				if(left < 1)
					goto done;
				t->max_wait = 1000ull * arg[0];
				ooblex_reorder_set_max_wait(t->r, t->max_wait);
				if(t->max_wait < t->lowest_max)
					t->lowest_max = t->max_wait;
				off += 1;
				check_stats(t);
				break;
		}
	}
done:
	pop_all(t);
	ooblex_reorder_free(t->r);
	CHECK(t->s.count == 0 && t->s.freed + t->s.popped == t->s.accepted);
	free(t);
	current = NULL;
	return 0;
}
