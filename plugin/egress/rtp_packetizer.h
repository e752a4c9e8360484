/*
 * rtp_packetizer.h - encoded VP8 or H.264 frames into RTP packets.
 *
 * Owns: one outgoing stream's RTP state (payload type, SSRC, sequence
 * number, VP8 picture id) and the splitting of a frame into packets of at
 * most max_packet bytes, RTP header included: VP8 per RFC 7741 (descriptor
 * with a 15-bit picture id), H.264 per RFC 6184 packetization-mode 1 (single
 * NAL units, STAP-A for SPS+PPS, FU-A for the rest). The marker bit ends
 * each frame. No Janus, no allocation per packet.
 */
#ifndef OOBLEX_RTP_PACKETIZER_H
#define OOBLEX_RTP_PACKETIZER_H

#include <stddef.h>
#include <stdint.h>

#include "ooblex_codec.h"

#define OOBLEX_RTP_MAX_PACKET 1500

typedef struct ooblex_rtp_packetizer {
	ooblex_codec codec;
	uint8_t payload_type;
	uint32_t ssrc;
	uint16_t seq;
	uint16_t picture_id;	/* VP8 */
	size_t max_packet;	/* header included; at most OOBLEX_RTP_MAX_PACKET */
	uint64_t packets, bytes;
} ooblex_rtp_packetizer;

typedef void (*ooblex_rtp_emit_fn)(const uint8_t *packet, size_t len, void *user);

/* max_packet: 1200 is what WebRTC stacks use to stay under any path MTU. */
void ooblex_rtp_packetizer_init(ooblex_rtp_packetizer *p, ooblex_codec codec, uint8_t payload_type,
	uint32_t ssrc, uint16_t first_seq, size_t max_packet);

/* Packetizes one encoded frame (VP8 bitstream, or H.264 Annex B) with RTP
 * timestamp ts; emit gets each packet (valid during the call). Returns the
 * number of packets, or -1 when the frame holds nothing to send. */
int ooblex_rtp_packetize(ooblex_rtp_packetizer *p, const uint8_t *frame, size_t len, uint32_t ts,
	ooblex_rtp_emit_fn emit, void *user);

#endif
