/*
 * depay_h264.c - H.264 RTP payloads (RFC 6184), packetization modes 0 and 1.
 *
 * NAL unit types in the first payload byte (low 5 bits):
 *   1-23  a single NAL unit
 *   24    STAP-A: [16-bit size][NAL]... aggregated NAL units of one frame
 *   28    FU-A: one NAL unit in fragments; FU header |S|E|R|type|
 * STAP-B, MTAP and FU-B (25-27, 29) belong to the interleaved mode, which
 * WebRTC never uses; they are refused as malformed. Output is Annex B: each
 * NAL unit prefixed with 00 00 00 01.
 */
#include "depay.h"
#include "depay_codec.h"

#define NAL_IDR 5
#define NAL_SEI 6
#define NAL_SPS 7
#define NAL_PPS 8
#define NAL_AUD 9
#define NAL_STAP_A 24
#define NAL_FU_A 28

static const uint8_t start_code[4] = { 0, 0, 0, 1 };

static int is_key_nal(int type) {
	return type == NAL_IDR || type == NAL_SPS;
}

/* NAL units that only ever open an access unit: a sure frame start. */
static int opens_access_unit(int type) {
	return type == NAL_SPS || type == NAL_PPS || type == NAL_AUD || type == NAL_SEI;
}

static int append_nal(ooblex_frame_buf *f, const uint8_t *nal, size_t len) {
	if(ooblex_frame_buf_append(f, start_code, sizeof(start_code)) < 0)
		return -1;
	return ooblex_frame_buf_append(f, nal, len);
}

int ooblex_depay_h264_append(const uint8_t *payload, size_t len, int first,
		ooblex_frame_buf *f, int *starts, int *keyframe) {
	(void)first;
	if(len < 1 || (payload[0] & 0x80))	/* forbidden_zero_bit */
		return -1;
	int type = payload[0] & 0x1f;
	if(type >= 1 && type <= 23) {
		*starts = opens_access_unit(type) ? DEPAY_START_YES : DEPAY_START_MAYBE;
		if(is_key_nal(type))
			*keyframe = 1;
		return append_nal(f, payload, len);
	}
	if(type == NAL_STAP_A) {
		/* Validate the whole aggregate before appending any of it. */
		size_t off = 1;
		int n = 0;
		while(off < len) {
			if(off + 2 > len)
				return -1;
			size_t size = ((size_t)payload[off] << 8) | payload[off + 1];
			if(size == 0 || off + 2 + size > len)
				return -1;
			off += 2 + size;
			n++;
		}
		if(n == 0)
			return -1;
		*starts = opens_access_unit(payload[3] & 0x1f) ? DEPAY_START_YES : DEPAY_START_MAYBE;
		for(off = 1; off < len;) {
			size_t size = ((size_t)payload[off] << 8) | payload[off + 1];
			if(is_key_nal(payload[off + 2] & 0x1f))
				*keyframe = 1;
			if(append_nal(f, payload + off + 2, size) < 0)
				return -1;
			off += 2 + size;
		}
		return 0;
	}
	if(type == NAL_FU_A) {
		if(len < 3)
			return -1;
		uint8_t fu = payload[1];
		int nal_type = fu & 0x1f;
		if(fu & 0x80) {	/* S: the NAL unit begins; rebuild its header */
			*starts = opens_access_unit(nal_type) ? DEPAY_START_YES : DEPAY_START_MAYBE;
			if(is_key_nal(nal_type))
				*keyframe = 1;
			uint8_t header = (uint8_t)((payload[0] & 0xe0) | nal_type);
			if(ooblex_frame_buf_append(f, start_code, sizeof(start_code)) < 0 ||
					ooblex_frame_buf_append(f, &header, 1) < 0)
				return -1;
		} else {
			*starts = DEPAY_START_NO;
		}
		return ooblex_frame_buf_append(f, payload + 2, len - 2);
	}
	return -1;
}
