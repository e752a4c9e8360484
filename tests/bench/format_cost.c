/*
 * format_cost.c - what each transport format costs, measured in one run.
 *
 * For 640x480 frames decoded from a real VP8 stream, per format (I420, RGB24,
 * JPEG q80): the plugin's packing time, the message size, a Redis LPUSH+RPOP
 * round trip of that message, and the worker's time to turn it back into
 * pixels and apply a cheap effect. Prints a Markdown table and JSON.
 *   format_cost REDIS_PORT [FRAMES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <glib.h>
#include <libavutil/log.h>

#include "depay.h"
#include "effects.h"
#include "frame_packer.h"
#include "ooblex_jpeg.h"
#include "ooblex_redis.h"
#include "video_decoder.h"
#include "video_test_source.h"

#define W 640
#define H 480

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct decoded_set {
	AVFrame *frames[512];
	int n;
	ooblex_depay *depay;
	ooblex_decoder *dec;
} decoded_set;

static void on_packet(const uint8_t *pkt, size_t len, void *user) {
	decoded_set *d = user;
	ooblex_rtp_packet rp;
	if(ooblex_rtp_parse(pkt, len, &rp) < 0)
		return;
	ooblex_encoded_frame ef;
	int kf;
	for(int r = ooblex_depay_push(d->depay, &rp, 0, &ef, &kf); r == OOBLEX_DEPAY_FRAME; r = ooblex_depay_next(d->depay, &ef)) {
		AVFrame *pic;
		ooblex_decoder_decode(d->dec, ef.data, ef.len, 0);
		while(ooblex_decoder_next(d->dec, &pic) == 1)
			if(d->n < 512)
				d->frames[d->n++] = av_frame_clone(pic);
	}
}

int main(int argc, char **argv) {
	if(argc < 2) {
		fprintf(stderr, "usage: format_cost REDIS_PORT [FRAMES]\n");
		return 2;
	}
	int nframes = argc > 2 ? atoi(argv[2]) : 150;
	av_log_set_level(AV_LOG_ERROR);
	/* Real decoded pictures, as the plugin sees them. */
	decoded_set d = { 0 };
	char err[256];
	d.depay = ooblex_depay_new(OOBLEX_CODEC_VP8);
	d.dec = ooblex_decoder_new("vp8", 1, err, sizeof(err));
	video_test_source *src = video_test_source_new("vp8", W, H, 30, 2000);
	for(int i = 0; i < nframes; i++)
		video_test_source_next(src, on_packet, &d);
	video_test_source_free(src);
	ooblex_redis_config rc;
	ooblex_redis_config_default(&rc);
	rc.port = atoi(argv[1]);
	redisContext *c = ooblex_redis_connect(&rc, 2000, err, sizeof(err));
	if(c == NULL || d.n == 0) {
		fprintf(stderr, "no Redis (%s) or no frames\n", err);
		return 1;
	}
	ooblex_effects *fx = ooblex_effects_new();
	ooblex_jpeg *jpeg = ooblex_jpeg_new(OOBLEX_JPEG_DECODER | OOBLEX_JPEG_FAST);	/* as the worker */
	uint8_t *decoded = malloc(W * H * 3), *out = malloc(W * H * 3 / 2);
	const ooblex_pixfmt fmts[] = { OOBLEX_PIXFMT_I420, OOBLEX_PIXFMT_RGB24, OOBLEX_PIXFMT_JPEG };
	printf("| format | plugin pack (ms/frame) | bytes/frame | Redis LPUSH+RPOP (ms) | worker unpack+invert (ms) | total (ms) |\n");
	printf("|---|---:|---:|---:|---:|---:|\n");
	GString *json = g_string_new("[");
	for(int f = 0; f < 3; f++) {
		ooblex_packer *p = ooblex_packer_new(fmts[f], 0, 0, 80);
		double pack = 0, redis = 0, work = 0;
		size_t bytes = 0;
		for(int i = 0; i < d.n; i++) {
			ooblex_frame_header h;
			memset(&h, 0, sizeof(h));
			h.kind = OOBLEX_KIND_FRAME;
			strcpy(h.effect, "invert");
			size_t len;
			double t0 = now_ms();
			uint8_t *msg = ooblex_packer_pack(p, d.frames[i], &h, &len);
			double t1 = now_ms();
			redisReply *r = redisCommand(c, "LPUSH bench_formats %b", msg, len);
			freeReplyObject(r);
			r = redisCommand(c, "RPOP bench_formats");
			double t2 = now_ms();
			ooblex_frame_header h2;
			const uint8_t *payload;
			ooblex_wire_parse((const uint8_t *)r->str, r->len, &h2, &payload);
			int in_fmt = h2.pixfmt;
			const uint8_t *in = payload;
			if(h2.pixfmt == OOBLEX_PIXFMT_JPEG) {
				ooblex_jpeg_decode(jpeg, payload, h2.payload_len, h2.width, h2.height, decoded, &in_fmt, err, sizeof(err));
				in = decoded;
			}
			ooblex_effects_apply(fx, "invert", in_fmt, in, h2.width, h2.height, out, err, sizeof(err));
			double t3 = now_ms();
			freeReplyObject(r);
			pack += t1 - t0;
			redis += t2 - t1;
			work += t3 - t2;
			bytes += len;
			free(msg);
		}
		ooblex_packer_free(p);
		double n = d.n;
		printf("| %s | %.3f | %zu | %.3f | %.3f | %.3f |\n", ooblex_pixfmt_name(fmts[f]), pack / n, (size_t)(bytes / n),
			redis / n, work / n, (pack + redis + work) / n);
		g_string_append_printf(json, "%s{\"format\":\"%s\",\"pack_ms\":%.4f,\"bytes\":%zu,\"redis_ms\":%.4f,\"worker_ms\":%.4f}",
			f ? "," : "", ooblex_pixfmt_name(fmts[f]), pack / n, (size_t)(bytes / n), redis / n, work / n);
	}
	g_string_append(json, "]");
	printf("\n%d frames of %dx%d each.\nJSON: %s\n", d.n, W, H, json->str);
	g_string_free(json, TRUE);
	return 0;
}
