// SPDX-License-Identifier: LGPL-2.1-or-later
// --display under a virtual X server: a window titled with the feed shows the frames.
#include <signal.h>

#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "programs_support.hpp"

using namespace std::chrono_literals;

TEST_CASE(
    "the consumer's --display opens a window titled with the feed that shows the pattern, and SIGINT closes "
    "it") {
  const auto feed = frameshm::test::uniqueFeed("display");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto producer = launch::start(dir, "producer", {launch::producer(), "--feed", feed});
  const std::string shot = dir.file("screen.png"), tree = dir.file("windows.txt");
  // The script waits for the window to exist (by its title), lets it draw,
  // takes the screenshot, then stops the viewer; its exit code is the viewer's.
  const std::string script =
      "\"$0\" --feed \"$1\" --display --timeout 20 & viewer=$!\n"
      "for i in $(seq 100); do xwininfo -root -tree | grep -q \"frameshm: $1\" && break; sleep 0.2; done\n"
      "sleep 2\n"
      "xwininfo -root -tree > \"$3\"\n"
      "import -window root \"$2\"\n"
      "kill -INT $viewer\n"
      "wait $viewer\n";
  auto viewer = launch::start(dir, "viewer",
                                {"xvfb-run", "-a", "-s", "-screen 0 800x600x24", "sh", "-c", script,
                                 launch::consumer(), feed, shot, tree});
  INFO(viewer.err());
  REQUIRE(viewer.child.wait(90s) == 0);

  const std::string windows = frameshm::test::readFile(tree);
  INFO(windows);
  CHECK(windows.find("frameshm: " + feed) != std::string::npos);
  CHECK(windows.find("fps") != std::string::npos);  // the title carries the rate once it is measured

  const cv::Mat screen = cv::imread(shot);
  REQUIRE(screen.cols == 800);
  cv::Scalar mean, spread;
  cv::meanStdDev(screen, mean, spread);
  CHECK(spread[0] + spread[1] + spread[2] > 60);  // not a blank screen
  // The pattern's gradient puts many colours on the screen; a blank or
  // single-colour window has a handful.
  cv::Mat small;
  cv::resize(screen, small, {100, 75}, 0, 0, cv::INTER_NEAREST);
  std::set<int> colours;
  for (int y = 0; y < small.rows; ++y)
    for (int x = 0; x < small.cols; ++x) {
      const auto p = small.at<cv::Vec3b>(y, x);
      colours.insert((p[0] / 16) << 8 | (p[1] / 16) << 4 | (p[2] / 16));
    }
  CHECK(colours.size() > 50);

  producer.child.kill(SIGTERM);
  CHECK(producer.child.wait(20s) == 0);
}
