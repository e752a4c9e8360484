/*
 * effect_cost.c - what the allowed ffmpeg: filters cost at their bounds.
 *
 * For a 640x480 I420 frame of noise (the worst case for the adaptive
 * filters), each filter of the ffmpeg: allowlist at the most expensive
 * values its bounds allow, through the worker's own effects code: the median
 * of N frames in ms, with one graph per filter (built once, as a worker's
 * cache does). The figures back the bounds in common/effect_grammar.c and
 * the table in docs/api.md. Prints a Markdown table.
 *   effect_cost [FRAMES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libavutil/log.h>

#include "effects.h"
#include "ooblex_wire.h"

#define W 640
#define H 480

/* The costliest setting of each filter within its bounds. */
static const char *const worst[] = {
	"ffmpeg:null",
	"ffmpeg:negate",
	"ffmpeg:hflip",
	"ffmpeg:vflip",
	"ffmpeg:transpose=dir=clock",
	"ffmpeg:crop=w=320:h=240",
	"ffmpeg:scale=w=1280:h=960",
	"ffmpeg:format=pix_fmts=rgb24",
	"ffmpeg:swapuv",
	"ffmpeg:hue=h=90:s=2:b=1",
	"ffmpeg:eq=brightness=0.2:contrast=1.5:saturation=2:gamma=2:gamma_r=1.5",
	"ffmpeg:colorchannelmixer=rr=0.5:rg=0.5:rb=0.5:gr=0.5:gg=0.5:gb=0.5:br=0.5:bg=0.5:bb=0.5",
	"ffmpeg:colorbalance=rs=0.3:gs=0.3:bs=0.3:rm=0.3:gm=0.3:bm=0.3:rh=0.3:gh=0.3:bh=0.3",
	"ffmpeg:colortemperature=temperature=3000:mix=1",
	"ffmpeg:exposure=exposure=1:black=0.1",
	"ffmpeg:vibrance=intensity=2",
	"ffmpeg:monochrome=cb=0.5:cr=0.5:size=10:high=1",
	"ffmpeg:vignette=angle=1.5707",
	"ffmpeg:noise=alls=100",
	"ffmpeg:gblur=sigma=100:steps=6:planes=15",
	"ffmpeg:boxblur=luma_radius=10:luma_power=3:chroma_radius=10:chroma_power=3",
	"ffmpeg:smartblur=luma_radius=5:luma_strength=1:luma_threshold=30",
	"ffmpeg:unsharp=luma_msize_x=9:luma_msize_y=9:luma_amount=5:chroma_msize_x=9:chroma_msize_y=9:chroma_amount=5",
	"ffmpeg:hqdn3d=luma_spatial=50:chroma_spatial=50:luma_tmp=50:chroma_tmp=50",
	"ffmpeg:nlmeans=s=30:p=7:pc=7:r=7:rc=7",
	"ffmpeg:median=radius=8",
	"ffmpeg:edgedetect=low=0.1:high=0.4:mode=colormix",
	"ffmpeg:sobel=planes=15:scale=2",
	"ffmpeg:prewitt=planes=15",
	"ffmpeg:roberts=planes=15",
	"ffmpeg:deflate",
	"ffmpeg:inflate",
	"ffmpeg:erosion",
	"ffmpeg:dilation",
	"ffmpeg:lutyuv=y=sqrt(val*maxval)+abs(val-128)/2:u=negval:v=round(val/32)*32",
	"ffmpeg:lutrgb=r=negval:g=val/2:b=255-val",
	/* Chains: the costliest the cost cap (OOBLEX_FXG_COST_MAX) lets through. */
	"ffmpeg:format=pix_fmts=yuv444p,nlmeans=s=30:r=7:rc=7,edgedetect=mode=colormix,colorbalance=rs=0.3",
	"ffmpeg:format=pix_fmts=rgb24,median=radius=8,edgedetect=mode=colormix,colorbalance=rs=0.3,smartblur=luma_radius=5",
	"ffmpeg:scale=w=1280:h=960,format=pix_fmts=yuv444p,edgedetect=mode=colormix",
	NULL,
};

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv) {
	int frames = argc > 1 ? atoi(argv[1]) : 20;
	if(frames < 1 || frames > 1000)
		frames = 20;
	av_log_set_level(AV_LOG_QUIET);
	size_t len = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, W, H);
	uint8_t *in = malloc(len), *out = malloc(len);
	double *t = calloc((size_t)frames, sizeof(*t));
	ooblex_effects *fx = ooblex_effects_new();
	if(in == NULL || out == NULL || t == NULL || fx == NULL)
		return 1;
	uint32_t seed = 12345;
	for(size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		in[i] = (uint8_t)(seed >> 16);
	}
	printf("| effect (640x480, %d frames) | median ms | max ms |\n|---|---:|---:|\n", frames);
	for(const char *const *e = worst; *e; e++) {
		char err[256];
		/* The first frame builds the graph: not counted. */
		if(ooblex_effects_apply(fx, *e, OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0) {
			printf("| `%s` | refused: %s | |\n", *e, err);
			continue;
		}
		for(int i = 0; i < frames; i++) {
			double t0 = now_ms();
			ooblex_effects_apply(fx, *e, OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err));
			t[i] = now_ms() - t0;
		}
		qsort(t, (size_t)frames, sizeof(*t), cmp_double);
		printf("| `%s` | %.1f | %.1f |\n", *e + 7, t[frames / 2], t[frames - 1]);
		/* The formats a graph settles on can double a filter's work (three
		 * full planes instead of one and two quarters): the bounds take the
		 * worst of these. */
		for(int f = 0; f < 2 && strchr(*e + 7, ',') == NULL; f++) {
			char with[512];
			snprintf(with, sizeof(with), "ffmpeg:format=pix_fmts=%s,%s", f ? "rgb24" : "yuv444p", *e + 7);
			if(ooblex_effects_apply(fx, with, OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0)
				continue;
			for(int i = 0; i < frames; i++) {
				double t0 = now_ms();
				ooblex_effects_apply(fx, with, OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err));
				t[i] = now_ms() - t0;
			}
			qsort(t, (size_t)frames, sizeof(*t), cmp_double);
			printf("| `%s` | %.1f | %.1f |\n", with + 7, t[frames / 2], t[frames - 1]);
		}
		fflush(stdout);
	}
	ooblex_effects_free(fx);
	free(in);
	free(out);
	free(t);
	return 0;
}
