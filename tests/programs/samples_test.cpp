// SPDX-License-Identifier: LGPL-2.1-or-later
// The tutorial samples build and do what their comments say.
#include <signal.h>

#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>

#include "programs_support.hpp"

using namespace std::chrono_literals;

TEST_CASE("the minimal producer sample feeds the processing consumer sample") {
  const auto feed = frameshm::test::uniqueFeed("sample");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  const std::string edges = dir.file("edges.png");
  auto consumer = launch::start(dir, "consumer", {FRAMESHM_SAMPLE_CONSUMER, feed, "60", edges});
  auto producer = launch::start(dir, "producer", {FRAMESHM_SAMPLE_PRODUCER, feed, "120"});
  INFO(consumer.err());
  REQUIRE(consumer.child.wait(60s) == 0);
  CHECK(consumer.out().find("processed 60 frames") != std::string::npos);
  const cv::Mat image = cv::imread(edges, cv::IMREAD_GRAYSCALE);
  REQUIRE(image.size() == cv::Size(640, 480));
  CHECK(cv::countNonZero(image) > 100);  // the sample draws text and a box: there are edges
  INFO(producer.err());
  REQUIRE(producer.child.wait(60s) == 0);
  CHECK(producer.out().find("done: 120 frames") != std::string::npos);
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("the samples report a missing feed and a taken feed with exit 2") {
  const auto feed = frameshm::test::uniqueFeed("samplebad");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto lonely = launch::start(dir, "lonely", {FRAMESHM_SAMPLE_CONSUMER, feed, "10"});
  CHECK(lonely.child.wait(30s) == 2);
  CHECK(lonely.err().find("did not appear") != std::string::npos);
  auto producer = launch::start(dir, "producer", {launch::producer(), "--feed", feed});
  REQUIRE(launch::waitForFrames(feed, 20s));
  auto second = launch::start(dir, "second", {FRAMESHM_SAMPLE_PRODUCER, feed, "10"});
  CHECK(second.child.wait(30s) == 2);
  CHECK(second.err().find("already produced") != std::string::npos);
  producer.child.kill(SIGTERM);
  CHECK(producer.child.wait(20s) == 0);
}
