/* still.c - see still.h. */
#include "still.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "ooblex_jpeg.h"

int still_i420(ooblex_effects *fx, const char *path, int width, int height, uint8_t **out, char *err, size_t errlen) {
	gchar *data = NULL;
	gsize len = 0;
	*out = NULL;
	if(!g_file_get_contents(path, &data, &len, NULL)) {
		snprintf(err, errlen, "cannot read %s", path);
		return -1;
	}
	size_t rgb_len = (size_t)width * height * 3;
	uint8_t *decoded = malloc(rgb_len);
	uint8_t *i420 = malloc((size_t)width * height + 2 * (size_t)((width + 1) / 2) * ((height + 1) / 2));
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_DECODER | OOBLEX_JPEG_FAST);
	int fmt = 0;
	int rc = decoded && i420 && j ? ooblex_jpeg_decode(j, (const uint8_t *)data, len, width, height, decoded, &fmt, err,
		errlen) : -1;
	if(rc == 0)
		rc = ooblex_effects_apply(fx, "none", fmt, decoded, width, height, i420, err, errlen);
	ooblex_jpeg_free(j);
	free(decoded);
	g_free(data);
	if(rc != 0) {
		free(i420);
		return -1;
	}
	*out = i420;
	return 0;
}
