/*
 * still.h - a still picture from a JPEG file as I420, the way the worker
 * reads frames (its own JPEG decoder, then libavfilter to I420 when the
 * JPEG is not 4:2:0 inside), for the ML tests on opencv-doc's pictures.
 */
#ifndef OOBLEX_STILL_H
#define OOBLEX_STILL_H

#include <stddef.h>
#include <stdint.h>
#include "effects.h"

/* Decodes path (width x height, known to the caller) into a malloc'ed I420
 * picture at *out. 0, or -1 with a reason in err. */
int still_i420(ooblex_effects *fx, const char *path, int width, int height, uint8_t **out, char *err, size_t errlen);

#endif
