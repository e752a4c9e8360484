/*
 * worker_loop.h - one queue's loop: take frames, process them, deliver
 * the results.
 *
 * Owns, per queue_loop (worker.h): its Redis connection (reconnecting with
 * backoff), taking a batch atomically into the worker's processing list
 * (BLMOVE, then up to batch_size-1 LMOVEs without waiting) only while the
 * liveness key has a safe margin left, processing each frame (checks, JPEG
 * decode, the effect, JPEG encode, the time budget, the result or error
 * message, its MAC), and completing the batch atomically (the complete
 * script of ooblex_scripts.h: results pushed and the processing list
 * cleared only if no reaper took the frames back). Also its effect context,
 * JPEG coder and buffers, reused frame to frame.
 */
#ifndef OOBLEX_WORKER_LOOP_H
#define OOBLEX_WORKER_LOOP_H

#include "worker.h"

/* Gives q its effect context and JPEG coder; 0, or -1 when either cannot be
 * made. */
int worker_loop_prepare(queue_loop *q);
/* The loop (a pthread start routine, arg a queue_loop): runs until a stop
 * is requested or --max-frames frames are done. */
void *worker_loop_run(void *arg);
/* Frees what prepare and the loop allocated. */
void worker_loop_free(queue_loop *q);

#endif
