/*
 * ooblex_wire.c - encoding and validation of the frame message.
 *
 * The fixed header's layout is OOBLEX_WIRE_OFF_* in ooblex_wire.h; then
 * effect[effect_len] | worker_len u8 | worker[worker_len]
 * [meta_len u16 | meta[meta_len] | extension records (type u8, len u16, bytes)...]
 * up to header_len; the payload follows (kind 3, error: u16 code, then the
 * reason text). docs/protocol.md has the whole table.
 */
#include "ooblex_wire.h"
#include "ooblex_bytes.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

const char *ooblex_wire_error_str(ooblex_wire_error err) {
	switch(err) {
		case OOBLEX_WIRE_OK: return "ok";
		case OOBLEX_WIRE_TRUNCATED: return "truncated";
		case OOBLEX_WIRE_BAD_MAGIC: return "bad magic";
		case OOBLEX_WIRE_BAD_VERSION: return "unsupported version";
		case OOBLEX_WIRE_BAD_HEADER: return "inconsistent header";
		case OOBLEX_WIRE_BAD_SIZE: return "bad size";
	}
	return "unknown";
}

const char *ooblex_pixfmt_name(ooblex_pixfmt fmt) {
	switch(fmt) {
		case OOBLEX_PIXFMT_I420: return "i420";
		case OOBLEX_PIXFMT_RGB24: return "rgb24";
		case OOBLEX_PIXFMT_JPEG: return "jpeg";
		default: return "none";
	}
}

ooblex_pixfmt ooblex_pixfmt_from_name(const char *name) {
	if(name == NULL)
		return OOBLEX_PIXFMT_NONE;
	if(!strcmp(name, "i420") || !strcmp(name, "yuv420p"))
		return OOBLEX_PIXFMT_I420;
	if(!strcmp(name, "rgb24") || !strcmp(name, "rgb"))
		return OOBLEX_PIXFMT_RGB24;
	if(!strcmp(name, "jpeg") || !strcmp(name, "jpg"))
		return OOBLEX_PIXFMT_JPEG;
	return OOBLEX_PIXFMT_NONE;
}

size_t ooblex_pixfmt_size(ooblex_pixfmt fmt, unsigned width, unsigned height) {
	size_t w = width, h = height;
	switch(fmt) {
		case OOBLEX_PIXFMT_I420: return w * h + 2 * ((w + 1) / 2) * ((h + 1) / 2);
		case OOBLEX_PIXFMT_RGB24: return w * h * 3;
		default: return 0;
	}
}

/* The metadata section is written only when there is metadata or an
 * extension after it: headers without either are byte for byte what they
 * were before those existed. */
static size_t meta_section_len(const ooblex_frame_header *h) {
	size_t mlen = strnlen(h->meta, OOBLEX_META_MAX);
	return mlen || h->has_mac ? 2 + mlen : 0;
}

static size_t ext_len(const ooblex_frame_header *h) {
	return h->has_mac ? OOBLEX_EXT_MAC_RECORD_LEN : 0;
}

size_t ooblex_wire_header_len(const ooblex_frame_header *h) {
	return OOBLEX_WIRE_FIXED_LEN + strnlen(h->effect, OOBLEX_NAME_MAX) + 1 + strnlen(h->worker, OOBLEX_NAME_MAX) +
		meta_section_len(h) + ext_len(h);
}

size_t ooblex_wire_write_header(const ooblex_frame_header *h, uint8_t *buf) {
	size_t elen = strnlen(h->effect, OOBLEX_NAME_MAX), wlen = strnlen(h->worker, OOBLEX_NAME_MAX);
	size_t mlen = strnlen(h->meta, OOBLEX_META_MAX);
	size_t hlen = OOBLEX_WIRE_FIXED_LEN + elen + 1 + wlen + meta_section_len(h) + ext_len(h);
	memcpy(buf + OOBLEX_WIRE_OFF_MAGIC, OOBLEX_WIRE_MAGIC, OOBLEX_WIRE_MAGIC_LEN);
	buf[OOBLEX_WIRE_OFF_VERSION] = OOBLEX_WIRE_VERSION;
	buf[OOBLEX_WIRE_OFF_KIND] = h->kind;
	ooblex_put16(buf + OOBLEX_WIRE_OFF_HEADER_LEN, (uint16_t)hlen);
	memcpy(buf + OOBLEX_WIRE_OFF_CLIENT_ID, h->client_id, OOBLEX_CLIENT_ID_LEN);
	ooblex_put64(buf + OOBLEX_WIRE_OFF_FRAME_ID, h->frame_id);
	ooblex_put32(buf + OOBLEX_WIRE_OFF_SEQ, h->seq);
	ooblex_put32(buf + OOBLEX_WIRE_OFF_PAYLOAD_LEN, h->payload_len);
	ooblex_put64(buf + OOBLEX_WIRE_OFF_CAPTURE_US, h->capture_us);
	ooblex_put64(buf + OOBLEX_WIRE_OFF_QUEUED_US, h->queued_us);
	ooblex_put64(buf + OOBLEX_WIRE_OFF_DEADLINE_US, h->deadline_us);
	ooblex_put64(buf + OOBLEX_WIRE_OFF_WORKER_START_US, h->worker_start_us);
	ooblex_put64(buf + OOBLEX_WIRE_OFF_WORKER_END_US, h->worker_end_us);
	ooblex_put16(buf + OOBLEX_WIRE_OFF_WIDTH, h->width);
	ooblex_put16(buf + OOBLEX_WIRE_OFF_HEIGHT, h->height);
	buf[OOBLEX_WIRE_OFF_PIXFMT] = h->pixfmt;
	buf[OOBLEX_WIRE_OFF_REPLY_PIXFMT] = h->reply_pixfmt;
	buf[OOBLEX_WIRE_OFF_JPEG_QUALITY] = h->jpeg_quality;
	buf[OOBLEX_WIRE_OFF_EFFECT_LEN] = (uint8_t)elen;
	memcpy(buf + OOBLEX_WIRE_FIXED_LEN, h->effect, elen);
	buf[OOBLEX_WIRE_FIXED_LEN + elen] = (uint8_t)wlen;
	memcpy(buf + OOBLEX_WIRE_FIXED_LEN + 1 + elen, h->worker, wlen);
	if(meta_section_len(h) > 0) {
		size_t moff = OOBLEX_WIRE_FIXED_LEN + 1 + elen + wlen;
		ooblex_put16(buf + moff, (uint16_t)mlen);
		memcpy(buf + moff + 2, h->meta, mlen);
	}
	if(h->has_mac) {
		uint8_t *rec = buf + hlen - OOBLEX_EXT_MAC_RECORD_LEN;
		rec[0] = OOBLEX_EXT_MAC;
		ooblex_put16(rec + 1, OOBLEX_MAC_LEN);
		memcpy(rec + 3, h->mac, OOBLEX_MAC_LEN);
	}
	return hlen;
}

/* Copies a length-prefixed string, refusing embedded NULs so that what a
 * reader logs or compares is exactly what was sent. */
static int read_name(const uint8_t *src, size_t len, char *dst) {
	if(memchr(src, 0, len) != NULL)
		return -1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

ooblex_wire_error ooblex_wire_parse(const uint8_t *msg, size_t len,
		ooblex_frame_header *h, const uint8_t **payload) {
	if(len < OOBLEX_WIRE_FIXED_LEN + 1)
		return len >= OOBLEX_WIRE_MAGIC_LEN && memcmp(msg + OOBLEX_WIRE_OFF_MAGIC, OOBLEX_WIRE_MAGIC, OOBLEX_WIRE_MAGIC_LEN) ?
			OOBLEX_WIRE_BAD_MAGIC : OOBLEX_WIRE_TRUNCATED;
	if(memcmp(msg + OOBLEX_WIRE_OFF_MAGIC, OOBLEX_WIRE_MAGIC, OOBLEX_WIRE_MAGIC_LEN))
		return OOBLEX_WIRE_BAD_MAGIC;
	if(msg[OOBLEX_WIRE_OFF_VERSION] != OOBLEX_WIRE_VERSION)
		return OOBLEX_WIRE_BAD_VERSION;
	memset(h, 0, sizeof(*h));
	h->kind = msg[OOBLEX_WIRE_OFF_KIND];
	size_t hlen = ooblex_get16(msg + OOBLEX_WIRE_OFF_HEADER_LEN);
	if(h->kind != OOBLEX_KIND_FRAME && h->kind != OOBLEX_KIND_RESULT && h->kind != OOBLEX_KIND_ERROR)
		return OOBLEX_WIRE_BAD_HEADER;
	if(hlen > len)
		return OOBLEX_WIRE_TRUNCATED;
	size_t elen = msg[OOBLEX_WIRE_OFF_EFFECT_LEN];
	if(OOBLEX_WIRE_FIXED_LEN + elen + 1 > hlen)
		return OOBLEX_WIRE_BAD_HEADER;
	size_t wlen = msg[OOBLEX_WIRE_FIXED_LEN + elen];
	if(OOBLEX_WIRE_FIXED_LEN + elen + 1 + wlen > hlen)
		return OOBLEX_WIRE_BAD_HEADER;
	memcpy(h->client_id, msg + OOBLEX_WIRE_OFF_CLIENT_ID, OOBLEX_CLIENT_ID_LEN);
	h->frame_id = ooblex_get64(msg + OOBLEX_WIRE_OFF_FRAME_ID);
	h->seq = ooblex_get32(msg + OOBLEX_WIRE_OFF_SEQ);
	h->payload_len = ooblex_get32(msg + OOBLEX_WIRE_OFF_PAYLOAD_LEN);
	h->capture_us = ooblex_get64(msg + OOBLEX_WIRE_OFF_CAPTURE_US);
	h->queued_us = ooblex_get64(msg + OOBLEX_WIRE_OFF_QUEUED_US);
	h->deadline_us = ooblex_get64(msg + OOBLEX_WIRE_OFF_DEADLINE_US);
	h->worker_start_us = ooblex_get64(msg + OOBLEX_WIRE_OFF_WORKER_START_US);
	h->worker_end_us = ooblex_get64(msg + OOBLEX_WIRE_OFF_WORKER_END_US);
	h->width = ooblex_get16(msg + OOBLEX_WIRE_OFF_WIDTH);
	h->height = ooblex_get16(msg + OOBLEX_WIRE_OFF_HEIGHT);
	h->pixfmt = msg[OOBLEX_WIRE_OFF_PIXFMT];
	h->reply_pixfmt = msg[OOBLEX_WIRE_OFF_REPLY_PIXFMT];
	h->jpeg_quality = msg[OOBLEX_WIRE_OFF_JPEG_QUALITY];
	if(read_name(msg + OOBLEX_WIRE_FIXED_LEN, elen, h->effect) < 0 ||
			read_name(msg + OOBLEX_WIRE_FIXED_LEN + 1 + elen, wlen, h->worker) < 0)
		return OOBLEX_WIRE_BAD_HEADER;
	size_t moff = OOBLEX_WIRE_FIXED_LEN + elen + 1 + wlen;
	if(hlen >= moff + 2) {
		size_t mlen = ooblex_get16(msg + moff);
		if(mlen > OOBLEX_META_MAX || moff + 2 + mlen > hlen || read_name(msg + moff + 2, mlen, h->meta) < 0)
			return OOBLEX_WIRE_BAD_HEADER;
		/* Extension records up to header_len; a MAC only as the last. */
		for(size_t off = moff + 2 + mlen; off < hlen;) {
			if(off + 3 > hlen)
				return OOBLEX_WIRE_BAD_HEADER;
			uint8_t type = msg[off];
			size_t rlen = ooblex_get16(msg + off + 1);
			if(off + 3 + rlen > hlen)
				return OOBLEX_WIRE_BAD_HEADER;
			if(type == OOBLEX_EXT_MAC) {
				if(rlen != OOBLEX_MAC_LEN || off + 3 + rlen != hlen)
					return OOBLEX_WIRE_BAD_HEADER;
				h->has_mac = 1;
				memcpy(h->mac, msg + off + 3, OOBLEX_MAC_LEN);
			}
			off += 3 + rlen;
		}
	}
	if(h->payload_len > OOBLEX_MAX_PAYLOAD || h->width == 0 || h->height == 0 ||
			h->width > OOBLEX_MAX_DIMENSION || h->height > OOBLEX_MAX_DIMENSION)
		return OOBLEX_WIRE_BAD_SIZE;
	if(len - hlen < h->payload_len)
		return OOBLEX_WIRE_TRUNCATED;
	if(len - hlen > h->payload_len)
		return OOBLEX_WIRE_BAD_SIZE;
	if(h->kind == OOBLEX_KIND_ERROR) {
		/* The reason goes into logs and a page's event: printable only. */
		const uint8_t *p = msg + hlen;
		if(h->pixfmt != OOBLEX_PIXFMT_NONE || h->payload_len < 3 || h->payload_len > 2 + OOBLEX_ERROR_TEXT_MAX)
			return OOBLEX_WIRE_BAD_SIZE;
		h->error_code = ooblex_get16(p);
		for(uint32_t i = 2; i < h->payload_len; i++)
			if(p[i] < 0x20 || p[i] > 0x7e)
				return OOBLEX_WIRE_BAD_HEADER;
		memcpy(h->error, p + 2, h->payload_len - 2);
		h->error[h->payload_len - 2] = '\0';
		*payload = p;
		return OOBLEX_WIRE_OK;
	}
	size_t raw = ooblex_pixfmt_size(h->pixfmt, h->width, h->height);
	if(h->pixfmt == OOBLEX_PIXFMT_NONE) {
		/* A result without a picture: what the effect found (the metadata)
		 * is all of it, for a session that asked for nothing else (reply
		 * pixfmt NONE). The size stays the frame's: boxes are in its pixels. */
		if(h->kind != OOBLEX_KIND_RESULT || h->payload_len != 0)
			return OOBLEX_WIRE_BAD_SIZE;
	} else if(h->pixfmt == OOBLEX_PIXFMT_JPEG) {
		if(h->payload_len < 4)
			return OOBLEX_WIRE_BAD_SIZE;
	} else if(raw == 0 || raw != h->payload_len) {
		return OOBLEX_WIRE_BAD_SIZE;
	}
	*payload = msg + hlen;
	return OOBLEX_WIRE_OK;
}

const char *ooblex_frame_error_name(unsigned code) {
	switch(code) {
		case OOBLEX_FRAME_ERR_UNKNOWN_EFFECT: return "unknown_effect";
		case OOBLEX_FRAME_ERR_REFUSED: return "refused";
		case OOBLEX_FRAME_ERR_FAILED: return "failed";
		case OOBLEX_FRAME_ERR_OVER_BUDGET: return "over_budget";
		case OOBLEX_FRAME_ERR_BAD_FRAME: return "bad_frame";
	}
	return "error";
}

size_t ooblex_wire_error_payload(uint16_t code, const char *reason, uint8_t *buf) {
	ooblex_put16(buf, code);
	if(reason == NULL || reason[0] == '\0')
		reason = ooblex_frame_error_name(code);
	size_t n = strnlen(reason, OOBLEX_ERROR_TEXT_MAX);
	for(size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)reason[i];
		buf[2 + i] = c >= 0x20 && c <= 0x7e ? c : '?';
	}
	return 2 + n;
}

int ooblex_client_id_generate(uint8_t id[OOBLEX_CLIENT_ID_LEN]) {
	/* getrandom() draws from the kernel CSPRNG: the id is the only thing that
	 * keeps one client from reading another's processed_frames list. */
	size_t got = 0;
	while(got < OOBLEX_CLIENT_ID_LEN) {
		ssize_t n = getrandom(id + got, OOBLEX_CLIENT_ID_LEN - got, 0);
		if(n < 0) {
			if(errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

void ooblex_client_id_to_hex(const uint8_t id[OOBLEX_CLIENT_ID_LEN], char hex[OOBLEX_CLIENT_ID_HEX_LEN + 1]) {
	static const char digits[] = "0123456789abcdef";
	for(int i = 0; i < OOBLEX_CLIENT_ID_LEN; i++) {
		hex[2 * i] = digits[id[i] >> 4];
		hex[2 * i + 1] = digits[id[i] & 0x0f];
	}
	hex[OOBLEX_CLIENT_ID_HEX_LEN] = '\0';
}

static int hexval(char c) {
	if(c >= '0' && c <= '9') return c - '0';
	if(c >= 'a' && c <= 'f') return c - 'a' + 10;
	if(c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int ooblex_client_id_from_hex(const char *hex, uint8_t id[OOBLEX_CLIENT_ID_LEN]) {
	if(hex == NULL || strlen(hex) != OOBLEX_CLIENT_ID_HEX_LEN)
		return -1;
	for(int i = 0; i < OOBLEX_CLIENT_ID_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if(hi < 0 || lo < 0)
			return -1;
		id[i] = (uint8_t)((hi << 4) | lo);
	}
	return 0;
}

uint64_t ooblex_now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
