/*
 * ml_opencv.h - the worker's machine-learning effects, on OpenCV, behind the
 * same C ABI as any effect module (ooblex_effect.h):
 *
 *   faces[:min_size=N]                 green boxes around detected faces
 *   face_pixelate[:size=N:min_size=N]  faces hidden behind N-pixel blocks
 *   background_blur[:sigma=N:smooth=N]      the background blurred behind the person
 *   background_replace[:image=NAME:smooth=N] ... replaced by a JPEG of the backgrounds folder
 *   background_remove[:color=WORD:smooth=N]  ... replaced by a flat colour
 *   onnx:<model.onnx>[:size=WxH][:range=1|255]
 *                                      a user's image-to-image model (OpenCV DNN)
 *
 * Faces come from BlazeFace (MediaPipe's full-range model, blazeface_full_range.pb
 * in the models folder) with six landmarks each, or, when that model is not
 * installed, from OpenCV's Haar cascade (frontal face, Debian's opencv-data)
 * on the luma plane scaled to at most 320 pixels wide. The background effects
 * use MediaPipe's selfie segmentation (selfie_segmentation.pb); both models
 * come from deploy/install-models.sh. Background images only from
 * <models folder>/backgrounds, by plain file name. ONNX models are
 * looked up by file name in the models folder only (a browser chooses the
 * name, so no paths): input 1x3xHxW float RGB in 0..1 (or 0..255 with
 * range=255), output the same layout; size=WxH resizes for models with a
 * fixed input size. The one C++ file; everything else stays C.
 */
#ifndef OOBLEX_ML_OPENCV_H
#define OOBLEX_ML_OPENCV_H

#include <stddef.h>
#include <stdint.h>
#include "ooblex_effect.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the cascades and the ONNX models are. NULL keeps the built-in
 * default (OpenCV's haarcascades folder; $(datadir)/ooblex/models). Call
 * before the first create(). */
void ooblex_ml_set_paths(const char *cascade_dir, const char *models_dir);
/* The models folder in use (the worker lists it in its registry entry). */
const char *ooblex_ml_models_dir(void);

/* Whether this worker can run the named effect now: the background effects
 * need the segmentation model in the models folder (faces fall back to the
 * cascade, onnx lists its models apart). Asked at every heartbeat, so a
 * worker without the model does not announce them and the plugin refuses
 * them at start (error 420) instead of every frame failing. 1 for names
 * that are not this module's. */
int ooblex_ml_effect_ready(const char *name);

/* The module with the effects above. */
const ooblex_effect_module *ooblex_ml_module(void);

/* Detects faces in a luma plane with the Haar cascade (the fallback
 * detector; for tests and tools): writes up to max
 * rectangles as x, y, w, h into rects and returns how many were found, or
 * -1 with a reason in err. */
int ooblex_ml_detect_faces(const uint8_t *luma, int stride, int width, int height, int min_size,
	int *rects, int max, char *err, size_t errlen);

/* Batches (BATCH_SIZE): 1 when the named effect's model can run on several
 * frames at once, which the background effects' can (BlazeFace's graph fixes
 * its batch at 1; onnx models are the user's). */
int ooblex_ml_batch_effect(const char *name);
/* Runs the segmentation model once on n I420 pictures (read only) and keeps
 * their masks on this thread until the next call: the background effects'
 * process() then takes the mask computed for its own picture instead of
 * running the model (a picture with none runs it alone, so this only ever
 * saves work). n below 2 just forgets what was kept. Returns how many
 * masks it kept, or -1 with a reason in err (the frames then run alone). */
int ooblex_ml_segment_ahead(ooblex_image *const *images, int n, char *err, size_t errlen);

/* How often the segmentation model ran since the process started, and on
 * how many frames in all (runs < frames when batches ran). */
void ooblex_ml_segment_stats(uint64_t *runs, uint64_t *frames);

/* The person mask of one picture as the background effects compute it
 * (model resolution, scaled up; no smoothing over time): width x height
 * bytes, 255 = person, into mask. 0, or -1 with a reason in err (also when
 * the model is not installed). For tests and tools. */
int ooblex_ml_person_mask(ooblex_image *img, uint8_t *mask, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
