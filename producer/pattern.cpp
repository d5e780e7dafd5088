// SPDX-License-Identifier: LGPL-2.1-or-later
#include "pattern.hpp"

#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>

namespace frameshm::sources {
namespace {

constexpr int kScrollPixelsPerFrame = 4;

// Text with a dark outline, readable on any part of the gradient.
void outlinedText(cv::Mat& image, const std::string& text, cv::Point at, double scale, int thickness) {
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  cv::putText(image, text, at, font, scale, cv::Scalar(0, 0, 0, 255),
              thickness + 2 * std::max(1, thickness / 2), cv::LINE_AA);
  cv::putText(image, text, at, font, scale, cv::Scalar(255, 255, 255, 255), thickness, cv::LINE_AA);
}

}  // namespace

Pattern::Pattern(std::string feed, int width, int height, int type) : feed_(std::move(feed)) {
  // Hue across, saturation and value falling down the image: every part of
  // the frame differs from its neighbours, so a misplaced row or plane shows.
  cv::Mat hsv(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    auto* row = hsv.ptr<cv::Vec3b>(y);
    const double down = height > 1 ? static_cast<double>(y) / (height - 1) : 0.0;
    for (int x = 0; x < width; ++x) {
      row[x] =
          cv::Vec3b(static_cast<std::uint8_t>(180 * x / std::max(1, width)),
                    static_cast<std::uint8_t>(255 - 120 * down), static_cast<std::uint8_t>(255 - 150 * down));
    }
  }
  cv::Mat bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  if (CV_MAT_CN(type) == 4)
    cv::cvtColor(bgr, background_, cv::COLOR_BGR2BGRA);
  else
    background_ = bgr;
}

void Pattern::draw(cv::Mat& target, std::uint64_t number, std::chrono::nanoseconds elapsed) const {
  const int w = background_.cols, h = background_.rows;
  CV_Assert(target.size() == background_.size() && target.type() == background_.type());

  // Scroll the gradient left: two copies instead of redrawing every pixel.
  const int shift = static_cast<int>((number * kScrollPixelsPerFrame) % static_cast<std::uint64_t>(w));
  background_.colRange(shift, w).copyTo(target.colRange(0, w - shift));
  if (shift > 0) background_.colRange(0, shift).copyTo(target.colRange(w - shift, w));

  const double t = static_cast<double>(number) / 30.0;
  const int radius = std::max(2, std::min(w, h) / 8);
  const cv::Point centre(static_cast<int>(w / 2 + (w / 2 - radius) * std::sin(t * 1.3)),
                         static_cast<int>(h / 2 + (h / 2 - radius) * std::sin(t * 2.1)));
  cv::circle(target, centre, radius, cv::Scalar(255, 255, 255, 255), cv::FILLED, cv::LINE_AA);
  cv::circle(target, centre, radius / 2, cv::Scalar(40, 40, 200, 255), cv::FILLED, cv::LINE_AA);

  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  char clock[64];
  std::snprintf(clock, sizeof clock, "%02lld:%02lld:%02lld.%03lld", static_cast<long long>(ms / 3600000),
                static_cast<long long>(ms / 60000 % 60), static_cast<long long>(ms / 1000 % 60),
                static_cast<long long>(ms % 1000));
  const double scale = std::max(0.3, h / 480.0);
  const int thickness = std::max(1, static_cast<int>(std::lround(2 * scale)));
  const int line = static_cast<int>(40 * scale);
  outlinedText(target, feed_, {line / 2, line + line / 2}, scale, thickness);
  outlinedText(target, "frame " + std::to_string(number), {line / 2, 2 * line + line / 2}, scale * 1.4,
               thickness);
  outlinedText(target, clock, {line / 2, h - line / 2}, scale * 1.2, thickness);
}

}  // namespace frameshm::sources
