/*
 * ooblex_auth.c - HMAC-SHA256 of results (see ooblex_auth.h).
 */
#include "ooblex_auth.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "ooblex_bytes.h"

/* Keeps a MAC made for something else (another protocol, a later version of
 * this one) from ever checking here. */
static const char mac_domain[] = "ooblex-result-mac-v1";

/* Where the 32 MAC bytes are, or 0 when the header's last record is not a
 * MAC. */
static size_t mac_offset(const uint8_t *msg, size_t len) {
	if(len < OOBLEX_WIRE_FIXED_LEN + 1)
		return 0;
	size_t hlen = ooblex_get16(msg + OOBLEX_WIRE_OFF_HEADER_LEN);
	if(hlen > len || hlen < OOBLEX_WIRE_FIXED_LEN + 1 + OOBLEX_EXT_MAC_RECORD_LEN)
		return 0;
	const uint8_t *rec = msg + hlen - OOBLEX_EXT_MAC_RECORD_LEN;
	if(rec[0] != OOBLEX_EXT_MAC || ooblex_get16(rec + 1) != OOBLEX_MAC_LEN)
		return 0;
	return hlen - OOBLEX_MAC_LEN;
}

static void compute(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len, size_t off,
		uint8_t out[OOBLEX_MAC_LEN]) {
	GHmac *mac = g_hmac_new(G_CHECKSUM_SHA256, key, keylen);
	g_hmac_update(mac, (const guchar *)mac_domain, sizeof(mac_domain));
	g_hmac_update(mac, msg, (gssize)off);
	g_hmac_update(mac, msg + off + OOBLEX_MAC_LEN, (gssize)(len - off - OOBLEX_MAC_LEN));
	gsize n = OOBLEX_MAC_LEN;
	g_hmac_get_digest(mac, out, &n);
	g_hmac_unref(mac);
}

int ooblex_auth_sign(const uint8_t *key, size_t keylen, uint8_t *msg, size_t len) {
	size_t off = mac_offset(msg, len);
	if(off == 0)
		return -1;
	uint8_t digest[OOBLEX_MAC_LEN];
	compute(key, keylen, msg, len, off, digest);
	memcpy(msg + off, digest, OOBLEX_MAC_LEN);
	return 0;
}

ooblex_auth_result ooblex_auth_verify(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
		const ooblex_frame_header *h) {
	size_t off = h->has_mac ? mac_offset(msg, len) : 0;
	if(off == 0)
		return OOBLEX_AUTH_MISSING;
	uint8_t digest[OOBLEX_MAC_LEN];
	compute(key, keylen, msg, len, off, digest);
	/* Every byte compared whatever the first difference: the time taken
	 * says nothing about how much of a forged MAC was right. */
	volatile uint8_t diff = 0;
	for(size_t i = 0; i < OOBLEX_MAC_LEN; i++)
		diff |= digest[i] ^ msg[off + i];
	return diff == 0 ? OOBLEX_AUTH_OK : OOBLEX_AUTH_BAD;
}

int ooblex_auth_load_secret(const char *path, const char *text, uint8_t *out, char *err, size_t errlen) {
	gchar *contents = NULL;
	gsize n = 0, total = 0;
	if(path != NULL) {
		GError *gerr = NULL;
		if(!g_file_get_contents(path, &contents, &n, &gerr)) {
			snprintf(err, errlen, "cannot read the fleet secret: %s", gerr ? gerr->message : path);
			g_clear_error(&gerr);
			return -1;
		}
	} else if(text != NULL) {
		contents = g_strdup(text);
		n = strlen(contents);
	} else {
		snprintf(err, errlen, "no fleet secret given");
		return -1;
	}
	total = n;
	while(n > 0 && g_ascii_isspace(contents[n - 1]))
		n--;
	int rc = -1;
	if(n < OOBLEX_SECRET_MIN)
		snprintf(err, errlen, "the fleet secret is shorter than %d bytes", OOBLEX_SECRET_MIN);
	else if(n > OOBLEX_SECRET_MAX)
		snprintf(err, errlen, "the fleet secret is longer than %d bytes", OOBLEX_SECRET_MAX);
	else {
		memcpy(out, contents, n);
		rc = (int)n;
	}
	/* The secret does not linger in freed memory. */
	memset(contents, 0, total);
	g_free(contents);
	return rc;
}
