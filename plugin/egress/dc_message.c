/*
 * dc_message.c - see dc_message.h. A strict hand parser: the two messages
 * the page sends have one shape each, and a general JSON parser for every
 * ack would cost more than the ack is worth.
 */
#include "dc_message.h"

#include <string.h>

typedef struct cursor {
	const uint8_t *p, *end;
} cursor;

static void skip_ws(cursor *c) {
	while(c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* Consumes lit (after whitespace) if it is next. */
static int take(cursor *c, const char *lit) {
	skip_ws(c);
	size_t n = strlen(lit);
	if((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

/* An unsigned decimal integer that fits 64 bits, no sign, no leading
 * zero (but "0"), no fraction or exponent. */
static int take_u64(cursor *c, uint64_t *out) {
	skip_ws(c);
	const uint8_t *start = c->p;
	uint64_t v = 0;
	while(c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');
		if(v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
		c->p++;
	}
	size_t digits = (size_t)(c->p - start);
	if(digits == 0 || digits > 20 || (digits > 1 && *start == '0'))
		return 0;
	*out = v;
	return 1;
}

static int at_end(cursor *c) {
	skip_ws(c);
	return c->p == c->end;
}

ooblex_dc_message_kind ooblex_dc_message_parse(const uint8_t *buf, size_t len, ooblex_dc_message *msg) {
	memset(msg, 0, sizeof(*msg));
	if(len > OOBLEX_DC_MESSAGE_MAX)
		return msg->kind = OOBLEX_DC_MSG_OVERSIZED;
	if(buf == NULL || len == 0)
		return msg->kind = OOBLEX_DC_MSG_OTHER;
	cursor c = { buf, buf + len };
	if(!take(&c, "{"))
		return msg->kind = OOBLEX_DC_MSG_OTHER;
	cursor key = c;
	if(take(&key, "\"ack\"")) {
		c = key;
		uint64_t id;
		if(take(&c, ":") && take_u64(&c, &id) && take(&c, "}") && at_end(&c)) {
			msg->ack_id = id;
			return msg->kind = OOBLEX_DC_MSG_ACK;
		}
		return msg->kind = OOBLEX_DC_MSG_BAD_ACK;
	}
	if(take(&c, "\"hello\"") && take(&c, ":") && take(&c, "\"ooblex\"") && take(&c, "}") && at_end(&c))
		return msg->kind = OOBLEX_DC_MSG_HELLO;
	return msg->kind = OOBLEX_DC_MSG_OTHER;
}
