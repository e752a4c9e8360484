/*
 * demand.h - what each plugin tells the others about its clients, per
 * queue, for fair shares across several Janus instances sharing one fleet.
 *
 * Owns: the announcement's text (written under ooblex:plugin:{id} by
 * fleet.c once a look: {"queues":{"frames_to_process":{"clients":2,
 * "demand":1.25}, ...}}), and reading other plugins' announcements, which
 * anyone with Redis access can write: text not trusted, numbers bounded,
 * queue names that fit, at most OOBLEX_DEMAND_MAX_QUEUES per announcement.
 * No Redis, no Janus: fleet.c moves the text, tests and the fuzz target
 * (tests/fuzz/fuzz_demand.c) drive this directly.
 */
#ifndef OOBLEX_DEMAND_H
#define OOBLEX_DEMAND_H

#include <glib.h>
#include <stddef.h>
#include "ooblex_keys.h"

/* This plugin's clients on one queue. */
typedef struct ooblex_queue_demand {
	char queue[OOBLEX_KEY_MAX];
	unsigned clients;
	double demand;	/* in workers: sum of due fps x worker time per frame */
} ooblex_queue_demand;

#define OOBLEX_DEMAND_MAX_QUEUES 64
#define OOBLEX_DEMAND_MAX_CLIENTS 100000
#define OOBLEX_DEMAND_MAX_WORKERS 1e6

/* The announcement of n queues' demand (malloc'ed; NULL when out of memory). */
char *ooblex_demand_encode(const ooblex_queue_demand *d, size_t n);

/* A table by queue name of ooblex_queue_demand (g_free'd values), to sum
 * announcements into. */
GHashTable *ooblex_demand_table_new(void);
/* Adds one announcement to by_queue; entries out of bounds are skipped,
 * malformed text adds nothing. Returns how many queues it added. */
size_t ooblex_demand_add(GHashTable *by_queue, const char *text, size_t len);

#endif
