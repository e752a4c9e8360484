/*
 * test_reorder.c - in-order delivery with a bounded wait.
 */
#include "testlib.h"
#include "reorder.h"

static int freed;
static void count_free(void *p) { (void)p; freed++; }

/* Items are the sequence numbers plus one, cast to pointers. */
#define ITEM(n) ((void *)((uintptr_t)(n) + 1))	/* never NULL, even for seq 0 */

static int pop_all(ooblex_reorder *r, uint64_t now, uint32_t *out, int max) {
	int n = 0;
	uint32_t seq;
	void *item;
	while(n < max && (item = ooblex_reorder_pop(r, now, &seq)) != NULL) {
		if((uint32_t)((uintptr_t)item - 1) != seq) {
			tl_case_failed = 1;
			printf("#   item %u delivered as seq %u\n", (unsigned)((uintptr_t)item - 1), seq);
		}
		out[n++] = seq;
	}
	return n;
}

static void test_in_order_passes_straight_through(void) {
	ooblex_reorder *r = ooblex_reorder_new(16, 100000, NULL);
	uint32_t out[8];
	for(uint32_t s = 1; s <= 5; s++) {
		EXPECT_EQ(ooblex_reorder_put(r, s, ITEM(s), 0), OOBLEX_REORDER_ACCEPTED);
		EXPECT_EQ(pop_all(r, 0, out, 8), 1);
		EXPECT_EQ(out[0], s);
	}
	EXPECT_EQ(ooblex_reorder_get_stats(r)->delivered, 5);
	ooblex_reorder_free(r);
}

static void test_out_of_order_is_restored(void) {
	ooblex_reorder *r = ooblex_reorder_new(16, 100000, NULL);
	uint32_t out[8];
	ooblex_reorder_put(r, 3, ITEM(3), 0);
	ooblex_reorder_put(r, 2, ITEM(2), 10);
	EXPECT_EQ(pop_all(r, 20, out, 8), 0);	/* 1 is missing, still within the wait */
	EXPECT_EQ(ooblex_reorder_held(r), 2);
	ooblex_reorder_put(r, 1, ITEM(1), 30);
	REQUIRE(pop_all(r, 30, out, 8) == 3);
	EXPECT_EQ(out[0], 1);
	EXPECT_EQ(out[1], 2);
	EXPECT_EQ(out[2], 3);
	EXPECT_EQ(ooblex_reorder_get_stats(r)->skipped, 0);
	ooblex_reorder_free(r);
}

static void test_gap_skipped_after_wait(void) {
	ooblex_reorder *r = ooblex_reorder_new(16, 1000, NULL);
	uint32_t out[8];
	ooblex_reorder_put(r, 1, ITEM(1), 0);
	EXPECT_EQ(pop_all(r, 0, out, 8), 1);
	ooblex_reorder_put(r, 3, ITEM(3), 5000);
	ooblex_reorder_put(r, 4, ITEM(4), 5200);
	EXPECT_EQ(pop_all(r, 5999, out, 8), 0);
	REQUIRE(pop_all(r, 6000, out, 8) == 2);	/* 2 never came: skipped at 5000 + 1000 */
	EXPECT_EQ(out[0], 3);
	EXPECT_EQ(out[1], 4);
	EXPECT_EQ(ooblex_reorder_get_stats(r)->skipped, 1);
	/* 2 arrives now: it is late, and is refused. */
	EXPECT_EQ(ooblex_reorder_put(r, 2, ITEM(2), 7000), OOBLEX_REORDER_LATE);
	EXPECT_EQ(ooblex_reorder_get_stats(r)->late, 1);
	ooblex_reorder_free(r);
}

static void test_duplicates_refused(void) {
	ooblex_reorder *r = ooblex_reorder_new(16, 1000, NULL);
	uint32_t out[8];
	EXPECT_EQ(ooblex_reorder_put(r, 2, ITEM(2), 0), OOBLEX_REORDER_ACCEPTED);
	EXPECT_EQ(ooblex_reorder_put(r, 2, ITEM(2), 0), OOBLEX_REORDER_DUPLICATE);
	ooblex_reorder_put(r, 1, ITEM(1), 0);
	EXPECT_EQ(pop_all(r, 0, out, 8), 2);
	EXPECT_EQ(ooblex_reorder_put(r, 1, ITEM(1), 0), OOBLEX_REORDER_LATE);
	EXPECT_EQ(ooblex_reorder_get_stats(r)->duplicates, 1);
	ooblex_reorder_free(r);
}

static void test_bounded_when_gap_never_fills(void) {
	/* A stuck gap with a huge wait: holding more than capacity forces delivery. */
	ooblex_reorder *r = ooblex_reorder_new(4, UINT64_MAX / 4, count_free);
	uint32_t out[16];
	for(uint32_t s = 2; s <= 6; s++)
		ooblex_reorder_put(r, s, ITEM(s), s);
	/* 5 held > capacity 4: the wait is cut short and all come out in order. */
	REQUIRE(pop_all(r, 10, out, 16) == 5);
	for(int i = 0; i < 5; i++)
		EXPECT_EQ(out[i], i + 2);
	/* Without pops, memory stays bounded: older ones are dropped, not kept. */
	for(uint32_t s = 8; s < 108; s++)
		ooblex_reorder_put(r, s, ITEM(s), s);
	EXPECT(ooblex_reorder_held(r) <= 5);
	freed = 0;
	ooblex_reorder_free(r);
	EXPECT(freed >= 1 && freed <= 5);
}

static void test_sequence_wraps(void) {
	ooblex_reorder *r = ooblex_reorder_new(8, 1000, NULL);
	uint32_t out[8];
	/* Walk next up to the 32-bit wrap in hops of less than 2^31 (anything
	 * further counts as behind us, on the circle), skipping the gaps. */
	const uint32_t hops[] = { 0x60000000u, 0xc0000000u, 0xfffffffeu };
	for(int i = 0; i < 3; i++) {
		EXPECT_EQ(ooblex_reorder_put(r, hops[i], ITEM(hops[i]), 0), OOBLEX_REORDER_ACCEPTED);
		EXPECT_EQ(pop_all(r, 2000, out, 8), 1);
	}
	ooblex_reorder_put(r, 0u, ITEM(0u), 2001);
	ooblex_reorder_put(r, 0xffffffffu, ITEM(0xffffffffu), 2002);
	REQUIRE(pop_all(r, 2003, out, 8) == 2);
	EXPECT(out[0] == 0xffffffffu);
	EXPECT(out[1] == 0u);
	ooblex_reorder_free(r);
}

static void test_free_releases_held(void) {
	ooblex_reorder *r = ooblex_reorder_new(8, 1000, count_free);
	freed = 0;
	ooblex_reorder_put(r, 5, ITEM(5), 0);
	ooblex_reorder_put(r, 6, ITEM(6), 0);
	ooblex_reorder_free(r);
	EXPECT_EQ(freed, 2);
}

static void test_adaptive_wait_follows_latency_spread(void) {
	/* Bound 150 ms, floor 15 ms, margin 10 ms. */
	ooblex_reorder *r = ooblex_reorder_new(16, 150000, NULL);
	ooblex_reorder_set_adaptive(r, 15000, 10000);
	EXPECT_EQ(ooblex_reorder_wait(r), 150000);	/* nothing measured yet: the bound */
	/* Steady 5 ms round trips: the floor. */
	for(int i = 0; i < 64; i++)
		ooblex_reorder_observe(r, 5000 + (uint64_t)(i % 3) * 100);
	EXPECT_EQ(ooblex_reorder_wait(r), 15000);
	/* A gap is now given up on after 15 ms, not 150. */
	uint32_t out[8];
	EXPECT_EQ(ooblex_reorder_put(r, 2, ITEM(2), 1000000), OOBLEX_REORDER_ACCEPTED);
	EXPECT_EQ(pop_all(r, 1014000, out, 8), 0);
	EXPECT_EQ(pop_all(r, 1016000, out, 8), 1);
	EXPECT_EQ(out[0], 2);
	/* Uneven workers: 5 ms mostly, 60 ms for one frame in ten. */
	for(int i = 0; i < 64; i++)
		ooblex_reorder_observe(r, i % 10 == 0 ? 60000 : 5000);
	printf("# adaptive wait: %.1f ms with 1 in 10 frames 55 ms slower\n", ooblex_reorder_wait(r) / 1000.0);
	EXPECT_EQ(ooblex_reorder_wait(r), 65000);	/* p95 60 - p50 5 + 10 */
	/* One worker far too slow: capped at the bound. */
	for(int i = 0; i < 64; i++)
		ooblex_reorder_observe(r, i % 4 == 0 ? 900000 : 5000);
	EXPECT_EQ(ooblex_reorder_wait(r), 150000);
	/* A lower bound set later caps it at once. */
	ooblex_reorder_set_max_wait(r, 50000);
	EXPECT_EQ(ooblex_reorder_wait(r), 50000);
	ooblex_reorder_free(r);
}

int main(void) {
	TEST_RUN(test_in_order_passes_straight_through);
	TEST_RUN(test_out_of_order_is_restored);
	TEST_RUN(test_gap_skipped_after_wait);
	TEST_RUN(test_duplicates_refused);
	TEST_RUN(test_bounded_when_gap_never_fills);
	TEST_RUN(test_sequence_wraps);
	TEST_RUN(test_free_releases_held);
	TEST_RUN(test_adaptive_wait_follows_latency_spread);
	return tl_done();
}
