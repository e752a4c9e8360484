/*
 * send_rate.c - see send_rate.h.
 */
#include "send_rate.h"

#include <string.h>

#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_HEADER_LEN 4
#define RTCP_SR_FIXED_LEN 28	/* header, sender SSRC, NTP, RTP ts, counts */
#define RTCP_RR_FIXED_LEN 8	/* header, sender SSRC */
#define RTCP_REPORT_BLOCK_LEN 24

static uint32_t be32(const uint8_t *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t ooblex_rtcp_report_blocks(const uint8_t *buf, size_t len, ooblex_rtcp_report_block *out, size_t max) {
	size_t n = 0, at = 0;
	if(buf == NULL)
		return 0;
	while(len - at >= RTCP_HEADER_LEN) {
		const uint8_t *p = buf + at;
		if((p[0] >> 6) != 2)
			break;
		size_t size = ((size_t)(p[2] << 8 | p[3]) + 1) * 4;
		if(size > len - at)
			break;
		unsigned count = p[0] & 0x1f;
		size_t fixed = p[1] == RTCP_SR ? RTCP_SR_FIXED_LEN : p[1] == RTCP_RR ? RTCP_RR_FIXED_LEN : 0;
		/* Blocks the packet's own length does not hold are not read (a
		 * count that lies): only those within it. */
		if(fixed != 0 && size >= fixed) {
			size_t fit = (size - fixed) / RTCP_REPORT_BLOCK_LEN;
			if(count > fit)
				count = (unsigned)fit;
			for(unsigned i = 0; i < count && n < max; i++) {
				const uint8_t *b = p + fixed + (size_t)i * RTCP_REPORT_BLOCK_LEN;
				ooblex_rtcp_report_block *r = &out[n++];
				r->ssrc = be32(b);
				r->fraction_lost = b[4];
				uint32_t cum = (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
				r->cumulative_lost = (cum & 0x800000u) ? (int32_t)cum - 0x1000000 : (int32_t)cum;
				r->highest_seq = be32(b + 8);
				r->jitter = be32(b + 12);
			}
		}
		at += size;
	}
	return n;
}

void ooblex_send_rate_init(ooblex_send_rate *r, int max_bps) {
	memset(r, 0, sizeof(*r));
	r->max_bps = max_bps > OOBLEX_SEND_RATE_MIN_BPS ? max_bps : OOBLEX_SEND_RATE_MIN_BPS;
	r->loss_bps = r->max_bps;
}

void ooblex_send_rate_on_loss(ooblex_send_rate *r, uint8_t fraction_lost, uint64_t now_us) {
	/* The time since the last report scales the growth (5% a second, as
	 * GCC grows at each of its once-a-second updates; compounding within
	 * two seconds is too small to matter); a long gap counts as two
	 * seconds, not as license to jump. */
	double dt_s = r->last_report_us != 0 && now_us > r->last_report_us ? (now_us - r->last_report_us) / 1e6 : 1.0;
	if(dt_s > 2.0)
		dt_s = 2.0;
	r->last_report_us = now_us;
	r->last_fraction_lost = fraction_lost;
	r->reports++;
	if(fraction_lost > OOBLEX_SEND_RATE_HIGH_LOSS) {
		if(r->last_decrease_us != 0 && now_us - r->last_decrease_us < OOBLEX_SEND_RATE_DECREASE_HOLD_US)
			return;
		r->loss_bps *= 1.0 - 0.5 * (fraction_lost / 256.0);
		r->last_decrease_us = now_us;
		r->decreases++;
	} else if(fraction_lost < OOBLEX_SEND_RATE_LOW_LOSS && r->loss_bps < r->max_bps) {
		r->loss_bps *= 1.0 + 0.05 * dt_s;
		r->increases++;
	}
	if(r->loss_bps > r->max_bps)
		r->loss_bps = r->max_bps;
	if(r->loss_bps < OOBLEX_SEND_RATE_MIN_BPS)
		r->loss_bps = OOBLEX_SEND_RATE_MIN_BPS;
}

void ooblex_send_rate_on_remb(ooblex_send_rate *r, uint32_t bitrate_bps) {
	r->remb_bps = bitrate_bps;
}

int ooblex_send_rate_target(const ooblex_send_rate *r) {
	double t = r->loss_bps;
	if(r->remb_bps > 0 && r->remb_bps < t)
		t = r->remb_bps;
	if(t > r->max_bps)
		t = r->max_bps;
	if(t < OOBLEX_SEND_RATE_MIN_BPS)
		t = OOBLEX_SEND_RATE_MIN_BPS;
	return (int)t;
}
