/*
 * producer.c - see producer.h.
 */
#include "producer.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooblex_keys.h"
#include "ooblex_wire.h"
#include "results.h"

/* How long stop() waits for queued messages to reach Redis. */
#define PRODUCER_STOP_GRACE_US (500 * 1000)

typedef struct pending_msg {
	char key[OOBLEX_KEY_MAX];
	uint8_t *data;
	size_t len;
} pending_msg;

struct ooblex_producer {
	ooblex_redis_config cfg;
	ooblex_log_fn log;
	GThread *thread;
	GMutex lock;
	GCond cond;
	GQueue queue;	/* of pending_msg */
	/* Taken off the queue by the thread and not yet counted pushed or
	 * dropped: still pending. Under lock, with the counters' updates, so that
	 * pushed + dropped_full + dropped_error + pending always equals what was
	 * offered (ooblex_producer_snapshot). */
	unsigned sending;
	unsigned max_pending;
	volatile gint stopping;
	gint64 stop_deadline;
	ooblex_producer_stats stats;
};

static void pending_free(pending_msg *m) {
	free(m->data);
	g_free(m);
}

/* The batch in hand is done: its messages move from pending (sending) to
 * pushed or dropped_error in one step under the lock. */
static void settle_batch(ooblex_producer *p, unsigned pushed, unsigned lost) {
	g_mutex_lock(&p->lock);
	atomic_fetch_add(&p->stats.pushed, pushed);
	atomic_fetch_add(&p->stats.dropped_error, lost);
	p->sending = 0;
	g_mutex_unlock(&p->lock);
}

static gpointer producer_thread(gpointer data) {
	ooblex_producer *p = data;
	redisContext *c = NULL;
	int outage_logged = 0;
	GQueue batch = G_QUEUE_INIT;
	for(;;) {
		if(c == NULL && !g_atomic_int_get(&p->stopping)) {
			/* Connect before there is anything to send, so stats show whether
			 * Redis is reachable. While it is away the in-memory queue fills
			 * and new frames are dropped at push(); stop() ends this wait. */
			c = ooblex_queue_connect(&p->cfg, 2000, &p->stopping, p->log, "producer", &outage_logged);
			atomic_store(&p->stats.connected, c != NULL);
		}
		g_mutex_lock(&p->lock);
		while(p->queue.length == 0 && !g_atomic_int_get(&p->stopping))
			g_cond_wait(&p->cond, &p->lock);
		/* Take everything queued: one pipelined round trip for the lot. The
		 * batch stays counted as pending (sending) until each message is
		 * counted pushed or dropped: never in no counter at all. */
		batch = p->queue;
		g_queue_init(&p->queue);
		p->sending = batch.length;
		int stopping = g_atomic_int_get(&p->stopping);
		g_mutex_unlock(&p->lock);
		if(batch.length == 0 && stopping)
			break;
		if(stopping && g_get_monotonic_time() > p->stop_deadline) {
			settle_batch(p, 0, batch.length);
			g_queue_clear_full(&batch, (GDestroyNotify)pending_free);
			break;
		}
		if(c == NULL) {	/* only when stopping, after a lost connection */
			settle_batch(p, 0, batch.length);
			g_queue_clear_full(&batch, (GDestroyNotify)pending_free);
			continue;
		}
		for(GList *l = batch.head; l != NULL; l = l->next) {
			pending_msg *m = l->data;
			redisAppendCommand(c, "LPUSH %s %b", m->key, m->data, m->len);
			/* A routed queue whose workers are all gone empties itself
			 * (its frames are long past their deadlines by then). */
			if(strcmp(m->key, OOBLEX_KEY_FRAMES) != 0)
				redisAppendCommand(c, "EXPIRE %s %d", m->key, OOBLEX_ROUTED_QUEUE_TTL_S);
		}
		int failed = 0;
		unsigned pushed = 0, lost = 0;
		for(GList *l = batch.head; l != NULL; l = l->next) {
			pending_msg *m = l->data;
			redisReply *r = NULL;
			if(!failed && redisGetReply(c, (void **)&r) != REDIS_OK)
				failed = 1;
			if(failed || r == NULL || r->type == REDIS_REPLY_ERROR)
				lost++;
			else
				pushed++;
			if(r != NULL)
				freeReplyObject(r);
			if(strcmp(m->key, OOBLEX_KEY_FRAMES) != 0) {
				r = NULL;
				if(!failed && redisGetReply(c, (void **)&r) != REDIS_OK)
					failed = 1;
				if(r != NULL)
					freeReplyObject(r);
			}
		}
		settle_batch(p, pushed, lost);
		g_queue_clear_full(&batch, (GDestroyNotify)pending_free);
		if(failed) {
			ooblex_queue_log(p->log, 1, "producer: lost the Redis connection (%s)", c->errstr);
			outage_logged = 1;
			redisFree(c);
			c = NULL;
			atomic_store(&p->stats.connected, 0);
		}
	}
	if(c != NULL)
		redisFree(c);
	atomic_store(&p->stats.connected, 0);
	return NULL;
}

ooblex_producer *ooblex_producer_start(const ooblex_redis_config *cfg, unsigned max_pending,
		ooblex_log_fn log, char *err, size_t errlen) {
	ooblex_producer *p = g_malloc0(sizeof(*p));
	p->cfg = *cfg;
	p->log = log;
	p->max_pending = max_pending ? max_pending : 64;
	g_mutex_init(&p->lock);
	g_cond_init(&p->cond);
	g_queue_init(&p->queue);
	GError *gerr = NULL;
	p->thread = g_thread_try_new("ooblex redis out", producer_thread, p, &gerr);
	if(p->thread == NULL) {
		snprintf(err, errlen, "cannot start the Redis producer thread: %s", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		g_mutex_clear(&p->lock);
		g_cond_clear(&p->cond);
		g_free(p);
		return NULL;
	}
	return p;
}

int ooblex_producer_push(ooblex_producer *p, const char *key, uint8_t *msg, size_t len) {
	g_mutex_lock(&p->lock);
	/* The bound covers the batch being sent too: what sits in memory is
	 * never more than max_pending, however long a send takes. */
	if(p->queue.length + p->sending >= p->max_pending || g_atomic_int_get(&p->stopping)) {
		atomic_fetch_add(&p->stats.dropped_full, 1);
		g_mutex_unlock(&p->lock);
		free(msg);
		return -1;
	}
	pending_msg *m = g_malloc(sizeof(*m));
	g_strlcpy(m->key, key, sizeof(m->key));
	m->data = msg;
	m->len = len;
	g_queue_push_tail(&p->queue, m);
	g_cond_signal(&p->cond);
	g_mutex_unlock(&p->lock);
	return 0;
}

unsigned ooblex_producer_pending(ooblex_producer *p) {
	g_mutex_lock(&p->lock);
	unsigned n = p->queue.length + p->sending;
	g_mutex_unlock(&p->lock);
	return n;
}

void ooblex_producer_snapshot(ooblex_producer *p, ooblex_producer_counts *out) {
	g_mutex_lock(&p->lock);
	out->pushed = atomic_load(&p->stats.pushed);
	out->dropped_full = atomic_load(&p->stats.dropped_full);
	out->dropped_error = atomic_load(&p->stats.dropped_error);
	out->pending = p->queue.length + p->sending;
	g_mutex_unlock(&p->lock);
}

const ooblex_producer_stats *ooblex_producer_get_stats(ooblex_producer *p) {
	return &p->stats;
}

void ooblex_producer_stop(ooblex_producer *p) {
	if(p == NULL)
		return;
	g_mutex_lock(&p->lock);
	p->stop_deadline = g_get_monotonic_time() + PRODUCER_STOP_GRACE_US;
	g_atomic_int_set(&p->stopping, 1);
	g_cond_signal(&p->cond);
	g_mutex_unlock(&p->lock);
	g_thread_join(p->thread);
	/* Nothing is left (the thread takes all, push refuses once stopping);
	 * counted all the same should that ever change. */
	atomic_fetch_add(&p->stats.dropped_error, p->queue.length);
	g_queue_clear_full(&p->queue, (GDestroyNotify)pending_free);
	g_mutex_clear(&p->lock);
	g_cond_clear(&p->cond);
	g_free(p);
}

int ooblex_producer_push_frame(ooblex_producer *p, ooblex_reader *r, uint8_t *msg, size_t len) {
	ooblex_frame_header h;
	const uint8_t *payload;
	char queue[OOBLEX_KEY_MAX];
	if(ooblex_wire_parse(msg, len, &h, &payload) == OOBLEX_WIRE_OK)
		ooblex_reader_queue_for(r, h.effect, queue, sizeof(queue));
	else
		g_strlcpy(queue, OOBLEX_KEY_FRAMES, sizeof(queue));
	return ooblex_producer_push(p, queue, msg, len);
}

