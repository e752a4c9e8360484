/*
 * test_effect_grammar.c - ffmpeg: graphs written as an attacker would, and
 * the one grammar of effect names and effect strings (effect_grammar.h)
 * that the plugin, the worker and registry parsing share.
 *
 * Filter creation is instrumented: this program defines
 * avfilter_graph_alloc_filter, avfilter_graph_create_filter, the
 * avfilter_graph_parse* functions and avfilter_graph_config itself, records
 * what they are asked and forwards to libavfilter's (dlsym RTLD_NEXT). The
 * worker's effects code is linked in statically, so every call it makes
 * lands here. libavfilter's own internal calls do not (Debian links it
 * -Bsymbolic), which is why the test also
 *   - walks every configured graph's filters (what the parser or the
 *     format negotiation created inside libavfilter) and checks each name,
 *   - records the text of every avfilter_graph_parse* call: browser text
 *     must never reach the parser,
 *   - points every file option at a FIFO watched by a thread: a filter that
 *     opens it (movie, sendcmd, lut3d, ladspa's dlopen...) is caught even if
 *     it was created and freed inside a failing parse.
 */
#include "testlib.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavfilter/avfilter.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>

#include "effects.h"
#include "ooblex_wire.h"
#if __has_include("effect_grammar.h")
#include "effect_grammar.h"
#define HAVE_GRAMMAR 1
#endif

#define W 64
#define H 48
#define YSZ (W * H)
#define CSZ ((W / 2) * (H / 2))
#define FSZ (YSZ + 2 * CSZ)

/* ------------------------------------------------------- instrumentation */

#define MAX_SEEN 64
static char created[MAX_SEEN][64];	/* filters our code asked for, this apply */
static int n_created;
static char configured[MAX_SEEN][64];	/* filters in graphs that got configured */
static int n_configured;
static char parsed[8][1024];	/* texts handed to the parser */
static int n_parsed;

static void remember(char list[][64], int *n, const char *name) {
	if(*n < MAX_SEEN)
		snprintf(list[(*n)++], 64, "%s", name ? name : "(null)");
}

typedef AVFilterContext *(*alloc_fn)(AVFilterGraph *, const AVFilter *, const char *);
typedef int (*create_fn)(AVFilterContext **, const AVFilter *, const char *, const char *, void *, AVFilterGraph *);
typedef int (*parse_ptr_fn)(AVFilterGraph *, const char *, AVFilterInOut **, AVFilterInOut **, void *);
typedef int (*parse2_fn)(AVFilterGraph *, const char *, AVFilterInOut **, AVFilterInOut **);
typedef int (*parse_fn)(AVFilterGraph *, const char *, AVFilterInOut *, AVFilterInOut *, void *);
typedef int (*config_fn)(AVFilterGraph *, void *);

static void *real(const char *name) {
	void *p = dlsym(RTLD_NEXT, name);
	if(p == NULL) {
		fprintf(stderr, "cannot find libavfilter's %s\n", name);
		abort();
	}
	return p;
}

AVFilterContext *avfilter_graph_alloc_filter(AVFilterGraph *graph, const AVFilter *filter, const char *name) {
	static alloc_fn fn;
	if(fn == NULL)
		fn = (alloc_fn)real("avfilter_graph_alloc_filter");
	remember(created, &n_created, filter ? filter->name : NULL);
	return fn(graph, filter, name);
}

int avfilter_graph_create_filter(AVFilterContext **ctx, const AVFilter *filt, const char *name, const char *args,
		void *opaque, AVFilterGraph *graph) {
	static create_fn fn;
	if(fn == NULL)
		fn = (create_fn)real("avfilter_graph_create_filter");
	remember(created, &n_created, filt ? filt->name : NULL);
	return fn(ctx, filt, name, args, opaque, graph);
}

static void remember_parse(const char *text) {
	if(n_parsed < 8)
		snprintf(parsed[n_parsed++], sizeof(parsed[0]), "%s", text ? text : "");
}

int avfilter_graph_parse_ptr(AVFilterGraph *graph, const char *filters, AVFilterInOut **inputs,
		AVFilterInOut **outputs, void *log_ctx) {
	static parse_ptr_fn fn;
	if(fn == NULL)
		fn = (parse_ptr_fn)real("avfilter_graph_parse_ptr");
	remember_parse(filters);
	return fn(graph, filters, inputs, outputs, log_ctx);
}

int avfilter_graph_parse2(AVFilterGraph *graph, const char *filters, AVFilterInOut **inputs, AVFilterInOut **outputs) {
	static parse2_fn fn;
	if(fn == NULL)
		fn = (parse2_fn)real("avfilter_graph_parse2");
	remember_parse(filters);
	return fn(graph, filters, inputs, outputs);
}

int avfilter_graph_parse(AVFilterGraph *graph, const char *filters, AVFilterInOut *inputs, AVFilterInOut *outputs,
		void *log_ctx) {
	static parse_fn fn;
	if(fn == NULL)
		fn = (parse_fn)real("avfilter_graph_parse");
	remember_parse(filters);
	return fn(graph, filters, inputs, outputs, log_ctx);
}

int avfilter_graph_config(AVFilterGraph *graph, void *log_ctx) {
	static config_fn fn;
	if(fn == NULL)
		fn = (config_fn)real("avfilter_graph_config");
	int ret = fn(graph, log_ctx);
	/* After config: the format negotiation's own filters are in too. */
	for(unsigned i = 0; i < graph->nb_filters; i++)
		remember(configured, &n_configured, graph->filters[i]->filter->name);
	return ret;
}

static void reset_seen(void) {
	n_created = n_configured = n_parsed = 0;
}

/* What a browser's graph may end up instantiating: the ffmpeg: allowlist
 * (which holds scale and format, also what negotiation inserts), and the
 * worker's own source and sink. */
static const char *const allowed_filters[] = {
	"buffer", "buffersink", "null", "copy", "negate", "hflip", "vflip", "transpose", "crop", "scale", "format",
	"swapuv", "hue", "eq", "colorchannelmixer", "colorbalance", "colortemperature", "exposure", "vibrance",
	"monochrome", "vignette", "noise", "gblur", "boxblur", "smartblur", "unsharp", "hqdn3d", "nlmeans", "median",
	"edgedetect", "sobel", "prewitt", "roberts", "deflate", "inflate", "erosion", "dilation", "lutyuv", "lutrgb",
	NULL,
};

static int is_allowed(const char *name) {
	for(const char *const *a = allowed_filters; *a; a++)
		if(!strcmp(*a, name))
			return 1;
	return 0;
}

/* A FIFO nobody should open: a thread keeps trying to open its write end
 * without blocking, which succeeds only while someone has it open for
 * reading. Then it closes at once, so the reader sees an empty file. */
static char fifo_dir[64], fifo_path[128];
static atomic_int fifo_opened, fifo_stop;
static pthread_t fifo_thread;

static void *watch_fifo(void *arg) {
	(void)arg;
	while(!atomic_load(&fifo_stop)) {
		int fd = open(fifo_path, O_WRONLY | O_NONBLOCK);
		if(fd >= 0) {
			atomic_fetch_add(&fifo_opened, 1);
			close(fd);
		}
		usleep(500);
	}
	return NULL;
}

/* ------------------------------------------------------------------ data */

static ooblex_effects *fx;
static uint8_t in[FSZ], out[FSZ], out2[FSZ];
static char err[512];

static void fill_gradient(void) {
	for(int y = 0; y < H; y++)
		for(int x = 0; x < W; x++)
			in[y * W + x] = (uint8_t)(16 + x * 3 + y);
	for(int i = 0; i < CSZ; i++) {
		in[YSZ + i] = (uint8_t)(60 + i % 100);
		in[YSZ + CSZ + i] = (uint8_t)(200 - i % 90);
	}
}

static int apply(const char *effect, uint8_t *dst) {
	int rc = ooblex_effects_apply(fx, effect, OOBLEX_PIXFMT_I420, in, W, H, dst, err, sizeof(err));
	if(rc < 0)
		printf("#   %s: %s\n", effect, err);
	return rc;
}

/* Graphs as an attacker writes them. @F is replaced by the watched FIFO's
 * path. Every one must be refused, with nothing outside the allowlist ever
 * instantiated, no file opened and no browser text parsed by libavfilter. */
static const char *const hostile[] = {
	/* Straight in. */
	"ffmpeg:movie=@F", "ffmpeg:movie=filename=@F", "ffmpeg:amovie=@F", "ffmpeg:sendcmd=f=@F",
	"ffmpeg:sendcmd=c=0 negate enable 0", "ffmpeg:zmq=b=tcp\\://127.0.0.1\\:5555", "ffmpeg:zmq",
	"ffmpeg:frei0r=filter_name=@F", "ffmpeg:frei0r=distort0r", "ffmpeg:ladspa=file=@F", "ffmpeg:lv2=p=urn\\:x",
	"ffmpeg:lut3d=file=@F", "ffmpeg:lut3d=@F", "ffmpeg:haldclut", "ffmpeg:curves=psfile=@F",
	"ffmpeg:drawtext=fontfile=@F:text=x", "ffmpeg:drawtext=textfile=@F", "ffmpeg:subtitles=@F", "ffmpeg:ass=@F",
	"ffmpeg:metadata=mode=print:file=@F", "ffmpeg:select=eq(n\\,0)", "ffmpeg:testsrc", "ffmpeg:nullsrc",
	"ffmpeg:nullsink", "ffmpeg:geq=lum=p(X\\,Y)", "ffmpeg:split", "ffmpeg:overlay", "ffmpeg:hstack",
	"ffmpeg:blend=all_mode=average", "ffmpeg:extractplanes=y", "ffmpeg:tmix=frames=1000",
	/* Desynchronising a checker from libavfilter's reader: labels that
	 * swallow quotes, quotes that swallow separators. */
	"ffmpeg:[']null='x]movie=@F,'", "ffmpeg:[']null='x]sendcmd=f=@F,'", "ffmpeg:[']null='x]lut3d=file=@F,'",
	"ffmpeg:[']null='x]ladspa=file=@F,'", "ffmpeg:[']null='x]frei0r=filter_name=@F,'",
	"ffmpeg:null='a,b';movie=@F", "ffmpeg:negate='x';sendcmd=f=@F", "ffmpeg:[in]negate[x];[x]movie=@F",
	"ffmpeg:[in]negate[out]", "ffmpeg:negate[x];[x]hflip", "ffmpeg:negate;movie=@F", "ffmpeg:sws_flags=bicubic;negate",
	/* Names: case, escapes, instance names, spaces, look-alikes. */
	"ffmpeg:MOVIE=@F", "ffmpeg:Movie=@F", "ffmpeg:Negate", "ffmpeg:mo\\vie=@F", "ffmpeg:'movie'=@F",
	"ffmpeg:\"movie\"=@F", "ffmpeg:negate@x", "ffmpeg:negate,movie@x=@F", "ffmpeg: movie=@F",
	"ffmpeg:negate,\tmovie=@F", "ffmpeg:negate ,hflip", "ffmpeg:negate\n", "ffmpeg:m\xd0\xbevie=@F",
	"ffmpeg:negate\xc2\xa0", "ffmpeg:negate\xef\xbc\x8cmovie=@F", "ffmpeg:nega%74e", "ffmpeg:_movie",
	"ffmpeg:buffer", "ffmpeg:buffersink", "ffmpeg:abuffer", "ffmpeg:afifo",
	/* Options that open files, evaluate per frame or are not ours. */
	"ffmpeg:negate=enable=1", "ffmpeg:hflip=enable=between(t\\,0\\,1)", "ffmpeg:negate=components=y",
	"ffmpeg:hue=h=t*1000", "ffmpeg:hue=h=90:filename=@F", "ffmpeg:eq=contrast=1:eval=frame",
	"ffmpeg:null=file=@F", "ffmpeg:copy=textfile=@F", "ffmpeg:format=fontfile=@F", "ffmpeg:scale=flags=@F",
	"ffmpeg:scale=w=iw*100:h=ih*100", "ffmpeg:crop=w=in_w:h=in_h", "ffmpeg:null=sws_flags=x",
	"ffmpeg:lutyuv=y=while(1\\,1)", "ffmpeg:lutyuv=y=while(1,1)", "ffmpeg:lutyuv=y=st(0,1)", "ffmpeg:lutyuv=y=ld(0)",
	"ffmpeg:lutyuv=y=random(0)", "ffmpeg:lutyuv=y=print(val)", "ffmpeg:lutyuv=y=PI", "ffmpeg:lutyuv=y=val*1e308",
	"ffmpeg:lutyuv=y=0x10", "ffmpeg:lutyuv=y=3k", "ffmpeg:lutyuv=y=((((((((((val))))))))))",
	"ffmpeg:lutyuv=y=val+val+val+val+val+val+val+val+val+val+val+val+val+val+val+val+val+val",
	"ffmpeg:lutyuv=y=gauss(val)", "ffmpeg:lutyuv=y=val:a=val", "ffmpeg:lutrgb=y=val",
	/* Numbers: out of range, exponents, hex, inf, nan, signs, huge. */
	"ffmpeg:hue=h=1e999", "ffmpeg:hue=h=nan", "ffmpeg:hue=h=inf", "ffmpeg:hue=h=-inf", "ffmpeg:hue=h=0x7f",
	"ffmpeg:hue=h=+1", "ffmpeg:hue=h=--1", "ffmpeg:hue=h=1.", "ffmpeg:hue=h=1e2", "ffmpeg:hue=h=361",
	"ffmpeg:gblur=sigma=99999999", "ffmpeg:gblur=sigma=-1", "ffmpeg:gblur=sigma=1.0000001",
	"ffmpeg:gblur=steps=7", "ffmpeg:nlmeans=r=15", "ffmpeg:nlmeans=r=99", "ffmpeg:nlmeans=p=8", "ffmpeg:nlmeans=r=6",
	"ffmpeg:median=radius=127", "ffmpeg:unsharp=luma_msize_x=23", "ffmpeg:boxblur=luma_power=100",
	"ffmpeg:scale=w=8192:h=8192", "ffmpeg:scale=w=-1:h=-1", "ffmpeg:scale=1280:960", "ffmpeg:hue=90",
	"ffmpeg:hqdn3d=luma_spatial=1e308", "ffmpeg:noise=alls=100000000000000000000",
	"ffmpeg:transpose=dir=7", "ffmpeg:format=pix_fmts=yuv420p|rgb24", "ffmpeg:format=pix_fmts=pal8",
	/* Shape: empty, separators, duplicates, lengths, costs. */
	"ffmpeg:", "ffmpeg:,", "ffmpeg:negate,", "ffmpeg:,negate", "ffmpeg:negate,,hflip", "ffmpeg:hue=",
	"ffmpeg:hue=h", "ffmpeg:hue=h=", "ffmpeg:hue=h=1:h=2", "ffmpeg:hue=h=1:", "ffmpeg:hue==1", "ffmpeg:=",
	"ffmpeg:negate,negate,negate,negate,negate,negate,negate,negate,negate",
	"ffmpeg:nlmeans,nlmeans", "ffmpeg:scale=w=1280:h=960,median=radius=8",
	"ffmpeg:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	/* Through the core effects' parameters and the chain. */
	"blur|ffmpeg:movie=@F", "invert|ffmpeg:[']null='x]movie=@F,'", "blur:sigma=3,movie=@F",
	"blur:sigma=3[x];movie=@F", "pixelate:size=16;movie=@F", "ffmpeg:negate|movie=@F", "movie=@F",
	NULL,
};

/* The hostile string with @F replaced, and a very long one. */
static void expand(const char *h, char *outbuf, size_t outlen) {
	size_t n = 0;
	for(const char *p = h; *p && n + 1 < outlen; p++) {
		if(p[0] == '@' && p[1] == 'F') {
			n += (size_t)snprintf(outbuf + n, outlen - n, "%s", fifo_path);
			if(n >= outlen)
				n = outlen - 1;
			p++;
		} else {
			outbuf[n++] = *p;
		}
	}
	outbuf[n] = '\0';
}

static int text_reached_parser(const char *graph) {
	for(int i = 0; i < n_parsed; i++)
		if(strstr(parsed[i], graph) != NULL)
			return 1;
	return 0;
}

/* In the child: 1 if the effect is refused with nothing but allowed
 * filters ever instantiated and no browser text parsed. */
static int refused_cleanly(const char *effect) {
	reset_seen();
	int rc = ooblex_effects_apply(fx, effect, OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err));
	const char *graph = strstr(effect, "ffmpeg:") ? strstr(effect, "ffmpeg:") + 7 : effect;
	int bad = 0;
	if(rc == 0) {
		printf("#   accepted: %s\n", effect);
		bad = 1;
	}
	if(ooblex_effect_exists(effect)) {
		printf("#   reported as existing: %s\n", effect);
		bad = 1;
	}
	for(int i = 0; i < n_created; i++)
		if(!is_allowed(created[i])) {
			printf("#   %s: created filter '%s'\n", effect, created[i]);
			bad = 1;
		}
	for(int i = 0; i < n_configured; i++)
		if(!is_allowed(configured[i])) {
			printf("#   %s: configured filter '%s'\n", effect, configured[i]);
			bad = 1;
		}
	if(graph[0] && text_reached_parser(graph)) {
		printf("#   %s: the browser's text reached libavfilter's parser\n", effect);
		bad = 1;
	}
	return !bad;
}

/* Each hostile graph runs in a child of its own: one that crashes or hangs
 * the effects code (both happened on 208e913) is a failure of that graph,
 * not the end of the test. The FIFO is watched from here. */
static void check_refused(const char *effect) {
	int before = atomic_load(&fifo_opened);
	fflush(stdout);
	pid_t pid = fork();
	if(pid == 0) {
		/* A refusal takes microseconds; this only ends a hang. */
		alarm(20);
		int ok = refused_cleanly(effect);
		fflush(stdout);
		_exit(ok ? 0 : 1);
	}
	int status = 0;
	int bad = pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	if(pid > 0 && WIFSIGNALED(status))
		printf("#   %s: the effects code %s (signal %d)\n", effect,
			WTERMSIG(status) == SIGALRM ? "hung" : "crashed", WTERMSIG(status));
	/* Give the watcher a moment to notice an open that just happened. */
	usleep(2000);
	if(atomic_load(&fifo_opened) != before) {
		printf("#   %s: a filter opened %s\n", effect, fifo_path);
		bad = 1;
	}
	EXPECT(!bad);
}

static void test_hostile_graphs_are_refused(void) {
	fill_gradient();
	char buf[1024];
	int n = 0;
	for(const char *const *h = hostile; *h; h++, n++) {
		expand(*h, buf, sizeof(buf));
		check_refused(buf);
	}
	/* Lengths: just over the cap, and far over (the text is never copied
	 * into a fixed buffer). */
	static char longest[8192];
	strcpy(longest, "ffmpeg:");
	for(size_t i = strlen(longest); i < sizeof(longest) - 8; i += 7)
		memcpy(longest + i, "negate,", 7);
	longest[sizeof(longest) - 8] = '\0';
	check_refused(longest);
	printf("# %d hostile graphs checked\n", n + 1);
}

/* The instrumentation itself sees what our code creates: an allowed graph
 * shows its filters among the creations and in the configured graph. */
static void test_instrumentation_sees_creations(void) {
	fill_gradient();
	reset_seen();
	REQUIRE(apply("ffmpeg:negate,hflip", out) == 0);
	int negate = 0, hflip = 0, cfg_negate = 0;
	for(int i = 0; i < n_created; i++) {
		negate += !strcmp(created[i], "negate");
		hflip += !strcmp(created[i], "hflip");
	}
	for(int i = 0; i < n_configured; i++)
		cfg_negate += !strcmp(configured[i], "negate");
	EXPECT_EQ(negate, 1);
	EXPECT_EQ(hflip, 1);
	EXPECT_EQ(cfg_negate, 1);
	EXPECT_EQ(n_parsed, 0);	/* built, not parsed */
	for(int i = 0; i < n_configured; i++)
		EXPECT(is_allowed(configured[i]));
	/* Core effects are our own text and still go through the parser. */
	reset_seen();
	REQUIRE(apply("mirror", out) == 0);
	EXPECT_EQ(n_parsed, 1);
	EXPECT(n_parsed == 1 && strstr(parsed[0], "hflip") != NULL);
}

static void test_negate_matches_invert(void) {
	fill_gradient();
	REQUIRE(apply("ffmpeg:negate", out) == 0);
	REQUIRE(apply("invert", out2) == 0);
	/* negate is full-range 255-x, invert the limited-range 251-Y / 256-C. */
	int worst = 0;
	for(int i = 0; i < FSZ; i++) {
		int d = abs(out[i] - out2[i]);
		if(d > worst)
			worst = d;
	}
	EXPECT(worst <= 4);
	EXPECT_EQ(out[0], 255 - in[0]);
}

static void test_hflip_vflip_is_a_half_turn(void) {
	fill_gradient();
	REQUIRE(apply("ffmpeg:hflip,vflip", out) == 0);
	int mismatches = 0;
	for(int y = 0; y < H; y++)
		for(int x = 0; x < W; x++)
			mismatches += out[y * W + x] != in[(H - 1 - y) * W + (W - 1 - x)];
	EXPECT_EQ(mismatches, 0);
	/* And the expression language: 255-val on luma is negate's luma. */
	REQUIRE(apply("ffmpeg:lutyuv=y=255-val", out) == 0);
	REQUIRE(apply("ffmpeg:negate", out2) == 0);
	EXPECT(!memcmp(out, out2, YSZ));
	REQUIRE(apply("ffmpeg:lutyuv=y=abs(val-128)*2+trunc(minval/2):u=128:v=128", out) == 0);
	EXPECT_EQ(out[YSZ], 128);
}

/* The worker always hands back the size it was given, whatever the chain
 * does to it on the way. */
static void test_size_changes_come_back(void) {
	fill_gradient();
	const char *sized[] = { "ffmpeg:crop=w=32:h=24", "ffmpeg:scale=w=1280:h=960", "ffmpeg:transpose=dir=clock",
		"ffmpeg:scale=w=16:h=16,format=pix_fmts=gray", "blur|ffmpeg:crop=w=32:h=32:x=8:y=8,negate", NULL };
	for(const char *const *s = sized; *s; s++)
		EXPECT(apply(*s, out) == 0);
	/* A crop bigger than the frame fails cleanly at build time. */
	EXPECT(ooblex_effects_apply(fx, "ffmpeg:crop=w=640:h=480", OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0);
#ifdef HAVE_GRAMMAR
	/* And what kind of failure it was, for the error result to the page. */
	EXPECT_EQ(ooblex_effects_error_kind(fx), OOBLEX_FX_ERR_FAILED);
	EXPECT(ooblex_effects_apply(fx, "teleport", OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0);
	EXPECT_EQ(ooblex_effects_error_kind(fx), OOBLEX_FX_ERR_UNKNOWN);
	EXPECT(ooblex_effects_apply(fx, "ffmpeg:movie", OOBLEX_PIXFMT_I420, in, W, H, out, err, sizeof(err)) < 0);
	EXPECT_EQ(ooblex_effects_error_kind(fx), OOBLEX_FX_ERR_REFUSED);
#endif
}

#ifdef HAVE_GRAMMAR
/* Every filter and option of the allowlist is what libavfilter has: one
 * input, one output, the option exists, and our bounds sit inside the
 * option's own. Each filter builds and runs with every option at its
 * bound (the costliest values a browser can ask for). */
static void test_allowlist_matches_libavfilter(void) {
	fill_gradient();
	int filters = 0;
	for(const ooblex_fxg_filter_spec *f = ooblex_fxg_filters(); f->name; f++, filters++) {
		const AVFilter *af = avfilter_get_by_name(f->name);
		EXPECT(af != NULL);
		if(af == NULL)
			continue;
		EXPECT(is_allowed(f->name));
		EXPECT_EQ(avfilter_filter_pad_count(af, 0), 1);
		EXPECT_EQ(avfilter_filter_pad_count(af, 1), 1);
		EXPECT(f->cost_ms >= 1);
		char graph[512];
		int n = snprintf(graph, sizeof(graph), "ffmpeg:%s", f->name);
		for(const ooblex_fxg_option_spec *o = f->options; o->name; o++) {
			const AVOption *opt = af->priv_class ? av_opt_find((void *)&af->priv_class, o->name, NULL, 0,
				AV_OPT_SEARCH_FAKE_OBJ) : NULL;
			if(opt == NULL)
				printf("#   %s has no option %s\n", f->name, o->name);
			EXPECT(opt != NULL);
			if(opt != NULL && o->type != OOBLEX_FXG_WORD && o->type != OOBLEX_FXG_EXPR &&
					opt->type != AV_OPT_TYPE_STRING && opt->type != AV_OPT_TYPE_CONST) {
				if(!(o->min >= opt->min && o->max <= opt->max))
					printf("#   %s.%s: %g..%g outside %g..%g\n", f->name, o->name, o->min, o->max, opt->min, opt->max);
				EXPECT(o->min >= opt->min && o->max <= opt->max);
			}
			/* crop and scale are checked with sizes that fit the test frame. */
			if(!strcmp(f->name, "crop") || !strcmp(f->name, "scale") || !strcmp(f->name, "noise"))
				continue;
			char v[64];
			if(o->type == OOBLEX_FXG_WORD)
				snprintf(v, sizeof(v), "%s", o->words[0]);
			else if(o->type == OOBLEX_FXG_EXPR)
				snprintf(v, sizeof(v), "negval");
			else if(o->type == OOBLEX_FXG_ODD)
				snprintf(v, sizeof(v), "%d", ((int)o->max % 2) ? (int)o->max : (int)o->max - 1);
			else if(o->type == OOBLEX_FXG_INT)
				snprintf(v, sizeof(v), "%d", (int)o->max);
			else
				snprintf(v, sizeof(v), "%g", o->max);
			n += snprintf(graph + n, sizeof(graph) - (size_t)n, "%c%s=%s", o == f->options ? '=' : ':', o->name, v);
		}
		reset_seen();
		if(apply(graph, out) != 0)
			printf("#   %s did not build at its bounds\n", graph);
		EXPECT(n_parsed == 0);
	}
	EXPECT(filters >= 30);
	EXPECT(apply("ffmpeg:noise=alls=100:all_seed=7", out) == 0);
}

static void test_grammar_messages(void) {
	ooblex_fxg_chain chain;
	char e[256];
	EXPECT(ooblex_fxg_parse("movie=x", 7, &chain, e, sizeof(e)) < 0);
	EXPECT(strstr(e, "offset 0") && strstr(e, "filter 'movie' is not allowed"));
	EXPECT(ooblex_fxg_parse("negate,hue=h=1e9", 16, &chain, e, sizeof(e)) < 0);
	EXPECT(strstr(e, "offset 13") && strstr(e, "'h' must be a plain decimal number"));
	EXPECT(ooblex_fxg_parse("negate;x", 8, &chain, e, sizeof(e)) < 0);
	EXPECT(strstr(e, "offset 6") && strstr(e, "';' is not allowed"));
	EXPECT(ooblex_fxg_parse("lut3d=file=/x", 13, &chain, e, sizeof(e)) < 0);
	EXPECT(strstr(e, "filter 'lut3d' is not allowed"));
	EXPECT(ooblex_fxg_parse("hue=h=1:file=x", 14, &chain, e, sizeof(e)) < 0);
	EXPECT(strstr(e, "option 'file' is not allowed for 'hue'"));
	EXPECT(ooblex_fxg_parse("nlmeans=r=9", 11, &chain, e, sizeof(e)) < 0);
	EXPECT(strstr(e, "'r' must be in 1..7"));
	EXPECT(ooblex_fxg_parse("nlmeans,nlmeans", 15, &chain, e, sizeof(e)) < 0);
	EXPECT(strstr(e, "too costly"));
	/* A NUL inside the text is refused, not taken as its end. */
	EXPECT(ooblex_fxg_parse("negate\0movie", 12, &chain, e, sizeof(e)) < 0);
	EXPECT(strstr(e, "NUL"));
	EXPECT(ooblex_fxg_parse("hue=h=90:s=2,gblur=sigma=3:steps=2,lutyuv=y=255-val", 51, &chain, e, sizeof(e)) == 0);
	EXPECT_EQ(chain.n_steps, 3);
	EXPECT_EQ(chain.steps[0].n_settings, 2);
	EXPECT(!strcmp(chain.steps[2].settings[0].value, "255-val"));
	/* Whole effect strings: only their ffmpeg: item is the grammar's. */
	EXPECT(ooblex_fxg_check_effect("blur:sigma=3|grayscale", e, sizeof(e)) == 0);
	EXPECT(ooblex_fxg_check_effect("blur|ffmpeg:negate", e, sizeof(e)) == 0);
	EXPECT(ooblex_fxg_check_effect("blur|ffmpeg:movie=x", e, sizeof(e)) < 0);
	EXPECT(ooblex_fxg_check_effect("ffmpeg:", e, sizeof(e)) < 0);
}

static int dummy_process(void *st, ooblex_image *img, char *e, size_t n) {
	(void)st; (void)img; (void)e; (void)n;
	return 0;
}
static void *dummy_create(const char *p, char *e, size_t n) {
	(void)p; (void)e; (void)n;
	return (void *)1;
}

/* One grammar of names: what a module may call an effect, what a registry
 * entry may announce, what the plugin takes as an item's name. */
static void test_effect_names(void) {
	char why[256];
	char longest[OOBLEX_EFFECT_NAME_MAX + 2];
	memset(longest, 'a', OOBLEX_EFFECT_NAME_MAX);
	longest[OOBLEX_EFFECT_NAME_MAX] = '\0';
	const char *good[] = { "a", "blur", "face_pixelate", "x2", "9", longest, "ffmpeg", "core" };
	for(size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		EXPECT(ooblex_effect_name_check(good[i], why, sizeof(why)) == 0);
	for(const char *const *e = ooblex_effects_list(); *e; e++)
		EXPECT(ooblex_effect_name_check(*e, why, sizeof(why)) == 0);
	longest[OOBLEX_EFFECT_NAME_MAX] = 'a';
	longest[OOBLEX_EFFECT_NAME_MAX + 1] = '\0';
	const char *bad[] = { "", longest, "Blur", "blur-x", "blur x", "blur:x", "blur|x", "\xc3\xa9t\xc3\xa9", "a\nb", "a'b",
		"../x", "x.so" };
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		EXPECT(ooblex_effect_name_check(bad[i], why, sizeof(why)) < 0);
		EXPECT(strncmp(why, "effect name '", 13) == 0 && strstr(why, "1-31 characters of a-z, 0-9 and _"));
	}
	EXPECT(ooblex_effect_name_check(NULL, why, sizeof(why)) < 0);
	EXPECT(ooblex_effect_name_check("Blur", NULL, 0) < 0);
	EXPECT(ooblex_effect_name_check("a\nb", why, sizeof(why)) < 0 && strstr(why, "'a?b'"));
	EXPECT(ooblex_effect_name_check_len("blurX", 4, why, sizeof(why)) == 0);
	/* The worker takes a module effect exactly when its name passes. */
	static const ooblex_effect named[] = {
		{ "Upper", "", dummy_create, dummy_process, NULL, NULL },
		{ "with-dash", "", dummy_create, dummy_process, NULL, NULL },
		{ "grammar_ok_1", "", dummy_create, dummy_process, NULL, NULL },
	};
	for(size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		ooblex_effect_module m = { OOBLEX_EFFECT_ABI_VERSION, "names", &named[i], 1 };
		EXPECT((ooblex_effects_add_module(&m, "names.so", why, sizeof(why)) == 0) ==
			(ooblex_effect_name_check(named[i].name, NULL, 0) == 0));
	}
}

/* One grammar of effect strings, the plugin's check of a page's request. */
static void test_effect_strings(void) {
	char why[256];
	const char *good[] = { "invert", "blur:sigma=3|grayscale", "ffmpeg:hflip,vflip", "blur|ffmpeg:eq=contrast=1.5",
		"threshold:level=100", "onnx:model=Candy-9.onnx", "teleport", "face_pixelate|ffmpeg:lutyuv=y=255-val" };
	for(size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		EXPECT(ooblex_effect_check(good[i], why, sizeof(why)) == 0);
		if(ooblex_effect_check(good[i], why, sizeof(why)) != 0)
			printf("#   '%s': %s\n", good[i], why);
	}
	char too_long[OOBLEX_EFFECT_TEXT_MAX + 2];
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	static const struct { const char *effect, *why; } bad[] = {
		{ "", "1-200 characters: letters, digits and _-.:|=,/()*+" },
		{ "x$(reboot)", "1-200 characters" },
		{ "line\nbreak", "1-200 characters" },
		{ "blur sigma", "1-200 characters" },
		{ "Blur", "effect name 'Blur'" },
		{ "blur||invert", "effect name ''" },
		{ "blur|", "effect name ''" },
		{ "|blur", "effect name ''" },
		{ ":sigma=3", "effect name ''" },
		{ "blur|Invert:x=1", "effect name 'Invert'" },
		{ "a_name_that_is_thirty_two_chars_", "effect name 'a_name_that_is_thirty_two_chars_'" },
		{ "ffmpeg:movie=x", "filter 'movie' is not allowed" },
		{ "blur|ffmpeg:lut3d=file=/x", "filter 'lut3d' is not allowed" },
	};
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		EXPECT(ooblex_effect_check(bad[i].effect, why, sizeof(why)) < 0);
		if(strstr(why, bad[i].why) == NULL)
			printf("#   '%s': '%s', wanted '%s'\n", bad[i].effect, why, bad[i].why);
		EXPECT(strstr(why, bad[i].why) != NULL);
	}
	EXPECT(ooblex_effect_check(too_long, why, sizeof(why)) < 0);
	too_long[OOBLEX_EFFECT_TEXT_MAX] = '\0';	/* 200 bytes: a long name then */
	EXPECT(ooblex_effect_check(too_long, why, sizeof(why)) < 0 && strstr(why, "effect name"));
	EXPECT(ooblex_effect_check(NULL, why, sizeof(why)) < 0);
	/* Every name in the string is an item the worker reads, empty ones too. */
	EXPECT_EQ(ooblex_effect_item_len("blur:sigma=3|invert"), 12);
	EXPECT_EQ(ooblex_effect_item_len("ffmpeg:hue=h=1|x"), 16);
	EXPECT_EQ(ooblex_effect_item_len(""), 0);
}
#endif

int main(void) {
	av_log_set_level(AV_LOG_QUIET);
	snprintf(fifo_dir, sizeof(fifo_dir), "/tmp/ooblex-fxg-XXXXXX");
	if(mkdtemp(fifo_dir) == NULL)
		return 1;
	snprintf(fifo_path, sizeof(fifo_path), "%s/secret", fifo_dir);
	if(mkfifo(fifo_path, 0600) < 0)
		return 1;
	pthread_create(&fifo_thread, NULL, watch_fifo, NULL);
	fx = ooblex_effects_new();
	if(fx == NULL)
		return 1;
	TEST_RUN(test_instrumentation_sees_creations);
	TEST_RUN(test_hostile_graphs_are_refused);
	TEST_RUN(test_negate_matches_invert);
	TEST_RUN(test_hflip_vflip_is_a_half_turn);
	TEST_RUN(test_size_changes_come_back);
#ifdef HAVE_GRAMMAR
	TEST_RUN(test_allowlist_matches_libavfilter);
	TEST_RUN(test_grammar_messages);
	TEST_RUN(test_effect_strings);
	TEST_RUN(test_effect_names);	/* last: adds module effects */
#endif
	ooblex_effects_free(fx);
	atomic_store(&fifo_stop, 1);
	pthread_join(fifo_thread, NULL);
	unlink(fifo_path);
	rmdir(fifo_dir);
	return tl_done();
}
