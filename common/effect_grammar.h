/*
 * effect_grammar.h - the grammar of effects: names, effect strings, and the
 * strict grammar of "ffmpeg:<graph>".
 *
 * Owns, in one place for the plugin (a page's start/configure), the worker
 * (its module effects) and registry parsing (what a worker announces: the
 * plugin's list_effects, stats and routes):
 *
 *   name   := [a-z0-9_]{1,OOBLEX_EFFECT_NAME_MAX}
 *   effect := item ( "|" item )*      1..OOBLEX_EFFECT_TEXT_MAX bytes, all of
 *                                     [A-Za-z0-9] and _-.:|=,/()*+
 *   item   := name [ ":" params ]     params: the effect's to check
 *           | "ffmpeg:" graph         takes the rest of the string (a graph's
 *                                     options may hold '|'); the grammar below
 *
 * An effect string that passes may still name an effect no worker has: the
 * worker answers that frame with an error result (unknown_effect).
 *
 * And what a browser may write after "ffmpeg:" and what it means: which
 * libavfilter filters, which of their options, and the bounds of each value.
 * The text is never handed to libavfilter's own graph parser (which creates
 * and initialises every filter it reads, before anyone can look at it); the
 * worker builds the graph from the parse below, one allowlisted filter and
 * one allowlisted option at a time (worker/effects/effects.c). The plugin checks the
 * same grammar when a page asks for an effect, so a refused graph is refused
 * with the same words at both ends.
 *
 *   graph  := filter ( "," filter ){1..OOBLEX_FXG_MAX_FILTERS}
 *   filter := name [ "=" option ( ":" option )* ]
 *   option := key "=" value
 *   name, key := [a-z0-9_]{1,32}
 *   value  := number   -?[0-9]{1,7}(\.[0-9]{1,6})?   (integers for int options)
 *           | word     one of the option's listed words ([a-z0-9_]+)
 *           | lut expression (lutyuv/lutrgb only): numbers, + - * / ( ),
 *             the variables val maxval minval negval clipval w h and the
 *             one-argument functions abs trunc floor ceil round sqrt sgn,
 *             at most OOBLEX_FXG_EXPR_MAX characters and 8 levels of ( ).
 *
 * Nothing else: no quotes, backslashes, brackets or labels, no ';', no '@',
 * no whitespace, no upper case, no positional option values, no option
 * given twice, no graph whose estimated cost is over OOBLEX_FXG_COST_MAX.
 * Every filter has one input and one output; the worker links
 * them buffer -> f1 -> ... -> fN -> scale to the input size -> yuv420p.
 * Pure C, no libavfilter: the plugin links it too.
 */
#ifndef OOBLEX_EFFECT_GRAMMAR_H
#define OOBLEX_EFFECT_GRAMMAR_H

#include <stddef.h>

#define OOBLEX_EFFECT_NAME_MAX	31
#define OOBLEX_EFFECT_TEXT_MAX	200

/* Whether name is an effect name (the grammar above). 0, or -1 with why
 * (whylen bytes; why may be NULL). */
int ooblex_effect_name_check(const char *name, char *why, size_t whylen);
/* The same for len bytes at name (no NUL needed). */
int ooblex_effect_name_check_len(const char *name, size_t len, char *why, size_t whylen);
/* Whether effect is an effect string: its length and characters, each
 * item's name, and its ffmpeg: graph (ooblex_fxg_check_effect). 0, or -1
 * with why ("effect name 'Blur': ...", "ffmpeg: graph, offset 7: ..."). */
int ooblex_effect_check(const char *effect, char *why, size_t whylen);

/* The length of the chain item at p: up to the next '|', or all the rest
 * for "ffmpeg:<graph>". */
size_t ooblex_effect_item_len(const char *p);
/* A chain's effect names in order, without parameters: calls fn for each
 * item ("blur:sigma=3|ffmpeg:hflip,vflip" -> "blur", "ffmpeg"; an empty
 * item, as in "" or "blur|", gives an empty name); stops when fn returns
 * non-zero and returns that value (0 when it never did). */
typedef int (*ooblex_effect_name_fn)(const char *name, size_t len, void *user);
int ooblex_effect_names(const char *effect, ooblex_effect_name_fn fn, void *user);

#define OOBLEX_FXG_PREFIX	"ffmpeg:"
#define OOBLEX_FXG_TEXT_MAX	200	/* bytes after "ffmpeg:" */
#define OOBLEX_FXG_MAX_FILTERS	8
#define OOBLEX_FXG_MAX_OPTIONS	12	/* per filter (colorchannelmixer has 12 useful ones) */
#define OOBLEX_FXG_NAME_MAX	32
#define OOBLEX_FXG_EXPR_MAX	64
#define OOBLEX_FXG_VALUE_MAX	OOBLEX_FXG_EXPR_MAX
/* A graph's estimated cost for a 640x480 frame: the sum of its filters'
 * cost_ms, each scaled by the area it works on (after scale or crop). A
 * graph over this is refused; it stays under the worker's default per-frame
 * budget (250 ms) with room for the JPEG coding. */
#define OOBLEX_FXG_COST_MAX	150

typedef enum ooblex_fxg_type {
	OOBLEX_FXG_NUM,	/* a decimal number in [min, max] */
	OOBLEX_FXG_INT,	/* an integer in [min, max] */
	OOBLEX_FXG_ODD,	/* an odd integer in [min, max] (kernel and window sizes) */
	OOBLEX_FXG_WORD,	/* one of words[] */
	OOBLEX_FXG_EXPR,	/* a lut expression (see above) */
} ooblex_fxg_type;

typedef struct ooblex_fxg_option_spec {
	const char *name;	/* the AVOption's name */
	ooblex_fxg_type type;
	double min, max;
	const char *const *words;	/* OOBLEX_FXG_WORD: NULL-terminated */
} ooblex_fxg_option_spec;

typedef struct ooblex_fxg_filter_spec {
	const char *name;	/* the libavfilter filter */
	const ooblex_fxg_option_spec *options;	/* NULL-name-terminated */
	/* ms for one 640x480 frame at the costliest values the bounds allow
	 * (measured by tests/bench/effect_cost, rounded up; at least 1). */
	int cost_ms;
} ooblex_fxg_filter_spec;

/* One option as written, checked: value is the validated text (only
 * characters of its type's set), ready for av_opt_set. */
typedef struct ooblex_fxg_setting {
	const ooblex_fxg_option_spec *spec;
	char value[OOBLEX_FXG_VALUE_MAX + 1];
} ooblex_fxg_setting;

typedef struct ooblex_fxg_step {
	const ooblex_fxg_filter_spec *spec;
	int n_settings;
	ooblex_fxg_setting settings[OOBLEX_FXG_MAX_OPTIONS];
} ooblex_fxg_step;

typedef struct ooblex_fxg_chain {
	double cost_ms;	/* estimated, for a 640x480 input (see OOBLEX_FXG_COST_MAX) */
	int n_steps;
	ooblex_fxg_step steps[OOBLEX_FXG_MAX_FILTERS];
} ooblex_fxg_chain;

/* Parses the text after "ffmpeg:" (len bytes; a NUL inside is refused).
 * Returns 0, or -1 with a reason naming the offset and the problem in err
 * ("ffmpeg: graph, offset 12: filter 'movie' is not allowed"). */
int ooblex_fxg_parse(const char *text, size_t len, ooblex_fxg_chain *chain, char *err, size_t errlen);

/* The same for a whole effect string's ffmpeg: item, if it has one: 0 when
 * the string has no "ffmpeg:" item or its graph parses, -1 with a reason.
 * (A chain's "ffmpeg:" item takes the rest of the string.) */
int ooblex_fxg_check_effect(const char *effect, char *err, size_t errlen);

/* The allowlist, NULL-name-terminated. */
const ooblex_fxg_filter_spec *ooblex_fxg_filters(void);
/* A filter of the allowlist by name, or NULL. */
const ooblex_fxg_filter_spec *ooblex_fxg_find_filter(const char *name);

#endif
