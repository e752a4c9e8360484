/*
 * effects.c - libavfilter graphs: buffer -> <effect> -> format=yuv420p -> buffersink.
 */
#include "effects.h"
#include "ooblex_wire.h"

#include <stdio.h>
#include <string.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>

/* Effect name -> libavfilter graph description. Effects that are a single
 * stock filter live here; the library does the pixel work. */
static const struct {
	const char *name;
	const char *graph;
} effect_table[] = {
	{ "none", "null" },
	/* negate maps limited-range Y to 251-Y and chroma to 256-C, which is
	 * exactly 255-R, 255-G, 255-B after conversion. */
	{ "invert", "negate" },
	/* Neutral chroma: the luma plane is the gray image. */
	{ "grayscale", "lutyuv=u=128:v=128" },
	{ "mirror", "hflip" },
	{ "blur", "boxblur=luma_radius=6:luma_power=2:chroma_radius=3" },
};
#define N_EFFECTS (sizeof(effect_table) / sizeof(effect_table[0]))

static const char *const effect_names[] = { "none", "invert", "grayscale", "mirror", "blur", NULL };

#define GRAPH_CACHE 8

typedef struct cached_graph {
	char effect[64];
	int width, height;
	enum AVPixelFormat in_fmt;
	AVFilterGraph *graph;
	AVFilterContext *src, *sink;
	uint64_t last_used;
} cached_graph;

struct ooblex_effects {
	cached_graph cache[GRAPH_CACHE];
	uint64_t clock;
	AVFrame *in, *out;
};

const char *const *ooblex_effects_list(void) {
	return effect_names;
}

static const char *graph_for(const char *name) {
	for(size_t i = 0; i < N_EFFECTS; i++)
		if(!strcmp(effect_table[i].name, name))
			return effect_table[i].graph;
	return NULL;
}

int ooblex_effect_exists(const char *name) {
	return graph_for(name) != NULL;
}

ooblex_effects *ooblex_effects_new(void) {
	ooblex_effects *fx = calloc(1, sizeof(*fx));
	if(fx == NULL)
		return NULL;
	fx->in = av_frame_alloc();
	fx->out = av_frame_alloc();
	if(fx->in == NULL || fx->out == NULL) {
		ooblex_effects_free(fx);
		return NULL;
	}
	av_log_set_level(AV_LOG_ERROR);
	return fx;
}

static void drop_graph(cached_graph *g) {
	avfilter_graph_free(&g->graph);
	memset(g, 0, sizeof(*g));
}

void ooblex_effects_free(ooblex_effects *fx) {
	if(fx == NULL)
		return;
	for(int i = 0; i < GRAPH_CACHE; i++)
		drop_graph(&fx->cache[i]);
	av_frame_free(&fx->in);
	av_frame_free(&fx->out);
	free(fx);
}

static int build_graph(cached_graph *g, const char *effect, const char *desc, int w, int h,
		enum AVPixelFormat in_fmt, char *err, size_t errlen) {
	char args[256], full[1024];
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
	/* Whatever the effect does inside, the worker hands back I420. */
	snprintf(full, sizeof(full), "%s,format=yuv420p", desc);
	AVFilterInOut *outputs = avfilter_inout_alloc(), *inputs = avfilter_inout_alloc();
	outputs->name = av_strdup("in");
	outputs->filter_ctx = g->src;
	inputs->name = av_strdup("out");
	inputs->filter_ctx = g->sink;
	ret = avfilter_graph_parse_ptr(g->graph, full, &inputs, &outputs, NULL);
	avfilter_inout_free(&inputs);
	avfilter_inout_free(&outputs);
	if(ret >= 0)
		ret = avfilter_graph_config(g->graph, NULL);
	if(ret < 0) {
		char e[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "effect '%s': bad filter graph '%s': %s", effect, desc, e);
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
	const char *desc = graph_for(effect);
	if(desc == NULL) {
		snprintf(err, errlen, "unknown effect '%s'", effect);
		return NULL;
	}
	drop_graph(victim);
	if(build_graph(victim, effect, desc, w, h, in_fmt, err, errlen) < 0)
		return NULL;
	victim->last_used = ++fx->clock;
	return victim;
}

int ooblex_effects_apply(ooblex_effects *fx, const char *effect, int in_fmt, const uint8_t *in,
		int width, int height, uint8_t *out, char *err, size_t errlen) {
	size_t i420_len = (size_t)width * height + 2 * (size_t)((width + 1) / 2) * ((height + 1) / 2);
	if(in_fmt == OOBLEX_PIXFMT_I420 && !strcmp(effect, "none")) {
		memcpy(out, in, i420_len);
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
	int ret = av_buffersrc_write_frame(g->src, frame);
	if(ret >= 0)
		ret = av_buffersink_get_frame(g->sink, fx->out);
	if(ret < 0) {
		char e[AV_ERROR_MAX_STRING_SIZE];
		av_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "effect '%s' failed: %s", effect, e);
		/* A graph in an unknown state is not reused. */
		drop_graph(g);
		return -1;
	}
	AVFrame *res = fx->out;
	if(res->width != width || res->height != height) {
		snprintf(err, errlen, "effect '%s' changed the size to %dx%d", effect, res->width, res->height);
		av_frame_unref(res);
		return -1;
	}
	av_image_copy_to_buffer(out, (int)i420_len, (const uint8_t *const *)res->data, res->linesize,
		AV_PIX_FMT_YUV420P, width, height, 1);
	av_frame_unref(res);
	return 0;
}
