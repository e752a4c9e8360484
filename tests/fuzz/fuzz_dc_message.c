/*
 * fuzz_dc_message.c - data-channel messages from the page, as the plugin
 * reads them: parsed (dc_message), and every ack offered to the ack window
 * (dc_window), whose invariants are checked.
 *
 * fuzz-sources: plugin/egress/dc_message.c plugin/egress/dc_window.c
 * fuzz-pkgs:
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dc_message.h"
#include "dc_window.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	ooblex_dc_message m;
	ooblex_dc_message_kind k = ooblex_dc_message_parse(data, size, &m);
	if(k != OOBLEX_DC_MSG_ACK && m.ack_id != 0)
		abort();
	if(size > OOBLEX_DC_MESSAGE_MAX && k != OOBLEX_DC_MSG_OVERSIZED)
		abort();
	/* The window: frames 1..40 sent, then the input split into messages at
	 * newlines, each ack offered. In flight never grows on an ack, and an
	 * ack for an id never sent changes nothing. */
	ooblex_dc_window w;
	ooblex_dc_window_reset(&w);
	for(uint64_t id = 1; id <= 40; id++)
		ooblex_dc_window_sent(&w, id);
	ooblex_dc_window_ack(&w, 1);
	const uint8_t *p = data, *end = data + size;
	int only_1_to_40 = 1;	/* no other frame sent yet */
	while(p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if(ooblex_dc_message_parse(p, n, &m) == OOBLEX_DC_MSG_ACK) {
			unsigned before = ooblex_dc_window_in_flight(&w);
			ooblex_dc_window before_w = w;
			ooblex_dc_ack_result r = ooblex_dc_window_ack(&w, m.ack_id);
			unsigned after = ooblex_dc_window_in_flight(&w);
			if(after > before)
				abort();
			if(r != OOBLEX_DC_ACK_OK && memcmp(&before_w, &w, sizeof(w)) != 0)
				abort();
			if(only_1_to_40 && (m.ack_id == 0 || m.ack_id > 40) && r == OOBLEX_DC_ACK_OK)
				abort();
			if(only_1_to_40 && r == OOBLEX_DC_ACK_OK && after != 40 - m.ack_id)
				abort();
		} else if(n > 0 && p[0] == 's') {
			/* "s": one more frame sent, with an id from the input. */
			uint64_t id = 0;
			memcpy(&id, p, n < sizeof(id) ? n : sizeof(id));
			ooblex_dc_window_sent(&w, id);
			only_1_to_40 = 0;
		}
		p += n + (nl ? 1 : 0);
	}
	return 0;
}
