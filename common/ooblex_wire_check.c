/*
 * ooblex_wire_check.c - acceptance of frames by workers and of results by the plugin.
 */
#include "ooblex_wire_check.h"

#include <string.h>

int ooblex_utf8_valid(const char *s) {
	const unsigned char *p = (const unsigned char *)s;
	while(*p) {
		unsigned char c = *p;
		size_t n;
		uint32_t cp, min;
		if(c < 0x80) {
			p++;
			continue;
		} else if((c & 0xe0) == 0xc0) {
			n = 1; cp = c & 0x1f; min = 0x80;
		} else if((c & 0xf0) == 0xe0) {
			n = 2; cp = c & 0x0f; min = 0x800;
		} else if((c & 0xf8) == 0xf0) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return 0;
		}
		for(size_t i = 1; i <= n; i++) {
			if((p[i] & 0xc0) != 0x80)	/* also stops at the NUL */
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if(cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

const char *ooblex_wire_accept_frame(const uint8_t *msg, size_t len, ooblex_frame_header *h,
		const uint8_t **payload) {
	ooblex_wire_error e = ooblex_wire_parse(msg, len, h, payload);
	if(e != OOBLEX_WIRE_OK)
		return ooblex_wire_error_str(e);
	if(h->kind != OOBLEX_KIND_FRAME)
		return "not a frame";
	/* The effect graph takes I420 or RGB24; JPEG is decoded to one of them. */
	if(h->pixfmt != OOBLEX_PIXFMT_I420 && h->pixfmt != OOBLEX_PIXFMT_RGB24 && h->pixfmt != OOBLEX_PIXFMT_JPEG)
		return "unsupported pixel format";
	return NULL;
}

const char *ooblex_wire_accept_result(const uint8_t *msg, size_t len, const uint8_t client_id[OOBLEX_CLIENT_ID_LEN],
		ooblex_frame_header *h, const uint8_t **payload) {
	ooblex_wire_error e = ooblex_wire_parse(msg, len, h, payload);
	if(e != OOBLEX_WIRE_OK)
		return ooblex_wire_error_str(e);
	/* An error result (a worker could not process the frame) carries no
	 * picture; ooblex_wire_parse has checked its code and text. */
	if(!(h->kind == OOBLEX_KIND_RESULT && (h->pixfmt == OOBLEX_PIXFMT_JPEG || h->pixfmt == OOBLEX_PIXFMT_I420 ||
			h->pixfmt == OOBLEX_PIXFMT_NONE)) && h->kind != OOBLEX_KIND_ERROR)
		return "not a JPEG, I420 or metadata-only result";
	/* Raw I420 goes straight into the video track's encoder, which takes
	 * even sizes only (planes w x h and w/2 x h/2), as the JPEG path's
	 * 4:2:0 decode does. ooblex_wire_parse has checked that the payload is
	 * exactly ooblex_pixfmt_size() bytes for width x height. */
	if(h->kind == OOBLEX_KIND_RESULT && h->pixfmt == OOBLEX_PIXFMT_I420 && ((h->width | h->height) & 1))
		return "an I420 result of odd width or height";
	if(memcmp(h->client_id, client_id, OOBLEX_CLIENT_ID_LEN) != 0)
		return "a result for another client";
	/* The names go into the page's JSON: jansson refuses a string that is
	 * not UTF-8, and the frame would then vanish as if the channel were
	 * backed up instead of being counted as malformed. */
	if(!ooblex_utf8_valid(h->effect) || !ooblex_utf8_valid(h->worker))
		return "effect or worker name is not UTF-8";
	return NULL;
}
