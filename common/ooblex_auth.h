/*
 * ooblex_auth.h - results signed with the fleet secret.
 *
 * Owns: the MAC that proves a result came from a fleet member. Anyone who
 * can write to Redis can LPUSH to processed_frames:{id}; with a fleet secret
 * set in the plugin (fleet_secret) and in every worker (--fleet-secret-file
 * or OOBLEX_FLEET_SECRET), the plugin accepts only results whose MAC checks.
 *
 * The MAC is HMAC-SHA256 (GLib's GHmac) keyed with the secret, over a
 * domain string and every byte of the message except the MAC's own 32: the
 * whole header (kind, client id, seq, frame id, sizes, strings, metadata, any
 * other extension record) and the payload. A result therefore cannot be
 * altered, replayed to another client (the client id is covered) or to
 * another frame of the same client (the seq is covered). It travels in the
 * last extension record of the header (ooblex_wire.h, OOBLEX_EXT_MAC), which
 * readers without a secret, and older readers, skip.
 */
#ifndef OOBLEX_AUTH_H
#define OOBLEX_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "ooblex_wire.h"

/* Shorter secrets are refused: 16 bytes is 128 bits if random. */
#define OOBLEX_SECRET_MIN 16
#define OOBLEX_SECRET_MAX 1024

typedef enum ooblex_auth_result {
	OOBLEX_AUTH_OK = 0,
	OOBLEX_AUTH_MISSING,	/* no MAC record */
	OOBLEX_AUTH_BAD,	/* a MAC that does not check */
} ooblex_auth_result;

/* Fills the MAC record of a message written with h->has_mac set
 * (ooblex_wire_write_header, then the payload): msg is the whole message.
 * Returns 0, or -1 if msg has no MAC record as the last of its header. */
int ooblex_auth_sign(const uint8_t *key, size_t keylen, uint8_t *msg, size_t len);

/* Checks a message that ooblex_wire_parse accepted into h. Constant time in
 * the comparison. */
ooblex_auth_result ooblex_auth_verify(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
	const ooblex_frame_header *h);

/* Reads a secret from a file (trailing whitespace dropped) into out (at
 * least OOBLEX_SECRET_MAX bytes); or takes it from text when path is NULL.
 * Returns its length, or -1 with err set (missing, shorter than
 * OOBLEX_SECRET_MIN, longer than OOBLEX_SECRET_MAX). */
int ooblex_auth_load_secret(const char *path, const char *text, uint8_t *out, char *err, size_t errlen);

#endif
