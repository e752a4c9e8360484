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

/* Encodes a tightly packed I420 picture. force_keyframe: a browser asked
 * (PLI/FIR). *out (valid until the next call) and *out_len get the encoded
 * frame, *keyframe whether it is one. Returns 0 (with *out_len 0 if the
 * encoder held the frame back), or -1 with a reason in err. */
int ooblex_video_encoder_encode(ooblex_video_encoder *e, const uint8_t *i420, int width, int height,
	int force_keyframe, const uint8_t **out, size_t *out_len, int *keyframe, char *err, size_t errlen);

#endif
