/*
 * depay.c - frame assembly from RTP, shared by the codecs.
 *
 * Rules, whatever the codec:
 *  - a sequence gap inside a frame breaks it; a broken frame is dropped and
 *    everything after it waits for a keyframe;
 *  - a new timestamp ends the current frame: whole if nothing was missing
 *    and the new packet can start a frame (only its marker was lost);
 *  - a frame whose first packet is missing is dropped once, as a whole;
 *  - before the first keyframe, and after a drop, inter frames are dropped;
 *  - a frame that outgrows the caps is dropped at once and the rest of its
 *    timestamp discarded as it comes (it may never end: no marker, one
 *    timestamp forever).
 */
#include "depay.h"

#include <stdlib.h>
#include <string.h>

#include "depay_codec.h"

typedef struct frame_slot {
	ooblex_frame_buf buf;
	uint32_t timestamp;
	int keyframe;
	unsigned packets;
	uint64_t first_arrival_us, last_arrival_us;
} frame_slot;

struct ooblex_depay {
	ooblex_depay_append_fn append;
	frame_slot cur;	/* frame being assembled */
	frame_slot ready[2];	/* completed frames not yet handed out */
	int n_ready, next_ready;
	int in_frame, frame_broken;
	int have_last_seq;
	uint16_t last_seq;
	int waiting_keyframe;
	int discarding;	/* dropping the rest of a frame whose start was lost */
	uint32_t discard_ts;
	unsigned max_packets;	/* per frame; 0: no bound */
	ooblex_depay_stats stats;
};

int ooblex_frame_buf_append(ooblex_frame_buf *f, const uint8_t *data, size_t len) {
	if(f->max && (len > f->max || f->len > f->max - len)) {
		f->over_max = 1;
		return -1;
	}
	if(f->len + len + OOBLEX_DEPAY_PADDING > f->cap) {
		size_t cap = f->cap ? f->cap : 64 * 1024;
		while(cap < f->len + len + OOBLEX_DEPAY_PADDING)
			cap *= 2;
		if(f->max && cap > f->max + OOBLEX_DEPAY_PADDING)
			cap = f->max + OOBLEX_DEPAY_PADDING;	/* doubling must not overshoot the bound */
		uint8_t *n = realloc(f->data, cap);
		if(n == NULL)
			return -1;
		f->data = n;
		f->cap = cap;
	}
	memcpy(f->data + f->len, data, len);
	f->len += len;
	return 0;
}

ooblex_depay *ooblex_depay_new(ooblex_codec codec) {
	ooblex_depay_append_fn append = NULL;
	if(codec == OOBLEX_CODEC_VP8)
		append = ooblex_depay_vp8_append;
	else if(codec == OOBLEX_CODEC_H264)
		append = ooblex_depay_h264_append;
	else
		return NULL;
	ooblex_depay *d = calloc(1, sizeof(*d));
	if(d != NULL) {
		d->append = append;
		d->waiting_keyframe = 1;
	}
	return d;
}

void ooblex_depay_free(ooblex_depay *d) {
	if(d == NULL)
		return;
	free(d->cur.buf.data);
	free(d->ready[0].buf.data);
	free(d->ready[1].buf.data);
	free(d);
}

void ooblex_depay_set_limits(ooblex_depay *d, size_t max_bytes, unsigned max_packets) {
	d->cur.buf.max = d->ready[0].buf.max = d->ready[1].buf.max = max_bytes;
	d->max_packets = max_packets;
}

/* A buffer a huge frame grew is given back once that frame is done with:
 * the next one grows it again (by doubling) only if it needs to. */
static void release_if_huge(ooblex_frame_buf *b) {
	if(b->cap > OOBLEX_DEPAY_KEEP_BYTES) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
	b->len = 0;
	b->over_max = 0;
}

/* Drops the frame at this timestamp for outgrowing a cap; whatever else
 * arrives at that timestamp is discarded without being copied. */
static void drop_over_cap(ooblex_depay *d, uint32_t timestamp, int *need_keyframe) {
	d->in_frame = 0;
	d->frame_broken = 0;
	d->discarding = 1;
	d->discard_ts = timestamp;
	d->waiting_keyframe = 1;
	*need_keyframe = 1;
	d->stats.frames_over_cap++;
	release_if_huge(&d->cur.buf);
}

void ooblex_depay_reset(ooblex_depay *d) {
	d->in_frame = 0;
	d->frame_broken = 0;
	d->discarding = 0;
	d->waiting_keyframe = 1;
}

const ooblex_depay_stats *ooblex_depay_get_stats(const ooblex_depay *d) {
	return &d->stats;
}

/* Ends the frame being assembled: keeps it if whole and decodable. */
static void finish_frame(ooblex_depay *d, int complete, int *need_keyframe) {
	d->in_frame = 0;
	if(!complete || d->frame_broken || d->cur.buf.len == 0) {
		d->stats.frames_dropped++;
		d->waiting_keyframe = 1;
		*need_keyframe = 1;
		release_if_huge(&d->cur.buf);
		return;
	}
	if(d->waiting_keyframe && !d->cur.keyframe) {
		/* Inter frame without its references: useless until the next keyframe. */
		d->stats.frames_dropped++;
		*need_keyframe = 1;
		release_if_huge(&d->cur.buf);
		return;
	}
	d->waiting_keyframe = 0;
	d->stats.frames++;
	if(d->cur.keyframe)
		d->stats.keyframes++;
	memset(d->cur.buf.data + d->cur.buf.len, 0, OOBLEX_DEPAY_PADDING);
	/* Hand the buffer out by swapping it with a free ready slot. */
	frame_slot tmp = d->ready[d->n_ready];
	d->ready[d->n_ready] = d->cur;
	d->cur = tmp;
	d->cur.buf.len = 0;
	d->n_ready++;
	release_if_huge(&d->cur.buf);	/* the slot that came back was handed out before */
}

ooblex_depay_result ooblex_depay_push(ooblex_depay *d, const ooblex_rtp_packet *pkt,
		uint64_t arrival_us, ooblex_encoded_frame *out, int *need_keyframe) {
	*need_keyframe = 0;
	/* Frames handed out by the previous call are released now. */
	d->n_ready = 0;
	d->next_ready = 0;
	d->stats.packets++;
	int contiguous = 1;
	if(d->have_last_seq) {
		int16_t diff = ooblex_seq_diff(pkt->seq, d->last_seq);
		if(diff <= 0)	/* duplicate, or older than what we already used */
			return ooblex_depay_next(d, out);
		if(diff > 1) {
			d->stats.losses++;
			contiguous = 0;
			if(d->in_frame)
				d->frame_broken = 1;
		}
	}
	d->have_last_seq = 1;
	d->last_seq = pkt->seq;
	if(pkt->payload_len == 0)	/* padding-only probe: takes a sequence number, carries nothing */
		return ooblex_depay_next(d, out);

	if(d->in_frame && pkt->timestamp != d->cur.timestamp) {
		/* A new frame began before the marker of the current one arrived. If
		 * nothing is missing in between, only the marker was lost and the
		 * frame is whole (unless this packet cannot start a frame, checked
		 * below: then what is missing is this frame's head). */
		finish_frame(d, contiguous, need_keyframe);
	}
	if(d->discarding && pkt->timestamp == d->discard_ts)
		return ooblex_depay_next(d, out);
	d->discarding = 0;

	int first = !d->in_frame;
	if(first) {
		d->cur.buf.len = 0;
		d->cur.buf.over_max = 0;
		d->cur.timestamp = pkt->timestamp;
		d->cur.first_arrival_us = d->cur.last_arrival_us = arrival_us;
		d->cur.keyframe = 0;
		d->cur.packets = 0;
		d->frame_broken = 0;
	}
	if(d->max_packets && d->cur.packets >= d->max_packets) {
		drop_over_cap(d, pkt->timestamp, need_keyframe);
		return ooblex_depay_next(d, out);
	}
	d->cur.packets++;
	if(arrival_us > d->cur.last_arrival_us)
		d->cur.last_arrival_us = arrival_us;
	int starts = DEPAY_START_MAYBE;
	if(d->append(pkt->payload, pkt->payload_len, first, &d->cur.buf, &starts, &d->cur.keyframe) < 0) {
		if(d->cur.buf.over_max) {
			drop_over_cap(d, pkt->timestamp, need_keyframe);
			return ooblex_depay_next(d, out);
		}
		d->stats.bad_packets++;
		if(!first) {
			d->frame_broken = 1;
		} else {
			/* Nothing usable starts here: drop whatever follows at this timestamp. */
			d->discarding = 1;
			d->discard_ts = pkt->timestamp;
			d->stats.frames_dropped++;
			d->waiting_keyframe = 1;
			*need_keyframe = 1;
		}
		return ooblex_depay_next(d, out);
	}
	if(first) {
		if(starts == DEPAY_START_NO) {
			/* The frame's first packet was lost: drop the whole frame once. */
			d->discarding = 1;
			d->discard_ts = pkt->timestamp;
			d->stats.frames_dropped++;
			d->waiting_keyframe = 1;
			*need_keyframe = 1;
			return ooblex_depay_next(d, out);
		}
		d->in_frame = 1;
		/* "Maybe a start" right after a gap: the lost packets may have been
		 * this frame's head. Only a sure start (a keyframe's parameter sets)
		 * can follow a gap. */
		if(starts == DEPAY_START_MAYBE && !contiguous)
			d->frame_broken = 1;
	}
	if(pkt->marker)
		finish_frame(d, 1, need_keyframe);
	if(d->waiting_keyframe && d->n_ready == 0)
		*need_keyframe = 1;
	return ooblex_depay_next(d, out);
}

ooblex_depay_result ooblex_depay_next(ooblex_depay *d, ooblex_encoded_frame *out) {
	if(d->next_ready >= d->n_ready)
		return OOBLEX_DEPAY_NONE;
	frame_slot *f = &d->ready[d->next_ready++];
	out->data = f->buf.data;
	out->len = f->buf.len;
	out->timestamp = f->timestamp;
	out->keyframe = f->keyframe;
	out->first_arrival_us = f->first_arrival_us;
	out->last_arrival_us = f->last_arrival_us;
	return OOBLEX_DEPAY_FRAME;
}
