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
	uint8_t *data;	/* a JPEG, or the I420 picture itself */
	size_t len, cap;
	ooblex_pixfmt pixfmt;	/* OOBLEX_PIXFMT_JPEG or OOBLEX_PIXFMT_I420 */
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

/* A processed JPEG to I420 in *buf (grown as needed), timed in
 * decode_us_total. Returns the picture, or NULL when it is not the one
 * announced (or damaged). Output thread. */
static uint8_t *decode_jpeg(ooblex_video_output *o, ooblex_jpeg *jpeg, const pending_frame *f, uint8_t **buf,
		size_t *cap) {
	int w = f->width, h = f->height;
	/* The JPEG's own header first: nothing is allocated for a picture
	 * other than the one announced, or larger than the limit. */
	ooblex_jpeg_info info;
	if(ooblex_jpeg_read_header(jpeg, f->data, f->len, &info) < 0 || info.width != w || info.height != h ||
			info.sampling != OOBLEX_JPEG_SAMP_420 || !ooblex_picture_fits((unsigned)w, (unsigned)h,
			o->cfg.max_width, o->cfg.max_height))
		return NULL;
	size_t need = (size_t)w * h * 3 / 2 + (size_t)w + h + 16;
	if(need > *cap) {
		uint8_t *n = realloc(*buf, need);
		if(n == NULL)
			return NULL;
		*buf = n;
		*cap = need;
	}
	uint8_t *i420 = *buf;
	gint64 t0 = g_get_monotonic_time();
	uint8_t *planes[3] = { i420, i420 + (size_t)w * h, i420 + (size_t)w * h + (size_t)(w / 2) * (h / 2) };
	const int strides[3] = { w, w / 2, w / 2 };
	/* Decoding straight into the planes the encoder reads. 4:2:0 at an
	 * even size only: what workers send for browser video. Damaged data
	 * (a TurboJPEG warning) is not sent either. */
	char err[256];
	int ok = ooblex_jpeg_decode_planes(jpeg, f->data, f->len, w, h, planes, strides, err, sizeof(err)) == 0;
	atomic_fetch_add(&o->stats.decode_us_total, (uint64_t)(g_get_monotonic_time() - t0));
	return ok ? i420 : NULL;
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
		char err[256];
		/* The worker's own I420 (video_reply_format) is the picture: its
		 * size was checked whole at the push, and the buffer is this
		 * thread's now, so the range fix below may work in place. A JPEG
		 * is decoded first. */
		uint8_t *picture = work.pixfmt == OOBLEX_PIXFMT_I420 ? work.data :
			decode_jpeg(o, jpeg, &work, &i420, &i420_cap);
		if(picture == NULL) {
			atomic_fetch_add(&o->stats.frames_failed, 1);
			continue;
		}
		gint64 t1 = g_get_monotonic_time();
		if(work.full_range)
			to_limited_range(picture, w, h);
		if(ooblex_video_encoder_encode(enc, picture, w, h, keyframe, work.capture_us, work.capture_us, err,
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
	free(work.data);
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

/* Into the one-slot mailbox (copied): the newest frame wins. The caller
 * has checked the picture's size and the payload's length. */
static void push_frame(ooblex_video_output *o, ooblex_pixfmt pixfmt, const uint8_t *data, size_t len, int width,
		int height, uint64_t capture_us, int full_range) {
	g_mutex_lock(&o->lock);
	pending_frame *s = &o->slot;
	if(s->full)
		atomic_fetch_add(&o->stats.frames_dropped, 1);	/* the newest frame wins */
	if(len > s->cap) {
		uint8_t *n = realloc(s->data, len);
		if(n == NULL) {
			s->full = 0;
			g_mutex_unlock(&o->lock);
			atomic_fetch_add(&o->stats.frames_failed, 1);
			return;
		}
		s->data = n;
		s->cap = len;
	}
	memcpy(s->data, data, len);
	s->len = len;
	s->pixfmt = pixfmt;
	s->width = width;
	s->height = height;
	s->capture_us = capture_us;
	s->full_range = full_range;
	s->full = 1;
	g_cond_signal(&o->cond);
	g_mutex_unlock(&o->lock);
}

void ooblex_video_output_push(ooblex_video_output *o, const uint8_t *jpeg, size_t len, int width, int height,
		uint64_t capture_us, int full_range) {
	atomic_fetch_add(&o->stats.frames_in, 1);
	if(width <= 0 || height <= 0 || !ooblex_picture_fits((unsigned)width, (unsigned)height, o->cfg.max_width,
			o->cfg.max_height) || len > (size_t)width * (size_t)height * 3 + 4096) {
		atomic_fetch_add(&o->stats.frames_failed, 1);	/* never copied */
		return;
	}
	push_frame(o, OOBLEX_PIXFMT_JPEG, jpeg, len, width, height, capture_us, full_range);
}

void ooblex_video_output_push_i420(ooblex_video_output *o, const uint8_t *i420, size_t len, int width, int height,
		uint64_t capture_us, int full_range) {
	atomic_fetch_add(&o->stats.frames_in, 1);
	/* The encoder reads width x height luma and two (width/2) x (height/2)
	 * chroma planes from it: exactly that many bytes, or it is not taken. */
	if(i420 == NULL || width <= 0 || height <= 0 || ((width | height) & 1) ||
			!ooblex_picture_fits((unsigned)width, (unsigned)height, o->cfg.max_width, o->cfg.max_height) ||
			len != ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, (unsigned)width, (unsigned)height)) {
		atomic_fetch_add(&o->stats.frames_failed, 1);	/* never copied */
		return;
	}
	push_frame(o, OOBLEX_PIXFMT_I420, i420, len, width, height, capture_us, full_range);
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
	free(o->slot.data);
	g_mutex_clear(&o->lock);
	g_cond_clear(&o->cond);
	g_free(o);
}
