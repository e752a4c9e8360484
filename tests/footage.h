/*
 * footage.h - the pictures of a video file, for tests and benchmarks that
 * want real camera detail rather than a synthetic pattern.
 *
 * Owns: opening the file (libavformat), decoding its first video stream
 * (libavcodec) and handing each picture to a callback, in order.
 */
#ifndef OOBLEX_FOOTAGE_H
#define OOBLEX_FOOTAGE_H

#include <stdint.h>
#include <libavutil/frame.h>

/* Called with each decoded picture (valid during the call) and its index
 * from 0; returns 0 to go on, non-zero to stop. */
typedef int (*footage_fn)(const AVFrame *picture, int index, void *user);

/* Decodes at most max pictures of path. Returns how many were decoded, or
 * -1 when the file cannot be opened or has no video it can decode. */
int footage_decode(const char *path, int max, footage_fn fn, void *user);

/* The first max pictures of path scaled (libswscale, bicubic) to tightly
 * packed width x height I420 (even sizes), each malloc'ed into
 * pictures[i]: the footage as the plugin hands it on. Returns how many, or
 * -1 (nothing left allocated). Free each with free(). */
int footage_i420(const char *path, int max, int width, int height, uint8_t **pictures);

#endif
