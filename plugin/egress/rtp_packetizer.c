/*
 * rtp_packetizer.c - see rtp_packetizer.h.
 */
#include "rtp_packetizer.h"

#include <string.h>

#define RTP_HEADER 12
#define MAX_NALS 64

void ooblex_rtp_packetizer_init(ooblex_rtp_packetizer *p, ooblex_codec codec, uint8_t payload_type,
		uint32_t ssrc, uint16_t first_seq, size_t max_packet) {
	memset(p, 0, sizeof(*p));
	p->codec = codec;
	p->payload_type = payload_type & 0x7f;
	p->ssrc = ssrc;
	p->seq = first_seq;
	p->picture_id = (uint16_t)(ssrc & 0x7fff);
	p->max_packet = max_packet < 64 ? 64 : max_packet > OOBLEX_RTP_MAX_PACKET ? OOBLEX_RTP_MAX_PACKET : max_packet;
}

/* One packet: RTP header, then prefix (descriptor, FU or STAP-A header), then body. */
static void send_packet(ooblex_rtp_packetizer *p, uint32_t ts, int marker, const uint8_t *prefix, size_t plen,
		const uint8_t *body, size_t blen, ooblex_rtp_emit_fn emit, void *user) {
	uint8_t buf[OOBLEX_RTP_MAX_PACKET];
	buf[0] = 0x80;
	buf[1] = (uint8_t)((marker ? 0x80 : 0) | p->payload_type);
	buf[2] = (uint8_t)(p->seq >> 8);
	buf[3] = (uint8_t)(p->seq & 0xff);
	buf[4] = (uint8_t)(ts >> 24);
	buf[5] = (uint8_t)(ts >> 16);
	buf[6] = (uint8_t)(ts >> 8);
	buf[7] = (uint8_t)ts;
	buf[8] = (uint8_t)(p->ssrc >> 24);
	buf[9] = (uint8_t)(p->ssrc >> 16);
	buf[10] = (uint8_t)(p->ssrc >> 8);
	buf[11] = (uint8_t)p->ssrc;
	if(plen > 0)
		memcpy(buf + RTP_HEADER, prefix, plen);
	if(blen > 0)
		memcpy(buf + RTP_HEADER + plen, body, blen);
	emit(buf, RTP_HEADER + plen + blen, user);
	p->seq++;
	p->packets++;
	p->bytes += RTP_HEADER + plen + blen;
}

static int packetize_vp8(ooblex_rtp_packetizer *p, const uint8_t *data, size_t len, uint32_t ts,
		ooblex_rtp_emit_fn emit, void *user) {
	/* Descriptor: X=1, S on the first packet, PID 0; I=1 with a 15-bit
	 * picture id (receivers use it to spot lost frames). */
	const size_t desc_len = 4, room = p->max_packet - RTP_HEADER - desc_len;
	int n = 0;
	for(size_t off = 0; off < len; n++) {
		size_t chunk = len - off > room ? room : len - off;
		uint8_t desc[4] = { (uint8_t)(0x80 | (off == 0 ? 0x10 : 0)), 0x80,
			(uint8_t)(0x80 | ((p->picture_id >> 8) & 0x7f)), (uint8_t)(p->picture_id & 0xff) };
		send_packet(p, ts, off + chunk == len, desc, desc_len, data + off, chunk, emit, user);
		off += chunk;
	}
	p->picture_id = (uint16_t)((p->picture_id + 1) & 0x7fff);
	return n;
}

/* The next NAL unit of an Annex B stream at or after *pos, or NULL. */
static const uint8_t *next_nal(const uint8_t *data, size_t len, size_t *pos, size_t *nal_len) {
	size_t i = *pos;
	while(i + 3 <= len && !(data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1))
		i++;
	if(i + 3 > len)
		return NULL;
	size_t start = i + 3, end = start;
	while(end + 3 <= len && !(data[end] == 0 && data[end + 1] == 0 &&
			(data[end + 2] == 1 || (data[end + 2] == 0 && end + 3 < len && data[end + 3] == 1))))
		end++;
	if(end + 3 > len)
		end = len;
	*pos = end;
	*nal_len = end - start;
	return data + start;
}

static int packetize_h264(ooblex_rtp_packetizer *p, const uint8_t *data, size_t len, uint32_t ts,
		ooblex_rtp_emit_fn emit, void *user) {
	const uint8_t *nals[MAX_NALS];
	size_t lens[MAX_NALS], n = 0, pos = 0, nl;
	const uint8_t *nal;
	while(n < MAX_NALS && (nal = next_nal(data, len, &pos, &nl)) != NULL)
		if(nl > 0) {
			nals[n] = nal;
			lens[n++] = nl;
		}
	const size_t room = p->max_packet - RTP_HEADER;
	int sent = 0;
	for(size_t i = 0; i < n; i++) {
		int type = nals[i][0] & 0x1f, last = i + 1 == n;
		if(type == 7 && i + 1 < n && (nals[i + 1][0] & 0x1f) == 8 && 1 + 2 + lens[i] + 2 + lens[i + 1] <= room) {
			/* SPS and PPS in one STAP-A, as browsers send them. */
			uint8_t stap[OOBLEX_RTP_MAX_PACKET];
			size_t o = 0;
			stap[o++] = (uint8_t)((nals[i][0] & 0x60) | 24);
			for(int k = 0; k < 2; k++) {
				stap[o++] = (uint8_t)(lens[i + k] >> 8);
				stap[o++] = (uint8_t)(lens[i + k] & 0xff);
				memcpy(stap + o, nals[i + k], lens[i + k]);
				o += lens[i + k];
			}
			send_packet(p, ts, i + 2 == n, stap, o, NULL, 0, emit, user);
			sent++;
			i++;
		} else if(lens[i] <= room) {
			send_packet(p, ts, last, nals[i], lens[i], NULL, 0, emit, user);
			sent++;
		} else {
			/* FU-A: the NAL header's F and NRI, type 28; then S/E and the type. */
			for(size_t off = 1; off < lens[i]; sent++) {
				size_t chunk = lens[i] - off > room - 2 ? room - 2 : lens[i] - off;
				uint8_t fu[2] = { (uint8_t)((nals[i][0] & 0xe0) | 28),
					(uint8_t)((off == 1 ? 0x80 : 0) | (off + chunk == lens[i] ? 0x40 : 0) | type) };
				send_packet(p, ts, last && off + chunk == lens[i], fu, 2, nals[i] + off, chunk, emit, user);
				off += chunk;
			}
		}
	}
	return sent > 0 ? sent : -1;
}

int ooblex_rtp_packetize(ooblex_rtp_packetizer *p, const uint8_t *frame, size_t len, uint32_t ts,
		ooblex_rtp_emit_fn emit, void *user) {
	if(frame == NULL || len == 0)
		return -1;
	if(p->codec == OOBLEX_CODEC_H264)
		return packetize_h264(p, frame, len, ts, emit, user);
	return packetize_vp8(p, frame, len, ts, emit, user);
}
