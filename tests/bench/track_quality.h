/*
 * track_quality.h - what the processed video track looks like at the
 * receiver, for tests/bench/webrtc_loadgen: the track's RTP packets are
 * depayloaded (plugin/ingest/depay.h) and decoded (libavcodec, through the
 * plugin's own video_decoder), and each picture is compared (PSNR, SSIM:
 * tests/picture_quality.h) with the worker's output for the same camera
 * frame, which the data channel carries when a session runs with
 * output=both (the same JPEG the plugin's video output decoded and
 * encoded).
 *
 * Matching is exact, never a guess: the plugin stamps each processed
 * frame's RTP timestamp with the frame's capture time at 90 kHz
 * (plugin/egress/video_output.c: (uint32_t)(capture_us * 9 / 100)), and the
 * data channel's metadata carries the same capture time as t.capture. A
 * picture and a reference meet whichever arrives first; a picture whose
 * reference is not there within TRACK_QUALITY_PENDING pictures (the data
 * channel dropped it under backpressure, or it is that late) or by the
 * end counts as unmatched; a reference whose picture never comes (the
 * video output's mailbox kept a newer one) is no picture of the track
 * and is not counted. A reference of another size than the picture
 * (a resolution switch) is counted apart, not compared.
 *
 * Thread-safe: packets from the track's streaming thread, references from
 * the data channel's; comparisons run on whichever thread completes a pair.
 */
#ifndef OOBLEX_TRACK_QUALITY_H
#define OOBLEX_TRACK_QUALITY_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "ooblex_codec.h"

#define TRACK_QUALITY_PENDING 16	/* pictures waiting for their reference: half a second at 30 fps */
#define TRACK_QUALITY_REFS 32	/* references waiting for their picture */

typedef struct track_quality track_quality;

/* What was measured since the last take, over the pictures and
 * references given with measuring set. Arrays of double, unsorted. */
typedef struct track_quality_result {
	GArray *psnr_y, *psnr_uv, *ssim_y;	/* one per compared picture (psnr_uv: U and V pooled) */
	uint64_t pictures;	/* decoded from the track */
	uint64_t sampled;	/* of them, to be compared (one in track_quality_set_every's) */
	uint64_t compared;
	uint64_t unmatched;	/* no reference in time */
	uint64_t size_mismatch;	/* a reference of another size */
	uint64_t undecodable;	/* frames the depayloader or decoder refused (waiting for a keyframe, loss) */
	uint64_t bad_references;	/* JPEGs that did not decode as 4:2:0 */
} track_quality_result;

track_quality *track_quality_new(ooblex_codec codec);
void track_quality_free(track_quality *q);
/* Compares one measured picture in every (1, the default: all). Each
 * comparison (the reference's JPEG decode, PSNR, SSIM) costs the receiver
 * a few ms a picture: on a small machine, at many sessions, the
 * measurement would take the CPU it measures. Decoding the track never
 * skips a picture (inter frames need their references). */
void track_quality_set_every(track_quality *q, unsigned every);
/* One RTP packet of the received track, in sequence order (after the
 * jitter buffer). measuring: the picture it completes is counted. Returns
 * 1 when the receiver should ask for a keyframe (PLI), as a browser does:
 * none seen yet, a hole, a decode error; the caller rate-limits. */
int track_quality_packet(track_quality *q, const uint8_t *packet, size_t len, int measuring);
/* The worker's output for the frame captured at capture_us (the data
 * channel's JPEG and t.capture); copied. */
void track_quality_reference(track_quality *q, uint64_t capture_us, const uint8_t *jpeg, size_t len, int measuring);
/* Moves what was measured into *out (initialized here) and starts over;
 * pictures still waiting for a reference count as unmatched. Free with
 * track_quality_result_clear. */
void track_quality_take(track_quality *q, track_quality_result *out);
void track_quality_result_clear(track_quality_result *r);

#endif
