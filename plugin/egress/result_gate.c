/*
 * result_gate.c - see result_gate.h.
 */
#include "result_gate.h"
#include "ooblex_wire_check.h"

#include <stdlib.h>
#include <string.h>

#include "ooblex_jpeg.h"

struct ooblex_result_gate {
	ooblex_result_limits limits;
	uint8_t secret[OOBLEX_SECRET_MAX];
	ooblex_jpeg *jpeg;	/* reads a result's own header */
};

const char *ooblex_result_verdict_name(ooblex_result_verdict v) {
	switch(v) {
		case OOBLEX_RESULT_OK: return "ok";
		case OOBLEX_RESULT_OVERSIZED: return "oversized";
		case OOBLEX_RESULT_MALFORMED: return "malformed";
		case OOBLEX_RESULT_TOO_BIG_PICTURE: return "picture too big";
		case OOBLEX_RESULT_UNSIGNED: return "unsigned";
		case OOBLEX_RESULT_BAD_MAC: return "bad MAC";
		case OOBLEX_RESULT_UNEXPECTED: return "sequence not in flight";
		case OOBLEX_RESULT_VERDICTS: break;
	}
	return "?";
}

ooblex_result_gate *ooblex_result_gate_new(const ooblex_result_limits *limits) {
	ooblex_result_gate *g = calloc(1, sizeof(*g));
	if(g == NULL)
		return NULL;
	g->limits = *limits;
	if(g->limits.max_bytes == 0)
		g->limits.max_bytes = OOBLEX_RESULT_MAX_DEFAULT;
	if(g->limits.max_width == 0 || g->limits.max_width > OOBLEX_MAX_DIMENSION)
		g->limits.max_width = OOBLEX_MAX_DIMENSION;
	if(g->limits.max_height == 0 || g->limits.max_height > OOBLEX_MAX_DIMENSION)
		g->limits.max_height = OOBLEX_MAX_DIMENSION;
	if(limits->secret != NULL && limits->secret_len > 0 && limits->secret_len <= OOBLEX_SECRET_MAX) {
		memcpy(g->secret, limits->secret, limits->secret_len);
		g->limits.secret = g->secret;
	} else {
		g->limits.secret = NULL;
		g->limits.secret_len = 0;
	}
	g->jpeg = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
	if(g->jpeg == NULL) {
		free(g);
		return NULL;
	}
	return g;
}

void ooblex_result_gate_free(ooblex_result_gate *g) {
	if(g == NULL)
		return;
	ooblex_jpeg_free(g->jpeg);
	memset(g->secret, 0, sizeof(g->secret));
	free(g);
}

/* With a secret set, the message must carry a MAC that checks. */
static ooblex_result_verdict ooblex_result_gate_check_mac(const ooblex_result_gate *g, const uint8_t *msg, size_t len,
		const ooblex_frame_header *h) {
	if(g->limits.secret == NULL)
		return OOBLEX_RESULT_OK;
	ooblex_auth_result a = ooblex_auth_verify(g->limits.secret, g->limits.secret_len, msg, len, h);
	if(a == OOBLEX_AUTH_MISSING)
		return OOBLEX_RESULT_UNSIGNED;
	return a == OOBLEX_AUTH_OK ? OOBLEX_RESULT_OK : OOBLEX_RESULT_BAD_MAC;
}

ooblex_result_verdict ooblex_result_gate_check(ooblex_result_gate *g, const uint8_t client_id[OOBLEX_CLIENT_ID_LEN],
		const uint8_t *msg, size_t len, ooblex_frame_header *h, const uint8_t **payload) {
	if(len > g->limits.max_bytes)
		return OOBLEX_RESULT_OVERSIZED;
	/* The same acceptance the fuzzer checks (ooblex_wire_check.h): a JPEG
	 * or I420 result for this client, with names the page's JSON can carry. */
	if(ooblex_wire_accept_result(msg, len, client_id, h, payload) != NULL)
		return OOBLEX_RESULT_MALFORMED;
	if(h->kind == OOBLEX_KIND_ERROR)
		return ooblex_result_gate_check_mac(g, msg, len, h);
	if(h->width > g->limits.max_width || h->height > g->limits.max_height)
		return OOBLEX_RESULT_TOO_BIG_PICTURE;
	if(h->pixfmt == OOBLEX_PIXFMT_NONE)	/* metadata only: no picture to check */
		return ooblex_result_gate_check_mac(g, msg, len, h);
	if(h->pixfmt == OOBLEX_PIXFMT_I420) {
		/* Raw pixels carry no size of their own: the header's is the one,
		 * and the payload is exactly that picture (checked above, with
		 * ooblex_pixfmt_size, even sizes only). */
		if(h->payload_len != ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, h->width, h->height))
			return OOBLEX_RESULT_MALFORMED;
		return ooblex_result_gate_check_mac(g, msg, len, h);
	}
	/* The JPEG says its own size, and that is what a decoder allocates for:
	 * it must be the header's. Reading the header decodes nothing. */
	ooblex_jpeg_info info;
	if(ooblex_jpeg_read_header(g->jpeg, *payload, h->payload_len, &info) < 0)
		return OOBLEX_RESULT_MALFORMED;
	if(info.width != h->width || info.height != h->height)
		return OOBLEX_RESULT_TOO_BIG_PICTURE;
	return ooblex_result_gate_check_mac(g, msg, len, h);
}

ooblex_seq_state ooblex_result_seq_state(uint32_t seq, uint32_t next, uint32_t last_queued) {
	if(seq == 0 || seq > last_queued)
		return OOBLEX_SEQ_NEVER_QUEUED;
	return seq >= next ? OOBLEX_SEQ_IN_FLIGHT : OOBLEX_SEQ_RESOLVED;
}
