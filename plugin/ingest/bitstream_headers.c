/*
 * bitstream_headers.c - VP8 keyframe header and H.264 SPS size fields.
 */
#include "bitstream_headers.h"

#include <string.h>

int ooblex_vp8_frame_size(const uint8_t *p, size_t len, unsigned *width, unsigned *height) {
	if(len < 3)
		return -1;
	/* Frame tag, little-endian: bit 0 is 0 for a keyframe. */
	if(p[0] & 0x01)
		return 0;
	if(len < 10 || p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a)
		return -1;
	/* 14 bits of size, 2 of upscaling (which libavcodec ignores: it
	 * allocates the coded size). */
	unsigned w = (unsigned)(p[6] | (p[7] << 8)) & 0x3fff;
	unsigned h = (unsigned)(p[8] | (p[9] << 8)) & 0x3fff;
	if(w == 0 || h == 0)
		return -1;
	*width = w;
	*height = h;
	return 1;
}

/* ------------------------------------------------------------ bit reading */

/* Everything the SPS parser reads lies in front of the VUI: the scaling
 * lists are the longest part (12 lists of up to 64 signed exp-Golomb codes,
 * at most 17 bits each: about 1.7 KB). What lies beyond is never needed. */
#define SPS_RBSP_MAX 4096

typedef struct bit_reader {
	const uint8_t *data;
	size_t bits, pos;	/* in bits */
	int overrun;	/* read past the end: the SPS is truncated */
} bit_reader;

static unsigned read_bit(bit_reader *br) {
	if(br->pos >= br->bits) {
		br->overrun = 1;
		return 0;
	}
	unsigned b = (br->data[br->pos >> 3] >> (7 - (br->pos & 7))) & 1;
	br->pos++;
	return b;
}

static uint32_t read_bits(bit_reader *br, int n) {
	uint32_t v = 0;
	for(int i = 0; i < n; i++)
		v = (v << 1) | read_bit(br);
	return v;
}

/* ue(v): leading zeros, a one, as many info bits. 32 or more leading zeros
 * encode nothing a conforming stream uses: overrun. Returns up to 2^32 - 2. */
static uint32_t read_ue(bit_reader *br) {
	int zeros = 0;
	while(read_bit(br) == 0) {
		if(br->overrun || ++zeros > 31) {
			br->overrun = 1;
			return 0;
		}
	}
	if(zeros == 0)
		return 0;
	uint64_t v = ((uint64_t)1 << zeros) - 1 + read_bits(br, zeros);
	return v > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)v;
}

/* se(v): 1, 2, 3, 4 ... map to 1, -1, 2, -2 ... */
static int64_t read_se(bit_reader *br) {
	uint32_t k = read_ue(br);
	return (k & 1) ? (int64_t)(k / 2) + 1 : -(int64_t)(k / 2);
}

/* The NAL unit's payload without emulation prevention bytes (00 00 03 ->
 * 00 00), at most cap bytes of it. */
static size_t nal_to_rbsp(const uint8_t *nal, size_t len, uint8_t *rbsp, size_t cap) {
	size_t n = 0;
	int zeros = 0;
	for(size_t i = 0; i < len && n < cap; i++) {
		if(zeros >= 2 && nal[i] == 0x03) {
			zeros = 0;
			continue;
		}
		zeros = nal[i] == 0 ? zeros + 1 : 0;
		rbsp[n++] = nal[i];
	}
	return n;
}

/* ----------------------------------------------------------------- H.264 */

static int has_chroma_fields(unsigned profile_idc) {
	switch(profile_idc) {
		case 100: case 110: case 122: case 244: case 44: case 83: case 86: case 118: case 128:
		case 138: case 139: case 134: case 135:
			return 1;
		default:
			return 0;
	}
}

/* scaling_list(): read to stay aligned; the values do not matter here. */
static void skip_scaling_list(bit_reader *br, int size) {
	int last = 8, next = 8;
	for(int j = 0; j < size && !br->overrun; j++) {
		if(next != 0) {
			int64_t delta = read_se(br);
			if(delta < -128 || delta > 127) {
				br->overrun = 1;	/* out of range: malformed */
				return;
			}
			next = (int)((last + delta + 256) % 256);
		}
		last = next == 0 ? last : next;
	}
}

static uint32_t sat_u32(uint64_t v) {
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

int ooblex_h264_parse_sps(const uint8_t *nal, size_t len, ooblex_h264_sps *sps) {
	if(len < 4 || (nal[0] & 0x80) || (nal[0] & 0x1f) != 7)
		return -1;
	uint8_t rbsp[SPS_RBSP_MAX];
	size_t n = nal_to_rbsp(nal + 1, len - 1, rbsp, sizeof(rbsp));
	bit_reader br = { .data = rbsp, .bits = n * 8 };
	memset(sps, 0, sizeof(*sps));
	sps->profile_idc = read_bits(&br, 8);
	sps->constraint_flags = read_bits(&br, 8);	/* constraint_set0..5 flags, reserved_zero_2bits */
	sps->level_idc = read_bits(&br, 8);
	sps->sps_id = read_ue(&br);
	if(sps->sps_id > 31)
		return -1;
	sps->chroma_format_idc = 1;
	sps->bit_depth_luma = 8;
	int separate_colour_planes = 0;
	if(has_chroma_fields(sps->profile_idc)) {
		sps->chroma_format_idc = read_ue(&br);
		if(sps->chroma_format_idc > 3)
			return -1;
		if(sps->chroma_format_idc == 3)
			separate_colour_planes = (int)read_bit(&br);
		uint32_t luma = read_ue(&br), chroma = read_ue(&br);
		if(luma > 6 || chroma > 6)
			return -1;
		sps->bit_depth_luma = 8 + luma;
		read_bit(&br);	/* qpprime_y_zero_transform_bypass_flag */
		if(read_bit(&br)) {	/* seq_scaling_matrix_present_flag */
			int lists = sps->chroma_format_idc != 3 ? 8 : 12;
			for(int i = 0; i < lists && !br.overrun; i++)
				if(read_bit(&br))
					skip_scaling_list(&br, i < 6 ? 16 : 64);
		}
	}
	uint32_t log2_max_frame_num_minus4 = read_ue(&br);
	if(log2_max_frame_num_minus4 > 12)
		return -1;
	sps->log2_max_frame_num = 4 + log2_max_frame_num_minus4;
	uint32_t poc_type = read_ue(&br);
	if(poc_type > 2)
		return -1;
	sps->poc_type = poc_type;
	if(poc_type == 0) {
		uint32_t lsb_minus4 = read_ue(&br);
		if(lsb_minus4 > 12)
			return -1;
		sps->log2_max_poc_lsb = 4 + lsb_minus4;
	} else if(poc_type == 1) {
		read_bit(&br);	/* delta_pic_order_always_zero_flag */
		read_se(&br);	/* offset_for_non_ref_pic */
		read_se(&br);	/* offset_for_top_to_bottom_field */
		uint32_t cycle = read_ue(&br);
		if(cycle > 255)
			return -1;
		for(uint32_t i = 0; i < cycle && !br.overrun; i++)
			read_se(&br);	/* offset_for_ref_frame */
	}
	sps->max_num_ref_frames = read_ue(&br);
	sps->gaps_allowed = (int)read_bit(&br);
	uint64_t width_mbs = (uint64_t)read_ue(&br) + 1;
	uint64_t height_map_units = (uint64_t)read_ue(&br) + 1;
	sps->frame_mbs_only = (int)read_bit(&br);
	if(!sps->frame_mbs_only)
		read_bit(&br);	/* mb_adaptive_frame_field_flag */
	sps->direct_8x8 = (int)read_bit(&br);
	uint64_t crop[4] = { 0, 0, 0, 0 };	/* left, right, top, bottom */
	if(read_bit(&br))
		for(int i = 0; i < 4; i++)
			crop[i] = read_ue(&br);
	if(br.overrun)
		return -1;
	uint64_t w = width_mbs * 16, h = height_map_units * (sps->frame_mbs_only ? 1 : 2) * 16;
	sps->coded_width = sat_u32(w);
	sps->coded_height = sat_u32(h);
	/* Crop units (7-19 to 7-22): chroma subsampling, times 2 vertically for fields. */
	unsigned chroma_array_type = separate_colour_planes ? 0 : sps->chroma_format_idc;
	uint64_t unit_x = chroma_array_type == 1 || chroma_array_type == 2 ? 2 : 1;
	uint64_t unit_y = (chroma_array_type == 1 ? 2 : 1) * (sps->frame_mbs_only ? 1 : 2);
	uint64_t cut_x = (crop[0] + crop[1]) * unit_x, cut_y = (crop[2] + crop[3]) * unit_y;
	sps->width = cut_x < w ? sat_u32(w - cut_x) : sps->coded_width;
	sps->height = cut_y < h ? sat_u32(h - cut_y) : sps->coded_height;
	return 0;
}

int ooblex_h264_frame_size(const uint8_t *p, size_t len, unsigned *coded_width, unsigned *coded_height) {
	int found = 0;
	uint64_t best_area = 0;
	size_t i = 0;
	while(i + 3 < len) {
		/* Find the next 00 00 01 (a 4-byte start code ends with one too). */
		const uint8_t *z = memchr(p + i, 0x01, len - i);
		if(z == NULL)
			break;
		size_t at = (size_t)(z - p);
		if(at < 2 || p[at - 1] != 0 || p[at - 2] != 0) {
			i = at + 1;
			continue;
		}
		size_t nal = at + 1;
		if(nal >= len)
			break;
		if((p[nal] & 0x1f) == 7) {
			/* The SPS runs to the next start code (or the end). Its
			 * trailing zero bytes, if any, do not matter to the parser. */
			size_t end = nal + 1;
			while(end + 2 < len && !(p[end] == 0 && p[end + 1] == 0 && p[end + 2] == 1))
				end++;
			if(end + 2 >= len)
				end = len;
			ooblex_h264_sps sps;
			if(ooblex_h264_parse_sps(p + nal, end - nal, &sps) < 0)
				return -1;
			uint64_t area = (uint64_t)sps.coded_width * sps.coded_height;
			if(!found || area > best_area) {
				best_area = area;
				*coded_width = sps.coded_width;
				*coded_height = sps.coded_height;
			}
			found++;
			i = end;
		} else {
			i = nal;
		}
	}
	return found;
}
