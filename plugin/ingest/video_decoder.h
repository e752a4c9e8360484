/*
 * video_decoder.h - libavcodec decoding of whole encoded frames.
 *
 * Owns: one AVCodecContext and the AVFrame it decodes into. Every frame of
 * the stream goes through it (inter frames need their references), and the
 * sampler later decides which decoded pictures travel on. Single-threaded
 * use; libavcodec's own thread count is kept low so many sessions do not
 * oversubscribe the cores.
 */
#ifndef OOBLEX_VIDEO_DECODER_H
#define OOBLEX_VIDEO_DECODER_H

#include <stddef.h>
#include <stdint.h>
#include <libavutil/frame.h>

typedef struct ooblex_decoder ooblex_decoder;

/* codec: an FFmpeg decoder name ("vp8", "h264"). threads: libavcodec threads (1 is usual). */
ooblex_decoder *ooblex_decoder_new(const char *codec, int threads, char *err, size_t errlen);
void ooblex_decoder_free(ooblex_decoder *d);

/* libavcodec refuses (as a decode error) pictures over this many pixels,
 * counted as it counts them: the width aligned to its stride alignment,
 * times the height. A second line of defence: the ingest reads the size a
 * frame claims (bitstream_headers.h) and refuses it before decoding. lowres
 * and skip_frame stay at their defaults: every frame is decoded whole. */
void ooblex_decoder_set_max_pixels(ooblex_decoder *d, int64_t max_pixels);

/* Decodes one whole encoded frame; data must have 64 zeroed bytes of slack
 * after len. Returns 1 with *out set (owned by the decoder, valid until the
 * next call), 0 when no picture came out, -1 on a decode error (the caller
 * should wait for a keyframe). */
int ooblex_decoder_decode(ooblex_decoder *d, const uint8_t *data, size_t len, int64_t pts, AVFrame **out);

#endif
