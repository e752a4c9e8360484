/*
 * fuzz_fleet_effects.c - registry entries (any Redis client can write them)
 * and effect strings (a page's) through the fleet check: the capabilities
 * built from the entries, the verdict and its reason, the models list.
 *
 * fuzz-sources: plugin/queue/fleet_effects.c common/effect_grammar.c common/ooblex_route.c
 * fuzz-pkgs: glib-2.0 jansson
 *
 * Input: up to four registry entries and then the effect string, one a line.
 * Checks, beyond the sanitizers: the verdict is one of the three, the reason
 * is terminated within its buffer and says something unless the effect
 * runs, and a fleet with no well-formed entry is NO_WORKERS.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_effects.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if(size > 16384)
		return 0;
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	const char *lines[5];
	size_t n = 0;
	char *p = text;
	while(n < 4) {
		char *nl = strchr(p, '\n');
		if(nl == NULL)
			break;
		*nl = '\0';
		lines[n++] = p;
		p = nl + 1;
	}
	const char *effect = p;
	ooblex_fleet_caps *caps = ooblex_fleet_caps_new(lines, n);
	char why[256];
	memset(why, 'x', sizeof(why));
	ooblex_fleet_verdict v = ooblex_fleet_caps_check(caps, effect, why, sizeof(why));
	if(v != OOBLEX_FLEET_RUNNABLE && v != OOBLEX_FLEET_NO_WORKERS && v != OOBLEX_FLEET_NOT_RUNNABLE)
		abort();
	if(memchr(why, '\0', sizeof(why)) == NULL || (v != OOBLEX_FLEET_RUNNABLE && why[0] == '\0'))
		abort();
	if(ooblex_fleet_caps_workers(caps) == 0 && v != OOBLEX_FLEET_NO_WORKERS)
		abort();
	json_t *models = ooblex_fleet_caps_models(caps);
	if(!json_is_object(models))
		abort();
	json_decref(models);
	/* The watch on the same: a start, a step, a stop. */
	ooblex_fleet_watch w;
	ooblex_fleet_watch_init(&w);
	ooblex_fleet_watch_start(&w, effect);
	ooblex_fleet_verdict wv;
	char effect_out[OOBLEX_FLEET_WATCH_EFFECT_MAX + 1];
	ooblex_fleet_tell t = ooblex_fleet_watch_step(&w, caps, 1, 1000000, &wv, why, sizeof(why), effect_out, sizeof(effect_out));
	if((t == OOBLEX_FLEET_TELL_LOST) != (v != OOBLEX_FLEET_RUNNABLE && strlen(effect) <= OOBLEX_FLEET_WATCH_EFFECT_MAX))
		abort();
	ooblex_fleet_watch_stop(&w);
	ooblex_fleet_watch_clear(&w);
	ooblex_fleet_caps_unref(caps);
	free(text);
	return 0;
}
