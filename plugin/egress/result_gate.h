/*
 * result_gate.h - what a popped result must pass before the plugin keeps it.
 *
 * Owns: the checks between Redis and the reorder buffer, in the order that
 * spends least on a hostile message: its size (before anything is copied),
 * the wire format, that it is a JPEG, I420 or metadata-only result (or an
 * error result) for
 * this client, the picture's size (the wire header's, within the limits; for
 * a JPEG its own too, read with ooblex_jpeg_read_header before anything
 * decodes it; for I420 even, and the payload exactly ooblex_pixfmt_size()
 * bytes: what the video track's encoder reads), the fleet MAC when a secret is set
 * (ooblex_auth.h), and last that its sequence number was queued by this
 * session's ingest (and, for the reorder buffer to take it, is not yet
 * delivered or given up on). Whoever can
 * write to Redis can push to processed_frames:{id}; a result with a
 * far-future seq, taken into the reorder buffer, would make every genuine
 * result after it "late" and silence the page.
 *
 * A gate is used by one thread (the Redis reader); it holds a JPEG header
 * reader. No Janus, no Redis: tests drive it directly.
 */
#ifndef OOBLEX_RESULT_GATE_H
#define OOBLEX_RESULT_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "ooblex_auth.h"
#include "ooblex_wire.h"

/* Default cap on one result message: a 1280x720 JPEG at quality 100 is
 * under 1 MiB, a 1920x1080 I420 picture 3 MiB. */
#define OOBLEX_RESULT_MAX_DEFAULT (4u * 1024u * 1024u)

typedef enum ooblex_result_verdict {
	OOBLEX_RESULT_OK = 0,
	OOBLEX_RESULT_OVERSIZED,	/* longer than max_bytes: not copied, not parsed */
	OOBLEX_RESULT_MALFORMED,	/* not a well-formed JPEG, I420 or error result for this client */
	OOBLEX_RESULT_TOO_BIG_PICTURE,	/* dimensions over the limit, or the JPEG's not the header's */
	OOBLEX_RESULT_UNSIGNED,	/* a secret is set and the result has no MAC */
	OOBLEX_RESULT_BAD_MAC,	/* a MAC that does not check (forged, altered, replayed) */
	OOBLEX_RESULT_UNEXPECTED,	/* its seq was never queued (ooblex_result_seq_state) */
	OOBLEX_RESULT_VERDICTS
} ooblex_result_verdict;

const char *ooblex_result_verdict_name(ooblex_result_verdict v);

typedef struct ooblex_result_limits {
	size_t max_bytes;	/* 0: OOBLEX_RESULT_MAX_DEFAULT */
	unsigned max_width, max_height;	/* 0: OOBLEX_MAX_DIMENSION */
	const uint8_t *secret;	/* NULL: results are not authenticated */
	size_t secret_len;
} ooblex_result_limits;

typedef struct ooblex_result_gate ooblex_result_gate;

/* The limits are copied (the secret too). */
ooblex_result_gate *ooblex_result_gate_new(const ooblex_result_limits *limits);
void ooblex_result_gate_free(ooblex_result_gate *g);

/* Everything but the sequence check, on a message still in the reader's
 * buffer (nothing is copied): on OK, h and *payload (into msg) are filled. */
ooblex_result_verdict ooblex_result_gate_check(ooblex_result_gate *g, const uint8_t client_id[OOBLEX_CLIENT_ID_LEN],
	const uint8_t *msg, size_t len, ooblex_frame_header *h, const uint8_t **payload);

/* Where a result's seq stands, given next (the reorder buffer's: all before
 * it is delivered or given up on) and the last seq the ingest queued. Exact
 * because the ingest numbers the frames it queues from 1 without gaps (and
 * 2^32 frames are 13 years at 10 fps: no wrap). */
typedef enum ooblex_seq_state {
	OOBLEX_SEQ_IN_FLIGHT = 0,	/* next..last_queued: the reorder buffer may take it */
	OOBLEX_SEQ_RESOLVED,	/* 1..next-1: queued once, now late or a copy; refused as late */
	OOBLEX_SEQ_NEVER_QUEUED,	/* 0 or past last_queued: forged; must never reach the reorder buffer */
} ooblex_seq_state;
ooblex_seq_state ooblex_result_seq_state(uint32_t seq, uint32_t next, uint32_t last_queued);

#endif
