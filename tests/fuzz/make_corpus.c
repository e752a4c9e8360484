/*
 * make_corpus.c - writes the seed corpora that are made from real data.
 *
 * fuzz-sources: tests/video_test_source.c plugin/egress/video_encoder.c plugin/egress/rtp_packetizer.c common/ooblex_codec.c common/ooblex_wire.c common/ooblex_jpeg.c
 * fuzz-pkgs: libavcodec libavutil libturbojpeg
 *
 * Not a fuzz target (tests/fuzz/run.sh builds it for `run.sh seeds`):
 *  - corpus/rtp_depay/: real RTP from tests/video_test_source.c (the plugin's
 *    own libvpx / libx264 encoder and packetizer, 320x240, as a browser
 *    sends), in the framing fuzz_rtp_depay.c reads, in order and with the
 *    reordering, duplicates, losses and decoder resets a network and a
 *    decoder produce;
 *  - corpus/wire/: frames as the plugin packs them (I420, RGB24, JPEG) and
 *    results as a worker writes them (JPEG, with metadata, with a header
 *    extended by a newer writer, I420, metadata only).
 * Usage: make_corpus CORPUS_DIR (tests/fuzz/corpus).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ooblex_jpeg.h"
#include "ooblex_wire.h"
#include "video_test_source.h"

typedef struct packets {
	uint8_t *data[64];
	size_t len[64];
	int n;
} packets;

static void collect(const uint8_t *pkt, size_t len, void *user) {
	packets *p = user;
	if(p->n >= 64)
		return;
	p->data[p->n] = malloc(len);
	if(p->data[p->n] == NULL)
		return;
	memcpy(p->data[p->n], pkt, len);
	p->len[p->n++] = len;
}

static const char *out_dir;

static int write_file(const char *sub, const char *name, const uint8_t *data, size_t len) {
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", out_dir, sub);
	if(mkdir(path, 0755) < 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, sub, name);
	FILE *f = fopen(path, "wb");
	if(f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "make_corpus: cannot write %s\n", path);
		return -1;
	}
	printf("%s (%zu bytes)\n", path, len);
	return 0;
}

/* One fuzz_rtp_depay input: mode, jitter size, then the packets in the
 * order given by `order` (indices into p; -1 ends), each with its control. */
static int write_rtp(const char *name, uint8_t mode, uint8_t jitter, const packets *p, const int *order,
		const uint8_t *controls) {
	size_t cap = 2, len = 2;
	for(int i = 0; order[i] >= 0; i++)
		cap += 3 + p->len[order[i]];
	uint8_t *buf = malloc(cap);
	if(buf == NULL)
		return -1;
	buf[0] = mode;
	buf[1] = jitter;
	for(int i = 0; order[i] >= 0; i++) {
		size_t n = p->len[order[i]];
		buf[len++] = (uint8_t)(n >> 8);
		buf[len++] = (uint8_t)n;
		buf[len++] = controls ? controls[i] : 33;
		memcpy(buf + len, p->data[order[i]], n);
		len += n;
	}
	int rc = write_file("rtp_depay", name, buf, len);
	free(buf);
	return rc;
}

static int rtp_seeds(const char *codec, uint8_t codec_bit) {
	video_test_source *src = video_test_source_new(codec, 320, 240, 30, 600);
	if(src == NULL) {
		fprintf(stderr, "make_corpus: no %s encoder\n", codec);
		return -1;
	}
	packets p = { .n = 0 };
	for(int f = 0; f < 4; f++)
		video_test_source_next(src, collect, &p);
	video_test_source_free(src);
	if(p.n < 4) {
		fprintf(stderr, "make_corpus: %s gave only %d packets\n", codec, p.n);
		return -1;
	}
	int order[80], k = 0;
	uint8_t controls[80];
	char name[64];
	int rc = 0;
	/* As sent. */
	for(int i = 0; i < p.n; i++)
		order[k++] = i;
	order[k] = -1;
	snprintf(name, sizeof(name), "%s_in_order", codec);
	rc |= write_rtp(name, codec_bit, 0, &p, order, NULL);
	/* Neighbours swapped, one packet twice, a small jitter buffer (8 packets, 2 ms). */
	k = 0;
	for(int i = 0; i + 1 < p.n; i += 2) {
		order[k] = i + 1;
		controls[k++] = 1;
		order[k] = i;
		controls[k++] = 1;
	}
	if(p.n % 2)
		order[k] = p.n - 1, controls[k++] = 1;
	order[k] = 2;
	controls[k++] = 0;
	order[k] = -1;
	snprintf(name, sizeof(name), "%s_reordered", codec);
	rc |= write_rtp(name, codec_bit | 0x08, 0x47, &p, order, controls);
	/* The keyframe's second packet lost (given up after the wait), a decoder
	 * reset after the third frame's first packet. */
	k = 0;
	for(int i = 0; i < p.n; i++) {
		if(i == 1)
			continue;
		order[k] = i;
		controls[k++] = (uint8_t)(i == p.n - 2 ? 0x40 | 33 : i == 2 ? 0x80 | 33 : 33);
	}
	order[k] = -1;
	snprintf(name, sizeof(name), "%s_loss_reset", codec);
	rc |= write_rtp(name, codec_bit, 0, &p, order, controls);
	for(int i = 0; i < p.n; i++)
		free(p.data[i]);
	return rc;
}

static int write_message(const char *name, ooblex_frame_header *h, const uint8_t *payload, size_t extra_header) {
	size_t hlen = ooblex_wire_header_len(h);
	size_t len = hlen + extra_header + h->payload_len;
	uint8_t *buf = calloc(1, len);
	if(buf == NULL)
		return -1;
	ooblex_wire_write_header(h, buf);
	if(extra_header) {
		/* A newer writer's header: longer, with fields this reader skips. */
		buf[6] = (uint8_t)(hlen + extra_header);
		buf[7] = (uint8_t)((hlen + extra_header) >> 8);
		memset(buf + hlen, 0xab, extra_header);
	}
	memcpy(buf + hlen + extra_header, payload, h->payload_len);
	int rc = write_file("wire", name, buf, len);
	free(buf);
	return rc;
}

static int wire_seeds(void) {
	enum { W = 32, H = 24 };
	uint8_t i420[W * H * 3 / 2 + W + H];
	test_pattern_i420(i420, W, H, 7);
	uint8_t rgb[8 * 8 * 3];
	for(size_t i = 0; i < sizeof(rgb); i++)
		rgb[i] = (uint8_t)(i * 7);
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER | OOBLEX_JPEG_FAST);
	const uint8_t *jpeg = NULL;
	size_t jpeg_len = 0;
	char err[256];
	if(j == NULL || ooblex_jpeg_encode_i420(j, i420, W, H, 60, &jpeg, &jpeg_len, err, sizeof(err)) < 0) {
		fprintf(stderr, "make_corpus: JPEG: %s\n", j ? err : "no TurboJPEG");
		ooblex_jpeg_free(j);
		return -1;
	}
	ooblex_frame_header h;
	memset(&h, 0, sizeof(h));
	h.kind = OOBLEX_KIND_FRAME;
	for(int i = 0; i < OOBLEX_CLIENT_ID_LEN; i++)
		h.client_id[i] = (uint8_t)(0x11 * i);
	h.frame_id = 42;
	h.seq = 7;
	h.capture_us = 1700000000000000ull;
	h.queued_us = h.capture_us + 4000;
	h.deadline_us = h.capture_us + 500000;
	h.width = W;
	h.height = H;
	h.pixfmt = OOBLEX_PIXFMT_I420;
	h.reply_pixfmt = OOBLEX_PIXFMT_JPEG;
	h.jpeg_quality = 80;
	snprintf(h.effect, sizeof(h.effect), "%s", "ffmpeg:hflip,boxblur=2");
	h.payload_len = (uint32_t)ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, W, H);
	int rc = write_message("frame_i420", &h, i420, 0);

	h.pixfmt = OOBLEX_PIXFMT_RGB24;
	h.width = h.height = 8;
	h.reply_pixfmt = OOBLEX_PIXFMT_I420;
	snprintf(h.effect, sizeof(h.effect), "%s", "grayscale");
	h.payload_len = sizeof(rgb);
	rc |= write_message("frame_rgb24", &h, rgb, 0);

	h.pixfmt = OOBLEX_PIXFMT_JPEG;
	h.width = W;
	h.height = H;
	h.payload_len = (uint32_t)jpeg_len;
	rc |= write_message("frame_jpeg", &h, jpeg, 0);

	h.kind = OOBLEX_KIND_RESULT;
	h.reply_pixfmt = OOBLEX_PIXFMT_JPEG;
	h.worker_start_us = h.queued_us + 1000;
	h.worker_end_us = h.queued_us + 9000;
	snprintf(h.worker, sizeof(h.worker), "%s", "worker-host-1234");
	rc |= write_message("result_jpeg", &h, jpeg, 0);
	snprintf(h.meta, sizeof(h.meta), "%s", "{\"faces\":[{\"x\":4,\"y\":3,\"w\":10,\"h\":12,\"score\":0.9}]}");
	rc |= write_message("result_jpeg_meta", &h, jpeg, 0);
	h.meta[0] = '\0';
	rc |= write_message("result_extended_header", &h, jpeg, 12);
	/* A video-only session's result (video_reply_format): raw I420, and
	 * one of odd size, which the plugin refuses. */
	h.pixfmt = OOBLEX_PIXFMT_I420;
	h.reply_pixfmt = OOBLEX_PIXFMT_I420;
	h.payload_len = (uint32_t)ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, W, H);
	rc |= write_message("result_i420", &h, i420, 0);
	h.width = W - 1;
	h.height = H - 1;
	h.payload_len = (uint32_t)ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, W - 1, H - 1);
	rc |= write_message("result_i420_odd", &h, i420, 0);
	/* Output "metadata": what the effect found, no picture. */
	h.width = W;
	h.height = H;
	h.pixfmt = OOBLEX_PIXFMT_NONE;
	h.reply_pixfmt = OOBLEX_PIXFMT_NONE;
	h.payload_len = 0;
	snprintf(h.meta, sizeof(h.meta), "%s", "{\"faces\":[[4,3,10,12,0.9]]}");
	rc |= write_message("result_metadata_only", &h, i420, 0);
	/* A worker that could not process the frame: kind ERROR, a u16 code
	 * and the reason as payload. */
	static const char reason[] = "effect failed: no such model";
	uint8_t error_payload[2 + sizeof(reason) - 1] = { OOBLEX_FRAME_ERR_FAILED, 0 };
	memcpy(error_payload + 2, reason, sizeof(reason) - 1);
	h.kind = OOBLEX_KIND_ERROR;
	h.meta[0] = '\0';
	h.payload_len = sizeof(error_payload);
	rc |= write_message("result_error", &h, error_payload, 0);
	ooblex_jpeg_free(j);
	return rc;
}

int main(int argc, char **argv) {
	if(argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	int rc = rtp_seeds("vp8", 0x00);
	rc |= rtp_seeds("h264", 0x01);
	rc |= wire_seeds();
	return rc ? 1 : 0;
}
