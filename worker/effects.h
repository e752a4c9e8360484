/*
 * effects.h - the image effects a worker applies, built on libavfilter.
 *
 * Owns: the mapping from effect names to libavfilter graphs, and a cache of
 * configured graphs per (effect, size), so the per-frame cost is pushing one
 * frame through an existing graph. Pixels come and go as tightly packed I420.
 * Not thread-safe: one effects context per worker thread.
 */
#ifndef OOBLEX_EFFECTS_H
#define OOBLEX_EFFECTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ooblex_effects ooblex_effects;

ooblex_effects *ooblex_effects_new(void);
void ooblex_effects_free(ooblex_effects *fx);

/* Names this worker offers, NULL-terminated. */
const char *const *ooblex_effects_list(void);
/* 1 if the name is known. */
int ooblex_effect_exists(const char *name);

/* Applies effect to an I420 image in place (src and dst are the same
 * width x height I420 buffer). Returns 0, or -1 with a reason in err. */
int ooblex_effects_apply(ooblex_effects *fx, const char *effect, uint8_t *i420,
	int width, int height, char *err, size_t errlen);

#endif
