/*
 * send_rate.h - how fast the processed video track may be sent: the
 * browser's congestion feedback that reaches a Janus 1.1 plugin, turned into
 * the encoder's target.
 *
 * Owns: the reading of RTCP receiver report blocks (in RR and SR packets of
 * a compound packet, every length checked before use: this is network
 * input) and a loss-based rate controller fed by them, with the browser's
 * REMB, when it sends one, as a ceiling.
 *
 * Why loss from receiver reports: Chromium's congestion feedback is
 * transport-wide (transport-cc) once it is negotiated, and then it sends no
 * REMB; Janus 1.1 numbers and sends the transport-wide sequence numbers
 * itself and gives plugins no send-side bandwidth estimate (nor the send
 * times a delay-based one needs). What every receiver sends whatever was
 * negotiated is a receiver report per stream, about once a second, with the
 * fraction of packets lost since the last. The controller is the loss-based
 * half of Google's congestion control (draft-ietf-rmcat-gcc, section 6):
 * over 10% lost, the rate falls by half the fraction lost; under 2%, it
 * grows by 5% a second; in between it holds. Between the minimum and the
 * configured bitrate, never above either the configured rate or REMB.
 *
 * No I/O, no clock (times are the caller's), no threads, no Janus: the
 * egress feeds it under its lock from Janus' RTCP callback; the unit tests
 * and the fuzz target drive it directly.
 */
#ifndef OOBLEX_SEND_RATE_H
#define OOBLEX_SEND_RATE_H

#include <stddef.h>
#include <stdint.h>

/* One report block (RFC 3550 6.4.1), as far as the controller reads it. */
typedef struct ooblex_rtcp_report_block {
	uint32_t ssrc;	/* the stream reported on */
	uint8_t fraction_lost;	/* since the last report, out of 256 */
	int32_t cumulative_lost;	/* 24 bits, signed */
	uint32_t highest_seq;	/* extended */
	uint32_t jitter;
} ooblex_rtcp_report_block;

/* The report blocks of a compound RTCP packet (SR and RR; other packets are
 * passed over), at most max of them into out. Stops at the first packet
 * whose header or length does not fit what is left (what came before it
 * stands). Returns how many were read. */
size_t ooblex_rtcp_report_blocks(const uint8_t *buf, size_t len, ooblex_rtcp_report_block *out, size_t max);

#define OOBLEX_SEND_RATE_MIN_BPS 100000
/* Below this fraction lost (of 256) the rate grows, above the second it falls. */
#define OOBLEX_SEND_RATE_LOW_LOSS 5	/* 2% */
#define OOBLEX_SEND_RATE_HIGH_LOSS 26	/* 10% */
/* A decrease waits this long after the last: the report after one still
 * counts packets sent before it took effect. */
#define OOBLEX_SEND_RATE_DECREASE_HOLD_US (300 * 1000)

typedef struct ooblex_send_rate {
	int max_bps;	/* the configured bitrate */
	double loss_bps;	/* the loss-based estimate */
	uint32_t remb_bps;	/* the browser's last REMB; 0: none */
	uint64_t last_report_us, last_decrease_us;
	uint8_t last_fraction_lost;
	uint64_t reports;	/* report blocks taken */
	uint64_t decreases, increases;
} ooblex_send_rate;

void ooblex_send_rate_init(ooblex_send_rate *r, int max_bps);
/* A receiver report's fraction lost (of 256) for the stream we send, at now_us. */
void ooblex_send_rate_on_loss(ooblex_send_rate *r, uint8_t fraction_lost, uint64_t now_us);
void ooblex_send_rate_on_remb(ooblex_send_rate *r, uint32_t bitrate_bps);
/* What the encoder should aim at now: the loss-based estimate under REMB,
 * within OOBLEX_SEND_RATE_MIN_BPS .. max_bps. */
int ooblex_send_rate_target(const ooblex_send_rate *r);

#endif
