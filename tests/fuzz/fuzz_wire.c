/*
 * fuzz_wire.c - the frame and result message, as the worker and the plugin read it.
 *
 * fuzz-sources: common/ooblex_wire.c common/ooblex_wire_check.c common/ooblex_jpeg.c
 * fuzz-pkgs: libturbojpeg
 *
 * The input is one Redis list element. Whoever can write to Redis controls
 * it whole, so every byte is arbitrary. Checked:
 *  - ooblex_wire_parse never reads past the message (the input buffer is
 *    exactly its size under ASan) and, when it accepts, the header is
 *    consistent: the payload is the rest of the message, raw formats are
 *    exactly width x height in their format, strings are NUL-terminated
 *    within their bounds; an error result (kind ERROR) has no picture, and
 *    its reason, printable, is the whole payload after the code;
 *  - round trip: writing the parsed header and payload again gives a message
 *    that parses to the same header, and writing that gives the same bytes
 *    (build(parse(x)) is stable); when x carried nothing a reader skips, it
 *    is x itself;
 *  - the worker (ooblex_wire_accept_frame, as worker/worker_loop.c): for a
 *    frame it accepts, reading the whole picture its header announces stays
 *    in the payload, a JPEG payload decodes into the width x height x 3
 *    buffer the worker gives it (or is refused), and the result the worker
 *    would build from the header parses, and is accepted by the plugin when
 *    its names are UTF-8;
 *  - the plugin (ooblex_wire_accept_result, as janus_ooblex_on_result): a
 *    result it accepts is a JPEG, or an I420 picture of even size and
 *    exactly ooblex_pixfmt_size() bytes (video_reply_format), or no
 *    picture at all (pixfmt NONE, output "metadata"), for this client with
 *    names jansson takes; the worker's I420 answer to a frame that asks for
 *    it is accepted when its size is even, its metadata-only answer always.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooblex_jpeg.h"
#include "ooblex_wire.h"
#include "ooblex_wire_check.h"

#define CHECK(cond) do { if(!(cond)) { \
	fprintf(stderr, "fuzz_wire: invariant failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while(0)

/* Decoding a huge JPEG costs seconds per input and tells nothing new. */
#define DECODE_MAX_PIXELS (1024u * 1024u)

static ooblex_jpeg *jpeg;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
	(void)argc;
	(void)argv;
	jpeg = ooblex_jpeg_new(OOBLEX_JPEG_DECODER | OOBLEX_JPEG_FAST);
	return jpeg == NULL;
}

static int same_header(const ooblex_frame_header *a, const ooblex_frame_header *b) {
	return a->kind == b->kind && !memcmp(a->client_id, b->client_id, OOBLEX_CLIENT_ID_LEN) &&
		a->frame_id == b->frame_id && a->seq == b->seq && a->capture_us == b->capture_us &&
		a->queued_us == b->queued_us && a->deadline_us == b->deadline_us &&
		a->worker_start_us == b->worker_start_us && a->worker_end_us == b->worker_end_us &&
		a->width == b->width && a->height == b->height && a->pixfmt == b->pixfmt &&
		a->reply_pixfmt == b->reply_pixfmt && a->jpeg_quality == b->jpeg_quality &&
		!strcmp(a->effect, b->effect) && !strcmp(a->worker, b->worker) && !strcmp(a->meta, b->meta) &&
		a->payload_len == b->payload_len;
}

/* Writes header and payload into a new exact-size buffer. */
static uint8_t *build(const ooblex_frame_header *h, const uint8_t *payload, size_t *len) {
	size_t hlen = ooblex_wire_header_len(h);
	CHECK(hlen <= UINT16_MAX);
	*len = hlen + h->payload_len;
	uint8_t *msg = malloc(*len);
	CHECK(msg != NULL);
	CHECK(ooblex_wire_write_header(h, msg) == hlen);
	memcpy(msg + hlen, payload, h->payload_len);
	return msg;
}

static void check_parsed(const uint8_t *data, size_t size, const ooblex_frame_header *h, const uint8_t *payload) {
	CHECK(h->kind == OOBLEX_KIND_FRAME || h->kind == OOBLEX_KIND_RESULT || h->kind == OOBLEX_KIND_ERROR);
	CHECK(payload >= data && payload + h->payload_len == data + size);
	CHECK(h->width >= 1 && h->width <= OOBLEX_MAX_DIMENSION && h->height >= 1 && h->height <= OOBLEX_MAX_DIMENSION);
	CHECK(h->payload_len <= OOBLEX_MAX_PAYLOAD);
	CHECK(strlen(h->effect) <= OOBLEX_NAME_MAX && strlen(h->worker) <= OOBLEX_NAME_MAX);
	CHECK(strlen(h->meta) <= OOBLEX_META_MAX);
	size_t w = h->width, ht = h->height;
	if(h->kind == OOBLEX_KIND_ERROR) {
		/* A worker's "could not process": no picture, a u16 code, then the
		 * reason, printable ASCII, whole in h->error. */
		CHECK(h->pixfmt == OOBLEX_PIXFMT_NONE);
		CHECK(h->payload_len >= 3 && h->payload_len <= 2 + OOBLEX_ERROR_TEXT_MAX);
		CHECK(h->error_code == (payload[0] | (unsigned)payload[1] << 8));	/* little-endian, as all fields */
		CHECK(strlen(h->error) == h->payload_len - 2 && !memcmp(h->error, payload + 2, h->payload_len - 2));
		for(const char *c = h->error; *c; c++)
			CHECK(*c >= 0x20 && *c <= 0x7e);
	} else if(h->pixfmt == OOBLEX_PIXFMT_I420)
		CHECK(h->payload_len == w * ht + 2 * ((w + 1) / 2) * ((ht + 1) / 2));
	else if(h->pixfmt == OOBLEX_PIXFMT_RGB24)
		CHECK(h->payload_len == w * ht * 3);
	else if(h->pixfmt == OOBLEX_PIXFMT_NONE)	/* a metadata-only result: no picture */
		CHECK(h->kind == OOBLEX_KIND_RESULT && h->payload_len == 0);
	else
		CHECK(h->pixfmt == OOBLEX_PIXFMT_JPEG && h->payload_len >= 4);
}

static void check_round_trip(const uint8_t *data, size_t size, const ooblex_frame_header *h, const uint8_t *payload) {
	size_t len1 = 0, len2 = 0;
	uint8_t *msg1 = build(h, payload, &len1);
	ooblex_frame_header h1;
	const uint8_t *p1 = NULL;
	CHECK(ooblex_wire_parse(msg1, len1, &h1, &p1) == OOBLEX_WIRE_OK);
	CHECK(same_header(h, &h1));
	CHECK(!memcmp(p1, payload, h->payload_len));
	/* Nothing a reader skips (unknown fields, an empty metadata section):
	 * the message is written back byte for byte. */
	size_t hlen = (size_t)data[6] | ((size_t)data[7] << 8);
	if(hlen == ooblex_wire_header_len(h))
		CHECK(len1 == size && !memcmp(msg1, data, size));
	uint8_t *msg2 = build(&h1, p1, &len2);
	CHECK(len2 == len1 && !memcmp(msg1, msg2, len1));
	free(msg2);
	free(msg1);
}

/* What worker/worker_loop.c's process() does with an accepted frame's
 * header, short of running the effect. */
static void as_worker(const ooblex_frame_header *h, const uint8_t *payload) {
	size_t pixels = (size_t)h->width * h->height;
	if(h->pixfmt != OOBLEX_PIXFMT_JPEG) {
		/* The effect reads the whole picture from the payload. */
		size_t need = ooblex_pixfmt_size(h->pixfmt, h->width, h->height);
		CHECK(need == h->payload_len);
		volatile uint8_t last = payload[need - 1];
		(void)last;
	} else if(pixels <= DECODE_MAX_PIXELS) {
		uint8_t *decoded = malloc(pixels * 3);
		CHECK(decoded != NULL);
		int fmt = 0;
		char err[256];
		if(ooblex_jpeg_decode(jpeg, payload, h->payload_len, h->width, h->height, decoded, &fmt, err, sizeof(err)) >= 0)
			CHECK(fmt == OOBLEX_PIXFMT_I420 || fmt == OOBLEX_PIXFMT_RGB24);
		free(decoded);
	}
	/* The result: the frame's header with the worker's fields, a JPEG body,
	 * or the whole I420 picture when the frame asks for it (as
	 * worker_loop.c does; not for huge frames: it would only cost time). */
	static const uint8_t jpeg_body[] = { 0xff, 0xd8, 0xff, 0xd9 };
	ooblex_frame_header r = *h;
	r.kind = OOBLEX_KIND_RESULT;
	r.pixfmt = OOBLEX_PIXFMT_JPEG;
	r.payload_len = sizeof(jpeg_body);
	const uint8_t *body = jpeg_body;
	uint8_t *i420 = NULL;
	if(h->reply_pixfmt == OOBLEX_PIXFMT_NONE) {
		/* Output "metadata": what the effect found, no picture. */
		r.pixfmt = OOBLEX_PIXFMT_NONE;
		r.payload_len = 0;
	} else if(h->reply_pixfmt == OOBLEX_PIXFMT_I420 && pixels <= DECODE_MAX_PIXELS) {
		size_t n = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, h->width, h->height);
		i420 = calloc(1, n);
		CHECK(i420 != NULL);
		r.pixfmt = OOBLEX_PIXFMT_I420;
		r.payload_len = (uint32_t)n;
		body = i420;
	}
	snprintf(r.worker, sizeof(r.worker), "%s", "worker-1");
	snprintf(r.meta, sizeof(r.meta), "%s", "{\"faces\":[]}");
	r.worker_start_us = h->queued_us + 1;
	r.worker_end_us = h->queued_us + 2;
	size_t len = 0;
	uint8_t *msg = build(&r, body, &len);
	ooblex_frame_header back;
	const uint8_t *bp = NULL;
	const char *refused = ooblex_wire_accept_result(msg, len, h->client_id, &back, &bp);
	int odd_i420 = r.pixfmt == OOBLEX_PIXFMT_I420 && ((r.width | r.height) & 1);
	if(ooblex_utf8_valid(h->effect) && !odd_i420)
		CHECK(refused == NULL && same_header(&r, &back) && !memcmp(bp, body, r.payload_len));
	else
		CHECK(refused != NULL);
	free(msg);
	free(i420);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	ooblex_frame_header h;
	const uint8_t *payload = NULL;
	ooblex_wire_error e = ooblex_wire_parse(data, size, &h, &payload);
	CHECK(e >= OOBLEX_WIRE_OK && e <= OOBLEX_WIRE_BAD_SIZE);
	CHECK(ooblex_wire_error_str(e) != NULL);
	if(e == OOBLEX_WIRE_OK) {
		check_parsed(data, size, &h, payload);
		check_round_trip(data, size, &h, payload);
	}

	ooblex_frame_header fh;
	const uint8_t *fp = NULL;
	const char *frame_refused = ooblex_wire_accept_frame(data, size, &fh, &fp);
	CHECK((frame_refused == NULL) == (e == OOBLEX_WIRE_OK && h.kind == OOBLEX_KIND_FRAME));
	if(frame_refused == NULL)
		as_worker(&fh, fp);

	/* The plugin reads results from the list of the client they name; and
	 * from another client's list, where it must refuse them. */
	if(size >= 24) {
		uint8_t other[OOBLEX_CLIENT_ID_LEN];
		memcpy(other, data + 8, OOBLEX_CLIENT_ID_LEN);
		const char *refused = ooblex_wire_accept_result(data, size, other, &fh, &fp);
		if(refused == NULL) {
			CHECK(e == OOBLEX_WIRE_OK && ((fh.kind == OOBLEX_KIND_RESULT && fh.pixfmt == OOBLEX_PIXFMT_JPEG &&
				fh.payload_len >= 4) || (fh.kind == OOBLEX_KIND_RESULT && fh.pixfmt == OOBLEX_PIXFMT_I420 &&
				!((fh.width | fh.height) & 1) &&
				fh.payload_len == ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, fh.width, fh.height)) ||
				(fh.kind == OOBLEX_KIND_RESULT && fh.pixfmt == OOBLEX_PIXFMT_NONE && fh.payload_len == 0) ||
				(fh.kind == OOBLEX_KIND_ERROR && fh.pixfmt == OOBLEX_PIXFMT_NONE &&
				fh.payload_len >= 3 && fh.error[0] != '\0')));
			CHECK(ooblex_utf8_valid(fh.effect) && ooblex_utf8_valid(fh.worker));
			CHECK(fp == payload);
		}
		other[0] ^= 1;
		CHECK(ooblex_wire_accept_result(data, size, other, &fh, &fp) != NULL);
	}
	return 0;
}
