/*
 * ooblex_route.h - which queue a frame goes to.
 *
 * Owns: the routing rule shared by the plugin (which pushes) and the docs.
 * Effects every worker runs (the libavfilter "core" set) go through
 * frames_to_process. A worker that runs an effect only some workers have
 * (faces, onnx, a module's) announces it in its registry entry under
 * "routes" and serves frames_to_process:{effect}. A frame goes to the queue
 * of the first effect of its chain that a live worker announces as routed
 * ("blur|faces" -> frames_to_process:faces), else to frames_to_process.
 */
#ifndef OOBLEX_ROUTE_H
#define OOBLEX_ROUTE_H

#include <stddef.h>

#include "effect_grammar.h"	/* a chain's names: ooblex_effect_names */

/* The core effects every worker runs (the libavfilter set, served from
 * frames_to_process), NULL-terminated. The one list: the worker's effect
 * table and the plugin's route check both use it. */
#define OOBLEX_CORE_EFFECT_COUNT 10
extern const char *const ooblex_core_effects[OOBLEX_CORE_EFFECT_COUNT + 1];

/* Whether name (len bytes) is an effect the plugin routes itself to
 * frames_to_process: a core effect, "ffmpeg", or "core" (the worker's word
 * for that queue). A registry entry announcing one of them as a route is
 * refused: it would divert frames every worker serves to a queue few or none
 * serve. */
int ooblex_effect_is_core_name(const char *name, size_t len);

/* The queue for effect into out (OOBLEX_KEY_MAX bytes is enough), given the
 * routed effect names live workers announce (n of them). Returns 1 when the
 * frame is routed, 0 for the default queue. */
int ooblex_route_queue(const char *effect, const char *const *routes, size_t n, char *out, size_t outlen);

#endif
