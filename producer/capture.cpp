// SPDX-License-Identifier: LGPL-2.1-or-later
#include "capture.hpp"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <opencv2/videoio/registry.hpp>

namespace frameshm::sources {
namespace {

// The camera index of "camera:N" or "/dev/videoN", or -1.
int cameraIndex(const std::string& spec) {
  std::string_view digits;
  if (spec.starts_with("camera:"))
    digits = std::string_view(spec).substr(7);
  else if (spec.starts_with("/dev/video"))
    digits = std::string_view(spec).substr(10);
  else
    return -1;
  int index = -1;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (error != std::errc() || end != digits.data() + digits.size() || digits.empty()) return -1;
  return index;
}

std::string sizeText(double width, double height) {
  return std::to_string(std::lround(width)) + "x" + std::to_string(std::lround(height));
}

// Files go to FFmpeg, which reads nearly every video file. Letting OpenCV
// try its GStreamer backend on a file it cannot read leaves a half-started
// pipeline behind, and GLib then prints CRITICAL warnings past our one line.
bool openFile(cv::VideoCapture& capture, const std::string& path) {
  const bool ffmpeg = cv::videoio_registry::hasBackend(cv::CAP_FFMPEG);
  return capture.open(path, ffmpeg ? cv::CAP_FFMPEG : cv::CAP_ANY);
}

}  // namespace

Result<CaptureSource> CaptureSource::open(const std::string& spec, const CaptureRequest& request) {
  CaptureSource source;
  if (spec.starts_with("camera:") || spec.starts_with("/dev/video")) {
    const int index = cameraIndex(spec);
    if (index < 0)
      return fail(ErrorCode::InvalidArgument,
                  "camera source '" + spec + "' is not camera:N or /dev/videoN with a number N");
    const std::string device = "/dev/video" + std::to_string(index);
    source.kind_ = Kind::Camera;
    source.description_ = "camera " + device;
    if (!std::filesystem::exists(device))
      return fail(ErrorCode::NotFound,
                  "camera " + device + " does not exist (is it plugged in? see v4l2-ctl --list-devices)");
    if (!source.capture_.open(index, cv::CAP_V4L2))
      return fail(ErrorCode::NotFound,
                  "camera " + device + " could not be opened (busy, or not a capture device?)");
    if (request.width > 0) source.capture_.set(cv::CAP_PROP_FRAME_WIDTH, request.width);
    if (request.height > 0) source.capture_.set(cv::CAP_PROP_FRAME_HEIGHT, request.height);
    if (request.fps > 0) source.capture_.set(cv::CAP_PROP_FPS, request.fps);
  } else if (spec.starts_with("file:")) {
    const std::string path = spec.substr(5);
    source.kind_ = Kind::File;
    source.description_ = "file " + path;
    source.path_ = path;
    if (path.empty()) return fail(ErrorCode::InvalidArgument, "file source needs a path: file:PATH");
    if (!std::filesystem::is_regular_file(path))
      return fail(ErrorCode::NotFound, "video file " + path + " does not exist or is not a file");
    if (!openFile(source.capture_, path))
      return fail(ErrorCode::UnsupportedFormat,
                  "video file " + path + " cannot be opened: not a video OpenCV can read");
  } else if (spec.starts_with("gst:")) {
    const std::string pipeline = spec.substr(4);
    source.kind_ = Kind::Gstreamer;
    source.description_ = "GStreamer pipeline";
    if (!cv::videoio_registry::hasBackend(cv::CAP_GSTREAMER))
      return fail(ErrorCode::UnsupportedFormat,
                  "this OpenCV was built without GStreamer; gst: sources need it");
    if (pipeline.empty())
      return fail(ErrorCode::InvalidArgument, "gst source needs a pipeline: gst:'... ! appsink'");
    if (!source.capture_.open(pipeline, cv::CAP_GSTREAMER))
      return fail(ErrorCode::InvalidArgument,
                  "GStreamer pipeline '" + pipeline + "' could not be started (it must end in appsink)");
  } else {
    return fail(
        ErrorCode::InvalidArgument,
        "source '" + spec + "' is not one of pattern, camera:N, /dev/videoN, file:PATH, gst:PIPELINE");
  }

  if (!source.capture_.read(source.first_) || source.first_.empty())
    return fail(source.kind_ == Kind::File ? ErrorCode::UnsupportedFormat : ErrorCode::SystemError,
                source.description_ + " opened but delivered no frame");
  if (source.first_.type() != CV_8UC3)
    return fail(ErrorCode::UnsupportedFormat,
                source.description_ + " delivers frames that are not 8-bit colour");
  source.firstPending_ = true;
  source.fps_ = source.capture_.get(cv::CAP_PROP_FPS);
  if (!std::isfinite(source.fps_) || source.fps_ < 0 || source.fps_ > 1000) source.fps_ = 0;
  if (source.kind_ == Kind::Camera) {
    source.description_ +=
        ": asked for " + (request.width > 0 ? sizeText(request.width, request.height) : "any size") +
        (request.fps > 0 ? " @" + std::to_string(std::lround(request.fps)) : "") + ", delivers " +
        sizeText(source.first_.cols, source.first_.rows) + " @" + std::to_string(std::lround(source.fps_));
  }
  return source;
}

bool CaptureSource::read(cv::Mat& frame) {
  if (firstPending_) {
    firstPending_ = false;
    first_.copyTo(frame);
    return true;
  }
  return capture_.read(frame) && !frame.empty();
}

void CaptureSource::skip() {
  if (firstPending_)
    firstPending_ = false;
  else
    capture_.grab();
}

bool CaptureSource::rewind() {
  firstPending_ = false;
  if (kind_ != Kind::File) return false;
  // Not every backend seeks (OpenCV's own MJPEG reader does not): reopen then.
  if (capture_.set(cv::CAP_PROP_POS_FRAMES, 0)) return true;
  capture_.release();
  return openFile(capture_, path_);
}

}  // namespace frameshm::sources
