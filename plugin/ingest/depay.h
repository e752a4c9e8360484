/*
 * depay.h - RTP depacketizer and frame assembler for VP8 (RFC 7741) and
 * H.264 (RFC 6184, packetization-mode 0 and 1: single NAL units, STAP-A, FU-A).
 *
 * Owns: turning a stream of video RTP packets, in sequence order (the
 * reorder buffer in front of it sees to that), into whole encoded frames. It
 * groups packets by RTP timestamp, ends a frame on the marker bit (or on the
 * next frame's first packet when the marker was lost), and refuses any frame
 * with a hole in it. After a hole it emits nothing until the next keyframe and
 * tells the caller to ask the sender for one (PLI): inter frames decoded
 * without their references would only show garbage. VP8 frames come out as
 * the bare bitstream, H.264 frames as Annex B (start codes), which is what
 * libavcodec's decoders take.
 *
 * Not thread-safe: one depacketizer per stream, used by one thread.
 */
#ifndef OOBLEX_DEPAY_H
#define OOBLEX_DEPAY_H

#include <stddef.h>
#include <stdint.h>
#include "ooblex_codec.h"
#include "rtp_packet.h"

/* Encoded frames are handed out with this much zeroed slack after the data,
 * which is what libavcodec's parsers and decoders require (64 in FFmpeg 5). */
#define OOBLEX_DEPAY_PADDING 64

typedef struct ooblex_encoded_frame {
	uint8_t *data;	/* owned by the depacketizer; valid until the next push */
	size_t len;
	uint32_t timestamp;	/* RTP, 90 kHz */
	int keyframe;
	uint64_t first_arrival_us;	/* when the frame's first packet arrived */
	/* When its last packet arrived (the latest of its packets): what lies
	 * between is the sender's pacing of one frame's packets. */
	uint64_t last_arrival_us;
} ooblex_encoded_frame;

typedef enum ooblex_depay_result {
	OOBLEX_DEPAY_NONE = 0,	/* nothing complete yet */
	OOBLEX_DEPAY_FRAME = 1,	/* a frame is ready in *out */
} ooblex_depay_result;

typedef struct ooblex_depay_stats {
	uint64_t packets;
	uint64_t frames;
	uint64_t keyframes;
	uint64_t bad_packets;	/* malformed payloads */
	uint64_t frames_dropped;	/* incomplete, or waiting for a keyframe */
	uint64_t frames_over_cap;	/* passed max_frame_bytes or max_frame_packets */
	uint64_t losses;	/* sequence gaps seen */
} ooblex_depay_stats;

typedef struct ooblex_depay ooblex_depay;

ooblex_depay *ooblex_depay_new(ooblex_codec codec);
void ooblex_depay_free(ooblex_depay *d);

/* Bounds one frame (0: no bound, the default). A frame that would pass
 * max_bytes of bitstream or max_packets packets is dropped at once, counted
 * in frames_over_cap (not frames_dropped), the rest of its timestamp is
 * discarded as it arrives, and what follows waits for a keyframe: packets
 * that share one timestamp and never carry a marker cost nothing more.
 * Memory: at most three frame buffers of max_bytes + OOBLEX_DEPAY_PADDING
 * (the frame being assembled and the two a push can hand out); a buffer
 * over OOBLEX_DEPAY_KEEP_BYTES is freed once its frame is done with, so a
 * huge frame does not pin its memory for the rest of the stream. */
void ooblex_depay_set_limits(ooblex_depay *d, size_t max_bytes, unsigned max_packets);
#define OOBLEX_DEPAY_KEEP_BYTES (1024 * 1024)

/* Feeds one packet. When it completes a frame, returns OOBLEX_DEPAY_FRAME and
 * fills out; call ooblex_depay_next() for more (one packet can complete two
 * frames when a marker was lost). Frames stay valid until the next push.
 * Sets *need_keyframe when the caller should send a PLI (loss, or no keyframe
 * seen yet); the caller rate-limits PLIs. */
ooblex_depay_result ooblex_depay_push(ooblex_depay *d, const ooblex_rtp_packet *pkt,
	uint64_t arrival_us, ooblex_encoded_frame *out, int *need_keyframe);
ooblex_depay_result ooblex_depay_next(ooblex_depay *d, ooblex_encoded_frame *out);

/* Forget the current frame and wait for a keyframe (decoder error, a
 * refused frame, new stream). */
void ooblex_depay_reset(ooblex_depay *d);

const ooblex_depay_stats *ooblex_depay_get_stats(const ooblex_depay *d);

/* Length of the VP8 payload descriptor at the start of payload, or -1 if malformed.
 * Sets *start when S=1 and PID=0 (first packet of a frame). */
int ooblex_vp8_descriptor_len(const uint8_t *payload, size_t len, int *start);

#endif
