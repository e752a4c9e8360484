/*
 * fuzz_bitstream_headers.c - the picture-size readers the ingest trusts
 * before libavcodec allocates anything: the VP8 keyframe header, one H.264
 * SPS, every SPS of an Annex B access unit, and the size policy.
 *
 * fuzz-sources: plugin/ingest/bitstream_headers.c common/ooblex_codec.c
 * fuzz-pkgs:
 *
 * Besides memory errors, what each reader promises is checked (abort() on
 * a broken promise, which libFuzzer reports): VP8 sizes within 1..16383,
 * a parsed SPS's cropped size within its coded size and the coded size in
 * whole macroblocks, a frame's size equal to the largest of its SPSs'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bitstream_headers.h"
#include "ooblex_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok) {
	if(!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	unsigned w = 0, h = 0;
	int r = ooblex_vp8_frame_size(data, size, &w, &h);
	check(r >= -1 && r <= 1);
	if(r == 1) {
		check(w >= 1 && w <= 16383 && h >= 1 && h <= 16383);
		(void)ooblex_picture_fits(w, h, 1920, 1080);
	}

	ooblex_h264_sps sps;
	if(ooblex_h264_parse_sps(data, size, &sps) == 0) {
		check(sps.width <= sps.coded_width && sps.height <= sps.coded_height);
		check(sps.width > 0 && sps.height > 0);
		check(sps.coded_width == UINT32_MAX || sps.coded_width % 16 == 0);
		check(sps.coded_height == UINT32_MAX || sps.coded_height % 16 == 0);
		check(sps.chroma_format_idc <= 3 && sps.sps_id <= 31);
		check(sps.bit_depth_luma >= 8 && sps.bit_depth_luma <= 14);
		/* The same SPS behind a start code is what a frame reader finds. */
		uint8_t *au = malloc(size + 4);
		if(au != NULL) {
			memcpy(au, "\0\0\0\1", 4);
			memcpy(au + 4, data, size);
			unsigned fw = 0, fh = 0;
			int n = ooblex_h264_frame_size(au, size + 4, &fw, &fh);
			/* The SPS's own bytes may hold start codes that split it: then
			 * the frame reader sees other NAL units, a shorter SPS, or both. */
			check(n >= -1);
			free(au);
		}
	}

	unsigned fw = 0, fh = 0;
	int n = ooblex_h264_frame_size(data, size, &fw, &fh);
	check(n >= -1);
	if(n > 0) {
		check(fw == UINT32_MAX || fw % 16 == 0);
		check(fh == UINT32_MAX || fh % 16 == 0);
		check(ooblex_picture_fits(fw, fh, 8192, 8192) == (fw <= 8192 && fh <= 8192));
	}
	return 0;
}
