/*
 * ooblex_codec.h - what a video stream is, as both ends of the data path
 * name it: its codec, and whether a picture fits a size limit.
 *
 * Owns: the codec ids (the depacketizer and decoder read them on the way in,
 * the encoder and packetizer on the way back) and the one rule for picture
 * limits (ingest's decode limit, the result gate, the video output).
 */
#ifndef OOBLEX_CODEC_H
#define OOBLEX_CODEC_H

typedef enum ooblex_codec {
	OOBLEX_CODEC_NONE = 0,
	OOBLEX_CODEC_VP8,
	OOBLEX_CODEC_H264,
} ooblex_codec;

/* "vp8" / "h264" (as in SDP and libavcodec); NULL for NONE. */
const char *ooblex_codec_name(ooblex_codec codec);
ooblex_codec ooblex_codec_from_name(const char *name);

/* Whether a width x height picture fits a max_width x max_height limit in
 * either orientation (a phone held upright sends 1080x1920 for a 1920x1080
 * limit). The limit is taken in whole 16-pixel macroblocks, so H.264's coded
 * 1920x1088 fits 1920x1080. */
int ooblex_picture_fits(unsigned width, unsigned height, unsigned max_width, unsigned max_height);

#endif
