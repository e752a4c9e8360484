/*
 * effects.c - core effects as libavfilter graphs (buffer -> <effect> ->
 * format=yuv420p -> buffersink), ffmpeg: graphs built filter by filter from
 * their parse in effect_grammar.h (buffer -> [core effects] -> f1..fN ->
 * scale to the input size -> format=yuv420p -> buffersink), and module
 * effects through ooblex_effect.h.
 */
#include "effects.h"
#include "ooblex_route.h"
#include "ooblex_wire.h"
#include "effect_grammar.h"
#ifdef OOBLEX_HAVE_OPENCV
#include "ml_opencv.h"
#endif

#include <dlfcn.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>

/* Effect name -> libavfilter graph. Parameters are {name} placeholders
 * with defaults; a client sets them as "blur:sigma=8". {W} and {H} are the
 * frame's size. The library does the pixel work. */
typedef struct effect_param {
	const char *name;
	double def, min, max;
} effect_param;

static const struct effect_def {
	const char *name;
	const char *graph;
	effect_param params[3];
} effect_table[] = {
	{ "none", "null", { { 0 } } },
	/* Limited-range inversion: Y to 251-Y and chroma to 256-C is exactly
	 * 255-R, 255-G, 255-B after conversion (negate would give 255-Y, a
	 * slightly darker picture). */
	{ "invert", "lutyuv=y=251-val:u=256-val:v=256-val", { { 0 } } },
	/* Neutral chroma: the luma plane is the gray image. */
	{ "grayscale", "lutyuv=u=128:v=128", { { 0 } } },
	{ "sepia", "colorchannelmixer=.393:.769:.189:0:.349:.686:.168:0:.272:.534:.131", { { 0 } } },
	{ "mirror", "hflip", { { 0 } } },
	{ "blur", "gblur=sigma={sigma}", { { "sigma", 6, 0.5, 50 } } },
	/* Luma gradient magnitude (Sobel), white edges on black. */
	{ "edges", "sobel=planes=1:scale={scale},lutyuv=u=128:v=128", { { "scale", 1, 0.1, 10 } } },
	/* Flat colour bands plus dark outlines: luma posterized and multiplied
	 * by inverted edges; chroma from the smoothed picture. */
	{ "cartoon", "split[c][e];[c]smartblur=lr=3:ls=1,lutyuv=y=trunc(val/32)*32+16[flat];"
		"[e]sobel=planes=1:scale=2,lutyuv=y=255-val:u=128:v=128[lines];[flat][lines]blend=c0_mode=multiply", { { 0 } } },
	/* Blocks of {size} pixels: down with area averaging, up with nearest. */
	{ "pixelate", "scale=max(1\\,trunc(iw/{size})):max(1\\,trunc(ih/{size})):flags=area,scale={W}:{H}:flags=neighbor",
		{ { "size", 16, 2, 256 } } },
	{ "denoise", "hqdn3d=luma_spatial={strength}", { { "strength", 8, 0, 100 } } },
};
#define N_EFFECTS (sizeof(effect_table) / sizeof(effect_table[0]))

/* The names of effect_table: the list in common/ooblex_route.c, which the
 * plugin also reads (a worker must not announce a core effect as a route). */
#define effect_names ooblex_core_effects
_Static_assert(N_EFFECTS == OOBLEX_CORE_EFFECT_COUNT, "effect_table and ooblex_core_effects differ");

/* One effect of a chain, parsed: the table entry and its parameter values. */
typedef struct effect_use {
	const struct effect_def *def;
	double values[3];
} effect_use;

static const struct effect_def *find_effect(const char *name, size_t len) {
	for(size_t i = 0; i < N_EFFECTS; i++)
		if(strlen(effect_table[i].name) == len && !strncmp(effect_table[i].name, name, len))
			return &effect_table[i];
	return NULL;
}

/* "blur:sigma=8" -> use. Values must be plain numbers in range: nothing of
 * the client's text reaches the filter graph but a number we printed. */
static int parse_use(const char *text, size_t len, effect_use *use, char *err, size_t errlen) {
	const char *colon = memchr(text, ':', len);
	size_t nlen = colon ? (size_t)(colon - text) : len;
	use->def = find_effect(text, nlen);
	if(use->def == NULL) {
		snprintf(err, errlen, "unknown effect '%.*s'", (int)nlen, text);
		return -1;
	}
	for(int i = 0; i < 3; i++)
		use->values[i] = use->def->params[i].def;
	const char *p = colon ? colon + 1 : text + len, *end = text + len;
	while(p < end) {
		const char *next = memchr(p, ':', (size_t)(end - p));
		if(next == NULL)
			next = end;
		const char *eq = memchr(p, '=', (size_t)(next - p));
		int found = 0;
		for(int i = 0; i < 3 && eq && use->def->params[i].name; i++) {
			const effect_param *ep = &use->def->params[i];
			if(strlen(ep->name) != (size_t)(eq - p) || strncmp(ep->name, p, (size_t)(eq - p)))
				continue;
			char num[32];
			size_t vlen = (size_t)(next - eq - 1);
			if(vlen == 0 || vlen >= sizeof(num)) break;
			memcpy(num, eq + 1, vlen);
			num[vlen] = '\0';
			char *stop = NULL;
			double v = strtod(num, &stop);
			if(*stop != '\0' || v != v || v < ep->min || v > ep->max) {
				snprintf(err, errlen, "effect '%s': %s must be a number in %g..%g", use->def->name, ep->name, ep->min, ep->max);
				return -1;
			}
			use->values[i] = v;
			found = 1;
		}
		if(!found) {
			snprintf(err, errlen, "effect '%s': unknown parameter '%.*s'", use->def->name, (int)(next - p), p);
			return -1;
		}
		p = next + 1;
	}
	return 0;
}

/* Appends one effect's graph with its placeholders filled in. */
static int append_graph(GString *out, const effect_use *use, int w, int h) {
	for(const char *t = use->def->graph; *t; t++) {
		if(*t != '{') {
			g_string_append_c(out, *t);
			continue;
		}
		const char *close = strchr(t, '}');
		if(close == NULL)
			return -1;
		size_t n = (size_t)(close - t - 1);
		if(n == 1 && t[1] == 'W') {
			g_string_append_printf(out, "%d", w);
		} else if(n == 1 && t[1] == 'H') {
			g_string_append_printf(out, "%d", h);
		} else {
			int i = 0;
			while(i < 3 && use->def->params[i].name && (strlen(use->def->params[i].name) != n ||
					strncmp(use->def->params[i].name, t + 1, n)))
				i++;
			if(i == 3 || use->def->params[i].name == NULL)
				return -1;
			g_string_append_printf(out, "%g", use->values[i]);
		}
		t = close;
	}
	return 0;
}


/* The graph text for the core effects of a chain joined by '|'
 * ("blur:sigma=3|grayscale"), each in its own brackets so that graphs with
 * labels chain too: our own templates with numbers we printed, the only
 * text that ever reaches libavfilter's parser. An "ffmpeg:<graph>" item
 * ends the chain; it is parsed by our grammar into *graph (*custom = 1) and
 * built filter by filter (build_custom), never parsed by libavfilter.
 * Returns the core text ("" when there is none), or NULL with a reason and
 * its kind (OOBLEX_FX_ERR_*). */
static char *describe(const char *effect, int w, int h, ooblex_fxg_chain *graph, int *custom, int *kind,
		char *err, size_t errlen) {
	*custom = 0;
	*kind = OOBLEX_FX_ERR_REFUSED;
	GString *out = g_string_new(NULL);
	const char *p = effect;
	int n = 0;
	for(;;) {
		size_t len = ooblex_effect_item_len(p);
		if(!strncmp(p, OOBLEX_FXG_PREFIX, strlen(OOBLEX_FXG_PREFIX))) {
			const char *text = p + strlen(OOBLEX_FXG_PREFIX);
			if(ooblex_fxg_parse(text, strlen(text), graph, err, errlen) < 0)
				goto fail;
			*custom = 1;
			break;
		}
		if(n >= 8) {
			snprintf(err, errlen, "at most 8 effects in a chain");
			goto fail;
		}
		if(n > 0)
			g_string_append(out, "[s];[s]");
		effect_use use;
		if(parse_use(p, len, &use, err, errlen) < 0) {
			if(use.def == NULL)
				*kind = OOBLEX_FX_ERR_UNKNOWN;
			goto fail;
		}
		if(append_graph(out, &use, w, h) < 0) {
			snprintf(err, errlen, "effect '%s': bad graph template", use.def->name);
			*kind = OOBLEX_FX_ERR_FAILED;
			goto fail;
		}
		n++;
		if(p[len] == '\0')
			break;
		p += len + 1;
	}
	return g_string_free(out, FALSE);
fail:
	g_string_free(out, TRUE);
	return NULL;
}

#define GRAPH_CACHE 8
#define MODULE_CACHE 8
#define MAX_MODULE_EFFECTS 64

typedef struct cached_graph {
	char effect[OOBLEX_NAME_MAX + 1];
	int width, height;
	enum AVPixelFormat in_fmt;
	AVFilterGraph *graph;
	AVFilterContext *src, *sink;
	int64_t next_pts;	/* the next frame's, in the source's 1/90000 */
	uint64_t last_used;
} cached_graph;

/* A module effect's state for one effect string ("faces:min_size=40"). */
typedef struct cached_state {
	char item[OOBLEX_NAME_MAX + 1];
	const ooblex_effect *effect;
	void *state;
	uint64_t last_used;
} cached_state;

struct ooblex_effects {
	cached_graph cache[GRAPH_CACHE];
	cached_state states[MODULE_CACHE];
	uint64_t clock;
	AVFrame *in, *out, *extra;	/* extra: what the sink gives beyond the result */
	uint8_t *scratch;	/* a mixed chain's intermediate I420 picture */
	size_t scratch_cap;
	GString *meta;	/* the last apply's module metadata */
	int error_kind;	/* OOBLEX_FX_ERR_* of the last failed apply */
};

/* Module effects, process-wide: added at start-up, before any context
 * processes a frame, and read-only afterwards. */
static const ooblex_effect *module_effects[MAX_MODULE_EFFECTS];
static size_t n_module_effects;
static const char *all_names[sizeof(effect_names) / sizeof(effect_names[0]) + MAX_MODULE_EFFECTS];

const char *const *ooblex_effects_list(void) {
	size_t n = 0;
	for(const char *const *e = effect_names; *e; e++)
		all_names[n++] = *e;
	for(size_t i = 0; i < n_module_effects; i++)
		all_names[n++] = module_effects[i]->name;
	all_names[n] = NULL;
	return all_names;
}

int ooblex_effect_is_core(const char *name) {
	return ooblex_effect_is_core_name(name, strlen(name));
}

static const ooblex_effect *find_module_effect(const char *name, size_t len) {
	for(size_t i = 0; i < n_module_effects; i++)
		if(strlen(module_effects[i]->name) == len && !strncmp(module_effects[i]->name, name, len))
			return module_effects[i];
	return NULL;
}

const char *ooblex_effect_help(const char *name) {
	const ooblex_effect *e = find_module_effect(name, strlen(name));
	return e ? e->help : NULL;
}

/* The module effect a chain item names, or NULL for a core item. */
static const ooblex_effect *item_module(const char *item, size_t len) {
	const char *colon = memchr(item, ':', len);
	return find_module_effect(item, colon ? (size_t)(colon - item) : len);
}

void ooblex_effect_first_module(const char *effect, char *out, size_t outlen) {
	if(outlen > 0)
		out[0] = '\0';
	for(const char *p = effect; *p;) {
		size_t len = ooblex_effect_item_len(p);
		const ooblex_effect *m = item_module(p, len);
		if(m != NULL) {
			snprintf(out, outlen, "%s", m->name);
			return;
		}
		if(p[len] == '\0')
			break;
		p += len + 1;
	}
}

int ooblex_effects_add_module(const ooblex_effect_module *m, const char *origin, char *err, size_t errlen) {
	if(m == NULL || m->abi_version != OOBLEX_EFFECT_ABI_VERSION) {
		snprintf(err, errlen, "%s: ABI version %u, this worker speaks %u", origin, m ? m->abi_version : 0,
			OOBLEX_EFFECT_ABI_VERSION);
		return -1;
	}
	for(size_t i = 0; i < m->n_effects; i++) {
		const ooblex_effect *e = &m->effects[i];
		if(ooblex_effect_name_check(e->name, NULL, 0) < 0 || e->create == NULL || e->process == NULL) {
			snprintf(err, errlen, "%s: effect %zu needs a name of [a-z0-9_]{1,31}, create() and process()", origin, i);
			return -1;
		}
		if(ooblex_effect_is_core(e->name) || find_module_effect(e->name, strlen(e->name)) != NULL) {
			snprintf(err, errlen, "%s: effect '%s' is already offered", origin, e->name);
			return -1;
		}
	}
	if(n_module_effects + m->n_effects > MAX_MODULE_EFFECTS) {
		snprintf(err, errlen, "%s: more than %d module effects", origin, MAX_MODULE_EFFECTS);
		return -1;
	}
	for(size_t i = 0; i < m->n_effects; i++)
		module_effects[n_module_effects++] = &m->effects[i];
	return 0;
}

int ooblex_effects_load_module(const char *path, char *err, size_t errlen) {
	/* RTLD_LOCAL: one module's symbols never satisfy another's. The handle
	 * stays open for the life of the process, as the effects do. */
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if(h == NULL) {
		snprintf(err, errlen, "%s", dlerror());
		return -1;
	}
	ooblex_effect_module_fn get = (ooblex_effect_module_fn)dlsym(h, OOBLEX_EFFECT_MODULE_SYMBOL);
	if(get == NULL) {
		snprintf(err, errlen, "%s: no %s() (see ooblex_effect.h)", path, OOBLEX_EFFECT_MODULE_SYMBOL);
		dlclose(h);
		return -1;
	}
	if(ooblex_effects_add_module(get(), path, err, errlen) < 0) {
		dlclose(h);
		return -1;
	}
	return 0;
}

int ooblex_effect_exists(const char *name) {
	/* Core runs are checked by building their description; module items by
	 * name (their parameters are theirs to check, at create()). */
	GString *core = g_string_new(NULL);
	int ok = 1;
	for(const char *p = name; ok;) {
		size_t len = ooblex_effect_item_len(p);
		if(item_module(p, len) == NULL) {
			if(core->len)
				g_string_append_c(core, '|');
			g_string_append_len(core, p, (gssize)len);
		}
		if(p[len] == '\0')
			break;
		p += len + 1;
	}
	if(core->len || name[0] == '\0') {
		char err[256];
		int custom, kind;
		ooblex_fxg_chain graph;
		char *d = describe(core->str, 64, 64, &graph, &custom, &kind, err, sizeof(err));
		ok = d != NULL;
		g_free(d);
	}
	g_string_free(core, TRUE);
	return ok;
}

ooblex_effects *ooblex_effects_new(void) {
	ooblex_effects *fx = calloc(1, sizeof(*fx));
	if(fx == NULL)
		return NULL;
	fx->in = av_frame_alloc();
	fx->out = av_frame_alloc();
	fx->extra = av_frame_alloc();
	if(fx->in == NULL || fx->out == NULL || fx->extra == NULL) {
		ooblex_effects_free(fx);
		return NULL;
	}
	av_log_set_level(AV_LOG_ERROR);
	fx->meta = g_string_new(NULL);
	return fx;
}

const char *ooblex_effects_metadata(const ooblex_effects *fx) {
	return fx->meta->str;
}

static void drop_graph(cached_graph *g) {
	avfilter_graph_free(&g->graph);
	memset(g, 0, sizeof(*g));
}

static void drop_state(cached_state *s) {
	if(s->state != NULL && s->effect->destroy != NULL)
		s->effect->destroy(s->state);
	memset(s, 0, sizeof(*s));
}

void ooblex_effects_free(ooblex_effects *fx) {
	if(fx == NULL)
		return;
	for(int i = 0; i < GRAPH_CACHE; i++)
		drop_graph(&fx->cache[i]);
	for(int i = 0; i < MODULE_CACHE; i++)
		drop_state(&fx->states[i]);
	av_frame_free(&fx->in);
	av_frame_free(&fx->out);
	av_frame_free(&fx->extra);
	free(fx->scratch);
	if(fx->meta != NULL)
		g_string_free(fx->meta, TRUE);
	free(fx);
}

/* Creates one filter of ours in g's graph with the given options, set
 * through the AVOption system (which enforces the options' own ranges on
 * top of ours). Only filters and options of the grammar's allowlist get
 * here: the parse refused everything else. */
static AVFilterContext *create_filter(AVFilterGraph *graph, const char *filter, const char *instance,
		const ooblex_fxg_setting *settings, int n_settings, char *err, size_t errlen) {
	const AVFilter *f = avfilter_get_by_name(filter);
	AVFilterContext *ctx = f ? avfilter_graph_alloc_filter(graph, f, instance) : NULL;
	if(ctx == NULL) {
		snprintf(err, errlen, "cannot create filter '%s'", filter);
		return NULL;
	}
	AVDictionary *opts = NULL;
	for(int i = 0; i < n_settings; i++)
		av_dict_set(&opts, settings[i].spec->name, settings[i].value, 0);
	int ret = avfilter_init_dict(ctx, &opts);
	/* Whatever the filter did not take is a bug in our table: refuse. */
	if(ret >= 0 && av_dict_count(opts) > 0)
		ret = AVERROR_OPTION_NOT_FOUND;
	av_dict_free(&opts);
	if(ret < 0) {
		char e[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "filter '%s' refused its options: %s", filter, e);
		return NULL;	/* the graph frees it */
	}
	return ctx;
}

/* An ffmpeg: graph, built from its parse: graph's filters linked one after
 * the other, then scale back to the input size (a chain may crop, scale or
 * transpose; the worker always hands back the size it was given) and
 * yuv420p, into the sink. Returns the first filter (where the source or the
 * core effects go in), or NULL. */
static AVFilterContext *build_custom(AVFilterGraph *graph, const ooblex_fxg_chain *chain, AVFilterContext *sink,
		int w, int h, char *err, size_t errlen) {
	AVFilterContext *first = NULL, *prev = NULL;
	for(int i = 0; i < chain->n_steps + 2; i++) {
		char instance[32];
		AVFilterContext *ctx;
		if(i < chain->n_steps) {
			const ooblex_fxg_step *st = &chain->steps[i];
			snprintf(instance, sizeof(instance), "fx%d_%s", i, st->spec->name);
			ctx = create_filter(graph, st->spec->name, instance, st->settings, st->n_settings, err, errlen);
		} else if(i == chain->n_steps) {
			static const ooblex_fxg_option_spec wspec = { "w", OOBLEX_FXG_INT, 0, 0, NULL },
				hspec = { "h", OOBLEX_FXG_INT, 0, 0, NULL };
			ooblex_fxg_setting size[2] = { { &wspec, "" }, { &hspec, "" } };
			snprintf(size[0].value, sizeof(size[0].value), "%d", w);
			snprintf(size[1].value, sizeof(size[1].value), "%d", h);
			ctx = create_filter(graph, "scale", "fx_size", size, 2, err, errlen);
		} else {
			static const ooblex_fxg_option_spec fspec = { "pix_fmts", OOBLEX_FXG_WORD, 0, 0, NULL };
			ooblex_fxg_setting fmt = { &fspec, "yuv420p" };
			ctx = create_filter(graph, "format", "fx_format", &fmt, 1, err, errlen);
		}
		if(ctx == NULL)
			return NULL;
		if(prev != NULL && avfilter_link(prev, 0, ctx, 0) < 0) {
			snprintf(err, errlen, "cannot link filter '%s'", ctx->filter->name);
			return NULL;
		}
		if(first == NULL)
			first = ctx;
		prev = ctx;
	}
	if(avfilter_link(prev, 0, sink, 0) < 0) {
		snprintf(err, errlen, "cannot link the sink");
		return NULL;
	}
	return first;
}

static int build_graph(cached_graph *g, const char *effect, const char *desc, const ooblex_fxg_chain *custom,
		int w, int h, enum AVPixelFormat in_fmt, int *kind, char *err, size_t errlen) {
	char args[256];
	*kind = OOBLEX_FX_ERR_FAILED;
	g->graph = avfilter_graph_alloc();
	if(g->graph == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Effects run single-threaded: the fleet scales by adding workers. */
	g->graph->nb_threads = 1;
	snprintf(args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=1/90000:pixel_aspect=1/1",
		w, h, in_fmt);
	int ret = avfilter_graph_create_filter(&g->src, avfilter_get_by_name("buffer"), "in", args, NULL, g->graph);
	if(ret >= 0)
		ret = avfilter_graph_create_filter(&g->sink, avfilter_get_by_name("buffersink"), "out", NULL, NULL, g->graph);
	if(ret < 0) {
		snprintf(err, errlen, "cannot create buffer filters");
		drop_graph(g);
		return -1;
	}
	/* Where the core effects' text ends: the sink through format, or the
	 * first filter of the ffmpeg: graph. */
	AVFilterContext *head = g->sink;
	if(custom != NULL) {
		head = build_custom(g->graph, custom, g->sink, w, h, err, errlen);
		if(head == NULL) {
			*kind = OOBLEX_FX_ERR_REFUSED;
			drop_graph(g);
			return -1;
		}
	}
	if(desc[0] != '\0' || custom == NULL) {
		/* Whatever a core effect does inside, the worker hands back I420. */
		char full[1024];
		snprintf(full, sizeof(full), "%s%s", desc[0] ? desc : "null", custom ? "" : ",format=yuv420p");
		AVFilterInOut *outputs = avfilter_inout_alloc(), *inputs = avfilter_inout_alloc();
		outputs->name = av_strdup("in");
		outputs->filter_ctx = g->src;
		inputs->name = av_strdup("out");
		inputs->filter_ctx = head;
		ret = avfilter_graph_parse_ptr(g->graph, full, &inputs, &outputs, NULL);
		avfilter_inout_free(&inputs);
		avfilter_inout_free(&outputs);
	} else {
		ret = avfilter_link(g->src, 0, head, 0);
	}
	if(ret >= 0)
		ret = avfilter_graph_config(g->graph, NULL);
	if(ret < 0) {
		char e[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "effect '%s': cannot build its filter graph: %s", effect, e);
		drop_graph(g);
		return -1;
	}
	snprintf(g->effect, sizeof(g->effect), "%s", effect);
	g->width = w;
	g->height = h;
	g->in_fmt = in_fmt;
	return 0;
}

static cached_graph *get_graph(ooblex_effects *fx, const char *effect, int w, int h, enum AVPixelFormat in_fmt,
		char *err, size_t errlen) {
	cached_graph *victim = &fx->cache[0];
	for(int i = 0; i < GRAPH_CACHE; i++) {
		cached_graph *g = &fx->cache[i];
		if(g->graph != NULL && g->width == w && g->height == h && g->in_fmt == in_fmt && !strcmp(g->effect, effect)) {
			g->last_used = ++fx->clock;
			return g;
		}
		if(g->graph == NULL || g->last_used < victim->last_used)
			victim = g;
	}
	int custom = 0;
	ooblex_fxg_chain *chain = g_new0(ooblex_fxg_chain, 1);
	char *desc = describe(effect, w, h, chain, &custom, &fx->error_kind, err, errlen);
	int rc = -1;
	if(desc != NULL) {
		drop_graph(victim);
		rc = build_graph(victim, effect, desc, custom ? chain : NULL, w, h, in_fmt, &fx->error_kind, err, errlen);
	}
	g_free(desc);
	g_free(chain);
	if(rc < 0)
		return NULL;
	victim->last_used = ++fx->clock;
	return victim;
}

static size_t i420_size(int width, int height) {
	return (size_t)width * height + 2 * (size_t)((width + 1) / 2) * ((height + 1) / 2);
}

/* Runs a chain of core effects from `in` (I420 or RGB24) to `out` (I420). */
static int run_graph(ooblex_effects *fx, const char *effect, int in_fmt, const uint8_t *in,
		int width, int height, uint8_t *out, char *err, size_t errlen) {
	size_t out_len = i420_size(width, height);
	if(in_fmt == OOBLEX_PIXFMT_I420 && !strcmp(effect, "none")) {
		memcpy(out, in, out_len);
		return 0;
	}
	enum AVPixelFormat fmt = in_fmt == OOBLEX_PIXFMT_RGB24 ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_YUV420P;
	cached_graph *g = get_graph(fx, effect, width, height, fmt, err, errlen);
	if(g == NULL)
		return -1;
	/* Wrap the caller's buffer without copying; the source filter copies only
	 * if a filter needs a writable frame it cannot share. */
	AVFrame *frame = fx->in;
	av_frame_unref(frame);
	frame->format = fmt;
	frame->width = width;
	frame->height = height;
	av_image_fill_arrays(frame->data, frame->linesize, in, fmt, width, height, 1);
	/* Frames 1/30 s apart: a pts of its own identifies this frame's picture. */
	frame->pts = g->next_pts;
	g->next_pts += 3000;
	/* One picture in, one out, at once: so every core effect and every filter
	 * of the ffmpeg: allowlist behaves (effect_grammar.c leaves out those
	 * that keep, drop or add frames), and this loop takes one. Should a graph
	 * not (a filter that holds a picture back, like tblend, or splits one,
	 * like separatefields), the sink is still emptied every frame: the result
	 * is the picture with this frame's pts, the others (earlier frames',
	 * extra ones) are dropped, so none is ever handed back for another
	 * frame, and none for this frame fails this frame only (the graph, in a
	 * defined state, stays). The source never answers EAGAIN: it queues. */
	int ret = av_buffersrc_write_frame(g->src, frame);
	int found = 0;
	AVRational src_tb = { 1, 90000 }, sink_tb = av_buffersink_get_time_base(g->sink);
	while(ret >= 0) {
		ret = av_buffersink_get_frame(g->sink, fx->extra);
		if(ret < 0)
			break;
		if(!found && fx->extra->pts != AV_NOPTS_VALUE && av_rescale_q(fx->extra->pts, sink_tb, src_tb) == frame->pts) {
			av_frame_move_ref(fx->out, fx->extra);
			found = 1;
		} else {
			av_frame_unref(fx->extra);
		}
	}
	if(ret == AVERROR(EAGAIN))
		ret = 0;
	if(ret >= 0 && !found) {
		snprintf(err, errlen, "effect '%s' gave no picture for this frame", effect);
		fx->error_kind = OOBLEX_FX_ERR_FAILED;
		return -1;
	}
	if(ret < 0) {
		av_frame_unref(fx->out);
		char e[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "effect '%s' failed: %s", effect, e);
		fx->error_kind = OOBLEX_FX_ERR_FAILED;
		/* A graph in an unknown state is not reused. */
		drop_graph(g);
		return -1;
	}
	AVFrame *res = fx->out;
	if(res->width != width || res->height != height) {
		snprintf(err, errlen, "effect '%s' changed the size to %dx%d", effect, res->width, res->height);
		fx->error_kind = OOBLEX_FX_ERR_FAILED;
		av_frame_unref(res);
		return -1;
	}
	av_image_copy_to_buffer(out, (int)out_len, (const uint8_t *const *)res->data, res->linesize,
		AV_PIX_FMT_YUV420P, width, height, 1);
	av_frame_unref(res);
	return 0;
}

/* The state of a module effect for one chain item, created on first use. */
static cached_state *get_state(ooblex_effects *fx, const ooblex_effect *e, const char *item, size_t len,
		char *err, size_t errlen) {
	cached_state *victim = &fx->states[0];
	for(int i = 0; i < MODULE_CACHE; i++) {
		cached_state *s = &fx->states[i];
		if(s->state != NULL && strlen(s->item) == len && !strncmp(s->item, item, len)) {
			s->last_used = ++fx->clock;
			return s;
		}
		if(s->state == NULL || s->last_used < victim->last_used)
			victim = s;
	}
	size_t name_len = strlen(e->name);
	char params[OOBLEX_NAME_MAX + 1] = "";
	if(len > name_len + 1)
		snprintf(params, sizeof(params), "%.*s", (int)(len - name_len - 1), item + name_len + 1);
	err[0] = '\0';
	void *state = e->create(params, err, errlen);
	if(state == NULL) {
		if(err[0] == '\0')
			snprintf(err, errlen, "effect '%s' refused its parameters", e->name);
		return NULL;
	}
	drop_state(victim);
	snprintf(victim->item, sizeof(victim->item), "%.*s", (int)len, item);
	victim->effect = e;
	victim->state = state;
	victim->last_used = ++fx->clock;
	return victim;
}

/* A chain that uses module effects: runs of core effects go through their
 * graph, module effects work in place on the I420 picture in `out`. */
static int run_mixed(ooblex_effects *fx, const char *effect, int in_fmt, const uint8_t *in,
		int width, int height, uint8_t *out, char *err, size_t errlen) {
	size_t len_i420 = i420_size(width, height);
	if(fx->scratch_cap < len_i420) {
		uint8_t *n = realloc(fx->scratch, len_i420);
		if(n == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		fx->scratch = n;
		fx->scratch_cap = len_i420;
	}
	const uint8_t *cur = in;	/* where the picture is now: `in`, or `out` */
	int cur_fmt = in_fmt;
	GString *core = g_string_new(NULL);
	int rc = 0;
	for(const char *p = effect; rc == 0;) {
		size_t len = ooblex_effect_item_len(p);
		const ooblex_effect *m = item_module(p, len);
		int last = p[len] == '\0';
		if(m == NULL) {
			if(core->len)
				g_string_append_c(core, '|');
			g_string_append_len(core, p, (gssize)len);
		}
		/* A run of core effects ends at a module effect or the chain's end. */
		if((m != NULL || last) && (core->len || (m != NULL && cur != out))) {
			const char *graph = core->len ? core->str : "none";
			if(cur == out) {
				rc = run_graph(fx, graph, cur_fmt, cur, width, height, fx->scratch, err, errlen);
				if(rc == 0)
					memcpy(out, fx->scratch, len_i420);
			} else {
				rc = run_graph(fx, graph, cur_fmt, cur, width, height, out, err, errlen);
			}
			cur = out;
			cur_fmt = OOBLEX_PIXFMT_I420;
			g_string_truncate(core, 0);
		}
		if(rc == 0 && m != NULL) {
			cached_state *s = get_state(fx, m, p, len, err, errlen);
			if(s == NULL) {
				fx->error_kind = OOBLEX_FX_ERR_REFUSED;
				rc = -1;
				break;
			}
			int cw = (width + 1) / 2, ch = (height + 1) / 2;
			ooblex_image img = { width, height, out, out + (size_t)width * height,
				out + (size_t)width * height + (size_t)cw * ch, width, cw, cw };
			err[0] = '\0';
			if(m->process(s->state, &img, err, errlen) < 0) {
				if(err[0] == '\0')
					snprintf(err, errlen, "effect '%s' failed", m->name);
				fx->error_kind = OOBLEX_FX_ERR_FAILED;
				/* A state in an unknown state is not reused. */
				drop_state(s);
				rc = -1;
			} else if(m->describe != NULL) {
				char json[2048];
				size_t n = m->describe(s->state, json, sizeof(json));
				/* The module's text goes into JSON we build: only well-formed
				 * values of its own (a crude check; the plugin parses again). */
				if(n > 0 && n < sizeof(json) && json[n] == '\0' && (json[0] == '[' || json[0] == '{')) {
					g_string_append_printf(fx->meta, "%s\"%s\":%s", fx->meta->len ? "," : "{", m->name, json);
				}
			}
		}
		if(last)
			break;
		p += len + 1;
	}
	g_string_free(core, TRUE);
	return rc;
}

int ooblex_effects_apply(ooblex_effects *fx, const char *effect, int in_fmt, const uint8_t *in,
		int width, int height, uint8_t *out, char *err, size_t errlen) {
	g_string_truncate(fx->meta, 0);
	fx->error_kind = OOBLEX_FX_ERR_NONE;
	char first[32];
	ooblex_effect_first_module(effect, first, sizeof(first));
	if(first[0] == '\0')
		return run_graph(fx, effect, in_fmt, in, width, height, out, err, errlen);
	int rc = run_mixed(fx, effect, in_fmt, in, width, height, out, err, errlen);
	if(fx->meta->len)
		g_string_append_c(fx->meta, '}');
	return rc;
}

int ooblex_effects_run_ahead(ooblex_effects *fx, int n, const char *const *effects, const int *in_fmts,
		const uint8_t *const *ins, const int *widths, const int *heights, int *took) {
	(void)fx;
	for(int i = 0; i < n; i++)
		took[i] = 0;
#ifdef OOBLEX_HAVE_OPENCV
	int index[OOBLEX_EFFECTS_MAX_AHEAD];
	ooblex_image images[OOBLEX_EFFECTS_MAX_AHEAD];
	ooblex_image *picked[OOBLEX_EFFECTS_MAX_AHEAD];
	int k = 0;
	for(int i = 0; i < n && k < OOBLEX_EFFECTS_MAX_AHEAD; i++) {
		const char *e = effects[i];
		size_t len = ooblex_effect_item_len(e);
		const char *colon = memchr(e, ':', len);
		char name[OOBLEX_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)(colon ? (size_t)(colon - e) : len), e);
		/* Only where the model sees the frame as it came: its chain's first
		 * item, on I420 (what the effect itself then gets, unchanged). */
		if(in_fmts[i] != OOBLEX_PIXFMT_I420 || widths[i] < 4 || heights[i] < 4 || item_module(e, len) == NULL ||
				!ooblex_ml_batch_effect(name))
			continue;
		int w = widths[i], h = heights[i], cw = (w + 1) / 2, ch = (h + 1) / 2;
		uint8_t *y = (uint8_t *)ins[i];	/* read only: the model's input is made from it */
		images[k] = (ooblex_image){ w, h, y, y + (size_t)w * h, y + (size_t)w * h + (size_t)cw * ch, w, cw, cw };
		picked[k] = &images[k];
		index[k++] = i;
	}
	char err[256];
	int rc = ooblex_ml_segment_ahead(picked, k, err, sizeof(err));
	if(rc <= 0)
		return 0;
	for(int j = 0; j < k; j++)
		took[index[j]] = 1;
	return rc;
#else
	(void)effects; (void)in_fmts; (void)ins; (void)widths; (void)heights;
	return 0;
#endif
}

int ooblex_effects_error_kind(const ooblex_effects *fx) {
	return fx->error_kind;
}
