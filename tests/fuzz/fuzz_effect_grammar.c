/*
 * fuzz_effect_grammar.c - effect strings from a browser, through the
 * ffmpeg: grammar and the worker's graph building.
 *
 * fuzz-sources: common/effect_grammar.c common/ooblex_wire.c common/ooblex_route.c worker/effects/effects.c
 * fuzz-pkgs: libavfilter libavutil glib-2.0
 *
 * The input is an effect string as a page sends it (every byte arbitrary,
 * NULs included). Filter creation is instrumented as in
 * tests/unit/test_effect_grammar.c: this file defines
 * avfilter_graph_alloc_filter, avfilter_graph_create_filter,
 * avfilter_graph_parse* and avfilter_graph_config, which effects.c (linked
 * in) calls, and forwards to libavfilter's through dlsym(RTLD_NEXT).
 * Checked, with abort() on a violation:
 *  - ooblex_fxg_parse on the raw bytes (with their NULs) never reads out of
 *    bounds, and what it accepts is only allowlisted filters and options with
 *    values of their type's characters, within the bounds and the cost cap;
 *  - "ffmpeg:" + input applied to a 32x24 frame: no filter outside the
 *    allowlist is ever created by our code or present in a configured graph,
 *    and libavfilter's parser is never called at all (the graph is built,
 *    not parsed); accepted and refused agree with the grammar and with
 *    ooblex_effect_exists;
 *  - the input as a whole effect string (core effects, chains, params):
 *    configured graphs hold only the allowlist or the core effects' own
 *    filters;
 *  - the one grammar of names and effect strings (the plugin's check,
 *    ooblex_effect_check, and ooblex_effect_name_check): what either
 *    accepts is only 1..200 (1..31) tame characters whose every item name
 *    is a name and whose ffmpeg: item parses; a name is an effect string;
 *    every refusal says why.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavfilter/avfilter.h>
#include <libavutil/log.h>

#include "effect_grammar.h"
#include "effects.h"
#include "ooblex_wire.h"

static int in_custom_apply;	/* a pure ffmpeg: string is being applied */
static int allow_core;	/* core effects' own filters may appear */

/* What the core effects' fixed graphs use (worker/effects/effects.c's table). */
static const char *const core_filters[] = { "split", "smartblur", "blend", "lutyuv", "sobel", "colorchannelmixer",
	"gblur", "hqdn3d", "scale", "null", "hflip", "format", "buffer", "buffersink", NULL };

static int allowed(const char *name) {
	if(name == NULL)
		return 0;
	if(!strcmp(name, "buffer") || !strcmp(name, "buffersink") || ooblex_fxg_find_filter(name) != NULL)
		return 1;
	for(const char *const *c = core_filters; allow_core && *c; c++)
		if(!strcmp(*c, name))
			return 1;
	return 0;
}

static void *real(const char *name) {
	void *p = dlsym(RTLD_NEXT, name);
	if(p == NULL)
		abort();
	return p;
}

static void check_created(const char *name) {
	if(!allowed(name)) {
		fprintf(stderr, "fuzz_effect_grammar: filter '%s' was created\n", name ? name : "(null)");
		abort();
	}
}

AVFilterContext *avfilter_graph_alloc_filter(AVFilterGraph *graph, const AVFilter *filter, const char *name) {
	static AVFilterContext *(*fn)(AVFilterGraph *, const AVFilter *, const char *);
	if(fn == NULL)
		fn = (AVFilterContext *(*)(AVFilterGraph *, const AVFilter *, const char *))real("avfilter_graph_alloc_filter");
	check_created(filter ? filter->name : NULL);
	return fn(graph, filter, name);
}

int avfilter_graph_create_filter(AVFilterContext **ctx, const AVFilter *filt, const char *name, const char *args,
		void *opaque, AVFilterGraph *graph) {
	static int (*fn)(AVFilterContext **, const AVFilter *, const char *, const char *, void *, AVFilterGraph *);
	if(fn == NULL)
		fn = (int (*)(AVFilterContext **, const AVFilter *, const char *, const char *, void *, AVFilterGraph *))
			real("avfilter_graph_create_filter");
	check_created(filt ? filt->name : NULL);
	return fn(ctx, filt, name, args, opaque, graph);
}

static void check_parse(const char *text) {
	if(in_custom_apply) {
		fprintf(stderr, "fuzz_effect_grammar: an ffmpeg: graph reached libavfilter's parser: '%s'\n", text);
		abort();
	}
}

int avfilter_graph_parse_ptr(AVFilterGraph *graph, const char *filters, AVFilterInOut **inputs,
		AVFilterInOut **outputs, void *log_ctx) {
	static int (*fn)(AVFilterGraph *, const char *, AVFilterInOut **, AVFilterInOut **, void *);
	if(fn == NULL)
		fn = (int (*)(AVFilterGraph *, const char *, AVFilterInOut **, AVFilterInOut **, void *))
			real("avfilter_graph_parse_ptr");
	check_parse(filters);
	return fn(graph, filters, inputs, outputs, log_ctx);
}

int avfilter_graph_parse2(AVFilterGraph *graph, const char *filters, AVFilterInOut **inputs, AVFilterInOut **outputs) {
	static int (*fn)(AVFilterGraph *, const char *, AVFilterInOut **, AVFilterInOut **);
	if(fn == NULL)
		fn = (int (*)(AVFilterGraph *, const char *, AVFilterInOut **, AVFilterInOut **))real("avfilter_graph_parse2");
	check_parse(filters);
	return fn(graph, filters, inputs, outputs);
}

int avfilter_graph_parse(AVFilterGraph *graph, const char *filters, AVFilterInOut *inputs, AVFilterInOut *outputs,
		void *log_ctx) {
	static int (*fn)(AVFilterGraph *, const char *, AVFilterInOut *, AVFilterInOut *, void *);
	if(fn == NULL)
		fn = (int (*)(AVFilterGraph *, const char *, AVFilterInOut *, AVFilterInOut *, void *))
			real("avfilter_graph_parse");
	check_parse(filters);
	return fn(graph, filters, inputs, outputs, log_ctx);
}

int avfilter_graph_config(AVFilterGraph *graph, void *log_ctx) {
	static int (*fn)(AVFilterGraph *, void *);
	if(fn == NULL)
		fn = (int (*)(AVFilterGraph *, void *))real("avfilter_graph_config");
	int ret = fn(graph, log_ctx);
	for(unsigned i = 0; i < graph->nb_filters; i++)
		check_created(graph->filters[i]->filter->name);
	return ret;
}

#define W 32
#define H 24
static ooblex_effects *fx;
static uint8_t in[W * H * 3 / 2], out[W * H * 3 / 2];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
	(void)argc;
	(void)argv;
	fx = ooblex_effects_new();
	av_log_set_level(AV_LOG_QUIET);
	for(size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 13);
	return 0;
}

static int name_is_a_name(const char *name, size_t len, void *user) {
	(void)user;
	if(len < 1 || len > OOBLEX_EFFECT_NAME_MAX || ooblex_effect_name_check_len(name, len, NULL, 0) != 0)
		abort();
	for(size_t i = 0; i < len; i++)
		if(!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			abort();
	return 0;
}

/* The names-and-strings grammar on the input up to its first NUL. */
static void check_effect_grammar(const char *s, size_t n) {
	char why[256] = "";
	if(ooblex_effect_check(s, why, sizeof(why)) == 0) {
		if(n < 1 || n > OOBLEX_EFFECT_TEXT_MAX || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"0123456789_-.:|=,/()*+") != n)
			abort();
		ooblex_effect_names(s, name_is_a_name, NULL);
		if(ooblex_fxg_check_effect(s, why, sizeof(why)) != 0)
			abort();
	} else if(why[0] == '\0') {
		abort();
	}
	why[0] = '\0';
	if(ooblex_effect_name_check(s, why, sizeof(why)) == 0) {
		name_is_a_name(s, n, NULL);
		if(ooblex_effect_check(s, why, sizeof(why)) != 0)
			abort();
	} else if(strncmp(why, "effect name '", 13) != 0) {
		abort();
	}
}

/* Only the characters of the value's type: [a-z0-9_.-] for numbers and
 * words, [a-z0-9.+-*\/()] for lut expressions. */
static int value_chars_ok(const ooblex_fxg_setting *s) {
	int expr = s->spec->type == OOBLEX_FXG_EXPR;
	for(const char *p = s->value; *p; p++) {
		int c = (unsigned char)*p;
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
			(expr ? strchr("+*/()", c) != NULL : c == '_');
		if(!ok)
			return 0;
	}
	return s->value[0] != '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if(fx == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	if(size > 1024)
		return 0;
	/* The grammar on the raw bytes, NULs and all: exactly size bytes. */
	char *raw = malloc(size ? size : 1);
	memcpy(raw, data, size);
	ooblex_fxg_chain *chain = malloc(sizeof(*chain));
	char err[256];
	int parsed = ooblex_fxg_parse(raw, size, chain, err, sizeof(err)) == 0;
	if(parsed) {
		if(chain->n_steps < 1 || chain->n_steps > OOBLEX_FXG_MAX_FILTERS || chain->cost_ms > OOBLEX_FXG_COST_MAX ||
				memchr(raw, '\0', size) != NULL)
			abort();
		for(int i = 0; i < chain->n_steps; i++) {
			const ooblex_fxg_step *st = &chain->steps[i];
			if(ooblex_fxg_find_filter(st->spec->name) != st->spec || st->n_settings > OOBLEX_FXG_MAX_OPTIONS)
				abort();
			for(int k = 0; k < st->n_settings; k++) {
				const ooblex_fxg_setting *s = &st->settings[k];
				if(!value_chars_ok(s) || strlen(s->value) > OOBLEX_FXG_VALUE_MAX)
					abort();
				if(s->spec->type != OOBLEX_FXG_WORD && s->spec->type != OOBLEX_FXG_EXPR) {
					double v = strtod(s->value, NULL);
					if(!(v >= s->spec->min && v <= s->spec->max))
						abort();
				}
			}
		}
	} else if(strncmp(err, "ffmpeg: graph, offset ", 22) != 0) {
		abort();	/* every refusal names where */
	}
	/* As a page's "ffmpeg:<input>" (up to the first NUL, as a C string). */
	size_t n = strnlen(raw, size);
	char *text = malloc(n + 1);
	memcpy(text, raw, n);
	text[n] = '\0';
	check_effect_grammar(text, n);
	free(text);
	char *effect = malloc(7 + n + 1);
	memcpy(effect, "ffmpeg:", 7);
	memcpy(effect + 7, raw, n);
	effect[7 + n] = '\0';
	in_custom_apply = 1;
	allow_core = 0;
	int rc = ooblex_effects_apply(fx, effect, OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err));
	int exists = ooblex_effect_exists(effect);
	in_custom_apply = 0;
	int grammar_ok = ooblex_fxg_check_effect(effect, err, sizeof(err)) == 0;
	/* Accepted means the grammar took it; what the grammar takes exists (it
	 * may still fail on this frame: a crop larger than 32x24). */
	if((rc == 0 && !grammar_ok) || exists != grammar_ok || (n == size && grammar_ok != parsed))
		abort();
	/* As a whole effect string: core effects, chains and parameters. */
	if(n > 0 && n < OOBLEX_NAME_MAX) {
		allow_core = 1;
		ooblex_effects_apply(fx, effect + 7, OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err));
		ooblex_effect_exists(effect + 7);
		allow_core = 0;
	}
	free(effect);
	free(chain);
	free(raw);
	return 0;
}
