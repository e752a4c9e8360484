/*
 * dc_chunker.c - chunking of processed frames for the data channel.
 */
#include "dc_chunker.h"

#include <string.h>

#include "ooblex_bytes.h"

int ooblex_chunk_frame(uint64_t frame_id, const uint8_t *meta, size_t meta_len,
		const uint8_t *jpeg, size_t jpeg_len, size_t max_msg, ooblex_chunk_send_fn send, void *user) {
	if(max_msg <= OOBLEX_CHUNK_HEADER_LEN || max_msg > 65535 || meta_len > 65535)
		return -1;
	size_t total = meta_len + jpeg_len;
	size_t body = max_msg - OOBLEX_CHUNK_HEADER_LEN;
	size_t count = total == 0 ? 1 : (total + body - 1) / body;
	if(count > 65535 || total > UINT32_MAX)
		return -1;
	uint8_t msg[65535];
	for(size_t i = 0; i < count; i++) {
		size_t off = i * body;
		size_t n = total - off < body ? total - off : body;
		msg[0] = OOBLEX_CHUNK_VERSION;
		msg[1] = OOBLEX_CHUNK_HEADER_LEN;
		ooblex_put16(msg + 2, (uint16_t)i);
		ooblex_put16(msg + 4, (uint16_t)count);
		ooblex_put16(msg + 6, (uint16_t)meta_len);
		ooblex_put32(msg + 8, (uint32_t)total);
		ooblex_put32(msg + 12, (uint32_t)off);
		ooblex_put64(msg + 16, frame_id);
		/* The body may straddle the metadata / JPEG boundary. */
		uint8_t *dst = msg + OOBLEX_CHUNK_HEADER_LEN;
		size_t left = n, pos = off;
		if(pos < meta_len) {
			size_t m = meta_len - pos < left ? meta_len - pos : left;
			memcpy(dst, meta + pos, m);
			dst += m;
			left -= m;
			pos += m;
		}
		if(left > 0)
			memcpy(dst, jpeg + (pos - meta_len), left);
		if(send(msg, OOBLEX_CHUNK_HEADER_LEN + n, user) < 0)
			return -1;
	}
	return (int)count;
}
