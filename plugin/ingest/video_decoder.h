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

/* libavcodec's contract is not one picture per frame: a decoder may hold
 * pictures back (H.264 B-frames reorder, has_b_frames; frame threads) and
 * give several at once later, or none for a frame (a VP8 frame that is not
 * shown). So decoding and taking pictures are separate calls; every picture
 * that comes out is kept until taken, none is lost or handed out twice.
 * A browser's stream (no B-frames, one thread, AV_CODEC_FLAG_LOW_DELAY) gives
 * each frame's picture at once: one ooblex_decoder_next per decode, normally.
 *
 * Decodes one whole encoded frame; data must have 64 zeroed bytes of slack
 * after len. pts travels with the frame's picture (AVFrame.pts): the ingest
 * passes the frame's arrival time, which a picture held back then still
 * carries. Returns 0, or -1 on a decode error (the frame was refused or a
 * picture came out corrupt and was dropped: the caller should wait for a
 * keyframe); the pictures that did decode are kept either way. */
int ooblex_decoder_decode(ooblex_decoder *d, const uint8_t *data, size_t len, int64_t pts);
/* The next decoded picture, in display order: 1 with *out set (owned by the
 * decoder, valid until the next ooblex_decoder_next), 0 when none is
 * waiting. Call until 0 after every decode and drain. */
int ooblex_decoder_next(ooblex_decoder *d, AVFrame **out);
/* End of stream: the pictures libavcodec still holds are decoded and wait
 * for ooblex_decoder_next; then the decoder takes a new stream (from a
 * keyframe). Returns 0, or -1 if one of them was corrupt. */
int ooblex_decoder_drain(ooblex_decoder *d);

#endif
