/*
 * test_chunker.c - data channel chunking and its reassembly.
 */
#include "testlib.h"
#include "dc_chunker.h"

typedef struct sink {
	uint8_t frame[300000];
	size_t max_seen;
	int chunks;
	int fail_at;	/* return -1 on this chunk index, or -1 for never */
	uint16_t count;
	uint16_t meta_len;
	uint32_t total;
	uint64_t frame_id;
	int bad_header;
} sink;

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }

/* Reassembles like html/js/ooblex.js does, from the header fields alone. */
static int collect(const uint8_t *msg, size_t len, void *user) {
	sink *s = user;
	if(s->chunks == s->fail_at)
		return -1;
	if(len > s->max_seen)
		s->max_seen = len;
	if(msg[0] != OOBLEX_CHUNK_VERSION || msg[1] != OOBLEX_CHUNK_HEADER_LEN || rd16(msg + 2) != s->chunks)
		s->bad_header = 1;
	s->count = rd16(msg + 4);
	s->meta_len = rd16(msg + 6);
	s->total = rd32(msg + 8);
	uint32_t off = rd32(msg + 12);
	s->frame_id = (uint64_t)rd32(msg + 16) | ((uint64_t)rd32(msg + 20) << 32);
	if(off + (len - OOBLEX_CHUNK_HEADER_LEN) > sizeof(s->frame))
		s->bad_header = 1;
	else
		memcpy(s->frame + off, msg + OOBLEX_CHUNK_HEADER_LEN, len - OOBLEX_CHUNK_HEADER_LEN);
	s->chunks++;
	return 0;
}

static sink s;

static void check_roundtrip(size_t meta_len, size_t jpeg_len, size_t max_msg) {
	static uint8_t meta[70000], jpeg[250000];
	for(size_t i = 0; i < meta_len; i++)
		meta[i] = (uint8_t)('a' + i % 26);
	for(size_t i = 0; i < jpeg_len; i++)
		jpeg[i] = (uint8_t)(i * 13 + 1);
	memset(&s, 0, sizeof(s));
	s.fail_at = -1;
	int n = ooblex_chunk_frame(0x1122334455ull, meta, meta_len, jpeg, jpeg_len, max_msg, collect, &s);
	size_t body = max_msg - OOBLEX_CHUNK_HEADER_LEN;
	size_t want = (meta_len + jpeg_len + body - 1) / body;
	if(want == 0)
		want = 1;
	EXPECT_EQ(n, want);
	EXPECT_EQ(s.chunks, want);
	EXPECT_EQ(s.count, want);
	EXPECT(s.max_seen <= max_msg);
	EXPECT_EQ(s.bad_header, 0);
	EXPECT_EQ(s.meta_len, meta_len);
	EXPECT_EQ(s.total, meta_len + jpeg_len);
	EXPECT(s.frame_id == 0x1122334455ull);
	EXPECT(memcmp(s.frame, meta, meta_len) == 0);
	EXPECT(memcmp(s.frame + meta_len, jpeg, jpeg_len) == 0);
}

static void test_typical_frame(void) { check_roundtrip(300, 45000, OOBLEX_CHUNK_MAX); }
static void test_exact_multiple(void) { check_roundtrip(100, 2 * (OOBLEX_CHUNK_MAX - 24) - 100, OOBLEX_CHUNK_MAX); }
static void test_meta_straddles_chunks(void) { check_roundtrip(40000, 1000, OOBLEX_CHUNK_MAX); }
static void test_tiny_chunks(void) { check_roundtrip(10, 1000, 25); }
static void test_large_frame(void) { check_roundtrip(500, 240000, OOBLEX_CHUNK_MAX); }
static void test_empty_frame(void) { check_roundtrip(0, 0, OOBLEX_CHUNK_MAX); }

static void test_limits_refused(void) {
	uint8_t b[10] = { 0 };
	memset(&s, 0, sizeof(s));
	s.fail_at = -1;
	EXPECT_EQ(ooblex_chunk_frame(1, b, 1, b, 1, 24, collect, &s), -1);	/* no room for a body */
	EXPECT_EQ(ooblex_chunk_frame(1, b, 1, b, 1, 65536, collect, &s), -1);	/* over Janus' cap */
	EXPECT_EQ(s.chunks, 0);
}

static void test_send_failure_stops(void) {
	static uint8_t jpeg[100000];
	memset(&s, 0, sizeof(s));
	s.fail_at = 2;
	EXPECT_EQ(ooblex_chunk_frame(1, NULL, 0, jpeg, sizeof(jpeg), OOBLEX_CHUNK_MAX, collect, &s), -1);
	EXPECT_EQ(s.chunks, 2);
}

int main(void) {
	TEST_RUN(test_typical_frame);
	TEST_RUN(test_exact_multiple);
	TEST_RUN(test_meta_straddles_chunks);
	TEST_RUN(test_tiny_chunks);
	TEST_RUN(test_large_frame);
	TEST_RUN(test_empty_frame);
	TEST_RUN(test_limits_refused);
	TEST_RUN(test_send_failure_stops);
	return tl_done();
}
