// SPDX-License-Identifier: LGPL-2.1-or-later
// The Qt viewer sample under a virtual X server: woken by the consumer's
// pollable descriptor, it shows the pattern, and exits on its own after --frames.
#include <signal.h>

#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "programs_support.hpp"

using namespace std::chrono_literals;

namespace {
std::string qtViewer() {
  return FRAMESHM_SAMPLE_QT_VIEWER;
}
}  // namespace

TEST_CASE("the Qt viewer shows a feed's frames, saves its window and exits on its own after --frames") {
  for (const char* format : {"BGR", "I420"}) {
    DYNAMIC_SECTION(format) {
      const auto feed = frameshm::test::uniqueFeed("qt");
      frameshm::test::FeedGuard guard(feed);
      frameshm::test::TempDir dir;
      auto producer =
          launch::start(dir, "producer", {launch::producer(), "--feed", feed, "--format", format});
      const std::string shot = dir.file("qt.png");
      auto viewer = launch::start(dir, "viewer",
                                  {"xvfb-run", "-a", "-s", "-screen 0 800x600x24", qtViewer(), "--feed", feed,
                                   "--frames", "30", "--screenshot", shot});
      const int code = viewer.child.wait(90s);
      INFO(viewer.out() << viewer.err());
      REQUIRE(code == 0);
      CHECK(viewer.out().find("30 frames shown") != std::string::npos);

      const cv::Mat window = cv::imread(shot);
      REQUIRE(!window.empty());
      // The picture area (above the status bar) shows the pattern, not a blank widget.
      const cv::Mat picture = window(cv::Rect(0, 0, window.cols, window.rows - 40));
      cv::Scalar mean, spread;
      cv::meanStdDev(picture, mean, spread);
      CHECK(spread[0] + spread[1] + spread[2] > 60);

      producer.child.kill(SIGTERM);
      CHECK(producer.child.wait(20s) == 0);
    }
  }
}

TEST_CASE("the Qt viewer refuses a missing feed with one message and exit code 2") {
  frameshm::test::TempDir dir;
  auto viewer = launch::start(
      dir, "viewer",
      {"xvfb-run", "-a", qtViewer(), "--feed", frameshm::test::uniqueFeed("nofeed"), "--open-timeout", "0"});
  REQUIRE(viewer.child.wait(60s) == 2);
  INFO(viewer.err());
  CHECK(viewer.err().find("frameshm-sample-qt-viewer: feed '") != std::string::npos);
  CHECK(viewer.err().find("does not exist") != std::string::npos);
}
