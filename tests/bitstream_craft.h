/*
 * bitstream_craft.h - hostile bitstream headers for tests and fuzz seeds:
 * an H.264 SPS written field by field (emulation prevention added), and a
 * VP8 keyframe header rewritten to claim another size.
 *
 * Header-only (static functions): the unit test, the hostile-ingest
 * integration test and the fuzz corpus generator share it.
 */
#ifndef OOBLEX_BITSTREAM_CRAFT_H
#define OOBLEX_BITSTREAM_CRAFT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bitstream_headers.h"

typedef struct craft_bits {
	uint8_t buf[4096];
	size_t bits;
} craft_bits;

static inline void craft_bit(craft_bits *bw, unsigned b) {
	if(bw->bits >= sizeof(bw->buf) * 8)
		return;
	if(b)
		bw->buf[bw->bits >> 3] |= (uint8_t)(0x80 >> (bw->bits & 7));
	bw->bits++;
}

static inline void craft_put(craft_bits *bw, uint64_t v, int n) {
	for(int i = n - 1; i >= 0; i--)
		craft_bit(bw, (unsigned)(v >> i) & 1);
}

static inline void craft_ue(craft_bits *bw, uint64_t v) {
	uint64_t x = v + 1;
	int n = 0;
	while((x >> n) > 1)
		n++;
	craft_put(bw, 0, n);
	craft_put(bw, x, n + 1);
}

static inline void craft_se(craft_bits *bw, int64_t v) {
	craft_ue(bw, v > 0 ? (uint64_t)(2 * v - 1) : (uint64_t)(-2 * v));
}

/* The fields written; raw values, so that anything can be claimed. */
typedef struct craft_sps {
	unsigned profile, constraints, level, sps_id, chroma;
	unsigned log2_max_frame_num, poc_type, log2_max_poc_lsb, refs;
	int gaps, frame_mbs_only, direct_8x8;
	int scaling_lists;	/* write every list, in full */
	uint64_t width_mbs_minus1, height_map_units_minus1;
	unsigned crop[4];	/* left, right, top, bottom */
	size_t crop_end_bits;	/* out: where the cropping fields end in the RBSP */
} craft_sps;

/* A VGA constrained-baseline SPS: the starting point of most crafted ones. */
static inline craft_sps craft_sps_vga(void) {
	craft_sps f = { .profile = 66, .constraints = 0xc0, .level = 30, .chroma = 1, .log2_max_frame_num = 4,
		.poc_type = 2, .log2_max_poc_lsb = 4, .refs = 1, .frame_mbs_only = 1, .direct_8x8 = 1,
		.width_mbs_minus1 = 39, .height_map_units_minus1 = 29 };
	return f;
}

/* The same fields as a parsed SPS (slice headers that followed it still
 * parse), size and cropping left to the caller. */
static inline craft_sps craft_sps_from(const ooblex_h264_sps *s) {
	craft_sps f = { .profile = s->profile_idc, .constraints = s->constraint_flags, .level = s->level_idc,
		.sps_id = s->sps_id, .chroma = s->chroma_format_idc, .log2_max_frame_num = s->log2_max_frame_num,
		.poc_type = s->poc_type, .log2_max_poc_lsb = s->log2_max_poc_lsb, .refs = s->max_num_ref_frames,
		.gaps = s->gaps_allowed, .frame_mbs_only = s->frame_mbs_only, .direct_8x8 = s->direct_8x8,
		.width_mbs_minus1 = s->coded_width / 16 - 1,
		.height_map_units_minus1 = s->coded_height / 16 / (s->frame_mbs_only ? 1 : 2) - 1 };
	return f;
}

/* Writes the SPS NAL unit (header byte 0x67 first) into out, which must
 * hold 2 * 4096 bytes at worst; returns its length. */
static inline size_t craft_write_sps(craft_sps *f, uint8_t *out) {
	craft_bits bw;
	memset(&bw, 0, sizeof(bw));
	craft_put(&bw, f->profile, 8);
	craft_put(&bw, f->constraints, 8);
	craft_put(&bw, f->level, 8);
	craft_ue(&bw, f->sps_id);
	unsigned p = f->profile;
	if(p == 100 || p == 110 || p == 122 || p == 244 || p == 44 || p == 83 || p == 86 || p == 118 || p == 128 ||
			p == 138 || p == 139 || p == 134 || p == 135) {
		craft_ue(&bw, f->chroma);
		if(f->chroma == 3)
			craft_bit(&bw, 0);
		craft_ue(&bw, 0);
		craft_ue(&bw, 0);
		craft_bit(&bw, 0);
		craft_bit(&bw, f->scaling_lists != 0);
		if(f->scaling_lists)
			for(int i = 0; i < (f->chroma != 3 ? 8 : 12); i++) {
				craft_bit(&bw, 1);
				for(int j = 0; j < (i < 6 ? 16 : 64); j++)
					craft_se(&bw, j % 2 ? 7 : -7);	/* never reaches zero: every delta is read */
			}
	}
	craft_ue(&bw, f->log2_max_frame_num - 4);
	craft_ue(&bw, f->poc_type);
	if(f->poc_type == 0)
		craft_ue(&bw, f->log2_max_poc_lsb - 4);
	else if(f->poc_type == 1) {
		craft_bit(&bw, 0);
		craft_se(&bw, -3);
		craft_se(&bw, 5);
		craft_ue(&bw, 3);
		craft_se(&bw, 1); craft_se(&bw, -1); craft_se(&bw, 2);
	}
	craft_ue(&bw, f->refs);
	craft_bit(&bw, (unsigned)f->gaps);
	craft_ue(&bw, f->width_mbs_minus1);
	craft_ue(&bw, f->height_map_units_minus1);
	craft_bit(&bw, (unsigned)f->frame_mbs_only);
	if(!f->frame_mbs_only)
		craft_bit(&bw, 0);
	craft_bit(&bw, (unsigned)f->direct_8x8);
	int cropping = f->crop[0] || f->crop[1] || f->crop[2] || f->crop[3];
	craft_bit(&bw, (unsigned)cropping);
	if(cropping)
		for(int i = 0; i < 4; i++)
			craft_ue(&bw, f->crop[i]);
	f->crop_end_bits = bw.bits;
	craft_bit(&bw, 0);	/* no VUI */
	craft_bit(&bw, 1);	/* rbsp_stop_one_bit */
	size_t n = (bw.bits + 7) / 8, o = 0;
	int zeros = 0;
	out[o++] = 0x67;
	for(size_t i = 0; i < n; i++) {
		if(zeros >= 2 && bw.buf[i] <= 3) {
			out[o++] = 0x03;
			zeros = 0;
		}
		zeros = bw.buf[i] == 0 ? zeros + 1 : 0;
		out[o++] = bw.buf[i];
	}
	return o;
}

/* A VP8 keyframe header (10 bytes) claiming w x h with upscaling bits. */
static inline void craft_vp8_header(uint8_t b[10], unsigned w, unsigned h, unsigned scale) {
	unsigned first_part = 100;
	b[0] = (uint8_t)(0x10 | ((first_part << 5) & 0xe0));	/* key, version 0, shown */
	b[1] = (uint8_t)(first_part >> 3);
	b[2] = (uint8_t)(first_part >> 11);
	b[3] = 0x9d; b[4] = 0x01; b[5] = 0x2a;
	b[6] = (uint8_t)w; b[7] = (uint8_t)(((w >> 8) & 0x3f) | (scale << 6));
	b[8] = (uint8_t)h; b[9] = (uint8_t)(((h >> 8) & 0x3f) | (scale << 6));
}

/* Rewrites the size a real VP8 keyframe claims (bytes 6..9). */
static inline void craft_vp8_resize(uint8_t *frame, unsigned w, unsigned h) {
	frame[6] = (uint8_t)w; frame[7] = (uint8_t)((frame[7] & 0xc0) | ((w >> 8) & 0x3f));
	frame[8] = (uint8_t)h; frame[9] = (uint8_t)((frame[9] & 0xc0) | ((h >> 8) & 0x3f));
}

#endif
