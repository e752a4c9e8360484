/*
 * test_bitstream_headers.c - the picture size read from VP8 keyframe
 * headers and H.264 SPSs, on real keyframes from libavcodec's encoders
 * (libvpx, libx264: baseline, high with scaling lists, 4:2:2, 4:4:4, 10-bit,
 * interlaced, B-frames) at several sizes, each checked against the parser
 * and against what libavcodec's own decoder makes of the same frame; and on
 * crafted headers: truncated, out of range, emulation prevention, absurd
 * sizes, an SPS hidden inside another NAL unit.
 */
#include "testlib.h"

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>

#include "bitstream_craft.h"
#include "bitstream_headers.h"
#include "ooblex_codec.h"

/* ------------------------------------------------------- real keyframes */

typedef struct encoded {
	uint8_t *data;
	size_t len;
} encoded;

/* The first packet (a keyframe) of a short clip encoded at w x h; len 0 if
 * this libavcodec cannot (the caller skips then). */
static encoded encode_keyframe(const char *encoder, int w, int h, enum AVPixelFormat fmt, const char *opts) {
	encoded e = { NULL, 0 };
	const AVCodec *c = avcodec_find_encoder_by_name(encoder);
	if(c == NULL)
		return e;
	AVCodecContext *ctx = avcodec_alloc_context3(c);
	ctx->width = w;
	ctx->height = h;
	ctx->pix_fmt = fmt;
	ctx->time_base = (AVRational){ 1, 30 };
	ctx->framerate = (AVRational){ 30, 1 };
	ctx->bit_rate = 500000;
	ctx->gop_size = 30;
	AVDictionary *d = NULL;
	if(opts != NULL)
		av_dict_parse_string(&d, opts, "=", ":", 0);
	if(!strcmp(encoder, "libvpx"))
		av_dict_set(&d, "deadline", "realtime", 0);
	else if(av_dict_get(d, "preset", NULL, 0) == NULL)
		av_dict_set(&d, "preset", "ultrafast", 0);
	int ret = avcodec_open2(ctx, c, &d);
	av_dict_free(&d);
	if(ret < 0) {
		avcodec_free_context(&ctx);
		return e;
	}
	AVFrame *f = av_frame_alloc();
	f->width = w;
	f->height = h;
	f->format = fmt;
	av_frame_get_buffer(f, 0);
	AVPacket *pkt = av_packet_alloc();
	for(int n = 0; n < 8 && e.len == 0; n++) {
		av_frame_make_writable(f);
		const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
		for(int p = 0; p < 4 && f->data[p]; p++) {
			int ph = p == 0 || desc == NULL ? h : AV_CEIL_RSHIFT(h, desc->log2_chroma_h);
			int wide = desc != NULL && desc->comp[0].depth > 8;
			for(int y = 0; y < ph; y++)
				for(int x = 0; x < f->linesize[p] >> wide; x++) {
					unsigned v = (unsigned)(x * 3 + y * 2 + n * 5 + p * 40) & 0xff;
					if(wide)	/* 10 bits in 16, within range */
						((uint16_t *)(f->data[p] + y * f->linesize[p]))[x] = (uint16_t)(v << 2);
					else
						f->data[p][y * f->linesize[p] + x] = (uint8_t)v;
				}
		}
		f->pts = n;
		avcodec_send_frame(ctx, f);
		if(avcodec_receive_packet(ctx, pkt) == 0) {
			e.data = calloc(1, (size_t)pkt->size + AV_INPUT_BUFFER_PADDING_SIZE);
			memcpy(e.data, pkt->data, (size_t)pkt->size);
			e.len = (size_t)pkt->size;
		}
	}
	if(e.len == 0) {	/* encoders with a delay (B-frames) give it up on flush */
		avcodec_send_frame(ctx, NULL);
		if(avcodec_receive_packet(ctx, pkt) == 0) {
			e.data = calloc(1, (size_t)pkt->size + AV_INPUT_BUFFER_PADDING_SIZE);
			memcpy(e.data, pkt->data, (size_t)pkt->size);
			e.len = (size_t)pkt->size;
		}
	}
	av_packet_free(&pkt);
	av_frame_free(&f);
	avcodec_free_context(&ctx);
	return e;
}

/* What libavcodec's decoder says the picture is: width, height and the
 * coded size it allocates. 0, or -1 if it would not decode. */
static int libavcodec_size(const char *decoder, const encoded *e, int *w, int *h, int *cw, int *ch) {
	const AVCodec *c = avcodec_find_decoder_by_name(decoder);
	AVCodecContext *ctx = avcodec_alloc_context3(c);
	ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	int rc = -1;
	if(avcodec_open2(ctx, c, NULL) == 0) {
		AVPacket *pkt = av_packet_alloc();
		pkt->data = e->data;
		pkt->size = (int)e->len;
		AVFrame *f = av_frame_alloc();
		if(avcodec_send_packet(ctx, pkt) == 0) {
			avcodec_send_packet(ctx, NULL);
			if(avcodec_receive_frame(ctx, f) == 0) {
				*w = f->width;
				*h = f->height;
				*cw = ctx->coded_width;
				*ch = ctx->coded_height;
				rc = 0;
			}
		}
		av_frame_free(&f);
		pkt->data = NULL;
		pkt->size = 0;
		av_packet_free(&pkt);
	}
	avcodec_free_context(&ctx);
	return rc;
}

static void test_vp8_keyframes_from_libvpx(void) {
	static const int sizes[][2] = { { 16, 16 }, { 176, 144 }, { 320, 240 }, { 322, 242 }, { 641, 359 },
		{ 1280, 720 }, { 1920, 1080 }, { 720, 1280 } };
	for(size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int w = sizes[i][0], h = sizes[i][1];
		encoded e = encode_keyframe("libvpx", w, h, AV_PIX_FMT_YUV420P, NULL);
		REQUIRE(e.len > 0);
		unsigned pw = 0, ph = 0;
		EXPECT_EQ(ooblex_vp8_frame_size(e.data, e.len, &pw, &ph), 1);
		EXPECT_EQ(pw, w);
		EXPECT_EQ(ph, h);
		int dw = 0, dh = 0, cw = 0, ch = 0;
		EXPECT_EQ(libavcodec_size("vp8", &e, &dw, &dh, &cw, &ch), 0);
		EXPECT(dw == w && dh == h);
		printf("# vp8 %dx%d: header says %ux%u, libavcodec %dx%d\n", w, h, pw, ph, dw, dh);
		free(e.data);
	}
	/* An inter frame announces nothing. */
	uint8_t inter[16] = { 0x31, 0x02, 0x00 };
	unsigned pw = 7, ph = 7;
	EXPECT_EQ(ooblex_vp8_frame_size(inter, sizeof(inter), &pw, &ph), 0);
	EXPECT(pw == 7 && ph == 7);
}

typedef struct h264_case {
	int w, h;
	enum AVPixelFormat fmt;
	const char *opts;
	unsigned profile, chroma, depth;
	int frame_mbs_only;
} h264_case;

static void test_h264_sps_from_libx264(void) {
	static const h264_case cases[] = {
		{ 320, 240, AV_PIX_FMT_YUV420P, "profile=baseline", 66, 1, 8, 1 },
		{ 642, 362, AV_PIX_FMT_YUV420P, "profile=baseline", 66, 1, 8, 1 },
		/* ultrafast turns off what main and high need: veryfast keeps them. */
		{ 1280, 720, AV_PIX_FMT_YUV420P, "preset=veryfast:profile=main", 77, 1, 8, 1 },
		{ 1920, 1080, AV_PIX_FMT_YUV420P, "preset=veryfast:profile=high", 100, 1, 8, 1 },
		{ 1080, 1920, AV_PIX_FMT_YUV420P, "preset=veryfast:profile=high", 100, 1, 8, 1 },
		/* Scaling lists in the SPS (JVT's default matrices, all 8 lists). */
		{ 640, 480, AV_PIX_FMT_YUV420P, "preset=veryfast:profile=high:x264-params=cqm=jvt", 100, 1, 8, 1 },
		/* B-frames: pic_order_cnt_type 0. */
		{ 352, 288, AV_PIX_FMT_YUV420P, "preset=veryfast:x264-params=bframes=2", 100, 1, 8, 1 },
		/* Interlaced: frame_mbs_only_flag 0, map units are field MB pairs. */
		{ 720, 576, AV_PIX_FMT_YUV420P, "preset=veryfast:x264-params=interlaced=1", 100, 1, 8, 0 },
		{ 322, 242, AV_PIX_FMT_YUV422P, "profile=high422", 122, 2, 8, 1 },
		{ 322, 242, AV_PIX_FMT_YUV444P, "profile=high444:x264-params=cqm=jvt", 244, 3, 8, 1 },
		{ 640, 360, AV_PIX_FMT_YUV420P10LE, "profile=high10", 110, 1, 10, 1 },
	};
	for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const h264_case *k = &cases[i];
		encoded e = encode_keyframe("libx264", k->w, k->h, k->fmt, k->opts);
		if(e.len == 0 && k->depth > 8) {
			printf("# skipped %dx%d %s: this libx264 has no %u-bit support\n", k->w, k->h, k->opts, k->depth);
			continue;
		}
		REQUIRE(e.len > 0);
		/* The SPS as a NAL unit, and the whole access unit. */
		const uint8_t *sps_nal = NULL;
		size_t sps_len = 0;
		for(size_t j = 0; j + 3 < e.len; j++)
			if(e.data[j] == 0 && e.data[j + 1] == 0 && e.data[j + 2] == 1 && (e.data[j + 3] & 0x1f) == 7) {
				sps_nal = e.data + j + 3;
				size_t end = j + 4;
				while(end + 2 < e.len && !(e.data[end] == 0 && e.data[end + 1] == 0 && e.data[end + 2] == 1))
					end++;
				sps_len = (end + 2 < e.len ? end : e.len) - (j + 3);
				break;
			}
		REQUIRE(sps_nal != NULL);
		ooblex_h264_sps sps;
		REQUIRE(ooblex_h264_parse_sps(sps_nal, sps_len, &sps) == 0);
		EXPECT_EQ(sps.profile_idc, k->profile);
		EXPECT_EQ(sps.chroma_format_idc, k->chroma);
		EXPECT_EQ(sps.bit_depth_luma, k->depth);
		EXPECT_EQ(sps.frame_mbs_only, k->frame_mbs_only);
		EXPECT_EQ(sps.width, k->w);
		EXPECT_EQ(sps.height, k->h);
		unsigned mb_rows = k->frame_mbs_only ? (unsigned)(k->h + 15) / 16 : ((unsigned)(k->h + 31) / 32) * 2;
		EXPECT_EQ(sps.coded_width, (unsigned)(k->w + 15) / 16 * 16);
		EXPECT_EQ(sps.coded_height, mb_rows * 16);
		unsigned cw = 0, ch = 0;
		EXPECT_EQ(ooblex_h264_frame_size(e.data, e.len, &cw, &ch), 1);
		EXPECT(cw == sps.coded_width && ch == sps.coded_height);
		int dw = 0, dh = 0, lcw = 0, lch = 0;
		EXPECT_EQ(libavcodec_size("h264", &e, &dw, &dh, &lcw, &lch), 0);
		EXPECT(dw == (int)sps.width && dh == (int)sps.height);
		EXPECT(lcw == (int)sps.coded_width && lch == (int)sps.coded_height);
		printf("# h264 %dx%d %s: profile %u, chroma %u, %u-bit, SPS says %ux%u (coded %ux%u), libavcodec %dx%d (coded %dx%d)\n",
			k->w, k->h, k->opts, sps.profile_idc, sps.chroma_format_idc, sps.bit_depth_luma, sps.width, sps.height,
			sps.coded_width, sps.coded_height, dw, dh, lcw, lch);
		free(e.data);
	}
}

/* ------------------------------------------------------- crafted headers */

static void test_vp8_crafted_headers(void) {
	uint8_t b[32] = { 0 };
	unsigned w = 0, h = 0;
	craft_vp8_header(b, 16383, 16383, 3);
	EXPECT_EQ(ooblex_vp8_frame_size(b, sizeof(b), &w, &h), 1);
	EXPECT(w == 16383 && h == 16383);	/* the scale bits are not size */
	EXPECT(!ooblex_picture_fits(w, h, 1920, 1080));
	craft_vp8_header(b, 640, 480, 1);
	EXPECT_EQ(ooblex_vp8_frame_size(b, 10, &w, &h), 1);
	EXPECT(w == 640 && h == 480);
	EXPECT_EQ(ooblex_vp8_frame_size(b, 9, &w, &h), -1);	/* truncated */
	EXPECT_EQ(ooblex_vp8_frame_size(b, 2, &w, &h), -1);
	EXPECT_EQ(ooblex_vp8_frame_size(b, 0, &w, &h), -1);
	b[4] = 0x02;	/* not the start code */
	EXPECT_EQ(ooblex_vp8_frame_size(b, 10, &w, &h), -1);
	craft_vp8_header(b, 0, 480, 0);
	EXPECT_EQ(ooblex_vp8_frame_size(b, 10, &w, &h), -1);
	craft_vp8_header(b, 640, 0, 0);
	EXPECT_EQ(ooblex_vp8_frame_size(b, 10, &w, &h), -1);
}

static craft_sps vga;

static void test_h264_crafted_sps(void) {
	uint8_t nal[2200];
	ooblex_h264_sps s;
	size_t n = craft_write_sps(&vga, nal);
	REQUIRE(ooblex_h264_parse_sps(nal, n, &s) == 0);
	EXPECT(s.width == 640 && s.height == 480 && s.coded_width == 640 && s.coded_height == 480);
	/* Every cut before the end of the cropping fields is refused as truncated
	 * (no escapes in this one: NAL bytes are RBSP bytes after the header). */
	size_t need = 1 + (vga.crop_end_bits + 7) / 8;
	int refused = 0;
	for(size_t cut = 0; cut < need; cut++)
		refused += ooblex_h264_parse_sps(nal, cut, &s) < 0;
	EXPECT_EQ(refused, need);
	EXPECT_EQ(ooblex_h264_parse_sps(nal, need, &s), 0);
	/* Not an SPS at all, or the forbidden bit. */
	n = craft_write_sps(&vga, nal);
	nal[0] = 0x68;
	EXPECT_EQ(ooblex_h264_parse_sps(nal, n, &s), -1);
	nal[0] = 0xe7;
	EXPECT_EQ(ooblex_h264_parse_sps(nal, n, &s), -1);

	/* 8192 x 8192 (what a hostile page sends to make the decoder allocate
	 * 100 MB): read right, and refused by the policy. */
	craft_sps big = vga;
	big.width_mbs_minus1 = big.height_map_units_minus1 = 511;
	n = craft_write_sps(&big, nal);
	REQUIRE(ooblex_h264_parse_sps(nal, n, &s) == 0);
	EXPECT(s.coded_width == 8192 && s.coded_height == 8192);
	EXPECT(!ooblex_picture_fits(s.coded_width, s.coded_height, 1920, 1080));
	/* A huge coded picture cropped down to a tiny one: the coded size is
	 * what gets allocated, and what the ingest checks. */
	big.crop[1] = 4088; big.crop[3] = 4088;
	n = craft_write_sps(&big, nal);
	REQUIRE(ooblex_h264_parse_sps(nal, n, &s) == 0);
	EXPECT(s.width == 16 && s.height == 16 && s.coded_width == 8192);
	/* A cropping window larger than the picture is ignored (as libavcodec does). */
	craft_sps odd = vga;
	odd.crop[0] = 1000;
	n = craft_write_sps(&odd, nal);
	REQUIRE(ooblex_h264_parse_sps(nal, n, &s) == 0);
	EXPECT_EQ(s.width, 640);
	/* Sizes beyond 32 bits saturate rather than wrap to something small. */
	craft_sps absurd = vga;
	absurd.width_mbs_minus1 = 0xfffffffeu;
	n = craft_write_sps(&absurd, nal);
	REQUIRE(ooblex_h264_parse_sps(nal, n, &s) == 0);
	EXPECT_EQ(s.coded_width, UINT32_MAX);
	EXPECT(!ooblex_picture_fits(s.coded_width, s.coded_height, 8192, 8192));

	/* Interlaced: map units are MB pairs; crop units double vertically. */
	craft_sps field = vga;
	field.profile = 100;
	field.frame_mbs_only = 0;
	field.height_map_units_minus1 = 17;	/* 18 pairs = 576 lines */
	field.crop[3] = 2;	/* 2 x 2 x 2 = 8 lines */
	n = craft_write_sps(&field, nal);
	REQUIRE(ooblex_h264_parse_sps(nal, n, &s) == 0);
	EXPECT(s.coded_height == 576 && s.height == 568);

	/* High profiles: chroma format, bit depths, 8 or 12 scaling lists before the size. */
	for(unsigned chroma = 0; chroma <= 3; chroma++) {
		craft_sps hp = vga;
		hp.profile = chroma == 3 ? 244 : 100;
		hp.chroma = chroma;
		hp.scaling_lists = 1;
		hp.crop[1] = 3;
		hp.crop[3] = 3;
		n = craft_write_sps(&hp, nal);
		REQUIRE(ooblex_h264_parse_sps(nal, n, &s) == 0);
		unsigned ux = chroma == 1 || chroma == 2 ? 2 : 1, uy = chroma == 1 ? 2 : 1;
		EXPECT_EQ(s.chroma_format_idc, chroma);
		EXPECT(s.width == 640 - 3 * ux && s.height == 480 - 3 * uy);
	}
	craft_sps bad = vga;
	bad.profile = 100;
	bad.chroma = 4;
	n = craft_write_sps(&bad, nal);
	EXPECT_EQ(ooblex_h264_parse_sps(nal, n, &s), -1);
	bad = vga;
	bad.sps_id = 32;
	n = craft_write_sps(&bad, nal);
	EXPECT_EQ(ooblex_h264_parse_sps(nal, n, &s), -1);
	bad = vga;
	bad.poc_type = 3;
	n = craft_write_sps(&bad, nal);
	EXPECT_EQ(ooblex_h264_parse_sps(nal, n, &s), -1);
	/* pic_order_cnt_type 1 and its cycle of offsets. */
	craft_sps poc1 = vga;
	poc1.poc_type = 1;
	n = craft_write_sps(&poc1, nal);
	REQUIRE(ooblex_h264_parse_sps(nal, n, &s) == 0);
	EXPECT(s.width == 640 && s.height == 480);

	/* 33 leading zeros: no exp-Golomb code a stream uses. */
	uint8_t zeros[] = { 0x67, 66, 0, 40, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
		0x00, 0x00, 0x03, 0x00, 0x80 };
	EXPECT_EQ(ooblex_h264_parse_sps(zeros, sizeof(zeros), &s), -1);
	/* A scaling-list delta out of -128..127. */
	craft_bits bw;
	memset(&bw, 0, sizeof(bw));
	craft_put(&bw, 100, 8); craft_put(&bw, 0, 8); craft_put(&bw, 40, 8);
	craft_ue(&bw, 0); craft_ue(&bw, 1); craft_ue(&bw, 0); craft_ue(&bw, 0); craft_bit(&bw, 0);
	craft_bit(&bw, 1); craft_bit(&bw, 1); craft_se(&bw, 300);
	for(int i = 0; i < 40; i++) craft_bit(&bw, 1);
	uint8_t sl[64] = { 0x67 };
	memcpy(sl + 1, bw.buf, 40);
	EXPECT_EQ(ooblex_h264_parse_sps(sl, 41, &s), -1);
}

static void test_h264_emulation_prevention(void) {
	/* 1 x 1 macroblock with cropping 0/0/0/0 spelt out long: the RBSP holds
	 * 00 00 0x runs, which the writer escapes with 03. */
	craft_sps f = vga;
	f.width_mbs_minus1 = 0;
	f.height_map_units_minus1 = 0;
	f.refs = 0x7fff;	/* ue of 32768: 15 zeros, then 16 bits */
	uint8_t nal[256];
	size_t n = craft_write_sps(&f, nal);
	int escapes = 0;
	for(size_t i = 2; i < n; i++)
		escapes += nal[i - 2] == 0 && nal[i - 1] == 0 && nal[i] == 3;
	ooblex_h264_sps s;
	REQUIRE(ooblex_h264_parse_sps(nal, n, &s) == 0);
	EXPECT_EQ(s.max_num_ref_frames, 0x7fff);
	EXPECT(s.coded_width == 16 && s.coded_height == 16);
	/* ue(2^31 - 1) is 31 zeros, a one and 31 zeros: three whole zero bytes
	 * in the RBSP, so the NAL unit certainly holds an escape. */
	craft_sps g = vga;
	g.refs = 0x7fffffff;
	n = craft_write_sps(&g, nal);
	for(size_t i = 2; i < n; i++)
		escapes += nal[i - 2] == 0 && nal[i - 1] == 0 && nal[i] == 3;
	EXPECT(escapes > 0);
	REQUIRE(ooblex_h264_parse_sps(nal, n, &s) == 0);
	EXPECT_EQ(s.max_num_ref_frames, 0x7fffffff);
	EXPECT(s.coded_width == 640 && s.coded_height == 480);
}

static void test_h264_access_units(void) {
	uint8_t au[4096];
	size_t n = 0;
	static const uint8_t sc4[] = { 0, 0, 0, 1 }, sc3[] = { 0, 0, 1 };
	unsigned w = 0, h = 0;
	/* No SPS: nothing said. */
	uint8_t slice[] = { 0, 0, 0, 1, 0x41, 0x9a, 0x10, 0x20 };
	EXPECT_EQ(ooblex_h264_frame_size(slice, sizeof(slice), &w, &h), 0);
	/* Two SPSs: the larger counts. */
	memcpy(au + n, sc4, 4); n += 4;
	n += craft_write_sps(&vga, au + n);
	craft_sps big = vga;
	big.sps_id = 1;
	big.width_mbs_minus1 = 119;	/* 1920 */
	big.height_map_units_minus1 = 67;	/* 1088 */
	memcpy(au + n, sc3, 3); n += 3;
	n += craft_write_sps(&big, au + n);
	memcpy(au + n, slice, sizeof(slice)); n += sizeof(slice);
	EXPECT_EQ(ooblex_h264_frame_size(au, n, &w, &h), 2);
	EXPECT(w == 1920 && h == 1088);
	EXPECT(ooblex_picture_fits(w, h, 1920, 1080));
	/* An SPS hidden behind a start code inside another NAL unit's bytes is
	 * still found: libavcodec would split it out and apply it. */
	size_t m = 0;
	memcpy(au + m, slice, sizeof(slice)); m += sizeof(slice);
	memcpy(au + m, sc3, 3); m += 3;
	craft_sps huge = vga;
	huge.width_mbs_minus1 = huge.height_map_units_minus1 = 511;
	m += craft_write_sps(&huge, au + m);
	au[m++] = 0x55;
	EXPECT_EQ(ooblex_h264_frame_size(au, m, &w, &h), 1);
	EXPECT(w == 8192 && h == 8192);
	/* A malformed SPS anywhere refuses the whole access unit. */
	m = 0;
	memcpy(au + m, sc4, 4); m += 4;
	au[m++] = 0x67; au[m++] = 66;
	EXPECT_EQ(ooblex_h264_frame_size(au, m, &w, &h), -1);
	/* Start codes at the very end, or nothing but zeros. */
	uint8_t tail[] = { 0x41, 0, 0, 1 };
	EXPECT_EQ(ooblex_h264_frame_size(tail, sizeof(tail), &w, &h), 0);
	uint8_t z[64] = { 0 };
	EXPECT_EQ(ooblex_h264_frame_size(z, sizeof(z), &w, &h), 0);
	EXPECT_EQ(ooblex_h264_frame_size(z, 0, &w, &h), 0);
}

static void test_picture_fits(void) {
	EXPECT(ooblex_picture_fits(1920, 1080, 1920, 1080));
	EXPECT(ooblex_picture_fits(1920, 1088, 1920, 1080));	/* H.264's coded size */
	EXPECT(ooblex_picture_fits(1080, 1920, 1920, 1080));	/* upright phone */
	EXPECT(ooblex_picture_fits(1088, 1920, 1920, 1080));
	EXPECT(!ooblex_picture_fits(1936, 1080, 1920, 1080));
	EXPECT(!ooblex_picture_fits(1920, 1104, 1920, 1080));
	EXPECT(!ooblex_picture_fits(1200, 1200, 1920, 1080));	/* short side over */
	EXPECT(!ooblex_picture_fits(0, 480, 1920, 1080));
	EXPECT(!ooblex_picture_fits(16383, 16383, 8192, 8192));
	EXPECT(ooblex_picture_fits(16, 16, 16, 16));
}

int main(void) {
	av_log_set_level(AV_LOG_QUIET);
	vga = craft_sps_vga();
	TEST_RUN(test_vp8_keyframes_from_libvpx);
	TEST_RUN(test_h264_sps_from_libx264);
	TEST_RUN(test_vp8_crafted_headers);
	TEST_RUN(test_h264_crafted_sps);
	TEST_RUN(test_h264_emulation_prevention);
	TEST_RUN(test_h264_access_units);
	TEST_RUN(test_picture_fits);
	return tl_done();
}
