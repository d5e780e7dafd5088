// SPDX-License-Identifier: LGPL-2.1-or-later
// The producer plays a video file: an MJPG AVI this test writes with OpenCV.
#include <signal.h>

#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "programs_support.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int kFileFrames = 40;
const cv::Scalar kBackground(200, 60, 20);  // BGR: blue

std::string writeClip(const frameshm::test::TempDir& dir) {
  const std::string path = dir.file("clip.avi");
  cv::VideoWriter writer(path, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25, cv::Size(160, 120));
  REQUIRE(writer.isOpened());
  for (int i = 0; i < kFileFrames; ++i) {
    cv::Mat frame(120, 160, CV_8UC3, kBackground);
    cv::circle(frame, {20 + i * 3, 60}, 8, cv::Scalar(255, 255, 255), cv::FILLED);
    writer.write(frame);
  }
  writer.release();
  return path;
}

}  // namespace

TEST_CASE("a video file source is played once at its size and the consumer receives its frames") {
  const auto feed = frameshm::test::uniqueFeed("file");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  const std::string clip = writeClip(dir);
  auto consumer = launch::start(
      dir, "consumer",
      {launch::consumer(), "--feed", feed, "--stats-json", "--exit-on-end", "--timeout", "20"});
  const std::string snapshot = dir.file("snap.png");
  auto viewer = launch::start(
      dir, "viewer", {launch::consumer(), "--feed", feed, "--snapshot", snapshot, "--timeout", "20"});
  auto producer =
      launch::start(dir, "producer", {launch::producer(), "--feed", feed, "--source", "file:" + clip});
  INFO(producer.err());
  REQUIRE(producer.child.wait(60s) == 0);
  CHECK(producer.err().find("reached the end of the file: 40 frames") != std::string::npos);
  // BGR at the file's size: OpenCV decodes straight into the slots.
  CHECK(producer.err().find("40 decoded in place") != std::string::npos);

  INFO(consumer.err());
  REQUIRE(consumer.child.wait(30s) == 0);
  const std::string json = consumer.out();
  INFO(json);
  CHECK(launch::jsonNumber(json, "width") == 160);
  CHECK(launch::jsonNumber(json, "height") == 120);
  CHECK(launch::jsonNumber(json, "frames") > 0);
  CHECK(launch::jsonNumber(json, "frames") <= kFileFrames);
  CHECK(launch::jsonNumber(json, "feed_ends") == 1);

  REQUIRE(viewer.child.wait(30s) == 0);
  const cv::Mat image = cv::imread(snapshot);
  REQUIRE(image.size() == cv::Size(160, 120));
  const cv::Vec3b corner = image.at<cv::Vec3b>(110, 150);                        // away from the moving disc
  for (int c = 0; c < 3; ++c) CHECK(std::abs(corner[c] - kBackground[c]) < 25);  // JPEG is lossy
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("with --loop a file source plays again, converted to another format and scaled") {
  const auto feed = frameshm::test::uniqueFeed("fileloop");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  const std::string clip = writeClip(dir);
  auto producer = launch::start(dir, "producer",
                                  {launch::producer(), "--feed", feed, "--source", "file:" + clip, "--loop",
                                   "--fps", "100", "--format", "NV12", "--width", "96", "--height", "64"});
  auto consumer = launch::start(
      dir, "consumer",
      {launch::consumer(), "--feed", feed, "--stats-json", "--frames", "100", "--timeout", "20"});
  INFO(consumer.err());
  REQUIRE(consumer.child.wait(60s) == 0);
  const std::string json = consumer.out();
  INFO(json);
  CHECK(launch::jsonNumber(json, "frames") == 100);  // more than the file holds
  CHECK(json.find("\"formats_seen\":[\"NV12 96x64\"]") != std::string::npos);
  producer.child.kill(SIGINT);
  CHECK(producer.child.wait(20s) == 0);
}
