/*
 * jpeg_quality.c - what a processed frame costs on the data channel against
 * how it looks, per JPEG quality and chroma subsampling: the figures the
 * default jpeg_quality is chosen by (README, "JPEG quality").
 *
 * The frames are real footage as the plugin decodes it: the load
 * generators' source (encoded_source.h: 640x480, a webcam's sensor noise,
 * VP8 at ~2 Mbit/s, decoded by libavcodec). Each goes through the worker's
 * own effect (ooblex_effects_apply, `invert` by default): that raw I420
 * output is the reference. It is then coded as the worker codes results
 * (ooblex_jpeg_encode_i420: TurboJPEG, 4:2:0, fast DCT) and decoded with
 * the accurate IDCT, as a browser does, and compared with the reference:
 * PSNR of luma and of all three planes (I420, by sample), and SSIM of luma
 * (picture_quality.h: 8x8 windows every 4 pixels, the usual constants). For 4:4:4 the chroma
 * planes are upsampled (pixel replication) and coded at full size, and the
 * decoded chroma averaged back to 4:2:0 before comparing. Mbit/s is the
 * data channel's load per client at 10 results/s (FRAME_SKIP=3).
 *
 *   jpeg_quality [--footage FILE] [--frames N] [--effect NAME] [--qualities 50,60,...]
 * Prints a Markdown table, then one JSON line per row.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>
#include <libavutil/log.h>

#include "effects.h"
#include "encoded_source.h"
#include "ooblex_jpeg.h"
#include "ooblex_wire.h"
#include "picture_quality.h"

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#define CW (W / 2)
#define CH (H / 2)

/* Sum of squared differences of two packed planes (picture_quality.h's
 * MSE times the samples), so that PSNR can be taken over all frames. */
static double sse(const uint8_t *a, const uint8_t *b, int w, int h) {
	return quality_mse(a, w, b, w, w, h) * (double)w * (double)h;
}

static double psnr(double sum_sq, size_t n) {
	return quality_psnr(sum_sq / (double)n);
}

typedef struct row {
	const char *sampling;
	int quality;
	double bytes, encode_ms, psnr_y, psnr_all, ssim_y;
} row;

int main(int argc, char **argv) {
	const char *footage = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
	const char *effect = "invert";
	int frames = 90;
	int qualities[32] = { 50, 60, 70, 75, 80, 85, 90 }, nq = 7;
	for(int i = 1; i + 1 < argc; i += 2) {
		if(!strcmp(argv[i], "--footage"))
			footage = argv[i + 1];
		else if(!strcmp(argv[i], "--frames"))
			frames = atoi(argv[i + 1]);
		else if(!strcmp(argv[i], "--effect"))
			effect = argv[i + 1];
		else if(!strcmp(argv[i], "--qualities")) {
			nq = 0;
			for(char *s = argv[i + 1]; *s && nq < 32; ) {
				qualities[nq++] = (int)strtol(s, &s, 10);
				if(*s == ',')
					s++;
				else if(*s)
					break;
			}
		} else {
			fprintf(stderr, "usage: jpeg_quality [--footage FILE] [--frames N] [--effect NAME] [--qualities 50,60]\n");
			return 2;
		}
	}
	av_log_set_level(AV_LOG_ERROR);
	const char *what;
	if(prepare_source("vp8", footage, 2, &what) != 0) {
		fprintf(stderr, "jpeg_quality: cannot encode the source\n");
		return 1;
	}
	if(frames > source_n)
		frames = source_n;
	/* The worker's raw output for each frame: the reference. */
	ooblex_effects *fx = ooblex_effects_new();
	uint8_t **ref = calloc((size_t)frames, sizeof(*ref));
	uint8_t *in = malloc(I420_SIZE);
	char err[256];
	for(int f = 0; f < frames; f++) {
		const AVFrame *p = source_pictures[f];
		for(int y = 0; y < H; y++)
			memcpy(in + y * W, p->data[0] + y * p->linesize[0], W);
		for(int y = 0; y < CH; y++) {
			memcpy(in + W * H + y * CW, p->data[1] + y * p->linesize[1], CW);
			memcpy(in + W * H + CW * CH + y * CW, p->data[2] + y * p->linesize[2], CW);
		}
		ref[f] = malloc(I420_SIZE);
		if(ooblex_effects_apply(fx, effect, OOBLEX_PIXFMT_I420, in, W, H, ref[f], err, sizeof(err)) < 0) {
			fprintf(stderr, "jpeg_quality: effect %s: %s\n", effect, err);
			return 1;
		}
	}
	ooblex_jpeg *enc = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER);
	ooblex_jpeg *dec = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);	/* accurate IDCT, as a browser */
	tjhandle tj = tjInitCompress(), tjd = tjInitDecompress();
	uint8_t *out = malloc(I420_SIZE);
	uint8_t *up = malloc((size_t)W * H * 3), *dec444 = malloc((size_t)W * H * 3);
	/* Sized for the worst case once: TurboJPEG writes into it, never reallocates. */
	unsigned long jmax = tjBufSize(W, H, TJSAMP_444), jcap;
	unsigned char *jbuf = tjAlloc((int)jmax);
	row rows[64];
	int nrows = 0;
	for(int s = 0; s < 2; s++)
		for(int qi = 0; qi < nq; qi++) {
			row *r = &rows[nrows++];
			memset(r, 0, sizeof(*r));
			r->sampling = s ? "4:4:4" : "4:2:0";
			r->quality = qualities[qi];
			double sy = 0, sall = 0, ssim = 0, bytes = 0, ms = 0;
			for(int f = 0; f < frames; f++) {
				const uint8_t *jpeg;
				size_t len;
				if(s == 0) {
					double t0 = now_ms();
					if(ooblex_jpeg_encode_i420(enc, ref[f], W, H, r->quality, &jpeg, &len, err, sizeof(err)) < 0) {
						fprintf(stderr, "jpeg_quality: %s\n", err);
						return 1;
					}
					ms += now_ms() - t0;
					if(ooblex_jpeg_decode_i420(dec, jpeg, len, W, H, out, err, sizeof(err)) < 0) {
						fprintf(stderr, "jpeg_quality: %s\n", err);
						return 1;
					}
				} else {
					/* Chroma at full size (replicated), coded 4:4:4. */
					memcpy(up, ref[f], (size_t)W * H);
					for(int c = 0; c < 2; c++) {
						const uint8_t *src = ref[f] + W * H + c * CW * CH;
						uint8_t *dst = up + (size_t)W * H * (1 + c);
						for(int y = 0; y < H; y++)
							for(int x = 0; x < W; x++)
								dst[y * W + x] = src[(y / 2) * CW + x / 2];
					}
					const unsigned char *planes[3] = { up, up + W * H, up + 2 * W * H };
					int strides[3] = { W, W, W };
					double t0 = now_ms();
					jcap = jmax;
					if(tjCompressFromYUVPlanes(tj, planes, W, strides, H, TJSAMP_444, &jbuf, &jcap, r->quality,
							TJFLAG_FASTDCT | TJFLAG_NOREALLOC) < 0) {
						fprintf(stderr, "jpeg_quality: %s\n", tjGetErrorStr2(tj));
						return 1;
					}
					ms += now_ms() - t0;
					len = jcap;
					unsigned char *dp[3] = { dec444, dec444 + W * H, dec444 + 2 * W * H };
					if(tjDecompressToYUVPlanes(tjd, jbuf, jcap, dp, W, strides, H, 0) < 0) {
						fprintf(stderr, "jpeg_quality: %s\n", tjGetErrorStr2(tjd));
						return 1;
					}
					memcpy(out, dec444, (size_t)W * H);
					for(int c = 0; c < 2; c++) {
						const uint8_t *src = dec444 + (size_t)W * H * (1 + c);
						uint8_t *dst = out + W * H + c * CW * CH;
						for(int y = 0; y < CH; y++)
							for(int x = 0; x < CW; x++)
								dst[y * CW + x] = (uint8_t)((src[2 * y * W + 2 * x] + src[2 * y * W + 2 * x + 1] +
									src[(2 * y + 1) * W + 2 * x] + src[(2 * y + 1) * W + 2 * x + 1] + 2) / 4);
					}
				}
				bytes += (double)len;
				double ey = sse(ref[f], out, W, H);
				sy += ey;
				sall += ey + sse(ref[f] + W * H, out + W * H, CW, CH * 2);
				ssim += quality_ssim(ref[f], W, out, W, W, H);
			}
			r->bytes = bytes / frames;
			r->encode_ms = ms / frames;
			r->psnr_y = psnr(sy, (size_t)frames * W * H);
			r->psnr_all = psnr(sall, (size_t)frames * I420_SIZE);
			r->ssim_y = ssim / frames;
		}
	printf("Source: %s, %d frames of %dx%d; effect `%s`; reference: the worker's raw output.\n\n", what, frames, W, H,
		effect);
	printf("| sampling | quality | bytes/frame | Mbit/s at 10 results/s | encode (ms) | PSNR Y (dB) | PSNR YUV (dB) | SSIM Y |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for(int i = 0; i < nrows; i++)
		printf("| %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.4f |\n", rows[i].sampling, rows[i].quality,
			rows[i].bytes, rows[i].bytes * 10 * 8 / 1e6, rows[i].encode_ms, rows[i].psnr_y, rows[i].psnr_all,
			rows[i].ssim_y);
	for(int i = 0; i < nrows; i++)
		printf("JSON: {\"sampling\":\"%s\",\"quality\":%d,\"bytes\":%.0f,\"encode_ms\":%.3f,\"psnr_y\":%.3f,"
			"\"psnr_yuv\":%.3f,\"ssim_y\":%.5f}\n", rows[i].sampling, rows[i].quality, rows[i].bytes,
			rows[i].encode_ms, rows[i].psnr_y, rows[i].psnr_all, rows[i].ssim_y);
	tjFree(jbuf);
	tjDestroy(tj);
	tjDestroy(tjd);
	ooblex_jpeg_free(enc);
	ooblex_jpeg_free(dec);
	for(int f = 0; f < frames; f++)
		free(ref[f]);
	free(ref);
	free(in);
	free(out);
	free(up);
	free(dec444);
	ooblex_effects_free(fx);
	return 0;
}
