/*
 * webrtc_loadgen.c - N real WebRTC sessions through a real Janus, as
 * browsers make them, for capacity with Janus included.
 *
 * Each session is what the demo page does: its own Janus session over the
 * WebSocket API (janus-protocol), attach to janus.plugin.ooblex, `start` with
 * an offer (VP8 or H.264 video sendrecv + the JanusDataChannel), trickled
 * candidates, then real ICE, DTLS, SRTP, RTCP and SCTP, all done by
 * GStreamer's webrtcbin (libnice, OpenSSL, usrsctp) in this process. The
 * video is encoded once at start-up from real footage with sensor noise
 * (encoded_source.h, the same clip tests/bench/loadgen replays into the data
 * path) and replayed per session at 30 fps through an appsrc, with the
 * session's own SSRC, sequence and timestamp base, from a keyframe once the
 * PeerConnection is up: no encoder in the loop, so the generator's CPU is
 * webrtcbin's. Results come back on the data channel: chunks reassembled
 * and acked as html/js/ooblex.js does (tests/fake_page.h's reassembly; each
 * whole frame acked with {"ack":id} on the real channel). With output
 * video/both the processed track is received and its frames counted
 * (RTP marker bits on webrtcbin's src pad), and decoded (a PLI when it
 * needs a keyframe, as a browser sends); with both each picture is
 * compared with the worker's output for the same frame, the JPEG the data
 * channel brings, matched exactly by capture time (track_quality.h):
 * PSNR and SSIM per count (track_quality in the JSON; --no-quality: off).
 *
 * Latency, on one clock: the generator notes the wall-clock time it hands
 * each frame to webrtcbin; a result's metadata carries t.capture, the
 * plugin's wall-clock time of that frame's first packet (docs/protocol.md;
 * same machine, same clock). The frame sent last at or before t.capture is
 * the frame the result is of, as long as the way in takes less than one
 * frame interval (33 ms; its p95 is reported as in_leg_ms so that can be
 * checked). Latency = result reassembled - frame sent; way_back_ms is
 * its part from t.sent (the plugin handing the first chunk to Janus) to
 * reassembled here: Janus' SCTP/DTLS and this process' receiving. With --plugin
 * echotest the echoed frames are matched by RTP timestamp (echotest shifts
 * it by a constant per session, learnt from the echoes: see count_video).
 *
 * For each session count of a sweep, over a window after a warm-up: results
 * per second per client, latency p50/p95/p99, % of due frames missing (due:
 * 30/FRAME_SKIP per second per session that started), sessions that failed
 * to start (no PeerConnection, no data channel, or no result within
 * --start-timeout), video frames per second per client, and CPU by process
 * from /proc deltas (--watch name=pid; a process named janus is split into
 * its hloop threads = Janus' per-handle ICE/DTLS/SRTP/SCTP loops and the
 * plugin's own calls made from them, the plugin's threads (named "ooblex
 * ..."), and the rest), the generator's own, and server cores per session.
 * A count holds when every session started, p95 <= --max-p95-ms and missing
 * <= --max-missing-pct; the sweep stops after the first count that does not
 * hold (unless --no-stop). One JSON document on stdout, progress on stderr.
 *
 *   webrtc_loadgen --janus ws://127.0.0.1:8188 [--plugin ooblex|echotest] [--codec vp8|h264]
 *       [--skip N] [--effect NAME] [--output datachannel|video|both] [--sessions 1,2,4,...]
 *       [--warmup S] [--seconds S] [--start-timeout S] [--max-p95-ms MS] [--max-missing-pct P]
 *       [--source FILE] [--noise LEVELS] [--watch name=pid]... [--no-stop] [--no-quality] [--quality-every N]
 *
 * Why GStreamer in C: webrtcbin is a full WebRTC stack in Debian (no browser
 * download, no PyPI), and in C the generator's own cost is the stack's
 * (packet pacing here is a copy and a header rewrite); a Python or Node
 * generator saturates a core at a few sessions (webrtc-load-notes.md).
 */
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/sdp/sdp.h>
#include <jansson.h>
#include <libavutil/log.h>
#include <libsoup/soup.h>

#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>

#include "encoded_source.h"
#include "fake_page.h"
#include "ooblex_codec.h"
#include "track_quality.h"

#define MAX_SESSIONS 256
#define SENT_RING 512	/* frames whose send time is kept: 17 s at 30 fps */
#define MAX_WATCH 16

typedef struct options {
	const char *janus_url, *plugin, *codec, *effect, *output, *source;
	unsigned skip, noise;
	double warmup_s, seconds_s, start_timeout_s, max_p95_ms, max_missing_pct;
	gboolean no_stop;
	gboolean quality;	/* decode the processed track and compare it (--no-quality: off) */
	unsigned quality_every;	/* --quality-every N: compare one picture in N */
	gboolean source_sampled;	/* send FPS / skip, and say so at start (source-side sampling) */
	gboolean follow_sender;	/* switch to a clip of every k-th frame when the plugin asks for frame skip k */
	unsigned counts[64], n_counts;
	unsigned overload;	/* --overload N: N sessions, then half leave (see run_overload) */
	double budget_ms;	/* --budget-ms: the latency budget the sessions ask for (0: off; not given: the server's) */
	struct { char name[32]; int pid; } watch[MAX_WATCH];
	unsigned n_watch;
} options;

static options opt = {
	.janus_url = "ws://127.0.0.1:8188", .plugin = "ooblex", .codec = "vp8", .effect = "invert",
	.output = "datachannel", .skip = 3, .noise = 3, .warmup_s = 2, .seconds_s = 8, .start_timeout_s = 20,
	.max_p95_ms = 100, .max_missing_pct = 1, .budget_ms = -1, .quality = TRUE, .quality_every = 1,
};

static gboolean echotest;
/* The clips the pacer sends: the session's own (source[] as prepared, at
 * FPS / clip_every) and, with --follow-sender, one of every k-th camera
 * frame (FPS / k) for each k up to LOW_EVERY, sent while the plugin asks
 * for that frame skip (the largest k not over it), as a browser with
 * maxFramerate = FPS / k does. A switch starts the other clip at its
 * keyframe, as an encoder whose rate changed sends one. */
#define LOW_EVERY 10
static source_frame clip_full[SOURCE_FRAMES], clip_at[LOW_EVERY + 1][SOURCE_FRAMES];
static int clip_full_n, clip_full_every, clip_at_n[LOW_EVERY + 1];
static uint8_t payload_type;

/* ------------------------------------------------------------- a session */

typedef enum { S_CONNECTING, S_NEGOTIATING, S_UP, S_FAILED } session_state;

typedef struct session {
	unsigned index;
	SoupWebsocketConnection *ws;
	gint64 janus_session, janus_handle;
	GstElement *pipe, *webrtc;
	GstAppSrc *src;
	GstWebRTCDataChannel *dc;
	guint keepalive;
	atomic_int state;
	atomic_int dc_open, webrtc_up, streaming, first_result, ended;
	char why[160];	/* why it failed */
	/* sending (pacer thread; the ring is read under lock by the receivers) */
	uint32_t ssrc, ts_base;
	uint16_t seq;
	uint64_t frames_sent;
	int64_t next_send_us;	/* monotonic */
	GMutex lock;
	int64_t sent_us[SENT_RING];	/* wall clock, by frame number % SENT_RING */
	uint32_t sent_ts[SENT_RING];
	/* receiving */
	fake_page page;	/* data-channel thread only */
	gboolean echo_offset_known;
	uint32_t echo_offset;
	/* doubles, in the window, under lock: send to result, send to the
	 * plugin's capture (the way in), handed to Janus to result (the way back) */
	GArray *latency_ms, *in_leg_ms, *out_leg_ms;
	GArray *plugin_ms;	/* the plugin's own measure: first packet in -> handed to the channel (t.sent - t.capture) */
	uint64_t results, results_window, video_frames, video_frames_window;
	uint64_t video_bytes;	/* RTP payload of the track that comes back: its bitrate */
	uint64_t broken_frames;
	/* The processed track decoded and compared with the worker's output
	 * (output video/both; references only with both): track_quality.h. */
	track_quality *quality;
	int64_t last_pli_us;	/* monotonic; the track's thread */
	/* --follow-sender: the plugin's latency-budget sender request (the
	 * data channel's {"ooblex":"sender","frame_skip":N}), as ooblex.js
	 * follows it; the pacer's own clip, position and timestamp. */
	atomic_uint want_skip;
	int use_every;	/* the clip being sent: 0 the session's own, else clip_at[use_every] */
	uint64_t clip_pos;
	uint32_t ts_now;
	gboolean ts_started;
	uint64_t sender_requests;
} session;

static session *sessions[MAX_SESSIONS];
static unsigned n_sessions;
static atomic_int window_open;
static SoupSession *soup;
static GMainContext *main_ctx;

static void fail(session *s, const char *why) {
	if(atomic_load(&s->ended))
		return;	/* the hang-up we asked for */
	if(atomic_exchange(&s->state, S_FAILED) != S_FAILED) {
		g_strlcpy(s->why, why, sizeof(s->why));
		fprintf(stderr, "webrtc_loadgen: session %u failed: %s\n", s->index, why);
	}
}

/* ----------------------------------------------------------- signalling */

/* Sends one Janus request (takes msg). Main context only. */
static void janus_send(session *s, json_t *msg) {
	if(s->janus_session != 0)
		json_object_set_new(msg, "session_id", json_integer(s->janus_session));
	if(s->janus_handle != 0 && json_object_get(msg, "handle_id") == NULL &&
			strcmp(json_string_value(json_object_get(msg, "janus")), "keepalive") != 0)
		json_object_set_new(msg, "handle_id", json_integer(s->janus_handle));
	if(json_object_get(msg, "transaction") == NULL)
		json_object_set_new(msg, "transaction", json_string("t"));
	char *text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if(s->ws != NULL && soup_websocket_connection_get_state(s->ws) == SOUP_WEBSOCKET_STATE_OPEN)
		soup_websocket_connection_send_text(s->ws, text);
	free(text);
}

typedef struct posted {
	session *s;
	json_t *msg;
} posted;

static gboolean posted_send(gpointer data) {
	posted *p = data;
	janus_send(p->s, p->msg);
	p->msg = NULL;
	return G_SOURCE_REMOVE;
}

static void posted_free(gpointer data) {
	posted *p = data;
	json_decref(p->msg);
	g_free(p);
}

/* janus_send from any thread (webrtcbin's callbacks come on its own). */
static void janus_post(session *s, json_t *msg) {
	posted *p = g_new0(posted, 1);
	p->s = s;
	p->msg = msg;
	g_main_context_invoke_full(main_ctx, G_PRIORITY_DEFAULT, posted_send, p, posted_free);
}

static gboolean send_keepalive(gpointer user) {
	janus_send(user, json_pack("{ss}", "janus", "keepalive"));
	return G_SOURCE_CONTINUE;
}

static void set_answer(session *s, const char *sdp_text) {
	GstSDPMessage *sdp;
	if(gst_sdp_message_new_from_text(sdp_text, &sdp) != GST_SDP_OK) {
		fail(s, "the answer's SDP does not parse");
		return;
	}
	GstWebRTCSessionDescription *answer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
	g_signal_emit_by_name(s->webrtc, "set-remote-description", answer, NULL);
	gst_webrtc_session_description_free(answer);
}

static void start_pipeline(session *s);

static void on_ws_message(SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer user) {
	(void)ws;
	session *s = user;
	if(type != SOUP_WEBSOCKET_DATA_TEXT)
		return;
	gsize len;
	const char *data = g_bytes_get_data(bytes, &len);
	json_t *m = json_loadb(data, len, 0, NULL);
	const char *kind = json_string_value(json_object_get(m, "janus"));
	const char *tx = json_string_value(json_object_get(m, "transaction"));
	if(kind == NULL) {
		json_decref(m);
		return;
	}
	if(!strcmp(kind, "success") && tx != NULL && !strcmp(tx, "create")) {
		s->janus_session = json_integer_value(json_object_get(json_object_get(m, "data"), "id"));
		s->keepalive = g_timeout_add_seconds(20, send_keepalive, s);
		janus_send(s, json_pack("{ssssss}", "janus", "attach", "transaction", "attach", "plugin",
			echotest ? "janus.plugin.echotest" : "janus.plugin.ooblex"));
	} else if(!strcmp(kind, "success") && tx != NULL && !strcmp(tx, "attach")) {
		s->janus_handle = json_integer_value(json_object_get(json_object_get(m, "data"), "id"));
		start_pipeline(s);	/* and the offer */
	} else if(!strcmp(kind, "event")) {
		json_t *pd = json_object_get(json_object_get(m, "plugindata"), "data");
		json_t *err = json_object_get(pd, "error");
		if(err != NULL) {
			char why[160];
			snprintf(why, sizeof(why), "plugin error %lld: %s", (long long)json_integer_value(json_object_get(pd, "error_code")),
				json_string_value(err));
			fail(s, why);
		}
		json_t *jsep = json_object_get(m, "jsep");
		const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
		if(sdp != NULL && !g_strcmp0(json_string_value(json_object_get(jsep, "type")), "answer"))
			set_answer(s, sdp);
	} else if(!strcmp(kind, "webrtcup")) {
		atomic_store(&s->webrtc_up, 1);
	} else if(!strcmp(kind, "hangup") || !strcmp(kind, "error") || !strcmp(kind, "detached")) {
		char why[160];
		const char *reason = json_string_value(json_object_get(m, "reason"));
		if(reason == NULL)
			reason = json_string_value(json_object_get(json_object_get(m, "error"), "reason"));
		snprintf(why, sizeof(why), "janus %s: %s", kind, reason ? reason : "?");
		fail(s, why);
	}
	json_decref(m);
}

static void on_ws_connected(GObject *obj, GAsyncResult *res, gpointer user) {
	session *s = user;
	GError *err = NULL;
	s->ws = soup_session_websocket_connect_finish(SOUP_SESSION(obj), res, &err);
	if(s->ws == NULL) {
		fail(s, err ? err->message : "websocket connect failed");
		g_clear_error(&err);
		return;
	}
	/* An SDP with candidates is a few KB; the default limit is enough, but say so. */
	soup_websocket_connection_set_max_incoming_payload_size(s->ws, 1 << 20);
	soup_websocket_connection_set_keepalive_interval(s->ws, 0);
	g_signal_connect(s->ws, "message", G_CALLBACK(on_ws_message), s);
	janus_send(s, json_pack("{ssss}", "janus", "create", "transaction", "create"));
}

/* ------------------------------------------------------------- webrtcbin */

static void on_offer_created(GstPromise *promise, gpointer user) {
	session *s = user;
	const GstStructure *reply = gst_promise_get_reply(promise);
	GstWebRTCSessionDescription *offer = NULL;
	if(reply != NULL)
		gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, NULL);
	gst_promise_unref(promise);
	if(offer == NULL) {
		fail(s, "webrtcbin made no offer");
		return;
	}
	g_signal_emit_by_name(s->webrtc, "set-local-description", offer, NULL);
	char *sdp = gst_sdp_message_as_text(offer->sdp);
	if(strstr(sdp, "m=application") == NULL || strstr(sdp, "m=video") == NULL)
		fail(s, "webrtcbin's offer lacks the video or the data channel m-line");
	json_t *body = echotest ? json_pack("{sbsbsb}", "audio", 0, "video", 1, "data", 1)
		: json_pack("{sssssiss}", "request", "start", "effect", opt.effect, "frame_skip", (int)opt.skip,
			"output", opt.output);
	if(!echotest)
		json_object_set_new(body, "codec", json_string(opt.codec));
	if(!echotest && opt.source_sampled)
		json_object_set_new(body, "source_sampled", json_true());
	if(!echotest && opt.budget_ms >= 0)
		json_object_set_new(body, "latency_budget_ms", json_integer((json_int_t)opt.budget_ms));
	janus_post(s, json_pack("{sssos{ssss}}", "janus", "message", "body", body, "jsep", "type", "offer", "sdp", sdp));
	g_free(sdp);
	gst_webrtc_session_description_free(offer);
}

/* Made once the transceiver and the data channel are both there, not on
 * on-negotiation-needed: that fires on webrtcbin's own thread as soon as the
 * transceiver exists, and an offer made then may lack the m=application
 * line (seen as the plugin's 416 for some sessions out of 12). */
static void make_offer(session *s) {
	atomic_store(&s->state, S_NEGOTIATING);
	g_signal_emit_by_name(s->webrtc, "create-offer", NULL, gst_promise_new_with_change_func(on_offer_created, s, NULL));
}

/* Trickled as janus.js does; Janus' own candidates come in its answer. */
static void on_ice_candidate(GstElement *webrtc, guint mline, gchar *candidate, gpointer user) {
	(void)webrtc;
	janus_post(user, json_pack("{sss{sssi}}", "janus", "trickle", "candidate", "candidate", candidate,
		"sdpMLineIndex", (int)mline));
}

static void on_gathering_state(GObject *webrtc, GParamSpec *pspec, gpointer user) {
	(void)pspec;
	GstWebRTCICEGatheringState st;
	g_object_get(webrtc, "ice-gathering-state", &st, NULL);
	if(st == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
		janus_post(user, json_pack("{sss{sb}}", "janus", "trickle", "candidate", "completed", 1));
}

static void on_connection_state(GObject *webrtc, GParamSpec *pspec, gpointer user) {
	(void)pspec;
	GstWebRTCPeerConnectionState st;
	g_object_get(webrtc, "connection-state", &st, NULL);
	if(st == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED)
		fail(user, "the PeerConnection failed (ICE or DTLS)");
}

static double now_wall_us(void) {
	return (double)g_get_real_time();
}

/* A result's metadata: the frame it is of, by t.capture (see the top). */
static void take_result(session *s, const fake_page_frame *f, int64_t recv_us) {
	json_t *meta = json_loads(f->meta, 0, NULL);
	int64_t capture = json_integer_value(json_object_get(json_object_get(meta, "t"), "capture"));
	int64_t handed = json_integer_value(json_object_get(json_object_get(meta, "t"), "sent"));
	json_decref(meta);
	if(s->quality != NULL && capture > 0 && f->jpeg_len > 0)
		track_quality_reference(s->quality, (uint64_t)capture, f->jpeg, f->jpeg_len, atomic_load(&window_open));
	s->results++;
	atomic_store(&s->first_result, 1);
	g_mutex_lock(&s->lock);
	int64_t sent = 0;
	for(uint64_t n = s->frames_sent, k = 0; n > 0 && k < SENT_RING; n--, k++)
		if(s->sent_us[(n - 1) % SENT_RING] <= capture) {
			sent = s->sent_us[(n - 1) % SENT_RING];
			break;
		}
	if(atomic_load(&window_open) && sent > 0) {
		double lat = (recv_us - sent) / 1000.0, in = (capture - sent) / 1000.0, out = (recv_us - handed) / 1000.0;
		g_array_append_val(s->latency_ms, lat);
		g_array_append_val(s->in_leg_ms, in);
		g_array_append_val(s->out_leg_ms, out);
		if(handed > capture && capture > 0) {
			double plug = (handed - capture) / 1000.0;
			g_array_append_val(s->plugin_ms, plug);
		}
		s->results_window++;
	}
	g_mutex_unlock(&s->lock);
}

static void on_dc_data(GstWebRTCDataChannel *dc, GBytes *bytes, gpointer user) {
	session *s = user;
	gsize len;
	const uint8_t *data = g_bytes_get_data(bytes, &len);
	int64_t now = (int64_t)now_wall_us();
	uint64_t broken = s->page.broken;
	fake_page_receive(&s->page, data, len);
	s->broken_frames += s->page.broken - broken;
	if(s->page.frames != NULL) {
		for(guint i = 0; i < s->page.frames->len; i++)
			take_result(s, g_ptr_array_index(s->page.frames, i), now);
		g_ptr_array_set_size(s->page.frames, 0);
	}
	/* The page's acks, on the real channel. */
	for(guint i = 0; i < s->page.due->len; i++) {
		char ack[40];
		snprintf(ack, sizeof(ack), "{\"ack\":%llu}", (unsigned long long)g_array_index(s->page.due, uint64_t, i));
		gst_webrtc_data_channel_send_string_full(dc, ack, NULL);
	}
	g_array_set_size(s->page.due, 0);
}

/* The plugin's one text message: the latency budget's sender request. */
static void on_dc_string(GstWebRTCDataChannel *dc, gchar *str, gpointer user) {
	(void)dc;
	session *s = user;
	json_t *m = json_loads(str, 0, NULL);
	if(m != NULL && !g_strcmp0(json_string_value(json_object_get(m, "ooblex")), "sender")) {
		json_int_t k = json_integer_value(json_object_get(m, "frame_skip"));
		s->sender_requests++;
		atomic_store(&s->want_skip, k > 0 && k < 1000 ? (unsigned)k : 1);
	}
	json_decref(m);
}

static void on_dc_open(GstWebRTCDataChannel *dc, gpointer user) {
	session *s = user;
	atomic_store(&s->dc_open, 1);
	gst_webrtc_data_channel_send_string_full(dc, "{\"hello\":\"ooblex\"}", NULL);
}

static void watch_channel(session *s, GstWebRTCDataChannel *dc) {
	g_signal_connect(dc, "on-open", G_CALLBACK(on_dc_open), s);
	g_signal_connect(dc, "on-message-data", G_CALLBACK(on_dc_data), s);
	g_signal_connect(dc, "on-message-string", G_CALLBACK(on_dc_string), s);
}

/* Frames of the video that comes back (the processed track, or the echo):
 * one per RTP marker bit. */
static GstPadProbeReturn count_video(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
	session *s = user;
	GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
	GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
	if(buf == NULL || !gst_rtp_buffer_map(buf, GST_MAP_READ, &rtp))
		return GST_PAD_PROBE_OK;
	gboolean marker = gst_rtp_buffer_get_marker(&rtp);
	uint32_t ts = gst_rtp_buffer_get_timestamp(&rtp);
	s->video_bytes += gst_rtp_buffer_get_payload_len(&rtp);
	gst_rtp_buffer_unmap(&rtp);
	GstMapInfo m;
	if(s->quality != NULL && gst_buffer_map(buf, &m, GST_MAP_READ)) {
		int want_keyframe = track_quality_packet(s->quality, m.data, m.size, atomic_load(&window_open));
		gst_buffer_unmap(buf, &m);
		int64_t mono = g_get_monotonic_time();
		if(want_keyframe && mono - s->last_pli_us > 300000) {
			/* As a browser does: a PLI (rtpsession sends one for this
			 * event; rtpssrcdemux adds the SSRC on the way up). */
			s->last_pli_us = mono;
			gst_pad_send_event(pad, gst_event_new_custom(GST_EVENT_CUSTOM_UPSTREAM,
				gst_structure_new("GstForceKeyUnit", "all-headers", G_TYPE_BOOLEAN, FALSE, NULL)));
		}
	}
	if(!marker)
		return GST_PAD_PROBE_OK;
	int64_t now = (int64_t)now_wall_us();
	s->video_frames++;
	if(atomic_load(&window_open))
		s->video_frames_window++;
	/* --output video: nothing comes on the data channel; the track's frames are the results. */
	if(!echotest && !strcmp(opt.output, "video"))
		atomic_store(&s->first_result, 1);
	if(!echotest)
		return GST_PAD_PROBE_OK;
	/* Echoed: the frame sent with timestamp ts - offset. */
	atomic_store(&s->first_result, 1);
	g_mutex_lock(&s->lock);
	/* ts - (the timestamp of the frame sent last) is the true offset for a
	 * frame echoed within one frame interval and less (by whole frames)
	 * for one that took longer: the largest seen is the offset. Counted
	 * from a second in (the first frames wait for SRTP to start, and Janus
	 * re-bases on the first one it relays); the window comes later. */
	if(s->frames_sent > (uint64_t)(FPS / source_every)) {
		uint32_t candidate = ts - s->sent_ts[(s->frames_sent - 1) % SENT_RING];
		if(!s->echo_offset_known || (int32_t)(candidate - s->echo_offset) > 0)
			s->echo_offset = candidate;
		s->echo_offset_known = TRUE;
	}
	if(!s->echo_offset_known) {
		g_mutex_unlock(&s->lock);
		return GST_PAD_PROBE_OK;
	}
	uint32_t want = ts - s->echo_offset;
	for(uint64_t n = s->frames_sent, k = 0; n > 0 && k < SENT_RING; n--, k++)
		if(s->sent_ts[(n - 1) % SENT_RING] == want) {
			if(atomic_load(&window_open)) {
				double lat = (now - s->sent_us[(n - 1) % SENT_RING]) / 1000.0;
				g_array_append_val(s->latency_ms, lat);
				s->results_window++;
			}
			break;
		}
	g_mutex_unlock(&s->lock);
	return GST_PAD_PROBE_OK;
}

static void on_pad_added(GstElement *webrtc, GstPad *pad, gpointer user) {
	session *s = user;
	if(GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
		return;
	GstElement *sink = gst_element_factory_make("fakesink", NULL);
	g_object_set(sink, "sync", FALSE, "async", FALSE, NULL);
	gst_bin_add(GST_BIN(GST_ELEMENT_PARENT(webrtc)), sink);
	gst_element_sync_state_with_parent(sink);
	GstPad *sinkpad = gst_element_get_static_pad(sink, "sink");
	gst_pad_link(pad, sinkpad);
	gst_object_unref(sinkpad);
	gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, count_video, s, NULL);
}

static GstCaps *rtp_caps(session *s) {
	gboolean h264 = !strcmp(opt.codec, "h264");
	GstCaps *c = gst_caps_new_simple("application/x-rtp", "media", G_TYPE_STRING, "video", "encoding-name",
		G_TYPE_STRING, h264 ? "H264" : "VP8", "payload", G_TYPE_INT, (int)payload_type, "clock-rate", G_TYPE_INT, 90000,
		"ssrc", G_TYPE_UINT, s->ssrc, "rtcp-fb-nack-pli", G_TYPE_BOOLEAN, TRUE, NULL);
	if(h264)
		gst_caps_set_simple(c, "packetization-mode", G_TYPE_STRING, "1", "profile-level-id", G_TYPE_STRING, "42e01f",
			"level-asymmetry-allowed", G_TYPE_STRING, "1", NULL);
	return c;
}

static void start_pipeline(session *s) {
	s->pipe = gst_pipeline_new(NULL);
	s->webrtc = gst_element_factory_make("webrtcbin", NULL);
	GstElement *src = gst_element_factory_make("appsrc", NULL);
	if(s->webrtc == NULL || src == NULL) {
		fail(s, "no webrtcbin/appsrc (gstreamer1.0-plugins-bad, gstreamer1.0-nice)");
		return;
	}
	s->src = GST_APP_SRC(src);
	GstCaps *caps = rtp_caps(s);
	/* Live, timestamped on push; a stalled session drops what it cannot take. */
	g_object_set(src, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", TRUE, "caps", caps,
		"max-bytes", (guint64)(4 << 20), NULL);
	gst_app_src_set_leaky_type(s->src, GST_APP_LEAKY_TYPE_UPSTREAM);
	g_object_set(s->webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, NULL);
	gst_bin_add_many(GST_BIN(s->pipe), src, s->webrtc, NULL);
	GstPad *sinkpad = gst_element_request_pad_simple(s->webrtc, "sink_%u");
	GstPad *srcpad = gst_element_get_static_pad(src, "src");
	gst_pad_link(srcpad, sinkpad);
	GstWebRTCRTPTransceiver *tr = NULL;
	g_object_get(sinkpad, "transceiver", &tr, NULL);
	if(tr != NULL) {
		/* Explicit, or some offers come out without a codec (webrtc-load-notes.md). */
		g_object_set(tr, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV, "codec-preferences", caps, NULL);
		gst_object_unref(tr);
	}
	gst_object_unref(srcpad);
	gst_object_unref(sinkpad);
	gst_caps_unref(caps);
	g_signal_connect(s->webrtc, "on-ice-candidate", G_CALLBACK(on_ice_candidate), s);
	g_signal_connect(s->webrtc, "notify::ice-gathering-state", G_CALLBACK(on_gathering_state), s);
	g_signal_connect(s->webrtc, "notify::connection-state", G_CALLBACK(on_connection_state), s);
	g_signal_connect(s->webrtc, "pad-added", G_CALLBACK(on_pad_added), s);
	gst_element_set_state(s->pipe, GST_STATE_READY);
	/* The page's channel: ordered, reliable, the label janus.js uses. */
	GstStructure *init = gst_structure_new("init", "ordered", G_TYPE_BOOLEAN, TRUE, NULL);
	g_signal_emit_by_name(s->webrtc, "create-data-channel", "JanusDataChannel", init, &s->dc);
	gst_structure_free(init);
	if(s->dc != NULL)
		watch_channel(s, s->dc);
	if(gst_element_set_state(s->pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
		fail(s, "the pipeline does not start");
	else
		make_offer(s);
}

static gboolean session_begin(gpointer user) {
	session *s = user;
	SoupMessage *msg = soup_message_new(SOUP_METHOD_GET, opt.janus_url);
	char *protocols[] = { "janus-protocol", NULL };
	soup_session_websocket_connect_async(soup, msg, NULL, protocols, G_PRIORITY_DEFAULT, NULL, on_ws_connected, s);
	g_object_unref(msg);
	return G_SOURCE_REMOVE;
}

/* Hangs up: Janus session destroyed, pipeline stopped. Main context. */
static gboolean session_end(gpointer user) {
	session *s = user;
	atomic_store(&s->ended, 1);
	atomic_store(&s->streaming, 0);
	if(s->keepalive)
		g_source_remove(s->keepalive);
	s->keepalive = 0;
	if(s->janus_session != 0) {
		s->janus_handle = 0;
		janus_send(s, json_pack("{ss}", "janus", "destroy"));
	}
	if(s->pipe != NULL)
		gst_element_set_state(s->pipe, GST_STATE_NULL);
	if(s->ws != NULL) {
		soup_websocket_connection_close(s->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
		g_object_unref(s->ws);
		s->ws = NULL;
	}
	return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------- the pacer */

static atomic_int pacer_stop;

/* 30 fps for every session that is up, each from its own first keyframe
 * at its own phase; per packet a copy with the session's SSRC, sequence
 * and timestamp. */
static gpointer pacer(gpointer unused) {
	(void)unused;
	const int64_t interval = 1000000 * clip_full_every / FPS;
	while(!atomic_load(&pacer_stop)) {
		int64_t now = g_get_monotonic_time(), wake = now + interval;
		for(unsigned i = 0; i < n_sessions; i++) {
			session *s = sessions[i];
			if(s == NULL || atomic_load(&s->state) == S_FAILED || atomic_load(&s->ended))
				continue;
			if(!atomic_load(&s->streaming)) {
				/* Janus says webrtcup when DTLS is done; the channel opens after. */
				if(!atomic_load(&s->webrtc_up))
					continue;
				atomic_store(&s->streaming, 1);
				/* Each camera at its own phase, as browsers are: frames of all
				 * sessions sent in one burst per tick would queue up behind
				 * each other at the workers, a worst case no real load has. */
				s->next_send_us = now + g_random_int_range(0, (gint32)interval);
			}
			if(s->next_send_us > now) {
				wake = MIN(wake, s->next_send_us);
				continue;
			}
			int use = 0;
			if(opt.follow_sender) {
				unsigned want = MIN(atomic_load(&s->want_skip), LOW_EVERY);
				if(want > (unsigned)clip_full_every && clip_at_n[want] > 0)
					use = (int)want;
			}
			if(use != s->use_every) {
				s->use_every = use;
				s->clip_pos = 0;	/* the other clip, from its keyframe */
			}
			int every = use ? use : clip_full_every;
			int64_t my_interval = use ? 1000000 * use / FPS : interval;
			/* Behind (the generator starved of CPU): no burst to catch up. */
			s->next_send_us = MAX(s->next_send_us + my_interval, now + my_interval / 2);
			wake = MIN(wake, s->next_send_us);
			const source_frame *f = use ? &clip_at[use][s->clip_pos % (uint64_t)clip_at_n[use]] :
				&clip_full[s->clip_pos % (uint64_t)clip_full_n];
			s->clip_pos++;
			if(!s->ts_started) {
				s->ts_now = s->ts_base;
				s->ts_started = TRUE;
			} else {
				s->ts_now += (uint32_t)(every * (90000 / FPS));
			}
			uint32_t ts = s->ts_now;
			const uint8_t *p = f->packets->data;
			/* The send time is taken before the first packet goes: pushed,
			 * a packet may reach the plugin (its t.capture) before this
			 * thread runs again, and a send time taken after the pushes
			 * would then be later than the capture, so the frame would be
			 * matched to the one before it (one frame interval too much on
			 * the way in: 33 ms at 30 fps, 100 ms at 10 fps). */
			int64_t send_began_us = g_get_real_time();
			for(unsigned k = 0; k < f->n_packets; k++) {
				uint16_t len;
				memcpy(&len, p, sizeof(len));
				p += sizeof(len);
				GstBuffer *b = gst_buffer_new_allocate(NULL, len, NULL);
				GstMapInfo m;
				gst_buffer_map(b, &m, GST_MAP_WRITE);
				memcpy(m.data, p, len);
				m.data[1] = (uint8_t)((m.data[1] & 0x80) | payload_type);
				m.data[2] = (uint8_t)(s->seq >> 8);
				m.data[3] = (uint8_t)s->seq;
				m.data[4] = (uint8_t)(ts >> 24);
				m.data[5] = (uint8_t)(ts >> 16);
				m.data[6] = (uint8_t)(ts >> 8);
				m.data[7] = (uint8_t)ts;
				m.data[8] = (uint8_t)(s->ssrc >> 24);
				m.data[9] = (uint8_t)(s->ssrc >> 16);
				m.data[10] = (uint8_t)(s->ssrc >> 8);
				m.data[11] = (uint8_t)s->ssrc;
				gst_buffer_unmap(b, &m);
				s->seq++;
				p += len;
				gst_app_src_push_buffer(s->src, b);
			}
			g_mutex_lock(&s->lock);
			s->sent_us[s->frames_sent % SENT_RING] = send_began_us;
			s->sent_ts[s->frames_sent % SENT_RING] = ts;
			s->frames_sent++;
			g_mutex_unlock(&s->lock);
		}
		now = g_get_monotonic_time();
		if(wake > now)
			g_usleep((gulong)(wake - now));
	}
	return NULL;
}

/* ------------------------------------------------------------- CPU */

static double ticks_ms(const char *stat_path, char *comm, size_t comm_len) {
	char buf[1024];
	FILE *f = fopen(stat_path, "r");
	if(f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	if(open == NULL || close == NULL ||
			sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	if(comm != NULL) {
		size_t l = MIN((size_t)(close - open - 1), comm_len - 1);
		memcpy(comm, open + 1, l);
		comm[l] = '\0';
	}
	return (ut + st) * 1000.0 / sysconf(_SC_CLK_TCK);
}

/* CPU ms per watched process, [MAX_WATCH] = the generator itself, and for
 * janus its hloop / plugin / other threads. */
typedef struct cpu_snap {
	double proc[MAX_WATCH + 1];
	double hloop, plugin, other;
	double t_ms;
	GHashTable *threads;	/* janus' tid -> ms (gdouble*), names in thread_names */
	double machine_busy_ms, machine_steal_ms;	/* /proc/stat, all cores */
} cpu_snap;

static GHashTable *thread_names;	/* tid -> comm */

static void cpu_read(cpu_snap *c) {
	memset(c, 0, sizeof(*c));
	c->threads = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if(thread_names == NULL)
		thread_names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	c->t_ms = g_get_monotonic_time() / 1000.0;
	char path[160];
	for(unsigned i = 0; i < opt.n_watch; i++) {
		snprintf(path, sizeof(path), "/proc/%d/stat", opt.watch[i].pid);
		c->proc[i] = ticks_ms(path, NULL, 0);
		if(strcmp(opt.watch[i].name, "janus") != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task", opt.watch[i].pid);
		DIR *d = opendir(path);
		struct dirent *e;
		while(d != NULL && (e = readdir(d)) != NULL) {
			if(e->d_name[0] == '.')
				continue;
			char tpath[sizeof(path) + 256 + 8], comm[64];
			snprintf(tpath, sizeof(tpath), "%s/%s/stat", path, e->d_name);
			double ms = ticks_ms(tpath, comm, sizeof(comm));
			if(ms < 0)
				continue;
			g_hash_table_replace(c->threads, g_strdup(e->d_name), g_memdup2(&ms, sizeof(ms)));
			g_hash_table_replace(thread_names, g_strdup(e->d_name), g_strdup(comm));
			if(!strncmp(comm, "hloop", 5))
				c->hloop += ms;
			else if(!strncmp(comm, "ooblex", 6))
				c->plugin += ms;
			else
				c->other += ms;
		}
		if(d != NULL)
			closedir(d);
	}
	c->proc[MAX_WATCH] = ticks_ms("/proc/self/stat", NULL, 0);
	/* The whole machine, softirq included: UDP over the veth and SCTP are
	 * partly kernel work charged to no process in particular. */
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long us, ni, sy, id, io, irq, sirq, st;
	if(f != NULL && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &us, &ni, &sy, &id, &io, &irq, &sirq, &st) == 8) {
		c->machine_busy_ms = (us + ni + sy + irq + sirq) * 1000.0 / sysconf(_SC_CLK_TCK);
		c->machine_steal_ms = st * 1000.0 / sysconf(_SC_CLK_TCK);
	}
	if(f != NULL)
		fclose(f);
}

/* ------------------------------------------------------------- one count */

static int cmp_double(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(GArray *a, double q) {
	if(a->len == 0)
		return -1;
	return g_array_index(a, double, MIN(a->len - 1, (guint)floor(q * (a->len - 1) + 0.5)));
}

static double round2(double x) {
	return floor(x * 100 + 0.5) / 100;
}

/* The processed track against the worker's output, pooled over the
 * sessions of a count (track_quality.h): per picture luma PSNR, chroma
 * PSNR (U and V pooled) and luma SSIM; their mean, the worst 5 % (p5)
 * and the worst; and what could not be compared. NULL when not measured.
 * Called after the window closed: waits half a second first, so the
 * window's last pictures meet their references (which may come after them
 * on the data channel) instead of counting as unmatched. */
static json_t *quality_json(unsigned n) {
	gboolean any = FALSE;
	for(unsigned i = 0; i < n; i++)
		any |= sessions[i]->quality != NULL;
	if(!any)
		return NULL;
	g_usleep(500000);
	track_quality_result all = { 0 };
	GArray *py = g_array_new(FALSE, FALSE, sizeof(double)), *puv = g_array_new(FALSE, FALSE, sizeof(double)),
		*sy = g_array_new(FALSE, FALSE, sizeof(double));
	for(unsigned i = 0; i < n; i++) {
		session *s = sessions[i];
		if(s->quality == NULL || atomic_load(&s->state) == S_FAILED)
			continue;
		track_quality_result r;
		track_quality_take(s->quality, &r);
		g_array_append_vals(py, r.psnr_y->data, r.psnr_y->len);
		g_array_append_vals(puv, r.psnr_uv->data, r.psnr_uv->len);
		g_array_append_vals(sy, r.ssim_y->data, r.ssim_y->len);
		all.pictures += r.pictures;
		all.sampled += r.sampled;
		all.compared += r.compared;
		all.unmatched += r.unmatched;
		all.size_mismatch += r.size_mismatch;
		all.undecodable += r.undecodable;
		all.bad_references += r.bad_references;
		track_quality_result_clear(&r);
	}
	json_t *q = json_pack("{sisisssisisisisisi}", "compare_every", (int)opt.quality_every, "sampled", (int)all.sampled,
		"reference", strcmp(opt.output, "both") == 0 ?
		"the worker's output (the data channel's JPEG), matched by capture time = RTP timestamp" :
		"none: only --output both carries the worker's output", "pictures", (int)all.pictures,
		"compared", (int)all.compared, "unmatched", (int)all.unmatched, "size_mismatch", (int)all.size_mismatch,
		"undecodable", (int)all.undecodable, "bad_references", (int)all.bad_references);
	const char *names[3] = { "psnr_y_db", "psnr_uv_db", "ssim_y" };
	GArray *arrays[3] = { py, puv, sy };
	for(int k = 0; k < 3; k++) {
		GArray *a = arrays[k];
		qsort(a->data, a->len, sizeof(double), cmp_double);
		double sum = 0;
		for(guint i = 0; i < a->len; i++)
			sum += g_array_index(a, double, i);
		/* SSIM in 4 decimals: healthy values differ in the third. */
		double scale = k == 2 ? 10000 : 100;
		json_object_set_new(q, names[k], a->len == 0 ? json_null() : json_pack("{sfsfsf}",
			"mean", floor(sum / a->len * scale + 0.5) / scale, "p5", floor(pct(a, 0.05) * scale + 0.5) / scale,
			"min", floor(g_array_index(a, double, 0) * scale + 0.5) / scale));
		g_array_unref(a);
	}
	return q;
}

static gboolean session_started(session *s) {
	if(atomic_load(&s->state) == S_FAILED || !atomic_load(&s->webrtc_up))
		return FALSE;
	return echotest ? atomic_load(&s->first_result) : atomic_load(&s->dc_open) && atomic_load(&s->first_result);
}

/* Opens n sessions (indices from first_index on) at a browser's pace, one
 * new page every 100 ms, and waits until each has started or failed, or
 * --start-timeout passes. */
static void start_sessions(unsigned n, unsigned first_index) {
	n_sessions = 0;
	for(unsigned i = 0; i < n; i++) {
		session *s = g_new0(session, 1);
		s->index = first_index + i;
		s->ssrc = g_random_int();
		s->ts_base = g_random_int();
		s->seq = (uint16_t)g_random_int();
		g_mutex_init(&s->lock);
		fake_page_init(&s->page, 1);
		s->latency_ms = g_array_new(FALSE, FALSE, sizeof(double));
		s->in_leg_ms = g_array_new(FALSE, FALSE, sizeof(double));
		s->out_leg_ms = g_array_new(FALSE, FALSE, sizeof(double));
		s->plugin_ms = g_array_new(FALSE, FALSE, sizeof(double));
		if(!echotest && strcmp(opt.output, "datachannel") != 0 && opt.quality)
			s->quality = track_quality_new(ooblex_codec_from_name(opt.codec));
		if(s->quality != NULL)
			track_quality_set_every(s->quality, opt.quality_every);
		sessions[i] = s;
	}
	n_sessions = n;
	for(unsigned i = 0; i < n; i++) {
		g_main_context_invoke(main_ctx, session_begin, sessions[i]);
		g_usleep(100000);
	}
	int64_t deadline = g_get_monotonic_time() + (int64_t)(opt.start_timeout_s * 1e6);
	for(;;) {
		unsigned ready = 0, failed = 0;
		for(unsigned i = 0; i < n; i++) {
			ready += session_started(sessions[i]);
			failed += atomic_load(&sessions[i]->state) == S_FAILED;
		}
		if(ready + failed == n || g_get_monotonic_time() > deadline)
			break;
		g_usleep(100000);
	}
}

static json_t *run_count(unsigned n) {
	static unsigned next_index;
	start_sessions(n, next_index);
	next_index += n;
	unsigned started = 0;
	for(unsigned i = 0; i < n; i++) {
		if(session_started(sessions[i]))
			started++;
		else if(atomic_load(&sessions[i]->state) != S_FAILED)
			fail(sessions[i], atomic_load(&sessions[i]->webrtc_up) ? "no result within --start-timeout"
				: "no PeerConnection within --start-timeout");
	}
	fprintf(stderr, "webrtc_loadgen: %u sessions: %u started; warm-up %.0f s, measuring %.0f s\n", n, started,
		opt.warmup_s, opt.seconds_s);
	g_usleep((gulong)(opt.warmup_s * 1e6));
	cpu_snap c0, c1;
	uint64_t video0[MAX_SESSIONS], video_bytes0[MAX_SESSIONS];
	for(unsigned i = 0; i < n; i++) {
		video0[i] = sessions[i]->video_frames;
		video_bytes0[i] = sessions[i]->video_bytes;
	}
	cpu_read(&c0);
	atomic_store(&window_open, 1);
	g_usleep((gulong)(opt.seconds_s * 1e6));
	atomic_store(&window_open, 0);
	cpu_read(&c1);
	double window_s = (c1.t_ms - c0.t_ms) / 1000.0;
	uint64_t video1[MAX_SESSIONS], video_bytes1[MAX_SESSIONS];
	for(unsigned i = 0; i < n; i++) {
		video1[i] = sessions[i]->video_frames;
		video_bytes1[i] = sessions[i]->video_bytes;
	}
	json_t *quality = quality_json(n);	/* waits: the counts above are the window's */

	GArray *lat = g_array_new(FALSE, FALSE, sizeof(double)), *in = g_array_new(FALSE, FALSE, sizeof(double)),
		*out = g_array_new(FALSE, FALSE, sizeof(double));
	double fps_sum = 0, fps_min = -1, video_sum = 0, video_kbps_sum = 0, due = 0, got = 0;
	uint64_t broken = 0;
	json_t *failures = json_array();
	for(unsigned i = 0; i < n; i++) {
		session *s = sessions[i];
		g_mutex_lock(&s->lock);
		g_array_append_vals(lat, s->latency_ms->data, s->latency_ms->len);
		g_array_append_vals(in, s->in_leg_ms->data, s->in_leg_ms->len);
		g_array_append_vals(out, s->out_leg_ms->data, s->out_leg_ms->len);
		uint64_t r = s->results_window;
		g_mutex_unlock(&s->lock);
		broken += s->broken_frames;
		if(atomic_load(&s->state) == S_FAILED) {
			json_array_append_new(failures, json_string(s->why));
			continue;
		}
		double fps = r / window_s;
		fps_sum += fps;
		fps_min = fps_min < 0 ? fps : MIN(fps_min, fps);
		video_sum += (video1[i] - video0[i]) / window_s;
		video_kbps_sum += (video_bytes1[i] - video_bytes0[i]) * 8 / window_s / 1000;
		due += window_s * FPS / (echotest ? 1 : opt.skip);
		got += (double)r;
	}
	qsort(lat->data, lat->len, sizeof(double), cmp_double);
	qsort(in->data, in->len, sizeof(double), cmp_double);
	qsort(out->data, out->len, sizeof(double), cmp_double);
	double missing = due > 0 ? MAX(0, 100.0 * (due - got) / due) : 100;
	json_t *cpu = json_object();
	double server = 0;
	for(unsigned i = 0; i < opt.n_watch; i++) {
		double cores = (c1.proc[i] - c0.proc[i]) / (c1.t_ms - c0.t_ms);
		json_object_set_new(cpu, opt.watch[i].name, json_real(round2(cores)));
		server += cores;
		if(!strcmp(opt.watch[i].name, "janus")) {
			json_object_set_new(cpu, "janus_hloop", json_real(round2((c1.hloop - c0.hloop) / (c1.t_ms - c0.t_ms))));
			json_object_set_new(cpu, "janus_plugin_threads",
				json_real(round2((c1.plugin - c0.plugin) / (c1.t_ms - c0.t_ms))));
			json_object_set_new(cpu, "janus_other", json_real(round2((c1.other - c0.other) / (c1.t_ms - c0.t_ms))));
		}
	}
	/* The busiest threads of Janus: a single one near 1 core is a limit
	 * that adding cores would not lift. */
	json_t *busiest = json_array();
	{
		GArray *ts = g_array_new(FALSE, FALSE, sizeof(double));
		GPtrArray *names = g_ptr_array_new();
		GHashTableIter it;
		gpointer k, v;
		g_hash_table_iter_init(&it, c1.threads);
		while(g_hash_table_iter_next(&it, &k, &v)) {
			const double *before = g_hash_table_lookup(c0.threads, k);
			double cores = (*(double *)v - (before ? *before : 0)) / (c1.t_ms - c0.t_ms);
			g_array_append_val(ts, cores);
			g_ptr_array_add(names, g_hash_table_lookup(thread_names, k));
		}
		for(int top = 0; top < 3; top++) {
			int best = -1;
			for(guint i = 0; i < ts->len; i++)
				if(best < 0 || g_array_index(ts, double, i) > g_array_index(ts, double, best))
					best = (int)i;
			if(best < 0 || g_array_index(ts, double, best) <= 0)
				break;
			json_array_append_new(busiest, json_pack("{sssf}", "thread", (const char *)g_ptr_array_index(names, best),
				"cores", round2(g_array_index(ts, double, best))));
			g_array_index(ts, double, best) = -1;
		}
		g_array_unref(ts);
		g_ptr_array_unref(names);
	}
	g_hash_table_unref(c0.threads);
	g_hash_table_unref(c1.threads);
	json_object_set_new(cpu, "machine_busy", json_real(round2((c1.machine_busy_ms - c0.machine_busy_ms) / (c1.t_ms - c0.t_ms))));
	json_object_set_new(cpu, "machine_steal", json_real(round2((c1.machine_steal_ms - c0.machine_steal_ms) / (c1.t_ms - c0.t_ms))));
	json_object_set_new(cpu, "generator", json_real(round2((c1.proc[MAX_WATCH] - c0.proc[MAX_WATCH]) / (c1.t_ms - c0.t_ms))));
	double p95 = pct(lat, 0.95);
	gboolean holds = started == n && lat->len > 0 && p95 <= opt.max_p95_ms && missing <= opt.max_missing_pct;
	json_t *run = json_pack("{sisisisosfsfs{sfsfsf}sfsfsfsosfsfsb}", "sessions", (int)n, "started", (int)started,
		"failed_to_start", (int)(n - started), "failures", failures,
		"fps_per_client", round2(started ? fps_sum / started : 0), "fps_per_client_min", round2(MAX(0, fps_min)),
		"latency_ms", "p50", round2(pct(lat, 0.5)), "p95", round2(p95), "p99", round2(pct(lat, 0.99)),
		"in_leg_ms_p95", round2(echotest ? 0 : pct(in, 0.95)), "missing_pct", round2(missing),
		"video_fps_per_client", round2(started ? video_sum / started : 0), "cpu_cores", cpu,
		"server_cores", round2(server), "server_cores_per_session", round2(started ? server / started : 0),
		"holds", holds);
	if(!echotest)
		json_object_set_new(run, "way_back_ms", json_pack("{sfsf}", "p50", round2(pct(out, 0.5)), "p95", round2(pct(out, 0.95))));
	/* What the processed track (or the echo) carries, at the receiver. */
	json_object_set_new(run, "video_kbps_per_client", json_real(round2(started ? video_kbps_sum / started : 0)));
	if(quality != NULL)
		json_object_set_new(run, "track_quality", quality);
	json_object_set_new(run, "janus_busiest_threads", busiest);
	json_object_set_new(run, "broken_frames", json_integer((json_int_t)broken));
	json_object_set_new(run, "window_s", json_real(round2(window_s)));
	g_array_unref(lat);
	g_array_unref(in);
	g_array_unref(out);
	char *line = json_dumps(run, JSON_COMPACT);
	fprintf(stderr, "webrtc_loadgen: %s\n", line);
	free(line);

	/* Hang up everyone; the next count starts clean. */
	for(unsigned i = 0; i < n; i++)
		g_main_context_invoke(main_ctx, session_end, sessions[i]);
	g_usleep(1500000);	/* Janus tears the handles down */
	return run;
}

/* ------------------------------------------------------------- overload */

/* Results of each session so far (results counts every reassembled result). */
static void results_now(uint64_t *out, unsigned n) {
	for(unsigned i = 0; i < n; i++)
		out[i] = sessions[i]->results;
}

/* --overload N: N sessions (twice what holds), as issue 14's test asks:
 * after --warmup (the latency budget converging), a window of --seconds in
 * which each session's p95 (the plugin's own measure, first packet in ->
 * handed to the data channel, from the result's t.capture and t.sent; and
 * the generator's, send -> reassembled) and its processed fps are taken;
 * then the second half hangs up and the rest are watched second by second
 * until each is back at 90% of its full rate (30 / skip) for two seconds in
 * a row, or --recovery-timeout passes. The verdicts are the caller's
 * (webrtc.sh --overload); this reports. */
static double recovery_timeout_s = 20;
static json_t *run_overload(unsigned n) {
	json_t *run = NULL;
	start_sessions(n, 0);
	unsigned started = 0;
	for(unsigned i = 0; i < n; i++)
		started += session_started(sessions[i]);
	fprintf(stderr, "webrtc_loadgen: overload: %u sessions, %u started; warm-up %.0f s, measuring %.0f s\n", n, started,
		opt.warmup_s, opt.seconds_s);
	g_usleep((gulong)(opt.warmup_s * 1e6));
	uint64_t r0[MAX_SESSIONS], r1[MAX_SESSIONS];
	results_now(r0, n);
	int64_t t0 = g_get_monotonic_time();
	atomic_store(&window_open, 1);
	g_usleep((gulong)(opt.seconds_s * 1e6));
	atomic_store(&window_open, 0);
	results_now(r1, n);
	double window_s = (g_get_monotonic_time() - t0) / 1e6;
	json_t *per = json_array();
	double fps_sum = 0, fps_min = -1, fps_max = 0, p95_max = 0, e2e_p95_max = 0;
	unsigned zero = 0;
	for(unsigned i = 0; i < n; i++) {
		session *s = sessions[i];
		g_mutex_lock(&s->lock);
		qsort(s->plugin_ms->data, s->plugin_ms->len, sizeof(double), cmp_double);
		qsort(s->latency_ms->data, s->latency_ms->len, sizeof(double), cmp_double);
		double p95 = pct(s->plugin_ms, 0.95), e2e = pct(s->latency_ms, 0.95);
		g_mutex_unlock(&s->lock);
		double fps = (double)(r1[i] - r0[i]) / window_s;
		fps_sum += fps;
		fps_min = fps_min < 0 ? fps : MIN(fps_min, fps);
		fps_max = MAX(fps_max, fps);
		zero += fps == 0;
		p95_max = MAX(p95_max, p95);
		e2e_p95_max = MAX(e2e_p95_max, e2e);
		json_array_append_new(per, json_pack("{sfsfsf}", "fps", round2(fps), "p95_ms", round2(p95),
			"end_to_end_p95_ms", round2(e2e)));
	}
	double mean = n ? fps_sum / n : 0;
	fprintf(stderr, "webrtc_loadgen: overload: fps per session %.1f..%.1f (mean %.1f), worst p95 %.1f ms "
		"(end to end %.1f ms)\n", MAX(0, fps_min), fps_max, mean, p95_max, e2e_p95_max);

	/* Half leave; the rest should return to full rate. */
	unsigned keep = n - n / 2;
	for(unsigned i = keep; i < n; i++)
		g_main_context_invoke(main_ctx, session_end, sessions[i]);
	double full = (double)FPS / opt.skip;
	int64_t left_at = g_get_monotonic_time();
	uint64_t prev[MAX_SESSIONS];
	results_now(prev, keep);
	json_t *timeline = json_array();
	double recovered_s = -1;
	unsigned good_run = 0;
	while(g_get_monotonic_time() - left_at < (int64_t)(recovery_timeout_s * 1e6)) {
		g_usleep(1000000);
		uint64_t cur[MAX_SESSIONS];
		results_now(cur, keep);
		double lo = -1;
		for(unsigned i = 0; i < keep; i++) {
			double f = (double)(cur[i] - prev[i]);
			lo = lo < 0 ? f : MIN(lo, f);
			prev[i] = cur[i];
		}
		json_array_append_new(timeline, json_real(round2(MAX(0, lo))));
		good_run = lo >= 0.9 * full ? good_run + 1 : 0;
		if(good_run >= 2) {
			/* Back at full rate since the first of the two good seconds. */
			recovered_s = round2((g_get_monotonic_time() - left_at) / 1e6 - 2);
			break;
		}
	}
	fprintf(stderr, "webrtc_loadgen: overload: after %u of %u left, the rest's slowest fps each second: ", n - keep, n);
	for(size_t i = 0; i < json_array_size(timeline); i++)
		fprintf(stderr, "%s%.0f", i ? " " : "", json_real_value(json_array_get(timeline, i)));
	fprintf(stderr, "; back to full rate after %.1f s\n", recovered_s);
	run = json_pack("{sisisfsfsfsfsfsisosfsfsosisf}", "sessions", (int)n, "started", (int)started,
		"fps_per_client", round2(mean), "fps_min", round2(MAX(0, fps_min)), "fps_max", round2(fps_max),
		"p95_max_ms", round2(p95_max), "end_to_end_p95_max_ms", round2(e2e_p95_max), "sessions_at_0", (int)zero,
		"per_session", per, "window_s", round2(window_s), "full_rate_fps", round2(full),
		"recovery_min_fps_per_second", timeline, "remaining", (int)keep, "recovered_after_s", recovered_s);
	json_object_set_new(run, "budget_ms", json_real(opt.budget_ms));
	uint64_t requests = 0;
	for(unsigned i = 0; i < n; i++)
		requests += sessions[i]->sender_requests;
	json_object_set_new(run, "sender_requests", json_integer((json_int_t)requests));
	for(unsigned i = 0; i < keep; i++)
		g_main_context_invoke(main_ctx, session_end, sessions[i]);
	g_usleep(1500000);
	return run;
}

/* ------------------------------------------------------------- main */

static GMainLoop *loop;
static json_t *report;

static gpointer driver(gpointer unused) {
	(void)unused;
	json_t *runs = json_object_get(report, "runs");
	int best = 0;
	if(opt.overload > 0) {
		json_object_set_new(report, "overload", run_overload(opt.overload));
		g_main_loop_quit(loop);
		return NULL;
	}
	for(unsigned i = 0; i < opt.n_counts; i++) {
		json_t *run = run_count(opt.counts[i]);
		gboolean holds = json_is_true(json_object_get(run, "holds"));
		json_array_append_new(runs, run);
		if(holds)
			best = (int)opt.counts[i];
		else if(!opt.no_stop)
			break;
	}
	json_object_set_new(report, "most_sessions_holding", json_integer(best));
	g_main_loop_quit(loop);
	return NULL;
}

static void usage(void) {
	fprintf(stderr, "usage: webrtc_loadgen --janus ws://HOST:PORT [--plugin ooblex|echotest] [--codec vp8|h264] [--skip N]\n"
		"  [--effect NAME] [--output datachannel|video|both] [--sessions 1,2,4] [--warmup S] [--seconds S]\n"
		"  [--start-timeout S] [--max-p95-ms MS] [--max-missing-pct P] [--source FILE] [--noise N]\n"
		"  [--watch name=pid]... [--no-stop] [--source-sampled] [--overload N [--budget-ms MS] [--recovery-timeout S]]\n"
		"  [--follow-sender] [--no-quality] [--quality-every N]\n"
		"  --source-sampled: send every skip-th camera frame at 30/skip fps, at the same bitrate, and start\n"
		"  the session source_sampled, as html/js/ooblex.js does by default\n"
		"  --overload N: N sessions, each one's p95 and fps measured, then half hang up and the rest are\n"
		"  timed back to full rate (issue 14's overload test); --budget-ms asks that latency budget\n"
		"  --follow-sender: follow the plugin's sender request (data channel) as ooblex.js does, by\n"
		"  sending a clip of every k-th camera frame while it asks for frame_skip k (1..10; more: 10)\n"
		"  --no-quality: do not decode the processed track (output video/both) nor compare it with the\n"
		"  worker's output (both: the data channel's JPEG), which costs the generator CPU;\n"
		"  --quality-every N: compare one picture in N (all are decoded), for less of that CPU\n");
	exit(2);
}

int main(int argc, char **argv) {
	static const struct option longopts[] = {
		{ "janus", 1, 0, 'j' }, { "plugin", 1, 0, 'p' }, { "codec", 1, 0, 'c' }, { "skip", 1, 0, 'k' },
		{ "effect", 1, 0, 'e' }, { "output", 1, 0, 'o' }, { "sessions", 1, 0, 'n' }, { "warmup", 1, 0, 'w' },
		{ "seconds", 1, 0, 's' }, { "start-timeout", 1, 0, 't' }, { "max-p95-ms", 1, 0, 'P' },
		{ "max-missing-pct", 1, 0, 'M' }, { "source", 1, 0, 'f' }, { "noise", 1, 0, 'N' }, { "watch", 1, 0, 'W' },
		{ "no-stop", 0, 0, 'S' }, { "source-sampled", 0, 0, 'Z' }, { "overload", 1, 0, 'O' }, { "budget-ms", 1, 0, 'B' },
		{ "recovery-timeout", 1, 0, 'R' }, { "follow-sender", 0, 0, 'F' }, { "no-quality", 0, 0, 'Q' }, { "quality-every", 1, 0, 'q' },
		{ 0, 0, 0, 0 } };
	int ch;
	while((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch(ch) {
		case 'j': opt.janus_url = optarg; break;
		case 'p': opt.plugin = optarg; break;
		case 'c': opt.codec = optarg; break;
		case 'k': opt.skip = (unsigned)atoi(optarg); break;
		case 'e': opt.effect = optarg; break;
		case 'o': opt.output = optarg; break;
		case 'n': {
			char **parts = g_strsplit(optarg, ",", -1);
			for(char **p = parts; *p != NULL && opt.n_counts < G_N_ELEMENTS(opt.counts); p++)
				opt.counts[opt.n_counts++] = (unsigned)atoi(*p);
			g_strfreev(parts);
			break;
		}
		case 'w': opt.warmup_s = atof(optarg); break;
		case 's': opt.seconds_s = atof(optarg); break;
		case 't': opt.start_timeout_s = atof(optarg); break;
		case 'P': opt.max_p95_ms = atof(optarg); break;
		case 'M': opt.max_missing_pct = atof(optarg); break;
		case 'f': opt.source = optarg; break;
		case 'N': opt.noise = (unsigned)atoi(optarg); break;
		case 'W': {
			const char *eq = strchr(optarg, '=');
			if(eq == NULL || opt.n_watch == MAX_WATCH)
				usage();
			g_strlcpy(opt.watch[opt.n_watch].name, optarg, MIN(sizeof(opt.watch[0].name), (size_t)(eq - optarg + 1)));
			opt.watch[opt.n_watch++].pid = atoi(eq + 1);
			break;
		}
		case 'S': opt.no_stop = TRUE; break;
		case 'Z': opt.source_sampled = TRUE; break;
		case 'O': opt.overload = (unsigned)atoi(optarg); if(opt.overload < 2 || opt.overload > MAX_SESSIONS) usage(); break;
		case 'B': opt.budget_ms = atof(optarg); break;
		case 'R': recovery_timeout_s = atof(optarg); break;
		case 'F': opt.follow_sender = TRUE; break;
		case 'Q': opt.quality = FALSE; break;
		case 'q': opt.quality_every = (unsigned)atoi(optarg); if(opt.quality_every == 0) usage(); break;
		default: usage();
		}
	}
	if(opt.n_counts == 0)
		opt.counts[opt.n_counts++] = 1;
	for(unsigned i = 0; i < opt.n_counts; i++)
		if(opt.counts[i] == 0 || opt.counts[i] > MAX_SESSIONS)
			usage();
	if(opt.skip == 0 || (strcmp(opt.codec, "vp8") && strcmp(opt.codec, "h264")))
		usage();
	echotest = !strcmp(opt.plugin, "echotest");
	if(!echotest && strcmp(opt.plugin, "ooblex"))
		usage();
	payload_type = !strcmp(opt.codec, "h264") ? 102 : 96;
	gst_init(&argc, &argv);
	av_log_set_level(AV_LOG_ERROR);
	const char *what;
	if(prepare_source_every(opt.codec, opt.source, (int)opt.noise, opt.source_sampled && !echotest ? (int)opt.skip : 1,
			&what) != 0) {
		fprintf(stderr, "webrtc_loadgen: cannot encode the source\n");
		return 1;
	}
	memcpy(clip_full, source, sizeof(clip_full));
	clip_full_n = source_n;
	clip_full_every = source_every;
	if(opt.follow_sender && !echotest) {
		for(int k = clip_full_every + 1; k <= LOW_EVERY; k++) {
			const char *w2;
			/* prepare_source_every appends from source_n, and counts packets on
			 * top of what an entry had: a clean table (clip_full keeps the first). */
			source_n = 0;
			memset(source, 0, sizeof(source));
			if(prepare_source_every(opt.codec, opt.source, (int)opt.noise, k, &w2) != 0) {
				fprintf(stderr, "webrtc_loadgen: cannot encode the source at every %d-th frame\n", k);
				return 1;
			}
			memcpy(clip_at[k], source, sizeof(clip_at[k]));
			clip_at_n[k] = source_n;
		}
		memcpy(source, clip_full, sizeof(clip_full));	/* the figures below are the session's own clip's */
		source_n = clip_full_n;
		source_every = clip_full_every;
	}
	size_t bytes = 0;
	for(int i = 0; i < source_n; i++)
		bytes += source[i].packets->len - 2 * source[i].n_packets;
	double kbps = bytes * 8.0 / (source_n * source_every / (double)FPS) / 1000;
	fprintf(stderr, "webrtc_loadgen: source %s, %s, %d frames at %d fps, %.0f kbit/s, %.1f KB per frame\n", what,
		opt.codec, source_n, FPS / source_every, kbps, bytes / 1024.0 / source_n);
	report = json_pack("{s{sssssssisssssfsfsisfsf}s[]}", "config", "plugin", opt.plugin, "codec", opt.codec,
		"effect", opt.effect, "frame_skip", (int)opt.skip, "output", opt.output, "source", what,
		"warmup_s", opt.warmup_s, "seconds_s", opt.seconds_s, "source_kbps", (int)kbps,
		"max_p95_ms", opt.max_p95_ms, "max_missing_pct", opt.max_missing_pct, "runs");
	json_object_set_new(json_object_get(report, "config"), "source_sampled", json_boolean(opt.source_sampled && !echotest));
	main_ctx = g_main_context_default();
	loop = g_main_loop_new(main_ctx, FALSE);
	soup = soup_session_new();
	GThread *pt = g_thread_new("pacer", pacer, NULL);
	GThread *dt = g_thread_new("driver", driver, NULL);
	g_main_loop_run(loop);
	g_thread_join(dt);
	atomic_store(&pacer_stop, 1);
	g_thread_join(pt);
	json_dumpf(report, stdout, JSON_INDENT(1));
	fputc('\n', stdout);
	return 0;
}
