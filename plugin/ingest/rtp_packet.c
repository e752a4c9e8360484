/*
 * rtp_packet.c - RTP header parsing.
 */
#include "rtp_packet.h"

int ooblex_rtp_parse(const uint8_t *buf, size_t len, ooblex_rtp_packet *pkt) {
	uint32_t timestamp;
	int marker;
	if(!ooblex_rtp_peek(buf, len, &timestamp, &marker))
		return -1;
	size_t off = 12 + 4u * (buf[0] & 0x0f);	/* CSRC list */
	if(off > len)
		return -1;
	if(buf[0] & 0x10) {	/* header extension: 16-bit profile, 16-bit length in words */
		if(off + 4 > len)
			return -1;
		size_t words = ((size_t)buf[off + 2] << 8) | buf[off + 3];
		off += 4 + 4 * words;
		if(off > len)
			return -1;
	}
	size_t end = len;
	if(buf[0] & 0x20) {	/* padding: the last byte counts the padding bytes, itself included */
		uint8_t pad = buf[len - 1];
		if(pad == 0 || pad > end - off)
			return -1;
		end -= pad;
	}
	pkt->marker = (uint8_t)marker;
	pkt->payload_type = buf[1] & 0x7f;
	pkt->seq = (uint16_t)((buf[2] << 8) | buf[3]);
	pkt->timestamp = timestamp;
	pkt->ssrc = ((uint32_t)buf[8] << 24) | ((uint32_t)buf[9] << 16) | ((uint32_t)buf[10] << 8) | buf[11];
	pkt->payload = buf + off;
	pkt->payload_len = end - off;
	return 0;
}
