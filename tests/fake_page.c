/*
 * fake_page.c - see fake_page.h.
 */
#include "fake_page.h"

#include <stdio.h>
#include <string.h>

#include "dc_chunker.h"
#include "ooblex_bytes.h"

void fake_page_init(fake_page *p, int keep) {
	memset(p, 0, sizeof(*p));
	p->keep = keep;
	p->due = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	p->cur = g_byte_array_new();
}

static void frame_free(gpointer data) {
	fake_page_frame *f = data;
	g_free(f->meta);
	g_free(f->jpeg);
	g_free(f);
}

void fake_page_clear(fake_page *p) {
	g_array_unref(p->due);
	g_byte_array_unref(p->cur);
	if(p->frames != NULL)
		g_ptr_array_unref(p->frames);
	memset(p, 0, sizeof(*p));
}

int fake_page_receive(fake_page *p, const uint8_t *msg, size_t len) {
	p->chunks++;
	if(len < OOBLEX_CHUNK_HEADER_LEN || msg[0] != OOBLEX_CHUNK_VERSION || msg[1] != OOBLEX_CHUNK_HEADER_LEN) {
		p->broken++;
		return 0;
	}
	unsigned index = ooblex_get16(msg + 2), count = ooblex_get16(msg + 4);
	uint64_t id = ooblex_get64(msg + 16);
	if(index == 0) {
		if(p->cur_count != 0)
			p->broken++;	/* the last frame never finished */
		p->cur_id = id;
		p->cur_next = 0;
		p->cur_count = count;
		p->cur_meta_len = ooblex_get16(msg + 6);
		g_byte_array_set_size(p->cur, 0);
	} else if(p->cur_count == 0 || id != p->cur_id || index != p->cur_next || count != p->cur_count) {
		p->broken++;	/* a chunk out of its place */
		p->cur_count = 0;
		return 0;
	}
	if(p->keep)
		g_byte_array_append(p->cur, msg + OOBLEX_CHUNK_HEADER_LEN, (guint)(len - OOBLEX_CHUNK_HEADER_LEN));
	if(++p->cur_next < p->cur_count)
		return 0;
	/* Whole. */
	p->whole++;
	g_array_append_val(p->due, p->cur_id);
	if(p->keep && p->cur->len >= p->cur_meta_len) {
		fake_page_frame *f = g_new0(fake_page_frame, 1);
		f->frame_id = p->cur_id;
		f->chunks = p->cur_count;
		f->meta = g_strndup((const char *)p->cur->data, p->cur_meta_len);
		f->jpeg_len = p->cur->len - p->cur_meta_len;
		f->jpeg = g_memdup2(p->cur->data + p->cur_meta_len, (gsize)f->jpeg_len);
		if(p->frames == NULL)
			p->frames = g_ptr_array_new_with_free_func(frame_free);
		g_ptr_array_add(p->frames, f);
	}
	p->cur_count = 0;
	return 0;
}

void fake_page_hello(fake_page *p, ooblex_egress *e) {
	(void)p;
	static const char hello[] = "{\"hello\":\"ooblex\"}";
	ooblex_egress_on_data(e, (const uint8_t *)hello, sizeof(hello) - 1);
}

unsigned fake_page_send_acks(fake_page *p, ooblex_egress *e) {
	unsigned n = 0;
	/* An ack may release a frame, which lands in due while we go. */
	for(guint i = 0; i < p->due->len; i++, n++) {
		char ack[40];
		int len = snprintf(ack, sizeof(ack), "{\"ack\":%llu}", (unsigned long long)g_array_index(p->due, uint64_t, i));
		ooblex_egress_on_data(e, (const uint8_t *)ack, (size_t)len);
	}
	g_array_set_size(p->due, 0);
	return n;
}
