/*
 * video_test_source.c - the pattern, through the plugin's own encoder and
 * packetizer.
 */
#include "video_test_source.h"

#include <stdlib.h>
#include <string.h>

#include "rtp_packetizer.h"
#include "video_encoder.h"

/* Smaller than a browser's 1200: more packets per frame, more reordering to test. */
#define MAX_PACKET 1112

struct video_test_source {
	ooblex_video_encoder *enc;
	ooblex_rtp_packetizer pk;
	uint8_t *i420;
	int width, height, n, fps;
	int force_keyframe;
	uint32_t ts;
	video_tamper_fn tamper;
	void *tamper_user;
};

void test_pattern_i420(uint8_t *i420, int w, int h, int n) {
	int cw = (w + 1) / 2, ch = (h + 1) / 2;
	uint8_t *y = i420, *u = i420 + w * h, *v = u + cw * ch;
	int sq = w / 5, sx = (n * 7) % (w - sq), sy = (n * 3) % (h - sq);
	for(int r = 0; r < h; r++)
		for(int c = 0; c < w; c++) {
			int inside = c >= sx && c < sx + sq && r >= sy && r < sy + sq;
			y[r * w + c] = (uint8_t)(inside ? 220 : 40 + c * 150 / w);
		}
	for(int r = 0; r < ch; r++)
		for(int c = 0; c < cw; c++) {
			u[r * cw + c] = (uint8_t)(90 + r * 60 / ch);
			v[r * cw + c] = (uint8_t)(160 - c * 60 / cw);
		}
}

video_test_source *video_test_source_new(const char *codec, int width, int height, int fps, int bitrate_kbps) {
	video_test_source *s = calloc(1, sizeof(*s));
	if(s == NULL)
		return NULL;
	ooblex_codec c = codec != NULL && !strcmp(codec, "h264") ? OOBLEX_CODEC_H264 : OOBLEX_CODEC_VP8;
	s->enc = ooblex_video_encoder_new(c, bitrate_kbps * 1000, fps);
	/* Sequence numbers start near the top: they wrap early in every test. */
	ooblex_rtp_packetizer_init(&s->pk, c, c == OOBLEX_CODEC_H264 ? 102 : 96, 0xdeadbeef, 65000, MAX_PACKET);
	s->ts = 12345;
	s->fps = fps;
	if(s->enc == NULL || video_test_source_resize(s, width, height) < 0) {
		video_test_source_free(s);
		return NULL;
	}
	return s;
}

int video_test_source_resize(video_test_source *s, int width, int height) {
	/* The encoder reopens by itself (with a keyframe) when the size changes. */
	uint8_t *n = realloc(s->i420, (size_t)width * height * 3 / 2 + width + height);
	if(n == NULL)
		return -1;
	s->i420 = n;
	s->width = width;
	s->height = height;
	return 0;
}

void video_test_source_free(video_test_source *s) {
	if(s == NULL)
		return;
	ooblex_video_encoder_free(s->enc);
	free(s->i420);
	free(s);
}

void video_test_source_force_keyframe(video_test_source *s) {
	s->force_keyframe = 1;
}

void video_test_source_tamper(video_test_source *s, video_tamper_fn fn, void *user) {
	s->tamper = fn;
	s->tamper_user = user;
}

const uint8_t *video_test_source_next(video_test_source *s, video_packet_fn emit, void *user) {
	test_pattern_i420(s->i420, s->width, s->height, s->n++);
	char err[256];
	int rc = ooblex_video_encoder_encode(s->enc, s->i420, s->width, s->height, s->force_keyframe,
		(uint64_t)s->ts * 100 / 9, s->ts, err, sizeof(err));
	s->force_keyframe = 0;
	s->ts += 90000 / s->fps;
	/* Real-time settings: this picture's frame, at once. */
	const uint8_t *bits;
	size_t len;
	int key, sent = 0;
	uint64_t ts;
	while(rc == 0 && ooblex_video_encoder_next(s->enc, &bits, &len, &key, &ts) == 1) {
		if(len > 0 && s->tamper != NULL)
			bits = s->tamper(bits, &len, key, s->tamper_user);
		if(len > 0 && ooblex_rtp_packetize(&s->pk, bits, len, (uint32_t)ts, emit, user) > 0)
			sent++;
	}
	return sent > 0 ? s->i420 : NULL;
}
