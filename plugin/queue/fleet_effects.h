/*
 * fleet_effects.h - which effect strings the live fleet can run, and telling
 * a session when that changes.
 *
 * Owns: the capabilities read from the live workers' registry entries
 * (ooblex:worker:*: "effects", "routes", "models"; a worker's text is not
 * trusted, names outside the effect grammar are left out), the verdict on an
 * effect string against them, and the per-session watch that turns a
 * changing verdict into at most one event a second ("lost" / "back").
 *
 * The verdict follows the routing rule (ooblex_route.h): a chain goes to the
 * queue of its first effect that a live worker announces as a route, else to
 * frames_to_process, which the workers serving the core effects take. It can
 * run when one worker on that queue runs every item: core effects and
 * "ffmpeg:" every worker has; any other name the worker must announce in
 * "effects"; and for an effect the worker lists models for ("models":
 * {"onnx": ["a.onnx", ...]}), the item must name one of them as its first
 * parameter ("onnx:a.onnx[:size=...]"; a bare "onnx" runs nothing).
 * The grammar itself (effect_grammar.h) is checked before, by the caller.
 * No Janus, no Redis: fleet.c builds the capabilities at each look; the
 * tests build them from registry entries directly.
 */
#ifndef OOBLEX_FLEET_EFFECTS_H
#define OOBLEX_FLEET_EFFECTS_H

#include <glib.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ooblex_fleet_caps ooblex_fleet_caps;

/* Parses n registry entries (JSON text; malformed ones are skipped).
 * Immutable once built; shared by reference. */
ooblex_fleet_caps *ooblex_fleet_caps_new(const char *const *entries, size_t n);
ooblex_fleet_caps *ooblex_fleet_caps_ref(ooblex_fleet_caps *c);
void ooblex_fleet_caps_unref(ooblex_fleet_caps *c);
/* Live workers with a well-formed entry (0 for NULL). */
unsigned ooblex_fleet_caps_workers(const ooblex_fleet_caps *c);
/* The models live workers have, by effect ({"onnx": ["a.onnx", ...]}, each
 * name once; {} for NULL): what list_effects shows, so a page can offer
 * "onnx:a.onnx" rather than a bare "onnx". A new reference. */
json_t *ooblex_fleet_caps_models(const ooblex_fleet_caps *c);

typedef enum ooblex_fleet_verdict {
	OOBLEX_FLEET_RUNNABLE = 0,	/* a live worker on the chain's queue runs all of it */
	OOBLEX_FLEET_NO_WORKERS,	/* no worker is alive (or the fleet was not looked at yet) */
	OOBLEX_FLEET_NOT_RUNNABLE,	/* workers live, none of them can run it */
} ooblex_fleet_verdict;

/* The verdict on effect (already through the grammar) with caps (NULL:
 * not looked at yet, NO_WORKERS). Unless RUNNABLE, why says so in words a
 * person can act on, naming what the live workers do offer ("no live worker
 * offers the effect 'teleport' (live: none, invert, ..., faces)"). */
ooblex_fleet_verdict ooblex_fleet_caps_check(const ooblex_fleet_caps *caps, const char *effect, char *why,
	size_t whylen);

/* One session's watch on its effect. Thread-safe: the effect is set by the
 * session's request handler, stepped by the reader's tick. An effect longer
 * than OOBLEX_FLEET_WATCH_EFFECT_MAX (none the plugin accepts: the wire's
 * OOBLEX_NAME_MAX is the same) is not watched. */
#define OOBLEX_FLEET_WATCH_EFFECT_MAX 255
#define OOBLEX_FLEET_TELL_INTERVAL_US (1000 * 1000)
typedef enum ooblex_fleet_tell {
	OOBLEX_FLEET_TELL_NOTHING = 0,
	OOBLEX_FLEET_TELL_LOST,	/* no live worker runs the effect any more (or from the start) */
	OOBLEX_FLEET_TELL_BACK,	/* after LOST: one does again */
} ooblex_fleet_tell;

typedef struct ooblex_fleet_watch {
	GMutex lock;
	gboolean active;	/* between start and stop */
	char effect[OOBLEX_FLEET_WATCH_EFFECT_MAX + 1];
	gboolean dirty;	/* effect or activity changed since the last step */
	gboolean pending;	/* a change waits for the interval */
	uint64_t caps_seen;	/* the generation of caps the last step saw */
	gboolean lost;	/* what the page was last told */
	int64_t told_us;	/* when; 0 never */
} ooblex_fleet_watch;

void ooblex_fleet_watch_init(ooblex_fleet_watch *w);
void ooblex_fleet_watch_clear(ooblex_fleet_watch *w);
/* Once the page has its start's answer: the watch is on, the page assumed
 * told "all well" (a verdict told before that answer would read as a failed
 * start). */
void ooblex_fleet_watch_start(ooblex_fleet_watch *w, const char *effect);
/* After a configure's answer: the effect to watch from now on (nothing
 * when the watch is off: a configure before start). */
void ooblex_fleet_watch_set_effect(ooblex_fleet_watch *w, const char *effect);
/* At stop: nothing more is told. */
void ooblex_fleet_watch_stop(ooblex_fleet_watch *w);
/* Looks at caps (of generation gen) when they or the effect changed, or a
 * change is waiting for the interval: returns what to tell the page now
 * (at most one LOST or BACK per OOBLEX_FLEET_TELL_INTERVAL_US; a change
 * that flips back within it is never told), with the verdict, its reason
 * and the effect when LOST, the effect when BACK. */
ooblex_fleet_tell ooblex_fleet_watch_step(ooblex_fleet_watch *w, const ooblex_fleet_caps *caps, uint64_t gen,
	int64_t now_us, ooblex_fleet_verdict *verdict, char *why, size_t whylen, char *effect, size_t effectlen);

#endif
