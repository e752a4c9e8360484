/*
 * test_wire.c - the frame message format, client ids and Redis URLs.
 */
#include "testlib.h"
#include <unistd.h>
#include "ooblex_auth.h"
#include "ooblex_keys.h"
#include "ooblex_redis.h"
#include "ooblex_scripts.h"
#include "ooblex_wire.h"
#include "ooblex_wire_check.h"

static uint8_t *make_message(ooblex_frame_header *h, size_t *len) {
	size_t hlen = ooblex_wire_header_len(h);
	uint8_t *msg = malloc(hlen + h->payload_len);
	ooblex_wire_write_header(h, msg);
	for(uint32_t i = 0; i < h->payload_len; i++)
		msg[hlen + i] = (uint8_t)(i * 7);
	*len = hlen + h->payload_len;
	return msg;
}

static void sample_header(ooblex_frame_header *h) {
	memset(h, 0, sizeof(*h));
	h->kind = OOBLEX_KIND_FRAME;
	for(int i = 0; i < OOBLEX_CLIENT_ID_LEN; i++)
		h->client_id[i] = (uint8_t)(0xa0 + i);
	h->frame_id = 0x0102030405060708ull;
	h->seq = 77;
	h->capture_us = 1700000000123456ull;
	h->queued_us = 1700000000123999ull;
	h->deadline_us = 1700000001123456ull;
	h->width = 6;
	h->height = 4;
	h->pixfmt = OOBLEX_PIXFMT_I420;
	h->reply_pixfmt = OOBLEX_PIXFMT_JPEG;
	h->jpeg_quality = 85;
	strcpy(h->effect, "blur|grayscale");
	h->payload_len = (uint32_t)ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, 6, 4);
}

static void test_roundtrip(void) {
	ooblex_frame_header h, out;
	sample_header(&h);
	strcpy(h.worker, "host:42");
	size_t len;
	uint8_t *msg = make_message(&h, &len);
	const uint8_t *payload = NULL;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_OK);
	EXPECT_EQ(out.kind, OOBLEX_KIND_FRAME);
	EXPECT(memcmp(out.client_id, h.client_id, OOBLEX_CLIENT_ID_LEN) == 0);
	EXPECT(out.frame_id == h.frame_id);
	EXPECT_EQ(out.seq, 77);
	EXPECT(out.capture_us == h.capture_us && out.queued_us == h.queued_us && out.deadline_us == h.deadline_us);
	EXPECT_EQ(out.width, 6);
	EXPECT_EQ(out.height, 4);
	EXPECT_EQ(out.payload_len, 36);
	EXPECT_EQ(out.jpeg_quality, 85);
	EXPECT_EQ(out.reply_pixfmt, OOBLEX_PIXFMT_JPEG);
	EXPECT(strcmp(out.effect, "blur|grayscale") == 0);
	EXPECT(strcmp(out.worker, "host:42") == 0);
	EXPECT(payload == msg + ooblex_wire_header_len(&h));
	EXPECT_EQ(payload[5], 35);
	free(msg);
}

static void test_metadata_section(void) {
	/* A result with what the worker found: written after the worker string,
	 * read back; a header without it is unchanged; a bad length is refused. */
	ooblex_frame_header h, out;
	sample_header(&h);
	h.kind = OOBLEX_KIND_RESULT;
	strcpy(h.worker, "w1");
	size_t plain = ooblex_wire_header_len(&h);
	strcpy(h.meta, "{\"faces\":[[1,2,3,4]]}");
	EXPECT_EQ(ooblex_wire_header_len(&h), plain + 2 + strlen(h.meta));
	size_t len;
	uint8_t *msg = make_message(&h, &len);
	const uint8_t *payload = NULL;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_OK);
	EXPECT(strcmp(out.meta, h.meta) == 0);
	EXPECT(strcmp(out.worker, "w1") == 0);
	/* The length claims more than the header holds. */
	size_t moff = OOBLEX_WIRE_FIXED_LEN + strlen(h.effect) + 1 + 2;
	msg[moff] = 0xff;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_HEADER);
	free(msg);
	h.meta[0] = '\0';
	msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_OK);
	EXPECT_EQ(out.meta[0], '\0');
	EXPECT_EQ(ooblex_wire_header_len(&h), plain);
	free(msg);
}

static void test_metadata_only_results(void) {
	/* Output "metadata": a result with what the effect found and no
	 * picture (pixfmt NONE, payload empty) parses and is one the plugin
	 * accepts; NONE with bytes, or as a frame's own format, is refused. */
	ooblex_frame_header h, out;
	sample_header(&h);
	h.kind = OOBLEX_KIND_RESULT;
	h.pixfmt = OOBLEX_PIXFMT_NONE;
	h.payload_len = 0;
	strcpy(h.worker, "w1");
	strcpy(h.meta, "{\"faces\":[[10,20,30,40,0.9]]}");
	size_t len;
	uint8_t *msg = make_message(&h, &len);
	const uint8_t *payload = NULL;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_OK);
	EXPECT_EQ(out.pixfmt, OOBLEX_PIXFMT_NONE);
	EXPECT_EQ(out.payload_len, 0);
	EXPECT(strcmp(out.meta, h.meta) == 0);
	EXPECT(ooblex_wire_accept_result(msg, len, h.client_id, &out, &payload) == NULL);
	free(msg);
	h.payload_len = 4;	/* bytes where there is no picture */
	msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	free(msg);
	h.payload_len = 0;
	h.kind = OOBLEX_KIND_FRAME;	/* a frame must carry pixels */
	msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	free(msg);
	h.width = 0;	/* the size stays the frame's, and is checked */
	h.kind = OOBLEX_KIND_RESULT;
	msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	free(msg);
}

static void test_header_layout_is_fixed(void) {
	/* Other languages implement this format from docs/protocol.md: pin the offsets. */
	ooblex_frame_header h;
	sample_header(&h);
	size_t len;
	uint8_t *msg = make_message(&h, &len);
	EXPECT(memcmp(msg, "OOBX", 4) == 0);
	EXPECT_EQ(msg[4], 1);
	EXPECT_EQ(msg[5], OOBLEX_KIND_FRAME);
	EXPECT_EQ(msg[6] | (msg[7] << 8), 88 + 14 + 1);
	EXPECT_EQ(msg[8], 0xa0);
	EXPECT_EQ(msg[24], 0x08);	/* frame_id little-endian */
	EXPECT_EQ(msg[31], 0x01);
	EXPECT_EQ(msg[32], 77);
	EXPECT_EQ(msg[36], 36);
	EXPECT_EQ(msg[80], 6);
	EXPECT_EQ(msg[82], 4);
	EXPECT_EQ(msg[84], OOBLEX_PIXFMT_I420);
	EXPECT_EQ(msg[87], 14);
	EXPECT(memcmp(msg + 88, "blur|grayscale", 14) == 0);
	EXPECT_EQ(msg[102], 0);	/* no worker name */
	free(msg);
}

/* The layout test: every OOBLEX_WIRE_OFF_* constant (which the writer, the
 * parser and the reap script in Redis use) is docs/protocol.md's offset,
 * the fields tile the fixed header with no gap or overlap, and a header
 * written with a distinct value in every field has that value, little-endian,
 * at the constant's offset. */
typedef struct wire_field {
	const char *name;
	size_t off, doc_off, size;
	uint64_t value;	/* what the test writes there (the first 8 bytes) */
} wire_field;

static void test_wire_offsets_are_the_layout(void) {
	ooblex_frame_header h;
	memset(&h, 0, sizeof(h));
	h.kind = OOBLEX_KIND_RESULT;
	for(int i = 0; i < OOBLEX_CLIENT_ID_LEN; i++)
		h.client_id[i] = (uint8_t)(0x30 + i);
	h.frame_id = 0x1112131415161718ull;
	h.seq = 0x21222324u;
	h.capture_us = 0x3132333435363738ull;
	h.queued_us = 0x4142434445464748ull;
	h.deadline_us = 0x5152535455565758ull;
	h.worker_start_us = 0x6162636465666768ull;
	h.worker_end_us = 0x7172737475767778ull;
	h.width = 0x0181;
	h.height = 0x0182;
	h.pixfmt = OOBLEX_PIXFMT_RGB24;
	h.reply_pixfmt = OOBLEX_PIXFMT_I420;
	h.jpeg_quality = 0x5a;
	strcpy(h.effect, "invert");
	strcpy(h.worker, "w");
	h.payload_len = 0x00000c00u;	/* a 0x181 x 0x182 RGB24 frame is not this: only the header is read */
	uint8_t msg[512];
	size_t hlen = ooblex_wire_write_header(&h, msg);
	const wire_field fields[] = {
		{ "magic", OOBLEX_WIRE_OFF_MAGIC, 0, OOBLEX_WIRE_MAGIC_LEN, 0x58424f4full },	/* "OOBX" */
		{ "version", OOBLEX_WIRE_OFF_VERSION, 4, 1, OOBLEX_WIRE_VERSION },
		{ "kind", OOBLEX_WIRE_OFF_KIND, 5, 1, OOBLEX_KIND_RESULT },
		{ "header_len", OOBLEX_WIRE_OFF_HEADER_LEN, 6, 2, hlen },
		{ "client_id", OOBLEX_WIRE_OFF_CLIENT_ID, 8, OOBLEX_CLIENT_ID_LEN, 0x3736353433323130ull },	/* first 8 */
		{ "frame_id", OOBLEX_WIRE_OFF_FRAME_ID, 24, 8, h.frame_id },
		{ "seq", OOBLEX_WIRE_OFF_SEQ, 32, 4, h.seq },
		{ "payload_len", OOBLEX_WIRE_OFF_PAYLOAD_LEN, 36, 4, h.payload_len },
		{ "capture_us", OOBLEX_WIRE_OFF_CAPTURE_US, 40, 8, h.capture_us },
		{ "queued_us", OOBLEX_WIRE_OFF_QUEUED_US, 48, 8, h.queued_us },
		{ "deadline_us", OOBLEX_WIRE_OFF_DEADLINE_US, 56, 8, h.deadline_us },
		{ "worker_start_us", OOBLEX_WIRE_OFF_WORKER_START_US, 64, 8, h.worker_start_us },
		{ "worker_end_us", OOBLEX_WIRE_OFF_WORKER_END_US, 72, 8, h.worker_end_us },
		{ "width", OOBLEX_WIRE_OFF_WIDTH, 80, 2, h.width },
		{ "height", OOBLEX_WIRE_OFF_HEIGHT, 82, 2, h.height },
		{ "pixfmt", OOBLEX_WIRE_OFF_PIXFMT, 84, 1, h.pixfmt },
		{ "reply_pixfmt", OOBLEX_WIRE_OFF_REPLY_PIXFMT, 85, 1, h.reply_pixfmt },
		{ "jpeg_quality", OOBLEX_WIRE_OFF_JPEG_QUALITY, 86, 1, h.jpeg_quality },
		{ "effect_len", OOBLEX_WIRE_OFF_EFFECT_LEN, 87, 1, strlen(h.effect) },
	};
	size_t n = sizeof(fields) / sizeof(fields[0]), end = 0;
	EXPECT_EQ(OOBLEX_WIRE_FIXED_LEN, 88);
	for(size_t i = 0; i < n; i++) {
		const wire_field *f = &fields[i];
		if(f->off != f->doc_off)
			printf("#   %s: OOBLEX_WIRE_OFF_* is %zu, docs/protocol.md says %zu\n", f->name, f->off, f->doc_off);
		EXPECT_EQ(f->off, f->doc_off);
		/* In order, back to back, ending where the strings start. */
		EXPECT_EQ(f->off, end);
		end = f->off + f->size;
		uint64_t got = 0;
		for(size_t k = 0; k < f->size && k < 8; k++)
			got |= (uint64_t)msg[f->off + k] << (8 * k);
		if(got != f->value)
			printf("#   %s at %zu: 0x%llx, wrote 0x%llx\n", f->name, f->off, (unsigned long long)got,
				(unsigned long long)f->value);
		EXPECT(got == f->value);
	}
	EXPECT_EQ(end, OOBLEX_WIRE_FIXED_LEN);
	EXPECT(memcmp(msg + OOBLEX_WIRE_OFF_MAGIC, OOBLEX_WIRE_MAGIC, OOBLEX_WIRE_MAGIC_LEN) == 0);
	EXPECT(memcmp(msg + OOBLEX_WIRE_OFF_CLIENT_ID, h.client_id, OOBLEX_CLIENT_ID_LEN) == 0);
	EXPECT(memcmp(msg + OOBLEX_WIRE_FIXED_LEN, "invert", 6) == 0);
	/* The constants paste into Lua as the numbers they are. */
	EXPECT(strcmp(OOBLEX_WIRE_STR(OOBLEX_WIRE_OFF_DEADLINE_US), "56") == 0);
	EXPECT(strcmp(OOBLEX_WIRE_STR(OOBLEX_WIRE_FIXED_LEN), "88") == 0);
}

/* The reap script takes where it reads from the constants, not from numbers
 * of its own (tests/integration/test_fleet.c runs it in Redis). */
static void test_reap_script_reads_at_the_wire_offsets(void) {
	char want[64];
	snprintf(want, sizeof(want), "local deadline_at = %d + 1\n", OOBLEX_WIRE_OFF_DEADLINE_US);
	EXPECT(strstr(ooblex_script_reap, want) != NULL);
	snprintf(want, sizeof(want), "local fixed_len = %d\n", OOBLEX_WIRE_FIXED_LEN);
	EXPECT(strstr(ooblex_script_reap, want) != NULL);
	snprintf(want, sizeof(want), "local magic_at = %d + 1\n", OOBLEX_WIRE_OFF_MAGIC);
	EXPECT(strstr(ooblex_script_reap, want) != NULL);
	EXPECT(strstr(ooblex_script_reap, "== '" OOBLEX_WIRE_MAGIC "'") != NULL);
	/* Both halves of the u64 through that name. */
	EXPECT(strstr(ooblex_script_reap, "m, deadline_at + 4)") != NULL && strstr(ooblex_script_reap, "m, deadline_at)"));
}

/* An error result: a result's header, pixfmt none, payload u16 code + the
 * reason. Pinned bytes, as docs/protocol.md describes them. */
static void test_error_results(void) {
	ooblex_frame_header h, out;
	sample_header(&h);
	h.kind = OOBLEX_KIND_ERROR;
	h.pixfmt = OOBLEX_PIXFMT_NONE;
	strcpy(h.worker, "w1");
	uint8_t body[2 + OOBLEX_ERROR_TEXT_MAX];
	h.payload_len = (uint32_t)ooblex_wire_error_payload(OOBLEX_FRAME_ERR_OVER_BUDGET, "took 312 ms\n(budget 250)", body);
	EXPECT_EQ(h.payload_len, 2 + 24);
	size_t hlen = ooblex_wire_header_len(&h), len = hlen + h.payload_len;
	uint8_t *msg = malloc(len);
	ooblex_wire_write_header(&h, msg);
	memcpy(msg + hlen, body, h.payload_len);
	EXPECT_EQ(msg[5], 3);
	EXPECT_EQ(msg[84], 0);
	EXPECT_EQ(msg[hlen], 4);	/* code, little-endian */
	EXPECT_EQ(msg[hlen + 1], 0);
	EXPECT(memcmp(msg + hlen + 2, "took 312 ms?(budget 250)", 24) == 0);	/* control bytes become '?' */
	const uint8_t *payload = NULL;
	REQUIRE(ooblex_wire_parse(msg, len, &out, &payload) == OOBLEX_WIRE_OK);
	EXPECT_EQ(out.kind, OOBLEX_KIND_ERROR);
	EXPECT_EQ(out.error_code, OOBLEX_FRAME_ERR_OVER_BUDGET);
	EXPECT(!strcmp(out.error, "took 312 ms?(budget 250)"));
	EXPECT_EQ(out.seq, 77);
	EXPECT(!strcmp(ooblex_frame_error_name(out.error_code), "over_budget"));
	/* Refused: pixels in an error, a control byte in the reason, no reason,
	 * a reason over the cap. */
	msg[hlen + 5] = 0x07;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_HEADER);
	msg[hlen + 5] = ' ';
	msg[84] = OOBLEX_PIXFMT_JPEG;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	msg[84] = 0;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_OK);
	free(msg);
	h.payload_len = 2;
	msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	free(msg);
	h.payload_len = 3 + OOBLEX_ERROR_TEXT_MAX;
	msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	free(msg);
	/* An empty reason is named by its code; a long one is cut. */
	char longer[400];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	EXPECT_EQ(ooblex_wire_error_payload(OOBLEX_FRAME_ERR_FAILED, "", body), 2 + 6);
	EXPECT(memcmp(body + 2, "failed", 6) == 0);
	EXPECT_EQ(ooblex_wire_error_payload(OOBLEX_FRAME_ERR_FAILED, longer, body), 2 + OOBLEX_ERROR_TEXT_MAX);
}

static void test_every_truncation_is_refused(void) {
	ooblex_frame_header h, out;
	sample_header(&h);
	size_t len;
	uint8_t *msg = make_message(&h, &len);
	const uint8_t *payload;
	for(size_t n = 0; n < len; n++) {
		ooblex_wire_error e = ooblex_wire_parse(msg, n, &out, &payload);
		if(e == OOBLEX_WIRE_OK) {
			printf("#   truncated to %zu of %zu bytes was accepted\n", n, len);
			EXPECT(e != OOBLEX_WIRE_OK);
			break;
		}
	}
	/* One byte too many is refused as well: the sizes must agree. */
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, msg, len);
	longer[len] = 0;
	EXPECT_EQ(ooblex_wire_parse(longer, len + 1, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	free(longer);
	free(msg);
}

static void test_garbage_is_refused(void) {
	ooblex_frame_header h, out;
	const uint8_t *payload;
	size_t len;
	sample_header(&h);
	uint8_t *msg = make_message(&h, &len);
	msg[0] = 'X';
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_MAGIC);
	msg[0] = 'O';
	msg[4] = 9;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_VERSION);
	msg[4] = 1;
	msg[5] = 7;	/* unknown kind */
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_HEADER);
	msg[5] = 1;
	msg[87] = 250;	/* effect longer than the header */
	EXPECT(ooblex_wire_parse(msg, len, &out, &payload) != OOBLEX_WIRE_OK);
	msg[87] = 14;
	msg[90] = 0;	/* NUL inside the effect name */
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_HEADER);
	free(msg);

	const char *text = "hello, not a frame";
	EXPECT_EQ(ooblex_wire_parse((const uint8_t *)text, strlen(text), &out, &payload), OOBLEX_WIRE_BAD_MAGIC);
	EXPECT_EQ(ooblex_wire_parse((const uint8_t *)"OOB", 3, &out, &payload), OOBLEX_WIRE_TRUNCATED);
}

static void test_absurd_sizes_are_refused(void) {
	ooblex_frame_header h, out;
	const uint8_t *payload;
	size_t len;
	sample_header(&h);
	h.width = 60000;
	h.height = 60000;
	h.payload_len = 10;	/* a lie: nowhere near 60000x60000 */
	uint8_t *msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	free(msg);
	sample_header(&h);
	h.width = 0;
	msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	free(msg);
	/* payload_len claims 4 GB: refused before anyone allocates it. */
	sample_header(&h);
	size_t hlen = ooblex_wire_header_len(&h);
	uint8_t hdr[512];
	ooblex_wire_write_header(&h, hdr);
	hdr[36] = hdr[37] = hdr[38] = hdr[39] = 0xff;
	EXPECT_EQ(ooblex_wire_parse(hdr, hlen, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	/* Raw payload must match the format's size. */
	sample_header(&h);
	h.payload_len -= 1;
	msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_SIZE);
	free(msg);
	/* A JPEG payload has no fixed size. */
	sample_header(&h);
	h.pixfmt = OOBLEX_PIXFMT_JPEG;
	h.payload_len = 1234;
	msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_OK);
	free(msg);
}

/* The MAC travels in an extension record after the (then empty) metadata
 * section, as the last bytes of the header: readers that know nothing of it
 * see an empty metadata section and skip the rest (it is inside header_len). */
static void test_mac_record_layout(void) {
	ooblex_frame_header h;
	sample_header(&h);
	h.kind = OOBLEX_KIND_RESULT;
	h.pixfmt = OOBLEX_PIXFMT_JPEG;
	h.payload_len = 40;
	size_t plain = ooblex_wire_header_len(&h);
	h.has_mac = 1;
	size_t hlen = ooblex_wire_header_len(&h);
	EXPECT_EQ(hlen, plain + 2 + OOBLEX_EXT_MAC_RECORD_LEN);
	size_t len;
	uint8_t *msg = make_message(&h, &len);
	size_t moff = OOBLEX_WIRE_FIXED_LEN + strlen(h.effect) + 1 + strlen(h.worker);
	EXPECT_EQ(msg[moff] | msg[moff + 1] << 8, 0);	/* metadata: empty */
	EXPECT_EQ(msg[moff + 2], OOBLEX_EXT_MAC);
	EXPECT_EQ(msg[moff + 3] | msg[moff + 4] << 8, OOBLEX_MAC_LEN);
	EXPECT_EQ(moff + 5 + OOBLEX_MAC_LEN, hlen);
	ooblex_frame_header out;
	const uint8_t *payload;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_OK);
	EXPECT(out.has_mac);
	EXPECT(payload == msg + hlen);
	/* A record that runs past header_len, or a MAC that is not last, is refused. */
	msg[moff + 3] = OOBLEX_MAC_LEN + 1;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_HEADER);
	msg[moff + 3] = OOBLEX_MAC_LEN - 1;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_BAD_HEADER);
	msg[moff + 3] = OOBLEX_MAC_LEN;
	/* An unknown record type is skipped, and then it is no MAC. */
	msg[moff + 2] = 200;
	EXPECT_EQ(ooblex_wire_parse(msg, len, &out, &payload), OOBLEX_WIRE_OK);
	EXPECT(!out.has_mac);
	free(msg);
}

static void test_mac_sign_and_verify(void) {
	static const uint8_t key[] = "a fleet secret of some length", other[] = "another fleet secret, as long";
	ooblex_frame_header h;
	sample_header(&h);
	h.kind = OOBLEX_KIND_RESULT;
	h.pixfmt = OOBLEX_PIXFMT_JPEG;
	h.payload_len = 64;
	snprintf(h.meta, sizeof(h.meta), "{\"faces\":[]}");
	h.has_mac = 1;
	size_t len;
	uint8_t *msg = make_message(&h, &len);
	EXPECT_EQ(ooblex_auth_sign(key, sizeof(key), msg, len), 0);
	ooblex_frame_header out;
	const uint8_t *payload;
	REQUIRE(ooblex_wire_parse(msg, len, &out, &payload) == OOBLEX_WIRE_OK);
	EXPECT_EQ(ooblex_auth_verify(key, sizeof(key), msg, len, &out), OOBLEX_AUTH_OK);
	EXPECT_EQ(ooblex_auth_verify(other, sizeof(other), msg, len, &out), OOBLEX_AUTH_BAD);
	/* Any byte changed, MAC included, and it no longer checks (the client id
	 * and seq among them: no replay to another client or frame). */
	int all_refused = 1;
	for(size_t i = 0; i < len; i++) {
		msg[i] ^= 0x01;
		ooblex_frame_header hh;
		const uint8_t *pp;
		if(ooblex_wire_parse(msg, len, &hh, &pp) == OOBLEX_WIRE_OK && hh.has_mac &&
				ooblex_auth_verify(key, sizeof(key), msg, len, &hh) == OOBLEX_AUTH_OK)
			all_refused = 0;
		msg[i] ^= 0x01;
	}
	EXPECT(all_refused);
	free(msg);
	/* Unsigned: no record, nothing to check. */
	h.has_mac = 0;
	msg = make_message(&h, &len);
	REQUIRE(ooblex_wire_parse(msg, len, &out, &payload) == OOBLEX_WIRE_OK);
	EXPECT_EQ(ooblex_auth_verify(key, sizeof(key), msg, len, &out), OOBLEX_AUTH_MISSING);
	EXPECT_EQ(ooblex_auth_sign(key, sizeof(key), msg, len), -1);
	free(msg);
}

static void test_secrets(void) {
	uint8_t out[OOBLEX_SECRET_MAX];
	char err[128];
	EXPECT_EQ(ooblex_auth_load_secret(NULL, "short", out, err, sizeof(err)), -1);
	EXPECT_EQ(ooblex_auth_load_secret(NULL, "0123456789abcdef\n", out, err, sizeof(err)), 16);
	EXPECT_EQ(ooblex_auth_load_secret("/nonexistent/secret", NULL, out, err, sizeof(err)), -1);
	char path[] = "/tmp/ooblex-secret-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	EXPECT_EQ(write(fd, "a secret from a file!\n", 22), 22);
	close(fd);
	EXPECT_EQ(ooblex_auth_load_secret(path, "ignored when a file is given", out, err, sizeof(err)), 21);
	EXPECT(!memcmp(out, "a secret from a file!", 21));
	unlink(path);
}

static void test_pixfmt_sizes(void) {
	EXPECT_EQ(ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, 640, 480), 460800);
	EXPECT_EQ(ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, 5, 3), 15 + 2 * 3 * 2);	/* odd sizes round chroma up */
	EXPECT_EQ(ooblex_pixfmt_size(OOBLEX_PIXFMT_RGB24, 640, 480), 921600);
	EXPECT_EQ(ooblex_pixfmt_size(OOBLEX_PIXFMT_JPEG, 640, 480), 0);
	EXPECT_EQ(ooblex_pixfmt_from_name("i420"), OOBLEX_PIXFMT_I420);
	EXPECT_EQ(ooblex_pixfmt_from_name("jpeg"), OOBLEX_PIXFMT_JPEG);
	EXPECT_EQ(ooblex_pixfmt_from_name("bogus"), OOBLEX_PIXFMT_NONE);
}

static void test_client_ids(void) {
	uint8_t a[OOBLEX_CLIENT_ID_LEN], b[OOBLEX_CLIENT_ID_LEN], c[OOBLEX_CLIENT_ID_LEN];
	EXPECT_EQ(ooblex_client_id_generate(a), 0);
	EXPECT_EQ(ooblex_client_id_generate(b), 0);
	EXPECT(memcmp(a, b, sizeof(a)) != 0);
	char hex[OOBLEX_CLIENT_ID_HEX_LEN + 1];
	ooblex_client_id_to_hex(a, hex);
	EXPECT_EQ(strlen(hex), 32);
	EXPECT_EQ(strspn(hex, "0123456789abcdef"), 32);
	EXPECT_EQ(ooblex_client_id_from_hex(hex, c), 0);
	EXPECT(memcmp(a, c, sizeof(a)) == 0);
	EXPECT_EQ(ooblex_client_id_from_hex("abc", c), -1);
	EXPECT_EQ(ooblex_client_id_from_hex("zz0102030405060708090a0b0c0d0e0f", c), -1);
	char key[OOBLEX_KEY_MAX];
	ooblex_key_processed(key, hex);
	EXPECT(strncmp(key, "processed_frames:", 17) == 0);
	EXPECT(strcmp(key + 17, hex) == 0);
	/* 1000 ids, no repeats: a broken generator (zeros, a counter) fails this. */
	static uint8_t many[1000][OOBLEX_CLIENT_ID_LEN];
	for(int i = 0; i < 1000; i++)
		ooblex_client_id_generate(many[i]);
	int dup = 0;
	for(int i = 0; i < 1000; i++)
		for(int j = i + 1; j < 1000; j++)
			dup += memcmp(many[i], many[j], OOBLEX_CLIENT_ID_LEN) == 0;
	EXPECT_EQ(dup, 0);
}

static void test_redis_urls(void) {
	ooblex_redis_config c;
	char err[256];
	ooblex_redis_config_default(&c);
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://cache.example:6380/2", err, sizeof(err)), 0);
	EXPECT(strcmp(c.host, "cache.example") == 0);
	EXPECT_EQ(c.port, 6380);
	EXPECT_EQ(c.db, 2);
	EXPECT_EQ(c.password[0], 0);
	ooblex_redis_config_default(&c);
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://:s3cret@10.1.2.3", err, sizeof(err)), 0);
	EXPECT(strcmp(c.password, "s3cret") == 0);
	EXPECT(strcmp(c.host, "10.1.2.3") == 0);
	EXPECT_EQ(c.port, 6379);
	ooblex_redis_config_default(&c);
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://user:pw@h:1", err, sizeof(err)), 0);
	EXPECT(strcmp(c.password, "pw") == 0 && strcmp(c.host, "h") == 0 && c.port == 1);
	EXPECT_EQ(ooblex_redis_parse_url(&c, "http://h:1", err, sizeof(err)), -1);
	EXPECT(strstr(err, "redis://") != NULL);
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://h:99999", err, sizeof(err)), -1);
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://h:12ab", err, sizeof(err)), -1);
	EXPECT_EQ(ooblex_redis_parse_url(&c, "redis://h/x", err, sizeof(err)), -1);
}

static void test_backoff(void) {
	EXPECT_EQ(ooblex_backoff_next_ms(0), 100);
	EXPECT_EQ(ooblex_backoff_next_ms(100), 200);
	EXPECT_EQ(ooblex_backoff_next_ms(800), 1600);
	EXPECT_EQ(ooblex_backoff_next_ms(1600), 2000);
	EXPECT_EQ(ooblex_backoff_next_ms(2000), 2000);
}

int main(void) {
	TEST_RUN(test_roundtrip);
	TEST_RUN(test_metadata_section);
	TEST_RUN(test_metadata_only_results);
	TEST_RUN(test_header_layout_is_fixed);
	TEST_RUN(test_wire_offsets_are_the_layout);
	TEST_RUN(test_reap_script_reads_at_the_wire_offsets);
	TEST_RUN(test_error_results);
	TEST_RUN(test_every_truncation_is_refused);
	TEST_RUN(test_garbage_is_refused);
	TEST_RUN(test_absurd_sizes_are_refused);
	TEST_RUN(test_mac_record_layout);
	TEST_RUN(test_mac_sign_and_verify);
	TEST_RUN(test_secrets);
	TEST_RUN(test_pixfmt_sizes);
	TEST_RUN(test_client_ids);
	TEST_RUN(test_redis_urls);
	TEST_RUN(test_backoff);
	return tl_done();
}
