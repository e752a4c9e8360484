/*
 * egress.h - the returning half of one session: results from workers in,
 * frames to the page out. The mirror of ingest.h.
 *
 * Owns, for one client session:
 *  - taking a result: the result gate's checks (result_gate.h) on the
 *    reader's buffer before anything is copied, then the seq check (a seq
 *    this session never queued is refused as unexpected, never taken);
 *  - the reorder buffer (reorder.h) that puts results back in the order
 *    their frames were sampled, with the adaptive wait for a missing one
 *    (it follows the spread of the round trips through the workers, within
 *    reorder_min_wait_ms .. reorder_wait_ms). A worker's error result holds
 *    its frame's place only: released as a skip, and the page is told (at
 *    most once a second per reason);
 *  - the fan-out of each frame released, in order, to the outputs chosen
 *    (OOBLEX_OUTPUT_*): the data channel (JSON metadata and the JPEG, in
 *    chunks, dc_chunker.h; the metadata alone for OOBLEX_OUTPUT_NO_PICTURE
 *    or a metadata-only result) and the video track (video_output.h, its thread
 *    started and stopped here), which takes JPEG or I420 results (the host
 *    asks workers for I420 when the track is the only output: no JPEG
 *    round trip); an I420 result reaching the data channel (sampled before
 *    a `configure` added it) is counted in dropped_channel, not sent;
 *  - the data channel's backpressure: at most dc_max_unacked_frames frames
 *    on their way to the page (dc_window.h: by the page's acks, or by the
 *    SCTP stack's "drained" events for pages that do not ack). When the page
 *    is behind, only the newest frame waits for room and an older one
 *    waiting is dropped whole (a frame is never sent in part); after a
 *    second without an ack or a drain (OOBLEX_EGRESS_DRY_FALLBACK_US) the
 *    channel is assumed to have moved;
 *  - the seqs resolved (delivered or given up on) and queued, which the
 *    ingest's in-flight count reads (ooblex_egress_resolved_seq,
 *    ooblex_egress_queued_seq), and the per-stage latency of what was sent.
 *
 * The host (the Janus glue, the load generator, a test) gives the egress its
 * callbacks: send a data-channel message, send an RTP packet, hear of each
 * frame delivered and of worker errors, and (for tests) the clock. No Janus,
 * no Redis: results come in through ooblex_egress_on_result.
 *
 * Locking: one lock per egress guards everything above but the counters
 * (atomics, read from any thread without it). Lock order: the host's locks
 * (the plugin's sessions_mutex, then session->mutex) before the egress lock,
 * never the other way; the host must not call into the egress from a
 * callback. The host is never called with the egress lock held, except
 * send_data and delivered (as the plugin always did under its return-path
 * lock: Janus' relay_data only queues, and a frame's chunks must go out
 * whole and in order). Under the lock the egress also hands frames, keyframe
 * requests and REMB to the video output's mailbox (video_output.h's own
 * short lock). send_rtp runs on the video output's thread, without the lock.
 *
 * Lifetime: one egress per session, from the session's creation to its end;
 * ooblex_egress_restart begins each run (each "start"), ooblex_egress_stop
 * ends one. Counters go on across runs (they never decrease); the reorder
 * buffer's and the latency window restart with each run.
 */
#ifndef OOBLEX_EGRESS_H
#define OOBLEX_EGRESS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ooblex_codec.h"
#include "ooblex_wire.h"
#include "reorder.h"
#include "result_gate.h"
#include "send_rate.h"
#include "stage_stats.h"

/* Where processed frames go: the data channel (JPEG + metadata), an
 * outgoing video track, or both. */
#define OOBLEX_OUTPUT_DATACHANNEL 1u
#define OOBLEX_OUTPUT_VIDEO 2u
/* With the data channel alone (output "metadata"): frames carry what the
 * effect found and no picture; the page draws it over its own video. The
 * host asks workers for no picture (reply pixfmt NONE); a picture that
 * comes anyway (an older worker, a frame sampled before `configure`) is
 * left out of the message. */
#define OOBLEX_OUTPUT_NO_PICTURE 4u

/* How long a backed-up data channel may stay silent (no ack, no drain)
 * before its notification is assumed missed and frames go again. */
#define OOBLEX_EGRESS_DRY_FALLBACK_US (1000 * 1000)
/* Results held waiting for an earlier one, at most. */
#define OOBLEX_EGRESS_REORDER_CAPACITY 64

/* Counters over the egress's life (never reset, never decreasing); any
 * thread reads them without a lock. Their names in the stats JSON and
 * Prometheus are counters.h's (docs/api.md). */
typedef struct ooblex_egress_stats {
	atomic_uint_fast64_t results;	/* results taken (not error results, not refused) */
	atomic_uint_fast64_t results_refused[OOBLEX_RESULT_VERDICTS];	/* by verdict (sums of them: counters.h) */
	atomic_uint_fast64_t results_error;	/* error results from workers */
	atomic_uint_fast64_t errors_resolved;	/* of them, released by the reorder buffer as skips */
	atomic_uint_fast64_t frames_sent;	/* delivered to an output */
	atomic_uint_fast64_t chunks_sent;
	atomic_uint_fast64_t dc_bytes_sent;	/* of those chunks, headers included */
	atomic_uint_fast64_t dropped_channel;	/* the data channel was not open, refused it, or it was I420 */
	atomic_uint_fast64_t dropped_backpressure;	/* dropped whole: the page was behind, a newer frame won */
	atomic_uint_fast64_t bad_acks;	/* malformed, never sent, or already acked */
	atomic_uint_fast64_t data_ready_events;	/* the SCTP stack's queue drained */
	atomic_uint_fast64_t video_frames_pushed;	/* handed to the video track */
	/* What this client's frames cost the workers (worker_end - worker_start
	 * of every result and error result taken), for the fair scheduler
	 * (fair_share.h), and those over the per-frame budget: longer than
	 * frame_budget_ms, or refused by the worker's own budget (over_budget). */
	atomic_uint_fast64_t worker_us_total;
	atomic_uint_fast64_t worker_timed;
	atomic_uint_fast64_t frames_over_budget;
	/* Results over the budget that followed another one over it: what holds
	 * the client (one alone may be a loaded machine's hiccup, not its effect). */
	atomic_uint_fast64_t frames_over_budget_again;
} ooblex_egress_stats;

typedef struct ooblex_egress_host {
	/* One binary data-channel message to the page. Returns 0, or -1 when it
	 * cannot go (the session is closing): the frame is abandoned and counted
	 * in dropped_channel. Called with the egress lock held (see above). */
	int (*send_data)(const uint8_t *msg, size_t len, void *user);
	/* One RTP packet on the outgoing video track; on the video output's thread. */
	void (*send_rtp)(const uint8_t *packet, size_t len, void *user);
	/* A frame went to an output (counted in frames_sent): its header and
	 * picture (h->pixfmt: JPEG or I420; valid during the call), when its result was taken and when it
	 * was sent (wall clock, µs). Called with the egress lock held. May be NULL. */
	void (*delivered)(const ooblex_frame_header *h, const uint8_t *payload, uint64_t returned_us,
		uint64_t sent_us, void *user);
	/* A worker could not process frame seq (code: ooblex_frame_error, 0 if
	 * unknown): at most once a second per code. Never with the egress lock
	 * held. May be NULL. */
	void (*worker_error)(uint32_t seq, unsigned code, const char *reason, void *user);
	/* The clock: µs, wall clock as the frames' timestamps. NULL: ooblex_now_us. */
	uint64_t (*now_us)(void *user);
} ooblex_egress_host;

typedef struct ooblex_egress_config {
	/* Not owned. One gate holds one JPEG header reader: egresses may share
	 * it only when all their results come through one thread (the plugin's
	 * Redis reader). */
	ooblex_result_gate *gate;
	unsigned reorder_wait_ms;	/* the bound on the wait for a missing frame */
	int reorder_adaptive;	/* follow the workers' latency spread, within the bound */
	unsigned reorder_min_wait_ms;
	unsigned dc_max_unacked_frames;	/* 1..OOBLEX_DC_WINDOW (0: 8) */
	/* The video track's encoder (video_output.h); codec and payload type
	 * come with ooblex_egress_set_output. */
	int video_bitrate_bps;
	int video_fps;	/* a hint for the rate control (0: 30) */
	unsigned video_max_width, video_max_height;	/* 0: 1920 x 1080 */
	/* A result whose worker time exceeds this counts in frames_over_budget (0: none). */
	unsigned frame_budget_ms;
	/* The ingest's (ingest.h: the browser's video is full-range); NULL: never. */
	const atomic_int *full_range;
} ooblex_egress_config;

/* The video track's counters, copied (the track may stop right after). */
typedef struct ooblex_egress_video_counts {
	uint64_t frames_in, frames_sent, frames_dropped, frames_failed, keyframes, keyframe_requests;
	uint64_t packets, bytes, encode_us_total, decode_us_total;
	int bitrate_bps;
	unsigned max_packet_seen;
} ooblex_egress_video_counts;

/* The state behind the lock, copied at one instant. */
typedef struct ooblex_egress_snapshot {
	int started;	/* restarted at least once: the reorder fields are meaningful */
	unsigned output;	/* OOBLEX_OUTPUT_* */
	ooblex_reorder_stats reorder;	/* this run's */
	unsigned reorder_held;
	uint64_t reorder_wait_us;	/* the wait in force */
	int video_running;	/* the video track's thread runs: video is filled */
	ooblex_egress_video_counts video;
	ooblex_send_rate send_rate;	/* with video_running: the track's rate control */
	int send_rate_target_bps;
	unsigned effective_fps;	/* frames sent in the last whole second */
	ooblex_stage_summary latency[OOBLEX_STAGE_COUNT];	/* this run's last OOBLEX_STAGE_WINDOW frames */
} ooblex_egress_snapshot;

typedef struct ooblex_egress ooblex_egress;

/* cfg is copied (cfg->gate is required); host and user must outlive the egress. */
ooblex_egress *ooblex_egress_new(const ooblex_egress_config *cfg, const ooblex_egress_host *host, void *user);
/* Stops the video track (joins its thread) and frees everything. */
void ooblex_egress_free(ooblex_egress *e);

/* A new run for client_id: the reorder buffer, the latency window, the
 * seqs resolved and queued and the data channel's window start afresh. */
void ooblex_egress_restart(ooblex_egress *e, const uint8_t client_id[OOBLEX_CLIENT_ID_LEN]);
/* Where frames go from now on (OOBLEX_OUTPUT_* flags): starts the video
 * track's thread (codec, payload_type) when video is wanted and none runs,
 * stops it when video is no longer wanted. Returns 0, or -1 with a reason in
 * err (the output is then unchanged). */
int ooblex_egress_set_output(ooblex_egress *e, unsigned output, ooblex_codec codec, uint8_t payload_type,
	char *err, size_t errlen);
unsigned ooblex_egress_output(ooblex_egress *e);
/* The run ended: the channel counts as closed, the video track stops, the
 * frame waiting for the channel is dropped. Counters and the reorder buffer
 * stay (stats read after a stop still add up) until the next restart. */
void ooblex_egress_stop(ooblex_egress *e);

/* A result as popped from processed_frames:{id} (msg is not kept: what is
 * kept is copied after the checks). The reader thread; outside any host
 * lock. Returns OOBLEX_RESULT_OK when it was taken, or why it was refused
 * (counted in results_refused). */
ooblex_result_verdict ooblex_egress_on_result(ooblex_egress *e, const uint8_t *msg, size_t len);
/* Between results (the reader's tick): gaps whose wait ran out are skipped
 * and what follows them goes out. */
void ooblex_egress_tick(ooblex_egress *e);

/* A data-channel message from the page: it proves the channel open; an ack
 * ({"ack":<frame_id>}, dc_message.h) for a frame on its way makes room, and
 * the frame waiting goes; a bad one is counted and changes nothing. Returns
 * 1 if this message opened the channel, else 0. Any thread. */
int ooblex_egress_on_data(ooblex_egress *e, const uint8_t *buf, size_t len);
/* The SCTP stack's queue drained (Janus' data_ready): it proves the channel
 * open, and the frame waiting goes. Returns 1 if it opened the channel. */
int ooblex_egress_data_ready(ooblex_egress *e);
int ooblex_egress_channel_open(const ooblex_egress *e);

/* RTCP from the page about the video track: PLI or FIR, REMB, and the
 * receiver reports whose fraction lost drives the track's rate
 * (send_rate.h; rtcp is the whole compound packet, read with every length
 * checked). Any thread; the video output hears the new target at once. */
void ooblex_egress_request_keyframe(ooblex_egress *e);
void ooblex_egress_remb(ooblex_egress *e, uint32_t bitrate_bps);
void ooblex_egress_rtcp(ooblex_egress *e, const uint8_t *rtcp, size_t len);

const ooblex_egress_stats *ooblex_egress_get_stats(const ooblex_egress *e);
void ooblex_egress_snapshot_take(ooblex_egress *e, ooblex_egress_snapshot *out);

/* For the ingest's config (ingest.h): the last seq resolved, and where the
 * ingest stores the last seq it queued. Valid as long as the egress. */
const atomic_uint_fast32_t *ooblex_egress_resolved_seq(const ooblex_egress *e);
atomic_uint_fast32_t *ooblex_egress_queued_seq(ooblex_egress *e);

#endif
