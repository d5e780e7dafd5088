// SPDX-License-Identifier: LGPL-2.1-or-later
// SIGINT and SIGTERM end the producer's feed cleanly: exit 0, its consumers
// see the end, and /dev/shm holds nothing.
#include <signal.h>

#include <catch2/catch.hpp>
#include <thread>

#include "programs_support.hpp"

using namespace std::chrono_literals;

TEST_CASE("SIGINT or SIGTERM to the producer ends the feed cleanly for its consumers") {
  const int signal = GENERATE(SIGINT, SIGTERM);
  INFO("signal " << signal);
  const auto feed = frameshm::test::uniqueFeed("signal");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto producer = launch::start(dir, "producer", {launch::producer(), "--feed", feed, "--fps", "60"});
  std::vector<launch::Running> consumers;
  for (const char* name : {"c1", "c2"})
    consumers.push_back(launch::start(
        dir, name,
        {launch::consumer(), "--feed", feed, "--exit-on-end", "--stats-json", "--timeout", "20"}));
  REQUIRE(launch::waitForReaders(feed, 2, 30s));
  REQUIRE(launch::waitForFrames(feed, 30s));
  std::this_thread::sleep_for(300ms);  // let both read a few frames
  producer.child.kill(signal);
  INFO(producer.err());
  REQUIRE(producer.child.wait(20s) == 0);
  CHECK(producer.err().find(signal == SIGINT ? "stopped by SIGINT" : "stopped by SIGTERM") !=
        std::string::npos);
  CHECK_FALSE(frameshm::test::segmentExists(feed));
  for (auto& consumer : consumers) {
    INFO(consumer.err());
    REQUIRE(consumer.child.wait(20s) == 0);
    CHECK(launch::jsonNumber(consumer.out(), "feed_ends") == 1);
    CHECK(launch::jsonNumber(consumer.out(), "frames") > 0);
    CHECK(consumer.err().find("feed '" + feed + "' has ended") != std::string::npos);
  }
}

TEST_CASE("SIGINT to a consumer stops it with exit 0 and its figures") {
  const auto feed = frameshm::test::uniqueFeed("sigcons");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto producer = launch::start(dir, "producer", {launch::producer(), "--feed", feed, "--fps", "60"});
  auto consumer = launch::start(dir, "consumer",
                                  {launch::consumer(), "--feed", feed, "--stats-json", "--timeout", "20"});
  REQUIRE(launch::waitForReaders(feed, 1, 30s));
  std::this_thread::sleep_for(500ms);
  consumer.child.kill(SIGINT);
  INFO(consumer.err());
  REQUIRE(consumer.child.wait(20s) == 0);
  CHECK(launch::jsonNumber(consumer.out(), "frames") > 0);
  CHECK(launch::jsonNumber(consumer.out(), "feed_ends") == 0);
  producer.child.kill(SIGINT);
  CHECK(producer.child.wait(20s) == 0);
}
