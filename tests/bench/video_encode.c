/*
 * video_encode.c - what the processed video track looks like: the plugin's
 * own encoder (plugin/egress/video_encoder.c, the settings the output
 * thread uses) on real footage at 640x480, at 30, 15 and 10 pictures a
 * second (FRAME_SKIP 1, 2, 3), against its target bitrate. Each encoded
 * frame is decoded again (libavcodec) and compared with the picture that
 * went in: the bitrate reached, luma PSNR and SSIM (tests/picture_quality.h),
 * and the encoder's CPU time per frame on this thread.
 *   video_encode [--kbps N] [--seconds N] [--clip FILE] [--tick-clock]
 *                [--vp8-option KEY=VALUE]... [--h264-option KEY=VALUE]...
 * The options go to the encoder over its real-time settings, as the
 * plugin's video_encoder_options setting does (for choosing them).
 * --tick-clock stamps pictures one 90 kHz tick apart, as the encoder did
 * before it took capture times (the "before" of the README's table).
 * Footage: opencv-doc's Megamind.avi by default (faces, motion, cuts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libavcodec/avcodec.h>
#include <libavutil/log.h>

#include "footage.h"
#include "picture_quality.h"
#include "video_encoder.h"

#define W 640
#define H 480
#define I420_SIZE (W * H * 3 / 2)
#define MAX_PICTURES 900

typedef struct clip {
	uint8_t *pictures[MAX_PICTURES];
	int n;
} clip;

static double cpu_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *options[2][8];	/* per codec: KEY=VALUE */
static int n_options[2];

typedef struct result {
	double kbps, psnr, ssim, encode_ms;
	int frames, decoded;
} result;

static int run(const clip *c, ooblex_codec codec, int rate, int kbps, int tick_clock, result *r) {
	memset(r, 0, sizeof(*r));
	ooblex_video_encoder *e = ooblex_video_encoder_new(codec, kbps * 1000, 30);
	int ci = codec == OOBLEX_CODEC_H264;
	for(int i = 0; e != NULL && i < n_options[ci]; i++) {
		char key[64];
		const char *eq = strchr(options[ci][i], '=');
		snprintf(key, sizeof(key), "%.*s", (int)(eq - options[ci][i]), options[ci][i]);
		ooblex_video_encoder_set_option(e, key, eq + 1);
	}
	const AVCodec *dc = avcodec_find_decoder(codec == OOBLEX_CODEC_H264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_VP8);
	AVCodecContext *dec = dc ? avcodec_alloc_context3(dc) : NULL;
	AVPacket *pkt = av_packet_alloc();
	AVFrame *pic = av_frame_alloc();
	if(e == NULL || dec == NULL || avcodec_open2(dec, dc, NULL) < 0 || pkt == NULL || pic == NULL) {
		fprintf(stderr, "cannot set up the %s encoder and decoder\n", ooblex_codec_name(codec));
		return -1;
	}
	int step = 30 / rate;
	uint64_t bytes = 0;
	double psnr_sum = 0, ssim_sum = 0, cpu = 0;
	char err[256];
	for(int i = 0, n = 0; i < c->n; i += step, n++) {
		uint64_t time_us = tick_clock ? (uint64_t)n * 100 / 9 + 1 : (uint64_t)i * 1000000 / 30;
		double t0 = cpu_ms();
		if(ooblex_video_encoder_encode(e, c->pictures[i], W, H, n == 0, time_us, (uint64_t)i, err, sizeof(err)) < 0) {
			fprintf(stderr, "encoding: %s\n", err);
			return -1;
		}
		cpu += cpu_ms() - t0;
		r->frames++;
		const uint8_t *bits;
		size_t len;
		int key;
		uint64_t tag;
		while(ooblex_video_encoder_next(e, &bits, &len, &key, &tag) == 1) {
			bytes += len;
			if(av_new_packet(pkt, (int)len) < 0)
				return -1;
			memcpy(pkt->data, bits, len);
			if(avcodec_send_packet(dec, pkt) < 0)
				continue;
			av_packet_unref(pkt);
			while(avcodec_receive_frame(dec, pic) == 0) {
				const uint8_t *src = c->pictures[tag];
				if(pic->width == W && pic->height == H) {
					psnr_sum += quality_psnr(quality_mse(src, W, pic->data[0], pic->linesize[0], W, H));
					ssim_sum += quality_ssim(src, W, pic->data[0], pic->linesize[0], W, H);
					r->decoded++;
				}
				av_frame_unref(pic);
			}
		}
	}
	double seconds = (double)c->n / 30;
	r->kbps = bytes * 8 / seconds / 1000;
	r->psnr = r->decoded ? psnr_sum / r->decoded : 0;
	r->ssim = r->decoded ? ssim_sum / r->decoded : 0;
	r->encode_ms = r->frames ? cpu / r->frames : 0;
	av_frame_free(&pic);
	av_packet_free(&pkt);
	avcodec_free_context(&dec);
	ooblex_video_encoder_free(e);
	return 0;
}

int main(int argc, char **argv) {
	int kbps = 1500, seconds = 8, tick_clock = 0;	/* Megamind.avi has 270 pictures */
	const char *path = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi";
	for(int i = 1; i < argc; i++) {
		if(!strcmp(argv[i], "--kbps") && i + 1 < argc)
			kbps = atoi(argv[++i]);
		else if(!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else if(!strcmp(argv[i], "--clip") && i + 1 < argc)
			path = argv[++i];
		else if(!strcmp(argv[i], "--tick-clock"))
			tick_clock = 1;
		else if((!strcmp(argv[i], "--vp8-option") || !strcmp(argv[i], "--h264-option")) && i + 1 < argc &&
				strchr(argv[i + 1], '=') != NULL && n_options[argv[i][2] == 'h'] < 8) {
			int ci = argv[i][2] == 'h';
			options[ci][n_options[ci]++] = argv[++i];
		}
		else {
			fprintf(stderr, "usage: video_encode [--kbps N] [--seconds N] [--clip FILE] [--tick-clock] "
				"[--vp8-option KEY=VALUE]... [--h264-option KEY=VALUE]...\n");
			return 2;
		}
	}
	if(kbps < 50 || kbps > 20000 || seconds < 1 || seconds * 30 > MAX_PICTURES) {
		fprintf(stderr, "video_encode: --kbps 50..20000, --seconds 1..%d\n", MAX_PICTURES / 30);
		return 2;
	}
	av_log_set_level(AV_LOG_QUIET);
	clip c;
	if((c.n = footage_i420(path, seconds * 30, W, H, c.pictures)) < seconds * 30) {
		fprintf(stderr, "%s: fewer than %d pictures\n", path, seconds * 30);
		return 1;
	}
	printf("# %s, %d s at 640x480, target %d kbit/s%s\n", path, seconds, kbps,
		tick_clock ? ", pictures a tick apart (the old clock)" : "");
	for(int ci = 0; ci < 2; ci++)
		for(int i = 0; i < n_options[ci]; i++)
			printf("# %s option %s\n", ci ? "h264" : "vp8", options[ci][i]);
	printf("| codec | pictures/s | kbit/s reached | of target | luma PSNR dB | SSIM | encode CPU ms/frame |\n"
		"| --- | --- | --- | --- | --- | --- | --- |\n");
	static const ooblex_codec codecs[] = { OOBLEX_CODEC_VP8, OOBLEX_CODEC_H264 };
	static const int rates[] = { 30, 15, 10 };
	for(size_t k = 0; k < 2; k++)
		for(size_t j = 0; j < 3; j++) {
			result r;
			if(run(&c, codecs[k], rates[j], kbps, tick_clock, &r) < 0)
				return 1;
			printf("| %s | %d | %.0f | %.0f %% | %.1f | %.3f | %.2f |\n", ooblex_codec_name(codecs[k]), rates[j], r.kbps,
				100 * r.kbps / kbps, r.psnr, r.ssim, r.encode_ms);
			fflush(stdout);
		}
	for(int i = 0; i < c.n; i++)
		free(c.pictures[i]);
	return 0;
}
