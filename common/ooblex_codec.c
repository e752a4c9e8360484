#include "ooblex_codec.h"

#include <stdint.h>
#include <string.h>

const char *ooblex_codec_name(ooblex_codec codec) {
	switch(codec) {
		case OOBLEX_CODEC_VP8: return "vp8";
		case OOBLEX_CODEC_H264: return "h264";
		default: return NULL;
	}
}

ooblex_codec ooblex_codec_from_name(const char *name) {
	if(name == NULL)
		return OOBLEX_CODEC_NONE;
	if(!strcmp(name, "vp8"))
		return OOBLEX_CODEC_VP8;
	if(!strcmp(name, "h264"))
		return OOBLEX_CODEC_H264;
	return OOBLEX_CODEC_NONE;
}

int ooblex_picture_fits(unsigned width, unsigned height, unsigned max_width, unsigned max_height) {
	uint64_t lim_long = max_width > max_height ? max_width : max_height;
	uint64_t lim_short = max_width > max_height ? max_height : max_width;
	lim_long = (lim_long + 15) / 16 * 16;
	lim_short = (lim_short + 15) / 16 * 16;
	unsigned lg = width > height ? width : height, sh = width > height ? height : width;
	return width > 0 && height > 0 && lg <= lim_long && sh <= lim_short;
}
