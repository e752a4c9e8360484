/*
 * ingest.c - per-session decode thread.
 */
#include "ingest.h"

#include <glib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitstream_headers.h"
#include "depay.h"
#include "frame_packer.h"
#include "frame_sampler.h"
#include "reorder.h"
#include "rtp_packet.h"
#include "video_decoder.h"

typedef struct queued_packet {
	struct queued_packet *next;	/* the packet queue is a list of them */
	uint64_t arrival_us;
	ooblex_rtp_packet rtp;	/* parsed on the ingest thread; points into data */
	size_t len;
	uint8_t data[];
} queued_packet;

/* The thread is woken once per frame, not per packet: a wake-up (a futex
 * call here, a context switch there) costs about as much as handling the
 * packet, and nothing can be decoded before the frame's last packet anyway.
 * The media thread wakes it for a packet that ends a frame (marker bit), one
 * that starts the next (a new timestamp: the marker was lost), when
 * WAKE_BATCH packets are waiting, and for every packet while the jitter
 * buffer waits behind a gap (that packet may be the one missing). Packets
 * waiting for none of these are taken after one to two FLUSH_US (the
 * thread's timer is set when it goes to sleep: a packet listed later does
 * not wake it to set it), so a stream that stops without its marker never
 * leaves them behind. Long enough never to fire while frames flow (at
 * 10 fps they are 100 ms apart); an idle session's thread wakes 4 times a
 * second. */
#define WAKE_BATCH 64
#define FLUSH_US 250000

/* What a queued packet counts against max_queued_bytes: its copy and our
 * bookkeeping (malloc's own few bytes aside). */
static size_t queued_cost(size_t len) {
	return sizeof(queued_packet) + len;
}

/* A token bucket holding at most one second's worth. */
typedef struct budget_bucket {
	double tokens, capacity, per_us;
} budget_bucket;

static void bucket_init(budget_bucket *b, double per_s, double capacity) {
	b->capacity = capacity > per_s ? capacity : per_s;
	b->tokens = b->capacity;
	b->per_us = per_s / 1e6;
}

static void bucket_refill(budget_bucket *b, uint64_t elapsed_us) {
	b->tokens += (double)elapsed_us * b->per_us;
	if(b->tokens > b->capacity)
		b->tokens = b->capacity;
}

struct ooblex_ingest {
	GThread *thread;
	ooblex_ingest_callbacks cb;
	void *user;
	ooblex_ingest_stats *stats;
	unsigned max_queued;
	unsigned wake_batch;	/* WAKE_BATCH, or half a smaller queue bound */
	size_t max_queued_bytes;
	/* Reserved by push() before it copies, given back when the thread takes
	 * the packets: what the bounds count. */
	atomic_uint queued_count;
	atomic_size_t queued_bytes;
	/* The packet queue, under queue_lock. */
	GMutex queue_lock;
	GCond queue_cond;
	queued_packet *head, *tail;
	unsigned listed;	/* packets in the list */
	gint64 first_listed_mono;	/* when the oldest of them was listed */
	int wake_due;	/* a frame ended (or WAKE_BATCH): take them now */
	int thread_waiting;	/* the thread sleeps on queue_cond: signal it */
	int wake_every_packet;	/* the jitter buffer waits behind a gap */
	int have_last_ts;
	uint32_t last_ts;	/* RTP timestamp of the packet listed last */
	int last_marker;	/* and whether it ended its frame */
	atomic_int stopping;
	/* Settings that configure() may change while streaming. */
	GMutex settings_lock;
	char effect[OOBLEX_NAME_MAX + 1];
	unsigned frame_skip;
	uint8_t reply_pixfmt;	/* the host's output decides it (ooblex_ingest_set_reply_pixfmt) */
	/* Owned by the thread. */
	ooblex_reorder *jitter;	/* RTP packets back in sequence order */
	ooblex_seq_unwrapper unwrap;
	ooblex_depay *depay;
	ooblex_decoder *decoder;
	ooblex_sampler sampler;
	ooblex_packer *packer;
	ooblex_codec codec;
	unsigned max_decode_w, max_decode_h;
	/* Keyframes cost a decoder reinitialisation (H.264 SPS) or a whole
	 * picture's worth of intra decoding: at most so many, and so many
	 * bytes of them, per second. */
	budget_bucket keyframe_count, keyframe_bytes;
	uint64_t budget_last_us;
	uint8_t client_id[OOBLEX_CLIENT_ID_LEN];
	uint8_t jpeg_quality;
	uint64_t pli_interval_us, deadline_us, last_pli_us;
	uint64_t frame_id;
	uint32_t seq;
	/* Frames queued recently, to count those still in flight. */
	unsigned max_in_flight;
	const atomic_uint_fast32_t *resolved_seq;
	ooblex_arrival_spread *arrival_spread;
	atomic_uint_fast32_t *queued_seq;
	const atomic_uint *fair_cap;
	const atomic_uint_fast64_t *fair_interval_us;
	const atomic_uint *latency_skip_milli;
	unsigned latency_credit;	/* thousandths of a frame earned towards the next one */
	/* The sender's rate (sender_skip): the capture times of the frames
	 * handed to the decoder lately, to find a picture's (its pts is its
	 * arrival time), and the credit earned by capture time. */
	const atomic_uint *sender_skip;
	struct {
		uint64_t arrival_us;
		uint64_t spread_us;	/* its last packet's arrival - its first's */
		uint32_t timestamp;
	} recent[8];
	unsigned recent_next;
	int have_rate_ts;
	uint32_t rate_last_ts;
	uint64_t rate_credit_ticks;	/* capture time earned, not yet spent on a frame */
	uint64_t last_queued_us;
	struct {
		uint32_t seq;
		uint64_t queued_us;
	} sent[OOBLEX_MAX_IN_FLIGHT];
	unsigned sent_next;
};

/* Frames queued but neither resolved by the return path nor past their deadline. */
static unsigned frames_in_flight(const ooblex_ingest *ing, uint64_t now) {
	uint32_t resolved = ing->resolved_seq ? (uint32_t)atomic_load(ing->resolved_seq) : 0;
	unsigned n = 0;
	for(unsigned i = 0; i < OOBLEX_MAX_IN_FLIGHT; i++) {
		if(ing->sent[i].seq == 0 || (int32_t)(ing->sent[i].seq - resolved) <= 0)
			continue;
		/* Without a deadline a lost result would hold its slot forever: 2 s then. */
		uint64_t expiry = ing->deadline_us ? ing->deadline_us : 2000000u;
		if(now < ing->sent[i].queued_us + expiry)
			n++;
	}
	return n;
}

static void request_keyframe(ooblex_ingest *ing) {
	uint64_t now = g_get_monotonic_time();
	if(ing->last_pli_us != 0 && now - ing->last_pli_us < ing->pli_interval_us)
		return;
	ing->last_pli_us = now;
	atomic_fetch_add(&ing->stats->keyframes_requested, 1);
	ing->cb.request_keyframe(ing->user);
}

/* One frame of a 30 fps camera at 90 kHz. */
#define OOBLEX_INGEST_CAMERA_TICKS 3000u

/* Whether a picture is within the rate its source-sampled sender was asked
 * for (ooblex_ingest_config.sender_skip). Every picture earns credit for
 * the capture time since the one before; one taken costs a frame's worth. */
static int within_sender_rate(ooblex_ingest *ing, uint64_t first_arrival_us) {
	unsigned skip = ing->sender_skip != NULL ? atomic_load(ing->sender_skip) : 0;
	int found = 0;
	uint32_t ts = 0;
	for(unsigned i = 0; i < G_N_ELEMENTS(ing->recent); i++)
		if(ing->recent[i].arrival_us == first_arrival_us && first_arrival_us != 0) {
			ts = ing->recent[i].timestamp;
			found = 1;
			break;
		}
	if(!found)
		return 1;	/* its capture time is not known: not judged */
	/* A frame costs skip camera frames of capture time; up to two frames'
	 * worth may be saved up, for a sender that keeps the rate on average
	 * but not frame by frame. */
	uint64_t cost = (uint64_t)(skip > 1 ? skip : 1) * OOBLEX_INGEST_CAMERA_TICKS;
	if(!ing->have_rate_ts) {
		ing->have_rate_ts = 1;
		ing->rate_credit_ticks = cost;
	} else {
		/* Serial-number arithmetic: forward earns the time since; back (a
		 * new stream from the same page, whose clock starts elsewhere:
		 * frames leave the depacketizer in order) starts again from it. */
		uint32_t ahead = ts - ing->rate_last_ts;
		if(ahead < 0x80000000u)
			ing->rate_credit_ticks = MIN(ing->rate_credit_ticks + ahead, 2 * cost);
	}
	ing->rate_last_ts = ts;
	if(skip <= 1)
		return 1;
	if(ing->rate_credit_ticks < cost)
		return 0;
	ing->rate_credit_ticks -= cost;
	return 1;
}

/* The arrival spread of the frame whose first packet came at first_arrival_us
 * (a picture's pts), 0 when it is no longer among the recent ones. */
static uint64_t arrival_spread_of(const ooblex_ingest *ing, uint64_t first_arrival_us) {
	for(unsigned i = 0; i < G_N_ELEMENTS(ing->recent); i++)
		if(ing->recent[i].arrival_us == first_arrival_us && first_arrival_us != 0)
			return ing->recent[i].spread_us;
	return 0;
}

static void handle_picture(ooblex_ingest *ing, const AVFrame *pic, uint64_t first_arrival_us) {
	ing->frame_id++;
	if(!within_sender_rate(ing, first_arrival_us)) {
		atomic_fetch_add(&ing->stats->frames_over_sender_rate, 1);
		return;
	}
	g_mutex_lock(&ing->settings_lock);
	if(ing->sampler.frame_skip != ing->frame_skip)
		ooblex_sampler_set_skip(&ing->sampler, ing->frame_skip);
	int take = ooblex_sampler_take(&ing->sampler);
	ooblex_frame_header h;
	if(take) {
		memset(&h, 0, sizeof(h));
		memcpy(h.effect, ing->effect, sizeof(h.effect));
		h.reply_pixfmt = ing->reply_pixfmt;
	}
	g_mutex_unlock(&ing->settings_lock);
	if(!take)
		return;
	/* The latency budget's extra skip: every sampled frame earns 1000, one
	 * goes on per latency_skip_milli earned. A frame deferred below keeps
	 * its credit, so the next one goes instead (the newest wins). */
	unsigned extra = ing->latency_skip_milli != NULL ? atomic_load(ing->latency_skip_milli) : 0;
	if(extra > 1000) {
		ing->latency_credit += 1000;
		if(ing->latency_credit < extra) {
			atomic_fetch_add(&ing->stats->frames_shed_latency, 1);
			return;
		}
		/* Below extra + 1000 the fraction carries over; a deferral (below)
		 * adds at most one frame's worth more. */
		if(ing->latency_credit > extra + 999)
			ing->latency_credit = extra + 999;
	}
	uint64_t now = ooblex_now_us();
	unsigned in_flight = ing->max_in_flight > 0 || ing->fair_cap != NULL ? frames_in_flight(ing, now) : 0;
	if(ing->max_in_flight > 0 && in_flight >= ing->max_in_flight) {
		/* Workers are behind: sending more would only queue up latency. */
		ooblex_sampler_defer(&ing->sampler);
		atomic_fetch_add(&ing->stats->frames_deferred, 1);
		return;
	}
	/* This client's share of the fleet is in use (fair_share.h): its next
	 * frame waits, so that other clients' frames find a worker free. */
	unsigned cap = ing->fair_cap != NULL ? atomic_load(ing->fair_cap) : 0;
	uint64_t interval = ing->fair_interval_us != NULL ? atomic_load(ing->fair_interval_us) : 0;
	if((cap > 0 && in_flight >= cap) ||
			(interval > 0 && ing->last_queued_us != 0 && now - ing->last_queued_us < interval)) {
		ooblex_sampler_defer(&ing->sampler);
		atomic_fetch_add(&ing->stats->frames_deferred_fair, 1);
		return;
	}
	h.kind = OOBLEX_KIND_FRAME;
	memcpy(h.client_id, ing->client_id, OOBLEX_CLIENT_ID_LEN);
	h.frame_id = ing->frame_id;
	h.seq = ing->seq + 1;
	h.capture_us = first_arrival_us;
	h.queued_us = now;
	h.deadline_us = ing->deadline_us ? first_arrival_us + ing->deadline_us : 0;
	h.jpeg_quality = ing->jpeg_quality;
	size_t len = 0;
	uint8_t *msg = ooblex_packer_pack(ing->packer, pic, &h, &len);
	if(msg == NULL) {
		atomic_fetch_add(&ing->stats->frames_unsupported, 1);
		return;
	}
	ing->seq++;
	if(ing->arrival_spread != NULL)
		ooblex_arrival_spread_put(ing->arrival_spread, ing->seq, arrival_spread_of(ing, first_arrival_us));
	ing->sent[ing->sent_next].seq = ing->seq;
	ing->sent[ing->sent_next].queued_us = now;
	ing->sent_next = (ing->sent_next + 1) % OOBLEX_MAX_IN_FLIGHT;
	ing->last_queued_us = now;
	if(extra > 1000)
		ing->latency_credit -= extra;
	else
		ing->latency_credit = UINT_MAX / 2;
	atomic_fetch_add(&ing->stats->frames_sampled, 1);
	/* Before the frame can reach a worker: its result may come back at once. */
	if(ing->queued_seq != NULL)
		atomic_store(ing->queued_seq, ing->seq);
	ing->cb.frame_ready(msg, len, ing->user);
}

/* The size an assembled frame claims, before the decoder allocates it:
 * 1 fits (or claims none), 0 too large, -1 a malformed header. Raises
 * *keyframe for an H.264 frame carrying an SPS (the decoder reinitialises
 * on it, whatever the NAL units around it). */
static int check_picture_size(ooblex_ingest *ing, const ooblex_encoded_frame *ef, int *keyframe) {
	unsigned w = 0, h = 0;
	int n;
	if(ing->codec == OOBLEX_CODEC_VP8)
		n = ef->keyframe ? ooblex_vp8_frame_size(ef->data, ef->len, &w, &h) : 0;
	else
		n = ooblex_h264_frame_size(ef->data, ef->len, &w, &h);
	if(n < 0)
		return -1;
	if(n == 0)
		return 1;
	if(ing->codec == OOBLEX_CODEC_H264)
		*keyframe = 1;
	return ooblex_picture_fits(w, h, ing->max_decode_w, ing->max_decode_h) ? 1 : 0;
}

/* Takes one keyframe of len bytes from the per-second budget, or says no. */
static int keyframe_budget_take(ooblex_ingest *ing, size_t len) {
	uint64_t now = (uint64_t)g_get_monotonic_time();
	uint64_t elapsed = ing->budget_last_us ? now - ing->budget_last_us : 0;
	ing->budget_last_us = now;
	bucket_refill(&ing->keyframe_count, elapsed);
	bucket_refill(&ing->keyframe_bytes, elapsed);
	if(ing->keyframe_count.tokens < 1.0 || ing->keyframe_bytes.tokens < (double)len)
		return 0;
	ing->keyframe_count.tokens -= 1.0;
	ing->keyframe_bytes.tokens -= (double)len;
	return 1;
}

/* One packet, in sequence order: depacketize, decode what completes. */
static void handle_packet(ooblex_ingest *ing, const queued_packet *qp) {
	const ooblex_depay_stats *ds = ooblex_depay_get_stats(ing->depay);
	uint64_t dropped_before = ds->frames_dropped, bad_before = ds->bad_packets, over_before = ds->frames_over_cap;
	ooblex_encoded_frame ef;
	int need_keyframe = 0;
	ooblex_depay_result r = ooblex_depay_push(ing->depay, &qp->rtp, qp->arrival_us, &ef, &need_keyframe);
	if(ds->frames_dropped != dropped_before)
		atomic_fetch_add(&ing->stats->frames_incomplete, ds->frames_dropped - dropped_before);
	if(ds->bad_packets != bad_before)
		atomic_fetch_add(&ing->stats->packets_malformed, ds->bad_packets - bad_before);
	if(ds->frames_over_cap != over_before)
		atomic_fetch_add(&ing->stats->frames_over_cap, ds->frames_over_cap - over_before);
	for(; r == OOBLEX_DEPAY_FRAME; r = ooblex_depay_next(ing->depay, &ef)) {
		atomic_fetch_add(&ing->stats->frames_assembled, 1);
		int keyframe = ef.keyframe;
		int fits = check_picture_size(ing, &ef, &keyframe);
		if(fits <= 0 || (keyframe && !keyframe_budget_take(ing, ef.len))) {
			/* Never decoded: what follows refers to it, so wait for the
			 * next keyframe that passes. */
			atomic_fetch_add(fits < 0 ? &ing->stats->decode_errors :
				fits == 0 ? &ing->stats->frames_too_large : &ing->stats->keyframes_over_budget, 1);
			ooblex_depay_reset(ing->depay);
			need_keyframe = 1;
			break;
		}
		gint64 t0 = g_get_monotonic_time();
		/* The arrival time rides as the picture's pts: a picture the decoder
		 * held back (video_decoder.h) keeps its own frame's. */
		ing->recent[ing->recent_next].arrival_us = ef.first_arrival_us;
		ing->recent[ing->recent_next].spread_us = ef.last_arrival_us > ef.first_arrival_us ?
			ef.last_arrival_us - ef.first_arrival_us : 0;
		ing->recent[ing->recent_next].timestamp = ef.timestamp;
		ing->recent_next = (ing->recent_next + 1) % G_N_ELEMENTS(ing->recent);
		int rc = ooblex_decoder_decode(ing->decoder, ef.data, ef.len, (int64_t)ef.first_arrival_us);
		atomic_fetch_add(&ing->stats->decode_us_total, (uint64_t)(g_get_monotonic_time() - t0));
		AVFrame *pic;
		while(ooblex_decoder_next(ing->decoder, &pic) == 1) {
			atomic_fetch_add(&ing->stats->frames_decoded, 1);
			/* Pixels go to the workers as they come; whoever turns them back
			 * into video needs to know their range. */
			atomic_store(&ing->stats->full_range, pic->color_range == AVCOL_RANGE_JPEG ||
				pic->format == AV_PIX_FMT_YUVJ420P);
			handle_picture(ing, pic, pic->pts != AV_NOPTS_VALUE ? (uint64_t)pic->pts : ef.first_arrival_us);
		}
		if(rc < 0) {
			/* Corrupt bitstream: what follows references garbage, so resync. */
			atomic_fetch_add(&ing->stats->decode_errors, 1);
			ooblex_depay_reset(ing->depay);
			need_keyframe = 1;
			break;
		}
	}
	if(need_keyframe)
		request_keyframe(ing);
}

/* A packet from the queue goes into the jitter buffer; what the buffer
 * releases (in order, gaps given up after the wait) goes on. */
static void receive_packet(ooblex_ingest *ing, queued_packet *qp) {
	if(ooblex_rtp_parse(qp->data, qp->len, &qp->rtp) < 0) {
		atomic_fetch_add(&ing->stats->packets_malformed, 1);
		free(qp);
		return;
	}
	int first = !ing->unwrap.started;
	uint32_t seq = ooblex_seq_unwrap(&ing->unwrap, qp->rtp.seq);
	if(first)
		ooblex_reorder_set_next(ing->jitter, seq);
	ooblex_reorder_put_result res = ooblex_reorder_put(ing->jitter, seq, qp, qp->arrival_us);
	if(res != OOBLEX_REORDER_ACCEPTED) {
		/* A duplicate, or a retransmission after its gap was given up on. */
		atomic_fetch_add(res == OOBLEX_REORDER_LATE ? &ing->stats->packets_late : &ing->stats->packets_duplicate, 1);
		free(qp);
	}
}

static void release_packets(ooblex_ingest *ing) {
	const ooblex_reorder_stats *js = ooblex_reorder_get_stats(ing->jitter);
	uint64_t skipped_before = js->skipped;
	uint32_t seq;
	queued_packet *qp;
	while((qp = ooblex_reorder_pop(ing->jitter, ooblex_now_us(), &seq)) != NULL) {
		handle_packet(ing, qp);
		free(qp);
	}
	if(js->skipped != skipped_before)
		atomic_fetch_add(&ing->stats->packets_lost, js->skipped - skipped_before);
}

static void ingest_free(ooblex_ingest *ing) {
	for(queued_packet *qp = ing->head, *next; qp != NULL; qp = next) {
		next = qp->next;
		free(qp);
	}
	g_mutex_clear(&ing->queue_lock);
	g_cond_clear(&ing->queue_cond);
	ooblex_reorder_free(ing->jitter);
	ooblex_depay_free(ing->depay);
	/* Not drained: pictures it still holds back would go to a session that is over. */
	ooblex_decoder_free(ing->decoder);
	ooblex_packer_free(ing->packer);
	g_mutex_clear(&ing->settings_lock);
	g_free(ing);
}

/* While the jitter buffer holds packets behind a gap, wake up this often to
 * give the gap up in time even when no packet arrives. */
#define JITTER_POLL_US 5000

/* Waits (queue_lock held) until packets are due or the jitter buffer's poll
 * comes, and takes the list. Returns NULL when there is nothing to take
 * (the poll, or stopping). */
static queued_packet *take_packets(ooblex_ingest *ing, int jitter_waits) {
	for(;;) {
		if(atomic_load(&ing->stopping))
			return NULL;
		gint64 now = g_get_monotonic_time();
		/* While the jitter buffer waits behind a gap, every packet is due:
		 * also those listed before wake_every_packet was set. */
		if(ing->head != NULL && (ing->wake_due || jitter_waits || now >= ing->first_listed_mono + FLUSH_US))
			break;
		/* The earliest of: the oldest packet's flush (or, with none listed,
		 * FLUSH_US from now: a packet listed meanwhile does not wake the
		 * thread to set its timer), the jitter buffer's poll. */
		gint64 until = (ing->head != NULL ? ing->first_listed_mono : now) + FLUSH_US;
		if(jitter_waits && now + JITTER_POLL_US < until)
			until = now + JITTER_POLL_US;
		ing->thread_waiting = 1;
		gboolean signalled = g_cond_wait_until(&ing->queue_cond, &ing->queue_lock, until);
		ing->thread_waiting = 0;
		atomic_fetch_add(&ing->stats->wakeups, 1);
		if(!signalled && ing->head == NULL)
			return NULL;	/* the jitter buffer's poll (gaps to give up), or idle */
	}
	queued_packet *list = ing->head;
	ing->head = ing->tail = NULL;
	ing->listed = 0;
	ing->wake_due = 0;
	return list;
}

static gpointer ingest_thread(gpointer data) {
	ooblex_ingest *ing = data;
	g_mutex_lock(&ing->queue_lock);
	while(!atomic_load(&ing->stopping)) {
		queued_packet *list = take_packets(ing, ooblex_reorder_held(ing->jitter) > 0);
		g_mutex_unlock(&ing->queue_lock);
		unsigned n = 0;
		size_t bytes = 0;
		for(queued_packet *qp = list, *next; qp != NULL; qp = next) {
			next = qp->next;
			n++;
			bytes += queued_cost(qp->len);
			/* A stop finishes the packet in hand, not the whole batch. */
			if(atomic_load(&ing->stopping)) {
				free(qp);
				continue;
			}
			receive_packet(ing, qp);
			release_packets(ing);
		}
		if(list == NULL)
			release_packets(ing);
		/* Only now: the bounds count the packets until they are handled. */
		atomic_fetch_sub(&ing->queued_count, n);
		atomic_fetch_sub(&ing->queued_bytes, bytes);
		g_mutex_lock(&ing->queue_lock);
		ing->wake_every_packet = ooblex_reorder_held(ing->jitter) > 0;
	}
	g_mutex_unlock(&ing->queue_lock);
	/* What is left is freed with the rest. */
	ing->cb.stopped(ing->user);
	ingest_free(ing);
	return NULL;
}

ooblex_ingest *ooblex_ingest_start(const ooblex_ingest_config *cfg, const ooblex_ingest_callbacks *cb,
		void *user, char *err, size_t errlen) {
	ooblex_codec codec = ooblex_codec_from_name(cfg->codec);
	if(codec == OOBLEX_CODEC_NONE) {
		snprintf(err, errlen, "unsupported codec %s", cfg->codec ? cfg->codec : "(none)");
		return NULL;
	}
	ooblex_ingest *ing = g_malloc0(sizeof(*ing));
	g_mutex_init(&ing->queue_lock);
	g_cond_init(&ing->queue_cond);
	g_mutex_init(&ing->settings_lock);
	ing->codec = codec;
	ing->max_decode_w = cfg->max_decode_width ? cfg->max_decode_width : OOBLEX_INGEST_DEFAULT_DECODE_WIDTH;
	ing->max_decode_h = cfg->max_decode_height ? cfg->max_decode_height : OOBLEX_INGEST_DEFAULT_DECODE_HEIGHT;
	/* Whole macroblocks, either orientation (as ooblex_picture_fits counts). */
	uint64_t lim_long = (MAX(ing->max_decode_w, ing->max_decode_h) + 15) / 16 * 16;
	uint64_t lim_short = (MIN(ing->max_decode_w, ing->max_decode_h) + 15) / 16 * 16;
	/* An encoded frame larger than the raw picture is not video a browser sends. */
	size_t max_frame_bytes = cfg->max_frame_bytes ? cfg->max_frame_bytes : (size_t)(lim_long * lim_short * 3 / 2);
	unsigned max_frame_packets = cfg->max_frame_packets ? cfg->max_frame_packets :
		(unsigned)MAX(max_frame_bytes / 1024, 16);
	double keyframes_per_s = cfg->max_keyframes_per_s ? cfg->max_keyframes_per_s : 4;
	double keyframe_bytes_per_s = (double)(cfg->max_keyframe_bytes_per_s ? cfg->max_keyframe_bytes_per_s :
		2 * max_frame_bytes);
	bucket_init(&ing->keyframe_count, keyframes_per_s, keyframes_per_s);
	bucket_init(&ing->keyframe_bytes, keyframe_bytes_per_s, (double)max_frame_bytes);
	ing->decoder = ooblex_decoder_new(ooblex_codec_name(codec), 1, err, errlen);
	if(ing->decoder != NULL)	/* libavcodec aligns widths up to 64 before it counts */
		ooblex_decoder_set_max_pixels(ing->decoder, (int64_t)(((lim_long + 63) & ~(uint64_t)63) *
			((lim_short + 63) & ~(uint64_t)63)));
	ing->depay = ooblex_depay_new(codec);
	if(ing->depay != NULL)
		ooblex_depay_set_limits(ing->depay, max_frame_bytes, max_frame_packets);
	ing->jitter = ooblex_reorder_new(cfg->jitter_packets ? cfg->jitter_packets : 512,
		(uint64_t)(cfg->jitter_ms ? cfg->jitter_ms : 50) * 1000, free);
	ing->packer = ooblex_packer_new(cfg->frame_pixfmt ? cfg->frame_pixfmt : OOBLEX_PIXFMT_I420,
		cfg->max_width, cfg->max_height, cfg->jpeg_quality);
	if(ing->packer == NULL)
		snprintf(err, errlen, "unsupported frame format %d", cfg->frame_pixfmt);
	if(ing->decoder == NULL || ing->depay == NULL || ing->jitter == NULL || ing->packer == NULL) {
		ingest_free(ing);
		return NULL;
	}
	ing->cb = *cb;
	ing->user = user;
	ing->stats = cfg->stats;
	ing->max_queued = cfg->max_queued_packets ? cfg->max_queued_packets : 2000;
	ing->wake_batch = MIN(WAKE_BATCH, MAX(1, ing->max_queued / 2));
	ing->max_queued_bytes = cfg->max_queued_bytes ? cfg->max_queued_bytes : 4 * 1024 * 1024;
	g_strlcpy(ing->effect, cfg->effect ? cfg->effect : "none", sizeof(ing->effect));
	ing->frame_skip = cfg->frame_skip ? cfg->frame_skip : 1;
	ooblex_sampler_init(&ing->sampler, ing->frame_skip);
	memcpy(ing->client_id, cfg->client_id, OOBLEX_CLIENT_ID_LEN);
	ing->reply_pixfmt = cfg->reply_pixfmt;
	ing->jpeg_quality = cfg->jpeg_quality;
	ing->pli_interval_us = (uint64_t)(cfg->pli_interval_ms ? cfg->pli_interval_ms : 500) * 1000;
	ing->deadline_us = (uint64_t)cfg->deadline_ms * 1000;
	ing->max_in_flight = cfg->max_in_flight < OOBLEX_MAX_IN_FLIGHT ? cfg->max_in_flight : OOBLEX_MAX_IN_FLIGHT;
	ing->resolved_seq = cfg->resolved_seq;
	ing->queued_seq = cfg->queued_seq;
	ing->arrival_spread = cfg->arrival_spread;
	ing->fair_cap = cfg->fair_in_flight_cap;
	ing->fair_interval_us = cfg->fair_min_interval_us;
	ing->latency_skip_milli = cfg->latency_skip_milli;
	ing->sender_skip = cfg->sender_skip;
	ing->latency_credit = UINT_MAX / 2;	/* the first frame goes, as the sampler's does */
	GError *gerr = NULL;
	ing->thread = g_thread_try_new("ooblex ingest", ingest_thread, ing, &gerr);
	if(ing->thread == NULL) {
		snprintf(err, errlen, "cannot start the ingest thread: %s", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		ingest_free(ing);
		return NULL;
	}
	/* The thread frees itself; nobody joins it. */
	g_thread_unref(ing->thread);
	return ing;
}

int ooblex_ingest_push_rtp(ooblex_ingest *ing, const uint8_t *buf, size_t len) {
	atomic_fetch_add(&ing->stats->packets_received, 1);
	if(len > OOBLEX_INGEST_MAX_PACKET) {
		atomic_fetch_add(&ing->stats->packets_malformed, 1);
		return -1;
	}
	/* Reserve room under both bounds before copying; the thread gives it
	 * back once it has handled the packets. */
	size_t cost = queued_cost(len);
	if(atomic_fetch_add(&ing->queued_count, 1) + 1 > ing->max_queued) {
		/* The decoder is behind: drop rather than grow. The sequence gap this
		 * leaves makes the depacketizer resync on a keyframe. */
		atomic_fetch_sub(&ing->queued_count, 1);
		atomic_fetch_add(&ing->stats->packets_dropped, 1);
		return -1;
	}
	if(atomic_fetch_add(&ing->queued_bytes, cost) + cost > ing->max_queued_bytes) {
		atomic_fetch_sub(&ing->queued_bytes, cost);
		atomic_fetch_sub(&ing->queued_count, 1);
		atomic_fetch_add(&ing->stats->packets_dropped, 1);
		return -1;
	}
	queued_packet *qp = malloc(sizeof(*qp) + len);
	if(qp == NULL) {
		atomic_fetch_sub(&ing->queued_bytes, cost);
		atomic_fetch_sub(&ing->queued_count, 1);
		atomic_fetch_add(&ing->stats->packets_dropped, 1);
		return -1;
	}
	qp->next = NULL;
	qp->arrival_us = ooblex_now_us();
	qp->len = len;
	memcpy(qp->data, buf, len);
	/* Just enough of the header to tell where a frame ends. Not RTP:
	 * handled (refused) at once. */
	uint32_t ts = 0;
	int marker = 0;
	int rtp = ooblex_rtp_peek(buf, len, &ts, &marker);
	g_mutex_lock(&ing->queue_lock);
	if(ing->tail != NULL)
		ing->tail->next = qp;
	else {
		ing->head = qp;
		ing->first_listed_mono = g_get_monotonic_time();
	}
	ing->tail = qp;
	ing->listed++;
	/* This packet ends a frame, or begins one after a lost marker (the
	 * frame before can complete now; after a marker a new timestamp is
	 * nothing new), or enough are waiting. */
	if(!rtp || marker || (ing->have_last_ts && !ing->last_marker && ts != ing->last_ts) ||
			ing->listed >= ing->wake_batch || ing->wake_every_packet)
		ing->wake_due = 1;
	if(rtp) {
		ing->last_ts = ts;
		ing->last_marker = marker;
		ing->have_last_ts = 1;
	}
	if(ing->wake_due && ing->thread_waiting) {
		ing->thread_waiting = 0;	/* one signal per wait */
		g_cond_signal(&ing->queue_cond);
	}
	g_mutex_unlock(&ing->queue_lock);
	return 0;
}

void ooblex_ingest_configure(ooblex_ingest *ing, const char *effect, unsigned frame_skip) {
	g_mutex_lock(&ing->settings_lock);
	if(effect != NULL)
		g_strlcpy(ing->effect, effect, sizeof(ing->effect));
	if(frame_skip > 0)
		ing->frame_skip = frame_skip;
	g_mutex_unlock(&ing->settings_lock);
}

void ooblex_ingest_set_reply_pixfmt(ooblex_ingest *ing, uint8_t reply_pixfmt) {
	g_mutex_lock(&ing->settings_lock);
	ing->reply_pixfmt = reply_pixfmt;
	g_mutex_unlock(&ing->settings_lock);
}

void ooblex_ingest_stop(ooblex_ingest *ing) {
	/* Packets still waiting are not worth decoding: the thread drops them. The
	 * signal goes under the lock, which the thread needs before it frees ing. */
	g_mutex_lock(&ing->queue_lock);
	atomic_store(&ing->stopping, 1);
	g_cond_signal(&ing->queue_cond);
	g_mutex_unlock(&ing->queue_lock);
}
