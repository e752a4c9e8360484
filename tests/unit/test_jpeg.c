/*
 * test_jpeg.c - the one JPEG helper (common/ooblex_jpeg.h) that the plugin,
 * the worker and the tests share: each way in and out keeps the picture,
 * planes with padded strides code as the packed layout does, the header is
 * read without decoding, a picture of another size or sampling than the
 * caller's buffer is for is refused before a byte is written, damaged data
 * is told apart from garbage, and the fast DCT is really the fast one.
 */
#include "testlib.h"

#include <stdint.h>

#include "ooblex_jpeg.h"
#include "ooblex_wire.h"

static char err[256];

/* A smooth picture (JPEG keeps it well): gradients, chroma varying too. */
static void fill_i420(uint8_t *p, int w, int h) {
	int cw = (w + 1) / 2, ch = (h + 1) / 2;
	for(int y = 0; y < h; y++)
		for(int x = 0; x < w; x++)
			p[y * w + x] = (uint8_t)(40 + (x * 150) / w + (y * 50) / h);
	for(int y = 0; y < ch; y++)
		for(int x = 0; x < cw; x++) {
			p[w * h + y * cw + x] = (uint8_t)(90 + (x * 60) / cw);
			p[w * h + cw * ch + y * cw + x] = (uint8_t)(170 - (y * 60) / ch);
		}
}

static double mean_abs(const uint8_t *a, const uint8_t *b, size_t n) {
	double sum = 0;
	for(size_t i = 0; i < n; i++)
		sum += a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
	return n ? sum / (double)n : 0;
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v) {
	for(size_t i = 0; i < n; i++)
		if(p[i] != v)
			return 0;
	return 1;
}

/* A copy of what the encoder produced (its buffer is reused). */
static uint8_t *take(const uint8_t *out, size_t len) {
	uint8_t *c = malloc(len);
	memcpy(c, out, len);
	return c;
}

static void test_i420_round_trip_odd_sizes(void) {
	/* Odd sizes: chroma planes of (w+1)/2 x (h+1)/2, the wire's layout. */
	const int sizes[][2] = { { 64, 48 }, { 33, 17 }, { 1, 1 } };
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER | OOBLEX_JPEG_DECODER);
	REQUIRE(j != NULL);
	for(size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int w = sizes[s][0], h = sizes[s][1];
		size_t n = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, (unsigned)w, (unsigned)h);
		uint8_t *src = malloc(n), *back = malloc(n);
		fill_i420(src, w, h);
		const uint8_t *out;
		size_t len;
		EXPECT_EQ(ooblex_jpeg_encode_i420(j, src, w, h, 95, &out, &len, err, sizeof(err)), 0);
		ooblex_jpeg_info info;
		EXPECT_EQ(ooblex_jpeg_read_header(j, out, len, &info), 0);
		EXPECT(info.width == w && info.height == h && info.sampling == OOBLEX_JPEG_SAMP_420);
		uint8_t *jpeg = take(out, len);
		EXPECT_EQ(ooblex_jpeg_decode_i420(j, jpeg, len, w, h, back, err, sizeof(err)), 0);
		double d = mean_abs(src, back, n);
		printf("# %dx%d: %zu bytes, mean |diff| %.2f\n", w, h, len, d);
		EXPECT(d < 3);
		/* The worker's decoder gives the same I420 for a 4:2:0 JPEG. */
		uint8_t *any = malloc((size_t)w * h * 3);
		int fmt = 0;
		EXPECT_EQ(ooblex_jpeg_decode(j, jpeg, len, w, h, any, &fmt, err, sizeof(err)), 0);
		EXPECT_EQ(fmt, OOBLEX_PIXFMT_I420);
		EXPECT(memcmp(any, back, n) == 0);
		free(any);
		free(jpeg);
		free(src);
		free(back);
	}
	ooblex_jpeg_free(j);
}

static void test_planes_with_strides_code_as_packed(void) {
	/* A decoder's picture has padded lines: the same pixels, the same JPEG,
	 * and decoding into padded planes gives the packed decode's pixels. */
	enum { W = 48, H = 32, PAD = 16 };
	const int cw = W / 2, ch = H / 2;
	uint8_t packed[W * H * 3 / 2];
	fill_i420(packed, W, H);
	uint8_t y[(W + PAD) * H], u[(cw + PAD) * ch], v[(cw + PAD) * ch];
	for(int r = 0; r < H; r++)
		memcpy(y + r * (W + PAD), packed + r * W, W);
	for(int r = 0; r < ch; r++) {
		memcpy(u + r * (cw + PAD), packed + W * H + r * cw, cw);
		memcpy(v + r * (cw + PAD), packed + W * H + cw * ch + r * cw, cw);
	}
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER | OOBLEX_JPEG_DECODER | OOBLEX_JPEG_FAST);
	REQUIRE(j != NULL);
	const uint8_t *out;
	size_t len, len2;
	REQUIRE(ooblex_jpeg_encode_i420(j, packed, W, H, 80, &out, &len, err, sizeof(err)) == 0);
	uint8_t *a = take(out, len);
	const uint8_t *planes[3] = { y, u, v };
	const int strides[3] = { W + PAD, cw + PAD, cw + PAD };
	REQUIRE(ooblex_jpeg_encode_planes(j, planes, strides, W, H, 80, &out, &len2, err, sizeof(err)) == 0);
	EXPECT(len == len2 && memcmp(a, out, len) == 0);
	uint8_t back[W * H * 3 / 2];
	REQUIRE(ooblex_jpeg_decode_i420(j, a, len, W, H, back, err, sizeof(err)) == 0);
	memset(y, 0, sizeof(y));
	memset(u, 0, sizeof(u));
	memset(v, 0, sizeof(v));
	uint8_t *dst[3] = { y, u, v };
	REQUIRE(ooblex_jpeg_decode_planes(j, a, len, W, H, dst, strides, err, sizeof(err)) == 0);
	int same = 1;
	for(int r = 0; r < H; r++)
		same &= memcmp(y + r * (W + PAD), back + r * W, W) == 0;
	for(int r = 0; r < ch; r++)
		same &= memcmp(u + r * (cw + PAD), back + W * H + r * cw, cw) == 0 &&
			memcmp(v + r * (cw + PAD), back + W * H + cw * ch + r * cw, cw) == 0;
	EXPECT(same);
	free(a);
	ooblex_jpeg_free(j);
}

static void test_rgb_and_gray(void) {
	enum { W = 40, H = 24 };
	uint8_t rgb[W * H * 3], rgb_back[W * H * 3], gray[W * H], gray_back[W * H];
	for(int i = 0; i < W * H; i++) {
		rgb[3 * i] = (uint8_t)(60 + (i % W) * 3);
		rgb[3 * i + 1] = (uint8_t)(80 + (i / W) * 4);
		rgb[3 * i + 2] = 120;
		gray[i] = (uint8_t)(30 + (i % W) * 4);
	}
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER | OOBLEX_JPEG_DECODER);
	REQUIRE(j != NULL);
	const uint8_t *out;
	size_t len;
	ooblex_jpeg_info info;
	REQUIRE(ooblex_jpeg_encode_rgb(j, rgb, W, H, 95, &out, &len, err, sizeof(err)) == 0);
	EXPECT(ooblex_jpeg_read_header(j, out, len, &info) == 0 && info.sampling == OOBLEX_JPEG_SAMP_420);
	uint8_t *c = take(out, len);
	EXPECT_EQ(ooblex_jpeg_decode_rgb(j, c, len, W, H, rgb_back, err, sizeof(err)), 0);
	EXPECT(mean_abs(rgb, rgb_back, sizeof(rgb)) < 4);
	free(c);
	REQUIRE(ooblex_jpeg_encode_gray(j, gray, W, H, 95, &out, &len, err, sizeof(err)) == 0);
	EXPECT(ooblex_jpeg_read_header(j, out, len, &info) == 0 && info.sampling == OOBLEX_JPEG_SAMP_GRAY &&
		info.width == W && info.height == H);
	c = take(out, len);
	EXPECT_EQ(ooblex_jpeg_decode_gray(j, c, len, W, H, gray_back, err, sizeof(err)), 0);
	EXPECT(mean_abs(gray, gray_back, sizeof(gray)) < 2);
	/* Not 4:2:0: the worker's decoder gives RGB24, with gray in each channel. */
	int fmt = 0;
	EXPECT_EQ(ooblex_jpeg_decode(j, c, len, W, H, rgb_back, &fmt, err, sizeof(err)), 0);
	EXPECT_EQ(fmt, OOBLEX_PIXFMT_RGB24);
	EXPECT(rgb_back[3 * 5] == gray_back[5] && rgb_back[3 * 5 + 2] == gray_back[5]);
	free(c);
	ooblex_jpeg_free(j);
}

static void test_refused_before_a_byte_is_written(void) {
	/* The caller sized its buffer from what it was told; a JPEG that says
	 * otherwise (a larger picture, another sampling) must not be decoded
	 * into it at all. */
	enum { W = 32, H = 24 };
	uint8_t pic[W * H * 3 / 2], gray[W * H];
	fill_i420(pic, W, H);
	memset(gray, 100, sizeof(gray));
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER | OOBLEX_JPEG_DECODER);
	REQUIRE(j != NULL);
	const uint8_t *out;
	size_t len, glen;
	REQUIRE(ooblex_jpeg_encode_i420(j, pic, W, H, 80, &out, &len, err, sizeof(err)) == 0);
	uint8_t *color = take(out, len);
	REQUIRE(ooblex_jpeg_encode_gray(j, gray, W, H, 80, &out, &glen, err, sizeof(err)) == 0);
	uint8_t *mono = take(out, glen);
	static uint8_t buf[W * H * 3];
	int fmt = -1;
	/* Told 16x12: the 32x24 JPEG would overrun a 16x12 buffer. */
	memset(buf, 0xaa, sizeof(buf));
	EXPECT_EQ(ooblex_jpeg_decode_i420(j, color, len, W / 2, H / 2, buf, err, sizeof(err)), -1);
	EXPECT(strstr(err, "JPEG is 32x24, the header says 16x12") != NULL);
	EXPECT_EQ(ooblex_jpeg_decode_rgb(j, color, len, W / 2, H / 2, buf, err, sizeof(err)), -1);
	EXPECT_EQ(ooblex_jpeg_decode_gray(j, color, len, W / 2, H / 2, buf, err, sizeof(err)), -1);
	EXPECT_EQ(ooblex_jpeg_decode(j, color, len, W, H / 2, buf, &fmt, err, sizeof(err)), -1);
	/* A gray JPEG has no chroma planes to give. */
	EXPECT_EQ(ooblex_jpeg_decode_i420(j, mono, glen, W, H, buf, err, sizeof(err)), -1);
	EXPECT(strstr(err, "not 4:2:0") != NULL);
	EXPECT(all_bytes(buf, sizeof(buf), 0xaa));
	EXPECT_EQ(fmt, -1);
	/* Not a JPEG at all; nothing; no decoder. */
	EXPECT_EQ(ooblex_jpeg_decode_i420(j, (const uint8_t *)"not a jpeg", 10, W, H, buf, err, sizeof(err)), -1);
	EXPECT(strncmp(err, "not a JPEG", 10) == 0);
	EXPECT_EQ(ooblex_jpeg_decode_i420(j, color, 0, W, H, buf, err, sizeof(err)), -1);
	ooblex_jpeg_info info;
	EXPECT_EQ(ooblex_jpeg_read_header(j, (const uint8_t *)"\xff\xd8\xff", 3, &info), -1);
	EXPECT(all_bytes(buf, sizeof(buf), 0xaa));
	ooblex_jpeg *enc_only = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER), *dec_only = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
	REQUIRE(enc_only != NULL && dec_only != NULL);
	EXPECT_EQ(ooblex_jpeg_decode_i420(enc_only, color, len, W, H, buf, err, sizeof(err)), -1);
	EXPECT_EQ(ooblex_jpeg_read_header(enc_only, color, len, &info), -1);
	EXPECT_EQ(ooblex_jpeg_encode_i420(dec_only, pic, W, H, 80, &out, &len, err, sizeof(err)), -1);
	EXPECT(all_bytes(buf, sizeof(buf), 0xaa));
	/* Sizes no frame has are not encoded. */
	EXPECT_EQ(ooblex_jpeg_encode_i420(j, pic, 0, H, 80, &out, &len, err, sizeof(err)), -1);
	ooblex_jpeg_free(enc_only);
	ooblex_jpeg_free(dec_only);
	free(color);
	free(mono);
	ooblex_jpeg_free(j);
}

static void test_damaged_is_not_garbage(void) {
	/* A JPEG cut short still decodes (TurboJPEG warns): 1, with pixels; the
	 * worker takes it, the video track does not. Its header cut: -1. */
	enum { W = 128, H = 96 };
	static uint8_t pic[W * H * 3 / 2], back[W * H * 3 / 2];
	for(size_t i = 0; i < sizeof(pic); i++)
		pic[i] = (uint8_t)((i * 37) ^ (i >> 3));	/* busy: most of the file is the scan */
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER | OOBLEX_JPEG_DECODER);
	REQUIRE(j != NULL);
	const uint8_t *out;
	size_t len;
	REQUIRE(ooblex_jpeg_encode_i420(j, pic, W, H, 80, &out, &len, err, sizeof(err)) == 0);
	uint8_t *c = take(out, len);
	EXPECT_EQ(ooblex_jpeg_decode_i420(j, c, len - len / 3, W, H, back, err, sizeof(err)), 1);
	EXPECT(strstr(err, "damaged JPEG") != NULL);
	EXPECT_EQ(ooblex_jpeg_decode_i420(j, c, 100, W, H, back, err, sizeof(err)), -1);
	EXPECT(strncmp(err, "not a JPEG", 10) == 0);
	free(c);
	ooblex_jpeg_free(j);
}

static void test_fast_dct_is_passed_on(void) {
	/* The worker's fast IDCT (OOBLEX_JPEG_FAST) and the accurate one read
	 * the same JPEG differently; encoding is fast either way (TurboJPEG's
	 * default), so both make the same JPEG. */
	enum { W = 64, H = 48 };
	uint8_t pic[W * H * 3 / 2], a_back[W * H * 3 / 2], f_back[W * H * 3 / 2];
	for(size_t i = 0; i < sizeof(pic); i++)
		pic[i] = (uint8_t)((i * 37) ^ (i >> 3));	/* busy: every coefficient matters */
	ooblex_jpeg *acc = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER | OOBLEX_JPEG_DECODER);
	ooblex_jpeg *fast = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER | OOBLEX_JPEG_DECODER | OOBLEX_JPEG_FAST);
	REQUIRE(acc != NULL && fast != NULL);
	const uint8_t *out;
	size_t alen, flen;
	REQUIRE(ooblex_jpeg_encode_i420(acc, pic, W, H, 90, &out, &alen, err, sizeof(err)) == 0);
	uint8_t *a = take(out, alen);
	REQUIRE(ooblex_jpeg_encode_i420(fast, pic, W, H, 90, &out, &flen, err, sizeof(err)) == 0);
	EXPECT(alen == flen && memcmp(a, out, alen) == 0);
	REQUIRE(ooblex_jpeg_decode_i420(acc, a, alen, W, H, a_back, err, sizeof(err)) == 0);
	REQUIRE(ooblex_jpeg_decode_i420(fast, a, alen, W, H, f_back, err, sizeof(err)) == 0);
	EXPECT(memcmp(a_back, f_back, sizeof(a_back)) != 0);
	free(a);
	ooblex_jpeg_free(acc);
	ooblex_jpeg_free(fast);
}

int main(void) {
	TEST_RUN(test_i420_round_trip_odd_sizes);
	TEST_RUN(test_planes_with_strides_code_as_packed);
	TEST_RUN(test_rgb_and_gray);
	TEST_RUN(test_refused_before_a_byte_is_written);
	TEST_RUN(test_damaged_is_not_garbage);
	TEST_RUN(test_fast_dct_is_passed_on);
	return tl_done();
}
