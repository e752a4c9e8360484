/*
 * ooblex_wire.h - the binary frame message shared by the plugin and the workers.
 *
 * Owns: the layout of one Redis list element, in both directions
 * (plugin -> `frames_to_process` -> worker, worker -> `processed_frames:{id}`
 * -> plugin). A message is a fixed little-endian header, two short strings
 * (effect name, worker id) and the pixels. No JSON, no base64: a 640x480 I420
 * frame is 460,800 bytes of payload plus about a hundred bytes of header.
 *
 * The header carries its own length, so a newer writer may append fields that
 * an older reader skips. The version only changes when a field moves.
 * docs/protocol.md describes the same layout for people.
 */
#ifndef OOBLEX_WIRE_H
#define OOBLEX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define OOBLEX_WIRE_MAGIC	"OOBX"
#define OOBLEX_WIRE_MAGIC_LEN	4
#define OOBLEX_WIRE_VERSION	1

/* Where each field of the fixed header starts, in bytes from the start of
 * the message; integers are little-endian. The one statement of the
 * layout: the writer and the parser (ooblex_wire.c), the MAC
 * (ooblex_auth.c) and the Lua that reads frames inside Redis
 * (ooblex_scripts.c, through OOBLEX_WIRE_STR) all use these, and
 * tests/unit/test_wire.c pins them to docs/protocol.md's table. Plain
 * decimal literals, so that they paste into Lua source as they are. */
#define OOBLEX_WIRE_OFF_MAGIC	0	/* OOBLEX_WIRE_MAGIC_LEN bytes */
#define OOBLEX_WIRE_OFF_VERSION	4	/* u8 */
#define OOBLEX_WIRE_OFF_KIND	5	/* u8, ooblex_kind */
#define OOBLEX_WIRE_OFF_HEADER_LEN	6	/* u16 */
#define OOBLEX_WIRE_OFF_CLIENT_ID	8	/* OOBLEX_CLIENT_ID_LEN bytes */
#define OOBLEX_WIRE_OFF_FRAME_ID	24	/* u64 */
#define OOBLEX_WIRE_OFF_SEQ	32	/* u32 */
#define OOBLEX_WIRE_OFF_PAYLOAD_LEN	36	/* u32 */
#define OOBLEX_WIRE_OFF_CAPTURE_US	40	/* u64 */
#define OOBLEX_WIRE_OFF_QUEUED_US	48	/* u64 */
#define OOBLEX_WIRE_OFF_DEADLINE_US	56	/* u64 */
#define OOBLEX_WIRE_OFF_WORKER_START_US	64	/* u64 */
#define OOBLEX_WIRE_OFF_WORKER_END_US	72	/* u64 */
#define OOBLEX_WIRE_OFF_WIDTH	80	/* u16 */
#define OOBLEX_WIRE_OFF_HEIGHT	82	/* u16 */
#define OOBLEX_WIRE_OFF_PIXFMT	84	/* u8, ooblex_pixfmt */
#define OOBLEX_WIRE_OFF_REPLY_PIXFMT	85	/* u8 */
#define OOBLEX_WIRE_OFF_JPEG_QUALITY	86	/* u8 */
#define OOBLEX_WIRE_OFF_EFFECT_LEN	87	/* u8 */
/* Fixed part of the header; the effect and worker strings follow it. */
#define OOBLEX_WIRE_FIXED_LEN	88
/* A constant above as a string literal ("56"), for script text. */
#define OOBLEX_WIRE_STR(x)	OOBLEX_WIRE_STR_(x)
#define OOBLEX_WIRE_STR_(x)	#x
#define OOBLEX_CLIENT_ID_LEN	16	/* 128 random bits */
#define OOBLEX_CLIENT_ID_HEX_LEN	(OOBLEX_CLIENT_ID_LEN * 2)
#define OOBLEX_NAME_MAX	255	/* effect and worker strings are length-prefixed by one byte */
/* Refuse absurd sizes before allocating: 8K frames are far beyond any webcam. */
#define OOBLEX_MAX_DIMENSION	8192
/* Results may carry what a worker found (face boxes...) as JSON, after the
 * worker string: a u16 length, then the text. Readers that do not know it
 * skip it (it is inside header_len). */
#define OOBLEX_META_MAX	4096
#define OOBLEX_MAX_PAYLOAD	(64u * 1024u * 1024u)
/* After the metadata section (written, possibly empty, whenever something
 * follows it), still inside header_len: extension records, each a u8 type,
 * a u16 length and that many bytes. Readers skip types they do not know;
 * readers older than extensions skip them all (they are inside header_len).
 * OOBLEX_EXT_MAC: an HMAC-SHA256 (ooblex_auth.h) over every byte of the
 * message but its own 32; always the last record of the header. */
#define OOBLEX_EXT_MAC	1
#define OOBLEX_MAC_LEN	32
#define OOBLEX_EXT_MAC_RECORD_LEN	(3 + OOBLEX_MAC_LEN)

typedef enum ooblex_kind {
	OOBLEX_KIND_FRAME = 1,	/* to be processed */
	OOBLEX_KIND_RESULT = 2,	/* processed */
	OOBLEX_KIND_ERROR = 3,	/* could not be processed: the header of a result (same
				 * client, seq, timestamps, effect, worker), pixfmt NONE,
				 * and as payload a u16 error code (ooblex_frame_error)
				 * then 1..OOBLEX_ERROR_TEXT_MAX bytes of printable ASCII,
				 * the reason. Goes to processed_frames:{id} like results
				 * and resolves its seq there. */
} ooblex_kind;

/* Why a worker could not process a frame (an error result's code). */
typedef enum ooblex_frame_error {
	OOBLEX_FRAME_ERR_UNKNOWN_EFFECT = 1,	/* no such effect */
	OOBLEX_FRAME_ERR_REFUSED = 2,	/* effect parameters or ffmpeg: graph refused */
	OOBLEX_FRAME_ERR_FAILED = 3,	/* the effect (or the JPEG coding) failed */
	OOBLEX_FRAME_ERR_OVER_BUDGET = 4,	/* took longer than the worker's per-frame budget */
	OOBLEX_FRAME_ERR_BAD_FRAME = 5,	/* the frame's pixels could not be read */
	OOBLEX_FRAME_ERR_MAX = 5,
} ooblex_frame_error;
#define OOBLEX_ERROR_TEXT_MAX	200

typedef enum ooblex_pixfmt {
	/* No picture. As a frame's reply_pixfmt: answer with the metadata only
	 * (what the effect found: face boxes...), for a page that draws it over
	 * its own video. As a result's pixfmt: such an answer, payload empty;
	 * an error result's too. Never a frame's own pixfmt. */
	OOBLEX_PIXFMT_NONE = 0,
	OOBLEX_PIXFMT_I420 = 1,	/* planar Y, U, V; chroma halved both ways, rounded up */
	OOBLEX_PIXFMT_RGB24 = 2,	/* packed R, G, B */
	OOBLEX_PIXFMT_JPEG = 3,	/* a complete JFIF image */
} ooblex_pixfmt;

typedef struct ooblex_frame_header {
	uint8_t kind;	/* ooblex_kind */
	uint8_t client_id[OOBLEX_CLIENT_ID_LEN];
	uint64_t frame_id;	/* number of the decoded frame in the session, from 1 */
	uint32_t seq;	/* number of the sampled frame, from 1, no gaps: the reorder key */
	uint64_t capture_us;	/* wall clock (µs since the epoch) when the frame's first packet arrived */
	uint64_t queued_us;	/* when the plugin queued it for Redis */
	uint64_t deadline_us;	/* after this the result is useless; 0 = none */
	uint64_t worker_start_us;	/* set by the worker */
	uint64_t worker_end_us;	/* set by the worker */
	uint16_t width, height;
	uint8_t pixfmt;	/* ooblex_pixfmt of the payload */
	uint8_t reply_pixfmt;	/* what the plugin wants back */
	uint8_t jpeg_quality;	/* 1..100, for a JPEG reply */
	char effect[OOBLEX_NAME_MAX + 1];	/* NUL-terminated */
	char worker[OOBLEX_NAME_MAX + 1];	/* NUL-terminated; empty on frames */
	char meta[OOBLEX_META_MAX + 1];	/* JSON from the worker, NUL-terminated; usually empty */
	/* Writers: set has_mac to reserve the MAC record (ooblex_auth_sign fills
	 * it once the payload is in place). Readers: a MAC record was found. */
	uint8_t has_mac;
	uint8_t mac[OOBLEX_MAC_LEN];
	uint32_t payload_len;
	/* OOBLEX_KIND_ERROR only, filled by ooblex_wire_parse from the payload. */
	uint16_t error_code;	/* ooblex_frame_error */
	char error[OOBLEX_ERROR_TEXT_MAX + 1];
} ooblex_frame_header;

/* Why a message was refused by ooblex_wire_parse. */
typedef enum ooblex_wire_error {
	OOBLEX_WIRE_OK = 0,
	OOBLEX_WIRE_TRUNCATED,	/* shorter than its header or payload says */
	OOBLEX_WIRE_BAD_MAGIC,
	OOBLEX_WIRE_BAD_VERSION,
	OOBLEX_WIRE_BAD_HEADER,	/* header length or strings inconsistent */
	OOBLEX_WIRE_BAD_SIZE,	/* dimensions or payload length absurd or not matching the format */
} ooblex_wire_error;

const char *ooblex_wire_error_str(ooblex_wire_error err);
const char *ooblex_pixfmt_name(ooblex_pixfmt fmt);
ooblex_pixfmt ooblex_pixfmt_from_name(const char *name);

/* Bytes of raw pixels for a format and size; 0 for JPEG (variable) or unknown. */
size_t ooblex_pixfmt_size(ooblex_pixfmt fmt, unsigned width, unsigned height);

/* Bytes the header takes when written (fixed part plus the two strings). */
size_t ooblex_wire_header_len(const ooblex_frame_header *h);

/* Writes the header into buf, which must hold ooblex_wire_header_len(h) bytes;
 * the payload (h->payload_len bytes) goes right after. Returns bytes written. */
size_t ooblex_wire_write_header(const ooblex_frame_header *h, uint8_t *buf);

/* Parses and validates a whole message. On success fills h and points
 * *payload into msg (no copy). Never reads past len. */
ooblex_wire_error ooblex_wire_parse(const uint8_t *msg, size_t len,
	ooblex_frame_header *h, const uint8_t **payload);

/* An error result's payload: code, then reason (bytes outside printable
 * ASCII become '?', cut at OOBLEX_ERROR_TEXT_MAX; an empty reason becomes
 * the code's name). buf holds at least 2 + OOBLEX_ERROR_TEXT_MAX bytes.
 * Returns the payload length. */
size_t ooblex_wire_error_payload(uint16_t code, const char *reason, uint8_t *buf);
/* "unknown_effect", "refused", "failed", "over_budget", "bad_frame", or "error". */
const char *ooblex_frame_error_name(unsigned code);

/* Client ids: 16 random bytes, written as 32 lowercase hex characters in
 * Redis keys and in the API. */
int ooblex_client_id_generate(uint8_t id[OOBLEX_CLIENT_ID_LEN]);
void ooblex_client_id_to_hex(const uint8_t id[OOBLEX_CLIENT_ID_LEN], char hex[OOBLEX_CLIENT_ID_HEX_LEN + 1]);
int ooblex_client_id_from_hex(const char *hex, uint8_t id[OOBLEX_CLIENT_ID_LEN]);

/* Wall clock in microseconds since the epoch: comparable across processes
 * on one machine, which is what per-stage latency needs. */
uint64_t ooblex_now_us(void);

#endif
