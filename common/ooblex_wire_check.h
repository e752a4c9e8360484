/*
 * ooblex_wire_check.h - what each side accepts of a well-formed message.
 *
 * Owns: the checks between ooblex_wire_parse() and use. A message that
 * parses is consistent with itself (sizes match the format); these say
 * whether it is something this side may act on: a worker takes frames in a
 * format it can read, the plugin takes JPEG (or even-sized I420) results
 * addressed to the session whose list they came from, with names it can put
 * in the page's JSON.
 * Shared by the worker, the plugin and tests/fuzz/fuzz_wire.c, so that the
 * fuzzer checks exactly what the two sides do.
 */
#ifndef OOBLEX_WIRE_CHECK_H
#define OOBLEX_WIRE_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include "ooblex_wire.h"

/* Parses a message popped from frames_to_process and checks it is a frame
 * a worker can process. Returns NULL and fills h and *payload, or the
 * reason it is refused (for the log; the message counts as malformed). */
const char *ooblex_wire_accept_frame(const uint8_t *msg, size_t len, ooblex_frame_header *h,
	const uint8_t **payload);

/* Parses a message popped from processed_frames:{client} and checks it is a
 * result the plugin can deliver to that client: a JPEG result, an I420
 * result of even width and height (exactly its size in bytes: what the video
 * track's encoder reads, video_reply_format), a metadata-only result
 * (pixfmt NONE, no payload: output "metadata"), or an error result
 * (OOBLEX_KIND_ERROR). Returns NULL, or the reason. */
const char *ooblex_wire_accept_result(const uint8_t *msg, size_t len, const uint8_t client_id[OOBLEX_CLIENT_ID_LEN],
	ooblex_frame_header *h, const uint8_t **payload);

/* Whether s is well-formed UTF-8 (no overlongs, surrogates or code points
 * past U+10FFFF): what jansson requires of every string it is given. */
int ooblex_utf8_valid(const char *s);

#endif
