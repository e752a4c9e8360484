/*
 * fake_page.h - the page's end of the data channel, as html/js/ooblex.js
 * has it, for tests and the load generator.
 *
 * Takes the chunks an egress sends (dc_chunker.h: hand fake_page_receive to
 * the host's send_data), puts each frame back together from the chunk
 * headers alone, and acks every frame that arrived whole, as the page does
 * ({"ack":<frame_id>}, through ooblex_egress_on_data). It also says when a
 * frame did not arrive whole (a chunk missing or out of its place): the
 * egress must never send part of a frame. Not thread-safe: one thread uses
 * a page (in the load generator and the integration test, the reader's).
 */
#ifndef OOBLEX_FAKE_PAGE_H
#define OOBLEX_FAKE_PAGE_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "egress.h"

typedef struct fake_page_frame {
	uint64_t frame_id;
	unsigned chunks;
	char *meta;	/* the JSON metadata, NUL-terminated */
	uint8_t *jpeg;
	size_t jpeg_len;
} fake_page_frame;

typedef struct fake_page {
	int keep;	/* keep each whole frame in frames (else only count) */
	uint64_t chunks;	/* every chunk received */
	uint64_t whole;	/* frames received whole */
	uint64_t broken;	/* frames begun and not finished, and chunks out of their place */
	GArray *due;	/* uint64_t: frame ids received whole and not yet acked */
	GPtrArray *frames;	/* fake_page_frame, in arrival order, when keep */
	/* The frame being received. */
	uint64_t cur_id;
	unsigned cur_next, cur_count;	/* cur_count 0: none */
	unsigned cur_meta_len;
	GByteArray *cur;
} fake_page;

void fake_page_init(fake_page *p, int keep);
void fake_page_clear(fake_page *p);
/* One data-channel message from the egress. Returns 0 (the page takes everything). */
int fake_page_receive(fake_page *p, const uint8_t *msg, size_t len);
/* The page's hello ({"hello":"ooblex"}): the channel is open. */
void fake_page_hello(fake_page *p, ooblex_egress *e);
/* Acks, in order, every frame received whole since the last call; a frame
 * that waited for room goes out on an ack, arrives and is acked in turn.
 * Never from inside send_data (the egress lock is held there). Returns the
 * number of acks sent. */
unsigned fake_page_send_acks(fake_page *p, ooblex_egress *e);

#endif
