/*
 * picture_quality.h - how close one picture is to another, as video people
 * measure it: PSNR and SSIM of 8-bit planes (for the processed track's
 * benchmark and tests: the received or decoded picture against the one that
 * was encoded).
 */
#ifndef OOBLEX_PICTURE_QUALITY_H
#define OOBLEX_PICTURE_QUALITY_H

#include <stdint.h>

/* Mean squared error of two width x height planes. */
double quality_mse(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride, int width, int height);
/* PSNR in dB from a mean squared error (peak 255); 100 for identical. */
double quality_psnr(double mse);
/* SSIM of two planes (Wang et al. 2004, K1 0.01, K2 0.03, L 255) over 8x8
 * windows every 4 pixels, averaged: 1 for identical, lower for less alike.
 * Planes under 8x8 give 1 when equal, 0 when not. */
double quality_ssim(const uint8_t *a, int a_stride, const uint8_t *b, int b_stride, int width, int height);

#endif
