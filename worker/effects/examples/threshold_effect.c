/*
 * threshold_effect.c - an example effect module for ooblex-worker.
 *
 * "threshold[:level=N]": every pixel whose luma is at least N (16..235,
 * default 128) becomes white, every other black, and the colour goes. It is
 * deliberately small: the point is the ABI in ooblex_effect.h, which is all a
 * module needs to include.
 *
 *   cc -shared -fPIC -I/usr/include/ooblex -o threshold.so threshold_effect.c
 *   ooblex-worker --module ./threshold.so
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooblex_effect.h"

typedef struct threshold {
	int level;
} threshold;

static void *threshold_create(const char *params, char *err, size_t errlen) {
	int level = 128;
	if(*params != '\0') {
		char *end = NULL;
		if(strncmp(params, "level=", 6) != 0 || (level = (int)strtol(params + 6, &end, 10), *end != '\0') ||
				level < 16 || level > 235) {
			snprintf(err, errlen, "threshold: expected level=16..235, got '%s'", params);
			return NULL;
		}
	}
	threshold *t = malloc(sizeof(*t));
	if(t == NULL) {
		snprintf(err, errlen, "threshold: out of memory");
		return NULL;
	}
	t->level = level;
	return t;
}

static int threshold_process(void *state, ooblex_image *img, char *err, size_t errlen) {
	(void)err;
	(void)errlen;
	const threshold *t = state;
	for(int row = 0; row < img->height; row++) {
		uint8_t *y = img->y + (size_t)row * img->y_stride;
		for(int col = 0; col < img->width; col++)
			y[col] = y[col] >= t->level ? 235 : 16;
	}
	int cw = (img->width + 1) / 2, ch = (img->height + 1) / 2;
	for(int row = 0; row < ch; row++) {
		memset(img->u + (size_t)row * img->u_stride, 128, (size_t)cw);
		memset(img->v + (size_t)row * img->v_stride, 128, (size_t)cw);
	}
	return 0;
}

static void threshold_destroy(void *state) {
	free(state);
}

static const ooblex_effect effects[] = {
	{ "threshold", "black and white at a luma level (level=16..235, default 128)",
		threshold_create, threshold_process, threshold_destroy, NULL },
};

static const ooblex_effect_module module = {
	OOBLEX_EFFECT_ABI_VERSION, "threshold example", effects, sizeof(effects) / sizeof(effects[0]),
};

/* The one exported symbol (build with -fvisibility=hidden to keep it so). */
__attribute__((visibility("default"))) const ooblex_effect_module *ooblex_effect_module_v1(void);
const ooblex_effect_module *ooblex_effect_module_v1(void) {
	return &module;
}
