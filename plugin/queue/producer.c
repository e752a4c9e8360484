/*
 * producer.c - see producer.h.
 */
#include "producer.h"

#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

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

/* What one message adds to the pipeline around its payload: the RESP of
 * LPUSH key <payload> up to the payload's bytes, then the CRLF after them
 * and, for a routed queue, EXPIRE key ttl. */
typedef struct resp_frame {
	char head[OOBLEX_KEY_MAX + 48];
	char tail[OOBLEX_KEY_MAX + 64];
	size_t head_len, tail_len;
} resp_frame;

static void resp_build(resp_frame *f, const pending_msg *m) {
	size_t klen = strlen(m->key);
	f->head_len = (size_t)snprintf(f->head, sizeof(f->head), "*3\r\n$5\r\nLPUSH\r\n$%zu\r\n%s\r\n$%zu\r\n",
		klen, m->key, m->len);
	f->tail_len = 2;
	memcpy(f->tail, "\r\n", 2);
	if(strcmp(m->key, OOBLEX_KEY_FRAMES) != 0) {
		char ttl[16];
		int tlen = snprintf(ttl, sizeof(ttl), "%d", OOBLEX_ROUTED_QUEUE_TTL_S);
		f->tail_len += (size_t)snprintf(f->tail + 2, sizeof(f->tail) - 2, "*3\r\n$6\r\nEXPIRE\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n",
			klen, m->key, tlen, ttl);
	}
}

/* Writes all of iov (cnt entries, advanced in place) to the socket fd: partial writes
 * go on where they stopped, a full socket buffer (EAGAIN: a non-blocking
 * socket, or a blocking one's send timeout) waits for room at most
 * timeout_ms at a time. Returns 0, or -1 with err set. */
static int write_all(int fd, struct iovec *iov, int cnt, int timeout_ms, char *err, size_t errlen) {
	while(cnt > 0) {
		/* writev's sendmsg form: MSG_NOSIGNAL, so a Redis gone away is an
		 * error here (EPIPE), not a SIGPIPE for the whole of Janus. */
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)(cnt > IOV_MAX ? IOV_MAX : cnt) };
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if(n < 0) {
			if(errno == EINTR)
				continue;
			if(errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				int r = poll(&pfd, 1, timeout_ms);
				if(r > 0 && !(pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
					continue;
				if(r < 0 && errno == EINTR)
					continue;
				snprintf(err, errlen, r == 0 ? "write timed out" : "connection closed while writing");
				return -1;
			}
			snprintf(err, errlen, "%s", strerror(errno));
			return -1;
		}
		size_t left = (size_t)n;
		while(cnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			cnt--;
		}
		if(cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* Sends the batch's commands, pipelined, with each payload's bytes written
 * from the message itself: hiredis' redisAppendCommand would first copy
 * every frame (460 KB raw I420 at 640x480) into its output buffer, and that
 * copy was half the data path's memmove time. Only the RESP around each
 * payload is formatted here; the replies are read by hiredis' reader as
 * before (its output buffer stays empty, so redisGetReply only reads).
 * Returns 0, or -1 with err set: the connection is then unusable (a
 * command may be cut short in the middle) and is dropped. */
static int send_batch(redisContext *c, GQueue *batch, char *err, size_t errlen) {
	unsigned n = batch->length;
	resp_frame *frames = g_new(resp_frame, n);
	struct iovec *iov = g_new(struct iovec, 3 * (size_t)n);
	int cnt = 0;
	unsigned i = 0;
	for(GList *l = batch->head; l != NULL; l = l->next, i++) {
		pending_msg *m = l->data;
		resp_build(&frames[i], m);
		iov[cnt++] = (struct iovec){ frames[i].head, frames[i].head_len };
		if(m->len > 0)
			iov[cnt++] = (struct iovec){ m->data, m->len };
		iov[cnt++] = (struct iovec){ frames[i].tail, frames[i].tail_len };
	}
	/* Whatever hiredis still holds to send goes first (nothing, normally). */
	int done = 0;
	while(!done)
		if(redisBufferWrite(c, &done) != REDIS_OK) {
			snprintf(err, errlen, "%s", c->errstr);
			g_free(iov);
			g_free(frames);
			return -1;
		}
	int rc = write_all(c->fd, iov, cnt, 2000, err, errlen);
	g_free(iov);
	g_free(frames);
	return rc;
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
		/* LPUSH each, and EXPIRE a routed queue: one whose workers are all
		 * gone empties itself (its frames are long past their deadlines by
		 * then). Not one reply is read before all are sent. */
		char werr[128] = "";
		int failed = send_batch(c, &batch, werr, sizeof(werr)) < 0;
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
			ooblex_queue_log(p->log, 1, "producer: lost the Redis connection (%s)", werr[0] ? werr : c->errstr);
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
	/* At most 15 bytes (see producer.h). */
	p->thread = g_thread_try_new("ooblex to redis", producer_thread, p, &gerr);
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

