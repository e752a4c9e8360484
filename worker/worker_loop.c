/*
 * worker_loop.c - take, process and deliver frames, one queue per thread
 * (see worker_loop.h).
 */
#include "worker_loop.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ooblex_scripts.h"
#include "ooblex_wire.h"
#include "ooblex_wire_check.h"
#include "worker_liveness.h"

static int stop_was_requested(void *user) {
	(void)user;
	return worker_stop_requested;
}

static void report_connect(void *user, const char *err, int after_outage) {
	const queue_loop *q = user;
	if(q->index != 0)
		return;
	if(err != NULL)
		worker_log("[%s] waiting for Redis: %s (retrying with backoff)", q->w->opt.id, err);
	else
	{
		char where[400];
		worker_log("[%s] connected to Redis at %s%s", q->w->opt.id,
			ooblex_redis_config_describe(&q->w->opt.redis, where, sizeof(where)),
			after_outage ? " (back after an outage)" : "");
	}
}

/* The take connection goes where the first one just went: said once. */
static void report_nothing(void *user, const char *err, int after_outage) {
	(void)user; (void)err; (void)after_outage;
}

static int ensure(uint8_t **buf, size_t *cap, size_t need) {
	if(need <= *cap)
		return 0;
	uint8_t *n = realloc(*buf, need);
	if(n == NULL)
		return -1;
	*buf = n;
	*cap = need;
	return 0;
}

/* The largest picture a worker processes: 4K UHD. The plugin downscales to
 * its max_width x max_height (1280x720 by default) before queueing, so only
 * a hostile writer to Redis sends more. */
#define OOBLEX_WORKER_MAX_PIXELS (3840u * 2160u)

static void count_error(worker *w, ooblex_error_reason reason) {
	atomic_fetch_add(reason == OOBLEX_ERR_MALFORMED ? &w->garbage : reason == OOBLEX_ERR_STALE ? &w->stale :
		&w->failed, 1);
	ooblex_metrics_error(w->metrics, reason);
}

/* The message telling the client a frame could not be processed: the
 * frame's header as a result would carry it, kind ERROR, the code and
 * reason as payload (ooblex_wire.h). It completes like a result, so the
 * plugin's reorder buffer resolves the frame's seq instead of waiting. */
static int error_result(queue_loop *q, ooblex_frame_header *h, uint64_t start, ooblex_frame_error code,
		const char *reason, const uint8_t **result, size_t *result_len) {
	uint8_t body[2 + OOBLEX_ERROR_TEXT_MAX];
	h->kind = OOBLEX_KIND_ERROR;
	h->pixfmt = OOBLEX_PIXFMT_NONE;
	h->meta[0] = '\0';
	h->payload_len = (uint32_t)ooblex_wire_error_payload((uint16_t)code, reason, body);
	h->worker_start_us = start;
	h->worker_end_us = ooblex_now_us();
	snprintf(h->worker, sizeof(h->worker), "%s", q->w->opt.id);
	/* Signed like a result: with a fleet secret set, the plugin takes
	 * nothing else (a forged error would otherwise skip genuine frames). */
	h->has_mac = q->w->opt.secret_len > 0;
	memset(h->mac, 0, sizeof(h->mac));
	size_t hlen = ooblex_wire_header_len(h);
	if(ensure(&q->out, &q->out_cap, hlen + h->payload_len) < 0)
		return -1;
	ooblex_wire_write_header(h, q->out);
	memcpy(q->out + hlen, body, h->payload_len);
	if(h->has_mac)
		ooblex_auth_sign(q->w->opt.secret, (size_t)q->w->opt.secret_len, q->out, hlen + h->payload_len);
	*result = q->out;
	*result_len = hlen + h->payload_len;
	return 0;
}

static ooblex_frame_error frame_error_of(int fx_kind) {
	switch(fx_kind) {
		case OOBLEX_FX_ERR_UNKNOWN: return OOBLEX_FRAME_ERR_UNKNOWN_EFFECT;
		case OOBLEX_FX_ERR_REFUSED: return OOBLEX_FRAME_ERR_REFUSED;
		default: return OOBLEX_FRAME_ERR_FAILED;
	}
}

/* CPU time this thread has used, in microseconds. */
static uint64_t thread_cpu_us(void) {
	struct timespec ts;
	if(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Processes one message; fills result, result_len and the key to push to
 * with the processed frame, or with an error result when the frame was
 * addressable but could not be processed (unknown effect, refused graph,
 * failed effect, undecodable pixels, over the time budget). Returns 0 for
 * "push it", 1 for "skip quietly" (stale), -1 for nothing to push
 * (malformed: no client to tell; out of memory). */
static int process(queue_loop *q, const uint8_t *msg, size_t len, uint64_t ahead_cpu_us, char key[OOBLEX_KEY_MAX],
		const uint8_t **result, size_t *result_len) {
	worker *w = q->w;
	ooblex_frame_header h;
	const uint8_t *payload = NULL;
	const char *refused = ooblex_wire_accept_frame(msg, len, &h, &payload);
	if(refused != NULL) {
		count_error(w, OOBLEX_ERR_MALFORMED);
		worker_log("[%s] skipping a malformed message (%zu bytes): %s", w->opt.id, len, refused);
		return -1;
	}
	uint64_t start = ooblex_now_us();
	uint64_t cpu_start = thread_cpu_us();
	if(h.deadline_us != 0 && start > h.deadline_us) {
		count_error(w, OOBLEX_ERR_STALE);
		return 1;
	}
	char client_hex[OOBLEX_CLIENT_ID_HEX_LEN + 1];
	ooblex_client_id_to_hex(h.client_id, client_hex);
	ooblex_key_processed(key, client_hex);
	char err[256];
	/* Sizes before use: a JPEG of a few hundred bytes can claim 8192x8192
	 * (its own header agreeing), and the buffers below are sized from it. */
	if((uint64_t)h.width * h.height > OOBLEX_WORKER_MAX_PIXELS) {
		count_error(w, OOBLEX_ERR_MALFORMED);
		snprintf(err, sizeof(err), "a %ux%u frame is over this worker's limit of %u pixels (3840x2160)", h.width,
			h.height, (unsigned)OOBLEX_WORKER_MAX_PIXELS);
		worker_log("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
		return error_result(q, &h, start, OOBLEX_FRAME_ERR_BAD_FRAME, err, result, result_len);
	}
	/* Every transport format ends up as I420 or RGB24 for the effect graph. */
	const uint8_t *in = payload;
	int in_fmt = h.pixfmt;
	if(h.pixfmt == OOBLEX_PIXFMT_JPEG) {
		if(ensure(&q->decoded, &q->decoded_cap, (size_t)h.width * h.height * 3) < 0)
			return -1;
		if(ooblex_jpeg_decode(q->jpeg, payload, h.payload_len, h.width, h.height, q->decoded, &in_fmt,
				err, sizeof(err)) < 0) {
			count_error(w, OOBLEX_ERR_MALFORMED);
			worker_log("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
			return error_result(q, &h, start, OOBLEX_FRAME_ERR_BAD_FRAME, err, result, result_len);
		}
		in = q->decoded;
	}
	if(ensure(&q->pixels, &q->pixels_cap, ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, h.width, h.height)) < 0)
		return -1;
	if(ooblex_effects_apply(q->fx, h.effect, in_fmt, in, h.width, h.height, q->pixels, err, sizeof(err)) < 0) {
		count_error(w, OOBLEX_ERR_FAILED);
		worker_log("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
		return error_result(q, &h, start, frame_error_of(ooblex_effects_error_kind(q->fx)), err, result, result_len);
	}
	/* The budget counts what the frame cost this thread in CPU (decode,
	 * effect, encode): the effects run on it alone (avfilter and OpenCV are
	 * held to one thread), so that is the client's cost, while wall time
	 * would also count every moment a loaded machine kept the worker off a
	 * core and refuse a cheap frame for someone else's load. A module that
	 * holds the worker without working (a sleep, a remote call) is the
	 * plugin's to see: it budgets worker wall time (frame_budget_ms). The
	 * test-only --delay-ms sleeps after this. */
	/* With its share of the batch's model run, if it took part in one. */
	uint64_t worked_us = thread_cpu_us() - cpu_start + ahead_cpu_us;
	if(w->opt.delay_ms > 0) {
		struct timespec ts = { w->opt.delay_ms / 1000, (w->opt.delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	const uint8_t *body = q->pixels;
	size_t body_len = ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, h.width, h.height);
	uint8_t fmt = OOBLEX_PIXFMT_I420;
	if(h.reply_pixfmt == OOBLEX_PIXFMT_NONE) {
		/* The page wants what the effect found, not the picture (output
		 * "metadata"): no encode, and a result of a few hundred bytes. */
		body_len = 0;
		fmt = OOBLEX_PIXFMT_NONE;
	} else if(h.reply_pixfmt != OOBLEX_PIXFMT_I420) {
		uint64_t cpu_encode = thread_cpu_us();
		if(ooblex_jpeg_encode_i420(q->jpeg, q->pixels, h.width, h.height, h.jpeg_quality,
				&body, &body_len, err, sizeof(err)) < 0) {
			count_error(w, OOBLEX_ERR_FAILED);
			worker_log("[%s] frame %llu: %s", w->opt.id, (unsigned long long)h.frame_id, err);
			return error_result(q, &h, start, OOBLEX_FRAME_ERR_FAILED, err, result, result_len);
		}
		worked_us += thread_cpu_us() - cpu_encode;
		fmt = OOBLEX_PIXFMT_JPEG;
	}
	if(w->opt.frame_budget_ms > 0 && worked_us > (uint64_t)w->opt.frame_budget_ms * 1000u) {
		count_error(w, OOBLEX_ERR_OVER_BUDGET);
		snprintf(err, sizeof(err), "over budget: took %.1f ms of CPU (budget %ld ms) for %ux%u",
			worked_us / 1000.0, w->opt.frame_budget_ms, h.width, h.height);
		worker_log("[%s] frame %llu (client %.8s, %s): %s; not delivered", w->opt.id, (unsigned long long)h.frame_id,
			client_hex, h.effect[0] ? h.effect : "none", err);
		return error_result(q, &h, start, OOBLEX_FRAME_ERR_OVER_BUDGET, err, result, result_len);
	}
	h.kind = OOBLEX_KIND_RESULT;
	const char *meta = ooblex_effects_metadata(q->fx);
	if(strlen(meta) <= OOBLEX_META_MAX)
		snprintf(h.meta, sizeof(h.meta), "%s", meta);
	h.pixfmt = fmt;
	h.payload_len = (uint32_t)body_len;
	h.worker_start_us = start;
	snprintf(h.worker, sizeof(h.worker), "%s", w->opt.id);
	h.worker_end_us = ooblex_now_us();
	h.has_mac = w->opt.secret_len > 0;
	memset(h.mac, 0, sizeof(h.mac));
	size_t hlen = ooblex_wire_header_len(&h);
	if(ensure(&q->out, &q->out_cap, hlen + body_len) < 0)
		return -1;
	ooblex_wire_write_header(&h, q->out);
	memcpy(q->out + hlen, body, body_len);
	if(h.has_mac)
		ooblex_auth_sign(w->opt.secret, (size_t)w->opt.secret_len, q->out, hlen + body_len);
	*result = q->out;
	*result_len = hlen + body_len;
	atomic_fetch_add(&w->processed, 1);
	ooblex_metrics_frame(w->metrics, h.effect, (h.worker_end_us - start) / 1e6);
	worker_log("Processing frame %llu... (client %.8s, %s, %ux%u, %.1f ms) [%s]",
		(unsigned long long)h.frame_id, client_hex, h.effect[0] ? h.effect : "none",
		h.width, h.height, (h.worker_end_us - start) / 1000.0, w->opt.id);
	return 0;
}

static int keep_going(worker *w) {
	return !worker_stop_requested && (w->opt.max_frames == 0 || (long)atomic_load(&w->processed) < w->opt.max_frames);
}

/* Sends everything buffered on c (a blocking socket: returns when the
 * kernel has it all). 0, or -1 when the connection broke. */
static int flush(redisContext *c) {
	int done = 0;
	do {
		if(redisBufferWrite(c, &done) == REDIS_ERR)
			return -1;
	} while(!done);
	return 0;
}

/* The next reply on c: waiting for it when block is set, else only one
 * that has already arrived (*reply NULL when none has). 0, or -1 when the
 * connection broke. */
static int next_reply(redisContext *c, int block, redisReply **reply) {
	*reply = NULL;
	if(block)
		return redisGetReply(c, (void **)reply) == REDIS_OK ? 0 : -1;
	if(redisGetReplyFromReader(c, (void **)reply) != REDIS_OK)
		return -1;
	while(*reply == NULL) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		if(poll(&pfd, 1, 0) <= 0)
			return 0;
		if(redisBufferRead(c) != REDIS_OK || redisGetReplyFromReader(c, (void **)reply) != REDIS_OK)
			return -1;
	}
	return 0;
}

/* BATCH_SIZE as real batching: the frames of a batch (any clients) whose
 * effect has a model that takes several pictures at once go through it in
 * one run (ooblex_effects_run_ahead), before each frame is processed as
 * usual and finds its result there. Frames it cannot vouch for are left
 * to run alone: malformed, stale, oversized, or JPEG-transported ones
 * (decoding those twice would cost what the batch saves). Fills the CPU
 * time each frame's share of the run cost into ahead_us. */
static void run_ahead(queue_loop *q, redisReply **batch, int nb, uint64_t *ahead_us) {
	const char *effects[OOBLEX_MAX_BATCH];
	const uint8_t *ins[OOBLEX_MAX_BATCH];
	int fmts[OOBLEX_MAX_BATCH], widths[OOBLEX_MAX_BATCH], heights[OOBLEX_MAX_BATCH], took[OOBLEX_MAX_BATCH];
	ooblex_frame_header *h = nb > 1 ? calloc((size_t)nb, sizeof(*h)) : NULL;
	int n = 0;
	uint64_t now = ooblex_now_us();
	for(int i = 0; i < nb; i++)
		ahead_us[i] = 0;
	for(int i = 0; h != NULL && i < nb; i++) {
		const uint8_t *payload = NULL;
		ooblex_frame_header *f = &h[n];
		if(ooblex_wire_accept_frame((const uint8_t *)batch[i]->str, batch[i]->len, f, &payload) != NULL ||
				(f->deadline_us != 0 && now > f->deadline_us) || (uint64_t)f->width * f->height > OOBLEX_WORKER_MAX_PIXELS ||
				f->pixfmt != OOBLEX_PIXFMT_I420)
			effects[n] = "";	/* takes no part */
		else
			effects[n] = f->effect;
		ins[n] = payload;
		fmts[n] = f->pixfmt;
		widths[n] = (int)f->width;
		heights[n] = (int)f->height;
		n++;
	}
	uint64_t cpu = thread_cpu_us();
	int k = ooblex_effects_run_ahead(q->fx, n, effects, fmts, ins, widths, heights, took);
	cpu = thread_cpu_us() - cpu;
	for(int i = 0; k > 0 && i < n; i++)
		if(took[i])
			ahead_us[i] = cpu / (uint64_t)k;
	if(k > 0)
		ooblex_metrics_model_batch(q->w->metrics, k);
	free(h);
}

/* What frames cost here, by effect and picture size: the cost of an
 * effect can be anything from a millisecond to seconds, and frames of
 * every cost share a queue (one client's 2 ms effect beside another's
 * 1.5 s one on frames_to_process:stall). The queue's average says nothing
 * about the frame in hand, and a frame taken ahead waits for that one. */
static int cost_slot(queue_loop *q, const redisReply *r, int create) {
	ooblex_frame_header h;
	const uint8_t *payload;
	if(ooblex_wire_parse((const uint8_t *)r->str, r->len, &h, &payload) != OOBLEX_WIRE_OK)
		return -2;	/* malformed: skipped at once, costs nothing */
	uint32_t pixels = h.width * h.height;
	int oldest = 0;
	for(int i = 0; i < OOBLEX_COST_SLOTS; i++) {
		if(q->costs[i].us > 0 && q->costs[i].pixels == pixels && !strcmp(q->costs[i].effect, h.effect))
			return i;
		if(q->costs[i].used < q->costs[oldest].used)
			oldest = i;
	}
	if(!create)
		return -1;
	snprintf(q->costs[oldest].effect, sizeof(q->costs[oldest].effect), "%s", h.effect);
	q->costs[oldest].pixels = pixels;
	q->costs[oldest].us = 0;
	return oldest;
}

static void note_cost(queue_loop *q, const redisReply *r, double us) {
	int i = cost_slot(q, r, 1);
	if(i < 0)
		return;
	double *c = &q->costs[i].us;
	*c = *c > 0 ? 0.75 * *c + 0.25 * us : (us > 1 ? us : 1);
	q->costs[i].used = ++q->frame_seq;
}

/* The expected work of a frame (µs): 0 for one that will be refused at
 * once, -1 when nothing like it has been timed yet. */
static double expected_us(queue_loop *q, const redisReply *r) {
	int i = cost_slot(q, r, 0);
	return i == -2 ? 0 : i < 0 ? -1 : q->costs[i].us;
}

/* A frame is long when it is expected to take over four times the cheapest
 * kind of frame this queue has timed lately (its last 64 frames), and over
 * four round trips to Redis, and over OOBLEX_TAKE_AHEAD_WAIT_US: a frame
 * taken ahead of it would wait far longer than what taking ahead saves (a
 * round trip), while the frames of that cheaper kind could have had an idle
 * worker. Frames of one cost, however slow the machine makes them, are
 * never long: behind a frame like itself, a frame waits in this worker as
 * it would have waited in the queue. */
#define OOBLEX_TAKE_AHEAD_WAIT_US 20000
#define OOBLEX_COST_RECENT_FRAMES 64
static double long_frame_us(const queue_loop *q) {
	double cheapest = 0;
	for(int i = 0; i < OOBLEX_COST_SLOTS; i++)
		if(q->costs[i].us > 0 && q->frame_seq - q->costs[i].used < OOBLEX_COST_RECENT_FRAMES &&
				(cheapest == 0 || q->costs[i].us < cheapest))
			cheapest = q->costs[i].us;
	double rtt4 = 4.0 * (double)atomic_load(&q->w->redis_rtt_us), least = 4 * cheapest;
	if(least < rtt4)
		least = rtt4;
	return least > OOBLEX_TAKE_AHEAD_WAIT_US ? least : OOBLEX_TAKE_AHEAD_WAIT_US;
}

/* Whether a frame of the batch in hand (and, with_ready, of the frames
 * ready after it) is long, or of a kind not timed yet: then nothing is taken
 * ahead behind it. */
static int any_long(queue_loop *q, redisReply **batch, int nb, int with_ready) {
	double limit = long_frame_us(q);
	for(int i = 0; i < nb; i++) {
		double e = expected_us(q, batch[i]);
		if(e < 0 || e > limit)
			return 1;
	}
	for(int i = 0; with_ready && i < q->ready_n; i++) {
		double e = expected_us(q, q->ready[(q->ready_head + i) % (OOBLEX_MAX_PREFETCH + OOBLEX_MAX_BATCH)]);
		if(e < 0 || e > limit)
			return 1;
	}
	return 0;
}

static int read_takes(queue_loop *q, int block, int until_ready);

/* The batch in hand will take long: the frames taken ahead behind it go
 * back to the head of the queue, where an idle worker takes them at once
 * (the fair share's premise: a light client's frame always finds a worker
 * free; one waiting behind a 1.5 s frame in a busy worker does not). The
 * takes owed are read first, so that the newest entries of the processing
 * list are the ready frames, newest at the left; each LMOVE moves the
 * newest to the queue's taking end, so they are taken again in their
 * order. 0, or -1 when the connection broke or the list was not what it
 * should be (the caller starts over, giving back what the list holds). */
static int hand_back_ready(queue_loop *q) {
	if(q->ready_n == 0 && q->takes_owed == 0)
		return 0;
	if(read_takes(q, 1, OOBLEX_MAX_PREFETCH + OOBLEX_MAX_BATCH + 1) < 0)
		return -1;
	int n = q->ready_n;
	for(int i = 0; i < n; i++)
		if(redisAppendCommand(q->take, "LMOVE %s %s LEFT RIGHT", q->processing_key, q->queue) != REDIS_OK)
			return -1;
	if(n == 0 || flush(q->take) < 0)
		return n == 0 ? 0 : -1;
	int rc = 0;
	for(int i = 0; i < n; i++) {
		redisReply *r = NULL;
		if(next_reply(q->take, 1, &r) < 0)
			return -1;
		int at = (q->ready_head + q->ready_n - 1) % (OOBLEX_MAX_PREFETCH + OOBLEX_MAX_BATCH);
		redisReply *mine = q->ready[at];
		size_t id_len = mine->len < OOBLEX_COMPLETE_ID_LEN ? mine->len : OOBLEX_COMPLETE_ID_LEN;
		if(r == NULL || r->type != REDIS_REPLY_STRING || r->len < id_len || memcmp(r->str, mine->str, id_len) != 0)
			rc = -1;
		if(r != NULL)
			freeReplyObject(r);
		if(rc < 0) {
			worker_log("[%s] %s did not hold the frames taken ahead as expected; starting over", q->w->opt.id,
				q->processing_key);
			return -1;
		}
		freeReplyObject(mine);
		q->ready_n--;
		atomic_fetch_add(&q->w->handed_back, 1);
	}
	return 0;
}

/* Processes a batch taken into the processing list and sends its
 * completion (ooblex_script_complete: the results go out only if the list
 * still holds the batch, so if a reaper took the frames back meanwhile they
 * are dropped: never delivered twice). The reply is read later
 * (read_completions), so the next frame need not wait a round trip for it.
 * 0, or -1 when the connection broke or memory ran out (the caller starts
 * over: what the list holds goes back to the queue). */
static int send_completion(queue_loop *q, redisReply **batch, int nb) {
	worker *w = q->w;
	/* EVAL script numkeys processing stale results... nb ttl stale ids... payloads...
	 * Argument vectors point into the batch's results, copied because the
	 * result buffer is reused frame to frame. */
	int max_args = 5 + 3 + 3 * nb;
	const char **argv = calloc((size_t)max_args, sizeof(*argv));
	size_t *argvlen = calloc((size_t)max_args, sizeof(*argvlen));
	char (*keys)[OOBLEX_KEY_MAX] = calloc((size_t)nb, sizeof(*keys));
	uint8_t **payloads = calloc((size_t)nb, sizeof(*payloads));
	size_t *payload_lens = calloc((size_t)nb, sizeof(*payload_lens));
	int n_results = 0, stale = 0, rc = 0;
	uint64_t ahead_us[OOBLEX_MAX_BATCH];
	run_ahead(q, batch, nb, ahead_us);
	for(int i = 0; argv && argvlen && keys && payloads && payload_lens && i < nb; i++) {
		const uint8_t *res = NULL;
		size_t res_len = 0;
		uint64_t t0 = ooblex_now_us();
		int pr = process(q, (const uint8_t *)batch[i]->str, batch[i]->len, ahead_us[i], keys[n_results], &res, &res_len);
		if(pr == 0)
			note_cost(q, batch[i], (double)(ooblex_now_us() - t0));
		if(pr == 0 && (payloads[n_results] = malloc(res_len)) != NULL) {
			memcpy(payloads[n_results], res, res_len);
			payload_lens[n_results++] = res_len;
		} else if(pr == 1) {
			stale++;
		}
	}
	if(argv == NULL || argvlen == NULL || keys == NULL || payloads == NULL || payload_lens == NULL) {
		worker_log("[%s] out of memory completing a batch; its frames go back to the queue", w->opt.id);
		rc = -1;
	} else {
		char numkeys[16], count[16], ttl[16], stale_s[16];
		snprintf(numkeys, sizeof(numkeys), "%d", 2 + n_results);
		snprintf(count, sizeof(count), "%d", nb);
		snprintf(ttl, sizeof(ttl), "%d", OOBLEX_PROCESSED_TTL_S);
		snprintf(stale_s, sizeof(stale_s), "%d", stale);
		int argc = 0;
		argv[argc++] = "EVAL";
		argv[argc++] = ooblex_script_complete;
		argv[argc++] = numkeys;
		argv[argc++] = q->processing_key;
		argv[argc++] = OOBLEX_KEY_DROPPED_STALE;
		for(int i = 0; i < n_results; i++)
			argv[argc++] = keys[i];
		argv[argc++] = count;
		argv[argc++] = ttl;
		argv[argc++] = stale_s;
		/* Each frame's id: the head of its message, as the script compares it. */
		for(int i = 0; i < nb; i++) {
			argvlen[argc] = batch[i]->len < OOBLEX_COMPLETE_ID_LEN ? batch[i]->len : OOBLEX_COMPLETE_ID_LEN;
			argv[argc++] = batch[i]->str;
		}
		for(int i = 0; i < n_results; i++) {
			argvlen[argc] = payload_lens[i];
			argv[argc++] = (const char *)payloads[i];
		}
		for(int i = 0; i < 8 + n_results; i++)
			argvlen[i] = strlen(argv[i]);
		if(redisAppendCommandArgv(q->c, argc, argv, argvlen) != REDIS_OK || flush(q->c) < 0) {
			if(q->index == 0)
				worker_log("[%s] lost the Redis connection while completing frames (%s)", w->opt.id, q->c->errstr);
			rc = -1;
		} else {
			q->owed_sizes[(q->owed_head + q->completions_owed) % OOBLEX_MAX_PENDING_COMPLETIONS] = nb;
			q->completions_owed++;
		}
	}
	for(int i = 0; payloads && i < n_results; i++)
		free(payloads[i]);
	free(payloads);
	free(payload_lens);
	free(keys);
	free(argvlen);
	free(argv);
	return rc;
}

/* Reads the completions' replies: those that have arrived, or all of them
 * when block is set. 0, or -1 when the connection broke. */
static int read_completions(queue_loop *q, int block) {
	worker *w = q->w;
	while(q->completions_owed > 0) {
		redisReply *r = NULL;
		if(next_reply(q->c, block, &r) < 0) {
			if(q->index == 0)
				worker_log("[%s] lost the Redis connection while completing frames (%s)", w->opt.id, q->c->errstr);
			return -1;
		}
		if(r == NULL)
			return 0;
		int nb = q->owed_sizes[q->owed_head];
		q->owed_head = (q->owed_head + 1) % OOBLEX_MAX_PENDING_COMPLETIONS;
		q->completions_owed--;
		if(r->type == REDIS_REPLY_INTEGER && r->integer == 0)
			worker_log("[%s] %d frame(s) were taken back by a reaper while being processed; their results are dropped",
				w->opt.id, nb);
		else if(r->type == REDIS_REPLY_ERROR)
			worker_log("[%s] completing frames failed: %s", w->opt.id, r->str);
		freeReplyObject(r);
	}
	return 0;
}

/* Waits until the liveness key has a safe margin left (at start, and after
 * an outage, until the liveness thread has set it). 0 when asked to stop. */
static int wait_alive(worker *w) {
	const uint64_t margin = OOBLEX_ALIVE_TTL_MS * 1000ULL / 2;
	while(keep_going(w)) {
		if(atomic_load(&w->alive_until_us) > ooblex_now_us() + margin)
			return 1;
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Whether a take may go out now: never unless the liveness key has at
 * least half its time left, or a reaper could take the frame back while we
 * work on it (docs/protocol.md). */
static int alive_margin(const worker *w) {
	return atomic_load(&w->alive_until_us) > ooblex_now_us() + OOBLEX_ALIVE_TTL_MS * 1000ULL / 2;
}

/* Sends n takes into the processing list (atomically: if we die, a reaper
 * finds the frames there). blocking: the first is a BLMOVE that waits up to
 * half a second for a frame (which keeps SIGTERM responsive), the rest
 * LMOVEs that take what is there without waiting; else all LMOVEs. The
 * replies are read by read_takes. 0, or -1 when the connection broke. */
static int send_takes(queue_loop *q, int n, int blocking) {
	for(int i = 0; i < n; i++) {
		int rc = i == 0 && blocking ?
			redisAppendCommand(q->take, "BLMOVE %s %s RIGHT LEFT 0.5", q->queue, q->processing_key) :
			redisAppendCommand(q->take, "LMOVE %s %s RIGHT LEFT", q->queue, q->processing_key);
		if(rc != REDIS_OK)
			return -1;
	}
	if(blocking)
		q->blmove_at = q->takes_owed + 1;
	q->takes_owed += n;
	return flush(q->take);
}

/* Reads take replies into the ready frames: those that have arrived, or
 * (block) until `until_ready` frames are ready or nothing is owed. 0, or -1
 * when the connection broke. */
static int read_takes(queue_loop *q, int block, int until_ready) {
	worker *w = q->w;
	while(q->takes_owed > 0 && !(block && q->ready_n >= until_ready)) {
		redisReply *r = NULL;
		if(next_reply(q->take, block, &r) < 0) {
			if(q->index == 0)
				worker_log("[%s] lost the Redis connection (%s); reconnecting", w->opt.id, q->take->errstr);
			return -1;
		}
		if(r == NULL)
			return 0;
		q->takes_owed--;
		if(q->blmove_at > 0)
			q->blmove_at--;
		if(r->type == REDIS_REPLY_STRING) {
			q->ready[(q->ready_head + q->ready_n) % (OOBLEX_MAX_PREFETCH + OOBLEX_MAX_BATCH)] = r;
			q->ready_n++;
			q->queue_was_empty = 0;
			continue;
		}
		if(r->type == REDIS_REPLY_ERROR) {
			worker_log("[%s] Redis error on %s: %s", w->opt.id, q->queue, r->str);
			sleep(1);
		}
		q->queue_was_empty = 1;
		freeReplyObject(r);
	}
	return 0;
}

/* How many frames to keep taken ahead of the batch being processed, so
 * that the next one is there when the current one is done: what the
 * measured time per frame gets through in one round trip to Redis, plus one
 * for jitter, at least a batch, at most OOBLEX_MAX_PREFETCH; or --prefetch
 * when set. None while the round trip is under a quarter of a frame's work
 * (beside Redis, or a slow effect): there a frame taken ahead would wait a
 * whole frame in this worker, maybe while another sits idle, to save a
 * wait of a fraction of one. Also none before the first frame is timed. */
static int prefetch_depth(const queue_loop *q) {
	const worker *w = q->w;
	if(w->opt.prefetch >= 0)
		return (int)w->opt.prefetch;
	double rtt = (double)atomic_load(&w->redis_rtt_us);
	if(q->frame_us <= 0 || rtt < q->frame_us / 4)
		return 0;
	long per_round_trip = (long)(rtt / q->frame_us);
	per_round_trip += per_round_trip * q->frame_us < rtt;
	long ahead = per_round_trip + 1;
	if(ahead < w->opt.batch_size)
		ahead = w->opt.batch_size;
	return (int)(ahead < OOBLEX_MAX_PREFETCH ? ahead : OOBLEX_MAX_PREFETCH);
}

/* Tops the ready frames (and takes under way) up to the prefetch depth,
 * with LMOVEs that do not wait: they travel while the current batch is
 * processed. One at a time while the queue is empty. Nothing behind a
 * BLMOVE (it would only wait with it). */
static int top_up(queue_loop *q) {
	int want = prefetch_depth(q) - q->ready_n - q->takes_owed;
	if(want <= 0 || q->blmove_at > 0 || !alive_margin(q->w))
		return 0;
	return send_takes(q, q->queue_was_empty ? 1 : want, 0);
}

static redisReply *pop_ready(queue_loop *q) {
	redisReply *r = q->ready[q->ready_head];
	q->ready_head = (q->ready_head + 1) % (OOBLEX_MAX_PREFETCH + OOBLEX_MAX_BATCH);
	q->ready_n--;
	return r;
}

/* Everything owed is read (completions done, takes landed), then whatever
 * the processing list holds, the ready frames among it, goes back to the
 * queue (or into ooblex:dropped:stale past its deadline): on a stop, and
 * after a broken connection, when what the list holds is not known. */
static void give_back(queue_loop *q) {
	worker *w = q->w;
	if(q->c != NULL && !q->c->err)
		read_completions(q, 1);
	if(q->take != NULL && !q->take->err)
		read_takes(q, 1, OOBLEX_MAX_PREFETCH + OOBLEX_MAX_BATCH + 1);
	int held = q->ready_n;
	while(q->ready_n > 0)
		freeReplyObject(pop_ready(q));
	q->ready_head = 0;
	if(held > 0)
		worker_log("[%s] giving back %d frame(s) taken ahead from %s", w->opt.id, held, q->queue);
	if(q->c != NULL && !q->c->err)
		worker_reap(w, q->c, q->processing_key, "ooblex:no-such-key", q->queue);
}

static void disconnect(queue_loop *q) {
	if(q->c != NULL)
		redisFree(q->c);
	if(q->take != NULL)
		redisFree(q->take);
	q->c = q->take = NULL;
	q->takes_owed = q->blmove_at = q->completions_owed = q->owed_head = 0;
	q->queue_was_empty = 0;
}

/* One queue's loop. Without prefetch (--prefetch 0) as it always was: take
 * a batch (BLMOVE, then up to batch_size-1 more without waiting), process
 * it, complete it, each step waiting for Redis. With prefetch, the takes of
 * the next frames go out before the current batch is processed and the
 * completion is not waited for, so a worker far from Redis spends no round
 * trip per frame: it waits only when it has nothing in hand. Reconnects
 * when Redis goes. */
void *worker_loop_run(void *arg) {
	queue_loop *q = arg;
	worker *w = q->w;
	const int serial = w->opt.prefetch == 0, sized_here = w->opt.prefetch < 0;
	int outage_logged = 0;
	while(keep_going(w)) {
		if(q->c == NULL || q->take == NULL) {
			disconnect(q);
			q->c = ooblex_redis_connect_retry(&w->opt.redis, 0, &outage_logged, stop_was_requested, report_connect, q);
			if(q->c != NULL)
				q->take = ooblex_redis_connect_retry(&w->opt.redis, 0, &outage_logged, stop_was_requested, report_nothing,
					q);
			if(q->c == NULL || q->take == NULL)
				break;
			/* Frames this id held before a restart or an outage go back to
			 * the queue. */
			worker_reap(w, q->c, q->processing_key, "ooblex:no-such-key", q->queue);
		}
		int broken = 0;
		if(q->ready_n == 0) {
			/* Nothing in hand: wait for a frame. */
			if(q->blmove_at == 0) {
				if(!wait_alive(w))
					break;
				broken = send_takes(q, (int)w->opt.batch_size, 1) < 0;
			}
			/* Without prefetch the whole batch, as taken; with it, the
			 * first frame is enough to start. */
			if(!broken)
				broken = read_takes(q, 1, serial ? OOBLEX_MAX_PREFETCH + OOBLEX_MAX_BATCH + 1 : 1) < 0;
		}
		if(!broken && !serial)
			broken = read_takes(q, 0, 0) < 0 || read_completions(q, 0) < 0;
		if(!broken && q->ready_n > 0) {
			redisReply *batch[OOBLEX_MAX_BATCH];
			int nb = 0;
			while(nb < w->opt.batch_size && q->ready_n > 0)
				batch[nb++] = pop_ready(q);
			uint64_t t0 = ooblex_now_us();
			/* With the depth sized here (auto), nothing is taken ahead behind
			 * a long frame (any_long), and behind a long batch those taken
			 * already go back instead; --prefetch N keeps N, as told. */
			if(!serial && sized_here && any_long(q, batch, nb, 0))
				broken = hand_back_ready(q) < 0;
			else if(!serial && (!sized_here || !any_long(q, batch, nb, 1)))
				broken = top_up(q) < 0;
			if(!broken)
				broken = send_completion(q, batch, nb) < 0;
			for(int i = 0; i < nb; i++)
				freeReplyObject(batch[i]);
			/* Without prefetch, wait for the answer; with it, only when too
			 * many are owed. */
			if(!broken && (serial || q->completions_owed >= OOBLEX_MAX_PENDING_COMPLETIONS))
				broken = read_completions(q, 1) < 0;
			double per_frame = (double)(ooblex_now_us() - t0) / nb;
			q->frame_us = q->frame_us > 0 ? 0.75 * q->frame_us + 0.25 * per_frame : per_frame;
		}
		if(broken) {
			/* What the list holds is not known now: it goes back, and we
			 * start over on fresh connections. */
			give_back(q);
			disconnect(q);
			outage_logged = 1;
		}
	}
	give_back(q);
	disconnect(q);
	return NULL;
}

int worker_loop_prepare(queue_loop *q) {
	q->fx = ooblex_effects_new();
	q->jpeg = ooblex_jpeg_new(OOBLEX_JPEG_ENCODER | OOBLEX_JPEG_DECODER | OOBLEX_JPEG_FAST);
	return q->fx != NULL && q->jpeg != NULL ? 0 : -1;
}

void worker_loop_free(queue_loop *q) {
	ooblex_effects_free(q->fx);
	ooblex_jpeg_free(q->jpeg);
	free(q->pixels);
	free(q->decoded);
	free(q->out);
}
