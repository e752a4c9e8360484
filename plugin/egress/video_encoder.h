/*
 * video_encoder.h - processed pictures into VP8 or H.264 for the outgoing
 * video track, with libavcodec (libvpx, libx264).
 *
 * Owns: one encoder set up for real-time WebRTC (no B-frames, no lookahead,
 * one thread, keyframes only when asked or at start), reopened when the
 * picture size changes or the target bitrate moves by more than a fifth.
 * H.264 is constrained baseline with SPS/PPS before every keyframe, as
 * packetization-mode 1 receivers expect. Not thread-safe: one per session,
 * used by that session's output thread.
 */
#ifndef OOBLEX_VIDEO_ENCODER_H
#define OOBLEX_VIDEO_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "ooblex_codec.h"

typedef struct ooblex_video_encoder ooblex_video_encoder;

ooblex_video_encoder *ooblex_video_encoder_new(ooblex_codec codec, int bitrate_bps, int fps);
void ooblex_video_encoder_free(ooblex_video_encoder *e);

/* The bitrate to aim at from the next frame on. */
void ooblex_video_encoder_set_bitrate(ooblex_video_encoder *e, int bitrate_bps);
int ooblex_video_encoder_bitrate(const ooblex_video_encoder *e);

/* A libavcodec option over the real-time settings above, from the next
 * (re)open on, e.g. ("x264-params", "rc-lookahead=8:mbtree=1"); one the
 * encoder does not take makes that open fail. For tests and tuning.
 * Returns 0, or -1 (out of memory). */
int ooblex_video_encoder_set_option(ooblex_video_encoder *e, const char *key, const char *value);

/* libavcodec's contract is not one encoded frame per picture: an encoder
 * may hold pictures back (lookahead, B-frames, frame threads) and give
 * several later. With the real-time settings above each picture's frame
 * comes out at once (one ooblex_video_encoder_next per encode, normally),
 * but whatever comes out is kept until taken, with its own picture's tag.
 *
 * Encodes a tightly packed I420 picture. force_keyframe: a browser asked
 * (PLI/FIR). time_us: the picture's time (the output thread passes its
 * capture time), which rate control spends the bitrate over: the pictures
 * may come at any rate, 30 a second or 3, and the track keeps its bitrate
 * (later times only; one not after the last counts a tick later). tag: the
 * caller's, handed back with this picture's encoded frame. A new size, or a
 * target bitrate far from the one the encoder was opened with, reopens it
 * (with a keyframe) after draining the old one. Returns 0, or -1 with a
 * reason in err (an encoder in an unknown state is not reused: the next
 * picture opens a new one). */
int ooblex_video_encoder_encode(ooblex_video_encoder *e, const uint8_t *i420, int width, int height,
	int force_keyframe, uint64_t time_us, uint64_t tag, char *err, size_t errlen);
/* The next encoded frame, in the order to send: 1 with *out (valid until
 * the next ooblex_video_encoder_next), *out_len, *keyframe and *tag set, 0
 * when none is waiting. Call until 0 after every encode and drain. */
int ooblex_video_encoder_next(ooblex_video_encoder *e, const uint8_t **out, size_t *out_len, int *keyframe,
	uint64_t *tag);
/* End of stream: what the encoder holds back is encoded and waits for
 * ooblex_video_encoder_next; the next picture opens a new encoder (a
 * keyframe). Returns 0, or -1 with a reason in err. */
int ooblex_video_encoder_drain(ooblex_video_encoder *e, char *err, size_t errlen);

#endif
