/*
 * frame_sampler.c - FRAME_SKIP sampling.
 */
#include "frame_sampler.h"

void ooblex_sampler_init(ooblex_sampler *s, unsigned frame_skip) {
	s->frame_skip = frame_skip ? frame_skip : 1;
	s->countdown = 1;	/* the first decoded frame is always taken */
}

void ooblex_sampler_set_skip(ooblex_sampler *s, unsigned frame_skip) {
	s->frame_skip = frame_skip ? frame_skip : 1;
	if(s->countdown > s->frame_skip)
		s->countdown = s->frame_skip;
}

int ooblex_sampler_take(ooblex_sampler *s) {
	if(--s->countdown > 0)
		return 0;
	s->countdown = s->frame_skip;
	return 1;
}

void ooblex_sampler_defer(ooblex_sampler *s) {
	s->countdown = 1;
}
