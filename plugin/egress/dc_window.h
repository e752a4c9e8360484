/*
 * dc_window.h - backpressure on the data channel: which frames are still on
 * their way to the page.
 *
 * Owns: the record of the last OOBLEX_DC_WINDOW frames sent and which of
 * them the page acknowledged. A page that acks ({"ack":<frame_id>}, see
 * dc_message.h) decides by its acks: an ack names a frame that was sent and
 * is not yet acked, and acknowledges it and every frame sent before it (the
 * channel is ordered). An ack for anything else (never sent, already acked,
 * fallen out of the record) is refused and changes nothing, so no ack can
 * turn backpressure off. Pages that never ack are paced by the SCTP stack's
 * "drained" events instead: frames sent since the last one.
 *
 * Ordering is by sending, never by the ids' values: ids come from results,
 * which are not trusted to be increasing.
 *
 * Not thread-safe: the caller serialises (the egress's lock, egress.h). No Janus.
 */
#ifndef OOBLEX_DC_WINDOW_H
#define OOBLEX_DC_WINDOW_H

#include <stdint.h>

#define OOBLEX_DC_WINDOW 64

typedef struct ooblex_dc_window {
	uint64_t ids[OOBLEX_DC_WINDOW];	/* a ring, in sending order */
	uint8_t acked[OOBLEX_DC_WINDOW];
	unsigned next;	/* where the next frame sent goes */
	unsigned filled;	/* slots in use, up to OOBLEX_DC_WINDOW */
	unsigned unacked_since_dry;	/* for pages that do not ack */
	int page_acks;	/* the page has sent a valid ack: acks decide */
} ooblex_dc_window;

typedef enum ooblex_dc_ack_result {
	OOBLEX_DC_ACK_OK = 0,
	OOBLEX_DC_ACK_UNKNOWN,	/* not a frame in the record, or already acked */
} ooblex_dc_ack_result;

void ooblex_dc_window_reset(ooblex_dc_window *w);
/* A frame went out whole. */
void ooblex_dc_window_sent(ooblex_dc_window *w, uint64_t id);
/* The page's ack for id. */
ooblex_dc_ack_result ooblex_dc_window_ack(ooblex_dc_window *w, uint64_t id);
/* The SCTP stack's queue drained. */
void ooblex_dc_window_drained(ooblex_dc_window *w);
/* No ack or drain for too long: assume everything sent arrived. */
void ooblex_dc_window_assume_delivered(ooblex_dc_window *w);
/* Frames on their way: sent and not acked (pages that ack), or sent since
 * the last drain (pages that do not). */
unsigned ooblex_dc_window_in_flight(const ooblex_dc_window *w);

#endif
