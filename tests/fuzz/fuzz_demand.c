/*
 * fuzz_demand.c - another plugin's announcement of its clients per queue
 * (ooblex:plugin:{id}, which anyone with Redis access can write) through
 * the parser that sums it for fair shares.
 *
 * fuzz-sources: plugin/queue/demand.c
 * fuzz-pkgs: glib-2.0 jansson
 *
 * Checks, beyond the sanitizers: every queue summed has a name that fits,
 * at most OOBLEX_DEMAND_MAX_QUEUES per announcement, clients within the
 * bound and a demand that is a finite number within it; and what this
 * plugin encodes reads back as it was.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "demand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if(size > 16384)
		return 0;
	GHashTable *t = ooblex_demand_table_new();
	size_t added = ooblex_demand_add(t, (const char *)data, size);
	if(added > OOBLEX_DEMAND_MAX_QUEUES || g_hash_table_size(t) > added)
		abort();
	GHashTableIter it;
	gpointer k, v;
	g_hash_table_iter_init(&it, t);
	while(g_hash_table_iter_next(&it, &k, &v)) {
		const ooblex_queue_demand *d = v;
		size_t n = strnlen(d->queue, sizeof(d->queue));
		if(n == 0 || n >= sizeof(d->queue) || d->clients == 0 || d->clients > OOBLEX_DEMAND_MAX_CLIENTS ||
				!isfinite(d->demand) || d->demand < 0 || d->demand >= OOBLEX_DEMAND_MAX_WORKERS)
			abort();
	}
	/* The round trip: what we announce, the others read the same. */
	ooblex_queue_demand mine[2] = { { "frames_to_process", 3, 1.5 }, { "frames_to_process:faces", 1, 0.25 } };
	if(size >= 2)
		mine[1].clients = 1 + data[0] % 9, mine[1].demand = data[1] / 8.0;
	char *text = ooblex_demand_encode(mine, 2);
	GHashTable *back = ooblex_demand_table_new();
	if(text == NULL || ooblex_demand_add(back, text, strlen(text)) != 2)
		abort();
	const ooblex_queue_demand *b = g_hash_table_lookup(back, "frames_to_process:faces");
	if(b == NULL || b->clients != mine[1].clients || fabs(b->demand - mine[1].demand) > 1e-9)
		abort();
	free(text);
	g_hash_table_destroy(back);
	g_hash_table_destroy(t);
	return 0;
}
