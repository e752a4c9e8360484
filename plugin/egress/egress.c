/*
 * egress.c - see egress.h.
 */
#include "egress.h"

#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "dc_chunker.h"
#include "dc_message.h"
#include "dc_window.h"
#include "send_rate.h"
#include "video_output.h"

/* A result waiting in the reorder buffer, or for the data channel to drain. */
typedef struct held_result {
	uint8_t *msg;
	ooblex_frame_header h;
	const uint8_t *payload;	/* inside msg */
	uint64_t received_us;
	int counted;	/* already counted as sent (by another output) */
} held_result;

struct ooblex_egress {
	ooblex_egress_config cfg;
	ooblex_egress_host host;
	void *user;
	ooblex_egress_stats stats;
	atomic_int channel_open;	/* the page said something, or SCTP drained */
	atomic_uint_fast32_t resolved_seq;	/* everything up to it delivered or given up on */
	atomic_uint_fast32_t queued_seq;	/* the ingest's last queued: results above it were never asked for */
	/* The egress lock (lock order: egress.h). Guards everything below. */
	GMutex lock;
	uint8_t client_id[OOBLEX_CLIENT_ID_LEN];
	ooblex_reorder *reorder;	/* NULL until the first restart */
	ooblex_stage_stats stages;
	unsigned output;	/* OOBLEX_OUTPUT_* */
	ooblex_video_output *vout;	/* the video track's thread, while video is wanted */
	/* What is on its way to the page (dc_window.h). Acks from the page also
	 * see a backlog inside the browser, which SCTP cannot; once a page acks
	 * validly, its acks decide. */
	ooblex_dc_window window;
	uint64_t last_dry_us;	/* the last drain or ack: proof the channel moves */
	held_result *pending;	/* the newest frame waiting for the channel to move */
	uint64_t error_told_us[OOBLEX_FRAME_ERR_MAX + 1];	/* when the page last heard of each error code */
	unsigned over_budget_streak;	/* timed results over the budget in a row */
	/* The video track's rate from the browser's feedback (send_rate.h):
	 * kept across video output restarts, so a track turned off and on again
	 * does not forget the link it is on. */
	ooblex_send_rate send_rate;
};

static uint64_t now_us(const ooblex_egress *e) {
	return e->host.now_us != NULL ? e->host.now_us(e->user) : ooblex_now_us();
}

static void held_result_free(void *p) {
	held_result *r = p;
	g_free(r->msg);
	g_free(r);
}

static void count_refused(ooblex_egress *e, ooblex_result_verdict v) {
	atomic_fetch_add(&e->stats.results_refused[v], 1);
}

static int send_chunk(const uint8_t *msg, size_t len, void *user) {
	ooblex_egress *e = user;
	if(e->host.send_data == NULL || e->host.send_data(msg, len, e->user) < 0)
		return -1;
	atomic_fetch_add(&e->stats.chunks_sent, 1);
	atomic_fetch_add(&e->stats.dc_bytes_sent, len);
	return 0;
}

/* Sends one processed frame on the data channel: JSON metadata, then the
 * JPEG (none for a metadata-only session or result), in chunks, all at
 * once (a frame is never held back in part). Returns 0 with the time it
 * was sent, or -1 if it was not. Lock held. */
static int dc_send(ooblex_egress *e, const held_result *r, uint64_t *sent_us) {
	*sent_us = now_us(e);
	json_t *meta = json_pack("{sIsisssssisis{sIsIsIsIsIsI}}",
		"frame_id", (json_int_t)r->h.frame_id,
		"seq", (int)r->h.seq,
		"effect", r->h.effect,
		"worker", r->h.worker,
		"width", (int)r->h.width,
		"height", (int)r->h.height,
		"t",
			"capture", (json_int_t)r->h.capture_us,
			"queued", (json_int_t)r->h.queued_us,
			"worker_start", (json_int_t)r->h.worker_start_us,
			"worker_end", (json_int_t)r->h.worker_end_us,
			"returned", (json_int_t)r->received_us,
			"sent", (json_int_t)*sent_us);
	if(r->h.meta[0] != '\0') {
		/* What the worker found (face boxes...), passed on if it is JSON. */
		json_t *found = json_loads(r->h.meta, JSON_REJECT_DUPLICATES, NULL);
		if(json_is_object(found))
			json_object_set_new(meta, "detections", found);
		else
			json_decref(found);
	}
	/* Six significant digits: a detection's 0.9 stays 0.9 (jansson's
	 * default of 17 writes 0.90000000000000002), and pixels up to 8192
	 * keep two decimals. */
	char *text = json_dumps(meta, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(meta);
	if(text == NULL)
		return -1;
	int picture = r->h.pixfmt == OOBLEX_PIXFMT_JPEG && !(e->output & OOBLEX_OUTPUT_NO_PICTURE);
	int n = ooblex_chunk_frame(r->h.frame_id, (const uint8_t *)text, strlen(text), r->payload,
		picture ? r->h.payload_len : 0, OOBLEX_CHUNK_MAX, send_chunk, e);
	free(text);
	if(n < 0) {
		atomic_fetch_add(&e->stats.dropped_channel, 1);
		return -1;
	}
	ooblex_dc_window_sent(&e->window, r->h.frame_id);
	return 0;
}

static unsigned max_unacked(const ooblex_egress *e) {
	return e->cfg.dc_max_unacked_frames;
}

/* A frame reached the page (or its way there): counted, and timed. Lock held. */
static void count_sent(ooblex_egress *e, held_result *r, uint64_t sent_us) {
	r->counted = 1;
	atomic_fetch_add(&e->stats.frames_sent, 1);
	ooblex_stage_stats_add(&e->stages, r->h.capture_us, r->h.queued_us, r->h.worker_start_us,
		r->h.worker_end_us, r->received_us, sent_us);
	if(e->host.delivered != NULL)
		e->host.delivered(&r->h, r->payload, r->received_us, sent_us, e->user);
}

/* Drops the frame waiting for the data channel; it counts as dropped by
 * backpressure unless another output (video) took it. Lock held. */
static void drop_pending(ooblex_egress *e) {
	held_result *r = e->pending;
	if(r == NULL)
		return;
	if(!r->counted)
		atomic_fetch_add(&e->stats.dropped_backpressure, 1);
	held_result_free(r);
	e->pending = NULL;
}

/* Sends the frame that waited for the channel to move, if any. Lock held. */
static void send_pending(ooblex_egress *e) {
	held_result *r = e->pending;
	e->pending = NULL;
	if(r == NULL)
		return;
	uint64_t sent_us = 0;
	int sent = (e->output & OOBLEX_OUTPUT_DATACHANNEL) && dc_send(e, r, &sent_us) == 0;
	if(sent && !r->counted)
		count_sent(e, r, sent_us);
	else if(!r->counted && !(e->output & OOBLEX_OUTPUT_DATACHANNEL))
		atomic_fetch_add(&e->stats.dropped_backpressure, 1);	/* a failed send counted itself as dropped_channel */
	held_result_free(r);
}

/* Delivers one processed frame, in order, to the outputs. Returns 1 if it
 * kept r (waiting for the data channel to move), 0 if the caller frees it.
 * Lock held. */
static int deliver(ooblex_egress *e, held_result *r) {
	uint64_t now = now_us(e), sent_us = 0;
	int sent = 0;
	/* A metadata-only result (sampled before `configure` chose the track)
	 * has nothing for the encoder. */
	if((e->output & OOBLEX_OUTPUT_VIDEO) && e->vout != NULL && r->h.pixfmt != OOBLEX_PIXFMT_NONE) {
		int full_range = e->cfg.full_range != NULL && atomic_load(e->cfg.full_range);
		/* I420 (video_reply_format) goes into the encoder as it is; the
		 * video output checks its size again and counts a bad one failed. */
		if(r->h.pixfmt == OOBLEX_PIXFMT_I420)
			ooblex_video_output_push_i420(e->vout, r->payload, r->h.payload_len, r->h.width, r->h.height,
				r->h.capture_us, full_range);
		else
			ooblex_video_output_push(e->vout, r->payload, r->h.payload_len, r->h.width, r->h.height,
				r->h.capture_us, full_range);
		atomic_fetch_add(&e->stats.video_frames_pushed, 1);
		sent = 1;
		sent_us = now;
	}
	if(e->output & OOBLEX_OUTPUT_DATACHANNEL) {
		unsigned in_flight = ooblex_dc_window_in_flight(&e->window);
		if(r->h.pixfmt == OOBLEX_PIXFMT_I420 && !(e->output & OOBLEX_OUTPUT_NO_PICTURE)) {
			/* The page takes JPEGs only. An I420 result here was asked for
			 * while the output was the video track alone, and sampled
			 * before `configure` added the data channel (the ingest asks
			 * for JPEG from the next frame on): a few frames at most, not
			 * worth a JPEG encode under the lock. */
			atomic_fetch_add(&e->stats.dropped_channel, 1);
		} else if(!atomic_load(&e->channel_open)) {
			/* Messages sent before the SCTP association is up are lost anyway. */
			atomic_fetch_add(&e->stats.dropped_channel, 1);
		} else if(in_flight >= max_unacked(e) && now - e->last_dry_us < OOBLEX_EGRESS_DRY_FALLBACK_US) {
			/* The page's link is backed up: keep only the newest frame for
			 * when it moves (an ack or a drain); an older one waiting is
			 * dropped whole. */
			drop_pending(e);
			e->pending = r;
			if(sent)
				count_sent(e, r, sent_us);
			return 1;
		} else {
			if(in_flight >= max_unacked(e)) {
				/* The fallback: no drain or ack for a second; assume it moved. */
				ooblex_dc_window_assume_delivered(&e->window);
			}
			/* A frame still waiting is older than r: sent later, it would
			 * reach the page out of order. The newest wins, as above. */
			drop_pending(e);
			uint64_t t;
			if(dc_send(e, r, &t) == 0 && !sent) {
				sent = 1;
				sent_us = t;
			}
		}
	}
	if(sent)
		count_sent(e, r, sent_us);
	return 0;
}

/* Delivers whatever the reorder buffer releases now. Lock held. */
static void flush_ready(ooblex_egress *e, uint64_t now) {
	if(e->reorder == NULL)
		return;
	uint32_t seq;
	held_result *r;
	while((r = ooblex_reorder_pop(e->reorder, now, &seq)) != NULL) {
		/* An error result holds its frame's place only: a skip. */
		if(r->h.kind == OOBLEX_KIND_ERROR) {
			atomic_fetch_add(&e->stats.errors_resolved, 1);
			held_result_free(r);
		} else if(!deliver(e, r)) {
			held_result_free(r);
		}
	}
	/* Everything before `next` is delivered or given up on: out of flight. */
	atomic_store(&e->resolved_seq, ooblex_reorder_next(e->reorder) - 1);
}

/* A worker could not process one of this session's frames (unknown effect,
 * refused graph, over its time budget...). Not malformed: counted, and put
 * through the reorder buffer as a skip so that its seq is resolved at once
 * (order and in-flight accounting stay right). Returns whether to tell the
 * page (at most once a second per reason). Takes r. Lock held. */
static int on_error_result(ooblex_egress *e, held_result *r, uint64_t now) {
	atomic_fetch_add(&e->stats.results_error, 1);
	unsigned code = r->h.error_code <= OOBLEX_FRAME_ERR_MAX ? r->h.error_code : 0;
	int tell = e->error_told_us[code] == 0 || now - e->error_told_us[code] >= 1000000;
	if(tell)
		e->error_told_us[code] = now;
	if(ooblex_reorder_put(e->reorder, r->h.seq, r, now) != OOBLEX_REORDER_ACCEPTED)
		held_result_free(r);
	return tell;
}

/* What the frame cost its worker, and whether that was over the budget,
 * and the second or later in a row to be (what holds the client). Lock held. */
static void count_worker_time(ooblex_egress *e, const ooblex_frame_header *h) {
	int over = h->kind == OOBLEX_KIND_ERROR && h->error_code == OOBLEX_FRAME_ERR_OVER_BUDGET;
	if(h->worker_start_us != 0 && h->worker_end_us >= h->worker_start_us) {
		uint64_t took = h->worker_end_us - h->worker_start_us;
		atomic_fetch_add(&e->stats.worker_us_total, took);
		atomic_fetch_add(&e->stats.worker_timed, 1);
		if(e->cfg.frame_budget_ms > 0 && took > (uint64_t)e->cfg.frame_budget_ms * 1000u)
			over = 1;
	}
	if(over) {
		atomic_fetch_add(&e->stats.frames_over_budget, 1);
		if(++e->over_budget_streak >= 2)
			atomic_fetch_add(&e->stats.frames_over_budget_again, 1);
	} else if(h->worker_start_us != 0) {
		e->over_budget_streak = 0;
	}
}

ooblex_result_verdict ooblex_egress_on_result(ooblex_egress *e, const uint8_t *msg, size_t len) {
	uint8_t client_id[OOBLEX_CLIENT_ID_LEN];
	g_mutex_lock(&e->lock);
	memcpy(client_id, e->client_id, sizeof(client_id));
	g_mutex_unlock(&e->lock);
	/* Checked where it lies in the reader's buffer, before any copy and
	 * without the lock (a MAC over a whole picture takes a while). */
	ooblex_frame_header h;
	const uint8_t *payload = NULL;
	ooblex_result_verdict v = ooblex_result_gate_check(e->cfg.gate, client_id, msg, len, &h, &payload);
	if(v != OOBLEX_RESULT_OK) {
		count_refused(e, v);
		return v;
	}
	uint64_t now = now_us(e);
	g_mutex_lock(&e->lock);
	if(e->reorder == NULL || ooblex_result_seq_state(h.seq, ooblex_reorder_next(e->reorder),
			(uint32_t)atomic_load(&e->queued_seq)) == OOBLEX_SEQ_NEVER_QUEUED) {
		/* Never queued: taking it would move the reorder window (a
		 * far-future seq makes every genuine result late). One already
		 * resolved goes on, to be refused and counted as late. */
		g_mutex_unlock(&e->lock);
		count_refused(e, OOBLEX_RESULT_UNEXPECTED);
		return OOBLEX_RESULT_UNEXPECTED;
	}
	count_worker_time(e, &h);
	held_result *r = g_malloc0(sizeof(*r));
	r->msg = g_memdup2(msg, len);
	r->h = h;
	r->payload = r->msg + (payload - msg);
	r->received_us = now;
	int tell_error = 0;
	if(h.kind == OOBLEX_KIND_ERROR) {
		tell_error = on_error_result(e, r, now);
	} else {
		atomic_fetch_add(&e->stats.results, 1);
		/* The round trip through Redis and a worker: what the adaptive wait
		 * for missing frames follows. */
		if(h.queued_us != 0 && now > h.queued_us)
			ooblex_reorder_observe(e->reorder, now - h.queued_us);
		if(ooblex_reorder_put(e->reorder, h.seq, r, now) != OOBLEX_REORDER_ACCEPTED)
			held_result_free(r);
	}
	flush_ready(e, now);
	g_mutex_unlock(&e->lock);
	/* h, not r: the reorder buffer may have delivered and freed r. */
	if(tell_error && e->host.worker_error != NULL)
		e->host.worker_error(h.seq, h.error_code <= OOBLEX_FRAME_ERR_MAX ? h.error_code : 0, h.error, e->user);
	return OOBLEX_RESULT_OK;
}

void ooblex_egress_tick(ooblex_egress *e) {
	uint64_t now = now_us(e);
	g_mutex_lock(&e->lock);
	if(e->reorder != NULL && ooblex_reorder_held(e->reorder) > 0)
		flush_ready(e, now);
	g_mutex_unlock(&e->lock);
}

int ooblex_egress_on_data(ooblex_egress *e, const uint8_t *buf, size_t len) {
	/* Anything from the page proves the channel open both ways; ooblex.js
	 * says hello as soon as it opens. */
	int opened = !atomic_exchange(&e->channel_open, 1);
	/* Only an ack for a frame sent and not yet acked moves the window (dc_window.h). */
	ooblex_dc_message m;
	ooblex_dc_message_kind kind = ooblex_dc_message_parse(buf, buf != NULL ? len : 0, &m);
	if(kind == OOBLEX_DC_MSG_BAD_ACK) {
		atomic_fetch_add(&e->stats.bad_acks, 1);
	} else if(kind == OOBLEX_DC_MSG_ACK) {
		uint64_t now = now_us(e);
		g_mutex_lock(&e->lock);
		if(ooblex_dc_window_ack(&e->window, m.ack_id) == OOBLEX_DC_ACK_OK) {
			e->last_dry_us = now;
			if(ooblex_dc_window_in_flight(&e->window) < max_unacked(e))
				send_pending(e);
		} else {
			atomic_fetch_add(&e->stats.bad_acks, 1);
		}
		g_mutex_unlock(&e->lock);
	}
	return opened;
}

int ooblex_egress_data_ready(ooblex_egress *e) {
	int opened = !atomic_exchange(&e->channel_open, 1);
	/* SCTP's SENDER_DRY: the newest frame that waited goes now. */
	atomic_fetch_add(&e->stats.data_ready_events, 1);
	uint64_t now = now_us(e);
	g_mutex_lock(&e->lock);
	ooblex_dc_window_drained(&e->window);
	e->last_dry_us = now;
	send_pending(e);
	g_mutex_unlock(&e->lock);
	return opened;
}

int ooblex_egress_channel_open(const ooblex_egress *e) {
	return atomic_load(&e->channel_open);
}

void ooblex_egress_request_keyframe(ooblex_egress *e) {
	g_mutex_lock(&e->lock);
	if(e->vout != NULL)
		ooblex_video_output_request_keyframe(e->vout);
	g_mutex_unlock(&e->lock);
}

/* The send rate's target to the video output's mailbox. Lock held. */
static void apply_send_rate(ooblex_egress *e) {
	if(e->vout != NULL)
		ooblex_video_output_remb(e->vout, (uint32_t)ooblex_send_rate_target(&e->send_rate));
}

void ooblex_egress_remb(ooblex_egress *e, uint32_t bitrate_bps) {
	g_mutex_lock(&e->lock);
	ooblex_send_rate_on_remb(&e->send_rate, bitrate_bps);
	apply_send_rate(e);
	g_mutex_unlock(&e->lock);
}

void ooblex_egress_rtcp(ooblex_egress *e, const uint8_t *rtcp, size_t len) {
	ooblex_rtcp_report_block blocks[8];
	size_t n = ooblex_rtcp_report_blocks(rtcp, len, blocks, G_N_ELEMENTS(blocks));
	if(n == 0)
		return;
	/* The browser receives one video stream from us: every block in the
	 * video RTCP is about it; should there be more, the worst decides. */
	uint8_t worst = 0;
	for(size_t i = 0; i < n; i++)
		if(blocks[i].fraction_lost > worst)
			worst = blocks[i].fraction_lost;
	uint64_t now = now_us(e);
	g_mutex_lock(&e->lock);
	if(e->vout != NULL) {
		ooblex_send_rate_on_loss(&e->send_rate, worst, now);
		apply_send_rate(e);
	}
	g_mutex_unlock(&e->lock);
}

static void send_rtp(const uint8_t *packet, size_t len, void *user) {
	ooblex_egress *e = user;
	if(e->host.send_rtp != NULL)
		e->host.send_rtp(packet, len, e->user);
}

int ooblex_egress_set_output(ooblex_egress *e, unsigned output, ooblex_codec codec, uint8_t payload_type,
		char *err, size_t errlen) {
	g_mutex_lock(&e->lock);
	int have = e->vout != NULL;
	g_mutex_unlock(&e->lock);
	/* The thread starts and stops without the lock: a stop waits for a
	 * frame's encode. */
	ooblex_video_output *start = NULL, *stop = NULL;
	if((output & OOBLEX_OUTPUT_VIDEO) && !have) {
		ooblex_video_output_config vcfg = {
			.codec = codec,
			.payload_type = payload_type,
			.bitrate_bps = e->cfg.video_bitrate_bps,
			.max_packet = 1200,
			.fps = e->cfg.video_fps,
			.max_width = e->cfg.video_max_width,
			.max_height = e->cfg.video_max_height,
		};
		start = ooblex_video_output_start(&vcfg, send_rtp, e, err, errlen);
		if(start == NULL)
			return -1;
	}
	g_mutex_lock(&e->lock);
	if(start != NULL && e->vout == NULL) {
		e->vout = start;
		apply_send_rate(e);
	} else if(start != NULL)
		stop = start;	/* another call started one meanwhile */
	else if(!(output & OOBLEX_OUTPUT_VIDEO)) {
		stop = e->vout;
		e->vout = NULL;
	}
	e->output = output;
	g_mutex_unlock(&e->lock);
	ooblex_video_output_stop(stop);
	return 0;
}

unsigned ooblex_egress_output(ooblex_egress *e) {
	g_mutex_lock(&e->lock);
	unsigned output = e->output;
	g_mutex_unlock(&e->lock);
	return output;
}

void ooblex_egress_stop(ooblex_egress *e) {
	atomic_store(&e->channel_open, 0);
	g_mutex_lock(&e->lock);
	ooblex_video_output *vout = e->vout;
	e->vout = NULL;
	drop_pending(e);
	g_mutex_unlock(&e->lock);
	ooblex_video_output_stop(vout);	/* joins its thread: a frame's encode at most */
}

void ooblex_egress_restart(ooblex_egress *e, const uint8_t client_id[OOBLEX_CLIENT_ID_LEN]) {
	g_mutex_lock(&e->lock);
	memcpy(e->client_id, client_id, OOBLEX_CLIENT_ID_LEN);
	ooblex_reorder_free(e->reorder);
	e->reorder = ooblex_reorder_new(OOBLEX_EGRESS_REORDER_CAPACITY, (uint64_t)e->cfg.reorder_wait_ms * 1000,
		held_result_free);
	if(e->reorder != NULL && e->cfg.reorder_adaptive)
		ooblex_reorder_set_adaptive(e->reorder,
			(uint64_t)MIN(e->cfg.reorder_min_wait_ms, e->cfg.reorder_wait_ms) * 1000, 10 * 1000);
	ooblex_stage_stats_init(&e->stages);
	atomic_store(&e->resolved_seq, 0);
	atomic_store(&e->queued_seq, 0);
	ooblex_dc_window_reset(&e->window);
	e->last_dry_us = 0;
	/* A new run may be a new peer on another link. */
	ooblex_send_rate_init(&e->send_rate, e->cfg.video_bitrate_bps);
	apply_send_rate(e);
	g_mutex_unlock(&e->lock);
}

ooblex_egress *ooblex_egress_new(const ooblex_egress_config *cfg, const ooblex_egress_host *host, void *user) {
	ooblex_egress *e = g_malloc0(sizeof(*e));
	e->cfg = *cfg;
	if(e->cfg.dc_max_unacked_frames == 0)
		e->cfg.dc_max_unacked_frames = 8;
	e->cfg.dc_max_unacked_frames = MIN(e->cfg.dc_max_unacked_frames, OOBLEX_DC_WINDOW);
	if(e->cfg.video_fps <= 0)
		e->cfg.video_fps = 30;
	if(e->cfg.video_bitrate_bps <= 0)
		e->cfg.video_bitrate_bps = 1000000;	/* the encoder's own default */
	ooblex_send_rate_init(&e->send_rate, e->cfg.video_bitrate_bps);
	e->host = *host;
	e->user = user;
	g_mutex_init(&e->lock);
	ooblex_stage_stats_init(&e->stages);
	ooblex_dc_window_reset(&e->window);
	return e;
}

void ooblex_egress_free(ooblex_egress *e) {
	if(e == NULL)
		return;
	ooblex_video_output_stop(e->vout);
	if(e->pending != NULL)
		held_result_free(e->pending);
	ooblex_reorder_free(e->reorder);
	g_mutex_clear(&e->lock);
	g_free(e);
}

const ooblex_egress_stats *ooblex_egress_get_stats(const ooblex_egress *e) {
	return &e->stats;
}

void ooblex_egress_snapshot_take(ooblex_egress *e, ooblex_egress_snapshot *out) {
	memset(out, 0, sizeof(*out));
	uint64_t now = now_us(e);
	g_mutex_lock(&e->lock);
	out->started = e->reorder != NULL;
	out->output = e->output;
	if(e->reorder != NULL) {
		out->reorder = *ooblex_reorder_get_stats(e->reorder);
		out->reorder_held = ooblex_reorder_held(e->reorder);
		out->reorder_wait_us = ooblex_reorder_wait(e->reorder);
	}
	if(e->vout != NULL) {
		const ooblex_video_output_stats *vs = ooblex_video_output_get_stats(e->vout);
		ooblex_egress_video_counts *v = &out->video;
		out->video_running = 1;
		v->frames_in = atomic_load(&vs->frames_in);
		v->frames_sent = atomic_load(&vs->frames_sent);
		v->frames_dropped = atomic_load(&vs->frames_dropped);
		v->frames_failed = atomic_load(&vs->frames_failed);
		v->keyframes = atomic_load(&vs->keyframes);
		v->keyframe_requests = atomic_load(&vs->keyframe_requests);
		v->packets = atomic_load(&vs->packets);
		v->bytes = atomic_load(&vs->bytes);
		v->encode_us_total = atomic_load(&vs->encode_us_total);
		v->decode_us_total = atomic_load(&vs->decode_us_total);
		v->bitrate_bps = atomic_load(&vs->bitrate_bps);
		v->max_packet_seen = atomic_load(&vs->max_packet_seen);
		out->send_rate = e->send_rate;
		out->send_rate_target_bps = ooblex_send_rate_target(&e->send_rate);
	}
	out->effective_fps = ooblex_stage_stats_fps(&e->stages, now);
	for(int st = 0; st < OOBLEX_STAGE_COUNT; st++)
		ooblex_stage_stats_summary(&e->stages, (ooblex_stage)st, &out->latency[st]);
	g_mutex_unlock(&e->lock);
}

const atomic_uint_fast32_t *ooblex_egress_resolved_seq(const ooblex_egress *e) {
	return &e->resolved_seq;
}

atomic_uint_fast32_t *ooblex_egress_queued_seq(ooblex_egress *e) {
	return &e->queued_seq;
}
