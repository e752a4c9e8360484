/*
 * dc_window.c - see dc_window.h.
 */
#include "dc_window.h"

#include <string.h>

void ooblex_dc_window_reset(ooblex_dc_window *w) {
	memset(w, 0, sizeof(*w));
}

void ooblex_dc_window_sent(ooblex_dc_window *w, uint64_t id) {
	w->ids[w->next] = id;
	w->acked[w->next] = 0;
	w->next = (w->next + 1) % OOBLEX_DC_WINDOW;
	if(w->filled < OOBLEX_DC_WINDOW)
		w->filled++;
	w->unacked_since_dry++;
}

/* Slot of the k-th most recent frame sent (k = 0: the newest). */
static unsigned slot(const ooblex_dc_window *w, unsigned k) {
	return (w->next + OOBLEX_DC_WINDOW - 1 - k) % OOBLEX_DC_WINDOW;
}

ooblex_dc_ack_result ooblex_dc_window_ack(ooblex_dc_window *w, uint64_t id) {
	/* Newest first: were an id ever sent twice, the later one is meant. An
	 * acked slot ends the search: everything older is acked too. */
	for(unsigned k = 0; k < w->filled; k++) {
		unsigned s = slot(w, k);
		if(w->acked[s])
			break;
		if(w->ids[s] == id) {
			for(unsigned j = k; j < w->filled && !w->acked[slot(w, j)]; j++)
				w->acked[slot(w, j)] = 1;
			w->page_acks = 1;
			return OOBLEX_DC_ACK_OK;
		}
	}
	return OOBLEX_DC_ACK_UNKNOWN;
}

void ooblex_dc_window_drained(ooblex_dc_window *w) {
	w->unacked_since_dry = 0;
}

void ooblex_dc_window_assume_delivered(ooblex_dc_window *w) {
	w->unacked_since_dry = 0;
	for(unsigned k = 0; k < w->filled; k++)
		w->acked[slot(w, k)] = 1;
}

unsigned ooblex_dc_window_in_flight(const ooblex_dc_window *w) {
	if(!w->page_acks)
		return w->unacked_since_dry;
	unsigned n = 0;
	for(unsigned k = 0; k < w->filled && !w->acked[slot(w, k)]; k++)
		n++;
	return n;
}
