/*
 * latency_budget.h - the latency budget: shed load in a stated order when
 * sessions near their budget, and restore it when load falls.
 *
 * Owns: per session, a short window of measured latencies (the frame's last
 * packet in -> result handed to the data channel or encoder: the sender's
 * pacing of a frame's packets left out, ingest.h) and its p95; for the
 * machine, one shedding level that every session with a budget shares. No
 * I/O, no clock, no threads: the Janus glue feeds it every
 * OOBLEX_FAIR_PERIOD_MS from the fair pass and applies what comes out; the
 * unit tests drive it with synthetic latencies and times.
 *
 * Why one level for the machine, not one per session: under overload the
 * latency comes from what every session shares (the plugin's CPU, Janus',
 * the workers), so a session that sheds alone frees time that the others
 * take, and sessions that shed independently end up with uneven rates
 * and never restore (what an earlier attempt on this issue found). With one level every session with a budget converges on the
 * same effective FRAME_SKIP (processed fps shared evenly) and restores
 * together.
 *
 * The rule (docs/protocol.md, "Latency budget"):
 *  - a session votes when its window (the last OOBLEX_LATENCY_WINDOW_US,
 *    after its first OOBLEX_LATENCY_WARMUP_US,
 *    and only results delivered after the last step had time to show)
 *    holds at least OOBLEX_LATENCY_MIN_SAMPLES results. A session whose own
 *    effect costs half its budget or more, or that the fair share throttles
 *    (the glue says so: own_cause), does not vote: shedding others cannot
 *    help it, and a noisy neighbour must not slow the machine down;
 *  - a voter is over the line when its p95 >= shed_ratio x its budget
 *    and the p95 of the part of its latency spent waiting is at least
 *    OOBLEX_LATENCY_WAITING_MIN of its budget: when the time is the
 *    workers' own or the reorder wait for one slow worker's frames, no
 *    shedding brings it under (one worker of three at 250 ms a frame took
 *    a lone session to frame skip 10, REMB and half resolution for
 *    nothing); such a voter is not calm either, so nothing is restored;
 *  - shed one step when more than half the voters are over the line
 *    (at every look for OOBLEX_LATENCY_HOT_HOLD_US: the
 *    machine's load, not one session's trouble) and the last step is at
 *    least shed_hold old (two steps at twice that, three at
 *    four times);
 *  - restore one step when every voter has been under restore_ratio x its
 *    budget for restore_hold (half of it when all are under a quarter and
 *    the hold is not backed off) (hysteresis: 80% / 50%, and time). A
 *    restore is a probe: until it has held for OOBLEX_LATENCY_RELAPSE_US,
 *    the first look that finds the machine overloaded undoes it, without
 *    waiting OOBLEX_LATENCY_HOT_HOLD_US or shed_hold. A restore
 *    that had to be undone within OOBLEX_LATENCY_RELAPSE_US doubles
 *    restore_hold for next time (up to restore_hold_max), so that at the
 *    edge of capacity the level does not oscillate; and a restore whose
 *    frame rate the workers measurably could not take (demand x the skip
 *    ratio > 90% of the live workers; an own-cause session's demand is
 *    not counted, as the fair share holds it whatever the level) is not
 *    tried at all;
 *  - when sessions leave (fewer participants than when the level was
 *    reached, by a quarter or more), the frame-skip level drops at once in
 *    proportion (load follows the session count), and the hold's back-off
 *    is forgotten: the rest return to full rate within a step or two.
 *
 * The steps, in order (restored in reverse):
 *  1..K   effective FRAME_SKIP: the common skip goes 1, 2, 3, 5, 8, ... (x1.5
 *         steps, at least +1) up to max_auto_frame_skip; a session asking
 *         for a larger frame_skip keeps its own (levels that change no
 *         participant are passed over). A source-sampled browser is asked
 *         (over the data channel) to send only the frames processed at each
 *         of these steps (maxFramerate = camera rate / effective skip): that
 *         is what source sampling promises, and frames it sent beyond them
 *         would only be decoded to be thrown away, the very cost that runs
 *         the machine out of time under overload;
 *  K+1    REMB: the browser is asked to send half the bitrate it sent;
 *  K+2    resolution: a source-sampled browser is asked to halve its
 *         resolution (scaleResolutionDownBy).
 */
#ifndef OOBLEX_LATENCY_BUDGET_H
#define OOBLEX_LATENCY_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#define OOBLEX_LATENCY_SAMPLES 64	/* per session window, a ring */
#define OOBLEX_LATENCY_WINDOW_US (1000 * 1000)
#define OOBLEX_LATENCY_MIN_SAMPLES 2
/* Shed only after some voter was over the line at every look for this long,
 * longer than the window: one stall of the machine (its late results come
 * in a burst, then it is over) leaves the window before it sheds anything;
 * an overload stays. */
#define OOBLEX_LATENCY_HOT_HOLD_US (1250 * 1000)
/* A session's first results (the first keyframe, decoder and worker warm-up)
 * are not its latency: the glue leaves them out of its window. */
#define OOBLEX_LATENCY_WARMUP_US (2000 * 1000)
/* After a step, results of frames queued before it still arrive: they are
 * left out of the vote for this long. */
#define OOBLEX_LATENCY_SETTLE_US (300 * 1000)
/* A shed this soon after a restore means the restore was one too many. */
#define OOBLEX_LATENCY_RELAPSE_US (10 * 1000 * 1000)
#define OOBLEX_LATENCY_MAX_SKIP_LEVELS 32
/* A voter over the line sheds only when this much of its budget (at p95)
 * is waiting: the width of the band between the shed and restore lines,
 * so that shedding what waits could take it back across the band. */
#define OOBLEX_LATENCY_WAITING_MIN 0.3

/* What a step does. */
typedef enum ooblex_latency_step {
	OOBLEX_LATENCY_STEP_NONE = 0,
	OOBLEX_LATENCY_STEP_FRAME_SKIP,
	OOBLEX_LATENCY_STEP_REMB,
	OOBLEX_LATENCY_STEP_RESOLUTION,
	OOBLEX_LATENCY_STEP_COUNT
} ooblex_latency_step;
const char *ooblex_latency_step_name(ooblex_latency_step s);

/* One session's window of measured latencies. */
typedef struct ooblex_latency_window {
	uint64_t at_us[OOBLEX_LATENCY_SAMPLES];
	uint32_t latency_us[OOBLEX_LATENCY_SAMPLES];
	uint32_t waiting_us[OOBLEX_LATENCY_SAMPLES];	/* the part of it that shedding can shorten */
	unsigned next, filled;
} ooblex_latency_window;

void ooblex_latency_window_init(ooblex_latency_window *w);
/* A result handed to the page at at_us (any monotonic µs clock, the same
 * one step() is given), latency_us after its last packet arrived, of which
 * waiting_us was spent waiting (for the decoder, a worker, the reader):
 * what the load makes longer and shedding it shortens. The rest, the
 * worker's own time and the reorder wait for an earlier frame, is the
 * effect's and the fleet's (one worker slower than the others), and no
 * frame rate makes it shorter. */
void ooblex_latency_window_add_split(ooblex_latency_window *w, uint64_t at_us, uint64_t latency_us,
	uint64_t waiting_us);
/* The same, all of it waiting. */
void ooblex_latency_window_add(ooblex_latency_window *w, uint64_t at_us, uint64_t latency_us);
/* p95 in ms of the samples at or after since_us (0 when none); *n their count. */
double ooblex_latency_window_p95(const ooblex_latency_window *w, uint64_t since_us, unsigned *n);
/* p95 in ms of the same samples' waiting part. */
double ooblex_latency_window_waiting_p95(const ooblex_latency_window *w, uint64_t since_us);

typedef struct ooblex_latency_config {
	unsigned max_auto_frame_skip;	/* the frame-skip steps' limit (>= 1; 1: none) */
	double shed_ratio, restore_ratio;	/* of the budget: 0.8, 0.5 */
	uint64_t shed_hold_us, restore_hold_us, restore_hold_max_us;	/* 1 s, 2 s, 16 s */
} ooblex_latency_config;
void ooblex_latency_config_default(ooblex_latency_config *c);

/* One session with a budget, as the glue sees it at a step. */
typedef struct ooblex_latency_participant {
	/* In. */
	unsigned budget_ms;	/* > 0 (sessions without a budget are not given) */
	unsigned frame_skip;	/* what the session asked for */
	int own_cause;	/* its latency is its own effect's: does not vote, nor veto a restore */
	/* What it asks of the workers now (due fps x cost, in workers; 0 when
	 * not known). A restore scales it by the skip ratio, except an own-cause
	 * participant's: the fair share already holds that one to one frame
	 * in flight or to what the others leave, so its demand, however far past
	 * the fleet, is not what the restore would ask for (the noisy
	 * neighbour's 4.8 workers on a 3-worker fleet kept a fast client at
	 * frame skip 10 for as long as it stayed). */
	double demand_workers;
	const ooblex_latency_window *window;
	/* Out. */
	double p95_ms;	/* over its window (0: no sample) */
	double waiting_p95_ms;	/* of the waiting part, over the same results */
	unsigned samples;
	int voted;
	unsigned effective_skip;	/* max(frame_skip, the level's common skip) */
} ooblex_latency_participant;

typedef struct ooblex_latency_fleet {
	ooblex_latency_config cfg;
	unsigned skips[OOBLEX_LATENCY_MAX_SKIP_LEVELS + 1];	/* the common skip of level 0..n_skip_levels */
	unsigned n_skip_levels;	/* K */
	unsigned level;	/* 0 .. K + 2 */
	uint64_t last_change_us, calm_since_us, last_restore_us, hot_since_us;
	uint64_t restore_hold_us;	/* now in force (backed off) */
	unsigned participants_at_level;	/* the most participants seen since the level was reached */
	uint64_t steps[OOBLEX_LATENCY_STEP_COUNT][2];	/* [step][0 shed, 1 restore]: each look that crossed one */
	double worst_ratio;	/* the last step's highest voter p95 / budget */
	/* Set by the caller before each step when it knows them: what the
	 * clients that are not participants ask of the workers now (in
	 * workers: due fps x cost; the participants' own is theirs) and the
	 * live workers. A restore that would ask more than
	 * OOBLEX_LATENCY_RESTORE_FIT of them (this plus the participants'
	 * demand, own-cause ones left out, all scaled by the restore's skip
	 * ratio: an upper bound) is not tried (workers 0: unknown). */
	double demand_workers, workers;
	unsigned vetoed;	/* restores not tried for that, counted */
} ooblex_latency_fleet;

#define OOBLEX_LATENCY_RESTORE_FIT 0.9

void ooblex_latency_fleet_init(ooblex_latency_fleet *f, const ooblex_latency_config *cfg);
unsigned ooblex_latency_max_level(const ooblex_latency_fleet *f);
/* What level l does (NONE for 0). */
ooblex_latency_step ooblex_latency_level_step(const ooblex_latency_fleet *f, unsigned level);
/* The common effective frame skip at level l (1 at 0). */
unsigned ooblex_latency_level_skip(const ooblex_latency_fleet *f, unsigned level);

/* What step() did. */
typedef enum ooblex_latency_change {
	OOBLEX_LATENCY_KEPT = 0,
	OOBLEX_LATENCY_SHED,
	OOBLEX_LATENCY_RESTORED,
	OOBLEX_LATENCY_RESTORED_LOAD_FELL,	/* sessions left: dropped in proportion */
} ooblex_latency_change;

/* One look: votes, the new level, and each participant's effective skip.
 * n may be 0 (the level goes back to 0). */
ooblex_latency_change ooblex_latency_fleet_step(ooblex_latency_fleet *f, ooblex_latency_participant *p, size_t n,
	uint64_t now_us);

#endif
