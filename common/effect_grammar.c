/*
 * effect_grammar.c - the ffmpeg: grammar and its allowlist (see effect_grammar.h).
 *
 * Bounds: every filter below, at the most expensive values its bounds allow,
 * processes one 640x480 I420 frame in well under the worker's default
 * per-frame budget of 250 ms on the reference machine (2 cores, one thread
 * per graph). Figures measured with tests/bench/effect_cost (ms per frame,
 * median of 20): see docs/api.md ("ffmpeg: graphs") and the comments below
 * for the expensive ones. A chain may hold up to 8 filters, so a chain of
 * worst cases can still exceed the budget: the worker's --frame-budget-ms
 * is the last line (the frame is dropped and the client told).
 *
 * Left out on purpose: every filter that reads files, loads code, opens
 * sockets or takes commands (movie, amovie, sendcmd, zmq, frei0r, ladspa,
 * lv2, lut3d, haldclut, curves' psfile, subtitles, ass, drawtext, metadata,
 * select, ...), sources and sinks, filters with more or fewer than one input
 * and one output (split, blend, overlay, hstack, vstack, mergeplanes,
 * extractplanes: a linear chain without labels cannot use them), filters
 * that keep frames (tmix, ...), geq (an expression per pixel per frame: its
 * cost is the expression's, unbounded in practice) and the generic
 * "enable" timeline expression (evaluated per frame, with t and n).
 * lutyuv/lutrgb expressions are kept: they are evaluated 256 times per
 * component when the graph is configured, never per pixel, so even the
 * longest expression allowed costs microseconds; the expression language is
 * cut down to arithmetic on a few variables (no while/ld/st/random/print).
 */
#include "effect_grammar.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END { NULL, 0, 0, 0, NULL }
#define NUM(n, lo, hi) { n, OOBLEX_FXG_NUM, lo, hi, NULL }
#define INT(n, lo, hi) { n, OOBLEX_FXG_INT, lo, hi, NULL }
#define ODD(n, lo, hi) { n, OOBLEX_FXG_ODD, lo, hi, NULL }
#define WORD(n, w) { n, OOBLEX_FXG_WORD, 0, 0, w }
#define EXPR(n) { n, OOBLEX_FXG_EXPR, 0, 0, NULL }

static const ooblex_fxg_option_spec no_options[] = { END };
static const char *const transpose_dirs[] = { "cclock_flip", "clock", "cclock", "clock_flip", NULL };
static const char *const edge_modes[] = { "wires", "colormix", "canny", NULL };
/* What a chain may convert to in between; the worker always ends in yuv420p. */
static const char *const pix_fmts[] = { "yuv420p", "yuv422p", "yuv444p", "yuvj420p", "rgb24", "bgr24", "gray", NULL };

/* Output sizes: at most 1280x960 (four 640x480 frames) anywhere in the
 * chain; the worker scales the result back to the input size. */
static const ooblex_fxg_option_spec scale_opts[] = { INT("w", 16, 1280), INT("h", 16, 960), END };
static const ooblex_fxg_option_spec crop_opts[] = {
	INT("w", 16, 8192), INT("h", 16, 8192), INT("x", 0, 8192), INT("y", 0, 8192), END };
static const ooblex_fxg_option_spec transpose_opts[] = { WORD("dir", transpose_dirs), END };
static const ooblex_fxg_option_spec format_opts[] = { WORD("pix_fmts", pix_fmts), END };
static const ooblex_fxg_option_spec negate_opts[] = { END };
static const ooblex_fxg_option_spec hue_opts[] = {
	NUM("h", -360, 360), NUM("s", -10, 10), NUM("b", -10, 10), END };
static const ooblex_fxg_option_spec eq_opts[] = {
	NUM("brightness", -1, 1), NUM("contrast", -2, 2), NUM("saturation", 0, 3), NUM("gamma", 0.1, 10),
	NUM("gamma_r", 0.1, 10), NUM("gamma_g", 0.1, 10), NUM("gamma_b", 0.1, 10), END };
static const ooblex_fxg_option_spec ccm_opts[] = {
	NUM("rr", -2, 2), NUM("rg", -2, 2), NUM("rb", -2, 2), NUM("gr", -2, 2), NUM("gg", -2, 2), NUM("gb", -2, 2),
	NUM("br", -2, 2), NUM("bg", -2, 2), NUM("bb", -2, 2), END };
static const ooblex_fxg_option_spec colorbalance_opts[] = {
	NUM("rs", -1, 1), NUM("gs", -1, 1), NUM("bs", -1, 1), NUM("rm", -1, 1), NUM("gm", -1, 1), NUM("bm", -1, 1),
	NUM("rh", -1, 1), NUM("gh", -1, 1), NUM("bh", -1, 1), END };
static const ooblex_fxg_option_spec colortemperature_opts[] = {
	NUM("temperature", 1000, 40000), NUM("mix", 0, 1), END };
static const ooblex_fxg_option_spec exposure_opts[] = { NUM("exposure", -3, 3), NUM("black", -1, 1), END };
static const ooblex_fxg_option_spec vibrance_opts[] = { NUM("intensity", -2, 2), END };
static const ooblex_fxg_option_spec monochrome_opts[] = {
	NUM("cb", -1, 1), NUM("cr", -1, 1), NUM("size", 0.1, 10), NUM("high", 0, 1), END };
/* angle 0..pi/2: the filter's own range. */
static const ooblex_fxg_option_spec vignette_opts[] = { NUM("angle", 0, 1.5707), END };
/* allf: one flag (temporal, uniform, averaged, pattern); no '+' combinations. */
static const char *const noise_flags[] = { "t", "u", "a", "p", NULL };
static const ooblex_fxg_option_spec noise_opts[] = {
	INT("alls", 0, 100), WORD("allf", noise_flags), INT("all_seed", 0, 2147483647), END };
/* gblur is recursive: its cost follows steps, not sigma. */
static const ooblex_fxg_option_spec gblur_opts[] = {
	NUM("sigma", 0, 100), INT("steps", 1, 6), INT("planes", 0, 15), END };
/* boxblur is a running sum: cost follows power, not radius; radius must stay
 * within the smallest plane, so at most 10 for 64x48 chroma. */
static const ooblex_fxg_option_spec boxblur_opts[] = {
	INT("luma_radius", 0, 10), INT("luma_power", 0, 3), INT("chroma_radius", 0, 10), INT("chroma_power", 0, 3), END };
static const ooblex_fxg_option_spec smartblur_opts[] = {
	NUM("luma_radius", 0.1, 5), NUM("luma_strength", -1, 1), INT("luma_threshold", -30, 30), END };
/* unsharp's cost grows with the matrix area: at most 9x9. */
static const ooblex_fxg_option_spec unsharp_opts[] = {
	ODD("luma_msize_x", 3, 9), ODD("luma_msize_y", 3, 9), NUM("luma_amount", -2, 5),
	ODD("chroma_msize_x", 3, 9), ODD("chroma_msize_y", 3, 9), NUM("chroma_amount", -2, 5), END };
static const ooblex_fxg_option_spec hqdn3d_opts[] = {
	NUM("luma_spatial", 0, 50), NUM("chroma_spatial", 0, 50), NUM("luma_tmp", 0, 50), NUM("chroma_tmp", 0, 50), END };
/* nlmeans costs (2r+1)^2 per pixel and plane (the patch is an integral
 * image): r and rc at most 7 (225 offsets); the defaults are p=7, r=15. */
static const ooblex_fxg_option_spec nlmeans_opts[] = {
	NUM("s", 1, 30), ODD("p", 1, 7), ODD("pc", 1, 7), ODD("r", 1, 7), ODD("rc", 1, 7), END };
/* median's cost grows with the radius (a sliding histogram): at most 8. */
static const ooblex_fxg_option_spec median_opts[] = { INT("radius", 1, 8), END };
static const ooblex_fxg_option_spec edgedetect_opts[] = {
	NUM("low", 0, 1), NUM("high", 0, 1), WORD("mode", edge_modes), END };
static const ooblex_fxg_option_spec sobel_opts[] = {
	INT("planes", 0, 15), NUM("scale", 0, 100), NUM("delta", -255, 255), END };
static const ooblex_fxg_option_spec morpho_opts[] = { INT("threshold0", 0, 255), END };
static const ooblex_fxg_option_spec lutyuv_opts[] = { EXPR("y"), EXPR("u"), EXPR("v"), END };
static const ooblex_fxg_option_spec lutrgb_opts[] = { EXPR("r"), EXPR("g"), EXPR("b"), END };

static const ooblex_fxg_filter_spec filters[] = {
	{ "null", no_options, 1 },
	{ "copy", no_options, 1 },
	{ "negate", negate_opts, 1 },
	{ "hflip", no_options, 1 },
	{ "vflip", no_options, 1 },
	{ "transpose", transpose_opts, 2 },
	{ "crop", crop_opts, 1 },
	{ "scale", scale_opts, 20 },
	{ "format", format_opts, 5 },
	{ "swapuv", no_options, 1 },
	{ "hue", hue_opts, 2 },
	{ "eq", eq_opts, 2 },
	{ "colorchannelmixer", ccm_opts, 6 },
	{ "colorbalance", colorbalance_opts, 15 },
	{ "colortemperature", colortemperature_opts, 10 },
	{ "exposure", exposure_opts, 3 },
	{ "vibrance", vibrance_opts, 10 },
	{ "monochrome", monochrome_opts, 5 },
	{ "vignette", vignette_opts, 3 },
	{ "noise", noise_opts, 2 },
	{ "gblur", gblur_opts, 5 },
	{ "boxblur", boxblur_opts, 8 },
	{ "smartblur", smartblur_opts, 12 },
	{ "unsharp", unsharp_opts, 10 },
	{ "hqdn3d", hqdn3d_opts, 5 },
	{ "nlmeans", nlmeans_opts, 95 },
	{ "median", median_opts, 75 },
	{ "edgedetect", edgedetect_opts, 35 },
	{ "sobel", sobel_opts, 10 },
	{ "prewitt", sobel_opts, 10 },
	{ "roberts", sobel_opts, 5 },
	{ "deflate", morpho_opts, 3 },
	{ "inflate", morpho_opts, 3 },
	{ "erosion", morpho_opts, 5 },
	{ "dilation", morpho_opts, 5 },
	{ "lutyuv", lutyuv_opts, 2 },
	{ "lutrgb", lutrgb_opts, 6 },
	{ NULL, NULL, 0 },
};

const ooblex_fxg_filter_spec *ooblex_fxg_filters(void) {
	return filters;
}

static const ooblex_fxg_filter_spec *find_filter(const char *name, size_t len) {
	for(const ooblex_fxg_filter_spec *f = filters; f->name; f++)
		if(strlen(f->name) == len && !memcmp(f->name, name, len))
			return f;
	return NULL;
}

const ooblex_fxg_filter_spec *ooblex_fxg_find_filter(const char *name) {
	return name ? find_filter(name, strlen(name)) : NULL;
}

static int is_name_char(char c) {
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_digit(char c) {
	return c >= '0' && c <= '9';
}

/* The parser's cursor: the text, where we are, and where the error goes. */
typedef struct cursor {
	const char *text;
	size_t len, pos;
	char *err;
	size_t errlen;
	int failed;
} cursor;

static int fail(cursor *c, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(cursor *c, size_t at, const char *fmt, ...) {
	if(c->failed)
		return -1;
	c->failed = 1;
	char why[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "ffmpeg: graph, offset %zu: %s", at, why);
	return -1;
}

/* What to call a character in an error message. */
static const char *describe_char(char ch, char buf[8]) {
	if(ch == '\0')
		return "a NUL byte";
	if((unsigned char)ch < 0x20 || (unsigned char)ch >= 0x7f) {
		snprintf(buf, 8, "0x%02x", (unsigned char)ch);
		return buf;
	}
	snprintf(buf, 8, "'%c'", ch);
	return buf;
}

static char peek(const cursor *c) {
	return c->pos < c->len ? c->text[c->pos] : '\0';
}

/* [a-z0-9_]{1,32}; what stops it must be one of `stops` (or the end). */
static int read_name(cursor *c, const char *what, const char *stops, size_t *start, size_t *len) {
	*start = c->pos;
	while(c->pos < c->len && is_name_char(c->text[c->pos]))
		c->pos++;
	*len = c->pos - *start;
	char b[8];
	if(*len == 0) {
		if(c->pos >= c->len)
			return fail(c, c->pos, "expected a %s, found the end", what);
		return fail(c, c->pos, "expected a %s ([a-z0-9_]), found %s", what, describe_char(c->text[c->pos], b));
	}
	if(*len > OOBLEX_FXG_NAME_MAX)
		return fail(c, *start, "%s longer than %d characters", what, OOBLEX_FXG_NAME_MAX);
	if(c->pos < c->len && strchr(stops, c->text[c->pos]) == NULL)
		return fail(c, c->pos, "unexpected %s after %s '%.*s'", describe_char(c->text[c->pos], b), what,
			(int)*len, c->text + *start);
	return 0;
}

/* -?[0-9]{1,7}(\.[0-9]{1,6})? -> its value; no exponent, hex, inf or nan. */
static int read_number(const char *s, size_t len, int integer, double *out) {
	size_t i = 0, digits = 0, frac = 0;
	if(i < len && s[i] == '-')
		i++;
	while(i < len && is_digit(s[i])) {
		i++;
		digits++;
	}
	if(digits == 0 || digits > 7)
		return -1;
	if(i < len && s[i] == '.' && !integer) {
		i++;
		while(i < len && is_digit(s[i])) {
			i++;
			frac++;
		}
		if(frac == 0 || frac > 6)
			return -1;
	}
	if(i != len)
		return -1;
	char buf[24];
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtod(buf, NULL);
	return 0;
}

/* The lut expression language, by recursive descent over the value text:
 *   sum := product (("+"|"-") product)*    product := unary (("*"|"/") unary)*
 *   unary := "-"? primary    primary := number | var | fn "(" sum ")" | "(" sum ")"
 * depth counts parentheses (at most 8), so the recursion is bounded. */
typedef struct expr_cursor {
	const char *s;
	size_t len, pos;
	int depth;
	const char *why;
} expr_cursor;

static const char *const expr_vars[] = { "val", "maxval", "minval", "negval", "clipval", "w", "h", NULL };
static const char *const expr_funcs[] = { "abs", "trunc", "floor", "ceil", "round", "sqrt", "sgn", NULL };

static int word_in(const char *s, size_t len, const char *const *list) {
	for(const char *const *w = list; *w; w++)
		if(strlen(*w) == len && !memcmp(*w, s, len))
			return 1;
	return 0;
}

static int expr_sum(expr_cursor *e);

static int expr_primary(expr_cursor *e) {
	if(e->pos >= e->len) {
		e->why = "expression ends too early";
		return -1;
	}
	char ch = e->s[e->pos];
	if(is_digit(ch)) {
		size_t start = e->pos;
		while(e->pos < e->len && (is_digit(e->s[e->pos]) || e->s[e->pos] == '.'))
			e->pos++;
		double v;
		if(read_number(e->s + start, e->pos - start, 0, &v) < 0) {
			e->why = "bad number in expression (digits, an optional fraction)";
			return -1;
		}
		/* "1e9", "0x1f", "3k": a suffix av_expr would read. */
		if(e->pos < e->len && is_name_char(e->s[e->pos])) {
			e->why = "a number in an expression must not be followed by a letter";
			return -1;
		}
		return 0;
	}
	if(ch >= 'a' && ch <= 'z') {
		size_t start = e->pos;
		while(e->pos < e->len && e->s[e->pos] >= 'a' && e->s[e->pos] <= 'z')
			e->pos++;
		size_t n = e->pos - start;
		if(e->pos < e->len && e->s[e->pos] == '(') {
			if(!word_in(e->s + start, n, expr_funcs)) {
				e->pos = start;
				e->why = "unknown function in expression (abs trunc floor ceil round sqrt sgn)";
				return -1;
			}
		} else {
			if(!word_in(e->s + start, n, expr_vars)) {
				e->pos = start;
				e->why = "unknown variable in expression (val maxval minval negval clipval w h)";
				return -1;
			}
			if(e->pos < e->len && (is_digit(e->s[e->pos]) || e->s[e->pos] == '_')) {
				e->why = "unexpected character after a variable";
				return -1;
			}
			return 0;
		}
		ch = '(';
	}
	if(ch == '(') {
		if(++e->depth > 8) {
			e->why = "more than 8 levels of parentheses";
			return -1;
		}
		e->pos++;
		if(expr_sum(e) < 0)
			return -1;
		if(e->pos >= e->len || e->s[e->pos] != ')') {
			e->why = "missing ')'";
			return -1;
		}
		e->pos++;
		e->depth--;
		return 0;
	}
	e->why = "expected a number, a variable, a function or '('";
	return -1;
}

static int expr_unary(expr_cursor *e) {
	if(e->pos < e->len && e->s[e->pos] == '-')
		e->pos++;
	return expr_primary(e);
}

static int expr_product(expr_cursor *e) {
	if(expr_unary(e) < 0)
		return -1;
	while(e->pos < e->len && (e->s[e->pos] == '*' || e->s[e->pos] == '/')) {
		e->pos++;
		if(expr_unary(e) < 0)
			return -1;
	}
	return 0;
}

static int expr_sum(expr_cursor *e) {
	if(expr_product(e) < 0)
		return -1;
	while(e->pos < e->len && (e->s[e->pos] == '+' || e->s[e->pos] == '-')) {
		e->pos++;
		if(expr_product(e) < 0)
			return -1;
	}
	return 0;
}

static int is_expr_char(char ch) {
	return is_digit(ch) || (ch >= 'a' && ch <= 'z') || strchr(".+-*/()", ch) != NULL;
}

static int is_value_char(char ch) {
	return is_name_char(ch) || ch == '.' || ch == '-';
}

/* key=value; the value runs to the next ':' or ',' (neither can be in one). */
static int read_option(cursor *c, ooblex_fxg_step *step) {
	size_t kstart, klen;
	if(read_name(c, "option name", "=", &kstart, &klen) < 0)
		return -1;
	if(peek(c) != '=')
		return fail(c, c->pos, "option '%.*s' needs a value (key=value; positional values are not accepted)",
			(int)klen, c->text + kstart);
	const ooblex_fxg_option_spec *spec = NULL;
	for(const ooblex_fxg_option_spec *o = step->spec->options; o->name && spec == NULL; o++)
		if(strlen(o->name) == klen && !memcmp(o->name, c->text + kstart, klen))
			spec = o;
	if(spec == NULL)
		return fail(c, kstart, "option '%.*s' is not allowed for '%s'", (int)klen, c->text + kstart, step->spec->name);
	for(int i = 0; i < step->n_settings; i++)
		if(step->settings[i].spec == spec)
			return fail(c, kstart, "option '%s' given twice", spec->name);
	if(step->n_settings == OOBLEX_FXG_MAX_OPTIONS)
		return fail(c, kstart, "more than %d options", OOBLEX_FXG_MAX_OPTIONS);
	c->pos++;	/* '=' */
	size_t vstart = c->pos;
	int expr = spec->type == OOBLEX_FXG_EXPR;
	while(c->pos < c->len && c->text[c->pos] != ':' && c->text[c->pos] != ',') {
		char ch = c->text[c->pos], b[8];
		if(!(expr ? is_expr_char(ch) : is_value_char(ch)))
			return fail(c, c->pos, "%s is not allowed in the value of '%s'", describe_char(ch, b), spec->name);
		c->pos++;
	}
	size_t vlen = c->pos - vstart;
	const char *v = c->text + vstart;
	if(vlen == 0)
		return fail(c, vstart, "option '%s' has an empty value", spec->name);
	if(vlen > OOBLEX_FXG_VALUE_MAX)
		return fail(c, vstart, "value of '%s' longer than %d characters", spec->name, OOBLEX_FXG_VALUE_MAX);
	double num = 0;
	switch(spec->type) {
		case OOBLEX_FXG_NUM:
		case OOBLEX_FXG_INT:
		case OOBLEX_FXG_ODD:
			if(read_number(v, vlen, spec->type != OOBLEX_FXG_NUM, &num) < 0)
				return fail(c, vstart, "'%s' must be %s", spec->name, spec->type == OOBLEX_FXG_NUM ?
					"a plain decimal number (e.g. 0.5; no exponent, hex, inf or nan)" : "a plain integer");
			if(!(num >= spec->min && num <= spec->max))
				return fail(c, vstart, "'%s' must be in %g..%g", spec->name, spec->min, spec->max);
			if(spec->type == OOBLEX_FXG_ODD && ((long)num % 2) == 0)
				return fail(c, vstart, "'%s' must be odd", spec->name);
			break;
		case OOBLEX_FXG_WORD:
			if(!word_in(v, vlen, spec->words)) {
				char list[160] = "";
				for(const char *const *w = spec->words; *w; w++)
					snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", w == spec->words ? "" : " ", *w);
				return fail(c, vstart, "'%s' must be one of: %s", spec->name, list);
			}
			break;
		case OOBLEX_FXG_EXPR: {
			expr_cursor e = { v, vlen, 0, 0, NULL };
			if(expr_sum(&e) < 0 || (e.pos != vlen && (e.why = "unexpected character in expression") != NULL))
				return fail(c, vstart + e.pos, "'%s': %s", spec->name, e.why);
			break;
		}
	}
	ooblex_fxg_setting *s = &step->settings[step->n_settings++];
	s->spec = spec;
	memcpy(s->value, v, vlen);
	s->value[vlen] = '\0';
	return 0;
}

/* The value of an option that was given, or -1. */
static double setting_number(const ooblex_fxg_step *step, const char *name) {
	for(int i = 0; i < step->n_settings; i++)
		if(!strcmp(step->settings[i].spec->name, name))
			return strtod(step->settings[i].value, NULL);
	return -1;
}

/* The area the next filter works on, in 640x480 frames: scale sets it (up to
 * 4), crop can only make it smaller. Unknown sizes (scale or crop without w
 * and h) count as the largest they can be. */
static double area_after(const ooblex_fxg_step *step, double area) {
	int scale = !strcmp(step->spec->name, "scale"), crop = !strcmp(step->spec->name, "crop");
	if(!scale && !crop)
		return area;
	double w = setting_number(step, "w"), h = setting_number(step, "h");
	double a = (w > 0 && h > 0) ? w * h / (640.0 * 480.0) : 4;
	if(scale)
		return a > 4 ? 4 : a;
	return a < area ? a : area;
}

int ooblex_fxg_parse(const char *text, size_t len, ooblex_fxg_chain *chain, char *err, size_t errlen) {
	cursor c = { text, len, 0, err, errlen, 0 };
	double area = 1;
	memset(chain, 0, sizeof(*chain));
	if(len == 0)
		return fail(&c, 0, "empty graph");
	if(len > OOBLEX_FXG_TEXT_MAX)
		return fail(&c, OOBLEX_FXG_TEXT_MAX, "longer than %d characters", OOBLEX_FXG_TEXT_MAX);
	/* One pass for characters that can never appear, so that the first
	 * message names a quote or a bracket rather than what follows it. */
	for(size_t i = 0; i < len; i++) {
		char ch = text[i], b[8];
		if(!is_expr_char(ch) && ch != '_' && ch != ',' && ch != ':' && ch != '=')
			return fail(&c, i, "%s is not allowed in ffmpeg: graphs (no quotes, escapes, brackets, labels, "
				"';', '@', spaces or upper case)", describe_char(ch, b));
	}
	for(;;) {
		if(chain->n_steps == OOBLEX_FXG_MAX_FILTERS)
			return fail(&c, c.pos, "more than %d filters", OOBLEX_FXG_MAX_FILTERS);
		size_t nstart, nlen;
		if(read_name(&c, "filter name", "=,", &nstart, &nlen) < 0)
			return -1;
		ooblex_fxg_step *step = &chain->steps[chain->n_steps];
		step->spec = find_filter(text + nstart, nlen);
		if(step->spec == NULL)
			return fail(&c, nstart, "filter '%.*s' is not allowed in ffmpeg: graphs", (int)nlen, text + nstart);
		chain->n_steps++;
		if(peek(&c) == '=') {
			do {
				c.pos++;
				if(read_option(&c, step) < 0)
					return -1;
			} while(peek(&c) == ':');
		}
		chain->cost_ms += step->spec->cost_ms * area;
		area = area_after(step, area);
		if(chain->cost_ms > OOBLEX_FXG_COST_MAX)
			return fail(&c, nstart, "graph too costly: about %.0f ms per 640x480 frame up to '%s' (at most %d)",
				chain->cost_ms, step->spec->name, OOBLEX_FXG_COST_MAX);
		if(c.pos >= c.len)
			return 0;
		if(peek(&c) != ',') {
			char b[8];
			return fail(&c, c.pos, "unexpected %s (filters are separated by ',')", describe_char(peek(&c), b));
		}
		c.pos++;
	}
}

int ooblex_fxg_check_effect(const char *effect, char *err, size_t errlen) {
	for(const char *p = effect; *p;) {
		size_t len = ooblex_effect_item_len(p);
		if(!strncmp(p, OOBLEX_FXG_PREFIX, strlen(OOBLEX_FXG_PREFIX))) {
			ooblex_fxg_chain chain;
			const char *g = p + strlen(OOBLEX_FXG_PREFIX);
			return ooblex_fxg_parse(g, strlen(g), &chain, err, errlen);
		}
		if(p[len] == '\0')
			break;
		p += len + 1;
	}
	return 0;
}

/* ------------------------------------------------- names and effect strings */

static int why_(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_(char *why, size_t whylen, const char *fmt, ...) {
	if(why != NULL && whylen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int ooblex_effect_name_check_len(const char *name, size_t len, char *why, size_t whylen) {
	int ok = name != NULL && len >= 1 && len <= OOBLEX_EFFECT_NAME_MAX;
	for(size_t i = 0; ok && i < len; i++) {
		char c = name[i];
		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
	}
	if(ok)
		return 0;
	/* The name goes into the reason as far as it is printable. */
	char shown[OOBLEX_EFFECT_NAME_MAX + 2];
	size_t n = 0;
	for(size_t i = 0; name != NULL && i < len && n < sizeof(shown) - 1; i++)
		shown[n++] = name[i] >= 0x20 && name[i] < 0x7f && name[i] != '\'' ? name[i] : '?';
	shown[n] = '\0';
	return why_(why, whylen, "effect name '%s%s': 1-%d characters of a-z, 0-9 and _", shown,
		name != NULL && len > n ? "..." : "", OOBLEX_EFFECT_NAME_MAX);
}

int ooblex_effect_name_check(const char *name, char *why, size_t whylen) {
	return ooblex_effect_name_check_len(name, name ? strlen(name) : 0, why, whylen);
}

typedef struct reason {
	char *why;
	size_t whylen;
} reason;

static int name_refused(const char *name, size_t len, void *user) {
	reason *r = user;
	return ooblex_effect_name_check_len(name, len, r->why, r->whylen) < 0;
}

int ooblex_effect_check(const char *effect, char *why, size_t whylen) {
	/* Effect strings travel in Redis keys' neighbourhood and in logs: tame
	 * characters only. */
	size_t n = effect ? strlen(effect) : 0;
	int ok = n >= 1 && n <= OOBLEX_EFFECT_TEXT_MAX;
	for(size_t i = 0; ok && i < n; i++) {
		char c = effect[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			strchr("_-.:|=,/()*+", c) != NULL;
	}
	if(!ok)
		return why_(why, whylen, "1-%d characters: letters, digits and _-.:|=,/()*+", OOBLEX_EFFECT_TEXT_MAX);
	reason r = { why, whylen };
	if(ooblex_effect_names(effect, name_refused, &r) != 0)
		return -1;
	return ooblex_fxg_check_effect(effect, why, whylen);
}

size_t ooblex_effect_item_len(const char *p) {
	if(!strncmp(p, OOBLEX_FXG_PREFIX, strlen(OOBLEX_FXG_PREFIX)))
		return strlen(p);
	return strcspn(p, "|");
}

int ooblex_effect_names(const char *effect, ooblex_effect_name_fn fn, void *user) {
	/* Every item, empty ones too ("blur||x", "blur|"): the worker reads
	 * them, so the grammar must see them. */
	for(const char *p = effect;;) {
		size_t item = ooblex_effect_item_len(p);
		/* "ffmpeg:<graph>" is named "ffmpeg" and takes the rest. */
		size_t name = strcspn(p, ":|");
		int rc = fn(p, name < item ? name : item, user);
		if(rc != 0 || p[item] == '\0')
			return rc;
		p += item + 1;
	}
}
