/*
 * counters.c - see counters.h.
 */
#include "counters.h"

#include <string.h>

#define BIT OOBLEX_COUNTER_BIT

const ooblex_counter_family_def ooblex_counter_families[OOBLEX_FAMILY_COUNT] = {
	[OOBLEX_FAMILY_RTP_PACKETS] = { "ooblex_rtp_packets_total", "result",
		"Video RTP packets from browsers, by what became of them." },
	[OOBLEX_FAMILY_FRAMES] = { "ooblex_frames_total", "stage",
		"Frames through each stage: decoded from the browser (in), sampled (every FRAME_SKIP-th), queued to Redis, "
		"processed by workers, returned to the browser." },
	[OOBLEX_FAMILY_DEFERRED] = { "ooblex_frames_deferred_total", "reason",
		"Frames due for sampling but not taken, by reason; a later frame is taken instead (not a drop)." },
	[OOBLEX_FAMILY_DROPPED] = { "ooblex_frames_dropped_total", "reason",
		"Frames dropped by the plugin, by reason." },
	[OOBLEX_FAMILY_OVER_BUDGET] = { "ooblex_frames_over_budget_total", "budget",
		"Results whose worker time passed the per-frame budget (frame_budget_ms, or the worker's own); "
		"their clients are held to one frame in flight." },
};

/* In the order of the frame's path; a session's stats list them so. */
const ooblex_counter_def ooblex_counters[OOBLEX_C_COUNT] = {
	[OOBLEX_C_PACKETS_RECEIVED] = { "frames.packets_received", "packets_received",
		OOBLEX_FAMILY_RTP_PACKETS, "received", true, 0,
		"Video RTP packets from the browser." },
	[OOBLEX_C_PACKETS_DROPPED] = { "frames.packets_dropped", "packets_dropped",
		OOBLEX_FAMILY_RTP_PACKETS, "dropped", true, 0,
		"Dropped because the decoder fell behind and its queue (2000 packets, `max_queued_kib`) was full." },
	[OOBLEX_C_PACKETS_MALFORMED] = { "frames.packets_malformed", "packets_malformed",
		OOBLEX_FAMILY_RTP_PACKETS, "malformed", true, 0,
		"Not RTP, over 1500 bytes, or a payload the depacketizer refused." },
	[OOBLEX_C_PACKETS_LOST] = { "frames.packets_lost", "packets_lost",
		OOBLEX_FAMILY_RTP_PACKETS, "lost", true, 0,
		"Gaps the jitter buffer gave up on after 50 ms." },
	[OOBLEX_C_PACKETS_LATE] = { "frames.packets_late", "packets_late",
		OOBLEX_FAMILY_RTP_PACKETS, "late", true, 0,
		"Arrived after their gap was given up on (a copy of a packet already used counts here too)." },
	[OOBLEX_C_PACKETS_DUPLICATE] = { "frames.packets_duplicate", "packets_duplicate",
		OOBLEX_FAMILY_RTP_PACKETS, "duplicate", true, 0,
		"Copies of a packet still waiting in the jitter buffer." },
	[OOBLEX_C_FRAMES_ASSEMBLED] = { "frames.assembled", "frames_assembled",
		OOBLEX_FAMILY_NONE, NULL, true, 0,
		"Whole encoded frames out of the depacketizer." },
	[OOBLEX_C_FRAMES_INCOMPLETE] = { "frames.incomplete", "frames_incomplete",
		OOBLEX_FAMILY_DROPPED, "incomplete", true, 0,
		"Frames with a hole, dropped; frames are then dropped until the next keyframe." },
	[OOBLEX_C_FRAMES_OVER_CAP] = { "frames.over_cap", "frames_over_cap",
		OOBLEX_FAMILY_DROPPED, "frame_over_cap", true, 0,
		"Frames that outgrew `max_frame_kib` or `max_frame_packets` (packets with one timestamp that never "
		"carry a marker, for instance)." },
	[OOBLEX_C_FRAMES_PICTURE_TOO_LARGE] = { "frames.picture_too_large", "frames_picture_too_large",
		OOBLEX_FAMILY_DROPPED, "picture_too_large", true, 0,
		"Frames announcing a picture over `max_decode_width` x `max_decode_height` in their VP8 keyframe "
		"header or H.264 SPS, refused before decoding." },
	[OOBLEX_C_KEYFRAMES_OVER_BUDGET] = { "frames.keyframes_over_budget", "keyframes_over_budget",
		OOBLEX_FAMILY_DROPPED, "keyframe_budget", true, 0,
		"Keyframes faster than `max_keyframes_per_s` / `max_keyframe_kib_per_s`, dropped undecoded." },
	[OOBLEX_C_FRAMES_DECODED] = { "frames.decoded", "frames_decoded",
		OOBLEX_FAMILY_FRAMES, "in", true, 0,
		"Frames decoded." },
	[OOBLEX_C_DECODE_ERRORS] = { "frames.decode_errors", "decode_errors",
		OOBLEX_FAMILY_DROPPED, "decode_error", true, 0,
		"Frames the decoder refused, or whose picture header did not parse." },
	[OOBLEX_C_KEYFRAMES_REQUESTED] = { "frames.keyframes_requested", "keyframes_requested",
		OOBLEX_FAMILY_NONE, NULL, true, 0,
		"PLIs sent to the browser, after a hole or a refused or undecodable frame (at most one per 500 ms)." },
	[OOBLEX_C_INGEST_WAKEUPS] = { "frames.ingest_wakeups", "ingest_wakeups",
		OOBLEX_FAMILY_NONE, NULL, true, 0,
		"Times the session's decode thread was woken by Janus' media thread (or its own timers): about one per "
		"frame, not per packet (ingest.h)." },
	[OOBLEX_C_FRAMES_SAMPLED] = { "frames.sampled", "frames_sampled",
		OOBLEX_FAMILY_FRAMES, "sampled", true, 0,
		"Frames taken for the workers (every `frame_skip`-th decoded one) and packed." },
	[OOBLEX_C_FRAMES_DEFERRED] = { "frames.deferred_in_flight", "frames_deferred_in_flight",
		OOBLEX_FAMILY_DEFERRED, "in_flight_limit", true, 0,
		"Frames due for sampling but not taken because `max_in_flight` frames were already waiting for "
		"workers: the next decoded frame is taken instead, so the newest frame wins. Not a drop." },
	[OOBLEX_C_FRAMES_DEFERRED_FAIR] = { "frames.deferred_fair_share", "frames_deferred_fair_share",
		OOBLEX_FAMILY_DEFERRED, "fair_share", true, 0,
		"Frames due for sampling but not taken because the client had used its fair share of the workers "
		"(`fair.max_in_flight` frames waiting, or its last frame less than `fair.min_interval_ms` ago; "
		"docs/protocol.md, \"Fair shares\"). Not a drop." },
	[OOBLEX_C_FRAMES_SHED_LATENCY] = { "frames.shed_latency", "frames_shed_latency",
		OOBLEX_FAMILY_DEFERRED, "latency_budget", true, 0,
		"Frames the sampler took but the latency budget shed: the session's effective frame skip "
		"(`latency.frame_skip_effective`) was above its `frame_skip` while the machine was near its sessions' "
		"budgets (docs/api.md, \"Latency budget\"). Not a drop." },
	[OOBLEX_C_FRAMES_OVER_SENDER_RATE] = { "frames.over_sender_rate", "frames_over_sender_rate",
		OOBLEX_FAMILY_DEFERRED, "sender_rate", true, 0,
		"Frames a source-sampled browser sent beyond the rate it was asked for (camera rate / its "
		"`latency.sender.frame_skip`, by capture time): decoded, since the next ones refer to them, but not "
		"processed, so that a browser that cannot lower its frame rate is processed like the others." },
	[OOBLEX_C_FRAMES_UNSUPPORTED] = { "frames.unsupported", "frames_unsupported",
		OOBLEX_FAMILY_DROPPED, "unsupported_format", true, 0,
		"Frames due for sampling in a pixel format the packer cannot send, dropped." },
	[OOBLEX_C_FRAMES_QUEUED] = { "frames.queued", "frames_queued",
		OOBLEX_FAMILY_FRAMES, "queued", false, 0,
		"Sampled frames handed to the Redis producer." },
	[OOBLEX_C_FRAMES_DROPPED_QUEUE_FULL] = { "frames.dropped_queue_full", "frames_dropped_queue_full",
		OOBLEX_FAMILY_DROPPED, "queue_full", false, 0,
		"Sampled frames the producer refused: `max_pending_frames` were already waiting for Redis (slow or away)." },
	[OOBLEX_C_RESULTS] = { "frames.results", "results",
		OOBLEX_FAMILY_FRAMES, "processed", false, 0,
		"Processed frames from workers that passed the checks: each is delivered, late, a duplicate or held." },
	[OOBLEX_C_RESULTS_MALFORMED] = { "frames.results_malformed", "results_malformed",
		OOBLEX_FAMILY_DROPPED, "malformed_result", false,
		BIT(OOBLEX_C_REFUSED_OVERSIZED) | BIT(OOBLEX_C_REFUSED_MALFORMED) | BIT(OOBLEX_C_REFUSED_PICTURE_TOO_BIG),
		"Results refused as `oversized`, `malformed` or `picture_too_big` (their sum)." },
	[OOBLEX_C_RESULTS_UNAUTHENTICATED] = { "frames.results_unauthenticated", "results_unauthenticated",
		OOBLEX_FAMILY_DROPPED, "unauthenticated_result", false,
		BIT(OOBLEX_C_REFUSED_UNSIGNED) | BIT(OOBLEX_C_REFUSED_BAD_MAC),
		"Results refused as `unsigned` or `bad_mac` (their sum)." },
	[OOBLEX_C_REFUSED_OVERSIZED] = { "frames.results_refused.oversized", "results_refused.oversized",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"Results longer than `max_result_bytes`, refused unparsed (most are dropped unread before: "
		"`redis.results_oversized`)." },
	[OOBLEX_C_REFUSED_MALFORMED] = { "frames.results_refused.malformed", "results_refused.malformed",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"Results that are not a well-formed frame or error result for this client (docs/protocol.md, "
		"\"What the plugin accepts\")." },
	[OOBLEX_C_REFUSED_PICTURE_TOO_BIG] = { "frames.results_refused.picture_too_big", "results_refused.picture_too_big",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"Results over `max_width` x `max_height`, or whose JPEG is not the size their header says." },
	[OOBLEX_C_REFUSED_UNSIGNED] = { "frames.results_refused.unsigned", "results_refused.unsigned",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"Results without a MAC, with a `fleet_secret` set." },
	[OOBLEX_C_REFUSED_BAD_MAC] = { "frames.results_refused.bad_mac", "results_refused.bad_mac",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"Results whose MAC does not check (forged, altered, replayed), with a `fleet_secret` set." },
	[OOBLEX_C_REFUSED_UNEXPECTED] = { "frames.results_refused.unexpected", "results_refused.unexpected",
		OOBLEX_FAMILY_DROPPED, "unexpected_result", false, 0,
		"Results for a seq this session never queued (forged); one already resolved counts as `reorder.late`." },
	[OOBLEX_C_RESULTS_ERROR] = { "frames.results_error", "results_error",
		OOBLEX_FAMILY_DROPPED, "worker_error", false, 0,
		"Error results: frames a worker could not process (see Frame errors). Each resolves its frame's place "
		"in the reorder buffer at once, as a skip." },
	[OOBLEX_C_ERRORS_RESOLVED] = { "frames.errors_resolved", "errors_resolved",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"Error results released by the reorder buffer." },
	[OOBLEX_C_WORKER_US] = { "frames.worker_us", "worker_us",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"Worker time this client's frames took (µs, `worker_end - worker_start` of every result and error "
		"result): what its fair share is measured in." },
	[OOBLEX_C_FRAMES_OVER_BUDGET] = { "frames.over_budget", "frames_over_budget",
		OOBLEX_FAMILY_OVER_BUDGET, "frame_budget", false, 0,
		"Results and error results whose worker time passed `frame_budget_ms`, or that the worker refused "
		"as `over_budget`; after two in a row the client is held to one frame in flight for 5 s (`fair.reason`)." },
	[OOBLEX_C_FRAMES_SENT] = { "frames.sent", "frames_sent",
		OOBLEX_FAMILY_FRAMES, "returned", false, 0,
		"Processed frames sent to the page (on the data channel, the video track or both: counted once)." },
	[OOBLEX_C_CHUNKS_SENT] = { "frames.chunks_sent", "chunks_sent",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"Data channel messages sent: each frame's metadata and JPEG chunks (docs/protocol.md)." },
	[OOBLEX_C_DC_BYTES_SENT] = { "frames.dc_bytes_sent", "dc_bytes_sent",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"Bytes of those messages, chunk headers included: divided by `frames.sent`, what a processed frame "
		"costs the page's link (a JPEG's tens of kilobytes; a few hundred bytes with `output` \"metadata\")." },
	[OOBLEX_C_FRAMES_DROPPED_CHANNEL] = { "frames.dropped_channel", "frames_dropped_channel",
		OOBLEX_FAMILY_DROPPED, "data_channel", false, 0,
		"Processed frames the data channel did not take (not open yet, or refused; or an I420 result, asked for "
		"while the video track was the only output and sampled before `configure` added the data channel)." },
	[OOBLEX_C_FRAMES_DROPPED_BACKPRESSURE] = { "frames.dropped_backpressure", "frames_dropped_backpressure",
		OOBLEX_FAMILY_DROPPED, "backpressure", false, 0,
		"Processed frames dropped whole because the page was more than `dc_max_unacked_frames` frames behind "
		"(by its acks, or by SCTP's drained-queue notifications for pages that do not ack); the newest frame "
		"waits for room." },
	[OOBLEX_C_BAD_ACKS] = { "frames.bad_acks", "bad_acks",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"Data channel acks that were malformed (`{\"ack\":-1}`, `{\"ack\":1e99}`…) or named a frame not sent "
		"or already acked; they change nothing." },
	[OOBLEX_C_DATA_READY_EVENTS] = { "frames.data_ready_events", "data_ready_events",
		OOBLEX_FAMILY_NONE, NULL, false, 0,
		"SCTP's drained-queue notifications (Janus' data_ready)." },
	[OOBLEX_C_REORDER_DELIVERED] = { "reorder.delivered", "reorder_delivered",
		OOBLEX_FAMILY_NONE, NULL, true, 0,
		"Results released in order by the reorder buffer, error results among them." },
	[OOBLEX_C_REORDER_LATE] = { "reorder.late", "reorder_late",
		OOBLEX_FAMILY_DROPPED, "late", true, 0,
		"Results that came after their frame's place was given up on, dropped." },
	[OOBLEX_C_REORDER_DUPLICATES] = { "reorder.duplicates", "reorder_duplicates",
		OOBLEX_FAMILY_DROPPED, "duplicate", true, 0,
		"Second results for one frame, dropped." },
	[OOBLEX_C_REORDER_SKIPPED] = { "reorder.skipped", "reorder_skipped",
		OOBLEX_FAMILY_DROPPED, "never_returned", true, 0,
		"Frames given up on: no result within the reorder wait (`reorder.wait_ms`)." },
};

void ooblex_counters_derive(uint64_t v[OOBLEX_C_COUNT]) {
	for(int c = 0; c < OOBLEX_C_COUNT; c++) {
		if(ooblex_counters[c].sum_of == 0)
			continue;
		uint64_t sum = 0;
		for(int p = 0; p < OOBLEX_C_COUNT; p++)
			if(ooblex_counters[c].sum_of & BIT(p))
				sum += v[p];
		v[c] = sum;
	}
}

/* Sets value at a dotted path under root ("frames.results_refused.unsigned"). */
static void set_path(json_t *root, const char *path, uint64_t value) {
	json_t *at = root;
	const char *dot;
	while((dot = strchr(path, '.')) != NULL) {
		char key[64];
		size_t n = (size_t)(dot - path) < sizeof(key) - 1 ? (size_t)(dot - path) : sizeof(key) - 1;
		memcpy(key, path, n);
		key[n] = '\0';
		json_t *next = json_object_get(at, key);
		if(!json_is_object(next)) {
			next = json_object();
			json_object_set_new(at, key, next);
		}
		at = next;
		path = dot + 1;
	}
	json_object_set_new(at, path, json_integer((json_int_t)value));
}

void ooblex_counters_json(json_t *root, ooblex_counter_view view, const uint64_t v[OOBLEX_C_COUNT]) {
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		set_path(root, view == OOBLEX_VIEW_STATS ? ooblex_counters[c].stats : ooblex_counters[c].total, v[c]);
}

void ooblex_counters_prom_family(FILE *f, ooblex_counter_family family, const char *instance,
		const uint64_t v[OOBLEX_C_COUNT]) {
	const ooblex_counter_family_def *fd = &ooblex_counter_families[family];
	if(family == OOBLEX_FAMILY_NONE)
		return;
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", fd->metric, fd->help, fd->metric);
	for(int c = 0; c < OOBLEX_C_COUNT; c++)
		if(ooblex_counters[c].family == family)
			fprintf(f, "%s{instance_name=\"%s\",%s=\"%s\"} %llu\n", fd->metric, instance, fd->label,
				ooblex_counters[c].label_value, (unsigned long long)v[c]);
}

void ooblex_counters_markdown(FILE *f) {
	fprintf(f, "| `stats` | Admin API `totals` | Prometheus | from 0 at `start` | what it counts |\n"
		"| --- | --- | --- | --- | --- |\n");
	for(int c = 0; c < OOBLEX_C_COUNT; c++) {
		const ooblex_counter_def *d = &ooblex_counters[c];
		fprintf(f, "| `%s` | `%s` | ", d->stats, d->total);
		if(d->family != OOBLEX_FAMILY_NONE)
			fprintf(f, "`%s{%s=\"%s\"}`", ooblex_counter_families[d->family].metric,
				ooblex_counter_families[d->family].label, d->label_value);
		else
			fprintf(f, "none");
		fprintf(f, " | %s | %s |\n", d->restarts ? "yes" : "no", d->help);
	}
}
