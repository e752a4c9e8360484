/*
 * vp8_test_source.h - a deterministic video source for tests and benchmarks.
 *
 * Owns: drawing frame n of a known pattern (smooth gradients, a moving
 * square), encoding it with libvpx through libavcodec (real-time settings,
 * like a browser), and packetizing it into VP8 RTP packets (RFC 7741, 15-bit
 * picture id, at most 1100 payload bytes) as a browser would send them.
 */
#ifndef OOBLEX_VP8_TEST_SOURCE_H
#define OOBLEX_VP8_TEST_SOURCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct vp8_test_source vp8_test_source;
typedef void (*vp8_packet_fn)(const uint8_t *pkt, size_t len, void *user);

vp8_test_source *vp8_test_source_new(int width, int height, int fps, int bitrate_kbps);
void vp8_test_source_free(vp8_test_source *s);

/* Draws, encodes and packetizes the next frame; returns its I420 pixels
 * (owned by the source, valid until the next call), or NULL on error. */
const uint8_t *vp8_test_source_next(vp8_test_source *s, vp8_packet_fn emit, void *user);

/* The pattern alone: frame n into an I420 buffer of width x height. */
void test_pattern_i420(uint8_t *i420, int width, int height, int n);

#endif
