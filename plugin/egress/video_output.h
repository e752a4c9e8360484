/*
 * video_output.h - a session's processed frames as an outgoing video track.
 *
 * Owns: a thread per session that takes the newest processed frame, a JPEG
 * decoded first (ooblex_jpeg.h, straight to I420) or the worker's I420 as it
 * is (video_reply_format: no JPEG round trip), encodes it (video_encoder) and hands
 * the RTP packets (rtp_packetizer, at most max_packet bytes) to the send
 * callback, which the Janus glue points at relay_rtp. Frames wait in a
 * one-slot mailbox: when encoding falls behind, the newest frame wins and
 * the older one is counted as dropped; the return path never waits for the
 * encoder. Keyframes on request (PLI/FIR), bitrate from the config capped
 * by the browser's REMB. RTP timestamps follow the frames' capture times,
 * so the track keeps the camera's rhythm. Memory is bounded by max_width x
 * max_height: the mailbox, the I420 picture and the encoder never hold more.
 */
#ifndef OOBLEX_VIDEO_OUTPUT_H
#define OOBLEX_VIDEO_OUTPUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ooblex_codec.h"

typedef struct ooblex_video_output_config {
	ooblex_codec codec;
	uint8_t payload_type;
	int bitrate_bps;	/* the target; REMB can only lower it */
	size_t max_packet;	/* RTP packet size limit, header included */
	int fps;	/* a hint for the rate control */
	/* The largest picture taken (either orientation; 0: 1920 x 1080): a
	 * bigger one, or a JPEG over 3 bytes a pixel of it, is counted as failed
	 * before anything is allocated for it. */
	unsigned max_width, max_height;
} ooblex_video_output_config;

typedef struct ooblex_video_output_stats {
	atomic_uint_fast64_t frames_in;
	atomic_uint_fast64_t frames_sent;	/* encoded and packetized */
	atomic_uint_fast64_t frames_dropped;	/* replaced by a newer one before encoding */
	atomic_uint_fast64_t frames_failed;	/* bad JPEG, I420 not exactly its size, encoder error */
	atomic_uint_fast64_t keyframes;
	atomic_uint_fast64_t keyframe_requests;
	atomic_uint_fast64_t packets, bytes;
	atomic_uint_fast64_t encode_us_total;	/* inside libavcodec */
	atomic_uint_fast64_t decode_us_total;	/* JPEG to I420 (none for I420 frames) */
	atomic_int bitrate_bps;	/* what the encoder aims at now */
	atomic_uint max_packet_seen;
} ooblex_video_output_stats;

/* Called on the output thread with each RTP packet (valid during the call). */
typedef void (*ooblex_video_send_fn)(const uint8_t *packet, size_t len, void *user);

typedef struct ooblex_video_output ooblex_video_output;

ooblex_video_output *ooblex_video_output_start(const ooblex_video_output_config *cfg, ooblex_video_send_fn send,
	void *user, char *err, size_t errlen);
/* Hands over a processed JPEG (copied). full_range: its YCbCr values span
 * 0..255 (the browser sent full-range video, as canvas captures are) and are
 * scaled to the 16..235/240 range video decoders assume. Any thread, never
 * blocks for long. */
void ooblex_video_output_push(ooblex_video_output *o, const uint8_t *jpeg, size_t len, int width, int height,
	uint64_t capture_us, int full_range);
/* The same for a processed I420 picture (copied; planes Y, U, V back to
 * back, width x height and two (width/2) x (height/2)): taken only when
 * width and height are even, within the limit, and len is exactly
 * ooblex_pixfmt_size(I420) for them; else counted as failed, never copied.
 * It shares the one-slot mailbox with JPEGs: the newest frame wins, whatever
 * its format. */
void ooblex_video_output_push_i420(ooblex_video_output *o, const uint8_t *i420, size_t len, int width, int height,
	uint64_t capture_us, int full_range);
/* The next frame is a keyframe (the browser sent PLI or FIR). */
void ooblex_video_output_request_keyframe(ooblex_video_output *o);
/* The browser's estimate of what it can receive (REMB), in bits/s. */
void ooblex_video_output_remb(ooblex_video_output *o, uint32_t bitrate_bps);
const ooblex_video_output_stats *ooblex_video_output_get_stats(const ooblex_video_output *o);
/* Stops the thread; nothing is sent after it returns. */
void ooblex_video_output_stop(ooblex_video_output *o);

#endif
