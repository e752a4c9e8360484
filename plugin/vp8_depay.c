/*
 * vp8_depay.c - VP8 RTP depacketizer and frame assembler.
 *
 * Payload descriptor (RFC 7741 section 4.2):
 *   |X|R|N|S|R| PID |   X: extensions follow, S: start of partition, PID: partition
 *   |I|L|T|K| RSV   |   (if X) which optional fields follow
 *   |M| PictureID   |   (if I) 7 or 15 bits, M says which
 *   |  TL0PICIDX    |   (if L)
 *   |TID|Y| KEYIDX  |   (if T or K)
 * The first byte of the VP8 bitstream of a frame has P=0 for keyframes.
 */
#include "vp8_depay.h"

#include <stdlib.h>
#include <string.h>

typedef struct frame_buf {
	uint8_t *data;
	size_t len, cap;
	uint32_t timestamp;
	int keyframe;
	uint64_t first_arrival_us;
} frame_buf;

struct ooblex_vp8_depay {
	frame_buf cur;	/* frame being assembled */
	frame_buf ready[2];	/* completed frames not yet handed out */
	int n_ready, next_ready;
	int in_frame, frame_broken;
	int have_last_seq;
	uint16_t last_seq;
	int waiting_keyframe;
	int discarding;	/* dropping the rest of a frame whose start was lost */
	uint32_t discard_ts;
	ooblex_vp8_depay_stats stats;
};

int ooblex_vp8_descriptor_len(const uint8_t *p, size_t len, int *start) {
	if(len < 1)
		return -1;
	size_t off = 1;
	*start = (p[0] & 0x10) && (p[0] & 0x07) == 0;
	if(p[0] & 0x80) {
		if(len < 2)
			return -1;
		uint8_t ext = p[1];
		off = 2;
		if(ext & 0x80) {	/* I: PictureID */
			if(off >= len)
				return -1;
			off += (p[off] & 0x80) ? 2 : 1;
		}
		if(ext & 0x40)	/* L: TL0PICIDX */
			off++;
		if(ext & 0x30)	/* T or K: TID/Y/KEYIDX byte */
			off++;
	}
	return off <= len ? (int)off : -1;
}

ooblex_vp8_depay *ooblex_vp8_depay_new(void) {
	ooblex_vp8_depay *d = calloc(1, sizeof(*d));
	if(d != NULL)
		d->waiting_keyframe = 1;
	return d;
}

void ooblex_vp8_depay_free(ooblex_vp8_depay *d) {
	if(d == NULL)
		return;
	free(d->cur.data);
	free(d->ready[0].data);
	free(d->ready[1].data);
	free(d);
}

void ooblex_vp8_depay_reset(ooblex_vp8_depay *d) {
	d->in_frame = 0;
	d->frame_broken = 0;
	d->discarding = 0;
	d->waiting_keyframe = 1;
}

const ooblex_vp8_depay_stats *ooblex_vp8_depay_get_stats(const ooblex_vp8_depay *d) {
	return &d->stats;
}

static int append(frame_buf *f, const uint8_t *data, size_t len) {
	if(f->len + len + OOBLEX_DEPAY_PADDING > f->cap) {
		size_t cap = f->cap ? f->cap : 64 * 1024;
		while(cap < f->len + len + OOBLEX_DEPAY_PADDING)
			cap *= 2;
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

/* Ends the frame being assembled: keeps it if whole and decodable. */
static void finish_frame(ooblex_vp8_depay *d, int complete, int *need_keyframe) {
	d->in_frame = 0;
	if(!complete || d->frame_broken) {
		d->stats.frames_dropped++;
		d->waiting_keyframe = 1;
		*need_keyframe = 1;
		return;
	}
	if(d->waiting_keyframe && !d->cur.keyframe) {
		/* Inter frame without its references: useless until the next keyframe. */
		d->stats.frames_dropped++;
		*need_keyframe = 1;
		return;
	}
	d->waiting_keyframe = 0;
	d->stats.frames++;
	if(d->cur.keyframe)
		d->stats.keyframes++;
	memset(d->cur.data + d->cur.len, 0, OOBLEX_DEPAY_PADDING);
	/* Hand the buffer out by swapping it with a free ready slot. */
	frame_buf tmp = d->ready[d->n_ready];
	d->ready[d->n_ready] = d->cur;
	d->cur = tmp;
	d->cur.len = 0;
	d->n_ready++;
}

ooblex_depay_result ooblex_vp8_depay_push(ooblex_vp8_depay *d, const ooblex_rtp_packet *pkt,
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
			return ooblex_vp8_depay_next(d, out);
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
		return ooblex_vp8_depay_next(d, out);

	int start = 0;
	int dlen = ooblex_vp8_descriptor_len(pkt->payload, pkt->payload_len, &start);
	if(dlen < 0 || (size_t)dlen >= pkt->payload_len) {
		d->stats.bad_packets++;
		if(d->in_frame)
			d->frame_broken = 1;
		return ooblex_vp8_depay_next(d, out);
	}
	const uint8_t *vp8 = pkt->payload + dlen;
	size_t vp8_len = pkt->payload_len - (size_t)dlen;

	if(d->in_frame && pkt->timestamp != d->cur.timestamp) {
		/* A new frame began before the marker of the current one arrived. If
		 * nothing is missing in between, only the marker was lost and the frame
		 * is whole. */
		finish_frame(d, contiguous && start, need_keyframe);
	}
	if(d->discarding && pkt->timestamp == d->discard_ts)
		return ooblex_vp8_depay_next(d, out);
	d->discarding = 0;
	if(!d->in_frame) {
		if(!start) {
			/* The frame's first packet was lost: drop the whole frame once. */
			d->discarding = 1;
			d->discard_ts = pkt->timestamp;
			d->stats.frames_dropped++;
			d->waiting_keyframe = 1;
			*need_keyframe = 1;
			return ooblex_vp8_depay_next(d, out);
		}
		d->in_frame = 1;
		d->frame_broken = 0;
		d->cur.len = 0;
		d->cur.timestamp = pkt->timestamp;
		d->cur.first_arrival_us = arrival_us;
		d->cur.keyframe = (vp8[0] & 0x01) == 0;
	} else if(start) {
		d->frame_broken = 1;	/* two first packets for one timestamp */
	}
	if(append(&d->cur, vp8, vp8_len) < 0)
		d->frame_broken = 1;
	if(pkt->marker)
		finish_frame(d, 1, need_keyframe);
	if(d->waiting_keyframe && d->n_ready == 0)
		*need_keyframe = 1;
	return ooblex_vp8_depay_next(d, out);
}

ooblex_depay_result ooblex_vp8_depay_next(ooblex_vp8_depay *d, ooblex_encoded_frame *out) {
	if(d->next_ready >= d->n_ready)
		return OOBLEX_DEPAY_NONE;
	frame_buf *f = &d->ready[d->next_ready++];
	out->data = f->data;
	out->len = f->len;
	out->timestamp = f->timestamp;
	out->keyframe = f->keyframe;
	out->first_arrival_us = f->first_arrival_us;
	return OOBLEX_DEPAY_FRAME;
}
