/*
 * delay_relay.c - a TCP relay that holds every chunk it reads for N ms,
 * each way: a worker "far from Redis" on one machine, for tests and
 * benchmarks (this kernel has no netem).
 *
 *   delay_relay LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS
 *
 * Listens on 127.0.0.1:LISTEN_PORT; each connection it accepts gets its own
 * connection to the target. Per direction one thread reads (stamping each
 * chunk with when it arrived) and another writes each chunk DELAY_MS after
 * its arrival, so the delay is added once per direction whatever the rate
 * (a round trip gains 2 x DELAY_MS) and a slow reader on one side holds up
 * only its own direction. Bandwidth is not limited. When either side
 * closes, the pair closes. Prints "listening on PORT" once ready; runs
 * until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long delay_us;

typedef struct chunk {
	struct chunk *next;
	uint64_t due_us;
	size_t len;
	char data[];
} chunk;

/* One direction of a connection: from -> to. */
typedef struct pipe_dir {
	int from, to;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	chunk *head, *tail;
	int closed;	/* the reader saw the end */
	struct pair *pair;
} pipe_dir;

typedef struct pair {
	pipe_dir dir[2];
	pthread_mutex_t lock;
	int threads_left;
} pair;

static uint64_t now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void pair_release(pair *p) {
	pthread_mutex_lock(&p->lock);
	int last = --p->threads_left == 0;
	pthread_mutex_unlock(&p->lock);
	if(!last)
		return;
	for(int i = 0; i < 2; i++) {
		while(p->dir[i].head) {
			chunk *c = p->dir[i].head;
			p->dir[i].head = c->next;
			free(c);
		}
		pthread_mutex_destroy(&p->dir[i].lock);
		pthread_cond_destroy(&p->dir[i].cond);
	}
	close(p->dir[0].from);
	close(p->dir[1].from);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void *reader(void *arg) {
	pipe_dir *d = arg;
	char buf[65536];
	for(;;) {
		ssize_t n = read(d->from, buf, sizeof(buf));
		if(n < 0 && errno == EINTR)
			continue;
		if(n <= 0)
			break;
		chunk *c = malloc(sizeof(*c) + (size_t)n);
		if(c == NULL)
			break;
		c->next = NULL;
		c->due_us = now_us() + (uint64_t)delay_us;
		c->len = (size_t)n;
		memcpy(c->data, buf, (size_t)n);
		pthread_mutex_lock(&d->lock);
		if(d->tail)
			d->tail->next = c;
		else
			d->head = c;
		d->tail = c;
		pthread_cond_signal(&d->cond);
		pthread_mutex_unlock(&d->lock);
	}
	pthread_mutex_lock(&d->lock);
	d->closed = 1;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pair_release(d->pair);
	return NULL;
}

static void *writer(void *arg) {
	pipe_dir *d = arg;
	for(;;) {
		pthread_mutex_lock(&d->lock);
		while(d->head == NULL && !d->closed)
			pthread_cond_wait(&d->cond, &d->lock);
		chunk *c = d->head;
		if(c == NULL) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		d->head = c->next;
		if(d->head == NULL)
			d->tail = NULL;
		pthread_mutex_unlock(&d->lock);
		uint64_t now = now_us();
		if(c->due_us > now) {
			uint64_t wait = c->due_us - now;
			struct timespec ts = { (time_t)(wait / 1000000u), (long)(wait % 1000000u) * 1000L };
			while(nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
		}
		size_t off = 0;
		while(off < c->len) {
			ssize_t n = write(d->to, c->data + off, c->len - off);
			if(n < 0 && errno == EINTR)
				continue;
			if(n <= 0)
				break;
			off += (size_t)n;
		}
		int failed = off < c->len;
		free(c);
		if(failed)
			break;
	}
	/* Our side is done: the other end sees the close, and the reader of
	 * the opposite direction wakes up. */
	shutdown(d->to, SHUT_WR);
	shutdown(d->from, SHUT_RD);
	pair_release(d->pair);
	return NULL;
}

static int dial(const char *host, const char *port) {
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	if(getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	int fd = -1;
	for(struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
		if(fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

int main(int argc, char **argv) {
	if(argc != 5) {
		fprintf(stderr, "usage: delay_relay LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS\n");
		return 2;
	}
	delay_us = strtol(argv[4], NULL, 10) * 1000L;
	signal(SIGPIPE, SIG_IGN);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if(bind(ls, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(ls, 64) < 0) {
		perror("delay_relay: listen");
		return 1;
	}
	socklen_t alen = sizeof(addr);
	getsockname(ls, (struct sockaddr *)&addr, &alen);
	printf("listening on %d\n", ntohs(addr.sin_port));
	fflush(stdout);
	for(;;) {
		int client = accept(ls, NULL, NULL);
		if(client < 0) {
			if(errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("delay_relay: accept");
			return 1;
		}
		int server = dial(argv[2], argv[3]);
		if(server < 0) {
			close(client);
			continue;
		}
		setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pair *p = calloc(1, sizeof(*p));
		if(p == NULL) {
			close(client);
			close(server);
			continue;
		}
		pthread_mutex_init(&p->lock, NULL);
		p->threads_left = 4;
		p->dir[0].from = client;
		p->dir[0].to = server;
		p->dir[1].from = server;
		p->dir[1].to = client;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		for(int i = 0; i < 2; i++) {
			pthread_mutex_init(&p->dir[i].lock, NULL);
			pthread_cond_init(&p->dir[i].cond, NULL);
			p->dir[i].pair = p;
		}
		for(int i = 0; i < 2; i++) {
			pthread_t t;
			if(pthread_create(&t, &attr, reader, &p->dir[i]) != 0)
				pair_release(p);
			if(pthread_create(&t, &attr, writer, &p->dir[i]) != 0)
				pair_release(p);
		}
		pthread_attr_destroy(&attr);
	}
}
