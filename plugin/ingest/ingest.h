/*
 * ingest.h - the receiving half of one session: RTP in, frames for workers out.
 *
 * Owns: a bounded packet queue and one thread that runs, per packet,
 * reorder (jitter buffer) -> depacketize -> decode -> sample -> pack.
 * Sampling bounds latency: every frame_skip-th frame at most, and never more
 * than max_in_flight frames waiting for workers (the newest frame wins).
 * Janus' media thread only copies the
 * packet into the queue (ooblex_ingest_push_rtp never blocks and never
 * decodes); when the queue is full the packet is dropped and counted, and the
 * depacketizer's loss handling then waits for a keyframe. The thread is woken
 * once per frame, not per packet: by the packet that ends a frame (marker
 * bit) or starts the next (a new timestamp), by 64 packets waiting, by every
 * packet while the jitter buffer waits behind a gap, and at the latest 10 ms
 * after a packet was queued (stats: wakeups). Packed frames leave
 * through the frame_ready callback (normally the Redis producer).
 *
 * Hostile senders: whatever a browser sends, a session holds a bounded
 * amount of memory and spends a bounded amount of decoding per second.
 *  - packets over OOBLEX_INGEST_MAX_PACKET bytes are refused (malformed);
 *  - the packet queue holds at most max_queued_packets and max_queued_bytes;
 *  - the jitter buffer holds at most jitter_packets packets;
 *  - one frame holds at most max_frame_bytes and max_frame_packets (past
 *    either: dropped, counted in frames_over_cap, keyframe awaited);
 *  - a picture larger than max_decode_width x max_decode_height (either
 *    orientation, whole macroblocks) is refused before libavcodec sees it:
 *    the size is read from the VP8 keyframe header or from every H.264 SPS
 *    (counted in frames_too_large, keyframe awaited), and libavcodec's own
 *    max_pixels is set to the same limit;
 *  - keyframes (and H.264 frames carrying an SPS, which make the decoder
 *    reinitialise) beyond max_keyframes_per_s or max_keyframe_bytes_per_s
 *    (token buckets holding one second's worth) are dropped undecoded
 *    (keyframes_over_budget), and the next keyframe is awaited.
 * The ceiling this gives, at the defaults (1920x1080 decode limit):
 *    packet queue 4 MiB + jitter buffer 513 x 1.6 KiB (0.8 MiB)
 *    + frame assembly 3 x 3 MiB + decoder pictures (VP8: 4 references and
 *    the one being decoded, about 16 MiB; H.264: up to 16 references plus
 *    2, about 60 MiB with libavcodec's per-picture tables)
 *    + the packer's one picture at the output size (at most 6 MiB, RGB24)
 *  = at most about 40 MiB for VP8 and 85 MiB for H.264 per session,
 * whatever is sent; scale with the decode limit. Measured: a 1920x1080
 * stream adds 12 MiB (VP8) or 13 MiB (H.264, one reference) to the
 * process, an H.264 one with 16 references 75 MiB; test_hostile_ingest.c
 * checks that streams built to break the bounds add under 24 MiB.
 *
 * Lifetime: ooblex_ingest_stop() is asynchronous. The thread finishes the
 * packet in hand, calls stopped() as its very last use of the caller's
 * pointers, and frees itself, so a stop from Janus' media thread never waits
 * on a decode.
 */
#ifndef OOBLEX_INGEST_H
#define OOBLEX_INGEST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "ooblex_wire.h"

/* Counters kept in memory the caller owns, so they outlive the ingest thread
 * and can be read from any thread (Admin API) without a lock. */
typedef struct ooblex_ingest_stats {
	atomic_uint_fast64_t packets_received;
	atomic_uint_fast64_t packets_dropped;	/* queue full: the decoder fell behind */
	atomic_uint_fast64_t packets_malformed;	/* not RTP, or a payload the depacketizer refused */
	atomic_uint_fast64_t packets_lost;	/* gaps given up on by the jitter buffer */
	atomic_uint_fast64_t packets_late;	/* arrived after their gap was given up on */
	atomic_uint_fast64_t packets_duplicate;
	atomic_uint_fast64_t frames_assembled;	/* whole encoded frames */
	atomic_uint_fast64_t frames_incomplete;	/* dropped by the depacketizer */
	atomic_uint_fast64_t frames_over_cap;	/* outgrew max_frame_bytes / max_frame_packets */
	atomic_uint_fast64_t frames_too_large;	/* picture over max_decode_*: refused before decoding */
	atomic_uint_fast64_t keyframes_over_budget;	/* beyond the keyframe rate or byte budget */
	atomic_uint_fast64_t frames_decoded;
	atomic_uint_fast64_t decode_errors;
	atomic_uint_fast64_t frames_sampled;
	atomic_uint_fast64_t frames_deferred;	/* due, but too many in flight: the next one went instead */
	atomic_uint_fast64_t frames_deferred_fair;	/* due, but the client's fair share was used (fair_share.h) */
	atomic_uint_fast64_t frames_shed_latency;	/* taken by the sampler, shed by the latency budget */
	atomic_uint_fast64_t frames_over_sender_rate;	/* a source-sampled sender sent more than it was asked */
	atomic_uint_fast64_t frames_unsupported;	/* pixel format we cannot pack */
	atomic_uint_fast64_t keyframes_requested;
	atomic_uint_fast64_t decode_us_total;	/* time spent in the decoder */
	atomic_uint_fast64_t wakeups;	/* times the thread slept and woke: about one per frame */
	atomic_int full_range;	/* the browser's video is full-range YUV (canvas captures are) */
} ooblex_ingest_stats;

typedef struct ooblex_ingest_callbacks {
	/* Ask the sender for a keyframe (PLI). Already rate-limited. Must not block. */
	void (*request_keyframe)(void *user);
	/* A sampled frame, packed; the callee owns msg and frees it with free(). */
	void (*frame_ready)(uint8_t *msg, size_t len, void *user);
	/* The thread is about to exit; nothing is called after this. */
	void (*stopped)(void *user);
} ooblex_ingest_callbacks;

/* How long a sampled frame's packets took to arrive, first to last: the
 * sender's pacing of one frame (Chromium's pacer sends an 18 KB frame over
 * ~44 ms at its 3.3 Mbit/s estimate, and over up to 150 ms while the
 * estimate ramps up at a session's start). Shedding load cannot shorten it,
 * so the latency budget leaves it out of its measure (latency_budget.h).
 * A ring by seq, lock-free: the ingest thread writes as
 * it queues a frame, the return path reads as it delivers the result;
 * a slot overwritten since (a result more than OOBLEX_ARRIVAL_SPREAD_RING
 * frames late) reads 0. */
#define OOBLEX_ARRIVAL_SPREAD_RING 128
typedef struct ooblex_arrival_spread {
	atomic_uint_fast64_t slot[OOBLEX_ARRIVAL_SPREAD_RING];	/* seq << 32 | spread in µs */
} ooblex_arrival_spread;

static inline void ooblex_arrival_spread_put(ooblex_arrival_spread *r, uint32_t seq, uint64_t spread_us) {
	uint64_t us = spread_us > UINT32_MAX ? UINT32_MAX : spread_us;
	atomic_store(&r->slot[seq % OOBLEX_ARRIVAL_SPREAD_RING], (uint64_t)seq << 32 | us);
}

/* The spread of frame seq in µs, 0 when not known. */
static inline uint64_t ooblex_arrival_spread_get(const ooblex_arrival_spread *r, uint32_t seq) {
	uint64_t v = atomic_load(&r->slot[seq % OOBLEX_ARRIVAL_SPREAD_RING]);
	return (uint32_t)(v >> 32) == seq ? (uint32_t)v : 0;
}

typedef struct ooblex_ingest_config {
	const char *codec;	/* "vp8" or "h264" */
	unsigned jitter_ms;	/* how long a missing packet is waited for (default 50) */
	unsigned jitter_packets;	/* most packets held behind a gap (default 512) */
	uint8_t client_id[OOBLEX_CLIENT_ID_LEN];
	unsigned frame_skip;
	const char *effect;
	uint8_t frame_pixfmt;	/* ooblex_pixfmt frames travel in (default I420) */
	unsigned max_width, max_height;	/* larger pictures are downscaled first (0: no limit) */
	uint8_t reply_pixfmt;	/* ooblex_pixfmt the workers should answer with (see ooblex_ingest_set_reply_pixfmt) */
	uint8_t jpeg_quality;
	unsigned max_queued_packets;	/* bound on the packet queue (default 2000) */
	size_t max_queued_bytes;	/* and on its bytes (default 4 MiB) */
	/* Limits against hostile senders (0: the default, see above). */
	unsigned max_decode_width, max_decode_height;	/* default 1920 x 1080 */
	size_t max_frame_bytes;	/* default: an I420 picture at the decode limit */
	unsigned max_frame_packets;	/* default: max_frame_bytes / 1024 */
	unsigned max_keyframes_per_s;	/* default 4 */
	size_t max_keyframe_bytes_per_s;	/* default: 2 x max_frame_bytes */
	unsigned pli_interval_ms;	/* at most one keyframe request per interval */
	unsigned deadline_ms;	/* frames older than this are useless to the viewer */
	/* At most this many sampled frames may wait for their result (0: no
	 * limit, at most OOBLEX_MAX_IN_FLIGHT). A frame counts as in flight from
	 * being queued until the return path resolves its sequence number
	 * (delivered or given up on: *resolved_seq, caller-owned) or its deadline
	 * passes. */
	unsigned max_in_flight;
	const atomic_uint_fast32_t *resolved_seq;
	/* Caller-owned, may be NULL, changed at any time by the fair scheduler
	 * (fair_share.h): a lower in-flight limit for this client (0: none
	 * beyond max_in_flight), and the least time between two of its frames
	 * queued (0: none). A frame due while either holds is deferred, as for
	 * max_in_flight, and counted in frames_deferred_fair. */
	const atomic_uint *fair_in_flight_cap;
	const atomic_uint_fast64_t *fair_min_interval_us;
	/* Caller-owned, may be NULL, changed at any time by the latency budget
	 * (latency_budget.h): of the frames the sampler takes, only one in
	 * latency_skip_milli / 1000 goes on (1000 or 0: all; 1500: two in
	 * three), counted in frames_shed_latency. A fraction, so that the
	 * session's effective FRAME_SKIP can be any multiple of what it asked
	 * for, over a full-rate or a source-sampled stream alike. */
	const atomic_uint *latency_skip_milli;
	/* Caller-owned, may be NULL, changed at any time: a source-sampled
	 * sender was asked to send every sender_skip-th camera frame (0: it was
	 * asked nothing). Frames beyond that rate by their capture times (RTP
	 * timestamps, on a 30 fps camera's clock: a credit of one frame per
	 * sender_skip x 3000 ticks, up to two frames' worth, so that a sender
	 * keeping the rate on average is never cut) are decoded, since the next
	 * refers to them, but not processed; counted in frames_over_sender_rate.
	 * A browser that cannot or will not lower its frame rate (no
	 * maxFramerate, an old client, a hostile one) is then processed at the
	 * rate it was asked for, like everyone else, not at the rate it sends. */
	const atomic_uint *sender_skip;
	/* Caller-owned, may be NULL: the seq of the last frame queued, stored
	 * before the frame leaves, so the return path knows exactly which seqs
	 * are in flight (result_gate.h). */
	atomic_uint_fast32_t *queued_seq;
	/* Caller-owned, may be NULL: each sampled frame's arrival spread, by
	 * seq (below). */
	ooblex_arrival_spread *arrival_spread;
	ooblex_ingest_stats *stats;	/* caller-owned, must outlive the thread */
} ooblex_ingest_config;

#define OOBLEX_MAX_IN_FLIGHT 64
/* Browsers send RTP packets within the path MTU; anything larger is refused. */
#define OOBLEX_INGEST_MAX_PACKET 1500
#define OOBLEX_INGEST_DEFAULT_DECODE_WIDTH 1920
#define OOBLEX_INGEST_DEFAULT_DECODE_HEIGHT 1080

typedef struct ooblex_ingest ooblex_ingest;

ooblex_ingest *ooblex_ingest_start(const ooblex_ingest_config *cfg, const ooblex_ingest_callbacks *cb,
	void *user, char *err, size_t errlen);

/* Copies one RTP packet into the queue. Any thread; never blocks. Returns 0,
 * or -1 if the packet was dropped. */
int ooblex_ingest_push_rtp(ooblex_ingest *ing, const uint8_t *buf, size_t len);

/* Changes the effect (NULL: keep) and frame_skip (0: keep) from the next frame on. */
void ooblex_ingest_configure(ooblex_ingest *ing, const char *effect, unsigned frame_skip);
/* What the workers answer with (ooblex_pixfmt: JPEG or I420), from the next
 * frame sampled on: the host follows its output with it (a video track
 * alone takes I420, the data channel needs JPEG). Frames already queued keep
 * what they asked for. */
void ooblex_ingest_set_reply_pixfmt(ooblex_ingest *ing, uint8_t reply_pixfmt);

/* Asks the thread to finish; ing must not be used afterwards. */
void ooblex_ingest_stop(ooblex_ingest *ing);

#endif
