/*
 * effects.h - the image effects a worker applies.
 *
 * Owns: the mapping from effect names to libavfilter graphs (the "core"
 * effects every worker has, and ffmpeg: graphs, which it builds from their
 * parse by effect_grammar.h: a browser's text never reaches libavfilter's
 * graph parser), the process-wide table of module effects (the
 * built-in OpenCV ones and shared objects loaded through ooblex_effect.h),
 * and per context a cache of configured graphs per (effect, size, input
 * format) and of module states per effect string, so the per-frame cost is
 * pushing one frame through what already exists. A chain may mix both kinds
 * ("face_pixelate|grayscale"). Pixels come in as tightly packed I420 or RGB24
 * and always leave as I420 (libavfilter converts).
 * Modules are added before contexts are used; a context is used by one
 * thread at a time.
 */
#ifndef OOBLEX_EFFECTS_H
#define OOBLEX_EFFECTS_H

#include <stddef.h>
#include <stdint.h>
#include "ooblex_effect.h"

typedef struct ooblex_effects ooblex_effects;

ooblex_effects *ooblex_effects_new(void);
void ooblex_effects_free(ooblex_effects *fx);

/* Names this worker offers, NULL-terminated: the core effects, then the
 * modules' (valid until the next module is added). An effect string is one
 * of them with optional parameters ("blur:sigma=8"), several joined by '|'
 * ("blur|grayscale"), or "ffmpeg:<graph>" in the strict grammar of
 * effect_grammar.h (always last in a chain: it takes the rest). */
const char *const *ooblex_effects_list(void);
/* 1 for the libavfilter effects (and "ffmpeg") every worker has. */
int ooblex_effect_is_core(const char *name);
/* A module effect's one-line help, or NULL. */
const char *ooblex_effect_help(const char *name);
/* 1 if the effect string is valid: core effects with their parameters and
 * ffmpeg: graphs (effect_grammar.h) are checked fully, module effects by name. */
int ooblex_effect_exists(const char *name);
/* The name of the first module effect in a chain ("faces" for
 * "blur|faces:min_size=40") into out, or "" when the chain is core only. */
void ooblex_effect_first_module(const char *effect, char *out, size_t outlen);

/* What the module effects of the last ooblex_effects_apply() described, as
 * one JSON object keyed by effect name ({"faces":[[x,y,w,h]]}), or "" when
 * none did. Valid until the next apply. */
const char *ooblex_effects_metadata(const ooblex_effects *fx);

/* Adds a module's effects to every context (call before using contexts).
 * origin names it in errors. Returns 0, or -1 with a reason (unknown ABI,
 * a bad or duplicate name). */
int ooblex_effects_add_module(const ooblex_effect_module *m, const char *origin, char *err, size_t errlen);
/* dlopen()s a shared object and adds its module. */
int ooblex_effects_load_module(const char *path, char *err, size_t errlen);

/* Applies effect to a width x height picture in `in` (in_fmt: an
 * ooblex_pixfmt, I420 or RGB24) and writes the result as I420 to out (which
 * must not overlap in). Returns 0, or -1 with a reason in err (also when
 * the graph gives no picture for this frame: effects.c, run_graph). */
int ooblex_effects_apply(ooblex_effects *fx, const char *effect, int in_fmt, const uint8_t *in,
	int width, int height, uint8_t *out, char *err, size_t errlen);

/* Batching (BATCH_SIZE): given the frames a worker holds, runs the models
 * that can take several frames at once (the background effects'
 * segmentation, ml_opencv.h) once for all of them, ahead of the frames'
 * own ooblex_effects_apply() calls on this thread, which then use what was
 * computed for their picture and run the rest of their chain as usual.
 * Only frames whose chain starts with such an effect and that come as I420
 * take part; the others, and any frame whose picture changed meanwhile,
 * simply run alone. Forgets what an earlier call kept. Returns how many
 * frames were computed ahead (0 when none could be, or on an error: the
 * frames then run alone and fail or succeed as they would have), and in
 * took[i] (n entries) 1 for each frame that was. */
#define OOBLEX_EFFECTS_MAX_AHEAD 64
int ooblex_effects_run_ahead(ooblex_effects *fx, int n, const char *const *effects, const int *in_fmts,
	const uint8_t *const *ins, const int *widths, const int *heights, int *took);

/* What kind of failure the last failed ooblex_effects_apply() was. */
enum {
	OOBLEX_FX_ERR_NONE = 0,
	OOBLEX_FX_ERR_UNKNOWN,	/* no such effect */
	OOBLEX_FX_ERR_REFUSED,	/* parameters or an ffmpeg: graph refused */
	OOBLEX_FX_ERR_FAILED,	/* the effect ran and failed */
};
int ooblex_effects_error_kind(const ooblex_effects *fx);

#endif
