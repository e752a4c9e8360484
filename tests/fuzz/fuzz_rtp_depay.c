/*
 * fuzz_rtp_depay.c - what a browser's RTP goes through in the plugin.
 *
 * fuzz-sources: plugin/ingest/rtp_packet.c plugin/ingest/depay.c plugin/ingest/depay_vp8.c plugin/ingest/depay_h264.c common/ooblex_codec.c plugin/lib/reorder.c
 * fuzz-pkgs:
 *
 * Drives the receiving path of plugin/ingest/ingest.c without the decoder: RTP
 * parse -> sequence unwrap -> jitter buffer (reorder, with injected time) ->
 * VP8 or H.264 depacketizer, exactly as receive_packet / release_packets /
 * handle_packet call them.
 *
 * Input: byte 0 picks the codec (bit 0: H.264), the time unit (bits 1-2) and
 * whether packets are held by a small jitter buffer (bit 3) or the plugin's
 * default (512 packets, 50 ms); byte 1 sizes the small buffer. Then packets,
 * each [length u16 big-endian][control u8][length bytes of RTP]; the control
 * byte's low 6 bits advance the clock, bit 6 simulates a decoder error
 * (ooblex_depay_reset, as ingest does), bit 7 flushes the jitter buffer with
 * a clock far in the future.
 *
 * Invariants checked (abort = finding):
 *  - the jitter buffer holds at most capacity + 1 packets after a put and at
 *    most capacity after the releases, and releases sequence numbers once,
 *    in increasing order;
 *  - every frame handed out is non-empty, and all frames together are no
 *    longer than the packets pushed could make (2 bytes per payload byte
 *    plus a start code per packet), each with OOBLEX_DEPAY_PADDING zero
 *    bytes readable after it;
 *  - after the depacketizer dropped a frame (or was reset), the next frame it
 *    hands out is a keyframe;
 *  - its counters never decrease.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depay.h"
#include "reorder.h"
#include "rtp_packet.h"

#define CHECK(cond) do { if(!(cond)) { \
	fprintf(stderr, "fuzz_rtp_depay: invariant failed: %s (line %d)\n", #cond, __LINE__); abort(); } } while(0)

typedef struct queued_packet {
	uint64_t arrival_us;
	ooblex_rtp_packet rtp;
	size_t len;
	uint8_t data[];
} queued_packet;

typedef struct state {
	ooblex_reorder *jitter;
	unsigned capacity;
	ooblex_seq_unwrapper unwrap;
	ooblex_depay *depay;
	int have_released;
	uint32_t last_released;
	size_t bytes_since_frame;	/* pushed minus handed out: bounds the next frames */
	int need_key;	/* a frame was dropped: the next one out must be a keyframe */
	uint64_t latest_arrival_us;	/* the latest packet's arrival so far */
	ooblex_depay_stats last_stats;
} state;

static void check_stats(state *s) {
	const ooblex_depay_stats *ds = ooblex_depay_get_stats(s->depay);
	CHECK(ds->packets >= s->last_stats.packets);
	CHECK(ds->frames >= s->last_stats.frames);
	CHECK(ds->keyframes >= s->last_stats.keyframes && ds->keyframes <= ds->frames);
	CHECK(ds->bad_packets >= s->last_stats.bad_packets);
	CHECK(ds->frames_dropped >= s->last_stats.frames_dropped);
	CHECK(ds->losses >= s->last_stats.losses);
	s->last_stats = *ds;
}

static void check_frame(state *s, const ooblex_encoded_frame *f, size_t *out_bytes) {
	CHECK(f->data != NULL);
	CHECK(f->len > 0);
	*out_bytes += f->len;
	CHECK(*out_bytes <= s->bytes_since_frame);
	/* Touch every byte, then the padding libavcodec relies on. */
	unsigned sum = 0;
	for(size_t i = 0; i < f->len; i++)
		sum += f->data[i];
	(void)sum;
	for(size_t i = 0; i < OOBLEX_DEPAY_PADDING; i++)
		CHECK(f->data[f->len + i] == 0);
	if(s->need_key)
		CHECK(f->keyframe);
	if(f->keyframe)
		s->need_key = 0;
}

/* handle_packet in ingest.c, minus the decoder. */
static void handle_packet(state *s, const queued_packet *qp) {
	s->bytes_since_frame += 2 * qp->rtp.payload_len + 4;
	const ooblex_depay_stats *ds = ooblex_depay_get_stats(s->depay);
	uint64_t dropped_before = ds->frames_dropped + ds->frames_over_cap;
	ooblex_encoded_frame ef;
	int need_keyframe = 0;
	size_t out_bytes = 0;
	int frames = 0;
	ooblex_depay_result r = ooblex_depay_push(s->depay, &qp->rtp, qp->arrival_us, &ef, &need_keyframe);
	/* A push first ends the previous frame (on a new timestamp), then
	 * handles its own packet. A drop (counted in frames_dropped, or
	 * frames_over_cap) happens at one of the two; a frame at this packet's
	 * timestamp can only have been finished after it. */
	int dropped = ds->frames_dropped + ds->frames_over_cap != dropped_before;
	int last_is_current = 0, last_key = 0;
	for(; r == OOBLEX_DEPAY_FRAME; r = ooblex_depay_next(s->depay, &ef)) {
		check_frame(s, &ef, &out_bytes);
		CHECK(++frames <= 2);
		/* Its packets' arrivals, first to the latest (the budget leaves the
		 * spread out): never reversed, never later than any packet seen. */
		CHECK(ef.first_arrival_us <= ef.last_arrival_us && ef.last_arrival_us <= s->latest_arrival_us);
		if(ef.timestamp == qp->rtp.timestamp) {
			/* After this push's drop: only a keyframe may follow a drop. */
			if(dropped)
				CHECK(ef.keyframe);
			last_is_current = 1;
			last_key = ef.keyframe;
		}
	}
	/* What these frames used is no longer available to later ones (a frame
	 * may have started in an earlier push: the bound is cumulative). */
	s->bytes_since_frame -= out_bytes;
	/* After a drop the next frame must be a keyframe, unless the keyframe
	 * that ends the wait came out of this very push, after the drop. */
	if(dropped)
		s->need_key = !(last_is_current && last_key);
	check_stats(s);
}

static void release_packets(state *s, uint64_t now) {
	uint32_t seq;
	queued_packet *qp;
	while((qp = ooblex_reorder_pop(s->jitter, now, &seq)) != NULL) {
		if(s->have_released)
			CHECK(seq > s->last_released);
		s->have_released = 1;
		s->last_released = seq;
		handle_packet(s, qp);
		free(qp);
	}
	CHECK(ooblex_reorder_held(s->jitter) <= s->capacity);
}

/* receive_packet in ingest.c. */
static void receive_packet(state *s, queued_packet *qp) {
	if(ooblex_rtp_parse(qp->data, qp->len, &qp->rtp) < 0) {
		free(qp);
		return;
	}
	CHECK(qp->rtp.payload >= qp->data && qp->rtp.payload + qp->rtp.payload_len <= qp->data + qp->len);
	int first = !s->unwrap.started;
	uint32_t seq = ooblex_seq_unwrap(&s->unwrap, qp->rtp.seq);
	CHECK((uint16_t)seq == qp->rtp.seq);
	if(first)
		ooblex_reorder_set_next(s->jitter, seq);
	if(ooblex_reorder_put(s->jitter, seq, qp, qp->arrival_us) != OOBLEX_REORDER_ACCEPTED)
		free(qp);
	CHECK(ooblex_reorder_held(s->jitter) <= s->capacity + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if(size < 2)
		return 0;
	static const uint64_t units[4] = { 1000, 10, 20000, 1 };	/* µs per clock step */
	uint8_t mode = data[0];
	state s;
	memset(&s, 0, sizeof(s));
	s.capacity = (mode & 0x08) ? 1 + data[1] % 32 : 512;
	s.jitter = ooblex_reorder_new(s.capacity, (mode & 0x08) ? 1000u * (data[1] >> 5) : 50000, free);
	s.depay = ooblex_depay_new((mode & 1) ? OOBLEX_CODEC_H264 : OOBLEX_CODEC_VP8);
	s.need_key = 1;
	CHECK(s.jitter != NULL && s.depay != NULL);
	uint64_t unit = units[(mode >> 1) & 3];
	uint64_t now = 1700000000000000ull;	/* wall clock µs, as ooblex_now_us */
	size_t off = 2;
	while(off + 3 <= size) {
		size_t len = ((size_t)data[off] << 8) | data[off + 1];
		uint8_t control = data[off + 2];
		off += 3;
		if(len > size - off)
			len = size - off;
		now += unit * (control & 0x3f);
		/* The ingest thread wakes up for the clock alone, too. */
		release_packets(&s, now);
		queued_packet *qp = malloc(sizeof(*qp) + len);
		CHECK(qp != NULL);
		qp->arrival_us = now;
		if(now > s.latest_arrival_us)
			s.latest_arrival_us = now;
		qp->len = len;
		memcpy(qp->data, data + off, len);
		off += len;
		receive_packet(&s, qp);
		release_packets(&s, now);
		if(control & 0x40) {
			ooblex_depay_reset(s.depay);
			s.need_key = 1;
		}
		if(control & 0x80) {
			now += 10000000;
			release_packets(&s, now);
			CHECK(ooblex_reorder_held(s.jitter) == 0);
		}
	}
	ooblex_reorder_free(s.jitter);
	ooblex_depay_free(s.depay);
	return 0;
}
