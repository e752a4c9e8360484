/*
 * ml_opencv.cpp - face detection, face pixelation and ONNX models on OpenCV,
 * exported as an ooblex_effect_module (see ml_opencv.h). No C++ exception
 * crosses into the C worker: every entry point catches and reports through
 * err.
 */
#include "ml_opencv.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include <glib.h>

extern "C" {
#include "ooblex_jpeg.h"
}

#ifndef OOBLEX_CASCADE_DIR
#define OOBLEX_CASCADE_DIR "/usr/share/opencv4/haarcascades"
#endif
#ifndef OOBLEX_MODELS_DIR
#define OOBLEX_MODELS_DIR "/usr/share/ooblex/models"
#endif

namespace {

std::string cascade_dir = OOBLEX_CASCADE_DIR;
std::string models_dir = OOBLEX_MODELS_DIR;

/* Detection runs on the luma plane scaled to this width at most: a face a
 * browser shows is large, and the cascade's cost grows with the area. */
const int kDetectWidth = 320;

void set_err(char *err, size_t errlen, const std::string &msg) {
	if(errlen > 0)
		std::snprintf(err, errlen, "%s", msg.c_str());
}

/* "key=value:key=value" -> pairs; false on a malformed item. */
bool split_params(const std::string &text, std::vector<std::pair<std::string, std::string>> &out) {
	size_t start = 0;
	while(start < text.size()) {
		size_t end = text.find(':', start);
		if(end == std::string::npos)
			end = text.size();
		std::string item = text.substr(start, end - start);
		size_t eq = item.find('=');
		if(eq == std::string::npos || eq == 0)
			return false;
		out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
		start = end + 1;
	}
	return true;
}

bool parse_int(const std::string &s, int lo, int hi, int *out) {
	if(s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
		return false;
	int v = std::stoi(s);
	if(v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* The three planes of an image as Mats sharing its memory. */
struct Planes {
	cv::Mat y, u, v;
	explicit Planes(ooblex_image *img)
		: y(img->height, img->width, CV_8UC1, img->y, (size_t)img->y_stride),
		  u((img->height + 1) / 2, (img->width + 1) / 2, CV_8UC1, img->u, (size_t)img->u_stride),
		  v((img->height + 1) / 2, (img->width + 1) / 2, CV_8UC1, img->v, (size_t)img->v_stride) {}
};

/* One face: its box in frame pixels, and for the DNN detector its score
 * and six landmarks (right eye, left eye, nose tip, mouth centre, right
 * ear, left ear; "right" as the person sees it), also in frame pixels. */
struct Face {
	cv::Rect box;
	float score = 0;
	std::vector<cv::Point2f> landmarks;	/* empty for the cascade */
};

struct BlazeFace;

struct FaceState {
	cv::CascadeClassifier cascade;
	BlazeFace *dnn = nullptr;	/* the DNN detector when its model is installed */
	int min_size = 30;	/* smallest face, in frame pixels */
	int block = 16;	/* face_pixelate's block size */
	bool pixelate = false;
	cv::Mat small;	/* the scaled luma, reused */
	std::vector<Face> last;	/* what the last frame showed */
	~FaceState();
};

bool load_cascade(cv::CascadeClassifier &c, std::string &why) {
	std::string path = cascade_dir + "/haarcascade_frontalface_alt2.xml";
	if(!c.load(path)) {
		why = "cannot load the face cascade " + path + " (Debian: opencv-data)";
		return false;
	}
	return true;
}

bool file_exists(const std::string &path) {
	return g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR) != 0;
}

/* Loads a TensorFlow GraphDef from the models folder (deploy/install-models.sh
 * puts them there, converted from the npm package's tfjs files). */
cv::dnn::Net load_tf(const std::string &file) {
	cv::dnn::Net net = cv::dnn::readNetFromTensorflow(models_dir + "/" + file);
	net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
	net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
	return net;
}

/* A model's input from the I420 planes without a full-size conversion: the
 * planes are scaled down first (area averaging) into a small contiguous
 * I420 picture of (w x h) placed at (ox, oy) inside a (cw x ch) canvas
 * (the rest black: letterboxing), and only that is converted to RGB. */
struct SmallInput {
	cv::Mat i420, rgb;
	void make(ooblex_image *img, int cw, int ch, cv::Rect place) {
		i420.create(ch * 3 / 2, cw, CV_8UC1);
		uint8_t *base = i420.data;
		cv::Mat y(ch, cw, CV_8UC1, base), u(ch / 2, cw / 2, CV_8UC1, base + (size_t)cw * ch),
			v(ch / 2, cw / 2, CV_8UC1, base + (size_t)cw * ch * 5 / 4);
		if(place != cv::Rect(0, 0, cw, ch)) {
			y.setTo(16);
			u.setTo(128);
			v.setTo(128);
		}
		cv::Mat src_y(img->height, img->width, CV_8UC1, img->y, (size_t)img->y_stride);
		cv::Mat src_u((img->height + 1) / 2, (img->width + 1) / 2, CV_8UC1, img->u, (size_t)img->u_stride);
		cv::Mat src_v((img->height + 1) / 2, (img->width + 1) / 2, CV_8UC1, img->v, (size_t)img->v_stride);
		cv::Rect half(place.x / 2, place.y / 2, place.width / 2, place.height / 2);
		cv::Mat dy = y(place), du = u(half), dv = v(half);
		cv::resize(src_y, dy, place.size(), 0, 0, cv::INTER_AREA);
		cv::resize(src_u, du, half.size(), 0, 0, cv::INTER_AREA);
		cv::resize(src_v, dv, half.size(), 0, 0, cv::INTER_AREA);
		cv::cvtColor(i420, rgb, cv::COLOR_YUV2RGB_I420);
	}
};

/* BlazeFace, the full-range ("back camera") model of MediaPipe: a 256x256
 * RGB input in -1..1, 896 anchors on a 16x16 grid (2 per cell) and an 8x8
 * grid (6 per cell), each with a score logit and 16 regressors (box centre
 * offset and size, then six landmarks), in units of the input's pixels. */
const char *const kFaceModel = "blazeface_full_range.pb";
const int kFaceInput = 256;
const float kFaceScore = 0.6f, kFaceNms = 0.3f;

struct BlazeFace {
	cv::dnn::Net net;
	std::vector<cv::Point2f> anchors;	/* centres, 0..1 */
	std::vector<cv::String> outputs;	/* regressors and scores of each grid */
	SmallInput input;

	BlazeFace() {
		net = load_tf(kFaceModel);
		const struct { int grid, per_cell; } grids[] = { { 16, 2 }, { 8, 6 } };
		for(auto &g : grids)
			for(int y = 0; y < g.grid; y++)
				for(int x = 0; x < g.grid; x++)
					for(int a = 0; a < g.per_cell; a++)
						anchors.emplace_back((x + 0.5f) / g.grid, (y + 0.5f) / g.grid);
		const std::string base = "StatefulPartitionedCall/functional_1/";
		outputs = { base + "tf_op_layer_regressors_1/regressors_1", base + "tf_op_layer_classificators_1/classificators_1",
			base + "tf_op_layer_regressors_2/regressors_2", base + "tf_op_layer_classificators_2/classificators_2" };
	}

	std::vector<Face> detect(ooblex_image *img, int min_size) {
		/* Letterboxed: the model wants an unstretched square. */
		double scale = (double)kFaceInput / std::max(img->width, img->height);
		int w = std::max(2, (int)(img->width * scale) & ~1), h = std::max(2, (int)(img->height * scale) & ~1);
		cv::Rect place(((kFaceInput - w) / 2) & ~1, ((kFaceInput - h) / 2) & ~1, w, h);
		input.make(img, kFaceInput, kFaceInput, place);
		cv::Mat blob = cv::dnn::blobFromImage(input.rgb, 1.0 / 127.5, cv::Size(), cv::Scalar(127.5, 127.5, 127.5), false,
			false, CV_32F);
		net.setInput(blob);
		std::vector<cv::Mat> outs;
		net.forward(outs, outputs);
		std::vector<cv::Rect2d> boxes;
		std::vector<float> scores;
		std::vector<std::vector<cv::Point2f>> marks;
		size_t first = 0;
		for(int g = 0; g < 2; g++) {
			const cv::Mat &reg = outs[2 * g], &cls = outs[2 * g + 1];
			size_t n = reg.total() / 16;
			if(cls.total() != n || first + n > anchors.size())
				throw std::runtime_error("face model: unexpected output shapes");
			const float *r = reg.ptr<float>(), *c = cls.ptr<float>();
			for(size_t i = 0; i < n; i++) {
				float logit = std::max(-80.f, std::min(80.f, c[i]));
				float score = 1.f / (1.f + std::exp(-logit));
				if(score < kFaceScore)
					continue;
				const float *q = r + 16 * i;
				const cv::Point2f &a = anchors[first + i];
				/* Input pixels of the 256x256 canvas. */
				float cx = q[0] + a.x * kFaceInput, cy = q[1] + a.y * kFaceInput;
				boxes.emplace_back(cx - q[2] / 2, cy - q[3] / 2, q[2], q[3]);
				scores.push_back(score);
				std::vector<cv::Point2f> m;
				for(int k = 0; k < 6; k++)
					m.emplace_back(q[4 + 2 * k] + a.x * kFaceInput, q[5 + 2 * k] + a.y * kFaceInput);
				marks.push_back(m);
			}
			first += n;
		}
		std::vector<cv::Rect> int_boxes;
		for(const cv::Rect2d &b : boxes)
			int_boxes.emplace_back((int)b.x, (int)b.y, (int)b.width, (int)b.height);
		std::vector<int> keep;
		cv::dnn::NMSBoxes(int_boxes, scores, kFaceScore, kFaceNms, keep);
		std::vector<Face> faces;
		cv::Rect frame(0, 0, img->width, img->height);
		auto to_frame = [&](float x, float y) {
			return cv::Point2f((float)((x - place.x) / scale), (float)((y - place.y) / scale));
		};
		for(int k : keep) {
			Face f;
			cv::Point2f tl = to_frame((float)boxes[k].x, (float)boxes[k].y),
				br = to_frame((float)(boxes[k].x + boxes[k].width), (float)(boxes[k].y + boxes[k].height));
			f.box = cv::Rect(cv::Point((int)std::lround(tl.x), (int)std::lround(tl.y)),
				cv::Point((int)std::lround(br.x), (int)std::lround(br.y))) & frame;
			if(f.box.width < min_size && f.box.height < min_size)
				continue;
			f.score = scores[k];
			for(const cv::Point2f &m : marks[k])
				f.landmarks.push_back(to_frame(m.x, m.y));
			faces.push_back(f);
		}
		return faces;
	}
};

FaceState::~FaceState() {
	delete dnn;
}

/* The DNN detector when its model is installed, else the cascade (the
 * fallback). */
bool load_face_detector(FaceState &s, std::string &why) {
	if(file_exists(models_dir + "/" + kFaceModel)) {
		try {
			s.dnn = new BlazeFace();
			return true;
		} catch(const cv::Exception &e) {
			why = "cannot load the face model " + models_dir + "/" + kFaceModel + ": " + e.err;
			return false;
		}
	}
	return load_cascade(s.cascade, why);
}

std::vector<Face> detect_cascade(FaceState &s, const cv::Mat &luma) {
	double scale = luma.cols > kDetectWidth ? (double)kDetectWidth / luma.cols : 1.0;
	if(scale < 1.0)
		cv::resize(luma, s.small, cv::Size(), scale, scale, cv::INTER_AREA);
	else
		luma.copyTo(s.small);
	/* Camera exposure varies; equalizing makes the cascade's thresholds hold. */
	cv::equalizeHist(s.small, s.small);
	int min_small = std::max(12, (int)(s.min_size * scale));
	std::vector<cv::Rect> found;
	s.cascade.detectMultiScale(s.small, found, 1.1, 3, 0, cv::Size(min_small, min_small));
	cv::Rect frame(0, 0, luma.cols, luma.rows);
	std::vector<Face> faces;
	for(cv::Rect &r : found) {
		Face f;
		f.box = cv::Rect((int)(r.x / scale), (int)(r.y / scale), (int)(r.width / scale), (int)(r.height / scale)) & frame;
		faces.push_back(f);
	}
	return faces;
}

std::vector<Face> detect(FaceState &s, ooblex_image *img) {
	if(s.dnn != nullptr)
		return s.dnn->detect(img, s.min_size);
	Planes p(img);
	return detect_cascade(s, p.y);
}

/* Green in BT.601 limited range. */
const cv::Scalar kGreenY(145), kGreenU(54), kGreenV(34);

void draw_boxes(ooblex_image *img, const std::vector<Face> &faces) {
	Planes p(img);
	int t = std::max(2, img->width / 240);
	for(const Face &f : faces) {
		const cv::Rect &r = f.box;
		cv::rectangle(p.y, r, kGreenY, t);
		cv::Rect c(r.x / 2, r.y / 2, r.width / 2, r.height / 2);
		cv::rectangle(p.u, c, kGreenU, std::max(1, t / 2));
		cv::rectangle(p.v, c, kGreenV, std::max(1, t / 2));
		for(const cv::Point2f &m : f.landmarks) {
			cv::circle(p.y, m, t, kGreenY, cv::FILLED);
			cv::circle(p.u, m / 2, std::max(1, t / 2), kGreenU, cv::FILLED);
			cv::circle(p.v, m / 2, std::max(1, t / 2), kGreenV, cv::FILLED);
		}
	}
}

/* Each face region, grown by a fifth to cover hair and chin, becomes blocks
 * of `block` pixels: down with area averaging, up with nearest neighbour. */
void pixelate(ooblex_image *img, const std::vector<Face> &faces, int block) {
	Planes p(img);
	cv::Rect frame(0, 0, img->width, img->height);
	for(const Face &face : faces) {
		const cv::Rect &f = face.box;
		int gx = f.width / 10, gy = f.height / 10;
		cv::Rect r(f.x - gx, f.y - gy, f.width + 2 * gx, f.height + 2 * gy);
		/* Even edges, so that the chroma blocks line up with the luma ones. */
		r.x &= ~1;
		r.y &= ~1;
		r.width = (r.width + 1) & ~1;
		r.height = (r.height + 1) & ~1;
		r &= frame;
		if(r.width < 2 || r.height < 2)
			continue;
		struct { cv::Mat *plane; int div; } planes[] = { { &p.y, 1 }, { &p.u, 2 }, { &p.v, 2 } };
		for(auto &pl : planes) {
			cv::Rect pr(r.x / pl.div, r.y / pl.div, std::max(1, r.width / pl.div), std::max(1, r.height / pl.div));
			pr &= cv::Rect(0, 0, pl.plane->cols, pl.plane->rows);
			if(pr.empty())
				continue;
			int b = std::max(1, block / pl.div);
			cv::Mat roi = (*pl.plane)(pr), small;
			cv::resize(roi, small, cv::Size(std::max(1, pr.width / b), std::max(1, pr.height / b)), 0, 0, cv::INTER_AREA);
			cv::resize(small, roi, roi.size(), 0, 0, cv::INTER_NEAREST);
		}
	}
}

void *faces_create_common(const char *params, bool pixelate_mode, char *err, size_t errlen) {
	try {
		std::vector<std::pair<std::string, std::string>> kv;
		const char *name = pixelate_mode ? "face_pixelate" : "faces";
		if(!split_params(params, kv)) {
			set_err(err, errlen, std::string(name) + ": parameters are key=value, got '" + params + "'");
			return nullptr;
		}
		FaceState *s = new FaceState();
		s->pixelate = pixelate_mode;
		for(auto &p : kv) {
			bool ok = false;
			if(p.first == "min_size")
				ok = parse_int(p.second, 8, 2000, &s->min_size);
			else if(p.first == "size" && pixelate_mode)
				ok = parse_int(p.second, 2, 128, &s->block);
			if(!ok) {
				set_err(err, errlen, std::string(name) + ": bad parameter '" + p.first + "=" + p.second +
					(pixelate_mode ? "' (size=2..128, min_size=8..2000)" : "' (min_size=8..2000)"));
				delete s;
				return nullptr;
			}
		}
		std::string why;
		if(!load_face_detector(*s, why)) {
			set_err(err, errlen, why);
			delete s;
			return nullptr;
		}
		return s;
	} catch(const std::exception &e) {
		set_err(err, errlen, std::string("face detector: ") + e.what());
		return nullptr;
	}
}

void *faces_create(const char *params, char *err, size_t errlen) {
	return faces_create_common(params, false, err, errlen);
}

void *face_pixelate_create(const char *params, char *err, size_t errlen) {
	return faces_create_common(params, true, err, errlen);
}

int faces_process(void *state, ooblex_image *img, char *err, size_t errlen) {
	FaceState *s = static_cast<FaceState *>(state);
	try {
		std::vector<Face> faces = detect(*s, img);
		s->last = faces;
		if(s->pixelate)
			pixelate(img, faces, s->block);
		else
			draw_boxes(img, faces);
		return 0;
	} catch(const cv::Exception &e) {
		set_err(err, errlen, "face detector: " + e.err);
		return -1;
	} catch(const std::exception &e) {
		set_err(err, errlen, std::string("face detector: ") + e.what());
		return -1;
	}
}

void faces_destroy(void *state) {
	delete static_cast<FaceState *>(state);
}

/* [[x,y,w,h],...] in frame pixels; the DNN detector adds the score (0..1,
 * two decimals) and the six landmarks' x,y: [x,y,w,h,score,x1,y1,...,x6,y6].
 * Faces that do not fit in len are left out (the first, the likeliest, stay). */
size_t faces_describe(void *state, char *json, size_t len) {
	const FaceState *s = static_cast<const FaceState *>(state);
	std::string out = "[";
	for(size_t i = 0; i < s->last.size(); i++) {
		const Face &f = s->last[i];
		const cv::Rect &r = f.box;
		std::string one = std::string(i ? ",[" : "[") + std::to_string(r.x) + "," + std::to_string(r.y) + "," +
			std::to_string(r.width) + "," + std::to_string(r.height);
		if(!f.landmarks.empty()) {
			char score[16];
			std::snprintf(score, sizeof(score), ",%.2f", f.score);
			one += score;
			for(const cv::Point2f &m : f.landmarks)
				one += "," + std::to_string((int)std::lround(m.x)) + "," + std::to_string((int)std::lround(m.y));
		}
		one += "]";
		if(out.size() + one.size() + 2 > len)
			break;
		out += one;
	}
	out += "]";
	if(out.size() + 1 > len)
		return 0;
	std::memcpy(json, out.c_str(), out.size() + 1);
	return out.size();
}

/* Person segmentation: MediaPipe's selfie segmentation model (general,
 * 256x256 RGB in 0..1 -> 256x256 person probability). The mask is computed
 * at the model's resolution, smoothed over time there, and only then scaled
 * up to the frame's luma and chroma sizes to blend the person over a
 * background: the frame blurred (at a quarter of its size, which is both
 * cheaper and a stronger blur), an image, or a flat colour. */
const char *const kSegModel = "selfie_segmentation.pb";
const int kSegInput = 256;

enum class Background { blur, image, colour };

struct SegState {
	cv::dnn::Net net;
	SmallInput input;
	Background mode = Background::blur;
	int sigma = 12;	/* blur, in frame pixels */
	int keep = 50;	/* percent of the previous mask kept (time smoothing) */
	std::string image;	/* background_replace's file in the backgrounds folder */
	uint8_t colour[3] = { 145, 54, 34 };	/* background_remove's, Y U V (green) */
	cv::Mat mask;	/* smoothed, kSegInput square, float 0..1 */
	cv::Mat mask8, mask_y, mask_c;	/* 8-bit at model, luma and chroma sizes */
	cv::Mat small, bg[3];	/* the background planes at the frame's size */
	cv::Mat picture[3];	/* the background image's I420 planes */
	cv::Size image_for;	/* the frame size bg[] holds the image at */
	double person = 0;	/* the part of the frame that is person, 0..1 */
};

/* A file name from a browser: letters, digits, '_', '-', '.', ending in one
 * of the suffixes, no leading dot (so no "..", no hidden files, no paths). */
bool safe_file_name(const std::string &n, const std::vector<std::string> &suffixes) {
	if(n.empty() || n.size() > 128 || n[0] == '.' ||
			n.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
		return false;
	for(const std::string &suf : suffixes)
		if(n.size() > suf.size() && n.compare(n.size() - suf.size(), suf.size(), suf) == 0)
			return true;
	return false;
}

/* Backgrounds come from this folder only: <models folder>/backgrounds. */
std::string backgrounds_dir() {
	return models_dir + "/backgrounds";
}

bool load_background(SegState &s, std::string &why) {
	std::string path = backgrounds_dir() + "/" + s.image;
	gchar *data = nullptr;
	gsize len = 0;
	if(!g_file_get_contents(path.c_str(), &data, &len, nullptr)) {
		why = "background_replace: no image " + path;
		return false;
	}
	ooblex_jpeg *j = ooblex_jpeg_new(OOBLEX_JPEG_DECODER);
	ooblex_jpeg_info info;
	char jerr[256] = "";
	bool ok = j != nullptr && ooblex_jpeg_read_header(j, (const uint8_t *)data, len, &info) == 0 &&
		info.width >= 2 && info.height >= 2 && info.width <= 7680 && info.height <= 4320;
	if(ok) {
		/* As the worker reads any JPEG: a 4:2:0 one straight into I420, any
		 * other through RGB (BT.601 limited range, like libavfilter's). */
		int w = info.width & ~1, h = info.height & ~1;
		if(info.sampling == OOBLEX_JPEG_SAMP_420) {
			int cw = (info.width + 1) / 2, ch = (info.height + 1) / 2;
			s.picture[0].create(info.height, info.width, CV_8UC1);
			s.picture[1].create(ch, cw, CV_8UC1);
			s.picture[2].create(ch, cw, CV_8UC1);
			uint8_t *const planes[3] = { s.picture[0].data, s.picture[1].data, s.picture[2].data };
			const int strides[3] = { info.width, cw, cw };
			ok = ooblex_jpeg_decode_planes(j, (const uint8_t *)data, len, info.width, info.height, planes, strides, jerr,
				sizeof(jerr)) >= 0;
		} else {
			cv::Mat rgb(info.height, info.width, CV_8UC3), i420;
			ok = ooblex_jpeg_decode_rgb(j, (const uint8_t *)data, len, info.width, info.height, rgb.data, jerr,
				sizeof(jerr)) >= 0;
			if(ok) {
				cv::cvtColor(rgb(cv::Rect(0, 0, w, h)), i420, cv::COLOR_RGB2YUV_I420);
				s.picture[0] = i420(cv::Rect(0, 0, w, h)).clone();
				s.picture[1] = cv::Mat(h / 2, w / 2, CV_8UC1, i420.data + (size_t)w * h).clone();
				s.picture[2] = cv::Mat(h / 2, w / 2, CV_8UC1, i420.data + (size_t)w * h * 5 / 4).clone();
			}
		}
	}
	ooblex_jpeg_free(j);
	g_free(data);
	if(!ok)
		why = "background_replace: " + path + " is not a JPEG of 2x2 to 7680x4320" + (jerr[0] ? std::string(": ") + jerr : "");
	return ok;
}

void *seg_create(const char *params, Background mode, const char *name, char *err, size_t errlen) {
	try {
		std::vector<std::pair<std::string, std::string>> kv;
		const std::string usage = mode == Background::blur ? "sigma=2..60, smooth=0..90"
			: mode == Background::image ? "image=<name>.jpg from the backgrounds folder, smooth=0..90"
			: "color=green|blue|black|white|gray, smooth=0..90";
		if(!split_params(params, kv)) {
			set_err(err, errlen, std::string(name) + ": parameters are key=value (" + usage + ")");
			return nullptr;
		}
		SegState *s = new SegState();
		s->mode = mode;
		if(mode == Background::image)
			s->image = "default.jpg";
		for(auto &p : kv) {
			bool ok = false;
			if(p.first == "smooth")
				ok = parse_int(p.second, 0, 90, &s->keep);
			else if(p.first == "sigma" && mode == Background::blur)
				ok = parse_int(p.second, 2, 60, &s->sigma);
			else if(p.first == "image" && mode == Background::image && safe_file_name(p.second, { ".jpg", ".jpeg" })) {
				s->image = p.second;
				ok = true;
			} else if(p.first == "color" && mode == Background::colour) {
				static const struct { const char *word; uint8_t yuv[3]; } colours[] = {
					{ "green", { 145, 54, 34 } }, { "blue", { 41, 240, 110 } }, { "black", { 16, 128, 128 } },
					{ "white", { 235, 128, 128 } }, { "gray", { 126, 128, 128 } } };
				for(auto &c : colours)
					if(p.second == c.word) {
						std::memcpy(s->colour, c.yuv, 3);
						ok = true;
					}
			}
			if(!ok) {
				set_err(err, errlen, std::string(name) + ": bad parameter '" + p.first + "=" + p.second + "' (" + usage + ")");
				delete s;
				return nullptr;
			}
		}
		std::string path = models_dir + "/" + kSegModel;
		if(!file_exists(path)) {
			set_err(err, errlen, std::string(name) + ": no segmentation model " + path + " (deploy/install-models.sh)");
			delete s;
			return nullptr;
		}
		std::string why;
		if(mode == Background::image && !load_background(*s, why)) {
			set_err(err, errlen, why);
			delete s;
			return nullptr;
		}
		s->net = load_tf(kSegModel);
		return s;
	} catch(const cv::Exception &e) {
		set_err(err, errlen, std::string(name) + ": " + e.err);
		return nullptr;
	} catch(const std::exception &e) {
		set_err(err, errlen, std::string(name) + ": " + e.what());
		return nullptr;
	}
}

void *background_blur_create(const char *params, char *err, size_t errlen) {
	return seg_create(params, Background::blur, "background_blur", err, errlen);
}
void *background_replace_create(const char *params, char *err, size_t errlen) {
	return seg_create(params, Background::image, "background_replace", err, errlen);
}
void *background_remove_create(const char *params, char *err, size_t errlen) {
	return seg_create(params, Background::colour, "background_remove", err, errlen);
}

/* Masks the model computed ahead for a batch of frames (ooblex_ml_segment_ahead),
 * each with the model input it came from. segment() takes the one whose
 * input is byte for byte its own, so a frame gets exactly the mask the
 * model gives its picture, whatever order the effects then run in and
 * whichever frames of the batch failed or went stale meanwhile; a frame
 * with no match runs the model alone. Per thread, like effect states. */
struct SegAhead {
	cv::dnn::Net net;
	bool loaded = false;
	std::vector<cv::Mat> inputs, masks;	/* kSegInput square: RGB 8-bit, float 0..1 */
	std::vector<bool> taken;
};
thread_local SegAhead seg_ahead;
/* Runs of the segmentation model and the frames they covered, process-wide
 * (ooblex_ml_segment_stats). */
std::atomic<uint64_t> seg_runs{0}, seg_frames{0};

bool take_ahead(const cv::Mat &rgb, cv::Mat &mask) {
	for(size_t i = 0; i < seg_ahead.inputs.size(); i++) {
		const cv::Mat &in = seg_ahead.inputs[i];
		if(seg_ahead.taken[i] || in.size() != rgb.size() || in.type() != rgb.type())
			continue;
		if(std::memcmp(in.data, rgb.data, in.total() * in.elemSize()) == 0) {
			seg_ahead.taken[i] = true;
			mask = seg_ahead.masks[i];
			return true;
		}
	}
	return false;
}

/* The model's person probability for this frame, smoothed over time into
 * s.mask. A new mask that overlaps the previous one little (another scene,
 * or another client's frame on the same state) replaces it instead of
 * blending with it, so that nothing of one picture ghosts into another. */
void segment(SegState &s, ooblex_image *img) {
	s.input.make(img, kSegInput, kSegInput, cv::Rect(0, 0, kSegInput, kSegInput));
	cv::Mat fresh;
	if(!take_ahead(s.input.rgb, fresh)) {
		cv::Mat blob = cv::dnn::blobFromImage(s.input.rgb, 1.0 / 255, cv::Size(), cv::Scalar(), false, false, CV_32F);
		s.net.setInput(blob);
		cv::Mat out = s.net.forward();
		seg_runs++;
		seg_frames++;
		if(out.total() != (size_t)kSegInput * kSegInput)
			throw std::runtime_error("segmentation model: unexpected output shape");
		fresh = cv::Mat(kSegInput, kSegInput, CV_32F, out.ptr<float>());
	}
	bool blend = !s.mask.empty() && s.keep > 0;
	if(blend) {
		cv::Mat a = fresh > 0.5f, b = s.mask > 0.5f;
		double uni = cv::countNonZero(a | b), inter = cv::countNonZero(a & b);
		blend = uni == 0 || inter / uni >= 0.5;
	}
	if(blend)
		cv::addWeighted(s.mask, s.keep / 100.0, fresh, 1.0 - s.keep / 100.0, 0, s.mask);
	else
		fresh.copyTo(s.mask);
	s.person = cv::mean(s.mask)[0];
}

/* dst = src where the mask says person, bg elsewhere: dst = (src*m + bg*(255-m)) / 255. */
void blend_plane(cv::Mat &plane, const cv::Mat &bg, const cv::Mat &mask) {
	for(int y = 0; y < plane.rows; y++) {
		uint8_t *p = plane.ptr<uint8_t>(y);
		const uint8_t *b = bg.ptr<uint8_t>(y), *m = mask.ptr<uint8_t>(y);
		for(int x = 0; x < plane.cols; x++)
			p[x] = (uint8_t)((p[x] * m[x] + b[x] * (255 - m[x]) + 127) / 255);
	}
}

void make_background(SegState &s, Planes &p) {
	cv::Mat *planes[3] = { &p.y, &p.u, &p.v };
	if(s.mode == Background::blur) {
		for(int i = 0; i < 3; i++) {
			const cv::Mat &src = *planes[i];
			int div = i ? 2 : 1;
			cv::Size small(std::max(1, src.cols / 4), std::max(1, src.rows / 4));
			cv::resize(src, s.small, small, 0, 0, cv::INTER_AREA);
			double sigma = std::max(0.5, s.sigma / 4.0 / div);
			cv::GaussianBlur(s.small, s.small, cv::Size(), sigma, sigma, cv::BORDER_REPLICATE);
			cv::resize(s.small, s.bg[i], src.size(), 0, 0, cv::INTER_LINEAR);
		}
	} else if(s.mode == Background::image) {
		cv::Size frame(p.y.cols, p.y.rows);
		if(s.image_for != frame) {
			/* The image covers the frame: the middle of it in the frame's
			 * aspect, scaled plane by plane. */
			const cv::Mat &iy = s.picture[0];
			double scale = std::max((double)frame.width / iy.cols, (double)frame.height / iy.rows);
			int cw = std::max(2, std::min(iy.cols, (int)std::lround(frame.width / scale))) & ~1;
			int ch = std::max(2, std::min(iy.rows, (int)std::lround(frame.height / scale))) & ~1;
			cv::Rect crop(((iy.cols - cw) / 2) & ~1, ((iy.rows - ch) / 2) & ~1, cw, ch);
			for(int i = 0; i < 3; i++) {
				int div = i ? 2 : 1;
				cv::Rect r(crop.x / div, crop.y / div, crop.width / div, crop.height / div);
				r &= cv::Rect(0, 0, s.picture[i].cols, s.picture[i].rows);
				cv::resize(s.picture[i](r), s.bg[i], planes[i]->size(), 0, 0, cv::INTER_AREA);
			}
			s.image_for = frame;
		}
	} else {
		for(int i = 0; i < 3; i++) {
			s.bg[i].create(planes[i]->size(), CV_8UC1);
			s.bg[i].setTo(s.colour[i]);
		}
	}
}

int seg_process(void *state, ooblex_image *img, char *err, size_t errlen) {
	SegState *s = static_cast<SegState *>(state);
	if(img->width < 4 || img->height < 4) {
		set_err(err, errlen, "background: frames must be at least 4x4");
		return -1;
	}
	try {
		segment(*s, img);
		Planes p(img);
		s->mask.convertTo(s->mask8, CV_8U, 255.0);
		cv::resize(s->mask8, s->mask_y, p.y.size(), 0, 0, cv::INTER_LINEAR);
		cv::resize(s->mask8, s->mask_c, p.u.size(), 0, 0, cv::INTER_LINEAR);
		make_background(*s, p);
		blend_plane(p.y, s->bg[0], s->mask_y);
		blend_plane(p.u, s->bg[1], s->mask_c);
		blend_plane(p.v, s->bg[2], s->mask_c);
		return 0;
	} catch(const cv::Exception &e) {
		set_err(err, errlen, "background: " + e.err);
		return -1;
	} catch(const std::exception &e) {
		set_err(err, errlen, std::string("background: ") + e.what());
		return -1;
	}
}

void seg_destroy(void *state) {
	delete static_cast<SegState *>(state);
}

/* {"person":0.31}: the part of the frame the smoothed mask calls person. */
size_t seg_describe(void *state, char *json, size_t len) {
	const SegState *s = static_cast<const SegState *>(state);
	int n = std::snprintf(json, len, "{\"person\":%.2f}", s->person);
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

struct OnnxState {
	cv::dnn::Net net;
	cv::Size size;	/* the model's input size; empty: the frame's */
	double range = 1.0;
	cv::Mat i420, rgb, out_rgb;
};

/* A model name from a browser: a plain file name ending in .onnx. */
bool safe_model_name(const std::string &n) {
	if(n.size() < 6 || n.size() > 128 || n.compare(n.size() - 5, 5, ".onnx") != 0 || n[0] == '.')
		return false;
	return n.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == std::string::npos;
}

void *onnx_create(const char *params, char *err, size_t errlen) {
	try {
		std::string text(params);
		size_t colon = text.find(':');
		std::string model = text.substr(0, colon);
		if(!safe_model_name(model)) {
			set_err(err, errlen, "onnx: expected onnx:<name>.onnx (a file in the models folder), got '" + model + "'");
			return nullptr;
		}
		std::vector<std::pair<std::string, std::string>> kv;
		if(colon != std::string::npos && !split_params(text.substr(colon + 1), kv)) {
			set_err(err, errlen, "onnx: options are key=value (size=WxH, range=1|255)");
			return nullptr;
		}
		OnnxState *s = new OnnxState();
		for(auto &p : kv) {
			int w = 0, h = 0;
			size_t x = p.second.find('x');
			if(p.first == "size" && x != std::string::npos && parse_int(p.second.substr(0, x), 8, 4096, &w) &&
					parse_int(p.second.substr(x + 1), 8, 4096, &h)) {
				s->size = cv::Size(w, h);
			} else if(p.first == "range" && (p.second == "1" || p.second == "255")) {
				s->range = p.second == "1" ? 1.0 : 255.0;
			} else {
				set_err(err, errlen, "onnx: bad option '" + p.first + "=" + p.second + "' (size=WxH, range=1|255)");
				delete s;
				return nullptr;
			}
		}
		std::string path = models_dir + "/" + model;
		try {
			s->net = cv::dnn::readNetFromONNX(path);
		} catch(const cv::Exception &e) {
			set_err(err, errlen, "onnx: cannot load " + path + ": " + e.err);
			delete s;
			return nullptr;
		}
		if(s->net.empty()) {
			set_err(err, errlen, "onnx: cannot load " + path);
			delete s;
			return nullptr;
		}
		s->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
		s->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
		return s;
	} catch(const std::exception &e) {
		set_err(err, errlen, std::string("onnx: ") + e.what());
		return nullptr;
	}
}

int onnx_process(void *state, ooblex_image *img, char *err, size_t errlen) {
	OnnxState *s = static_cast<OnnxState *>(state);
	if((img->width & 1) || (img->height & 1)) {
		set_err(err, errlen, "onnx: frame sizes must be even");
		return -1;
	}
	try {
		int w = img->width, h = img->height;
		/* I420 planes -> one contiguous I420 Mat -> RGB. */
		s->i420.create(h * 3 / 2, w, CV_8UC1);
		Planes p(img);
		p.y.copyTo(s->i420(cv::Rect(0, 0, w, h)));
		cv::Mat chroma = s->i420(cv::Rect(0, h, w, h / 2));
		p.u.copyTo(cv::Mat(h / 2, w / 2, CV_8UC1, chroma.data, (size_t)w / 2));
		p.v.copyTo(cv::Mat(h / 2, w / 2, CV_8UC1, chroma.data + (size_t)w * h / 4, (size_t)w / 2));
		cv::cvtColor(s->i420, s->rgb, cv::COLOR_YUV2RGB_I420);
		cv::Size in_size = s->size.empty() ? cv::Size(w, h) : s->size;
		cv::Mat blob = cv::dnn::blobFromImage(s->rgb, s->range / 255.0, in_size, cv::Scalar(), false, false, CV_32F);
		s->net.setInput(blob);
		cv::Mat out = s->net.forward();
		if(out.dims != 4 || out.size[0] != 1 || out.size[1] != 3) {
			set_err(err, errlen, "onnx: the model's output is not 1x3xHxW");
			return -1;
		}
		int oh = out.size[2], ow = out.size[3];
		std::vector<cv::Mat> channels;
		for(int c = 0; c < 3; c++)
			channels.emplace_back(oh, ow, CV_32F, out.ptr<float>(0, c));
		cv::Mat merged;
		cv::merge(channels, merged);
		merged.convertTo(s->out_rgb, CV_8U, 255.0 / s->range);
		if(s->out_rgb.size() != cv::Size(w, h))
			cv::resize(s->out_rgb, s->out_rgb, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
		cv::cvtColor(s->out_rgb, s->i420, cv::COLOR_RGB2YUV_I420);
		s->i420(cv::Rect(0, 0, w, h)).copyTo(p.y);
		cv::Mat(h / 2, w / 2, CV_8UC1, s->i420.data + (size_t)w * h, (size_t)w / 2).copyTo(p.u);
		cv::Mat(h / 2, w / 2, CV_8UC1, s->i420.data + (size_t)w * h * 5 / 4, (size_t)w / 2).copyTo(p.v);
		return 0;
	} catch(const cv::Exception &e) {
		set_err(err, errlen, "onnx: " + e.err);
		return -1;
	} catch(const std::exception &e) {
		set_err(err, errlen, std::string("onnx: ") + e.what());
		return -1;
	}
}

void onnx_destroy(void *state) {
	delete static_cast<OnnxState *>(state);
}

const ooblex_effect ml_effects[] = {
	{ "faces", "green boxes and landmarks around faces, BlazeFace or the Haar cascade without its model "
		"(min_size=8..2000 pixels)", faces_create, faces_process, faces_destroy,
		faces_describe },
	{ "face_pixelate", "faces hidden behind blocks (size=2..128, min_size=8..2000)", face_pixelate_create,
		faces_process, faces_destroy, faces_describe },
	{ "background_blur", "the background blurred behind the person (sigma=2..60, smooth=0..90)", background_blur_create,
		seg_process, seg_destroy, seg_describe },
	{ "background_replace", "the background replaced by an image (image=<name>.jpg from the backgrounds folder, "
		"smooth=0..90)", background_replace_create, seg_process, seg_destroy, seg_describe },
	{ "background_remove", "the background replaced by a flat colour (color=green|blue|black|white|gray, smooth=0..90)",
		background_remove_create, seg_process, seg_destroy, seg_describe },
	{ "onnx", "an image-to-image ONNX model from the models folder (onnx:<name>.onnx[:size=WxH][:range=1|255])",
		onnx_create, onnx_process, onnx_destroy, nullptr },
};

const ooblex_effect_module ml_module = {
	OOBLEX_EFFECT_ABI_VERSION, "OpenCV (faces, background, onnx)", ml_effects, sizeof(ml_effects) / sizeof(ml_effects[0]),
};

}	// namespace

extern "C" void ooblex_ml_set_paths(const char *cascades, const char *models) {
	if(cascades != nullptr && *cascades)
		cascade_dir = cascades;
	if(models != nullptr && *models)
		models_dir = models;
	/* Effects run single-threaded: the fleet scales by adding workers. */
	cv::setNumThreads(1);
}

extern "C" int ooblex_ml_effect_ready(const char *name) {
	if(name == nullptr || strncmp(name, "background_", 11) != 0)
		return 1;
	return file_exists(models_dir + "/" + kSegModel) ? 1 : 0;
}

extern "C" const char *ooblex_ml_models_dir(void) {
	return models_dir.c_str();
}

extern "C" const ooblex_effect_module *ooblex_ml_module(void) {
	return &ml_module;
}

extern "C" int ooblex_ml_detect_faces(const uint8_t *luma, int stride, int width, int height, int min_size,
		int *rects, int max, char *err, size_t errlen) {
	try {
		FaceState s;
		s.min_size = min_size;
		std::string why;
		if(!load_cascade(s.cascade, why)) {
			set_err(err, errlen, why);
			return -1;
		}
		cv::Mat y(height, width, CV_8UC1, const_cast<uint8_t *>(luma), (size_t)stride);
		std::vector<Face> found = detect_cascade(s, y);
		int n = 0;
		for(const Face &f : found) {
			const cv::Rect &r = f.box;
			if(n == max)
				break;
			rects[4 * n] = r.x;
			rects[4 * n + 1] = r.y;
			rects[4 * n + 2] = r.width;
			rects[4 * n + 3] = r.height;
			n++;
		}
		return (int)found.size();
	} catch(const std::exception &e) {
		set_err(err, errlen, std::string("face detector: ") + e.what());
		return -1;
	}
}

extern "C" int ooblex_ml_batch_effect(const char *name) {
	return name != nullptr && strncmp(name, "background_", 11) == 0;
}

extern "C" int ooblex_ml_segment_ahead(ooblex_image *const *images, int n, char *err, size_t errlen) {
	SegAhead &a = seg_ahead;
	a.inputs.clear();
	a.masks.clear();
	a.taken.clear();
	if(n < 2)
		return 0;
	try {
		if(!a.loaded) {
			if(!file_exists(models_dir + "/" + kSegModel)) {
				set_err(err, errlen, "no segmentation model " + models_dir + "/" + kSegModel);
				return -1;
			}
			a.net = load_tf(kSegModel);
			a.loaded = true;
		}
		SmallInput in;
		for(int i = 0; i < n; i++) {
			in.make(images[i], kSegInput, kSegInput, cv::Rect(0, 0, kSegInput, kSegInput));
			a.inputs.push_back(in.rgb.clone());
		}
		cv::Mat blob = cv::dnn::blobFromImages(a.inputs, 1.0 / 255, cv::Size(), cv::Scalar(), false, false, CV_32F);
		a.net.setInput(blob);
		cv::Mat out = a.net.forward();
		seg_runs++;
		seg_frames += (uint64_t)n;
		const size_t per = (size_t)kSegInput * kSegInput;
		if(out.total() != per * (size_t)n)
			throw std::runtime_error("segmentation model: unexpected output shape for a batch");
		for(int i = 0; i < n; i++)
			a.masks.push_back(cv::Mat(kSegInput, kSegInput, CV_32F, out.ptr<float>() + per * (size_t)i).clone());
		a.taken.assign((size_t)n, false);
		return n;
	} catch(const cv::Exception &e) {
		a.inputs.clear();
		a.masks.clear();
		set_err(err, errlen, "segmentation batch: " + e.err);
		return -1;
	} catch(const std::exception &e) {
		a.inputs.clear();
		a.masks.clear();
		set_err(err, errlen, std::string("segmentation batch: ") + e.what());
		return -1;
	}
}

extern "C" void ooblex_ml_segment_stats(uint64_t *runs, uint64_t *frames) {
	*runs = seg_runs.load();
	*frames = seg_frames.load();
}

extern "C" int ooblex_ml_person_mask(ooblex_image *img, uint8_t *mask, char *err, size_t errlen) {
	try {
		if(!file_exists(models_dir + "/" + kSegModel)) {
			set_err(err, errlen, "no segmentation model " + models_dir + "/" + kSegModel);
			return -1;
		}
		SegState s;
		s.net = load_tf(kSegModel);
		segment(s, img);
		s.mask.convertTo(s.mask8, CV_8U, 255.0);
		cv::Mat out(img->height, img->width, CV_8UC1, mask);
		cv::resize(s.mask8, out, out.size(), 0, 0, cv::INTER_LINEAR);
		return 0;
	} catch(const cv::Exception &e) {
		set_err(err, errlen, "segmentation: " + e.err);
		return -1;
	} catch(const std::exception &e) {
		set_err(err, errlen, std::string("segmentation: ") + e.what());
		return -1;
	}
}
