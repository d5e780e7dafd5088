// SPDX-License-Identifier: LGPL-2.1-or-later
// The consumer's processing, recording, slow-viewer and verification options,
// a GStreamer pipeline source, and the live status line on a terminal.
#include <signal.h>

#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "programs_support.hpp"

using namespace std::chrono_literals;

TEST_CASE(
    "the consumer records --process edges to a playable AVI, and --snapshot saves the processed frame") {
  const auto feed = frameshm::test::uniqueFeed("record");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto producer = launch::start(dir, "producer",
                                  {launch::producer(), "--feed", feed, "--format", "I420", "--width", "320",
                                   "--height", "240", "--fps", "60"});
  const std::string video = dir.file("edges.avi"), still = dir.file("edges.png");
  auto recorder = launch::start(dir, "recorder",
                                  {launch::consumer(), "--feed", feed, "--process", "edges", "--record",
                                   video, "--frames", "30", "--timeout", "20"});
  auto snapper = launch::start(
      dir, "snapper",
      {launch::consumer(), "--feed", feed, "--process", "gray", "--snapshot", still, "--timeout", "20"});
  INFO(recorder.err());
  REQUIRE(recorder.child.wait(60s) == 0);
  REQUIRE(snapper.child.wait(60s) == 0);
  producer.child.kill(SIGINT);
  REQUIRE(producer.child.wait(20s) == 0);

  cv::VideoCapture playback(video);
  REQUIRE(playback.isOpened());
  int frames = 0;
  cv::Mat frame, last;
  while (playback.read(frame)) {
    ++frames;
    CHECK(frame.size() == cv::Size(320, 240));
    frame.copyTo(last);
  }
  REQUIRE_FALSE(last.empty());
  CHECK(frames == 30);
  // Edges are sparse: mostly black with some white, unlike the colourful pattern.
  const double white = cv::countNonZero(last.reshape(1) > 128) / static_cast<double>(last.total() * 3);
  CHECK(white > 0.005);
  CHECK(white < 0.3);

  const cv::Mat gray = cv::imread(still, cv::IMREAD_UNCHANGED);
  REQUIRE(gray.size() == cv::Size(320, 240));
  CHECK(gray.channels() == 1);
}

TEST_CASE("a slow consumer (--slow-ms) drops frames but never accepts a bad one") {
  const auto feed = frameshm::test::uniqueFeed("slow");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto producer = launch::start(
      dir, "producer",
      {launch::producer(), "--feed", feed, "--fps", "200", "--width", "320", "--height", "240"});
  auto slow = launch::start(dir, "slow",
                              {launch::consumer(), "--feed", feed, "--verify", "--slow-ms", "50",
                               "--frames", "20", "--stats-json", "--timeout", "20"});
  INFO(slow.err());
  REQUIRE(slow.child.wait(60s) == 0);
  const std::string json = slow.out();
  INFO(json);
  CHECK(launch::jsonNumber(json, "frames") == 20);
  CHECK(launch::jsonNumber(json, "dropped") > 20);  // 200 fps against at most 20 reads a second
  CHECK(launch::jsonNumber(json, "verify_failures") == 0);
  producer.child.kill(SIGINT);
  CHECK(producer.child.wait(20s) == 0);
}

TEST_CASE("the consumer's --verify fails frames that carry no stamp and exits 1") {
  const auto feed = frameshm::test::uniqueFeed("nostamp");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  // A GStreamer test source: real frames, but not the stamped pattern.
  auto producer = launch::start(dir, "producer",
                                  {launch::producer(), "--feed", feed, "--source",
                                   "gst:videotestsrc ! video/x-raw,width=160,height=120,framerate=60/1 ! "
                                   "videoconvert ! video/x-raw,format=BGR ! appsink"});
  auto checker = launch::start(dir, "checker",
                                 {launch::consumer(), "--feed", feed, "--verify", "--frames", "10",
                                  "--stats-json", "--timeout", "20"});
  INFO(checker.err());
  CHECK(checker.child.wait(60s) == 1);
  CHECK(launch::jsonNumber(checker.out(), "verify_failures") == 10);
  CHECK(checker.err().find("no stamp") != std::string::npos);
  producer.child.kill(SIGTERM);
  CHECK(producer.child.wait(20s) == 0);
}

TEST_CASE("a GStreamer pipeline source is published until its end of stream, decoded into the slots") {
  const auto feed = frameshm::test::uniqueFeed("gst");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto consumer = launch::start(
      dir, "consumer",
      {launch::consumer(), "--feed", feed, "--exit-on-end", "--stats-json", "--timeout", "20"});
  auto producer =
      launch::start(dir, "producer",
                      {launch::producer(), "--feed", feed, "--format", "YUY2", "--source",
                       "gst:videotestsrc num-buffers=45 ! video/x-raw,width=200,height=150,framerate=30/1 "
                       "! videoconvert ! video/x-raw,format=BGR ! appsink"});
  INFO(producer.err());
  REQUIRE(producer.child.wait(60s) == 0);
  CHECK(producer.err().find("reached the end of the pipeline: 45 frames") != std::string::npos);
  INFO(consumer.err());
  REQUIRE(consumer.child.wait(30s) == 0);
  CHECK(consumer.out().find("\"formats_seen\":[\"YUY2 200x150\"]") != std::string::npos);
  CHECK(launch::jsonNumber(consumer.out(), "frames") > 0);
}

TEST_CASE("on a terminal both programs keep a live status line") {
  const auto feed = frameshm::test::uniqueFeed("tty");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  // script(1) gives each program a pseudo-terminal; its transcript is the terminal output.
  auto producer =
      launch::start(dir, "producer",
                      {"script", "-qfec", launch::producer() + " --feed " + feed + " --frames 90 --fps 60",
                       dir.file("producer.tty")});
  auto consumer = launch::start(
      dir, "consumer",
      {"script", "-qfec", launch::consumer() + " --feed " + feed + " --frames 60 --timeout 20",
       dir.file("consumer.tty")});
  REQUIRE(consumer.child.wait(60s) == 0);
  REQUIRE(producer.child.wait(60s) == 0);
  const std::string producerTty = frameshm::test::readFile(dir.file("producer.tty"));
  const std::string consumerTty = frameshm::test::readFile(dir.file("consumer.tty"));
  INFO(producerTty);
  INFO(consumerTty);
  CHECK(producerTty.find("\r\033[K" + feed + " BGR 640x480 @30/1") == std::string::npos);  // the rate is 60
  CHECK(producerTty.find("\r\033[K" + feed + " BGR 640x480 @60/1 | ") != std::string::npos);
  CHECK(producerTty.find(" readers | ") != std::string::npos);
  CHECK(consumerTty.find(" fps | ") != std::string::npos);
  CHECK(consumerTty.find(" dropped | ") != std::string::npos);
  CHECK(consumerTty.find("latency") != std::string::npos);
}
