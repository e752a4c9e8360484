/*
 * effects.h - the image effects a worker applies, built on libavfilter.
 *
 * Owns: the mapping from effect names to libavfilter graphs, and a cache of
 * configured graphs per (effect, size, input format), so the per-frame cost is
 * pushing one frame through an existing graph. Pixels come in as tightly
 * packed I420 or RGB24 and always leave as I420 (libavfilter converts).
 * Not thread-safe: one effects context per worker thread.
 */
#ifndef OOBLEX_EFFECTS_H
#define OOBLEX_EFFECTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ooblex_effects ooblex_effects;

ooblex_effects *ooblex_effects_new(void);
void ooblex_effects_free(ooblex_effects *fx);

/* Names this worker offers, NULL-terminated. An effect string is one of
 * them with optional parameters ("blur:sigma=8"), several joined by '|'
 * ("blur|grayscale"), or "ffmpeg:<libavfilter graph>" using only
 * pixel-transforming filters. */
const char *const *ooblex_effects_list(void);
/* 1 if the effect string is valid (ffmpeg: graphs are checked when built). */
int ooblex_effect_exists(const char *name);

/* Applies effect to a width x height picture in `in` (in_fmt: an
 * ooblex_pixfmt, I420 or RGB24) and writes the result as I420 to out (which
 * must not overlap in). Returns 0, or -1 with a reason in err. */
int ooblex_effects_apply(ooblex_effects *fx, const char *effect, int in_fmt, const uint8_t *in,
	int width, int height, uint8_t *out, char *err, size_t errlen);

#endif
