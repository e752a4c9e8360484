/*
 * tls_frames.c - writes frames for tests/ops/tls.sh: n small I420 frames in
 * the wire format (ooblex_wire), one file each, whose client id and pixels
 * spell a marker string, so that the test can look for it in captured
 * traffic; and the name of the list their results go to.
 *   tls_frames MARKER N DIR    (MARKER: exactly 16 characters)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ooblex_keys.h"
#include "ooblex_wire.h"

int main(int argc, char **argv) {
	if(argc != 4 || strlen(argv[1]) != OOBLEX_CLIENT_ID_LEN || atoi(argv[2]) < 1) {
		fprintf(stderr, "usage: tls_frames MARKER(16 characters) N DIR\n");
		return 2;
	}
	const char *marker = argv[1];
	int n = atoi(argv[2]);
	ooblex_frame_header h;
	memset(&h, 0, sizeof(h));
	h.kind = OOBLEX_KIND_FRAME;
	memcpy(h.client_id, marker, OOBLEX_CLIENT_ID_LEN);
	h.width = 64;
	h.height = 48;
	h.pixfmt = OOBLEX_PIXFMT_I420;
	h.reply_pixfmt = OOBLEX_PIXFMT_JPEG;
	h.jpeg_quality = 50;
	snprintf(h.effect, sizeof(h.effect), "invert");
	h.payload_len = (uint32_t)ooblex_pixfmt_size(OOBLEX_PIXFMT_I420, h.width, h.height);
	size_t hlen = ooblex_wire_header_len(&h), len = hlen + h.payload_len;
	uint8_t *msg = malloc(len);
	/* The pixels are the marker over and over: camera content in clear. */
	for(size_t i = 0; i < h.payload_len; i++)
		msg[hlen + i] = (uint8_t)marker[i % OOBLEX_CLIENT_ID_LEN];
	for(int i = 1; i <= n; i++) {
		h.frame_id = h.seq = (uint32_t)i;
		ooblex_wire_write_header(&h, msg);
		char path[4096];
		snprintf(path, sizeof(path), "%s/frame_%d.bin", argv[3], i);
		FILE *f = fopen(path, "wb");
		if(f == NULL || fwrite(msg, 1, len, f) != len || fclose(f) != 0) {
			perror(path);
			return 1;
		}
	}
	char hex[OOBLEX_CLIENT_ID_HEX_LEN + 1], key[OOBLEX_KEY_MAX], path[4096];
	ooblex_client_id_to_hex(h.client_id, hex);
	ooblex_key_processed(key, hex);
	snprintf(path, sizeof(path), "%s/result_key", argv[3]);
	FILE *f = fopen(path, "w");
	if(f == NULL || fprintf(f, "%s\n", key) < 0 || fclose(f) != 0) {
		perror(path);
		return 1;
	}
	free(msg);
	return 0;
}
