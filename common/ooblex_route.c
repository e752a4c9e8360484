/*
 * ooblex_route.c - the routing rule (see ooblex_route.h).
 */
#include "ooblex_route.h"

#include <stdio.h>
#include <string.h>

#include "ooblex_keys.h"

const char *const ooblex_core_effects[OOBLEX_CORE_EFFECT_COUNT + 1] = {
	"none", "invert", "grayscale", "sepia", "mirror", "blur", "edges", "cartoon", "pixelate", "denoise", NULL,
};

static int name_is(const char *name, size_t len, const char *want) {
	return strlen(want) == len && !strncmp(name, want, len);
}

int ooblex_effect_is_core_name(const char *name, size_t len) {
	if(name_is(name, len, "ffmpeg") || name_is(name, len, "core"))
		return 1;
	for(const char *const *e = ooblex_core_effects; *e; e++)
		if(name_is(name, len, *e))
			return 1;
	return 0;
}

typedef struct route_match {
	const char *const *routes;
	size_t n;
	const char *found;
} route_match;

static int match_route(const char *name, size_t len, void *user) {
	route_match *m = user;
	for(size_t i = 0; i < m->n; i++)
		if(strlen(m->routes[i]) == len && !strncmp(m->routes[i], name, len)) {
			m->found = m->routes[i];
			return 1;
		}
	return 0;
}

int ooblex_route_queue(const char *effect, const char *const *routes, size_t n, char *out, size_t outlen) {
	route_match m = { routes, n, NULL };
	if(effect != NULL && n > 0 && ooblex_effect_names(effect, match_route, &m) && m.found != NULL) {
		snprintf(out, outlen, OOBLEX_KEY_FRAMES ":%s", m.found);
		return 1;
	}
	snprintf(out, outlen, OOBLEX_KEY_FRAMES);
	return 0;
}
