/*
 * bitstream_headers.h - the picture size an encoded frame announces, read
 * before anything is decoded.
 *
 * Owns: reading the VP8 keyframe header (RFC 6386 section 9.1: 3-byte frame
 * tag, start code 9d 01 2a, 14-bit width and height each with a 2-bit
 * scale) and the H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1, with
 * its own exp-Golomb reader, emulation prevention bytes removed, the high
 * profiles' chroma format, bit depths and scaling lists skipped), and the
 * policy check of such a size against a limit. libavcodec allocates a
 * picture of whatever size a stream claims; the ingest asks this module
 * first and refuses a frame that claims too much (see ingest.h).
 *
 * Pure functions on byte buffers: no libavcodec, no Janus, no allocation.
 */
#ifndef OOBLEX_BITSTREAM_HEADERS_H
#define OOBLEX_BITSTREAM_HEADERS_H

#include <stddef.h>
#include <stdint.h>

/* A VP8 frame (the bitstream, after the RTP payload descriptor). Returns 1
 * for a keyframe (size set: 1..16383 each), 0 for an inter frame (which
 * keeps the size of the last keyframe; nothing set), -1 for a keyframe whose
 * header is truncated, lacks the start code or announces a zero size. */
int ooblex_vp8_frame_size(const uint8_t *frame, size_t len, unsigned *width, unsigned *height);

typedef struct ooblex_h264_sps {
	unsigned profile_idc, constraint_flags, level_idc, sps_id;
	unsigned chroma_format_idc;	/* 1 (4:2:0) unless a high profile says otherwise */
	unsigned bit_depth_luma;
	/* What slice headers depend on (and a test needs to rewrite an SPS). */
	unsigned log2_max_frame_num, poc_type, log2_max_poc_lsb;
	unsigned max_num_ref_frames;
	int gaps_allowed, frame_mbs_only, direct_8x8;
	/* The picture libavcodec allocates (whole macroblocks, both fields);
	 * saturated at UINT32_MAX for absurd values. */
	uint32_t coded_width, coded_height;
	/* After the frame cropping window; equal to the coded size when the
	 * window is absent or invalid (libavcodec ignores an invalid one). */
	uint32_t width, height;
} ooblex_h264_sps;

/* One SPS NAL unit, its header byte (type 7) first, emulation prevention
 * bytes still in. Returns 0 and fills sps, or -1 if it is malformed or
 * truncated before the cropping fields. */
int ooblex_h264_parse_sps(const uint8_t *nal, size_t len, ooblex_h264_sps *sps);

/* An H.264 access unit in Annex B (00 00 01 / 00 00 00 01 start codes, as
 * the depacketizer writes it). Every SPS in it is read, wherever a start
 * code puts one (libavcodec splits NAL units the same way). Returns how many
 * it holds (0: none; the size stays what earlier ones set) and the largest
 * coded size among them (by area), or -1 if any is malformed. */
int ooblex_h264_frame_size(const uint8_t *annexb, size_t len, unsigned *coded_width, unsigned *coded_height);

#endif
