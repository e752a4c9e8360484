/*
 * track_quality.c - see track_quality.h.
 */
#include "track_quality.h"

#include <stdlib.h>
#include <string.h>

#include <libavutil/frame.h>

#include "depay.h"
#include "ooblex_jpeg.h"
#include "picture_quality.h"
#include "rtp_packet.h"
#include "video_decoder.h"

typedef struct pending_picture {
	int used, measuring;
	uint32_t ts;
	int width, height;
	uint8_t *i420;	/* tightly packed */
} pending_picture;

typedef struct held_reference {
	int used;
	uint32_t ts;
	uint8_t *jpeg;
	size_t len;
} held_reference;

struct track_quality {
	/* The track's thread only. */
	ooblex_depay *depay;
	ooblex_decoder *decoder;
	uint64_t depay_dropped;	/* the depayloader's frames_dropped + frames_over_cap seen so far */
	unsigned every;	/* compare one measured picture in every */
	uint64_t measured_seen;
	/* lock: the rings and the figures. */
	GMutex lock;
	pending_picture pending[TRACK_QUALITY_PENDING];
	unsigned pending_next;
	held_reference refs[TRACK_QUALITY_REFS];
	unsigned refs_next;
	track_quality_result r;
	/* compare_lock: the JPEG decoder and the reference's planes. */
	GMutex compare_lock;
	ooblex_jpeg *jpeg;
	uint8_t *ref_i420;
	size_t ref_cap;
};

/* The plugin's stamp (video_output.c): the capture time on the 90 kHz clock. */
static uint32_t rtp_ts_of_capture(uint64_t capture_us) {
	return (uint32_t)(capture_us * 9 / 100);
}

static void result_init(track_quality_result *r) {
	memset(r, 0, sizeof(*r));
	r->psnr_y = g_array_new(FALSE, FALSE, sizeof(double));
	r->psnr_uv = g_array_new(FALSE, FALSE, sizeof(double));
	r->ssim_y = g_array_new(FALSE, FALSE, sizeof(double));
}

void track_quality_result_clear(track_quality_result *r) {
	if(r->psnr_y != NULL)
		g_array_unref(r->psnr_y);
	if(r->psnr_uv != NULL)
		g_array_unref(r->psnr_uv);
	if(r->ssim_y != NULL)
		g_array_unref(r->ssim_y);
	memset(r, 0, sizeof(*r));
}

track_quality *track_quality_new(ooblex_codec codec) {
	track_quality *q = calloc(1, sizeof(*q));
	if(q == NULL)
		return NULL;
	char err[256];
	q->depay = ooblex_depay_new(codec);
	q->decoder = ooblex_decoder_new(codec == OOBLEX_CODEC_H264 ? "h264" : "vp8", 1, err, sizeof(err));
	/* The plugin's video output decodes with the same (accurate) IDCT: the
	 * reference is the very picture its encoder took. */
	q->jpeg = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
	q->every = 1;
	g_mutex_init(&q->lock);
	g_mutex_init(&q->compare_lock);
	result_init(&q->r);
	if(q->depay == NULL || q->decoder == NULL || q->jpeg == NULL) {
		track_quality_free(q);
		return NULL;
	}
	return q;
}

void track_quality_set_every(track_quality *q, unsigned every) {
	g_mutex_lock(&q->lock);
	q->every = every > 0 ? every : 1;
	g_mutex_unlock(&q->lock);
}

void track_quality_free(track_quality *q) {
	if(q == NULL)
		return;
	ooblex_depay_free(q->depay);
	ooblex_decoder_free(q->decoder);
	ooblex_jpeg_free(q->jpeg);
	for(unsigned i = 0; i < TRACK_QUALITY_PENDING; i++)
		free(q->pending[i].i420);
	for(unsigned i = 0; i < TRACK_QUALITY_REFS; i++)
		free(q->refs[i].jpeg);
	free(q->ref_i420);
	track_quality_result_clear(&q->r);
	g_mutex_clear(&q->lock);
	g_mutex_clear(&q->compare_lock);
	free(q);
}

/* A picture (three planes) against its reference JPEG; into the figures
 * when measuring. Any thread. */
static void compare(track_quality *q, uint8_t *const planes[3], const int strides[3], int width, int height,
		const uint8_t *jpeg, size_t len, int measuring) {
	if(!measuring)
		return;
	ooblex_jpeg_info info;
	double psnr_y = 0, psnr_uv = 0, ssim_y = 0;
	int outcome;	/* 0 compared, 1 size mismatch, 2 bad reference */
	g_mutex_lock(&q->compare_lock);
	if(ooblex_jpeg_read_header(q->jpeg, jpeg, len, &info) < 0 || info.sampling != OOBLEX_JPEG_SAMP_420) {
		outcome = 2;
	} else if(info.width != width || info.height != height) {
		outcome = 1;
	} else {
		size_t need = (size_t)width * height * 3 / 2;
		if(need > q->ref_cap) {
			free(q->ref_i420);
			q->ref_i420 = malloc(need);
			q->ref_cap = q->ref_i420 != NULL ? need : 0;
		}
		uint8_t *ref[3] = { q->ref_i420, q->ref_i420 + (size_t)width * height,
			q->ref_i420 + (size_t)width * height + (size_t)(width / 2) * (height / 2) };
		const int ref_strides[3] = { width, width / 2, width / 2 };
		char err[256];
		/* 1 (a TurboJPEG warning) is what the plugin's output refuses too. */
		if(q->ref_i420 == NULL || ooblex_jpeg_decode_planes(q->jpeg, jpeg, len, width, height, ref, ref_strides, err,
				sizeof(err)) != 0) {
			outcome = 2;
		} else {
			int cw = width / 2, chh = height / 2;
			psnr_y = quality_psnr(quality_mse(planes[0], strides[0], ref[0], ref_strides[0], width, height));
			double mse_uv = (quality_mse(planes[1], strides[1], ref[1], ref_strides[1], cw, chh) +
				quality_mse(planes[2], strides[2], ref[2], ref_strides[2], cw, chh)) / 2;
			psnr_uv = quality_psnr(mse_uv);
			ssim_y = quality_ssim(planes[0], strides[0], ref[0], ref_strides[0], width, height);
			outcome = 0;
		}
	}
	g_mutex_unlock(&q->compare_lock);
	g_mutex_lock(&q->lock);
	if(outcome == 0) {
		q->r.compared++;
		g_array_append_val(q->r.psnr_y, psnr_y);
		g_array_append_val(q->r.psnr_uv, psnr_uv);
		g_array_append_val(q->r.ssim_y, ssim_y);
	} else if(outcome == 1) {
		q->r.size_mismatch++;
	} else {
		q->r.bad_references++;
	}
	g_mutex_unlock(&q->lock);
}

/* A decoded picture of the track: compared now if its reference is here,
 * else kept until it comes. The track's thread. */
static void take_picture(track_quality *q, const AVFrame *pic, int measuring) {
	uint32_t ts = (uint32_t)pic->pts;
	uint8_t *jpeg = NULL;
	size_t len = 0;
	g_mutex_lock(&q->lock);
	if(measuring) {
		q->r.pictures++;
		measuring = q->measured_seen++ % q->every == 0;
		q->r.sampled += measuring;
	}
	if(!measuring) {
		g_mutex_unlock(&q->lock);	/* nothing to compare, nothing to keep */
		return;
	}
	for(unsigned i = 0; i < TRACK_QUALITY_REFS; i++)
		if(q->refs[i].used && q->refs[i].ts == ts) {
			jpeg = q->refs[i].jpeg;
			len = q->refs[i].len;
			q->refs[i].jpeg = NULL;
			q->refs[i].used = 0;
			break;
		}
	if(jpeg == NULL) {
		pending_picture *p = &q->pending[q->pending_next++ % TRACK_QUALITY_PENDING];
		if(p->used && p->measuring)
			q->r.unmatched++;	/* waited TRACK_QUALITY_PENDING pictures */
		size_t need = (size_t)pic->width * pic->height * 3 / 2;
		if(p->i420 == NULL || (size_t)p->width * p->height * 3 / 2 < need) {
			free(p->i420);
			p->i420 = malloc(need);
		}
		p->used = p->i420 != NULL;
		p->measuring = measuring;
		p->ts = ts;
		p->width = pic->width;
		p->height = pic->height;
		if(p->used) {
			uint8_t *dst = p->i420;
			for(int plane = 0; plane < 3; plane++) {
				int w = plane ? pic->width / 2 : pic->width, h = plane ? pic->height / 2 : pic->height;
				for(int y = 0; y < h; y++, dst += w)
					memcpy(dst, pic->data[plane] + (size_t)y * pic->linesize[plane], (size_t)w);
			}
		}
		g_mutex_unlock(&q->lock);
		return;
	}
	g_mutex_unlock(&q->lock);
	compare(q, (uint8_t *const *)pic->data, pic->linesize, pic->width, pic->height, jpeg, len, measuring);
	free(jpeg);
}

int track_quality_packet(track_quality *q, const uint8_t *packet, size_t len, int measuring) {
	ooblex_rtp_packet rp;
	if(ooblex_rtp_parse(packet, len, &rp) != 0)
		return 0;
	ooblex_encoded_frame ef;
	int need_keyframe = 0;
	for(int r = ooblex_depay_push(q->depay, &rp, 0, &ef, &need_keyframe); r == OOBLEX_DEPAY_FRAME;
			r = ooblex_depay_next(q->depay, &ef)) {
		if(ooblex_decoder_decode(q->decoder, ef.data, ef.len, ef.timestamp) < 0) {
			ooblex_depay_reset(q->depay);	/* until the next keyframe */
			need_keyframe = 1;
			if(measuring) {
				g_mutex_lock(&q->lock);
				q->r.undecodable++;
				g_mutex_unlock(&q->lock);
			}
		}
		AVFrame *pic;
		while(ooblex_decoder_next(q->decoder, &pic) == 1)
			if(pic->format == AV_PIX_FMT_YUV420P)
				take_picture(q, pic, measuring);
	}
	/* Frames the depayloader refused (a hole, or waiting for a keyframe). */
	const ooblex_depay_stats *ds = ooblex_depay_get_stats(q->depay);
	uint64_t dropped = ds->frames_dropped + ds->frames_over_cap;
	if(dropped != q->depay_dropped) {
		if(measuring) {
			g_mutex_lock(&q->lock);
			q->r.undecodable += dropped - q->depay_dropped;
			g_mutex_unlock(&q->lock);
		}
		q->depay_dropped = dropped;
	}
	return need_keyframe;
}

void track_quality_reference(track_quality *q, uint64_t capture_us, const uint8_t *jpeg, size_t len, int measuring) {
	(void)measuring;	/* the picture's own flag decides: it is the track's frame that is counted */
	uint32_t ts = rtp_ts_of_capture(capture_us);
	pending_picture found = { 0 };
	g_mutex_lock(&q->lock);
	for(unsigned i = 0; i < TRACK_QUALITY_PENDING; i++)
		if(q->pending[i].used && q->pending[i].ts == ts) {
			found = q->pending[i];
			q->pending[i].i420 = NULL;	/* ours now */
			q->pending[i].used = 0;
			q->pending[i].width = q->pending[i].height = 0;
			break;
		}
	if(found.i420 == NULL) {
		held_reference *r = &q->refs[q->refs_next++ % TRACK_QUALITY_REFS];
		free(r->jpeg);	/* its picture never came: the output kept a newer one */
		r->jpeg = malloc(len);
		r->used = r->jpeg != NULL;
		r->ts = ts;
		r->len = len;
		if(r->used)
			memcpy(r->jpeg, jpeg, len);
		g_mutex_unlock(&q->lock);
		return;
	}
	g_mutex_unlock(&q->lock);
	int w = found.width, h = found.height;
	uint8_t *planes[3] = { found.i420, found.i420 + (size_t)w * h, found.i420 + (size_t)w * h + (size_t)(w / 2) * (h / 2) };
	const int strides[3] = { w, w / 2, w / 2 };
	compare(q, planes, strides, w, h, jpeg, len, found.measuring);
	free(found.i420);
}

void track_quality_take(track_quality *q, track_quality_result *out) {
	g_mutex_lock(&q->lock);
	for(unsigned i = 0; i < TRACK_QUALITY_PENDING; i++)
		if(q->pending[i].used && q->pending[i].measuring) {
			q->r.unmatched++;
			q->pending[i].used = 0;
		}
	*out = q->r;
	result_init(&q->r);
	g_mutex_unlock(&q->lock);
}
