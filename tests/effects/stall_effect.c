/*
 * stall_effect.c - a test effect module: "stall:ms=N" holds the worker for
 * N ms (0..5000, default 500) per frame and leaves the picture as it is.
 *
 * It stands for an expensive effect (a large model, a slow ffmpeg: graph)
 * without using the CPU: on a 2-core test machine a CPU-bound effect would
 * measure CPU contention with the browser and Janus, not how the fleet's
 * time is shared between clients (tests/e2e/noisy.js). Routed (a module
 * effect): frames_to_process:stall. Built for the tests only (check_LTLIBRARIES),
 * never installed: no production worker offers it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ooblex_effect.h"

typedef struct stall {
	long ms;
} stall;

static void *stall_create(const char *params, char *err, size_t errlen) {
	long ms = 500;
	if(*params != '\0') {
		char *end = NULL;
		if(strncmp(params, "ms=", 3) != 0 || (errno = 0, ms = strtol(params + 3, &end, 10), *end != '\0') ||
				errno != 0 || ms < 0 || ms > 5000) {
			snprintf(err, errlen, "stall: expected ms=0..5000, got '%s'", params);
			return NULL;
		}
	}
	stall *s = malloc(sizeof(*s));
	if(s == NULL) {
		snprintf(err, errlen, "stall: out of memory");
		return NULL;
	}
	s->ms = ms;
	return s;
}

static int stall_process(void *state, ooblex_image *img, char *err, size_t errlen) {
	(void)img;
	(void)err;
	(void)errlen;
	const stall *s = state;
	struct timespec left = { s->ms / 1000, (s->ms % 1000) * 1000000L };
	while(nanosleep(&left, &left) != 0 && errno == EINTR)
		;
	return 0;
}

static void stall_destroy(void *state) {
	free(state);
}

static const ooblex_effect effects[] = {
	{ "stall", "holds the worker ms=0..5000 ms per frame (default 500), picture unchanged (tests)",
		stall_create, stall_process, stall_destroy, NULL },
};

static const ooblex_effect_module module = {
	OOBLEX_EFFECT_ABI_VERSION, "stall (tests)", effects, sizeof(effects) / sizeof(effects[0]),
};

__attribute__((visibility("default"))) const ooblex_effect_module *ooblex_effect_module_v1(void);
const ooblex_effect_module *ooblex_effect_module_v1(void) {
	return &module;
}
