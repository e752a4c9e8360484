/*
 * ml_opencv.cpp - face detection, face pixelation and ONNX models on OpenCV,
 * exported as an ooblex_effect_module (see ml_opencv.h). No C++ exception
 * crosses into the C worker: every entry point catches and reports through
 * err.
 */
#include "ml_opencv.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

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

struct FaceState {
	cv::CascadeClassifier cascade;
	int min_size = 30;	/* smallest face, in frame pixels */
	int block = 16;	/* face_pixelate's block size */
	bool pixelate = false;
	cv::Mat small;	/* the scaled luma, reused */
	std::vector<cv::Rect> last;	/* what the last frame showed */
};

bool load_cascade(cv::CascadeClassifier &c, std::string &why) {
	std::string path = cascade_dir + "/haarcascade_frontalface_alt2.xml";
	if(!c.load(path)) {
		why = "cannot load the face cascade " + path + " (Debian: opencv-data)";
		return false;
	}
	return true;
}

std::vector<cv::Rect> detect(FaceState &s, const cv::Mat &luma) {
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
	for(cv::Rect &r : found) {
		r = cv::Rect((int)(r.x / scale), (int)(r.y / scale), (int)(r.width / scale), (int)(r.height / scale));
		r &= frame;
	}
	return found;
}

/* Green in BT.601 limited range. */
const cv::Scalar kGreenY(145), kGreenU(54), kGreenV(34);

void draw_boxes(ooblex_image *img, const std::vector<cv::Rect> &faces) {
	Planes p(img);
	int t = std::max(2, img->width / 240);
	for(const cv::Rect &r : faces) {
		cv::rectangle(p.y, r, kGreenY, t);
		cv::Rect c(r.x / 2, r.y / 2, r.width / 2, r.height / 2);
		cv::rectangle(p.u, c, kGreenU, std::max(1, t / 2));
		cv::rectangle(p.v, c, kGreenV, std::max(1, t / 2));
	}
}

/* Each face region, grown by a fifth to cover hair and chin, becomes blocks
 * of `block` pixels: down with area averaging, up with nearest neighbour. */
void pixelate(ooblex_image *img, const std::vector<cv::Rect> &faces, int block) {
	Planes p(img);
	cv::Rect frame(0, 0, img->width, img->height);
	for(const cv::Rect &f : faces) {
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
		if(!load_cascade(s->cascade, why)) {
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
		Planes p(img);
		std::vector<cv::Rect> faces = detect(*s, p.y);
		s->last = faces;
		if(s->pixelate)
			pixelate(img, faces, s->block);
		else
			draw_boxes(img, faces);
		return 0;
	} catch(const std::exception &e) {
		set_err(err, errlen, std::string("face detector: ") + e.what());
		return -1;
	}
}

void faces_destroy(void *state) {
	delete static_cast<FaceState *>(state);
}

/* [[x,y,w,h],...] in frame pixels. */
size_t faces_describe(void *state, char *json, size_t len) {
	const FaceState *s = static_cast<const FaceState *>(state);
	std::string out = "[";
	for(size_t i = 0; i < s->last.size(); i++) {
		const cv::Rect &r = s->last[i];
		out += (i ? ",[" : "[") + std::to_string(r.x) + "," + std::to_string(r.y) + "," + std::to_string(r.width) + "," +
			std::to_string(r.height) + "]";
	}
	out += "]";
	if(out.size() + 1 > len)
		return 0;
	std::memcpy(json, out.c_str(), out.size() + 1);
	return out.size();
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
	{ "faces", "green boxes around faces (min_size=8..2000 pixels)", faces_create, faces_process, faces_destroy,
		faces_describe },
	{ "face_pixelate", "faces hidden behind blocks (size=2..128, min_size=8..2000)", face_pixelate_create,
		faces_process, faces_destroy, faces_describe },
	{ "onnx", "an image-to-image ONNX model from the models folder (onnx:<name>.onnx[:size=WxH][:range=1|255])",
		onnx_create, onnx_process, onnx_destroy, nullptr },
};

const ooblex_effect_module ml_module = {
	OOBLEX_EFFECT_ABI_VERSION, "OpenCV (faces, onnx)", ml_effects, sizeof(ml_effects) / sizeof(ml_effects[0]),
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
		std::vector<cv::Rect> found = detect(s, y);
		int n = 0;
		for(const cv::Rect &r : found) {
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
