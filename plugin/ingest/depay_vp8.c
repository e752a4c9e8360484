/*
 * depay_vp8.c - VP8 RTP payloads (RFC 7741 section 4).
 *
 * Payload descriptor:
 *   |X|R|N|S|R| PID |   X: extensions follow, S: start of partition, PID: partition
 *   |I|L|T|K| RSV   |   (if X) which optional fields follow
 *   |M| PictureID   |   (if I) 7 or 15 bits, M says which
 *   |  TL0PICIDX    |   (if L)
 *   |TID|Y| KEYIDX  |   (if T or K)
 * The first byte of the VP8 bitstream of a frame has P=0 for keyframes.
 */
#include "depay.h"
#include "depay_codec.h"

int ooblex_vp8_descriptor_len(const uint8_t *p, size_t len, int *start) {
	if(len < 1)
		return -1;
	size_t off = 1;
	*start = (p[0] & 0x10) && (p[0] & 0x07) == 0;
	if(p[0] & 0x80) {
		if(len < 2)
			return -1;
		uint8_t ext = p[1];
		off = 2;
		if(ext & 0x80) {	/* I: PictureID */
			if(off >= len)
				return -1;
			off += (p[off] & 0x80) ? 2 : 1;
		}
		if(ext & 0x40)	/* L: TL0PICIDX */
			off++;
		if(ext & 0x30)	/* T or K: TID/Y/KEYIDX byte */
			off++;
	}
	return off <= len ? (int)off : -1;
}

int ooblex_depay_vp8_append(const uint8_t *payload, size_t len, int first,
		ooblex_frame_buf *f, int *starts, int *keyframe) {
	int start = 0;
	int dlen = ooblex_vp8_descriptor_len(payload, len, &start);
	if(dlen < 0 || (size_t)dlen >= len)
		return -1;	/* no VP8 data */
	if(start && !first)
		return -1;	/* a second frame start inside one timestamp */
	*starts = start ? DEPAY_START_YES : DEPAY_START_NO;
	if(first && start)
		*keyframe = (payload[dlen] & 0x01) == 0;
	return ooblex_frame_buf_append(f, payload + dlen, len - (size_t)dlen);
}
