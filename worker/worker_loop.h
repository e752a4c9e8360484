/*
 * worker_loop.h - one queue's loop: take frames, process them, deliver
 * the results.
 *
 * Owns, per queue_loop (worker.h): its two Redis connections (one for
 * takes only, since a BLMOVE may hold it, one for completions and reaps;
 * reconnecting with backoff), taking frames atomically into the worker's
 * processing list (BLMOVE, then up to batch_size-1 LMOVEs without waiting)
 * only while the liveness key has a safe margin left, taking the next
 * frames ahead while the current batch is processed (--prefetch: sized
 * from the measured round trip to Redis and time per frame), processing
 * each frame (checks, JPEG decode, the effect, JPEG encode, the time
 * budget, the result or error message, its MAC), completing each batch
 * atomically without waiting for the answer (the complete script of
 * ooblex_scripts.h: results pushed and the batch's frames removed from the
 * processing list only if no reaper took them back), and giving the frames
 * taken ahead back to the queue on a stop or a broken connection. Also its
 * effect context, JPEG coder and buffers, reused frame to frame.
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
