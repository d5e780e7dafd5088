// SPDX-License-Identifier: LGPL-2.1-or-later
// capture.hpp — the frame sources frameshm-producer reads through OpenCV.
//
// A camera (V4L2), a video file, or a GStreamer pipeline ending in appsink,
// behind one small type: open it from the --source text, read BGR frames,
// rewind a file. Opening reads the first frame, so a source that cannot
// deliver fails before any feed is created and what it really delivers
// (size, rate) is known up front.
//
//   auto source = frameshm::sources::CaptureSource::open("camera:0", {.width = 1280, .height = 720});
//   if (!source) return report(source.error());
//   cv::Mat frame;
//   while (source->read(frame)) publish(frame);
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>
#include <string>

#include "frameshm/error.hpp"

namespace frameshm::sources {

// What the user asked the source for; 0 means "whatever it delivers".
struct CaptureRequest {
  int width = 0;
  int height = 0;
  double fps = 0;
};

class CaptureSource {
 public:
  enum class Kind { Camera, File, Gstreamer };

  // Opens `spec` ("camera:N", "/dev/videoN", "file:PATH", "gst:PIPELINE") and
  // reads its first frame. Errors: InvalidArgument (spec not understood),
  // NotFound (no such camera or file), UnsupportedFormat (nothing OpenCV can
  // read, or OpenCV without GStreamer), SystemError (opened but no frame).
  [[nodiscard]] static Result<CaptureSource> open(const std::string& spec, const CaptureRequest& request);

  // The next BGR frame into `frame`: the first one read at open() comes first.
  // Keeps `frame`'s buffer when its size and type fit (so a slot view is filled
  // in place). Returns false at the end of a file or when a camera is lost.
  [[nodiscard]] bool read(cv::Mat& frame);
  // Skips one frame without decoding it (to catch up when late).
  void skip();
  // Back to the first frame of a file. Returns false if the file cannot seek.
  [[nodiscard]] bool rewind();

  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  // "camera /dev/video0", "file clip.avi", "GStreamer pipeline".
  [[nodiscard]] const std::string& description() const noexcept { return description_; }
  [[nodiscard]] cv::Size frameSize() const noexcept { return first_.size(); }
  // The source's own frame rate (0 if it does not say).
  [[nodiscard]] double fps() const noexcept { return fps_; }

 private:
  Kind kind_ = Kind::File;
  std::string description_;
  std::string path_;  // of a file, to reopen it
  cv::VideoCapture capture_;
  cv::Mat first_;
  bool firstPending_ = false;
  double fps_ = 0;
};

}  // namespace frameshm::sources
