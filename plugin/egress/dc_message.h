/*
 * dc_message.h - what a page may say on the data channel, parsed.
 *
 * Owns: turning one data-channel message from the page into a typed value,
 * with its size and every field checked. The page (html/js/ooblex.js) sends
 * {"hello":"ooblex"} when the channel opens and {"ack":<frame_id>} as each
 * frame is reassembled. Anything else is "other" (ignored, proof only that
 * the channel is open). An ack that is not exactly an object with one
 * unsigned decimal integer of at most 20 digits that fits 64 bits
 * ({"ack":-1}, {"ack":1e99}, {"ack":"7"}, {"ack":18446744073709551616}) is a
 * bad ack: counted by the caller, never taken as an id.
 *
 * No Janus, no allocation: called for every message, thirty times a second.
 */
#ifndef OOBLEX_DC_MESSAGE_H
#define OOBLEX_DC_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

/* Longer messages are not read at all. */
#define OOBLEX_DC_MESSAGE_MAX 256

typedef enum ooblex_dc_message_kind {
	OOBLEX_DC_MSG_OTHER = 0,	/* not for us (or the hello) */
	OOBLEX_DC_MSG_HELLO,	/* {"hello":"ooblex"} */
	OOBLEX_DC_MSG_ACK,	/* ack_id is set */
	OOBLEX_DC_MSG_BAD_ACK,	/* an "ack" key with no usable id */
	OOBLEX_DC_MSG_OVERSIZED,	/* longer than OOBLEX_DC_MESSAGE_MAX */
} ooblex_dc_message_kind;

typedef struct ooblex_dc_message {
	ooblex_dc_message_kind kind;
	uint64_t ack_id;
} ooblex_dc_message;

/* Parses buf (len bytes, not NUL-terminated, may be NULL when len is 0).
 * Returns msg->kind. */
ooblex_dc_message_kind ooblex_dc_message_parse(const uint8_t *buf, size_t len, ooblex_dc_message *msg);

#endif
