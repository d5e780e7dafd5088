// SPDX-License-Identifier: LGPL-2.1-or-later
// Every pixel format of the pattern, through shared memory and back to BGR
// in the consumer's snapshot, looks like the BGR pattern.
#include <signal.h>

#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "frameshm/format.hpp"
#include "programs_support.hpp"

using namespace std::chrono_literals;

namespace {

// Snapshot of the still pattern in `format`, read back as BGR.
cv::Mat snapshot(const frameshm::test::TempDir& dir, const std::string& feed, const std::string& format,
                 const std::string& width, const std::string& height) {
  auto producer = launch::start(dir, "p-" + format,
                                  {launch::producer(), "--feed", feed, "--format", format, "--width", width,
                                   "--height", height, "--still"});
  const std::string path = dir.file(format + ".png");
  auto consumer = launch::start(
      dir, "c-" + format, {launch::consumer(), "--feed", feed, "--snapshot", path, "--timeout", "20"});
  INFO(consumer.err());
  REQUIRE(consumer.child.wait(60s) == 0);
  producer.child.kill(SIGTERM);
  REQUIRE(producer.child.wait(20s) == 0);
  return cv::imread(path, cv::IMREAD_COLOR);
}

// Mean absolute difference per channel, without the top rows: the stamp
// replaces the first 24 bytes of each frame (and, through chroma, two rows).
double difference(const cv::Mat& a, const cv::Mat& b) {
  const cv::Rect body(0, 2, a.cols, a.rows - 2);
  cv::Mat diff;
  cv::absdiff(a(body), b(body), diff);
  const cv::Scalar mean = cv::mean(diff);
  return (mean[0] + mean[1] + mean[2]) / 3.0;
}

}  // namespace

TEST_CASE("a snapshot of the pattern in every pixel format matches the BGR one") {
  const auto [width, height] = GENERATE(std::pair{"320", "240"}, std::pair{"161", "91"});
  const auto feed = frameshm::test::uniqueFeed("roundtrip");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  // One feed name for every format: the pattern draws the name, so the pictures agree.
  const cv::Mat reference = snapshot(dir, feed, "BGR", width, height);
  REQUIRE(reference.cols == std::stoi(width));
  REQUIRE(reference.rows == std::stoi(height));
  cv::Scalar mean, spread;
  cv::meanStdDev(reference, mean, spread);
  REQUIRE(spread[0] + spread[1] + spread[2] > 60);  // a real picture, not a flat frame

  cv::Mat grayReference;
  cv::cvtColor(reference, grayReference, cv::COLOR_BGR2GRAY);
  cv::cvtColor(grayReference, grayReference, cv::COLOR_GRAY2BGR);
  for (frameshm::PixelFormat pf : frameshm::allPixelFormats()) {
    const std::string name(frameshm::toString(pf));
    if (pf == frameshm::PixelFormat::Bgr) continue;
    INFO(name << " " << width << "x" << height);
    const cv::Mat image = snapshot(dir, feed, name, width, height);
    REQUIRE(image.size() == reference.size());
    const bool yuv = pf == frameshm::PixelFormat::I420 || pf == frameshm::PixelFormat::Nv12 ||
                     pf == frameshm::PixelFormat::Yuy2 || pf == frameshm::PixelFormat::Uyvy;
    if (pf == frameshm::PixelFormat::Gray8)
      CHECK(difference(image, grayReference) < 1.0);
    else if (yuv)
      CHECK(difference(image, reference) < 8.0);  // limited-range YUV, chroma subsampled
    else
      CHECK(difference(image, reference) < 0.5);
  }
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}
