/*
 * encoded_source.h - a camera stream encoded once, as RTP packets, for the
 * load generators (tests/bench/loadgen.c feeds it into the plugin's data
 * path; tests/bench/webrtc_loadgen.c sends it through Janus over WebRTC).
 *
 * SOURCE_FRAMES pictures of real footage (or the test pattern when there is
 * no file) scaled to 640x480, with a webcam's sensor noise, encoded as a
 * browser does (CBR at SOURCE_KBPS, no B-frames, one keyframe per loop) and
 * packetized by the plugin's own RTP packetizer (fragments <= 1200 bytes,
 * payload type 96 for VP8, 102 for H.264, SSRC 1, sequence from 1): the
 * senders rewrite SSRC, sequence and timestamp per session. Also the
 * pictures as a decoder gives them back (the reference encode and the
 * throughput mode use those). Globals: filled once, read-only afterwards.
 */
#ifndef OOBLEX_ENCODED_SOURCE_H
#define OOBLEX_ENCODED_SOURCE_H

#include <glib.h>
#include <libavutil/frame.h>

#define W 640
#define H 480
#define FPS 30
#define SOURCE_FRAMES 300	/* ten seconds, looped; one keyframe each loop */
#define SOURCE_KBPS 2000	/* what Chrome sends for 640x480 on a good link */
#define I420_SIZE (W * H * 3 / 2)

/* One encoded frame as RTP packets, and as the bitstream for the reference decode. */
typedef struct source_frame {
	GByteArray *packets;	/* u16 length (host order) + packet, repeated */
	unsigned n_packets;
	GByteArray *bitstream;
} source_frame;

extern source_frame source[SOURCE_FRAMES];
extern int source_n;
/* Camera frames per source frame: 1, or k when the clip was encoded from
 * every k-th picture at FPS / k, as a browser with maxFramerate = FPS / k
 * sends it (source-side sampling); each frame then lasts k / FPS. */
extern int source_every;
extern AVFrame *source_pictures[SOURCE_FRAMES];

/* Encodes the clip for codec ("vp8" or "h264") from footage (a video file,
 * or NULL/unreadable: the test pattern) with sensor noise of +-noise levels;
 * *what says which was used. Returns 0, or -1 (no encoder). */
int prepare_source(const char *codec, const char *footage, int noise, const char **what);
/* The same from every every-th picture only (SOURCE_FRAMES / every frames at
 * FPS / every), at the same SOURCE_KBPS: Chromium keeps its bitrate when
 * maxFramerate lowers its rate, so each frame is larger. */
int prepare_source_every(const char *codec, const char *footage, int noise, int every, const char **what);

#endif
