/*
 * dc_chunker.h - splits one processed frame into data channel messages.
 *
 * Owns: the chunk format the browser reassembles (docs/protocol.md). Janus
 * cannot carry a data channel message over 65,535 bytes, and 16 KiB is the
 * size every SCTP stack handles without fragmentation trouble, so a frame
 * (JSON metadata + JPEG) goes out as several messages, each with a 24-byte
 * header:
 *   0 version u8 (1) | 1 header_len u8 (24) | 2 chunk_index u16 | 4 chunk_count u16
 *   6 meta_len u16 | 8 total_len u32 | 12 offset u32 | 16 frame_id u64
 * all little-endian. The reassembled frame is meta_len bytes of UTF-8 JSON
 * followed by the JPEG.
 */
#ifndef OOBLEX_DC_CHUNKER_H
#define OOBLEX_DC_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define OOBLEX_CHUNK_VERSION 1
#define OOBLEX_CHUNK_HEADER_LEN 24
#define OOBLEX_CHUNK_MAX 16384	/* whole message, header included */

/* Called once per chunk; returns 0, or -1 to abandon the frame. */
typedef int (*ooblex_chunk_send_fn)(const uint8_t *msg, size_t len, void *user);

/* Sends meta + jpeg as chunks of at most max_msg bytes (<= OOBLEX_CHUNK_MAX
 * is recommended, > OOBLEX_CHUNK_HEADER_LEN required). Returns the number of
 * chunks sent, or -1 (too large, or send failed). */
int ooblex_chunk_frame(uint64_t frame_id, const uint8_t *meta, size_t meta_len,
	const uint8_t *jpeg, size_t jpeg_len, size_t max_msg, ooblex_chunk_send_fn send, void *user);

#endif
