// SPDX-License-Identifier: LGPL-2.1-or-later
// pattern.hpp — the moving test image frameshm-producer draws without a camera.
//
// A scrolling colour gradient with a bouncing disc and, in large print, the
// feed name, the frame number and the time since the start, so a viewer sees
// at a glance that frames move and which frame is shown. The image depends
// only on (frame number, elapsed time), so a fixed pair gives the same pixels
// every run: tests compare such frames across pixel formats.
//
//   frameshm::sources::Pattern pattern("cam0", 640, 480, CV_8UC3);
//   cv::Mat image(480, 640, CV_8UC3);
//   pattern.draw(image, frameNumber, elapsed);
#pragma once

#include <chrono>
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>

namespace frameshm::sources {

class Pattern {
 public:
  // A pattern for images of `width`x`height` and OpenCV type `type`
  // (CV_8UC3 for BGR, CV_8UC4 for BGRA/BGRx: drawn straight into such a slot).
  Pattern(std::string feed, int width, int height, int type);

  // Draws frame `number` at `elapsed` into `target`, which must have the
  // pattern's size and type (e.g. a cv::Mat view of a producer's slot).
  void draw(cv::Mat& target, std::uint64_t number, std::chrono::nanoseconds elapsed) const;

 private:
  std::string feed_;
  cv::Mat background_;  // one period of the scrolling gradient, in the target's type
};

}  // namespace frameshm::sources
