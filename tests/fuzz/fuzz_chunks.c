/*
 * fuzz_chunks.c - the data channel chunks the plugin sends to the page.
 *
 * fuzz-sources: plugin/egress/dc_chunker.c
 * fuzz-pkgs:
 *
 * The page reassembles chunks in JavaScript (html/js/ooblex.js,
 * ChunkAssembler); the C side only builds them, from a result's metadata
 * JSON and JPEG, both of which a worker (or whoever writes to Redis)
 * controls. This target feeds ooblex_chunk_frame arbitrary metadata, image
 * and message sizes, reassembles what it sends the way docs/protocol.md
 * describes, and checks:
 *  - every message is at most max_msg bytes, has a 24-byte version 1
 *    header, indexes 0..count-1 in order, the same count, meta_len,
 *    total_len and frame_id in all, offsets that tile the frame exactly;
 *  - the reassembled frame is the metadata followed by the JPEG;
 *  - a refused frame (too large, bad max_msg) sends nothing; a send that
 *    fails stops the frame at once.
 *
 * Input: [max_msg u16][frame_id u8][fail_at u8][meta_len u16] then the bytes,
 * split into meta_len of metadata and the rest as the image. The image may
 * be repeated (byte fail_at's high bit) to reach sizes that need many chunks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc_chunker.h"
#include "ooblex_bytes.h"

#define CHECK(cond) do { if(!(cond)) { \
	fprintf(stderr, "fuzz_chunks: invariant failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while(0)

typedef struct assembly {
	size_t max_msg;
	uint64_t frame_id;
	int fail_at;	/* the send that fails, or -1 */
	int sent, failed;
	unsigned count, meta_len;
	uint32_t total, next_offset;
	uint8_t *frame;
} assembly;

static int on_chunk(const uint8_t *msg, size_t len, void *user) {
	assembly *a = user;
	CHECK(!a->failed);	/* nothing after a failed send */
	CHECK(len >= OOBLEX_CHUNK_HEADER_LEN && len <= a->max_msg);
	CHECK(msg[0] == OOBLEX_CHUNK_VERSION && msg[1] == OOBLEX_CHUNK_HEADER_LEN);
	unsigned index = ooblex_get16(msg + 2), count = ooblex_get16(msg + 4), meta_len = ooblex_get16(msg + 6);
	uint32_t total = ooblex_get32(msg + 8), offset = ooblex_get32(msg + 12);
	CHECK(ooblex_get64(msg + 16) == a->frame_id);
	CHECK(index == (unsigned)a->sent && count >= 1 && index < count);
	if(a->sent == 0) {
		a->count = count;
		a->meta_len = meta_len;
		a->total = total;
		CHECK(meta_len <= total);
		a->frame = malloc(total ? total : 1);
		CHECK(a->frame != NULL);
	}
	CHECK(count == a->count && meta_len == a->meta_len && total == a->total);
	CHECK(offset == a->next_offset);
	size_t body = len - OOBLEX_CHUNK_HEADER_LEN;
	CHECK(body <= total - offset);
	/* Only the last chunk may be short; only an empty frame has an empty chunk. */
	if(index + 1 < count)
		CHECK(len == a->max_msg);
	else
		CHECK(offset + body == total);
	CHECK(body > 0 || total == 0);
	memcpy(a->frame + offset, msg + OOBLEX_CHUNK_HEADER_LEN, body);
	a->next_offset += (uint32_t)body;
	if(a->sent++ == a->fail_at) {
		a->failed = 1;
		return -1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if(size < 6)
		return 0;
	assembly a;
	memset(&a, 0, sizeof(a));
	a.max_msg = (size_t)data[0] | (size_t)data[1] << 8;
	a.frame_id = 0x0102030405060700ull | data[2];
	a.fail_at = (data[3] & 0x7f) == 0x7f ? -1 : data[3] & 0x7f;
	size_t meta_len = (size_t)data[4] | (size_t)data[5] << 8;
	int repeat = (data[3] & 0x80) != 0;
	data += 6;
	size -= 6;
	if(meta_len > size)
		meta_len = size;
	const uint8_t *meta = data, *img = data + meta_len;
	size_t img_len = size - meta_len;
	uint8_t *big = NULL;
	if(repeat && img_len > 0) {
		/* A result-sized image: the input's image repeated to ~200 KB. */
		size_t reps = 200000 / img_len + 1;
		big = malloc(img_len * reps);
		CHECK(big != NULL);
		for(size_t i = 0; i < reps; i++)
			memcpy(big + i * img_len, img, img_len);
		img = big;
		img_len *= reps;
	}
	int n = ooblex_chunk_frame(a.frame_id, meta, meta_len, img, img_len, a.max_msg, on_chunk, &a);
	int sane = a.max_msg > OOBLEX_CHUNK_HEADER_LEN && a.max_msg <= 65535 && meta_len <= 65535;
	if(!sane)
		CHECK(n == -1 && a.sent == 0);
	if(a.failed) {
		CHECK(n == -1 && a.sent == a.fail_at + 1);
	} else if(n >= 0) {
		CHECK(sane && n == a.sent && (unsigned)n == a.count);
		CHECK(a.total == meta_len + img_len && a.next_offset == a.total && a.meta_len == meta_len);
		CHECK(!memcmp(a.frame, meta, meta_len));
		CHECK(!memcmp(a.frame + meta_len, img, img_len));
	} else {
		/* Refused as too large: before sending anything. */
		CHECK(a.sent == 0);
	}
	free(a.frame);
	free(big);
	return 0;
}
