/*
 * video_output.c - see video_output.h.
 */
#include "video_output.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooblex_codec.h"
#include "ooblex_jpeg.h"
#include "ooblex_wire.h"
#include "rtp_packetizer.h"
#include "video_encoder.h"

typedef struct pending_frame {
	uint8_t *jpeg;
	size_t len, cap;
	int width, height;
	uint64_t capture_us;
	int full_range;
	int full;
} pending_frame;

struct ooblex_video_output {
	ooblex_video_output_config cfg;
	ooblex_video_send_fn send;
	void *user;
	GThread *thread;
	GMutex lock;
	GCond cond;
	pending_frame slot;	/* the mailbox, under lock */
	int stopping;
	int keyframe_wanted;	/* under lock */
	uint32_t remb_bps;	/* under lock; 0: none yet */
	ooblex_video_output_stats stats;
};

/* Full-range YCbCr (0..255) to the video range (Y 16..235, C 16..240)
 * that VP8 and H.264 decoders in browsers assume. */
static void to_limited_range(uint8_t *i420, int w, int h) {
	static uint8_t luma[256], chroma[256];
	static int ready;
	if(!ready) {
		for(int v = 0; v < 256; v++) {
			luma[v] = (uint8_t)(16 + (v * 219 + 127) / 255);
			chroma[v] = (uint8_t)(128 + ((v - 128) * 224 + (v >= 128 ? 127 : -127)) / 255);
		}
		ready = 1;
	}
	size_t ny = (size_t)w * h, nc = (size_t)(w / 2) * (h / 2);
	for(size_t i = 0; i < ny; i++)
		i420[i] = luma[i420[i]];
	for(size_t i = ny; i < ny + 2 * nc; i++)
		i420[i] = chroma[i420[i]];
}

static void emit_packet(const uint8_t *packet, size_t len, void *user) {
	ooblex_video_output *o = user;
	atomic_fetch_add(&o->stats.packets, 1);
	atomic_fetch_add(&o->stats.bytes, len);
	if(len > atomic_load(&o->stats.max_packet_seen))
		atomic_store(&o->stats.max_packet_seen, (unsigned)len);
	o->send(packet, len, o->user);
}

static gpointer output_thread(gpointer data) {
	ooblex_video_output *o = data;
	ooblex_video_encoder *enc = ooblex_video_encoder_new(o->cfg.codec, o->cfg.bitrate_bps, o->cfg.fps);
	ooblex_jpeg *jpeg = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
	ooblex_rtp_packetizer pk;
	uint32_t ssrc = g_random_int();
	ooblex_rtp_packetizer_init(&pk, o->cfg.codec, o->cfg.payload_type, ssrc, (uint16_t)g_random_int(),
		o->cfg.max_packet);
	pending_frame work = { 0 };
	uint8_t *i420 = NULL;
	size_t i420_cap = 0;
	for(;;) {
		g_mutex_lock(&o->lock);
		while(!o->slot.full && !o->stopping)
			g_cond_wait(&o->cond, &o->lock);
		if(o->stopping) {
			g_mutex_unlock(&o->lock);
			break;
		}
		/* Swap buffers with the mailbox: no copy under the lock. */
		pending_frame t = work;
		work = o->slot;
		o->slot = t;
		o->slot.full = 0;
		int keyframe = o->keyframe_wanted;
		o->keyframe_wanted = 0;
		uint32_t remb = o->remb_bps;
		g_mutex_unlock(&o->lock);
		if(enc == NULL || jpeg == NULL) {
			atomic_fetch_add(&o->stats.frames_failed, 1);
			continue;
		}
		int target = o->cfg.bitrate_bps;
		if(remb > 0 && (int)remb < target)
			target = remb < 100000 ? 100000 : (int)remb;
		ooblex_video_encoder_set_bitrate(enc, target);
		int w = work.width, h = work.height;
		/* The JPEG's own header first: nothing is allocated for a picture
		 * other than the one announced, or larger than the limit. */
		ooblex_jpeg_info info;
		if(ooblex_jpeg_read_header(jpeg, work.jpeg, work.len, &info) < 0 || info.width != w || info.height != h ||
				info.sampling != OOBLEX_JPEG_SAMP_420 || !ooblex_picture_fits((unsigned)w, (unsigned)h,
				o->cfg.max_width, o->cfg.max_height)) {
			atomic_fetch_add(&o->stats.frames_failed, 1);
			continue;
		}
		size_t need = (size_t)work.width * work.height * 3 / 2 + (size_t)work.width + work.height + 16;
		if(need > i420_cap) {
			uint8_t *n = realloc(i420, need);
			if(n == NULL) {
				atomic_fetch_add(&o->stats.frames_failed, 1);
				continue;
			}
			i420 = n;
			i420_cap = need;
		}
		gint64 t0 = g_get_monotonic_time();
		uint8_t *planes[3] = { i420, i420 + (size_t)w * h, i420 + (size_t)w * h + (size_t)(w / 2) * (h / 2) };
		const int strides[3] = { w, w / 2, w / 2 };
		/* Decoding straight into the planes the encoder reads. 4:2:0 at an
		 * even size only: what workers send for browser video. Damaged
		 * data (a TurboJPEG warning) is not sent either. */
		char err[256];
		int ok = ooblex_jpeg_decode_planes(jpeg, work.jpeg, work.len, w, h, planes, strides, err, sizeof(err)) == 0;
		gint64 t1 = g_get_monotonic_time();
		atomic_fetch_add(&o->stats.decode_us_total, (uint64_t)(t1 - t0));
		if(!ok) {
			atomic_fetch_add(&o->stats.frames_failed, 1);
			continue;
		}
		if(work.full_range)
			to_limited_range(i420, w, h);
		if(ooblex_video_encoder_encode(enc, i420, w, h, keyframe, work.capture_us, work.capture_us, err,
				sizeof(err)) < 0) {
			atomic_fetch_add(&o->stats.frames_failed, 1);
			continue;
		}
		atomic_fetch_add(&o->stats.encode_us_total, (uint64_t)(g_get_monotonic_time() - t1));
		atomic_store(&o->stats.bitrate_bps, ooblex_video_encoder_bitrate(enc));
		/* This picture's frame, at once with the real-time settings; each
		 * frame stamped with its own picture's capture time either way. */
		const uint8_t *bits;
		size_t bits_len;
		int is_key;
		uint64_t capture_us;
		while(ooblex_video_encoder_next(enc, &bits, &bits_len, &is_key, &capture_us) == 1) {
			uint32_t ts = (uint32_t)(capture_us * 9 / 100);
			if(bits_len > 0 && ooblex_rtp_packetize(&pk, bits, bits_len, ts, emit_packet, o) > 0) {
				atomic_fetch_add(&o->stats.frames_sent, 1);
				if(is_key)
					atomic_fetch_add(&o->stats.keyframes, 1);
			}
		}
	}
	/* Not drained at stop: nothing is sent after ooblex_video_output_stop. */
	free(work.jpeg);
	free(i420);
	ooblex_jpeg_free(jpeg);
	ooblex_video_encoder_free(enc);
	return NULL;
}

ooblex_video_output *ooblex_video_output_start(const ooblex_video_output_config *cfg, ooblex_video_send_fn send,
		void *user, char *err, size_t errlen) {
	ooblex_video_output *o = g_malloc0(sizeof(*o));
	o->cfg = *cfg;
	if(o->cfg.max_packet == 0 || o->cfg.max_packet > 1200)
		o->cfg.max_packet = 1200;
	if(o->cfg.fps <= 0)
		o->cfg.fps = 30;
	if(o->cfg.max_width == 0 || o->cfg.max_height == 0) {
		o->cfg.max_width = 1920;
		o->cfg.max_height = 1080;
	}
	o->send = send;
	o->user = user;
	g_mutex_init(&o->lock);
	g_cond_init(&o->cond);
	o->keyframe_wanted = 1;
	atomic_store(&o->stats.bitrate_bps, cfg->bitrate_bps);
	GError *gerr = NULL;
	/* At most 15 bytes: a longer name is refused and the thread shows as
	 * "janus" in top, perf and the benchmark's CPU by thread. */
	o->thread = g_thread_try_new("ooblex vid out", output_thread, o, &gerr);
	if(o->thread == NULL) {
		snprintf(err, errlen, "cannot start the video output thread: %s", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		g_mutex_clear(&o->lock);
		g_cond_clear(&o->cond);
		g_free(o);
		return NULL;
	}
	return o;
}

void ooblex_video_output_push(ooblex_video_output *o, const uint8_t *jpeg, size_t len, int width, int height,
		uint64_t capture_us, int full_range) {
	atomic_fetch_add(&o->stats.frames_in, 1);
	if(width <= 0 || height <= 0 || !ooblex_picture_fits((unsigned)width, (unsigned)height, o->cfg.max_width,
			o->cfg.max_height) || len > (size_t)width * (size_t)height * 3 + 4096) {
		atomic_fetch_add(&o->stats.frames_failed, 1);	/* never copied */
		return;
	}
	g_mutex_lock(&o->lock);
	pending_frame *s = &o->slot;
	if(s->full)
		atomic_fetch_add(&o->stats.frames_dropped, 1);	/* the newest frame wins */
	if(len > s->cap) {
		uint8_t *n = realloc(s->jpeg, len);
		if(n == NULL) {
			s->full = 0;
			g_mutex_unlock(&o->lock);
			atomic_fetch_add(&o->stats.frames_failed, 1);
			return;
		}
		s->jpeg = n;
		s->cap = len;
	}
	memcpy(s->jpeg, jpeg, len);
	s->len = len;
	s->width = width;
	s->height = height;
	s->capture_us = capture_us;
	s->full_range = full_range;
	s->full = 1;
	g_cond_signal(&o->cond);
	g_mutex_unlock(&o->lock);
}

void ooblex_video_output_request_keyframe(ooblex_video_output *o) {
	atomic_fetch_add(&o->stats.keyframe_requests, 1);
	g_mutex_lock(&o->lock);
	o->keyframe_wanted = 1;
	g_mutex_unlock(&o->lock);
}

void ooblex_video_output_remb(ooblex_video_output *o, uint32_t bitrate_bps) {
	g_mutex_lock(&o->lock);
	o->remb_bps = bitrate_bps;
	g_mutex_unlock(&o->lock);
}

const ooblex_video_output_stats *ooblex_video_output_get_stats(const ooblex_video_output *o) {
	return &o->stats;
}

void ooblex_video_output_stop(ooblex_video_output *o) {
	if(o == NULL)
		return;
	g_mutex_lock(&o->lock);
	o->stopping = 1;
	g_cond_signal(&o->cond);
	g_mutex_unlock(&o->lock);
	g_thread_join(o->thread);
	free(o->slot.jpeg);
	g_mutex_clear(&o->lock);
	g_cond_clear(&o->cond);
	g_free(o);
}
