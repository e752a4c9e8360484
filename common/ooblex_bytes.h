/*
 * ooblex_bytes.h - little-endian integers in byte buffers.
 *
 * Owns nothing: the helpers every binary format of Ooblex (the Redis frame
 * message, the data channel chunk) writes and reads its fields with, so that
 * the layout does not depend on the host's byte order or alignment.
 */
#ifndef OOBLEX_BYTES_H
#define OOBLEX_BYTES_H

#include <stdint.h>

static inline void ooblex_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void ooblex_put32(uint8_t *p, uint32_t v) { for(int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void ooblex_put64(uint8_t *p, uint64_t v) { for(int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint16_t ooblex_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t ooblex_get32(const uint8_t *p) {
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t ooblex_get64(const uint8_t *p) {
	return (uint64_t)ooblex_get32(p) | ((uint64_t)ooblex_get32(p + 4) << 32);
}

#endif
