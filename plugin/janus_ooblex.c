/*! \file   janus_ooblex.c
 * \author  The Ooblex developers
 * \copyright GNU General Public License v3
 * \brief  Janus Ooblex plugin: real-time processing of browser video by a worker fleet
 * \details The browser sends its camera over WebRTC (VP8 or H.264, and a data
 * channel). This plugin decodes every frame on its own threads, samples every
 * frame_skip-th one into the Redis list \c frames_to_process (or
 * \c frames_to_process:{effect} for an effect only some workers run), where any
 * number of \c ooblex-worker processes take them, and sends the processed
 * results back in order: over the data channel, as a re-encoded video track,
 * or both.
 *
 * This file is the Janus glue: sessions, requests, SDP, the media callbacks,
 * and the wiring of the Janus-free stages, which never include Janus:
 * plugin/ingest/ (RTP to sampled frames, run by ingest.c), plugin/queue/
 * (Redis: the frame producer, the result reader, the fleet registry) and
 * plugin/egress/ (results back to the page, run by egress.c), with
 * plugin/lib/ and plugin/metrics/ beside them; common/ is the contract with
 * the workers (wire format, keys, routes, codec ids).
 *
 * \section ooblexapi Ooblex API
 *
 * Requests are sent as \c message to a handle attached to \c janus.plugin.ooblex.
 *
 * \c start (with a JSEP offer carrying VP8 or H.264 video and a data channel;
 * \c codec and \c output are optional too):
 \verbatim
{ "request": "start", "effect": "invert", "frame_skip": 3 }
 \endverbatim
 * answered asynchronously with a JSEP answer and
 \verbatim
{ "ooblex": "event", "result": "started", "client_id": "<32 hex>", "effect": "invert",
  "frame_skip": 3, "codec": "vp8", "output": "datachannel", "video_output_possible": true }
 \endverbatim
 * \c configure changes \c effect, \c frame_skip and/or \c output while
 * streaming, and \c stop ends processing and closes the PeerConnection: both
 * answered asynchronously too. \c stats (this session's counters) and
 * \c list_effects (what the live workers offer) are answered at once; the
 * Admin API's \c message_plugin takes them too, \c stats then being the
 * plugin's totals and the fleet. Errors are
 * <code>{ "ooblex": "event", "error_code": N, "error": "..." }</code>, codes below.
 * docs/api.md and docs/protocol.md have the whole protocol.
 *
 * \ingroup plugins
 * \ref plugins
 */

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

#include "plugins/plugin.h"
#include "debug.h"
#include "apierror.h"
#include "config.h"
#include "mutex.h"
#include "rtcp.h"
#include "rtp.h"
#include "sdp-utils.h"
#include "utils.h"

#include "egress.h"
#include "fair_share.h"
#include "latency_budget.h"
#include "ingest.h"
#include "effect_grammar.h"
#include "fleet_effects.h"
#include "ooblex_codec.h"
#include "ooblex_keys.h"
#include "ooblex_redis.h"
#include "ooblex_wire.h"
#include "producer.h"
#include "results.h"
#include "result_gate.h"
#include "stage_stats.h"
#include "plugin_metrics.h"

/* Plugin information */
#define JANUS_OOBLEX_VERSION			1
#define JANUS_OOBLEX_VERSION_STRING	"0.1.0"
#define JANUS_OOBLEX_DESCRIPTION		"Ooblex: real-time processing of WebRTC video by a fleet of Redis-fed workers."
#define JANUS_OOBLEX_NAME			"JANUS Ooblex plugin"
#define JANUS_OOBLEX_AUTHOR			"Ooblex"
#define JANUS_OOBLEX_PACKAGE			"janus.plugin.ooblex"

/* Error codes */
#define JANUS_OOBLEX_ERROR_NO_MESSAGE		411
#define JANUS_OOBLEX_ERROR_INVALID_JSON		412
#define JANUS_OOBLEX_ERROR_INVALID_REQUEST	413
#define JANUS_OOBLEX_ERROR_MISSING_ELEMENT	414
#define JANUS_OOBLEX_ERROR_INVALID_ELEMENT	415
#define JANUS_OOBLEX_ERROR_INVALID_SDP		416
#define JANUS_OOBLEX_ERROR_NO_CODEC			417
#define JANUS_OOBLEX_ERROR_INVALID_STATE		418
#define JANUS_OOBLEX_ERROR_TOO_MANY_SESSIONS	419
/* The live fleet (fleet_effects.h): no live worker runs the effect (start and
 * configure refuse it; the fleet watch tells a running session), or no
 * worker is alive at all (told by the watch only: start is accepted). */
#define JANUS_OOBLEX_ERROR_NOT_RUNNABLE		420
#define JANUS_OOBLEX_ERROR_NO_WORKERS		421
#define JANUS_OOBLEX_ERROR_MACHINE_FULL		427
/* A worker's error result for a frame: 430 + its ooblex_frame_error code
 * (431 unknown effect ... 435 bad frame), pushed as an event. */
#define JANUS_OOBLEX_ERROR_FRAME_BASE		430
#define JANUS_OOBLEX_ERROR_UNKNOWN_ERROR		499

/* What each request may carry, type-checked with JANUS_VALIDATE_JSON_OBJECT:
 * a missing required element is 414, a wrong type 415. Ranges, names and the
 * effect grammar are checked after the types (janus_ooblex_check_options). */
static struct janus_json_parameter request_parameters[] = {
	{"request", JSON_STRING, JANUS_JSON_PARAM_REQUIRED}
};
static struct janus_json_parameter start_parameters[] = {
	{"effect", JSON_STRING, 0},
	{"frame_skip", JSON_INTEGER, 0},
	{"output", JSON_STRING, 0},
	{"codec", JSON_STRING, 0},
	{"source_sampled", JANUS_JSON_BOOL, 0},
	{"max_width", JSON_INTEGER, 0},
	{"max_height", JSON_INTEGER, 0},
	{"latency_budget_ms", JSON_INTEGER, 0}
};
static struct janus_json_parameter configure_parameters[] = {
	{"effect", JSON_STRING, 0},
	{"frame_skip", JSON_INTEGER, 0},
	{"output", JSON_STRING, 0},
	{"source_sampled", JANUS_JSON_BOOL, 0},
	{"latency_budget_ms", JSON_INTEGER, 0}
};

/* Plugin methods */
janus_plugin *create(void);
int janus_ooblex_init(janus_callbacks *callback, const char *config_path);
void janus_ooblex_destroy(void);
int janus_ooblex_get_api_compatibility(void);
int janus_ooblex_get_version(void);
const char *janus_ooblex_get_version_string(void);
const char *janus_ooblex_get_description(void);
const char *janus_ooblex_get_name(void);
const char *janus_ooblex_get_author(void);
const char *janus_ooblex_get_package(void);
void janus_ooblex_create_session(janus_plugin_session *handle, int *error);
struct janus_plugin_result *janus_ooblex_handle_message(janus_plugin_session *handle, char *transaction, json_t *message, json_t *jsep);
json_t *janus_ooblex_handle_admin_message(json_t *message);
void janus_ooblex_setup_media(janus_plugin_session *handle);
void janus_ooblex_incoming_rtp(janus_plugin_session *handle, janus_plugin_rtp *packet);
void janus_ooblex_incoming_rtcp(janus_plugin_session *handle, janus_plugin_rtcp *packet);
void janus_ooblex_incoming_data(janus_plugin_session *handle, janus_plugin_data *packet);
void janus_ooblex_data_ready(janus_plugin_session *handle);
void janus_ooblex_hangup_media(janus_plugin_session *handle);
void janus_ooblex_destroy_session(janus_plugin_session *handle, int *error);
json_t *janus_ooblex_query_session(janus_plugin_session *handle);

/* Plugin setup */
static janus_plugin janus_ooblex_plugin =
	JANUS_PLUGIN_INIT (
		.init = janus_ooblex_init,
		.destroy = janus_ooblex_destroy,

		.get_api_compatibility = janus_ooblex_get_api_compatibility,
		.get_version = janus_ooblex_get_version,
		.get_version_string = janus_ooblex_get_version_string,
		.get_description = janus_ooblex_get_description,
		.get_name = janus_ooblex_get_name,
		.get_author = janus_ooblex_get_author,
		.get_package = janus_ooblex_get_package,

		.create_session = janus_ooblex_create_session,
		.handle_message = janus_ooblex_handle_message,
		.handle_admin_message = janus_ooblex_handle_admin_message,
		.setup_media = janus_ooblex_setup_media,
		.incoming_rtp = janus_ooblex_incoming_rtp,
		.incoming_rtcp = janus_ooblex_incoming_rtcp,
		.incoming_data = janus_ooblex_incoming_data,
		.data_ready = janus_ooblex_data_ready,
		.hangup_media = janus_ooblex_hangup_media,
		.destroy_session = janus_ooblex_destroy_session,
		.query_session = janus_ooblex_query_session,
	);

/* Plugin creator */
janus_plugin *create(void) {
	JANUS_LOG(LOG_VERB, "%s created!\n", JANUS_OOBLEX_NAME);
	return &janus_ooblex_plugin;
}

/* Where processed frames go (OOBLEX_OUTPUT_*, egress.h), by name. */
static unsigned janus_ooblex_output_from_name(const char *name) {
	if(name == NULL)
		return 0;
	if(!strcmp(name, "datachannel"))
		return OOBLEX_OUTPUT_DATACHANNEL;
	if(!strcmp(name, "video"))
		return OOBLEX_OUTPUT_VIDEO;
	if(!strcmp(name, "both"))
		return OOBLEX_OUTPUT_DATACHANNEL | OOBLEX_OUTPUT_VIDEO;
	/* What the effect found (face boxes...), without the picture: for
	 * effects that detect, a few hundred bytes a frame on the data channel
	 * instead of a JPEG's tens of kilobytes, and no JPEG encode. */
	if(!strcmp(name, "metadata"))
		return OOBLEX_OUTPUT_DATACHANNEL | OOBLEX_OUTPUT_NO_PICTURE;
	return 0;
}

static const char *janus_ooblex_output_name(unsigned output) {
	if(output & OOBLEX_OUTPUT_NO_PICTURE)
		return "metadata";
	return output == OOBLEX_OUTPUT_VIDEO ? "video" : output == (OOBLEX_OUTPUT_DATACHANNEL | OOBLEX_OUTPUT_VIDEO) ?
		"both" : "datachannel";
}

/* Settings from janus.plugin.ooblex.jcfg */
#define JANUS_OOBLEX_MAX_CODECS 2

/* What workers answer with when the video track is a session's only output
 * (video_reply_format). The data channel always needs JPEG (the page
 * decodes it with createImageBitmap). */
typedef enum janus_ooblex_reply_format {
	JANUS_OOBLEX_REPLY_AUTO = 0,	/* I420, unless frame_format is jpeg */
	JANUS_OOBLEX_REPLY_I420,
	JANUS_OOBLEX_REPLY_JPEG,
} janus_ooblex_reply_format;

static const char *janus_ooblex_reply_format_name(janus_ooblex_reply_format format) {
	return format == JANUS_OOBLEX_REPLY_I420 ? "i420" : format == JANUS_OOBLEX_REPLY_JPEG ? "jpeg" : "auto";
}

typedef struct janus_ooblex_settings {
	ooblex_redis_config redis;
	ooblex_codec video_codecs[JANUS_OOBLEX_MAX_CODECS];	/* preference order */
	int n_video_codecs;
	unsigned frame_skip;
	char effect[OOBLEX_NAME_MAX + 1];
	unsigned jpeg_quality;
	unsigned reorder_wait_ms;	/* the bound */
	gboolean reorder_adaptive;	/* follow the workers' latency spread, within the bound */
	unsigned reorder_min_wait_ms;
	unsigned frame_deadline_ms;
	unsigned max_in_flight;
	ooblex_pixfmt frame_format;	/* how frames travel to the workers */
	unsigned max_width, max_height;
	/* Against hostile senders: see ingest.h. */
	unsigned max_decode_width, max_decode_height, max_frame_kib, max_frame_packets;
	unsigned max_keyframes_per_s, max_keyframe_kib_per_s, max_queued_kib;
	unsigned max_pending_frames;
	unsigned max_sessions;
	gboolean events;
	unsigned output;	/* default OOBLEX_OUTPUT_* flags */
	janus_ooblex_reply_format video_reply_format;
	gboolean i420_reply_fits;	/* an I420 result of max_width x max_height fits in max_result_bytes */
	unsigned video_bitrate_kbps;
	unsigned dc_max_unacked_frames;
	char metrics_dir[512];	/* node exporter's textfile folder; "" for none */
	unsigned max_result_bytes;	/* a longer result is dropped unread */
	uint8_t fleet_secret[OOBLEX_SECRET_MAX];	/* results must carry its MAC; none when fleet_secret_len is 0 */
	int fleet_secret_len;
	char metrics_instance[128];
	/* Fair shares and admission (fair_share.h, docs/protocol.md "Fair shares"). */
	gboolean fair_share;
	unsigned frame_budget_ms;	/* a frame whose worker time exceeds it holds its client to one in flight */
	unsigned admission_cpu_percent;	/* a start is refused while Janus uses this much of the CPUs */
	unsigned admission_fleet_percent;	/* a start is degraded while the fleet is asked this much of its workers */
	unsigned admission_max_frame_skip;
	/* Latency budget (latency_budget.h, docs/api.md "Latency budget"). */
	unsigned latency_budget_ms;	/* a session's default; 0: off */
	unsigned min_latency_budget_ms;	/* the least a page may ask for (but 0, off) */
	unsigned max_auto_frame_skip;	/* the frame-skip steps' limit */
} janus_ooblex_settings;

static volatile gint initialized = 0, stopping = 0;
static janus_callbacks *gateway = NULL;
static janus_ooblex_settings settings;
static GThread *handler_thread;
static GAsyncQueue *messages = NULL;
static ooblex_producer *producer = NULL;
static ooblex_reader *reader = NULL;
static ooblex_plugin_metrics *metrics = NULL;
static ooblex_result_gate *result_gate = NULL;	/* every session's egress shares it: the reader thread only */

/* What workers should answer a session's frames with, for its output
 * (OOBLEX_OUTPUT_*). The data channel carries JPEG to the page, so any
 * output with it gets JPEG. The video track alone takes I420 straight into
 * its encoder: the worker's JPEG encode and the track's decode are skipped
 * (measured: 0.5 ms less of Janus' CPU per processed frame, ~1 ms more of
 * Redis'; README "The video track without the JPEG round trip"). Auto
 * keeps JPEG where frame_format = jpeg: that setup chose JPEG to save
 * Redis (or network, with remote workers) bandwidth, and an I420 result is
 * 12 to 26 times a quality-70 JPEG's size (README, "JPEG quality"); and
 * where an I420 result would not fit in max_result_bytes. */
static ooblex_pixfmt janus_ooblex_reply_pixfmt(unsigned output) {
	if(output & OOBLEX_OUTPUT_NO_PICTURE)
		return OOBLEX_PIXFMT_NONE;	/* the metadata alone */
	if(output != OOBLEX_OUTPUT_VIDEO)
		return OOBLEX_PIXFMT_JPEG;
	switch(settings.video_reply_format) {
		case JANUS_OOBLEX_REPLY_I420: return OOBLEX_PIXFMT_I420;
		case JANUS_OOBLEX_REPLY_JPEG: return OOBLEX_PIXFMT_JPEG;
		case JANUS_OOBLEX_REPLY_AUTO: break;
	}
	return settings.frame_format == OOBLEX_PIXFMT_JPEG || !settings.i420_reply_fits ? OOBLEX_PIXFMT_JPEG :
		OOBLEX_PIXFMT_I420;
}

static GThread *metrics_thread = NULL;
static GMutex metrics_wake_lock;
static GCond metrics_wake;

/* Sessions started over the plugin's life (the session counters' totals are
 * in metrics: janus_ooblex_metrics_take). */
static atomic_uint_fast64_t total_sessions_started;
/* Decode threads still running; shutdown waits for them before the producer goes. */
static atomic_int live_ingests;

/* One browser connection */
typedef struct janus_ooblex_session {
	janus_plugin_session *handle;
	janus_mutex mutex;	/* guards ingest, started, effect, frame_skip, client id, codec, video_pt,
				 * can_send_video (lock order at sessions_mutex) */
	ooblex_ingest *ingest;
	ooblex_ingest_stats ingest_stats;
	gboolean started;
	char effect[OOBLEX_NAME_MAX + 1];
	unsigned frame_skip;
	/* Source-side sampling (janus_ooblex_sampling_*): the browser sends only
	 * the frames to process, at most max_width x max_height; under mutex. */
	gboolean source_sampled;
	unsigned max_width, max_height;
	uint8_t client_id[OOBLEX_CLIENT_ID_LEN];
	char client_hex[OOBLEX_CLIENT_ID_HEX_LEN + 1];
	char result_key[OOBLEX_KEY_MAX];
	ooblex_codec codec;
	int video_pt;
	gboolean can_send_video;	/* the browser's offer receives video; set by the SDP answer, under mutex */
	gboolean has_data_channel;	/* the browser's offer has a data channel; set by the SDP answer, under mutex */
	/* The return path (egress.h): results in, frames to the page out, from
	 * the Redis reader thread and Janus' data channel and RTCP callbacks.
	 * Lives as long as the session; its lock is innermost (see below). */
	ooblex_egress *egress;
	/* Whether the live fleet still runs the session's effect: armed once
	 * the page has the start's answer, stepped by the reader's tick, which
	 * tells the page "lost" / "back" (its own lock, innermost). */
	ooblex_fleet_watch fleet_watch;
	volatile gint refused_logged;	/* each refusal verdict is logged once per run */
	atomic_uint_fast64_t frames_queued, frames_dropped_queue;
	/* Fair shares (fair_share.h): what the ingest enforces, written by the
	 * reader thread's fair pass; fair_reset (set by start and configure)
	 * makes the pass measure the client afresh. */
	atomic_uint fair_cap;
	atomic_uint_fast64_t fair_interval_us;
	atomic_int fair_reset;
	struct {	/* the fair pass's own (reader thread), and what stats show (atomics) */
		gint64 last_us;
		uint64_t decoded, worker_us, timed, over;
		double cost_us, due_fps;
		gint64 over_until_us;
		ooblex_fair_reason told;
		atomic_uint reason, share_milli, demand_milli, due_fps_milli;
		atomic_uint_fast64_t cost_us_now;
	} fair;
	/* Latency budget (latency_budget.h): the session's budget (under mutex;
	 * 0: off), the window of its delivered latencies (latency_lock, a leaf:
	 * the egress's delivered callback, under the egress lock, and the fair
	 * pass), the ingest's extra skip, what stats show (atomics), and what the
	 * fair pass last applied and told (lat: the reader thread's own). */
	unsigned latency_budget_ms;
	GMutex latency_lock;
	ooblex_latency_window latency_window;
	atomic_uint latency_skip_milli;
	/* Each sampled frame's arrival spread (ingest.h), left out of the budget's measure. */
	ooblex_arrival_spread arrival_spread;
	/* What a source-sampled browser was asked to send (every n-th camera
	 * frame; 0: full rate, nothing asked): the ingest processes no more
	 * than that, whatever arrives (ingest.h, sender_skip). */
	atomic_uint sender_skip;
	atomic_int latency_reset;
	atomic_uint_fast64_t rx_bytes;	/* video RTP bytes received (Janus' media thread) */
	atomic_uint_fast64_t latency_start_us;	/* wall clock at start: the warm-up is left out */
	atomic_uint lat_p95_milli, lat_waiting_p95_milli, lat_effective_skip, lat_level, lat_flags, lat_remb_kbps, lat_sender_skip,
		lat_sender_scale, lat_samples;
	struct {
		unsigned told_level, told_skip, sender_skip, sender_scale;
		uint64_t rx_seen;
		gint64 rx_at, remb_at;
		double rx_bps;
		uint32_t remb_bps;
	} lat;
	janus_mutex metrics_mutex;	/* serialises metrics_take (metrics_seen) with a restart */
	ooblex_counter_tracker metrics_seen;	/* under metrics_mutex */
	volatile gint hangingup;
	volatile gint destroyed;
	janus_refcount ref;
} janus_ooblex_session;

static GHashTable *sessions;	/* janus_plugin_session * -> session */
static GHashTable *clients;	/* client id hex -> session (no reference of its own) */
/* Lock order: sessions_mutex, then a session's mutex, then its metrics_mutex,
 * then its egress's lock (egress.h). Each is taken alone or inside those
 * before it, never the other way round. Pairs that nest: sessions_mutex >
 * metrics_mutex (the metrics thread and destroy_session, taking a session's
 * counts into the totals), mutex > metrics_mutex (start: the last run's
 * counts, then the restart), mutex > the egress lock (start and configure set
 * the output) and metrics_mutex > the egress lock (the reorder counters);
 * sessions_mutex and a session's mutex are never held together. Who takes which:
 * - sessions_mutex (the sessions and clients tables): every callback that
 *   looks a session up (create/destroy/query_session, handle_message,
 *   setup_media, hangup_media), the handler thread, the reader thread
 *   (on_result, on_tick: references taken under it, the work done after), the
 *   metrics thread, the Admin API's stats, stop_processing.
 * - session->mutex: the handler thread (start, configure, stop), Janus' media
 *   thread (incoming_rtp; hangup_media through stop_processing), stats and
 *   query_session, destroy_session (through stop_processing), the reader
 *   thread's fair pass (alone, to copy effect, frame_skip and started).
 * - session->metrics_mutex: the metrics thread, destroy_session, start.
 * - the egress lock, inside egress.c: the reader thread (results, ticks),
 *   Janus' media thread (incoming_data's acks, data_ready, incoming_rtcp),
 *   stats, and the three above through the egress. Nothing of ours is locked
 *   under it and nothing there waits: of the host callbacks only
 *   send_data (relay_data only queues on the handle's loop) and delivered
 *   (the histograms, lock-free) run under it, and the video output's push,
 *   keyframe and REMB calls take only its own lock.
 * The ingest and video output threads take none of them (their callbacks
 * reach Janus or the producer directly), so the one wait under a lock,
 * set_output joining a video output thread under session->mutex (a frame's
 * encode at most), cannot deadlock. push_event (a worker's error, told by
 * the egress with its lock released), notify_event and close_pc are called
 * with none held (the fair pass's "fair" events too). metrics_wake_lock is
 * the metrics thread's sleep only, and fair_lock (what admission reads of the
 * last fair pass) a leaf, never held with these. */
static janus_mutex sessions_mutex = JANUS_MUTEX_INITIALIZER;

static void janus_ooblex_session_destroy(janus_ooblex_session *session) {
	if(session && g_atomic_int_compare_and_exchange(&session->destroyed, 0, 1))
		janus_refcount_decrease(&session->ref);
}

static void janus_ooblex_session_free(const janus_refcount *session_ref) {
	janus_ooblex_session *session = janus_refcount_containerof(session_ref, janus_ooblex_session, ref);
	/* This session can be destroyed, free all the resources */
	janus_refcount_decrease(&session->handle->ref);
	ooblex_egress_free(session->egress);
	ooblex_fleet_watch_clear(&session->fleet_watch);
	g_mutex_clear(&session->latency_lock);
	janus_mutex_destroy(&session->mutex);
	janus_mutex_destroy(&session->metrics_mutex);
	g_free(session);
}

static janus_ooblex_session *janus_ooblex_lookup_session(janus_plugin_session *handle) {
	janus_ooblex_session *session = NULL;
	if(g_hash_table_contains(sessions, handle))
		session = (janus_ooblex_session *)handle->plugin_handle;
	return session;
}

/* Queued request */
typedef struct janus_ooblex_message {
	janus_plugin_session *handle;
	char *transaction;
	json_t *message;
	json_t *jsep;
} janus_ooblex_message;
static janus_ooblex_message exit_message;

static void janus_ooblex_message_free(janus_ooblex_message *msg) {
	if(!msg || msg == &exit_message)
		return;
	if(msg->handle && msg->handle->plugin_handle) {
		janus_ooblex_session *session = (janus_ooblex_session *)msg->handle->plugin_handle;
		janus_refcount_decrease(&session->ref);
	}
	msg->handle = NULL;
	g_free(msg->transaction);
	msg->transaction = NULL;
	if(msg->message)
		json_decref(msg->message);
	msg->message = NULL;
	if(msg->jsep)
		json_decref(msg->jsep);
	msg->jsep = NULL;
	g_free(msg);
}

static void *janus_ooblex_handler(void *data);

/* Redis threads report through Janus' log. */
static void janus_ooblex_redis_log(int level, const char *msg) {
	if(level == 0)
		JANUS_LOG(LOG_ERR, "[ooblex] %s\n", msg);
	else if(level == 1)
		JANUS_LOG(LOG_WARN, "[ooblex] %s\n", msg);
	else
		JANUS_LOG(LOG_INFO, "[ooblex] %s\n", msg);
}

/* ----------------------------------------------------------- configuration */

static const char *config_string(janus_config *config, janus_config_category *cat, const char *name) {
	janus_config_item *item = janus_config_get(config, cat, janus_config_type_item, name);
	return item && item->value ? item->value : NULL;
}

/* Reads an unsigned setting in [lo, hi]; a bad value is logged and the default kept. */
static void config_uint(janus_config *config, janus_config_category *cat, const char *name,
		unsigned lo, unsigned hi, unsigned *value) {
	const char *s = config_string(config, cat, name);
	if(s == NULL)
		return;
	char *end = NULL;
	gint64 v = g_ascii_strtoll(s, &end, 10);
	if(end == s || *end != '\0' || v < lo || v > hi) {
		JANUS_LOG(LOG_ERR, "Ooblex config: %s.%s = \"%s\" is not a whole number in %u..%u, using %u\n",
			cat && cat->name ? cat->name : "general", name, s, lo, hi, *value);
		return;
	}
	*value = (unsigned)v;
}

/* "vp8,h264": the codecs to accept, most preferred first. A list with an
 * unknown or repeated name is refused whole and the default kept. */
static void janus_ooblex_parse_codecs(const char *list) {
	ooblex_codec codecs[JANUS_OOBLEX_MAX_CODECS];
	int n = 0;
	gchar **names = g_strsplit(list, ",", -1);
	gboolean ok = TRUE;
	for(int i = 0; names[i] != NULL && ok; i++) {
		ooblex_codec c = ooblex_codec_from_name(g_strstrip(names[i]));
		if(c == OOBLEX_CODEC_NONE || n == JANUS_OOBLEX_MAX_CODECS || (n > 0 && codecs[0] == c))
			ok = FALSE;
		else
			codecs[n++] = c;
	}
	g_strfreev(names);
	if(!ok || n == 0) {
		JANUS_LOG(LOG_ERR, "Ooblex config: general.video_codecs = \"%s\" is not a list of vp8 and h264, using \"vp8,h264\"\n", list);
		return;
	}
	memcpy(settings.video_codecs, codecs, sizeof(codecs));
	settings.n_video_codecs = n;
}

static void janus_ooblex_load_settings(const char *config_path) {
	memset(&settings, 0, sizeof(settings));
	ooblex_redis_config_default(&settings.redis);
	settings.frame_skip = 3;
	g_strlcpy(settings.effect, "invert", sizeof(settings.effect));
	/* Chosen by measurement (tests/bench/jpeg_quality, README "JPEG
	 * quality"): the lowest with luma PSNR >= 38 dB and SSIM >= 0.96 against
	 * the worker's raw output on noisy camera footage; a fifth fewer bytes
	 * per result on the data channel than 80. */
	settings.jpeg_quality = 70;
	settings.reorder_wait_ms = 150;
	settings.reorder_adaptive = TRUE;
	settings.reorder_min_wait_ms = 15;
	settings.frame_deadline_ms = 1000;
	settings.max_in_flight = 6;
	/* Measured (tests/bench/format_cost): raw I420 costs the plugin least and
	 * is fastest end to end through a local Redis; JPEG sends ~40x fewer bytes,
	 * the better choice when workers are on other machines. */
	settings.frame_format = OOBLEX_PIXFMT_I420;
	settings.max_width = 1280;
	settings.max_height = 720;
	/* 0: ingest.h's defaults, derived from the decode limit. */
	settings.max_decode_width = OOBLEX_INGEST_DEFAULT_DECODE_WIDTH;
	settings.max_decode_height = OOBLEX_INGEST_DEFAULT_DECODE_HEIGHT;
	settings.max_keyframes_per_s = 4;
	settings.max_queued_kib = 4096;
	settings.max_pending_frames = 64;
	settings.max_sessions = 64;
	settings.events = TRUE;
	settings.output = OOBLEX_OUTPUT_DATACHANNEL;
	settings.video_bitrate_kbps = 1500;
	settings.dc_max_unacked_frames = 8;
	settings.max_result_bytes = OOBLEX_RESULT_MAX_DEFAULT;
	settings.fair_share = TRUE;
	settings.frame_budget_ms = 250;	/* the workers' own default budget (--frame-budget-ms) */
	settings.admission_cpu_percent = 90;
	settings.admission_fleet_percent = 100;
	settings.admission_max_frame_skip = 30;
	settings.latency_budget_ms = 150;
	settings.min_latency_budget_ms = 50;
	settings.max_auto_frame_skip = 10;
	gethostname(settings.metrics_instance, sizeof(settings.metrics_instance) - 1);
	settings.video_codecs[0] = OOBLEX_CODEC_VP8;
	settings.video_codecs[1] = OOBLEX_CODEC_H264;
	settings.n_video_codecs = 2;

	char filename[255];
	g_snprintf(filename, sizeof(filename), "%s/%s.jcfg", config_path, JANUS_OOBLEX_PACKAGE);
	JANUS_LOG(LOG_VERB, "Configuration file: %s\n", filename);
	janus_config *config = janus_config_parse(filename);
	if(config == NULL) {
		JANUS_LOG(LOG_WARN, "Couldn't find %s, using the defaults (Redis at 127.0.0.1:6379)\n", filename);
		return;
	}
	/* Not janus_config_print: it would log redis.url and redis.password. */
	janus_config_category *general = janus_config_get_create(config, NULL, janus_config_type_category, "general");
	janus_config_category *redis = janus_config_get_create(config, NULL, janus_config_type_category, "redis");
	char err[256];
	const char *s;
	if((s = config_string(config, redis, "url")) != NULL && *s &&
			ooblex_redis_parse_url(&settings.redis, s, err, sizeof(err)) < 0)
		JANUS_LOG(LOG_ERR, "Ooblex config: redis.url: %s\n", err);
	if((s = config_string(config, redis, "host")) != NULL && *s)
		g_strlcpy(settings.redis.host, s, sizeof(settings.redis.host));
	unsigned port = (unsigned)settings.redis.port, db = (unsigned)settings.redis.db;
	config_uint(config, redis, "port", 1, 65535, &port);
	config_uint(config, redis, "db", 0, 1000000, &db);
	settings.redis.port = (int)port;
	settings.redis.db = (int)db;
	if((s = config_string(config, redis, "password")) != NULL)
		g_strlcpy(settings.redis.password, s, sizeof(settings.redis.password));
	config_uint(config, general, "frame_skip", 1, 1000, &settings.frame_skip);
	if((s = config_string(config, general, "effect")) != NULL && *s)
		g_strlcpy(settings.effect, s, sizeof(settings.effect));
	config_uint(config, general, "jpeg_quality", 1, 100, &settings.jpeg_quality);
	config_uint(config, general, "reorder_wait_ms", 0, 10000, &settings.reorder_wait_ms);
	config_uint(config, general, "reorder_min_wait_ms", 0, 10000, &settings.reorder_min_wait_ms);
	if((s = config_string(config, general, "reorder_adaptive")) != NULL)
		settings.reorder_adaptive = janus_is_true(s);
	config_uint(config, general, "frame_deadline_ms", 0, 60000, &settings.frame_deadline_ms);
	config_uint(config, general, "max_in_flight", 1, OOBLEX_MAX_IN_FLIGHT, &settings.max_in_flight);
	config_uint(config, general, "max_pending_frames", 1, 100000, &settings.max_pending_frames);
	config_uint(config, general, "max_width", 0, OOBLEX_MAX_DIMENSION, &settings.max_width);
	config_uint(config, general, "max_height", 0, OOBLEX_MAX_DIMENSION, &settings.max_height);
	config_uint(config, general, "max_decode_width", 16, OOBLEX_MAX_DIMENSION, &settings.max_decode_width);
	config_uint(config, general, "max_decode_height", 16, OOBLEX_MAX_DIMENSION, &settings.max_decode_height);
	config_uint(config, general, "max_frame_kib", 0, 1024 * 1024, &settings.max_frame_kib);
	config_uint(config, general, "max_frame_packets", 0, 1000000, &settings.max_frame_packets);
	config_uint(config, general, "max_keyframes_per_s", 1, 1000, &settings.max_keyframes_per_s);
	config_uint(config, general, "max_keyframe_kib_per_s", 0, 1024 * 1024, &settings.max_keyframe_kib_per_s);
	config_uint(config, general, "max_queued_kib", 64, 1024 * 1024, &settings.max_queued_kib);
	if((s = config_string(config, general, "frame_format")) != NULL) {
		ooblex_pixfmt f = ooblex_pixfmt_from_name(s);
		if(f == OOBLEX_PIXFMT_NONE)
			JANUS_LOG(LOG_ERR, "Ooblex config: general.frame_format = \"%s\" is not i420, rgb24 or jpeg, using %s\n",
				s, ooblex_pixfmt_name(settings.frame_format));
		else
			settings.frame_format = f;
	}
	config_uint(config, general, "max_sessions", 1, 100000, &settings.max_sessions);
	if((s = config_string(config, general, "events")) != NULL)
		settings.events = janus_is_true(s);
	if((s = config_string(config, general, "video_codecs")) != NULL)
		janus_ooblex_parse_codecs(s);
	if((s = config_string(config, general, "output")) != NULL) {
		unsigned o = janus_ooblex_output_from_name(s);
		if(o == 0)
			JANUS_LOG(LOG_ERR, "Ooblex config: general.output = \"%s\" is not datachannel, video, both or metadata, using %s\n",
				s, janus_ooblex_output_name(settings.output));
		else
			settings.output = o;
	}
	if((s = config_string(config, general, "video_reply_format")) != NULL) {
		if(!strcmp(s, "auto"))
			settings.video_reply_format = JANUS_OOBLEX_REPLY_AUTO;
		else if(!strcmp(s, "i420"))
			settings.video_reply_format = JANUS_OOBLEX_REPLY_I420;
		else if(!strcmp(s, "jpeg"))
			settings.video_reply_format = JANUS_OOBLEX_REPLY_JPEG;
		else
			JANUS_LOG(LOG_ERR, "Ooblex config: general.video_reply_format = \"%s\" is not auto, i420 or jpeg, using %s\n",
				s, janus_ooblex_reply_format_name(settings.video_reply_format));
	}
	config_uint(config, general, "video_bitrate_kbps", 100, 50000, &settings.video_bitrate_kbps);
	config_uint(config, general, "dc_max_unacked_frames", 1, 64, &settings.dc_max_unacked_frames);
	config_uint(config, general, "max_result_bytes", 1024, OOBLEX_MAX_PAYLOAD, &settings.max_result_bytes);
	/* An I420 result is the whole picture, 12-26 times a JPEG's size: the
	 * largest one sampled (max_width x max_height, or the decode limit when
	 * those are 0) must fit in max_result_bytes, with a header's worth to
	 * spare, or the reader drops it unread as oversized. */
	unsigned biggest_w = settings.max_width ? settings.max_width : settings.max_decode_width;
	unsigned biggest_h = settings.max_height ? settings.max_height : settings.max_decode_height;
	size_t biggest_i420 = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, biggest_w, biggest_h) + 16 * 1024;
	settings.i420_reply_fits = biggest_i420 <= settings.max_result_bytes;
	if(!settings.i420_reply_fits && settings.video_reply_format == JANUS_OOBLEX_REPLY_AUTO)
		JANUS_LOG(LOG_WARN, "Ooblex config: a %ux%u I420 result would not fit in max_result_bytes = %u: "
			"video-only sessions get JPEG results (video_reply_format = auto)\n", biggest_w, biggest_h,
			settings.max_result_bytes);
	else if(!settings.i420_reply_fits && settings.video_reply_format == JANUS_OOBLEX_REPLY_I420)
		JANUS_LOG(LOG_WARN, "Ooblex config: video_reply_format = i420, but a %ux%u I420 result is over "
			"max_result_bytes = %u: such results will be refused as oversized (raise max_result_bytes to %zu)\n",
			biggest_w, biggest_h, settings.max_result_bytes, biggest_i420);
	if((s = config_string(config, general, "fair_share")) != NULL)
		settings.fair_share = janus_is_true(s);
	config_uint(config, general, "frame_budget_ms", 0, 600000, &settings.frame_budget_ms);
	config_uint(config, general, "admission_cpu_percent", 0, 100, &settings.admission_cpu_percent);
	config_uint(config, general, "admission_fleet_percent", 0, 10000, &settings.admission_fleet_percent);
	config_uint(config, general, "admission_max_frame_skip", 1, 1000, &settings.admission_max_frame_skip);
	config_uint(config, general, "latency_budget_ms", 0, 60000, &settings.latency_budget_ms);
	config_uint(config, general, "min_latency_budget_ms", 0, 60000, &settings.min_latency_budget_ms);
	if(settings.latency_budget_ms > 0 && settings.latency_budget_ms < settings.min_latency_budget_ms) {
		JANUS_LOG(LOG_WARN, "%s: latency_budget_ms %u is below min_latency_budget_ms %u; using %u\n", JANUS_OOBLEX_NAME,
			settings.latency_budget_ms, settings.min_latency_budget_ms, settings.min_latency_budget_ms);
		settings.latency_budget_ms = settings.min_latency_budget_ms;
	}
	config_uint(config, general, "max_auto_frame_skip", 1, 1000, &settings.max_auto_frame_skip);
	/* The fleet secret, from a file (fleet_secret_file, preferred: the
	 * config is often world-readable) or inline (fleet_secret). */
	const char *secret_file = config_string(config, general, "fleet_secret_file");
	const char *secret_text = config_string(config, general, "fleet_secret");
	if((secret_file && *secret_file) || (secret_text && *secret_text)) {
		settings.fleet_secret_len = ooblex_auth_load_secret(secret_file && *secret_file ? secret_file : NULL, secret_text,
			settings.fleet_secret, err, sizeof(err));
		if(settings.fleet_secret_len < 0)	/* init refuses to start: results must not go unchecked by mistake */
			JANUS_LOG(LOG_ERR, "Ooblex config: general.fleet_secret: %s\n", err);
	}
	janus_config_category *metrics_cfg = janus_config_get_create(config, NULL, janus_config_type_category, "metrics");
	if((s = config_string(config, metrics_cfg, "textfile_dir")) != NULL)
		g_strlcpy(settings.metrics_dir, s, sizeof(settings.metrics_dir));
	if((s = config_string(config, metrics_cfg, "instance")) != NULL && *s)
		g_strlcpy(settings.metrics_instance, s, sizeof(settings.metrics_instance));
	janus_config_destroy(config);
}

/* ------------------------------------------------------------ return path */

/* The return path is the egress's (egress.h); these are its host callbacks. */

/* One data channel message to the page. Called under the egress lock:
 * relay_data only queues. */
static int janus_ooblex_send_data(const uint8_t *msg, size_t len, void *user) {
	janus_ooblex_session *session = user;
	if(g_atomic_int_get(&session->destroyed) || g_atomic_int_get(&session->handle->stopped))
		return -1;
	janus_plugin_data data = {
		.label = NULL,	/* the browser's default "JanusDataChannel" */
		.protocol = NULL,
		.binary = TRUE,
		.buffer = (char *)msg,
		.length = (uint16_t)len,
	};
	gateway->relay_data(session->handle, &data);
	return 0;
}

/* Sends a video output thread's packets on the session's video m-line. */
static void janus_ooblex_send_rtp(const uint8_t *packet, size_t len, void *user) {
	janus_ooblex_session *session = user;
	if(g_atomic_int_get(&session->destroyed) || g_atomic_int_get(&session->handle->stopped))
		return;
	janus_plugin_rtp rtp = { .mindex = -1, .video = TRUE, .buffer = (char *)packet, .length = (uint16_t)len };
	janus_plugin_rtp_extensions_reset(&rtp.extensions);
	gateway->relay_rtp(session->handle, &rtp);
}

/* A frame went to the page: into the latency histograms (lock-free).
 * Called under the egress lock. */
static void janus_ooblex_delivered(const ooblex_frame_header *h, const uint8_t *payload, uint64_t returned_us,
		uint64_t sent_us, void *user) {
	(void)payload;
	janus_ooblex_session *session = user;
	ooblex_plugin_metrics_observe(metrics, h->capture_us, h->queued_us, h->worker_start_us, h->worker_end_us,
		returned_us, sent_us);
	/* The latency budget's measure: the frame's last packet in -> handed to
	 * the data channel or the encoder (latency_budget.h). What its packets
	 * took to arrive is the sender's pacing, which shedding cannot shorten
	 * (ingest.h, ooblex_arrival_spread). */
	uint64_t spread = ooblex_arrival_spread_get(&session->arrival_spread, h->seq);
	if(h->capture_us != 0 && sent_us > h->capture_us + spread &&
			sent_us >= atomic_load(&session->latency_start_us) + OOBLEX_LATENCY_WARMUP_US) {
		/* Of it, what no shedding shortens: the worker's own time (a
		 * duration on the worker's clock) and the reorder wait for an
		 * earlier frame (popped -> sent, the plugin's clock). */
		uint64_t latency = sent_us - h->capture_us - spread, fixed = 0;
		if(h->worker_start_us != 0 && h->worker_end_us > h->worker_start_us)
			fixed += h->worker_end_us - h->worker_start_us;
		if(returned_us != 0 && sent_us > returned_us)
			fixed += sent_us - returned_us;
		g_mutex_lock(&session->latency_lock);
		ooblex_latency_window_add_split(&session->latency_window, sent_us, latency,
			latency > fixed ? latency - fixed : 0);
		g_mutex_unlock(&session->latency_lock);
	}
}

/* Tells the page that a worker could not process frame seq. Not under any lock. */
static void janus_ooblex_tell_error(uint32_t seq, unsigned code, const char *reason, void *user) {
	janus_ooblex_session *session = user;
	if(g_atomic_int_get(&session->destroyed) || g_atomic_int_get(&session->hangingup))
		return;
	JANUS_LOG(LOG_WARN, "[ooblex-%s] A worker could not process frame %u: %s (%s)\n", session->client_hex, seq,
		reason, ooblex_frame_error_name(code));
	json_t *event = json_object();
	json_object_set_new(event, "ooblex", json_string("event"));
	json_object_set_new(event, "error", json_string(reason));
	json_object_set_new(event, "error_code", json_integer(JANUS_OOBLEX_ERROR_FRAME_BASE + code));
	json_object_set_new(event, "reason", json_string(ooblex_frame_error_name(code)));
	json_object_set_new(event, "seq", json_integer(seq));
	gateway->push_event(session->handle, &janus_ooblex_plugin, NULL, event, NULL);
	json_decref(event);
}

static const ooblex_egress_host janus_ooblex_egress_host = {
	.send_data = janus_ooblex_send_data,
	.send_rtp = janus_ooblex_send_rtp,
	.delivered = janus_ooblex_delivered,
	.worker_error = janus_ooblex_tell_error,
};

/* Reader thread: one processed frame popped from processed_frames:{id}, for
 * the session that watches it; its egress checks it (before any copy) and
 * takes it, or counts why not. A refusal is logged once per verdict and run
 * (whoever writes them could otherwise fill the log). */
static void janus_ooblex_on_result(const char *key, const uint8_t *msg, size_t len, void *user) {
	(void)user;
	const char *hex = key + strlen(OOBLEX_KEY_PROCESSED_PREFIX);
	janus_mutex_lock(&sessions_mutex);
	janus_ooblex_session *session = g_hash_table_lookup(clients, hex);
	if(session != NULL)
		janus_refcount_increase(&session->ref);
	janus_mutex_unlock(&sessions_mutex);
	if(session == NULL)
		return;	/* the client left; its list expires by itself */
	ooblex_result_verdict v = ooblex_egress_on_result(session->egress, msg, len);
	gint bit = 1 << v;
	if(v != OOBLEX_RESULT_OK && !(g_atomic_int_or(&session->refused_logged, bit) & bit))
		JANUS_LOG(LOG_WARN, "[ooblex-%s] Refusing a result from %s (%zu bytes): %s (logged once; see results_refused)\n",
			session->client_hex, key, len, ooblex_result_verdict_name(v));
	janus_refcount_decrease(&session->ref);
}

/* Tells the page what its fleet watch found (fleet_effects.h): no live
 * worker runs its effect any more (or none lives), or one does again. At
 * most once a second per session (the watch's interval). Not under any lock. */
static void janus_ooblex_tell_fleet(janus_ooblex_session *session, ooblex_fleet_tell tell, ooblex_fleet_verdict verdict,
		const char *why, const char *effect, unsigned live_workers) {
	if(g_atomic_int_get(&session->destroyed) || g_atomic_int_get(&session->hangingup))
		return;
	gboolean lost = tell == OOBLEX_FLEET_TELL_LOST;
	if(lost)
		JANUS_LOG(LOG_WARN, "[ooblex-%s] %s\n", session->client_hex, why);
	else
		JANUS_LOG(LOG_INFO, "[ooblex-%s] A live worker runs '%s' again\n", session->client_hex, effect);
	json_t *event = json_pack("{sssssssi}", "ooblex", "event", "workers", lost ? "lost" : "back", "effect", effect,
		"live_workers", (int)live_workers);
	if(lost) {
		json_object_set_new(event, "error_code", json_integer(verdict == OOBLEX_FLEET_NO_WORKERS ?
			JANUS_OOBLEX_ERROR_NO_WORKERS : JANUS_OOBLEX_ERROR_NOT_RUNNABLE));
		json_object_set_new(event, "error", json_string(why));
	}
	gateway->push_event(session->handle, &janus_ooblex_plugin, NULL, event, NULL);
	json_decref(event);
}

/* ------------------------------------------------------------ fair shares */

/* What the last fair pass measured, for admission (handle_start): the CPU
 * Janus' process used, and per queue the demand on it (this plugin's clients
 * and the others' announced) and its workers. fair_lock is a leaf: nothing
 * else is taken under it. */
static GMutex fair_lock;
static double fair_cpu_busy;	/* CPU seconds per second, all of Janus' threads */
static GHashTable *fair_queues;	/* queue name -> ooblex_fair_queue_seen */
typedef struct ooblex_fair_queue_seen {
	double demand;
	unsigned workers;
} ooblex_fair_queue_seen;

static double janus_ooblex_process_cpu_s(void) {
	struct rusage ru;
	if(getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Tells the page that its client is throttled, or no longer (reader thread, no lock held). */
static void janus_ooblex_tell_fair(janus_ooblex_session *session, const ooblex_fair_client *c) {
	if(g_atomic_int_get(&session->destroyed) || g_atomic_int_get(&session->hangingup))
		return;
	json_t *fair = json_pack("{sbsssisfsfsfsfsi}", "throttled", c->reason != OOBLEX_FAIR_FREE,
		"reason", ooblex_fair_reason_name(c->reason),
		"max_in_flight", (int)c->max_in_flight,
		"min_interval_ms", c->min_interval_us / 1000.0,
		"frame_cost_ms", c->cost_us / 1000.0,
		"share", c->share,
		"demand", c->demand,
		"budget_ms", (int)settings.frame_budget_ms);
	JANUS_LOG(LOG_INFO, "[ooblex-%s] Fair share: %s (frames cost %.1f ms, share %.2f of %.2f workers asked, "
		"%u in flight)\n", session->client_hex, c->reason == OOBLEX_FAIR_FREE ? "not throttled" :
		ooblex_fair_reason_name(c->reason), c->cost_us / 1000.0, c->share, c->demand, c->max_in_flight);
	json_t *event = json_pack("{ssso}", "ooblex", "event", "fair", fair);
	gateway->push_event(session->handle, &janus_ooblex_plugin, NULL, event, NULL);
	json_decref(event);
}

/* Reader thread, every OOBLEX_FAIR_PERIOD_MS: measures each processing
 * client (frames due per second, worker time per frame, frames over the
 * budget), shares each queue's live workers among them (fair_share.h) and
 * hands each ingest its cap; announces this plugin's demand to the others
 * (fleet.h). Costs no Redis round trip: the fleet's look brings what it needs. */
static void janus_ooblex_latency_pass(janus_ooblex_session **who, const ooblex_fair_client *cl, size_t nc,
	const ooblex_fair_queue *queues, size_t nq);
static void janus_ooblex_fair_pass(GList *list) {
	static gint64 last_pass_us;
	static double last_cpu_s;
	gint64 now = g_get_monotonic_time();
	if(now - last_pass_us < OOBLEX_FAIR_PERIOD_MS * 1000)
		return;
	double cpu_s = janus_ooblex_process_cpu_s();
	double busy = last_pass_us ? (cpu_s - last_cpu_s) * 1e6 / (double)(now - last_pass_us) : 0;
	last_pass_us = now;
	last_cpu_s = cpu_s;
	ooblex_fleet *fleet = ooblex_reader_get_fleet(reader);
	guint n = g_list_length(list);
	ooblex_fair_client *cl = g_new0(ooblex_fair_client, n + 1);
	janus_ooblex_session **who = g_new0(janus_ooblex_session *, n + 1);
	ooblex_fair_queue *queues = g_new0(ooblex_fair_queue, n + 1);
	ooblex_queue_demand *names = g_new0(ooblex_queue_demand, n + 1);
	size_t nc = 0, nq = 0;
	for(GList *l = list; l != NULL; l = l->next) {
		janus_ooblex_session *session = l->data;
		char effect[OOBLEX_NAME_MAX + 1];
		janus_mutex_lock(&session->mutex);
		gboolean started = session->started;
		/* The sampler's own skip: a source-sampled session's browser already
		 * sends only the frames due, and every decoded one is due. */
		unsigned frame_skip = session->source_sampled ? 1 : session->frame_skip ? session->frame_skip : 1;
		g_strlcpy(effect, session->effect, sizeof(effect));
		janus_mutex_unlock(&session->mutex);
		if(!started)
			continue;
		char queue[OOBLEX_KEY_MAX];
		ooblex_fleet_queue_for(fleet, effect, queue, sizeof(queue));
		size_t q = 0;
		while(q < nq && strcmp(names[q].queue, queue) != 0)
			q++;
		if(q == nq)
			g_strlcpy(names[nq++].queue, queue, sizeof(names[0].queue));
		const ooblex_egress_stats *es = ooblex_egress_get_stats(session->egress);
		uint64_t decoded = atomic_load(&session->ingest_stats.frames_decoded);
		uint64_t worker_us = atomic_load(&es->worker_us_total), timed = atomic_load(&es->worker_timed);
		uint64_t over = atomic_load(&es->frames_over_budget_again);
		if(atomic_exchange(&session->fair_reset, 0) || session->fair.last_us == 0 || decoded < session->fair.decoded) {
			session->fair.cost_us = 0;
			session->fair.due_fps = 0;
			session->fair.over_until_us = 0;
			session->fair.told = OOBLEX_FAIR_FREE;
		} else {
			double fps = (double)(decoded - session->fair.decoded) * 1e6 / (double)(now - session->fair.last_us) / frame_skip;
			session->fair.due_fps = session->fair.due_fps > 0 ? 0.5 * session->fair.due_fps + 0.5 * fps : fps;
			if(timed > session->fair.timed) {
				double took = (double)(worker_us - session->fair.worker_us) / (double)(timed - session->fair.timed);
				session->fair.cost_us = session->fair.cost_us > 0 ? 0.5 * session->fair.cost_us + 0.5 * took : took;
			}
			if(over > session->fair.over)
				session->fair.over_until_us = now + OOBLEX_FAIR_OVER_BUDGET_HOLD_US;
		}
		session->fair.last_us = now;
		session->fair.decoded = decoded;
		session->fair.worker_us = worker_us;
		session->fair.timed = timed;
		session->fair.over = over;
		cl[nc].queue = q;
		cl[nc].due_fps = session->fair.due_fps;
		cl[nc].cost_us = session->fair.cost_us;
		cl[nc].over_budget = now < session->fair.over_until_us;
		who[nc++] = session;
	}
	for(size_t q = 0; q < nq; q++)
		queues[q].workers = ooblex_fleet_queue_share(fleet, names[q].queue, &queues[q].remote_clients,
			&queues[q].remote_demand);
	ooblex_fair_share_compute(queues, nq, cl, nc, settings.max_in_flight);
	for(size_t i = 0; i < nc; i++) {
		janus_ooblex_session *session = who[i];
		/* Off: measured and shown, never enforced. */
		gboolean enforce = settings.fair_share;
		atomic_store(&session->fair_cap, enforce ? cl[i].max_in_flight : 0);
		atomic_store(&session->fair_interval_us, enforce ? cl[i].min_interval_us : 0);
		atomic_store(&session->fair.reason, (unsigned)cl[i].reason);
		atomic_store(&session->fair.share_milli, (unsigned)MIN(cl[i].share * 1000, 1e9));
		atomic_store(&session->fair.demand_milli, (unsigned)MIN(cl[i].demand * 1000, 1e9));
		atomic_store(&session->fair.due_fps_milli, (unsigned)MIN(cl[i].due_fps * 1000, 1e9));
		atomic_store(&session->fair.cost_us_now, (uint64_t)cl[i].cost_us);
		names[cl[i].queue].clients++;
		names[cl[i].queue].demand += cl[i].demand;
		if(cl[i].reason != session->fair.told) {
			session->fair.told = cl[i].reason;
			janus_ooblex_tell_fair(session, &cl[i]);
		}
	}
	janus_ooblex_latency_pass(who, cl, nc, queues, nq);
	ooblex_fleet_announce(fleet, names, nq);
	g_mutex_lock(&fair_lock);
	fair_cpu_busy = busy;
	if(fair_queues == NULL)
		fair_queues = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_hash_table_remove_all(fair_queues);
	for(size_t q = 0; q < nq; q++) {
		ooblex_fair_queue_seen *seen = g_new0(ooblex_fair_queue_seen, 1);
		seen->demand = names[q].demand + queues[q].remote_demand;
		seen->workers = queues[q].workers;
		g_hash_table_insert(fair_queues, g_strdup(names[q].queue), seen);
	}
	g_mutex_unlock(&fair_lock);
	g_free(cl);
	g_free(who);
	g_free(queues);
	g_free(names);
}

/* ---------------------------------------------------------- latency budget */

/* The machine's shedding level (latency_budget.h): the reader thread's
 * alone (the fair pass); what the Admin API and Prometheus show of it, in
 * atomics. */
static ooblex_latency_fleet latency_fleet;
static atomic_uint latency_level_now, latency_shedding_now, latency_common_skip_now;
static atomic_uint_fast64_t latency_steps_now[OOBLEX_LATENCY_STEP_COUNT][2];
static atomic_uint_fast64_t latency_vetoed_now, latency_restore_hold_us_now;

#define JANUS_OOBLEX_LATENCY_FLAG_ON 1	/* the session has a budget */
#define JANUS_OOBLEX_LATENCY_FLAG_VOTED 2
#define JANUS_OOBLEX_LATENCY_FLAG_OWN 4	/* its own effect's latency: does not vote */
#define JANUS_OOBLEX_LATENCY_FLAG_SHEDDING 8
/* REMB while the step holds: half of what the browser sent, at least this. */
#define JANUS_OOBLEX_LATENCY_REMB_MIN_BPS 100000
/* Sent once when the REMB step is restored: above anything a camera sends,
 * so the browser's own estimate rules again. */
#define JANUS_OOBLEX_LATENCY_REMB_LIFT_BPS 20000000

/* The session's latency object, for stats and events. */
static json_t *janus_ooblex_latency_json(janus_ooblex_session *session, unsigned budget_ms, unsigned frame_skip) {
	unsigned flags = atomic_load(&session->lat_flags);
	unsigned level = atomic_load(&session->lat_level);
	unsigned eff = atomic_load(&session->lat_effective_skip);
	json_t *o = json_object();
	json_object_set_new(o, "budget_ms", json_integer(budget_ms));
	json_object_set_new(o, "p95_ms", json_real(atomic_load(&session->lat_p95_milli) / 1000.0));
	json_object_set_new(o, "waiting_p95_ms", json_real(atomic_load(&session->lat_waiting_p95_milli) / 1000.0));
	json_object_set_new(o, "samples", json_integer(atomic_load(&session->lat_samples)));
	json_object_set_new(o, "level", json_integer((flags & JANUS_OOBLEX_LATENCY_FLAG_ON) ? level : 0));
	json_object_set_new(o, "step", json_string(ooblex_latency_step_name((flags & JANUS_OOBLEX_LATENCY_FLAG_ON) ?
		ooblex_latency_level_step(&latency_fleet, level) : OOBLEX_LATENCY_STEP_NONE)));
	json_object_set_new(o, "frame_skip", json_integer(frame_skip));
	json_object_set_new(o, "frame_skip_effective", json_integer(eff > frame_skip ? eff : frame_skip));
	json_object_set_new(o, "shedding", json_boolean(flags & JANUS_OOBLEX_LATENCY_FLAG_SHEDDING));
	json_object_set_new(o, "voted", json_boolean(flags & JANUS_OOBLEX_LATENCY_FLAG_VOTED));
	json_object_set_new(o, "own_cause", json_boolean(flags & JANUS_OOBLEX_LATENCY_FLAG_OWN));
	json_object_set_new(o, "remb_kbps", json_integer(atomic_load(&session->lat_remb_kbps)));
	unsigned ss = atomic_load(&session->lat_sender_skip), sc = atomic_load(&session->lat_sender_scale);
	json_object_set_new(o, "sender", json_pack("{sisi}", "frame_skip", (int)(ss ? ss : frame_skip),
		"scale_resolution_down_by", (int)(sc ? sc : 1)));
	return o;
}

/* Asks a source-sampled browser to send less, or as before, over the data
 * channel (ooblex.js applies it with RTCRtpSender.setParameters; docs/api.md
 * "Latency budget"). Reader thread, no lock held: relay_data only queues. */
static void janus_ooblex_tell_sender(janus_ooblex_session *session, unsigned level, unsigned frame_skip,
		unsigned scale) {
	if(g_atomic_int_get(&session->destroyed) || g_atomic_int_get(&session->hangingup) ||
			g_atomic_int_get(&session->handle->stopped))
		return;
	char msg[192];
	int len = snprintf(msg, sizeof(msg), "{\"ooblex\":\"sender\",\"frame_skip\":%u,\"scale_resolution_down_by\":%u,"
		"\"step\":\"%s\",\"level\":%u}", frame_skip, scale,
		ooblex_latency_step_name(ooblex_latency_level_step(&latency_fleet, level)), level);
	janus_plugin_data data = {
		.label = NULL,
		.protocol = NULL,
		.binary = FALSE,
		.buffer = msg,
		.length = (uint16_t)len,
	};
	gateway->relay_data(session->handle, &data);
}

/* Reader thread, from the fair pass (no lock held): each session with a
 * budget votes with its window's p95, the machine's level moves one step at
 * most (latency_budget.h), and each session gets what its level means: its
 * ingest's extra skip, REMB, the sender's limits; told to the page when
 * they change. who[i] and cl[i] are the fair pass's processing sessions. */
static void janus_ooblex_latency_pass(janus_ooblex_session **who, const ooblex_fair_client *cl, size_t nc,
		const ooblex_fair_queue *queues, size_t nq) {
	uint64_t now = ooblex_now_us();
	gint64 mono = g_get_monotonic_time();
	ooblex_latency_participant *p = g_new0(ooblex_latency_participant, nc + 1);
	ooblex_latency_window *wins = g_new(ooblex_latency_window, nc + 1);
	janus_ooblex_session **ps = g_new0(janus_ooblex_session *, nc + 1);
	unsigned *sampled = g_new0(unsigned, nc + 1), *has_dc = g_new0(unsigned, nc + 1);
	double *costs = g_new0(double, nc + 1);
	size_t n = 0;
	double demand = 0, workers = 0;
	for(size_t q = 0; q < nq; q++) {
		workers += queues[q].workers;
		demand += queues[q].remote_demand;
	}
	for(size_t i = 0; i < nc; i++) {
		janus_ooblex_session *session = who[i];
		janus_mutex_lock(&session->mutex);
		unsigned budget = session->latency_budget_ms, frame_skip = session->frame_skip ? session->frame_skip : 1;
		gboolean source_sampled = session->source_sampled, dc = session->has_data_channel;
		janus_mutex_unlock(&session->mutex);
		/* The browser's bitrate, for the REMB step. */
		uint64_t rx = atomic_load(&session->rx_bytes);
		if(atomic_exchange(&session->latency_reset, 0)) {
			memset(&session->lat, 0, sizeof(session->lat));
			session->lat.told_skip = frame_skip;
			session->lat.sender_skip = frame_skip;
			session->lat.sender_scale = 1;
			session->lat.rx_seen = rx;
			session->lat.rx_at = mono;
		} else if(mono > session->lat.rx_at) {
			double bps = (double)(rx - session->lat.rx_seen) * 8e6 / (double)(mono - session->lat.rx_at);
			session->lat.rx_bps = session->lat.rx_bps > 0 ? 0.7 * session->lat.rx_bps + 0.3 * bps : bps;
			session->lat.rx_seen = rx;
			session->lat.rx_at = mono;
		}
		/* What it asks of the workers at the full rate of its frame skip
		 * (the level's extra skip taken out): a participant's is its own,
		 * the rest is the fleet's (latency_budget.h, the restore's veto). */
		unsigned milli = atomic_load(&session->latency_skip_milli);
		double asks = cl[i].demand * 1000.0 / (milli > 1000 ? milli : 1000);
		if(budget == 0) {
			demand += asks;
			/* Off: nothing shed, and whatever was asked of the browser is
			 * lifted; the page is told if it was shedding. */
			gboolean was = (atomic_load(&session->lat_flags) & JANUS_OOBLEX_LATENCY_FLAG_SHEDDING) != 0;
			atomic_store(&session->latency_skip_milli, 0);
			atomic_store(&session->lat_flags, 0);
			atomic_store(&session->lat_effective_skip, frame_skip);
			if(session->lat.remb_bps != 0) {
				gateway->send_remb(session->handle, JANUS_OOBLEX_LATENCY_REMB_LIFT_BPS);
				session->lat.remb_bps = 0;
				atomic_store(&session->lat_remb_kbps, 0);
			}
			if(source_sampled && dc && (session->lat.sender_skip != frame_skip || session->lat.sender_scale != 1))
				janus_ooblex_tell_sender(session, 0, frame_skip, 1);
			session->lat.sender_skip = frame_skip;
			session->lat.sender_scale = 1;
			atomic_store(&session->sender_skip, source_sampled ? frame_skip : 0);
			atomic_store(&session->lat_sender_skip, frame_skip);
			atomic_store(&session->lat_sender_scale, 1);
			session->lat.told_level = 0;
			session->lat.told_skip = frame_skip;
			if(was && !g_atomic_int_get(&session->destroyed) && !g_atomic_int_get(&session->hangingup)) {
				json_t *lat = janus_ooblex_latency_json(session, 0, frame_skip);
				json_object_set_new(lat, "action", json_string("restore"));
				json_t *event = json_pack("{ssso}", "ooblex", "event", "latency", lat);
				gateway->push_event(session->handle, &janus_ooblex_plugin, NULL, event, NULL);
				json_decref(event);
			}
			continue;
		}
		g_mutex_lock(&session->latency_lock);
		wins[n] = session->latency_window;
		g_mutex_unlock(&session->latency_lock);
		p[n].budget_ms = budget;
		p[n].frame_skip = frame_skip;
		p[n].window = &wins[n];
		p[n].demand_workers = asks;
		costs[n] = cl[i].reason == OOBLEX_FAIR_OVER_BUDGET ? -1 : cl[i].cost_us;
		sampled[n] = source_sampled;
		has_dc[n] = dc;
		ps[n++] = session;
	}
	/* A session whose latency is its own effect's does not vote (shedding
	 * the others would not help it, and a noisy neighbour must not slow the
	 * machine): held for frames over the per-frame budget, or frames that
	 * cost half its budget at the worker and four times the cheapest
	 * session's. Not the fair share's throttling alone: under overload every
	 * session is throttled to its share, and that is the machine's load. */
	double cheapest = 0;
	for(size_t j = 0; j < n; j++)
		if(costs[j] > 0 && (cheapest == 0 || costs[j] < cheapest))
			cheapest = costs[j];
	for(size_t j = 0; j < n; j++)
		p[j].own_cause = costs[j] < 0 || (costs[j] >= p[j].budget_ms * 500.0 && cheapest > 0 && costs[j] >= 4 * cheapest);
	latency_fleet.demand_workers = demand;
	latency_fleet.workers = workers;
	unsigned old_level = latency_fleet.level;
	ooblex_latency_change change = ooblex_latency_fleet_step(&latency_fleet, p, n, now);
	unsigned level = latency_fleet.level, k = latency_fleet.n_skip_levels;
	if(change != OOBLEX_LATENCY_KEPT)
		JANUS_LOG(LOG_INFO, "Ooblex: latency budget: %s, level %u -> %u "
			"(%s, frame skip %u; worst p95 %.0f%% of its budget, %zu sessions)\n", change == OOBLEX_LATENCY_SHED ?
			"shedding" : change == OOBLEX_LATENCY_RESTORED ? "restoring" : "restoring (sessions left)", old_level,
			level, ooblex_latency_step_name(ooblex_latency_level_step(&latency_fleet, level)),
			ooblex_latency_level_skip(&latency_fleet, level), latency_fleet.worst_ratio * 100, n);
	unsigned shedding = 0;
	for(size_t j = 0; j < n; j++) {
		janus_ooblex_session *session = ps[j];
		unsigned fs = p[j].frame_skip, eff = p[j].effective_skip;
		/* The sender's part, for browsers that promised source sampling:
		 * they send only the frames processed at every frame-skip step
		 * (latency_budget.h), and half the resolution at the last step. */
		unsigned s_skip = fs, s_scale = 1;
		if(sampled[j])
			s_skip = eff;
		if(sampled[j] && level >= k + 2)
			s_scale = 2;
		if(s_skip != session->lat.sender_skip || s_scale != session->lat.sender_scale) {
			if(has_dc[j])
				janus_ooblex_tell_sender(session, level, s_skip, s_scale);
			session->lat.sender_skip = s_skip;
			session->lat.sender_scale = s_scale;
		}
		atomic_store(&session->sender_skip, sampled[j] ? s_skip : 0);
		/* What reaches the sampler is already sampled by the browser (source
		 * sampling: every s_skip-th camera frame) or by the sampler itself
		 * (full rate: every frame_skip-th); the rest of the effective skip
		 * is the ingest's. */
		unsigned in_skip = sampled[j] ? s_skip : fs;
		unsigned milli = (unsigned)((uint64_t)eff * 1000 / (in_skip ? in_skip : 1));
		atomic_store(&session->latency_skip_milli, milli > 1000 ? milli : 0);
		/* REMB: half of what the browser sent when the step came, repeated
		 * every second while it holds (browsers forget an old one). */
		if(level >= k + 1) {
			if(session->lat.remb_bps == 0) {
				double half = session->lat.rx_bps / 2;
				session->lat.remb_bps = half > JANUS_OOBLEX_LATENCY_REMB_MIN_BPS ? (uint32_t)MIN(half, 1e9) :
					JANUS_OOBLEX_LATENCY_REMB_MIN_BPS;
				session->lat.remb_at = 0;
			}
			if(session->lat.remb_at == 0 || mono - session->lat.remb_at >= G_TIME_SPAN_SECOND) {
				gateway->send_remb(session->handle, session->lat.remb_bps);
				session->lat.remb_at = mono;
			}
		} else if(session->lat.remb_bps != 0) {
			gateway->send_remb(session->handle, JANUS_OOBLEX_LATENCY_REMB_LIFT_BPS);
			session->lat.remb_bps = 0;
		}
		gboolean is_shedding = eff > fs || level > k;
		shedding += is_shedding;
		atomic_store(&session->lat_p95_milli, (unsigned)MIN(p[j].p95_ms * 1000, 4e9));
		atomic_store(&session->lat_waiting_p95_milli, (unsigned)MIN(p[j].waiting_p95_ms * 1000, 4e9));
		atomic_store(&session->lat_samples, p[j].samples);
		atomic_store(&session->lat_level, level);
		atomic_store(&session->lat_effective_skip, eff);
		atomic_store(&session->lat_remb_kbps, session->lat.remb_bps / 1000);
		atomic_store(&session->lat_sender_skip, s_skip);
		atomic_store(&session->lat_sender_scale, s_scale);
		atomic_store(&session->lat_flags, JANUS_OOBLEX_LATENCY_FLAG_ON | (p[j].voted ? JANUS_OOBLEX_LATENCY_FLAG_VOTED : 0) |
			(p[j].own_cause ? JANUS_OOBLEX_LATENCY_FLAG_OWN : 0) | (is_shedding ? JANUS_OOBLEX_LATENCY_FLAG_SHEDDING : 0));
		/* Told to the page when what it gets changes. */
		if(level != session->lat.told_level || eff != session->lat.told_skip) {
			const char *action = level > session->lat.told_level || eff > session->lat.told_skip ? "shed" : "restore";
			session->lat.told_level = level;
			session->lat.told_skip = eff;
			if(!g_atomic_int_get(&session->destroyed) && !g_atomic_int_get(&session->hangingup)) {
				json_t *lat = janus_ooblex_latency_json(session, p[j].budget_ms, fs);
				json_object_set_new(lat, "action", json_string(action));
				json_t *event = json_pack("{ssso}", "ooblex", "event", "latency", lat);
				gateway->push_event(session->handle, &janus_ooblex_plugin, NULL, event, NULL);
				json_decref(event);
			}
		}
	}
	atomic_store(&latency_level_now, level);
	atomic_store(&latency_shedding_now, shedding);
	atomic_store(&latency_common_skip_now, ooblex_latency_level_skip(&latency_fleet, level));
	for(int st = 0; st < OOBLEX_LATENCY_STEP_COUNT; st++)
		for(int d = 0; d < 2; d++)
			atomic_store(&latency_steps_now[st][d], latency_fleet.steps[st][d]);
	atomic_store(&latency_vetoed_now, latency_fleet.vetoed);
	atomic_store(&latency_restore_hold_us_now, latency_fleet.restore_hold_us);
	g_free(p);
	g_free(wins);
	g_free(ps);
	g_free(sampled);
	g_free(has_dc);
	g_free(costs);
}

/* Admission of a start with this effect (docs/api.md "Admission"): refused
 * while Janus uses admission_cpu_percent of the CPUs, degraded (frame_skip
 * raised, said in the response) while the fleet serving its queue is asked
 * for admission_fleet_percent of its workers or more. Measured by the last
 * fair pass; the queue's workers, when it had none, come from the fleet's
 * last look. */
static ooblex_admission_verdict janus_ooblex_admit(const char *effect, unsigned *frame_skip, ooblex_admission_input *in) {
	char queue[OOBLEX_KEY_MAX];
	ooblex_fleet *fleet = ooblex_reader_get_fleet(reader);
	ooblex_fleet_queue_for(fleet, effect, queue, sizeof(queue));
	unsigned remote_clients = 0;
	double remote_demand = 0;
	unsigned workers = ooblex_fleet_queue_share(fleet, queue, &remote_clients, &remote_demand);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	g_mutex_lock(&fair_lock);
	const ooblex_fair_queue_seen *seen = fair_queues ? g_hash_table_lookup(fair_queues, queue) : NULL;
	in->cpu_busy = fair_cpu_busy;
	in->fleet_demand = seen ? seen->demand : remote_demand;
	g_mutex_unlock(&fair_lock);
	in->cpus = cpus > 0 ? (unsigned)cpus : 1;
	in->cpu_limit_percent = settings.admission_cpu_percent;
	in->fleet_workers = workers;
	in->fleet_limit_percent = settings.admission_fleet_percent;
	in->frame_skip = *frame_skip;
	in->max_frame_skip = settings.admission_max_frame_skip;
	return ooblex_admission_decide(in, frame_skip);
}

/* Reader thread, between results: gaps whose wait ran out are skipped, and
 * each session's fleet watch looks at the fleet's last look.
 * References are taken under sessions_mutex, the work is done outside it. */
static void janus_ooblex_on_tick(void *user) {
	(void)user;
	GList *list = NULL;
	janus_mutex_lock(&sessions_mutex);
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, clients);
	while(g_hash_table_iter_next(&it, NULL, &value)) {
		janus_ooblex_session *session = value;
		janus_refcount_increase(&session->ref);
		list = g_list_prepend(list, session);
	}
	janus_mutex_unlock(&sessions_mutex);
	uint64_t fleet_gen = 0;
	ooblex_fleet_caps *caps = list != NULL ? ooblex_reader_fleet_caps(reader, &fleet_gen) : NULL;
	gint64 now = g_get_monotonic_time();
	for(GList *l = list; l != NULL; l = l->next) {
		janus_ooblex_session *session = l->data;
		ooblex_egress_tick(session->egress);
		ooblex_fleet_verdict verdict = OOBLEX_FLEET_RUNNABLE;
		char why[512], effect[OOBLEX_FLEET_WATCH_EFFECT_MAX + 1];
		ooblex_fleet_tell tell = ooblex_fleet_watch_step(&session->fleet_watch, caps, fleet_gen, now, &verdict,
			why, sizeof(why), effect, sizeof(effect));
		if(tell != OOBLEX_FLEET_TELL_NOTHING)
			janus_ooblex_tell_fleet(session, tell, verdict, why, effect, ooblex_fleet_caps_workers(caps));
	}
	janus_ooblex_fair_pass(list);
	for(GList *l = list; l != NULL; l = l->next)
		janus_refcount_decrease(&((janus_ooblex_session *)l->data)->ref);
	ooblex_fleet_caps_unref(caps);
	g_list_free(list);
}

/* ----------------------------------------------------------------- ingest */

static void janus_ooblex_ingest_keyframe(void *user) {
	janus_ooblex_session *session = user;
	if(!g_atomic_int_get(&session->destroyed))
		gateway->send_pli(session->handle);
}

static void janus_ooblex_ingest_frame(uint8_t *msg, size_t len, void *user) {
	janus_ooblex_session *session = user;
	if(ooblex_producer_push_frame(producer, reader, msg, len) == 0)
		atomic_fetch_add(&session->frames_queued, 1);
	else
		atomic_fetch_add(&session->frames_dropped_queue, 1);
}

static void janus_ooblex_ingest_stopped(void *user) {
	janus_ooblex_session *session = user;
	janus_refcount_decrease(&session->ref);	/* taken when the ingest started */
	atomic_fetch_sub(&live_ingests, 1);
}

/* Ends processing for a session: ingest stopped, results no longer read.
 * Safe to call more than once, from any thread. */
static void janus_ooblex_stop_processing(janus_ooblex_session *session) {
	janus_mutex_lock(&session->mutex);
	gboolean was_started = session->started;
	session->started = FALSE;
	if(session->ingest != NULL) {
		ooblex_ingest_stop(session->ingest);	/* asynchronous */
		session->ingest = NULL;
	}
	janus_mutex_unlock(&session->mutex);
	ooblex_fleet_watch_stop(&session->fleet_watch);
	if(!was_started)
		return;
	janus_mutex_lock(&sessions_mutex);
	g_hash_table_remove(clients, session->client_hex);
	janus_mutex_unlock(&sessions_mutex);
	ooblex_reader_unwatch(reader, session->result_key);
	/* The reorder buffer stays (with its counters) until the next start or
	 * the session's end: stats read after a stop still add up. */
	ooblex_egress_stop(session->egress);	/* joins the video thread: a frame's encode at most */
}

/* ---------------------------------------------------------------- metrics */

/* A snapshot of a session's counters (counters.h): the one place that reads
 * them, for its stats, the plugin's totals and Prometheus. The reorder
 * buffer's come from snap, the egress's state taken under its lock. */
static void janus_ooblex_counters_read(janus_ooblex_session *session, const ooblex_egress_snapshot *snap,
		uint64_t out[OOBLEX_C_COUNT]) {
	const ooblex_ingest_stats *is = &session->ingest_stats;
	const ooblex_egress_stats *es = ooblex_egress_get_stats(session->egress);
	memset(out, 0, OOBLEX_C_COUNT * sizeof(out[0]));
	out[OOBLEX_C_PACKETS_RECEIVED] = atomic_load(&is->packets_received);
	out[OOBLEX_C_PACKETS_DROPPED] = atomic_load(&is->packets_dropped);
	out[OOBLEX_C_PACKETS_MALFORMED] = atomic_load(&is->packets_malformed);
	out[OOBLEX_C_PACKETS_LOST] = atomic_load(&is->packets_lost);
	out[OOBLEX_C_PACKETS_LATE] = atomic_load(&is->packets_late);
	out[OOBLEX_C_PACKETS_DUPLICATE] = atomic_load(&is->packets_duplicate);
	out[OOBLEX_C_FRAMES_ASSEMBLED] = atomic_load(&is->frames_assembled);
	out[OOBLEX_C_FRAMES_INCOMPLETE] = atomic_load(&is->frames_incomplete);
	out[OOBLEX_C_FRAMES_OVER_CAP] = atomic_load(&is->frames_over_cap);
	out[OOBLEX_C_FRAMES_PICTURE_TOO_LARGE] = atomic_load(&is->frames_too_large);
	out[OOBLEX_C_KEYFRAMES_OVER_BUDGET] = atomic_load(&is->keyframes_over_budget);
	out[OOBLEX_C_FRAMES_DECODED] = atomic_load(&is->frames_decoded);
	out[OOBLEX_C_DECODE_ERRORS] = atomic_load(&is->decode_errors);
	out[OOBLEX_C_FRAMES_SAMPLED] = atomic_load(&is->frames_sampled);
	out[OOBLEX_C_FRAMES_DEFERRED] = atomic_load(&is->frames_deferred);
	out[OOBLEX_C_FRAMES_DEFERRED_FAIR] = atomic_load(&is->frames_deferred_fair);
	out[OOBLEX_C_FRAMES_SHED_LATENCY] = atomic_load(&is->frames_shed_latency);
	out[OOBLEX_C_FRAMES_OVER_SENDER_RATE] = atomic_load(&is->frames_over_sender_rate);
	out[OOBLEX_C_FRAMES_UNSUPPORTED] = atomic_load(&is->frames_unsupported);
	out[OOBLEX_C_KEYFRAMES_REQUESTED] = atomic_load(&is->keyframes_requested);
	out[OOBLEX_C_INGEST_WAKEUPS] = atomic_load(&is->wakeups);
	out[OOBLEX_C_FRAMES_QUEUED] = atomic_load(&session->frames_queued);
	out[OOBLEX_C_FRAMES_DROPPED_QUEUE_FULL] = atomic_load(&session->frames_dropped_queue);
	out[OOBLEX_C_RESULTS] = atomic_load(&es->results);
	out[OOBLEX_C_REFUSED_OVERSIZED] = atomic_load(&es->results_refused[OOBLEX_RESULT_OVERSIZED]);
	out[OOBLEX_C_REFUSED_MALFORMED] = atomic_load(&es->results_refused[OOBLEX_RESULT_MALFORMED]);
	out[OOBLEX_C_REFUSED_PICTURE_TOO_BIG] = atomic_load(&es->results_refused[OOBLEX_RESULT_TOO_BIG_PICTURE]);
	out[OOBLEX_C_REFUSED_UNSIGNED] = atomic_load(&es->results_refused[OOBLEX_RESULT_UNSIGNED]);
	out[OOBLEX_C_REFUSED_BAD_MAC] = atomic_load(&es->results_refused[OOBLEX_RESULT_BAD_MAC]);
	out[OOBLEX_C_REFUSED_UNEXPECTED] = atomic_load(&es->results_refused[OOBLEX_RESULT_UNEXPECTED]);
	out[OOBLEX_C_RESULTS_ERROR] = atomic_load(&es->results_error);
	out[OOBLEX_C_ERRORS_RESOLVED] = atomic_load(&es->errors_resolved);
	out[OOBLEX_C_WORKER_US] = atomic_load(&es->worker_us_total);
	out[OOBLEX_C_FRAMES_OVER_BUDGET] = atomic_load(&es->frames_over_budget);
	out[OOBLEX_C_FRAMES_SENT] = atomic_load(&es->frames_sent);
	out[OOBLEX_C_CHUNKS_SENT] = atomic_load(&es->chunks_sent);
	out[OOBLEX_C_DC_BYTES_SENT] = atomic_load(&es->dc_bytes_sent);
	out[OOBLEX_C_FRAMES_DROPPED_CHANNEL] = atomic_load(&es->dropped_channel);
	out[OOBLEX_C_FRAMES_DROPPED_BACKPRESSURE] = atomic_load(&es->dropped_backpressure);
	out[OOBLEX_C_BAD_ACKS] = atomic_load(&es->bad_acks);
	out[OOBLEX_C_DATA_READY_EVENTS] = atomic_load(&es->data_ready_events);
	out[OOBLEX_C_REORDER_DELIVERED] = snap->reorder.delivered;
	out[OOBLEX_C_REORDER_LATE] = snap->reorder.late;
	out[OOBLEX_C_REORDER_DUPLICATES] = snap->reorder.duplicates;
	out[OOBLEX_C_REORDER_SKIPPED] = snap->reorder.skipped;
	ooblex_counters_derive(out);
}

/* Adds what a session's counters grew by since the last look to the
 * plugin's totals. Caller holds the session's metrics_mutex. */
static void janus_ooblex_metrics_take(janus_ooblex_session *session) {
	uint64_t now[OOBLEX_C_COUNT];
	ooblex_egress_snapshot snap;
	ooblex_egress_snapshot_take(session->egress, &snap);
	janus_ooblex_counters_read(session, &snap, now);
	ooblex_plugin_metrics_accumulate(metrics, &session->metrics_seen, now);
}

/* Every session's counters into the plugin's totals. Caller holds sessions_mutex. */
static void janus_ooblex_metrics_take_all(void) {
	if(sessions == NULL)
		return;
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, sessions);
	while(g_hash_table_iter_next(&it, NULL, &value)) {
		janus_ooblex_session *session = value;
		janus_mutex_lock(&session->metrics_mutex);
		janus_ooblex_metrics_take(session);
		janus_mutex_unlock(&session->metrics_mutex);
	}
}

/* Once a second: every session's counters into the totals, then the file. */
static gpointer janus_ooblex_metrics_thread(gpointer data) {
	(void)data;
	int failed = 0;
	g_mutex_lock(&metrics_wake_lock);
	while(!g_atomic_int_get(&stopping)) {
		g_mutex_unlock(&metrics_wake_lock);
		ooblex_plugin_gauges g;
		memset(&g, 0, sizeof(g));
		janus_mutex_lock(&sessions_mutex);
		if(sessions != NULL) {
			g.sessions = g_hash_table_size(sessions);
			g.processing = clients ? g_hash_table_size(clients) : 0;
		}
		janus_ooblex_metrics_take_all();
		janus_mutex_unlock(&sessions_mutex);
		g.sessions_started = atomic_load(&total_sessions_started);
		GPtrArray *workers = ooblex_reader_fleet(reader, &g.queue_length, &g.fleet_dropped_stale);
		g.live_workers = workers->len;
		g_ptr_array_unref(workers);
		g.n_routed = ooblex_reader_routed(reader, g.routed, OOBLEX_MAX_ROUTES);
		const ooblex_producer_stats *ps = ooblex_producer_get_stats(producer);
		g.producer_connected = atomic_load(&ps->connected);
		g.reader_connected = atomic_load(&ooblex_reader_get_stats(reader)->connected);
		g.redis_pending = ooblex_producer_pending(producer);
		g.redis_dropped_error = atomic_load(&ps->dropped_error);
		g.latency_shedding = atomic_load(&latency_shedding_now);
		g.latency_level = atomic_load(&latency_level_now);
		for(int st = 0; st < OOBLEX_LATENCY_STEP_COUNT; st++)
			for(int d = 0; d < 2; d++)
				g.latency_steps[st][d] = atomic_load(&latency_steps_now[st][d]);
		if(ooblex_plugin_metrics_write(metrics, &g) < 0 && !failed) {
			failed = 1;
			JANUS_LOG(LOG_ERR, "Ooblex: cannot write %s: %s (metrics are not exported)\n",
				ooblex_plugin_metrics_path(metrics), g_strerror(errno));
		}
		g_mutex_lock(&metrics_wake_lock);
		gint64 until = g_get_monotonic_time() + G_TIME_SPAN_SECOND;
		while(!g_atomic_int_get(&stopping) && g_cond_wait_until(&metrics_wake, &metrics_wake_lock, until))
			;
	}
	g_mutex_unlock(&metrics_wake_lock);
	return NULL;
}

/* -------------------------------------------------------- plugin methods */

int janus_ooblex_init(janus_callbacks *callback, const char *config_path) {
	if(g_atomic_int_get(&stopping))
		return -1;
	if(callback == NULL || config_path == NULL)
		return -1;
	janus_ooblex_load_settings(config_path);
	ooblex_latency_config lcfg;
	ooblex_latency_config_default(&lcfg);
	lcfg.max_auto_frame_skip = settings.max_auto_frame_skip;
	ooblex_latency_fleet_init(&latency_fleet, &lcfg);
	char redis_where[400];
	JANUS_LOG(LOG_INFO, "Ooblex: Redis %s, frame_skip %u, effect %s, frames as %s up to %ux%u, "
		"max %u in flight, jpeg quality %u, reorder wait %u ms\n",
		ooblex_redis_config_describe(&settings.redis, redis_where, sizeof(redis_where)),
		settings.frame_skip, settings.effect, ooblex_pixfmt_name(settings.frame_format), settings.max_width,
		settings.max_height, settings.max_in_flight, settings.jpeg_quality, settings.reorder_wait_ms);

	sessions = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)janus_ooblex_session_destroy);
	clients = g_hash_table_new(g_str_hash, g_str_equal);
	messages = g_async_queue_new_full((GDestroyNotify)janus_ooblex_message_free);
	gateway = callback;

	/* Both Redis threads connect in the background and retry with backoff:
	 * Janus starts even when Redis is not up yet. */
	char err[256];
	if(settings.fleet_secret_len < 0) {
		JANUS_LOG(LOG_ERR, "Ooblex: the fleet secret is unusable (see above); not starting\n");
		return -1;
	}
	ooblex_result_limits limits = {
		.max_bytes = settings.max_result_bytes,
		.max_width = settings.max_width,
		.max_height = settings.max_height,
		.secret = settings.fleet_secret_len > 0 ? settings.fleet_secret : NULL,
		.secret_len = settings.fleet_secret_len > 0 ? (size_t)settings.fleet_secret_len : 0,
	};
	result_gate = ooblex_result_gate_new(&limits);
	if(result_gate == NULL)
		g_snprintf(err, sizeof(err), "cannot set up the result checks");
	if(settings.fleet_secret_len > 0)
		JANUS_LOG(LOG_INFO, "Ooblex: results must be signed with the fleet secret\n");
	else
		JANUS_LOG(LOG_WARN, "Ooblex: no fleet_secret: any Redis client can deliver results to pages (see README, \"Fleet secret\")\n");
	producer = result_gate ? ooblex_producer_start(&settings.redis, settings.max_pending_frames, janus_ooblex_redis_log,
		err, sizeof(err)) : NULL;
	if(producer != NULL)
		reader = ooblex_reader_start(&settings.redis, 20, janus_ooblex_on_result, janus_ooblex_on_tick, NULL,
			janus_ooblex_redis_log, err, sizeof(err));
	if(reader != NULL)
		ooblex_reader_set_max_result(reader, settings.max_result_bytes);
	if(producer == NULL || reader == NULL) {
		JANUS_LOG(LOG_ERR, "Ooblex: %s\n", err);
		ooblex_result_gate_free(result_gate);
		result_gate = NULL;
		ooblex_producer_stop(producer);
		producer = NULL;
		g_async_queue_unref(messages);
		g_hash_table_destroy(clients);
		g_hash_table_destroy(sessions);
		return -1;
	}
	metrics = ooblex_plugin_metrics_new(settings.metrics_dir, settings.metrics_instance);
	g_atomic_int_set(&initialized, 1);
	GError *error = NULL;
	if(ooblex_plugin_metrics_path(metrics) != NULL) {
		metrics_thread = g_thread_try_new("ooblex metrics", janus_ooblex_metrics_thread, NULL, &error);
		if(error != NULL) {
			JANUS_LOG(LOG_ERR, "Ooblex: no metrics thread (%s); metrics are not exported\n", error->message);
			g_clear_error(&error);
		} else {
			JANUS_LOG(LOG_INFO, "Ooblex: Prometheus metrics in %s every second\n", ooblex_plugin_metrics_path(metrics));
		}
	}
	handler_thread = g_thread_try_new("ooblex handler", janus_ooblex_handler, NULL, &error);
	if(error != NULL) {
		g_atomic_int_set(&initialized, 0);
		JANUS_LOG(LOG_ERR, "Got error %d (%s) trying to launch the Ooblex handler thread...\n",
			error->code, error->message ? error->message : "??");
		g_error_free(error);
		ooblex_reader_stop(reader);
		ooblex_producer_stop(producer);
		reader = NULL;
		producer = NULL;
		ooblex_result_gate_free(result_gate);
		result_gate = NULL;
		return -1;
	}
	JANUS_LOG(LOG_INFO, "%s initialized!\n", JANUS_OOBLEX_NAME);
	return 0;
}

void janus_ooblex_destroy(void) {
	if(!g_atomic_int_get(&initialized))
		return;
	g_atomic_int_set(&stopping, 1);

	g_async_queue_push(messages, &exit_message);
	if(handler_thread != NULL) {
		g_thread_join(handler_thread);
		handler_thread = NULL;
	}
	if(metrics_thread != NULL) {
		g_mutex_lock(&metrics_wake_lock);
		g_cond_signal(&metrics_wake);
		g_mutex_unlock(&metrics_wake_lock);
		g_thread_join(metrics_thread);
		metrics_thread = NULL;
	}
	/* A stopped plugin's series go with it. */
	ooblex_plugin_metrics_remove(metrics);
	/* Stop every session's processing while the Redis threads still run. */
	GList *list = NULL;
	janus_mutex_lock(&sessions_mutex);
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, sessions);
	while(g_hash_table_iter_next(&it, NULL, &value)) {
		janus_refcount_increase(&((janus_ooblex_session *)value)->ref);
		list = g_list_prepend(list, value);
	}
	janus_mutex_unlock(&sessions_mutex);
	for(GList *l = list; l != NULL; l = l->next) {
		janus_ooblex_stop_processing(l->data);
		janus_refcount_decrease(&((janus_ooblex_session *)l->data)->ref);
	}
	g_list_free(list);
	/* Ingest threads end asynchronously and may still hand a frame to the
	 * producer: wait for them (a decode takes milliseconds) before it goes. */
	for(int i = 0; i < 300 && atomic_load(&live_ingests) > 0; i++)
		g_usleep(10000);
	ooblex_reader_stop(reader);
	reader = NULL;
	ooblex_result_gate_free(result_gate);
	result_gate = NULL;
	janus_mutex_lock(&sessions_mutex);
	g_hash_table_destroy(clients);
	clients = NULL;
	g_hash_table_destroy(sessions);
	sessions = NULL;
	janus_mutex_unlock(&sessions_mutex);
	if(atomic_load(&live_ingests) == 0) {
		ooblex_producer_stop(producer);
		producer = NULL;
	} else {
		JANUS_LOG(LOG_WARN, "Ooblex: %d decode threads still busy at shutdown; leaving the Redis producer to the exit\n",
			(int)atomic_load(&live_ingests));
	}
	g_async_queue_unref(messages);
	messages = NULL;
	ooblex_plugin_metrics_free(metrics);
	metrics = NULL;
	g_mutex_lock(&fair_lock);
	if(fair_queues != NULL)
		g_hash_table_destroy(fair_queues);
	fair_queues = NULL;
	g_mutex_unlock(&fair_lock);
	g_atomic_int_set(&initialized, 0);
	g_atomic_int_set(&stopping, 0);
	JANUS_LOG(LOG_INFO, "%s destroyed!\n", JANUS_OOBLEX_NAME);
}

int janus_ooblex_get_api_compatibility(void) {
	/* Important! This is what your plugin MUST always return: don't lie here or bad things will happen */
	return JANUS_PLUGIN_API_VERSION;
}

int janus_ooblex_get_version(void) {
	return JANUS_OOBLEX_VERSION;
}

const char *janus_ooblex_get_version_string(void) {
	return JANUS_OOBLEX_VERSION_STRING;
}

const char *janus_ooblex_get_description(void) {
	return JANUS_OOBLEX_DESCRIPTION;
}

const char *janus_ooblex_get_name(void) {
	return JANUS_OOBLEX_NAME;
}

const char *janus_ooblex_get_author(void) {
	return JANUS_OOBLEX_AUTHOR;
}

const char *janus_ooblex_get_package(void) {
	return JANUS_OOBLEX_PACKAGE;
}

void janus_ooblex_create_session(janus_plugin_session *handle, int *error) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized)) {
		*error = -1;
		return;
	}
	janus_ooblex_session *session = g_malloc0(sizeof(janus_ooblex_session));
	session->handle = handle;
	janus_mutex_init(&session->mutex);
	janus_mutex_init(&session->metrics_mutex);
	ooblex_fleet_watch_init(&session->fleet_watch);
	session->frame_skip = settings.frame_skip;
	g_strlcpy(session->effect, settings.effect, sizeof(session->effect));
	g_mutex_init(&session->latency_lock);
	session->latency_budget_ms = settings.latency_budget_ms;
	ooblex_egress_config ecfg = {
		.gate = result_gate,
		.reorder_wait_ms = settings.reorder_wait_ms,
		.reorder_adaptive = settings.reorder_adaptive,
		.reorder_min_wait_ms = settings.reorder_min_wait_ms,
		.dc_max_unacked_frames = settings.dc_max_unacked_frames,
		.video_bitrate_bps = (int)settings.video_bitrate_kbps * 1000,
		.video_fps = 30,
		.video_max_width = settings.max_decode_width,
		.video_max_height = settings.max_decode_height,
		.full_range = &session->ingest_stats.full_range,
		.frame_budget_ms = settings.frame_budget_ms,
	};
	session->egress = ooblex_egress_new(&ecfg, &janus_ooblex_egress_host, session);
	janus_refcount_init(&session->ref, janus_ooblex_session_free);
	handle->plugin_handle = session;
	janus_mutex_lock(&sessions_mutex);
	g_hash_table_insert(sessions, handle, session);
	janus_mutex_unlock(&sessions_mutex);
}

void janus_ooblex_destroy_session(janus_plugin_session *handle, int *error) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized)) {
		*error = -1;
		return;
	}
	janus_mutex_lock(&sessions_mutex);
	janus_ooblex_session *session = janus_ooblex_lookup_session(handle);
	if(!session) {
		janus_mutex_unlock(&sessions_mutex);
		JANUS_LOG(LOG_ERR, "No Ooblex session associated with this handle...\n");
		*error = -2;
		return;
	}
	janus_refcount_increase(&session->ref);
	janus_mutex_unlock(&sessions_mutex);
	JANUS_LOG(LOG_VERB, "Removing Ooblex session...\n");
	janus_ooblex_stop_processing(session);
	janus_mutex_lock(&sessions_mutex);
	/* Its counts stay in the totals after it leaves the table. */
	janus_mutex_lock(&session->metrics_mutex);
	janus_ooblex_metrics_take(session);
	janus_mutex_unlock(&session->metrics_mutex);
	g_hash_table_remove(sessions, handle);
	janus_mutex_unlock(&sessions_mutex);
	janus_refcount_decrease(&session->ref);
}

/* Counters of one session, for query_session and the "stats" request. The
 * ingest's counters are atomics: this never waits on the media path. */
static json_t *janus_ooblex_session_stats(janus_ooblex_session *session) {
	json_t *info = json_object();
	janus_mutex_lock(&session->mutex);
	json_object_set_new(info, "started", session->started ? json_true() : json_false());
	if(session->started)
		json_object_set_new(info, "client_id", json_string(session->client_hex));
	json_object_set_new(info, "effect", json_string(session->effect));
	json_object_set_new(info, "frame_skip", json_integer(session->frame_skip));
	json_object_set_new(info, "source_sampled", json_boolean(session->source_sampled));
	if(session->started)
		json_object_set_new(info, "codec", json_string(ooblex_codec_name(session->codec)));
	unsigned lat_budget = session->latency_budget_ms, lat_skip = session->frame_skip;
	janus_mutex_unlock(&session->mutex);
	/* The latency budget, as the last fair pass applied it. */
	json_object_set_new(info, "latency", janus_ooblex_latency_json(session, lat_budget, lat_skip));
	json_object_set_new(info, "data_channel_ready", json_boolean(ooblex_egress_channel_open(session->egress)));
	ooblex_egress_snapshot snap;
	ooblex_egress_snapshot_take(session->egress, &snap);
	uint64_t counters[OOBLEX_C_COUNT];
	janus_ooblex_counters_read(session, &snap, counters);
	ooblex_counters_json(info, OOBLEX_VIEW_STATS, counters);	/* "frames", "reorder" */
	json_object_set_new(info, "output", json_string(janus_ooblex_output_name(snap.output)));
	/* What the workers are asked to answer frames sampled now with. */
	json_object_set_new(info, "reply_format", json_string(ooblex_pixfmt_name(janus_ooblex_reply_pixfmt(snap.output))));
	if(snap.video_running) {
		const ooblex_egress_video_counts *vs = &snap.video;
		json_object_set_new(info, "video_output", json_pack("{sIsIsIsIsIsIsIsIsisisfsf}",
			"frames_in", (json_int_t)vs->frames_in,
			"frames_sent", (json_int_t)vs->frames_sent,
			"frames_dropped", (json_int_t)vs->frames_dropped,
			"frames_failed", (json_int_t)vs->frames_failed,
			"keyframes", (json_int_t)vs->keyframes,
			"keyframe_requests", (json_int_t)vs->keyframe_requests,
			"packets", (json_int_t)vs->packets,
			"bytes", (json_int_t)vs->bytes,
			"bitrate_bps", vs->bitrate_bps,
			"max_packet", (int)vs->max_packet_seen,
			"encode_ms_avg", vs->frames_sent ? vs->encode_us_total / 1000.0 / vs->frames_sent : 0.0,
			"jpeg_decode_ms_avg", vs->frames_sent ? vs->decode_us_total / 1000.0 / vs->frames_sent : 0.0));
	}
	if(snap.started) {
		/* Beside its counters: what it holds now, and its wait. */
		json_t *reorder = json_object_get(info, "reorder");
		json_object_set_new(reorder, "held", json_integer((json_int_t)snap.reorder_held));
		json_object_set_new(reorder, "wait_ms", json_real(snap.reorder_wait_us / 1000.0));
	}
	if(snap.video_running) {
		/* The video track's rate from the browser's feedback (send_rate.h). */
		const ooblex_send_rate *sr = &snap.send_rate;
		json_object_set_new(info, "send_rate", json_pack("{sisisisfsIsIsI}",
			"target_kbps", snap.send_rate_target_bps / 1000,
			"loss_based_kbps", (int)(sr->loss_bps / 1000),
			"remb_kbps", (int)(sr->remb_bps / 1000),
			"fraction_lost", sr->last_fraction_lost / 256.0,
			"reports", (json_int_t)sr->reports,
			"decreases", (json_int_t)sr->decreases,
			"increases", (json_int_t)sr->increases));
	}
	json_object_set_new(info, "effective_fps", json_integer(snap.effective_fps));
	/* Its fair share of the fleet (fair_share.h), as the last fair pass saw it. */
	ooblex_fair_reason fr = (ooblex_fair_reason)atomic_load(&session->fair.reason);
	json_object_set_new(info, "fair", json_pack("{sbsssisfsfsfsfsfsi}", "throttled", fr != OOBLEX_FAIR_FREE,
		"reason", ooblex_fair_reason_name(fr),
		"max_in_flight", (int)atomic_load(&session->fair_cap),
		"min_interval_ms", atomic_load(&session->fair_interval_us) / 1000.0,
		"frame_cost_ms", atomic_load(&session->fair.cost_us_now) / 1000.0,
		"due_fps", atomic_load(&session->fair.due_fps_milli) / 1000.0,
		"share", atomic_load(&session->fair.share_milli) / 1000.0,
		"demand", atomic_load(&session->fair.demand_milli) / 1000.0,
		"budget_ms", (int)settings.frame_budget_ms));
	json_t *latency = json_object();
	for(int st = 0; st < OOBLEX_STAGE_COUNT; st++) {
		const ooblex_stage_summary *sum = &snap.latency[st];
		json_object_set_new(latency, ooblex_stage_name((ooblex_stage)st), json_pack("{sfsfsf}",
			"p50", sum->p50_ms, "p95", sum->p95_ms, "max", sum->max_ms));
	}
	/* Time inside libavcodec alone, a part of the decode stage. */
	uint64_t decoded = counters[OOBLEX_C_FRAMES_DECODED];
	json_object_set_new(latency, "decoder_avg", json_real(decoded ?
		atomic_load(&session->ingest_stats.decode_us_total) / 1000.0 / decoded : 0.0));
	json_object_set_new(info, "latency_ms", latency);
	json_object_set_new(info, "hangingup", json_integer(g_atomic_int_get(&session->hangingup)));
	json_object_set_new(info, "destroyed", json_integer(g_atomic_int_get(&session->destroyed)));
	return info;
}

json_t *janus_ooblex_query_session(janus_plugin_session *handle) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return NULL;
	janus_mutex_lock(&sessions_mutex);
	janus_ooblex_session *session = janus_ooblex_lookup_session(handle);
	if(!session) {
		janus_mutex_unlock(&sessions_mutex);
		JANUS_LOG(LOG_ERR, "No session associated with this handle...\n");
		return NULL;
	}
	janus_refcount_increase(&session->ref);
	janus_mutex_unlock(&sessions_mutex);
	json_t *info = janus_ooblex_session_stats(session);
	janus_refcount_decrease(&session->ref);
	return info;
}

/* Names a registry entry announced outside the effect grammar, each logged
 * once (at most 64 remembered; never freed: reachable until exit). A leaf
 * lock: nothing else is taken while it is held. */
static janus_mutex registry_names_mutex = JANUS_MUTEX_INITIALIZER;
static GHashTable *registry_names_logged;

/* A registry entry's "effects" or "routes" (when an array) with only the
 * names in the grammar (effect_grammar.h): a worker's text is not trusted,
 * and what list_effects and stats show must be names a page can ask for. */
static void janus_ooblex_registry_names(json_t *w, const char *field) {
	json_t *names = json_object_get(w, field);
	if(!json_is_array(names))
		return;
	json_t *kept = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v) {
		const char *name = json_string_value(v);
		char why[128];
		if(name != NULL && ooblex_effect_name_check(name, why, sizeof(why)) == 0) {
			json_array_append(kept, v);
			continue;
		}
		if(name == NULL)
			g_snprintf(why, sizeof(why), "not a string");
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		if(text != NULL && strlen(text) > 80)
			text[80] = '\0';	/* what is shown and remembered */
		janus_mutex_lock(&registry_names_mutex);
		if(registry_names_logged == NULL)
			registry_names_logged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		gboolean first = text != NULL && g_hash_table_size(registry_names_logged) < 64 &&
			!g_hash_table_contains(registry_names_logged, text);
		if(first)
			g_hash_table_add(registry_names_logged, g_strdup(text));
		janus_mutex_unlock(&registry_names_mutex);
		if(first)
			JANUS_LOG(LOG_WARN, "Ooblex: worker %.64s announces %s in its registry entry's %s: skipped (%s; logged once)\n",
				json_string_value(json_object_get(w, "id")), text, field, why);
		free(text);
	}
	json_object_set_new(w, field, kept);
}

/* The fleet as the reader last saw it: live workers (parsed registry
 * entries; malformed ones are skipped, and so are effect names outside
 * the grammar) and the input queue's length. */
static json_t *janus_ooblex_fleet(long long *queue_len, long long *dropped_stale) {
	GPtrArray *raw = ooblex_reader_fleet(reader, queue_len, dropped_stale);
	json_t *workers = json_array();
	for(guint i = 0; i < raw->len; i++) {
		json_t *w = json_loads(g_ptr_array_index(raw, i), 0, NULL);
		if(json_is_object(w) && json_is_string(json_object_get(w, "id")) && json_is_array(json_object_get(w, "effects"))) {
			janus_ooblex_registry_names(w, "effects");
			janus_ooblex_registry_names(w, "routes");
			json_array_append_new(workers, w);
		} else {
			json_decref(w);
		}
	}
	g_ptr_array_unref(raw);
	return workers;
}

/* list_effects: the union of what live workers offer, and who offers what. */
static json_t *janus_ooblex_list_effects(void) {
	long long qlen = 0, stale = 0;
	json_t *workers = janus_ooblex_fleet(&qlen, &stale);
	json_t *effects = json_array(), *seen = json_object();
	size_t i;
	json_t *w;
	json_array_foreach(workers, i, w) {
		size_t k;
		json_t *e;
		json_array_foreach(json_object_get(w, "effects"), k, e) {
			if(json_is_string(e) && json_object_get(seen, json_string_value(e)) == NULL) {
				json_object_set_new(seen, json_string_value(e), json_true());
				json_array_append(effects, e);
			}
		}
	}
	json_decref(seen);
	json_t *res = json_object();
	json_object_set_new(res, "ooblex", json_string("effects"));
	json_object_set_new(res, "effects", effects);
	json_object_set_new(res, "live_workers", json_integer((json_int_t)json_array_size(workers)));
	json_decref(workers);
	uint64_t gen = 0;
	ooblex_fleet_caps *caps = ooblex_reader_fleet_caps(reader, &gen);
	json_object_set_new(res, "models", ooblex_fleet_caps_models(caps));
	ooblex_fleet_caps_unref(caps);
	return res;
}

/* Plugin-wide stats: the Admin API's message_plugin {"request":"stats"}. */
static json_t *janus_ooblex_global_stats(void) {
	json_t *res = json_object();
	json_object_set_new(res, "ooblex", json_string("stats"));
	janus_mutex_lock(&sessions_mutex);
	json_object_set_new(res, "sessions", json_integer(sessions ? g_hash_table_size(sessions) : 0));
	json_object_set_new(res, "processing", json_integer(clients ? g_hash_table_size(clients) : 0));
	/* Up to date, as Prometheus' next write will be: the same totals. */
	janus_ooblex_metrics_take_all();
	janus_mutex_unlock(&sessions_mutex);
	uint64_t counters[OOBLEX_C_COUNT];
	ooblex_plugin_metrics_totals(metrics, counters);
	json_t *totals = json_object();
	json_object_set_new(totals, "sessions_started", json_integer((json_int_t)atomic_load(&total_sessions_started)));
	ooblex_counters_json(totals, OOBLEX_VIEW_TOTALS, counters);
	json_object_set_new(res, "totals", totals);
	json_t *redis = json_object();
	const ooblex_producer_stats *ps = ooblex_producer_get_stats(producer);
	json_object_set_new(redis, "producer_connected", json_boolean(atomic_load(&ps->connected)));
	json_object_set_new(redis, "reader_connected", json_boolean(atomic_load(&ooblex_reader_get_stats(reader)->connected)));
	json_object_set_new(redis, "pushed", json_integer((json_int_t)atomic_load(&ps->pushed)));
	json_object_set_new(redis, "dropped_error", json_integer((json_int_t)atomic_load(&ps->dropped_error)));
	json_object_set_new(redis, "pending", json_integer(ooblex_producer_pending(producer)));
	const ooblex_reader_stats *rds = ooblex_reader_get_stats(reader);
	json_object_set_new(redis, "results_oversized", json_integer((json_int_t)atomic_load(&rds->oversized)));
	json_object_set_new(redis, "registry_oversized", json_integer((json_int_t)atomic_load(&rds->registry_oversized)));
	json_object_set_new(redis, "routes_refused", json_integer((json_int_t)atomic_load(&rds->routes_refused)));
	json_object_set_new(res, "redis", redis);
	long long qlen = 0, stale = 0;
	json_t *workers = janus_ooblex_fleet(&qlen, &stale);
	json_object_set_new(res, "queue_length", json_integer(qlen));
	/* Effects that only some workers run, and how long their queues are. */
	ooblex_routed_queue routed[OOBLEX_MAX_ROUTES];
	size_t n_routed = ooblex_reader_routed(reader, routed, OOBLEX_MAX_ROUTES);
	json_t *routed_lens = json_object();
	for(size_t i = 0; i < n_routed; i++)
		json_object_set_new(routed_lens, routed[i].name, json_integer(routed[i].length));
	json_object_set_new(res, "routed_queues", routed_lens);
	json_object_set_new(res, "dropped_stale", json_integer(stale));
	json_object_set_new(res, "live_workers", json_integer((json_int_t)json_array_size(workers)));
	json_object_set_new(res, "workers", workers);
	/* The machine's latency-budget level (latency_budget.h): one for every session with a budget. */
	unsigned level = atomic_load(&latency_level_now);
	json_t *lat = json_object();
	json_object_set_new(lat, "budget_ms", json_integer(settings.latency_budget_ms));
	json_object_set_new(lat, "max_auto_frame_skip", json_integer(settings.max_auto_frame_skip));
	json_object_set_new(lat, "level", json_integer(level));
	json_object_set_new(lat, "step", json_string(ooblex_latency_step_name(ooblex_latency_level_step(&latency_fleet, level))));
	json_object_set_new(lat, "frame_skip_common", json_integer(atomic_load(&latency_common_skip_now)));
	json_object_set_new(lat, "sessions_shedding", json_integer(atomic_load(&latency_shedding_now)));
	json_object_set_new(lat, "restore_hold_ms", json_integer((json_int_t)(atomic_load(&latency_restore_hold_us_now) / 1000)));
	json_object_set_new(lat, "restores_vetoed", json_integer((json_int_t)atomic_load(&latency_vetoed_now)));
	json_t *steps = json_object();
	for(int st = OOBLEX_LATENCY_STEP_FRAME_SKIP; st < OOBLEX_LATENCY_STEP_COUNT; st++)
		json_object_set_new(steps, ooblex_latency_step_name((ooblex_latency_step)st), json_pack("{sIsI}",
			"shed", (json_int_t)atomic_load(&latency_steps_now[st][0]),
			"restore", (json_int_t)atomic_load(&latency_steps_now[st][1])));
	json_object_set_new(lat, "steps", steps);
	json_object_set_new(res, "latency", lat);
	return res;
}

static json_t *janus_ooblex_error(int code, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static json_t *janus_ooblex_error(int code, const char *fmt, ...) {
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	g_vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_t *event = json_object();
	json_object_set_new(event, "ooblex", json_string("event"));
	json_object_set_new(event, "error_code", json_integer(code));
	json_object_set_new(event, "error", json_string(text));
	return event;
}

/* The requests answered at once, for a handle's message (session set) and for
 * the Admin API's message_plugin (session NULL; message is the borrowed
 * "request", NULL when the client left it out): stats (the session's
 * counters, or from the Admin API the plugin's totals and the fleet),
 * list_effects, and the errors in the request itself. Returns NULL only for
 * a handle's start, configure and stop, which the handler thread answers;
 * the Admin API has no session to run them on: unknown there. Bad requests
 * are not logged (JANUS_VALIDATE_JSON_OBJECT's log_error FALSE): the client
 * hears why, and any client could fill the log. */
static json_t *janus_ooblex_process_synchronous_request(janus_ooblex_session *session, json_t *message) {
	int error_code = 0;
	char error_cause[512];
	JANUS_VALIDATE_JSON_OBJECT(message, request_parameters, error_code, error_cause, FALSE,
		JANUS_OOBLEX_ERROR_MISSING_ELEMENT, JANUS_OOBLEX_ERROR_INVALID_ELEMENT);
	if(error_code != 0)
		return janus_ooblex_error(error_code, "%s", error_cause);
	const char *request = json_string_value(json_object_get(message, "request"));
	if(!strcasecmp(request, "stats")) {
		if(session == NULL)
			return janus_ooblex_global_stats();
		json_t *reply = janus_ooblex_session_stats(session);
		json_object_set_new(reply, "ooblex", json_string("stats"));
		return reply;
	}
	if(!strcasecmp(request, "list_effects"))
		return janus_ooblex_list_effects();
	if(session != NULL && (!strcasecmp(request, "start") || !strcasecmp(request, "configure") ||
			!strcasecmp(request, "stop")))
		return NULL;
	return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_REQUEST, "Unknown request '%s'", request);
}

json_t *janus_ooblex_handle_admin_message(json_t *message) {
	return janus_ooblex_process_synchronous_request(NULL, message);
}

/* The effect grammar (effect_grammar.h), the workers' own: tame
 * characters, effect names, an ffmpeg: item that parses. The page hears why
 * at once, not frame by frame. */
static gboolean janus_ooblex_effect_name_ok(const char *s, char *why, size_t whylen) {
	return ooblex_effect_check(s, why, whylen) == 0;
}

/* Whether a live worker runs effect (fleet_effects.h): an error event (420,
 * with what the live workers do offer) when workers live but none runs it;
 * NULL when one does, or when none lives at all: then the session is
 * accepted and its fleet watch tells the page (421) until one comes. */
static json_t *janus_ooblex_check_fleet(const char *effect) {
	uint64_t gen = 0;
	ooblex_fleet_caps *caps = ooblex_reader_fleet_caps(reader, &gen);
	char why[512];
	ooblex_fleet_verdict v = ooblex_fleet_caps_check(caps, effect, why, sizeof(why));
	ooblex_fleet_caps_unref(caps);
	return v == OOBLEX_FLEET_NOT_RUNNABLE ? janus_ooblex_error(JANUS_OOBLEX_ERROR_NOT_RUNNABLE, "%s", why) : NULL;
}

/* start's and configure's options, once their types passed the request's
 * parameter table: output's name, the effect's grammar and the live fleet,
 * frame_skip's range. Returns an error event (415, 420) or NULL; what is
 * absent is left as it was. */
static json_t *janus_ooblex_check_options(json_t *root, const char **effect, unsigned *frame_skip, unsigned *output) {
	json_t *e = json_object_get(root, "effect");
	json_t *fs = json_object_get(root, "frame_skip");
	json_t *out = json_object_get(root, "output");
	if(out != NULL && (*output = janus_ooblex_output_from_name(json_string_value(out))) == 0)
		return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_ELEMENT, "Invalid output (datachannel, video, both or metadata)");
	if(e != NULL) {
		char why[256];
		if(!janus_ooblex_effect_name_ok(json_string_value(e), why, sizeof(why)))
			return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_ELEMENT, "Invalid effect name (%s)", why);
		json_t *error = janus_ooblex_check_fleet(json_string_value(e));
		if(error != NULL)
			return error;
		*effect = json_string_value(e);
	}
	if(fs != NULL) {
		json_int_t v = json_integer_value(fs);
		if(v < 1 || v > 1000)
			return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_ELEMENT, "Invalid frame_skip %" JSON_INTEGER_FORMAT " (1..1000)", v);
		*frame_skip = (unsigned)v;
	}
	return NULL;
}

/* latency_budget_ms (docs/api.md, "Latency budget"): 0..60000, 0 is off;
 * *budget stays -1 when absent. Below min_latency_budget_ms is refused: the
 * shedding level is the machine's, so one page asking for a budget nobody
 * can meet (1 ms) would shed every session with a budget to the last step. */
static json_t *janus_ooblex_latency_option(json_t *root, int *budget) {
	json_t *b = json_object_get(root, "latency_budget_ms");
	*budget = -1;
	if(b == NULL)
		return NULL;
	json_int_t v = json_integer_value(b);
	if(v < 0 || v > 60000)
		return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_ELEMENT, "Invalid latency_budget_ms %" JSON_INTEGER_FORMAT
			" (0..60000; 0 = off)", v);
	if(v > 0 && v < (json_int_t)settings.min_latency_budget_ms)
		return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_ELEMENT, "Invalid latency_budget_ms %" JSON_INTEGER_FORMAT
			" (this server's minimum is %u; 0 = off)", v, settings.min_latency_budget_ms);
	*budget = (int)v;
	return NULL;
}

/* Source-side sampling (docs/api.md, "Source-side sampling"). With
 * source_sampled the browser sends only the frames that will be processed
 * (at most its camera rate / frame_skip: ooblex.js sets maxFramerate) and
 * no larger than the session's max size (scaleResolutionDownBy): the
 * sampler then takes every frame it receives (a skip of 1), since counting
 * every frame_skip-th of an already reduced stream would process 1 in
 * frame_skip^2. frame_skip stays the session's processed-rate request. The
 * plugin trusts the client here: one that sends more than it said costs
 * decode time as in full-rate mode, and gets more frames processed. */
static unsigned janus_ooblex_sampling_skip(const janus_ooblex_session *session) {
	return session->source_sampled ? 1 : session->frame_skip;
}

/* start's (and, for source_sampled, configure's) sampling options: *mode is
 * -1 when absent, else 0/1; max_width/max_height (16..8192; the config's
 * limits still apply) are start's alone (max_w NULL for configure). */
static json_t *janus_ooblex_sampling_options(json_t *root, int *mode, unsigned *max_w, unsigned *max_h) {
	json_t *ss = json_object_get(root, "source_sampled");
	*mode = ss == NULL ? -1 : json_is_true(ss);
	const char *names[2] = {"max_width", "max_height"};
	unsigned *out[2] = {max_w, max_h};
	for(int i = 0; i < 2 && max_w != NULL; i++) {
		json_t *v = json_object_get(root, names[i]);
		if(v == NULL)
			continue;
		json_int_t n = json_integer_value(v);
		if(n < 16 || n > OOBLEX_MAX_DIMENSION)
			return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_ELEMENT, "Invalid %s %" JSON_INTEGER_FORMAT " (16..%d)",
				names[i], n, OOBLEX_MAX_DIMENSION);
		*out[i] = (unsigned)n;
	}
	return NULL;
}

/* What the browser should send, in the started and configure answers. */
static void janus_ooblex_sampling_describe(const janus_ooblex_session *session, json_t *event) {
	json_object_set_new(event, "source_sampled", json_boolean(session->source_sampled));
	json_object_set_new(event, "max_width", json_integer(session->max_width));
	json_object_set_new(event, "max_height", json_integer(session->max_height));
}

/* The session's limit: the request's, never above the config's (0 = none). */
static unsigned janus_ooblex_sampling_limit(unsigned asked, unsigned config) {
	if(asked == 0)
		return config;
	return config != 0 && config < asked ? config : asked;
}

struct janus_plugin_result *janus_ooblex_handle_message(janus_plugin_session *handle, char *transaction, json_t *message, json_t *jsep) {
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return janus_plugin_result_new(JANUS_PLUGIN_ERROR, g_atomic_int_get(&stopping) ? "Shutting down" : "Plugin not initialized", NULL);
	janus_mutex_lock(&sessions_mutex);
	janus_ooblex_session *session = janus_ooblex_lookup_session(handle);
	if(!session) {
		janus_mutex_unlock(&sessions_mutex);
		return janus_plugin_result_new(JANUS_PLUGIN_ERROR, "No session associated with this handle", NULL);
	}
	/* Increase the reference counter for this session: we'll decrease it after handling the message */
	janus_refcount_increase(&session->ref);
	janus_mutex_unlock(&sessions_mutex);
	if(g_atomic_int_get(&session->destroyed)) {
		janus_refcount_decrease(&session->ref);
		return janus_plugin_result_new(JANUS_PLUGIN_ERROR, "Session has already been destroyed", NULL);
	}
	/* The core only passes objects (it checks "body"); the first two are for
	 * completeness, as in Janus' own plugins. */
	json_t *reply;
	if(message == NULL)
		reply = janus_ooblex_error(JANUS_OOBLEX_ERROR_NO_MESSAGE, "No message");
	else if(!json_is_object(message))
		reply = janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_JSON, "JSON error: not an object");
	else
		reply = janus_ooblex_process_synchronous_request(session, message);
	if(reply != NULL) {
		janus_refcount_decrease(&session->ref);
		g_free(transaction);
		if(message)
			json_decref(message);
		if(jsep)
			json_decref(jsep);
		return janus_plugin_result_new(JANUS_PLUGIN_OK, NULL, reply);
	}
	/* start, configure and stop: the handler thread answers them with an
	 * event (and JSEP), since they negotiate SDP and start or stop threads.
	 * The session's reference goes with the message. */
	janus_ooblex_message *msg = g_malloc(sizeof(janus_ooblex_message));
	msg->handle = handle;
	msg->transaction = transaction;
	msg->message = message;
	msg->jsep = jsep;
	g_async_queue_push(messages, msg);
	return janus_plugin_result_new(JANUS_PLUGIN_OK_WAIT, NULL, NULL);
}

void janus_ooblex_setup_media(janus_plugin_session *handle) {
	JANUS_LOG(LOG_INFO, "[%s-%p] WebRTC media is now available\n", JANUS_OOBLEX_PACKAGE, handle);
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return;
	janus_mutex_lock(&sessions_mutex);
	janus_ooblex_session *session = janus_ooblex_lookup_session(handle);
	if(!session) {
		janus_mutex_unlock(&sessions_mutex);
		JANUS_LOG(LOG_ERR, "No session associated with this handle...\n");
		return;
	}
	if(g_atomic_int_get(&session->destroyed)) {
		janus_mutex_unlock(&sessions_mutex);
		return;
	}
	g_atomic_int_set(&session->hangingup, 0);
	janus_mutex_unlock(&sessions_mutex);
	/* The decoder needs a keyframe to start from. */
	gateway->send_pli(handle);
}

void janus_ooblex_incoming_rtp(janus_plugin_session *handle, janus_plugin_rtp *packet) {
	if(handle == NULL || g_atomic_int_get(&handle->stopped) || g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return;
	if(!packet->video)
		return;
	janus_ooblex_session *session = (janus_ooblex_session *)handle->plugin_handle;
	if(!session || g_atomic_int_get(&session->destroyed) || g_atomic_int_get(&session->hangingup))
		return;
	janus_rtp_header *rtp = (janus_rtp_header *)packet->buffer;
	atomic_fetch_add(&session->rx_bytes, packet->length);	/* the latency budget's REMB step */
	/* Only the one negotiated codec is decoded; this is a copy into a queue,
	 * the decode thread does the rest. */
	janus_mutex_lock(&session->mutex);
	if(session->ingest != NULL && rtp->type == session->video_pt)
		ooblex_ingest_push_rtp(session->ingest, (const uint8_t *)packet->buffer, packet->length);
	janus_mutex_unlock(&session->mutex);
}

void janus_ooblex_incoming_data(janus_plugin_session *handle, janus_plugin_data *packet) {
	if(handle == NULL || g_atomic_int_get(&handle->stopped) || g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return;
	janus_ooblex_session *session = (janus_ooblex_session *)handle->plugin_handle;
	if(!session || g_atomic_int_get(&session->destroyed))
		return;
	/* The hello, or {"ack":<frame_id>} as the page reassembles each frame:
	 * either proves the channel open both ways (egress.h). */
	if(ooblex_egress_on_data(session->egress, (const uint8_t *)packet->buffer, packet->length))
		JANUS_LOG(LOG_VERB, "[%s-%p] Data channel ready (%d bytes received)\n", JANUS_OOBLEX_PACKAGE, handle, packet->length);
}

void janus_ooblex_data_ready(janus_plugin_session *handle) {
	if(handle == NULL || g_atomic_int_get(&handle->stopped) || g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return;
	janus_ooblex_session *session = (janus_ooblex_session *)handle->plugin_handle;
	if(!session || g_atomic_int_get(&session->destroyed))
		return;
	/* The SCTP stack's queue drained (SENDER_DRY): the newest frame that
	 * waited goes now. Sending is non-blocking (Janus queues the chunks). */
	if(ooblex_egress_data_ready(session->egress))
		JANUS_LOG(LOG_VERB, "[%s-%p] Data channel ready\n", JANUS_OOBLEX_PACKAGE, handle);
}

/* RTCP from the browser about the video we send: PLI or FIR asks for a
 * keyframe, REMB says how much it can take, and its receiver reports'
 * fraction lost steer the track's rate (send_rate.h: Chromium sends no REMB
 * once transport-cc is negotiated, and Janus 1.1 has no send-side estimate
 * for plugins). */
void janus_ooblex_incoming_rtcp(janus_plugin_session *handle, janus_plugin_rtcp *packet) {
	if(handle == NULL || packet == NULL || g_atomic_int_get(&handle->stopped) || g_atomic_int_get(&stopping) ||
			!g_atomic_int_get(&initialized) || !packet->video)
		return;
	janus_ooblex_session *session = (janus_ooblex_session *)handle->plugin_handle;
	if(!session || g_atomic_int_get(&session->destroyed))
		return;
	if(janus_rtcp_has_pli(packet->buffer, packet->length) || janus_rtcp_has_fir(packet->buffer, packet->length))
		ooblex_egress_request_keyframe(session->egress);
	uint32_t remb = janus_rtcp_get_remb(packet->buffer, packet->length);
	if(remb > 0)
		ooblex_egress_remb(session->egress, remb);
	ooblex_egress_rtcp(session->egress, (const uint8_t *)packet->buffer, packet->length);
}

void janus_ooblex_hangup_media(janus_plugin_session *handle) {
	JANUS_LOG(LOG_INFO, "[%s-%p] No WebRTC media anymore\n", JANUS_OOBLEX_PACKAGE, handle);
	if(g_atomic_int_get(&stopping) || !g_atomic_int_get(&initialized))
		return;
	janus_mutex_lock(&sessions_mutex);
	janus_ooblex_session *session = janus_ooblex_lookup_session(handle);
	if(!session) {
		janus_mutex_unlock(&sessions_mutex);
		JANUS_LOG(LOG_ERR, "No session associated with this handle...\n");
		return;
	}
	if(g_atomic_int_get(&session->destroyed) || !g_atomic_int_compare_and_exchange(&session->hangingup, 0, 1)) {
		janus_mutex_unlock(&sessions_mutex);
		return;
	}
	janus_refcount_increase(&session->ref);
	janus_mutex_unlock(&sessions_mutex);
	/* Non-blocking: the ingest thread winds down by itself. */
	janus_ooblex_stop_processing(session);
	json_t *event = json_object();
	json_object_set_new(event, "ooblex", json_string("event"));
	json_object_set_new(event, "result", json_string("done"));
	gateway->push_event(handle, &janus_ooblex_plugin, NULL, event, NULL);
	json_decref(event);
	if(settings.events && gateway->events_is_enabled()) {
		json_t *info = json_object();
		json_object_set_new(info, "event", json_string("stopped"));
		gateway->notify_event(&janus_ooblex_plugin, handle, info);
	}
	janus_refcount_decrease(&session->ref);
}

/* ------------------------------------------------------ request handling */

/* The profile-level-id of the best H.264 payload type in an offered m-line:
 * packetization-mode 1 first (large frames need FU-A), constrained baseline
 * first (what every browser encodes in hardware and software). NULL when no
 * H.264 is offered; "" when it is offered without a profile. */
static const char *janus_ooblex_pick_h264_profile(janus_sdp *offer, janus_sdp_mline *m, char *buf, size_t len) {
	int best_score = -1;
	for(GList *a = m->attributes; a != NULL; a = a->next) {
		janus_sdp_attribute *attr = a->data;
		if(attr->name == NULL || attr->value == NULL || strcasecmp(attr->name, "rtpmap"))
			continue;
		int pt = atoi(attr->value);
		const char *enc = strchr(attr->value, ' ');
		if(enc == NULL || g_ascii_strncasecmp(enc + 1, "h264/", 5))
			continue;
		const char *fmtp = janus_sdp_get_fmtp(offer, m->index, pt);
		char profile[16] = "";
		const char *plid = fmtp ? strstr(fmtp, "profile-level-id=") : NULL;
		if(plid != NULL)
			g_strlcpy(profile, plid + 17, MIN(sizeof(profile), strcspn(plid + 17, ";") + 1));
		int score = (fmtp && strstr(fmtp, "packetization-mode=1") ? 4 : 0) +
			(!g_ascii_strncasecmp(profile, "42e0", 4) ? 2 : !g_ascii_strncasecmp(profile, "4200", 4) ? 1 : 0);
		if(score > best_score) {
			best_score = score;
			g_strlcpy(buf, profile, len);
		}
	}
	return best_score >= 0 ? buf : NULL;
}

/* Answers a browser offer: the first video m-line is received with the most
 * preferred codec both sides have (or the one the client asked for), the data
 * channel is accepted, anything else (audio, more video) is declined. Returns
 * the answer SDP (g_free) or NULL with an error event in *error. */
static char *janus_ooblex_answer_offer(janus_ooblex_session *session, const char *offer_sdp,
		ooblex_codec wanted, json_t **error) {
	char errbuf[512];
	janus_sdp *offer = janus_sdp_parse(offer_sdp, errbuf, sizeof(errbuf));
	if(offer == NULL) {
		*error = janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_SDP, "Error parsing offer: %s", errbuf);
		return NULL;
	}
	janus_sdp *answer = janus_sdp_generate_answer(offer);
	ooblex_codec chosen = OOBLEX_CODEC_NONE;
	for(GList *temp = offer->m_lines; temp != NULL; temp = temp->next) {
		janus_sdp_mline *m = (janus_sdp_mline *)temp->data;
		char profile[16];
		const char *h264_profile = NULL;
		if(m->type == JANUS_SDP_VIDEO && chosen == OOBLEX_CODEC_NONE && m->port > 0) {
			for(int i = 0; i < settings.n_video_codecs && chosen == OOBLEX_CODEC_NONE; i++) {
				ooblex_codec c = settings.video_codecs[i];
				if(wanted != OOBLEX_CODEC_NONE && c != wanted)
					continue;
				if(c == OOBLEX_CODEC_H264) {
					h264_profile = janus_ooblex_pick_h264_profile(offer, m, profile, sizeof(profile));
					if(h264_profile != NULL)
						chosen = c;
				} else if(janus_sdp_get_codec_pt(offer, m->index, ooblex_codec_name(c)) > 0) {
					chosen = c;
				}
			}
		}
		if(m->type == JANUS_SDP_VIDEO && chosen != OOBLEX_CODEC_NONE && session->codec == OOBLEX_CODEC_NONE) {
			session->codec = chosen;	/* this m-line is the one we receive */
			/* When the browser also receives on it, we answer sendrecv: the
			 * processed video can come back on the same m-line (output
			 * "video" or "both"), now or after a configure. */
			session->can_send_video = m->direction == JANUS_SDP_SENDRECV || m->direction == JANUS_SDP_DEFAULT;
			janus_sdp_generate_answer_mline(offer, answer, m,
				JANUS_SDP_OA_MLINE, JANUS_SDP_VIDEO,
				JANUS_SDP_OA_CODEC, ooblex_codec_name(chosen),
				JANUS_SDP_OA_H264_PROFILE, h264_profile && *h264_profile ? h264_profile : NULL,
				JANUS_SDP_OA_DIRECTION, session->can_send_video ? JANUS_SDP_SENDRECV : JANUS_SDP_RECVONLY,
				JANUS_SDP_OA_ACCEPT_EXTMAP, JANUS_RTP_EXTMAP_MID,
				JANUS_SDP_OA_ACCEPT_EXTMAP, JANUS_RTP_EXTMAP_TRANSPORT_WIDE_CC,
				JANUS_SDP_OA_ACCEPT_EXTMAP, JANUS_RTP_EXTMAP_ABS_SEND_TIME,
				JANUS_SDP_OA_DONE);
		} else if(m->type == JANUS_SDP_APPLICATION) {
			session->has_data_channel = TRUE;	/* Janus offers one SCTP association per PeerConnection */
			janus_sdp_generate_answer_mline(offer, answer, m,
				JANUS_SDP_OA_MLINE, JANUS_SDP_APPLICATION,
				JANUS_SDP_OA_DONE);
		} else {
			janus_sdp_generate_answer_mline(offer, answer, m,
				JANUS_SDP_OA_MLINE, m->type,
				JANUS_SDP_OA_ENABLED, FALSE,
				JANUS_SDP_OA_DONE);
		}
	}
	if(chosen == OOBLEX_CODEC_NONE) {
		janus_sdp_destroy(offer);
		janus_sdp_destroy(answer);
		if(wanted != OOBLEX_CODEC_NONE)
			*error = janus_ooblex_error(JANUS_OOBLEX_ERROR_NO_CODEC, "The offer has no %s video", ooblex_codec_name(wanted));
		else
			*error = janus_ooblex_error(JANUS_OOBLEX_ERROR_NO_CODEC, "The offer has no usable video codec (this server takes %s%s%s)",
				ooblex_codec_name(settings.video_codecs[0]), settings.n_video_codecs > 1 ? ", " : "",
				settings.n_video_codecs > 1 ? ooblex_codec_name(settings.video_codecs[1]) : "");
		return NULL;
	}
	session->video_pt = janus_sdp_get_codec_pt(answer, -1, ooblex_codec_name(chosen));
	char *sdp = janus_sdp_write(answer);
	janus_sdp_destroy(offer);
	janus_sdp_destroy(answer);
	return sdp;
}

/* start: checks the request, answers the offer, resets the return path and
 * starts the ingest. Nothing is taken before session->mutex; from there on a
 * failure leaves through the labels at the end, which undo in reverse order
 * what the steps before it took. */
static json_t *janus_ooblex_handle_start(janus_ooblex_session *session, janus_ooblex_message *msg, json_t **jsep_out) {
	int error_code = 0;
	char error_cause[512];
	JANUS_VALIDATE_JSON_OBJECT(msg->message, start_parameters, error_code, error_cause, FALSE,
		JANUS_OOBLEX_ERROR_MISSING_ELEMENT, JANUS_OOBLEX_ERROR_INVALID_ELEMENT);
	if(error_code != 0)
		return janus_ooblex_error(error_code, "%s", error_cause);
	const char *effect = NULL;
	unsigned frame_skip = 0, output = 0;
	char err_out[256];
	json_t *error = janus_ooblex_check_options(msg->message, &effect, &frame_skip, &output);
	if(error != NULL)
		return error;
	int source_sampled = -1;
	unsigned ask_w = 0, ask_h = 0;
	if((error = janus_ooblex_sampling_options(msg->message, &source_sampled, &ask_w, &ask_h)) != NULL)
		return error;
	int latency_budget = -1;
	if((error = janus_ooblex_latency_option(msg->message, &latency_budget)) != NULL)
		return error;
	ooblex_codec wanted = OOBLEX_CODEC_NONE;
	json_t *jcodec = json_object_get(msg->message, "codec");
	if(jcodec != NULL) {
		wanted = ooblex_codec_from_name(json_string_value(jcodec));
		gboolean allowed = FALSE;
		for(int i = 0; i < settings.n_video_codecs; i++)
			allowed |= settings.video_codecs[i] == wanted;
		if(wanted == OOBLEX_CODEC_NONE || !allowed)
			return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_ELEMENT, "Unsupported codec '%s'", json_string_value(jcodec));
	}
	const char *sdp_type = json_string_value(json_object_get(msg->jsep, "type"));
	const char *offer_sdp = json_string_value(json_object_get(msg->jsep, "sdp"));
	if(msg->jsep == NULL || offer_sdp == NULL || sdp_type == NULL)
		return janus_ooblex_error(JANUS_OOBLEX_ERROR_MISSING_ELEMENT, "Missing element (jsep offer)");
	if(strcasecmp(sdp_type, "offer"))
		return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_SDP, "Expected an offer, got '%s'", sdp_type);
	janus_mutex_lock(&sessions_mutex);
	unsigned processing = g_hash_table_size(clients);
	janus_mutex_unlock(&sessions_mutex);
	if(processing >= settings.max_sessions)
		return janus_ooblex_error(JANUS_OOBLEX_ERROR_TOO_MANY_SESSIONS, "Too many sessions (max_sessions = %u)", settings.max_sessions);
	/* Admission, measured: refused when Janus is out of CPU, degraded when
	 * the fleet is spoken for. */
	janus_mutex_lock(&session->mutex);
	char admit_effect[OOBLEX_NAME_MAX + 1];
	g_strlcpy(admit_effect, effect != NULL ? effect : session->effect, sizeof(admit_effect));
	unsigned skip_asked = frame_skip > 0 ? frame_skip : session->frame_skip;
	janus_mutex_unlock(&session->mutex);
	unsigned skip_admitted = skip_asked;
	ooblex_admission_input admission;
	ooblex_admission_verdict verdict = janus_ooblex_admit(admit_effect, &skip_admitted, &admission);
	if(verdict == OOBLEX_ADMIT_REFUSED)
		return janus_ooblex_error(JANUS_OOBLEX_ERROR_MACHINE_FULL, "Machine full: Janus uses %.2f of %u CPUs "
			"(admission_cpu_percent = %u); try again later", admission.cpu_busy, admission.cpus,
			settings.admission_cpu_percent);
	if(verdict == OOBLEX_ADMIT_DEGRADED)
		frame_skip = skip_admitted;

	char *answer = NULL;
	janus_mutex_lock(&session->mutex);
	if(session->started) {
		error = janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_STATE, "Already started: send stop first");
		goto fail;
	}
	/* Without an effect of its own, start runs the preset or the config's. */
	if(effect == NULL && (error = janus_ooblex_check_fleet(session->effect)) != NULL)
		goto fail;
	session->codec = OOBLEX_CODEC_NONE;
	session->can_send_video = FALSE;
	session->has_data_channel = FALSE;
	answer = janus_ooblex_answer_offer(session, offer_sdp, wanted, &error);
	if(answer == NULL)
		goto fail;
	if(output == 0)
		output = settings.output;
	/* A session that could never deliver is refused now, not left silent. */
	if((output & OOBLEX_OUTPUT_VIDEO) && !session->can_send_video) {
		error = janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_SDP,
			"Output '%s' needs an offer that also receives video (sendrecv)", janus_ooblex_output_name(output));
		goto fail;
	}
	if((output & OOBLEX_OUTPUT_DATACHANNEL) && !session->has_data_channel) {
		error = janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_SDP,
			"Output '%s' needs an offer with a data channel (m=application)", janus_ooblex_output_name(output));
		goto fail;
	}
	if(effect != NULL)
		g_strlcpy(session->effect, effect, sizeof(session->effect));
	if(frame_skip > 0)
		session->frame_skip = frame_skip;
	session->source_sampled = source_sampled == 1;
	if(latency_budget >= 0)
		session->latency_budget_ms = (unsigned)latency_budget;
	/* The latency budget measures this run afresh: nothing shed yet. */
	g_mutex_lock(&session->latency_lock);
	ooblex_latency_window_init(&session->latency_window);
	g_mutex_unlock(&session->latency_lock);
	atomic_store(&session->latency_skip_milli, 0);
	/* What the page will send: the answer's frame_skip (ooblex.js sets
	 * maxFramerate from it); the latency pass keeps it up to date. */
	atomic_store(&session->sender_skip, session->source_sampled ? session->frame_skip : 0);
	atomic_store(&session->latency_start_us, ooblex_now_us());
	atomic_store(&session->latency_reset, 1);
	atomic_store(&session->lat_flags, 0);
	atomic_store(&session->lat_effective_skip, 0);
	atomic_store(&session->lat_p95_milli, 0);
	atomic_store(&session->lat_waiting_p95_milli, 0);
	atomic_store(&session->lat_samples, 0);
	atomic_store(&session->lat_remb_kbps, 0);
	atomic_store(&session->lat_sender_skip, 0);
	atomic_store(&session->lat_sender_scale, 0);
	session->max_width = janus_ooblex_sampling_limit(ask_w, settings.max_width);
	session->max_height = janus_ooblex_sampling_limit(ask_h, settings.max_height);
	if(ooblex_client_id_generate(session->client_id) < 0) {
		error = janus_ooblex_error(JANUS_OOBLEX_ERROR_UNKNOWN_ERROR, "No randomness for a client id");
		goto fail;
	}
	ooblex_client_id_to_hex(session->client_id, session->client_hex);
	ooblex_key_processed(session->result_key, session->client_hex);
	janus_mutex_lock(&session->metrics_mutex);
	/* The last run's counts go into the plugin's totals before they restart. */
	janus_ooblex_metrics_take(session);
	memset(&session->ingest_stats, 0, sizeof(session->ingest_stats));
	ooblex_egress_restart(session->egress, session->client_id);
	g_atomic_int_set(&session->refused_logged, 0);
	/* After the memset and the egress's restart: those counters start from zero. */
	ooblex_counter_tracker_restart(&session->metrics_seen);
	janus_mutex_unlock(&session->metrics_mutex);
	if(ooblex_egress_set_output(session->egress, output, session->codec, (uint8_t)session->video_pt,
			err_out, sizeof(err_out)) < 0) {
		error = janus_ooblex_error(JANUS_OOBLEX_ERROR_UNKNOWN_ERROR, "Cannot start the video output: %s", err_out);
		goto fail;
	}

	ooblex_ingest_config icfg = {
		.codec = ooblex_codec_name(session->codec),
		.frame_skip = janus_ooblex_sampling_skip(session),
		.effect = session->effect,
		.frame_pixfmt = (uint8_t)settings.frame_format,
		.max_width = session->max_width,
		.max_height = session->max_height,
		.reply_pixfmt = (uint8_t)janus_ooblex_reply_pixfmt(output),
		.jpeg_quality = (uint8_t)settings.jpeg_quality,
		.max_queued_packets = 2000,
		.max_queued_bytes = (size_t)settings.max_queued_kib * 1024,
		.max_decode_width = settings.max_decode_width,
		.max_decode_height = settings.max_decode_height,
		.max_frame_bytes = (size_t)settings.max_frame_kib * 1024,
		.max_frame_packets = settings.max_frame_packets,
		.max_keyframes_per_s = settings.max_keyframes_per_s,
		.max_keyframe_bytes_per_s = (size_t)settings.max_keyframe_kib_per_s * 1024,
		.pli_interval_ms = 500,
		.deadline_ms = settings.frame_deadline_ms,
		.max_in_flight = settings.max_in_flight,
		.resolved_seq = ooblex_egress_resolved_seq(session->egress),
		.queued_seq = ooblex_egress_queued_seq(session->egress),
		.fair_in_flight_cap = &session->fair_cap,
		.fair_min_interval_us = &session->fair_interval_us,
		.latency_skip_milli = &session->latency_skip_milli,
		.arrival_spread = &session->arrival_spread,
		.sender_skip = &session->sender_skip,
		.stats = &session->ingest_stats,
	};
	/* One frame in flight until the fair pass has measured what its frames cost. */
	atomic_store(&session->fair_cap, settings.fair_share ? 1 : 0);
	atomic_store(&session->fair_interval_us, 0);
	atomic_store(&session->fair_reset, 1);
	memcpy(icfg.client_id, session->client_id, OOBLEX_CLIENT_ID_LEN);
	static const ooblex_ingest_callbacks icb = {
		.request_keyframe = janus_ooblex_ingest_keyframe,
		.frame_ready = janus_ooblex_ingest_frame,
		.stopped = janus_ooblex_ingest_stopped,
	};
	char err[256];
	janus_refcount_increase(&session->ref);	/* dropped by the ingest's stopped() */
	atomic_fetch_add(&live_ingests, 1);
	session->ingest = ooblex_ingest_start(&icfg, &icb, session, err, sizeof(err));
	if(session->ingest == NULL) {
		error = janus_ooblex_error(JANUS_OOBLEX_ERROR_UNKNOWN_ERROR, "Cannot start processing: %s", err);
		goto fail_ingest;
	}
	session->started = TRUE;
	janus_mutex_unlock(&session->mutex);

	janus_mutex_lock(&sessions_mutex);
	g_hash_table_insert(clients, session->client_hex, session);
	janus_mutex_unlock(&sessions_mutex);
	ooblex_reader_watch(reader, session->result_key);
	atomic_fetch_add(&total_sessions_started, 1);
	g_atomic_int_set(&session->hangingup, 0);

	*jsep_out = json_pack("{ssss}", "type", "answer", "sdp", answer);
	g_free(answer);
	json_t *event = json_object();
	json_object_set_new(event, "ooblex", json_string("event"));
	json_object_set_new(event, "result", json_string("started"));
	json_object_set_new(event, "client_id", json_string(session->client_hex));
	json_object_set_new(event, "effect", json_string(session->effect));
	json_object_set_new(event, "frame_skip", json_integer(session->frame_skip));
	json_object_set_new(event, "codec", json_string(ooblex_codec_name(session->codec)));
	json_object_set_new(event, "output", json_string(janus_ooblex_output_name(output)));
	json_object_set_new(event, "video_output_possible", json_boolean(session->can_send_video));
	janus_ooblex_sampling_describe(session, event);
	json_object_set_new(event, "latency_budget_ms", json_integer(session->latency_budget_ms));
	if(verdict == OOBLEX_ADMIT_DEGRADED) {
		/* Said in the response: the page knows why it gets fewer frames. */
		json_object_set_new(event, "admission", json_pack("{sssssisisfsf}", "result", "degraded",
			"reason", "fleet_full", "frame_skip_asked", (int)skip_asked, "frame_skip", (int)session->frame_skip,
			"fleet_demand", admission.fleet_demand, "fleet_workers", admission.fleet_workers));
		JANUS_LOG(LOG_WARN, "[ooblex-%s] Degraded start: the fleet is asked for %.2f of its %.0f workers; "
			"frame_skip %u instead of %u\n", session->client_hex, admission.fleet_demand, admission.fleet_workers,
			session->frame_skip, skip_asked);
	}
	JANUS_LOG(LOG_INFO, "[ooblex-%s] Started: %s, effect %s, frame_skip %u, output %s\n", session->client_hex,
		ooblex_codec_name(session->codec), session->effect, session->frame_skip, janus_ooblex_output_name(output));
	if(settings.events && gateway->events_is_enabled()) {
		json_t *info = json_pack("{sssssssi}", "event", "started", "client_id", session->client_hex,
			"effect", session->effect, "frame_skip", (int)session->frame_skip);
		gateway->notify_event(&janus_ooblex_plugin, session->handle, info);
	}
	return event;

fail_ingest:
	/* It never ran: no stopped() will give these back. */
	atomic_fetch_sub(&live_ingests, 1);
	janus_refcount_decrease(&session->ref);
	/* set_output may have started the video track's thread. */
	ooblex_egress_stop(session->egress);
fail:
	g_free(answer);
	janus_mutex_unlock(&session->mutex);
	return error;
}

/* A new offer on a running session (an ICE restart after a network change,
 * or any renegotiation): answered with the same codec and direction. Caller
 * holds session->mutex (codec, payload type, started). */
static json_t *janus_ooblex_renegotiate(janus_ooblex_session *session, janus_ooblex_message *msg, json_t **jsep_out) {
	const char *sdp_type = json_string_value(json_object_get(msg->jsep, "type"));
	const char *offer_sdp = json_string_value(json_object_get(msg->jsep, "sdp"));
	if(offer_sdp == NULL || sdp_type == NULL || strcasecmp(sdp_type, "offer"))
		return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_SDP, "Expected an offer");
	if(!session->started)
		return janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_STATE, "Not started: send start with the first offer");
	ooblex_codec codec = session->codec;
	int pt = session->video_pt;
	json_t *error = NULL;
	session->codec = OOBLEX_CODEC_NONE;
	char *answer = janus_ooblex_answer_offer(session, offer_sdp, codec, &error);
	if(answer == NULL) {
		session->codec = codec;
		return error;
	}
	/* Browsers keep their payload types across an ICE restart; a video
	 * output already running would go on with the old one. */
	if(session->video_pt != pt)
		JANUS_LOG(LOG_WARN, "[ooblex-%s] Renegotiation moved video from payload type %d to %d\n", session->client_hex,
			pt, session->video_pt);
	*jsep_out = json_pack("{ssss}", "type", "answer", "sdp", answer);
	g_free(answer);
	JANUS_LOG(LOG_INFO, "[ooblex-%s] Renegotiated (ICE restart)\n", session->client_hex);
	return NULL;
}

/* configure: a new effect, frame_skip or output, and/or a new offer (see
 * janus_ooblex_renegotiate); answered with what is now in force. */
static json_t *janus_ooblex_handle_configure(janus_ooblex_session *session, janus_ooblex_message *msg, json_t **jsep_out) {
	int error_code = 0;
	char error_cause[512];
	JANUS_VALIDATE_JSON_OBJECT(msg->message, configure_parameters, error_code, error_cause, FALSE,
		JANUS_OOBLEX_ERROR_MISSING_ELEMENT, JANUS_OOBLEX_ERROR_INVALID_ELEMENT);
	if(error_code != 0)
		return janus_ooblex_error(error_code, "%s", error_cause);
	const char *effect = NULL;
	unsigned frame_skip = 0, output = 0;
	json_t *error = janus_ooblex_check_options(msg->message, &effect, &frame_skip, &output);
	if(error != NULL)
		return error;
	int source_sampled = -1;
	if((error = janus_ooblex_sampling_options(msg->message, &source_sampled, NULL, NULL)) != NULL)
		return error;
	int latency_budget = -1;
	if((error = janus_ooblex_latency_option(msg->message, &latency_budget)) != NULL)
		return error;
	if(effect == NULL && frame_skip == 0 && output == 0 && msg->jsep == NULL && source_sampled < 0 && latency_budget < 0)
		return janus_ooblex_error(JANUS_OOBLEX_ERROR_MISSING_ELEMENT,
			"Nothing to configure (effect, frame_skip, output, source_sampled, latency_budget_ms)");
	janus_mutex_lock(&session->mutex);
	if(msg->jsep != NULL && (error = janus_ooblex_renegotiate(session, msg, jsep_out)) != NULL)
		goto fail;
	if(output != 0) {
		char err[256];
		if((output & OOBLEX_OUTPUT_VIDEO) && !session->can_send_video) {
			error = janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_STATE,
				"Output '%s' needs a started session whose offer also receives video", janus_ooblex_output_name(output));
			goto fail;
		}
		if((output & OOBLEX_OUTPUT_DATACHANNEL) && session->started && !session->has_data_channel) {
			error = janus_ooblex_error(JANUS_OOBLEX_ERROR_INVALID_STATE,
				"Output '%s' needs a session whose offer has a data channel", janus_ooblex_output_name(output));
			goto fail;
		}
		if(session->started && ooblex_egress_set_output(session->egress, output, session->codec,
				(uint8_t)session->video_pt, err, sizeof(err)) < 0) {
			error = janus_ooblex_error(JANUS_OOBLEX_ERROR_UNKNOWN_ERROR, "Cannot start the video output: %s", err);
			goto fail;
		}
		/* After the egress: frames sampled from now on are answered in the
		 * new output's format. Those in flight keep theirs: the video track
		 * takes either, and the data channel counts an I420 one in
		 * dropped_channel (egress.h). */
		if(session->ingest != NULL)
			ooblex_ingest_set_reply_pixfmt(session->ingest, (uint8_t)janus_ooblex_reply_pixfmt(output));
	}
	if(effect != NULL)
		g_strlcpy(session->effect, effect, sizeof(session->effect));
	if(frame_skip > 0)
		session->frame_skip = frame_skip;
	if(source_sampled >= 0)
		session->source_sampled = source_sampled;
	if(latency_budget >= 0)
		session->latency_budget_ms = (unsigned)latency_budget;
	if(session->ingest != NULL)
		ooblex_ingest_configure(session->ingest, effect, janus_ooblex_sampling_skip(session));
	/* The page sets maxFramerate from the answer's frame_skip at once; the
	 * latency pass adds its own step, if any, within a fair period. */
	atomic_store(&session->sender_skip, session->source_sampled ? session->frame_skip : 0);
	if(effect != NULL)	/* a new effect costs what it costs: measured afresh (fair shares) */
		atomic_store(&session->fair_reset, 1);
	const char *out_name = janus_ooblex_output_name(ooblex_egress_output(session->egress));
	json_t *event = json_pack("{sssssssiss}", "ooblex", "event", "result", "ok",
		"effect", session->effect, "frame_skip", (int)session->frame_skip, "output", out_name);
	janus_ooblex_sampling_describe(session, event);
	json_object_set_new(event, "latency_budget_ms", json_integer(session->latency_budget_ms));
	janus_mutex_unlock(&session->mutex);
	if(settings.events && gateway->events_is_enabled()) {
		json_t *info = json_pack("{sssssi}", "event", "configured", "effect", json_string_value(json_object_get(event, "effect")),
			"frame_skip", (int)json_integer_value(json_object_get(event, "frame_skip")));
		gateway->notify_event(&janus_ooblex_plugin, session->handle, info);
	}
	return event;

fail:
	janus_mutex_unlock(&session->mutex);
	return error;
}

static void *janus_ooblex_handler(void *data) {
	(void)data;
	JANUS_LOG(LOG_VERB, "Joining Ooblex handler thread\n");
	janus_ooblex_message *msg = NULL;
	while(g_atomic_int_get(&initialized) && !g_atomic_int_get(&stopping)) {
		msg = g_async_queue_pop(messages);
		if(msg == &exit_message)
			break;
		if(msg->handle == NULL) {
			janus_ooblex_message_free(msg);
			continue;
		}
		janus_mutex_lock(&sessions_mutex);
		janus_ooblex_session *session = janus_ooblex_lookup_session(msg->handle);
		janus_mutex_unlock(&sessions_mutex);
		if(!session || g_atomic_int_get(&session->destroyed)) {
			/* Destroyed while the request waited (upstream issue #2461). */
			janus_ooblex_message_free(msg);
			continue;
		}
		/* handle_message queued only start, configure and stop
		 * (janus_ooblex_process_synchronous_request). */
		const char *request = json_string_value(json_object_get(msg->message, "request"));
		json_t *jsep = NULL, *event = NULL;
		if(!strcasecmp(request, "start")) {
			event = janus_ooblex_handle_start(session, msg, &jsep);
		} else if(!strcasecmp(request, "configure")) {
			event = janus_ooblex_handle_configure(session, msg, &jsep);
		} else {	/* stop */
			janus_ooblex_stop_processing(session);
			gateway->close_pc(session->handle);
			event = json_pack("{ssss}", "ooblex", "event", "result", "stopped");
		}
		int ret = gateway->push_event(msg->handle, &janus_ooblex_plugin, msg->transaction, event, jsep);
		JANUS_LOG(LOG_VERB, "  >> Pushing event: %d (%s)\n", ret, janus_get_api_error(ret));
		/* The fleet watch, once the page has the answer (fleet_effects.h). */
		const char *result = json_string_value(json_object_get(event, "result"));
		const char *watched = json_string_value(json_object_get(event, "effect"));
		if(result != NULL && !strcmp(result, "started"))
			ooblex_fleet_watch_start(&session->fleet_watch, watched);
		else if(result != NULL && !strcmp(result, "ok"))
			ooblex_fleet_watch_set_effect(&session->fleet_watch, watched);
		json_decref(event);
		if(jsep != NULL)
			json_decref(jsep);
		janus_ooblex_message_free(msg);
	}
	JANUS_LOG(LOG_VERB, "Leaving Ooblex handler thread\n");
	return NULL;
}
