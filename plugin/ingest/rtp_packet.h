/*
 * rtp_packet.h - RTP header parsing (RFC 3550), without Janus.
 *
 * Owns: finding the payload of one packet: version check, CSRCs, header
 * extension and padding are skipped. Janus hands the plugin packets with SRTP
 * already removed; this module only reads them.
 */
#ifndef OOBLEX_RTP_PACKET_H
#define OOBLEX_RTP_PACKET_H

#include <stddef.h>
#include <stdint.h>

typedef struct ooblex_rtp_packet {
	uint16_t seq;
	uint32_t timestamp;
	uint32_t ssrc;
	uint8_t payload_type;
	uint8_t marker;
	const uint8_t *payload;	/* points into the packet */
	size_t payload_len;	/* padding excluded */
} ooblex_rtp_packet;

/* Returns 0 and fills pkt, or -1 if the buffer is not a well-formed RTP packet.
 * A padding-only packet (bandwidth probe) parses with payload_len 0. */
int ooblex_rtp_parse(const uint8_t *buf, size_t len, ooblex_rtp_packet *pkt);

/* The fixed header's frame boundary only (version 2, marker bit, timestamp),
 * for Janus' media thread, which must tell where a frame ends without the
 * whole parse (the ingest thread parses, and refuses, packets properly).
 * 1 and fills both when buf starts like RTP, else 0. */
static inline int ooblex_rtp_peek(const uint8_t *buf, size_t len, uint32_t *timestamp, int *marker) {
	if(buf == NULL || len < 12 || (buf[0] >> 6) != 2)
		return 0;
	*marker = buf[1] >> 7;
	*timestamp = ((uint32_t)buf[4] << 24) | ((uint32_t)buf[5] << 16) | ((uint32_t)buf[6] << 8) | buf[7];
	return 1;
}

/* Signed distance a - b on the 16-bit sequence circle. */
static inline int16_t ooblex_seq_diff(uint16_t a, uint16_t b) {
	return (int16_t)(uint16_t)(a - b);
}

/* Extends 16-bit sequence numbers to 32 bits across wraps, so that ordering
 * code can compare them plainly. The first number lands in cycle 1, which
 * leaves room for packets that arrive late from before it. */
typedef struct ooblex_seq_unwrapper {
	int started;
	uint32_t highest;
} ooblex_seq_unwrapper;

static inline uint32_t ooblex_seq_unwrap(ooblex_seq_unwrapper *u, uint16_t seq) {
	if(!u->started) {
		u->started = 1;
		u->highest = 0x10000u + seq;
		return u->highest;
	}
	int16_t d = ooblex_seq_diff(seq, (uint16_t)u->highest);
	uint32_t ext = u->highest + (uint32_t)(int32_t)d;
	if(d > 0)
		u->highest = ext;
	return ext;
}

#endif
