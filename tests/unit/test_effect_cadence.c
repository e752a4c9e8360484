/*
 * test_effect_cadence.c - a filter graph that does not give one picture per
 * picture, and what the worker's effects make of it (effects.c, run_graph):
 * the result is always this frame's own picture; pictures for other frames
 * are never handed back; a frame the graph gives nothing for fails alone.
 *
 * No filter of the ffmpeg: allowlist behaves so (effect_grammar.c leaves
 * them out), so this program swaps one in: it defines avfilter_get_by_name
 * itself and, asked for "hflip", hands back a real filter that does
 * (separatefields: two pictures per picture, the second one a frame late;
 * tblend: nothing for the first frame, then one per frame). The worker's
 * effects code is linked in statically, so its calls land here; the rest
 * goes to libavfilter's (dlsym RTLD_NEXT).
 */
#include "testlib.h"

#include <dlfcn.h>
#include <libavfilter/avfilter.h>
#include <libavutil/log.h>

#include "effects.h"
#include "ooblex_wire.h"

#define W 64
#define H 48
#define YSZ (W * H)
#define FSZ (YSZ + 2 * (W / 2) * (H / 2))

static const char *hflip_is;	/* the filter "hflip" stands for, NULL: itself */
static int swapped;	/* times it did */

const AVFilter *avfilter_get_by_name(const char *name) {
	static const AVFilter *(*real)(const char *);
	if(real == NULL)
		real = (const AVFilter *(*)(const char *))dlsym(RTLD_NEXT, "avfilter_get_by_name");
	if(hflip_is != NULL && name != NULL && !strcmp(name, "hflip")) {
		name = hflip_is;
		swapped++;
	}
	return real(name);
}

/* Frame n is flat: luma 30 + 20n, so a result says which frame it shows. */
static int luma_of(int n) {
	return 30 + 20 * n;
}

static int apply_frame(ooblex_effects *fx, int n, uint8_t *out, char *err, size_t errlen) {
	static uint8_t in[FSZ];
	memset(in, luma_of(n), YSZ);
	memset(in + YSZ, 128, FSZ - YSZ);
	return ooblex_effects_apply(fx, "ffmpeg:hflip", OOBLEX_PIXFMT_I420, in, W, H, out, err, errlen);
}

static void test_graph_giving_two_pictures_per_frame_returns_this_frames(void) {
	hflip_is = "separatefields";
	ooblex_effects *fx = ooblex_effects_new();
	uint8_t out[FSZ];
	char err[256];
	for(int n = 0; n < 6; n++) {
		REQUIRE(apply_frame(fx, n, out, err, sizeof(err)) == 0);
		/* The field of this frame (scaled back), not the previous one's
		 * second field, which comes out first. */
		EXPECT_EQ(out[YSZ / 2 + W / 2], luma_of(n));
	}
	EXPECT(swapped > 0);
	ooblex_effects_free(fx);
	hflip_is = NULL;
}

static void test_graph_giving_nothing_for_a_frame_fails_that_frame_alone(void) {
	hflip_is = "tblend";
	ooblex_effects *fx = ooblex_effects_new();
	uint8_t out[FSZ];
	char err[256];
	/* tblend needs a previous frame: nothing for the first. */
	EXPECT(apply_frame(fx, 0, out, err, sizeof(err)) < 0);
	EXPECT_EQ(ooblex_effects_error_kind(fx), OOBLEX_FX_ERR_FAILED);
	EXPECT(strstr(err, "no picture") != NULL);
	/* Then each frame's own picture: the graph (and the frame it keeps) stayed. */
	for(int n = 1; n < 6; n++) {
		EXPECT(apply_frame(fx, n, out, err, sizeof(err)) == 0);
		EXPECT_EQ(out[YSZ / 2 + W / 2], luma_of(n));
	}
	ooblex_effects_free(fx);
	hflip_is = NULL;
}

int main(void) {
	av_log_set_level(AV_LOG_QUIET);
	TEST_RUN(test_graph_giving_two_pictures_per_frame_returns_this_frames);
	TEST_RUN(test_graph_giving_nothing_for_a_frame_fails_that_frame_alone);
	return tl_done();
}
