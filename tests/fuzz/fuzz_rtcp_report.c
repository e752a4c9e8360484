/*
 * fuzz_rtcp_report.c - RTCP from the browser as the video track's rate
 * control reads it: the report blocks of a compound packet
 * (ooblex_rtcp_report_blocks), each fraction lost then fed to the
 * loss-based controller (send_rate), whose target must stay within its
 * bounds whatever the reports say.
 *
 * fuzz-sources: plugin/egress/send_rate.c
 * fuzz-pkgs:
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "send_rate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	ooblex_rtcp_report_block blocks[4];
	size_t n = ooblex_rtcp_report_blocks(data, size, blocks, 4);
	/* Each block is 24 bytes of the input, after at least a header and an
	 * SSRC: never more than the input holds, never more than asked for. */
	if(n > 4 || n * 24 + (n ? 8 : 0) > size)
		abort();
	ooblex_send_rate r;
	ooblex_send_rate_init(&r, 1500000);
	uint64_t now = 1000000;
	for(size_t i = 0; i < n; i++) {
		/* Times from the blocks' own bytes: any order, any gap. */
		now += blocks[i].jitter % 3000000u;
		ooblex_send_rate_on_loss(&r, blocks[i].fraction_lost, now);
		if(blocks[i].highest_seq & 1)
			ooblex_send_rate_on_remb(&r, blocks[i].ssrc);
		int t = ooblex_send_rate_target(&r);
		if(t < OOBLEX_SEND_RATE_MIN_BPS || t > 1500000 || !isfinite(r.loss_bps))
			abort();
	}
	return 0;
}
