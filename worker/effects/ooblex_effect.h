/*
 * ooblex_effect.h - the C ABI for adding effects to ooblex-worker as shared
 * objects, without touching the worker. This header is the whole contract.
 *
 * A module is a shared object that exports one function:
 *
 *     const ooblex_effect_module *ooblex_effect_module_v1(void);
 *
 * returning a description that lives as long as the module is loaded. The
 * worker loads modules from its module folder (every *.so in
 * $(libdir)/ooblex/effects, or --module-dir) and from --module PATH, refuses a
 * module whose abi_version it does not know, and then offers the module's
 * effects by name beside the built-in ones: a client asks for
 * "threshold:level=100", or chains it ("blur|threshold").
 *
 * Pixels: every image handed to a module is I420 (BT.601, limited range: Y
 * 16..235, U and V 16..240, 128 = no colour), with chroma planes of
 * (width+1)/2 x (height+1)/2, and is changed IN PLACE. Width and height may
 * change from one frame to the next (the browser's camera can switch).
 *
 * Threads and lifetime: the worker calls create() once per distinct effect
 * string (name plus parameters) per processing thread, keeps the state while
 * it is in use, and calls destroy() when it evicts it or exits. A state is
 * only ever used by one thread at a time; create() may run on several
 * threads at once. process() must not keep pointers to the image after it
 * returns. A module must not call exit(), install signal handlers, or write
 * to stdout (the worker's log); errors go back through err.
 *
 * Effect names: 1..31 characters of [a-z0-9_], unique among everything the
 * worker offers. A frame whose effect a module offers is routed to the
 * queue frames_to_process:{name} (see docs/protocol.md), so only workers that
 * loaded the module receive it.
 *
 * Build a module with:  cc -shared -fPIC -o myeffect.so myeffect.c
 * (worker/effects/examples/threshold_effect.c is a complete example).
 */
#ifndef OOBLEX_EFFECT_H
#define OOBLEX_EFFECT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OOBLEX_EFFECT_ABI_VERSION 1u

/* One picture, I420, writable in place. */
typedef struct ooblex_image {
	int width, height;
	uint8_t *y, *u, *v;
	int y_stride, u_stride, v_stride;
} ooblex_image;

typedef struct ooblex_effect {
	/* What clients write, [a-z0-9_]{1,31}. */
	const char *name;
	/* One line for --list-effects and list_effects: what it does and its
	 * parameters, e.g. "black and white at a luma level (level=16..235)". */
	const char *help;
	/* params is the text after "name:" ("" when there is none; never NULL).
	 * Returns the effect's state (anything but NULL), or NULL with a reason
	 * in err (errlen bytes, NUL-terminated). */
	void *(*create)(const char *params, char *err, size_t errlen);
	/* Processes one image in place. Returns 0, or -1 with a reason in err:
	 * the frame is then counted as failed and the worker goes on. */
	int (*process)(void *state, ooblex_image *image, char *err, size_t errlen);
	/* Frees a state create() returned. May be NULL. */
	void (*destroy)(void *state);
	/* Optional (NULL): what the last process() found, as a JSON value
	 * written into json (at most len bytes with the NUL), for example
	 * [[x,y,w,h],...] for detected faces. It reaches the page with the frame
	 * (metadata "detections", keyed by effect name). Returns the length, or
	 * 0 for nothing to say. */
	size_t (*describe)(void *state, char *json, size_t len);
} ooblex_effect;

typedef struct ooblex_effect_module {
	uint32_t abi_version;	/* OOBLEX_EFFECT_ABI_VERSION */
	const char *name;	/* for logs */
	const ooblex_effect *effects;
	size_t n_effects;
} ooblex_effect_module;

/* The one symbol a module exports. */
typedef const ooblex_effect_module *(*ooblex_effect_module_fn)(void);
#define OOBLEX_EFFECT_MODULE_SYMBOL "ooblex_effect_module_v1"

#ifdef __cplusplus
}
#endif

#endif
