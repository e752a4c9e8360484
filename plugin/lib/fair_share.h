/*
 * fair_share.h - fair shares of the worker fleet across clients, and
 * admission.
 *
 * Owns: the arithmetic that turns what the plugin measured (per client: the
 * frames it wants per second and the worker time each of its frames takes;
 * per queue: the live workers serving it and the demand other plugins
 * announce) into, per client, how many frames it may have in flight and how
 * far apart it may queue them; and the admission verdict for a new session.
 * No I/O, no clock, no threads: the Janus glue feeds it once every
 * OOBLEX_FAIR_PERIOD_MS, the ingest enforces what comes out (ingest.h,
 * in_flight_cap and min_interval_us), tests drive it directly.
 *
 * The rule (docs/protocol.md, "Fair shares"): a client's demand is
 * due_fps x cost, in workers. Each queue's workers are shared max-min fair
 * (water-filling): a client that needs less than an equal share gets what it
 * needs and is left alone (max_in_flight, the configured limit); the rest
 * is split evenly among the clients that want more, which are throttled to
 * their share: at most floor(share) frames in flight (at least 1; leftover
 * whole workers go to the largest fractions), and their frames spaced at
 * least cost / share apart, so that a client worth less than one worker
 * (more heavy clients than workers) still uses no more than its share. As
 * the in-flight frames of throttled clients never add up to more than the
 * workers left after the light clients' needs, a light client's frame always
 * finds a worker free: a slow client slows only itself. A client whose
 * frames exceed the per-frame budget is held to one frame in flight whatever
 * its share.
 */
#ifndef OOBLEX_FAIR_SHARE_H
#define OOBLEX_FAIR_SHARE_H

#include <stddef.h>
#include <stdint.h>

/* How often the glue recomputes the shares. */
#define OOBLEX_FAIR_PERIOD_MS 250
/* A client whose last frame over the budget is older than this is let go. */
#define OOBLEX_FAIR_OVER_BUDGET_HOLD_US (5 * 1000 * 1000)
/* The longest spacing imposed between two frames of a client. */
#define OOBLEX_FAIR_MAX_INTERVAL_US (10 * 1000 * 1000)

/* Why a client is held below what it asks for. */
typedef enum ooblex_fair_reason {
	OOBLEX_FAIR_FREE = 0,	/* not throttled */
	OOBLEX_FAIR_SHARE,	/* wants more than its share of the workers */
	OOBLEX_FAIR_OVER_BUDGET,	/* its frames exceed the per-frame budget */
} ooblex_fair_reason;
const char *ooblex_fair_reason_name(ooblex_fair_reason r);

typedef struct ooblex_fair_client {
	/* In. */
	size_t queue;	/* index into the queues given with it */
	double due_fps;	/* frames it wants processed per second (decoded fps / frame_skip) */
	double cost_us;	/* measured worker time per frame; 0: none measured yet */
	int over_budget;	/* a frame of it exceeded the per-frame budget lately */
	/* Out. */
	unsigned max_in_flight;	/* frames it may have waiting for workers */
	uint64_t min_interval_us;	/* at least this long between two of its frames queued (0: none) */
	double demand;	/* due_fps x cost, in workers */
	double share;	/* workers allotted to it */
	ooblex_fair_reason reason;
} ooblex_fair_client;

typedef struct ooblex_fair_queue {
	unsigned workers;	/* live workers serving the queue (of the whole fleet); 0: unknown */
	/* Clients of other plugins (other Janus instances) on this queue, and
	 * their demand in workers all together, as those plugins announce. */
	unsigned remote_clients;
	double remote_demand;
} ooblex_fair_queue;

/* Fills the out fields of every client. max_in_flight is the configured
 * limit (what a client left alone gets). A queue with no worker known
 * throttles nobody (the live-fleet checks tell the client instead), except
 * clients over budget. A client with no cost measured yet gets one frame in
 * flight until its first result tells what its frames cost. */
void ooblex_fair_share_compute(const ooblex_fair_queue *queues, size_t n_queues, ooblex_fair_client *clients,
	size_t n_clients, unsigned max_in_flight);

/* Admission of a new session, from what is measured now. */
typedef struct ooblex_admission_input {
	double cpu_busy;	/* the plugin's process: CPU seconds per second over the last look */
	unsigned cpus;	/* online CPUs */
	unsigned cpu_limit_percent;	/* refuse when cpu_busy >= cpus x this / 100 (0: never) */
	double fleet_workers;	/* live workers on the new session's queue (0: unknown) */
	double fleet_demand;	/* what the clients on it ask, in workers (local + announced) */
	unsigned fleet_limit_percent;	/* degrade when demand >= workers x this / 100 (0: never) */
	unsigned frame_skip;	/* what the session asks for */
	unsigned max_frame_skip;	/* the degraded start's bound */
} ooblex_admission_input;

typedef enum ooblex_admission_verdict {
	OOBLEX_ADMIT = 0,
	OOBLEX_ADMIT_DEGRADED,	/* starts, with frame_skip raised */
	OOBLEX_ADMIT_REFUSED,	/* the plugin's machine is out of CPU */
} ooblex_admission_verdict;

/* The verdict, and the frame_skip to start with (*frame_skip: the one asked
 * for, or raised for a degraded start so that the session's frames come at
 * most half as often, within max_frame_skip). */
ooblex_admission_verdict ooblex_admission_decide(const ooblex_admission_input *in, unsigned *frame_skip);

#endif
