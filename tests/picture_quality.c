/*
 * picture_quality.c - PSNR and SSIM (picture_quality.h).
 */
#include "picture_quality.h"

#include <math.h>
#include <string.h>

double quality_mse(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride, int width, int height) {
	uint64_t sum = 0;
	for(int y = 0; y < height; y++) {
		const uint8_t *pa = a + (size_t)y * a_stride, *pb = b + (size_t)y * b_stride;
		for(int x = 0; x < width; x++) {
			int d = pa[x] - pb[x];
			sum += (uint64_t)(d * d);
		}
	}
	return width > 0 && height > 0 ? (double)sum / ((double)width * height) : 0;
}

double quality_psnr(double mse) {
	return mse <= 1e-10 ? 100.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

double quality_ssim(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride, int width, int height) {
	if(width < 8 || height < 8) {
		for(int y = 0; y < height; y++)
			if(memcmp(a + (size_t)y * a_stride, b + (size_t)y * b_stride, (size_t)width) != 0)
				return 0;
		return 1;
	}
	const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
	double total = 0;
	long windows = 0;
	for(int y = 0; y + 8 <= height; y += 4)
		for(int x = 0; x + 8 <= width; x += 4) {
			double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
			for(int j = 0; j < 8; j++) {
				const uint8_t *pa = a + (size_t)(y + j) * a_stride + x, *pb = b + (size_t)(y + j) * b_stride + x;
				for(int i = 0; i < 8; i++) {
					sa += pa[i];
					sb += pb[i];
					saa += pa[i] * pa[i];
					sbb += pb[i] * pb[i];
					sab += pa[i] * pb[i];
				}
			}
			const double n = 64;
			double ma = sa / n, mb = sb / n;
			double va = saa / n - ma * ma, vb = sbb / n - mb * mb, cov = sab / n - ma * mb;
			total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
			windows++;
		}
	return total / (double)windows;
}
