/*
 * video_test_source.h - a deterministic video source for tests and benchmarks.
 *
 * Owns: drawing frame n of a known pattern (smooth gradients, a moving
 * square). Encoding and packetizing are the plugin's own outgoing-video
 * modules (video_encoder: libvpx or libx264 with real-time settings, as a
 * browser encodes; rtp_packetizer: VP8 per RFC 7741, H.264 per RFC 6184 mode
 * 1), with packets of at most 1112 bytes and a sequence number that wraps
 * early.
 */
#ifndef OOBLEX_VIDEO_TEST_SOURCE_H
#define OOBLEX_VIDEO_TEST_SOURCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct video_test_source video_test_source;
typedef void (*video_packet_fn)(const uint8_t *pkt, size_t len, void *user);

/* codec: "vp8" or "h264". */
video_test_source *video_test_source_new(const char *codec, int width, int height, int fps, int bitrate_kbps);
void video_test_source_free(video_test_source *s);

/* Draws, encodes and packetizes the next frame; returns its I420 pixels
 * (owned by the source, valid until the next call), or NULL on error. */
const uint8_t *video_test_source_next(video_test_source *s, video_packet_fn emit, void *user);

/* Continues the same RTP stream at another size, as a browser does when it
 * scales down under congestion: the encoder restarts (with a keyframe). */
int video_test_source_resize(video_test_source *s, int width, int height);

/* The next frame is encoded as a keyframe (what a PLI asks for). */
void video_test_source_force_keyframe(video_test_source *s);

/* Hostile streams: fn sees each encoded frame before it is packetized and
 * returns what to send instead (its own buffer, valid until the next call;
 * *len updated), or bits itself to send it unchanged. NULL: no hook. */
typedef const uint8_t *(*video_tamper_fn)(const uint8_t *bits, size_t *len, int keyframe, void *user);
void video_test_source_tamper(video_test_source *s, video_tamper_fn fn, void *user);

/* The pattern alone: frame n into an I420 buffer of width x height. */
void test_pattern_i420(uint8_t *i420, int width, int height, int n);

#endif
