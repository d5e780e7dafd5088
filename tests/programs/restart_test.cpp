// SPDX-License-Identifier: LGPL-2.1-or-later
// The consumer waits for a feed that does not exist yet, and follows it
// across producer restarts, whatever the new size or format.
#include <signal.h>

#include <catch2/catch.hpp>

#include "programs_support.hpp"

using namespace std::chrono_literals;

TEST_CASE("a consumer started first follows the feed across a restart with another size and format") {
  const auto feed = frameshm::test::uniqueFeed("restart");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto consumer = launch::start(
      dir, "consumer",
      {launch::consumer(), "--feed", feed, "--verify", "--frames", "150", "--stats-json", "--timeout", "30"});
  REQUIRE(consumer.child.running());
  auto first = launch::start(dir, "first",
                             {launch::producer(), "--feed", feed, "--frames", "60", "--fps", "100", "--width",
                              "320", "--height", "240"});
  INFO(first.err());
  REQUIRE(first.child.wait(60s) == 0);
  auto second = launch::start(dir, "second",
                              {launch::producer(), "--feed", feed, "--frames", "1000", "--fps", "100",
                               "--width", "160", "--height", "120", "--format", "I420"});
  INFO(consumer.err());
  REQUIRE(consumer.child.wait(60s) == 0);
  const std::string json = consumer.out();
  INFO(json);
  CHECK(launch::jsonNumber(json, "frames") == 150);
  CHECK(launch::jsonNumber(json, "generations") >= 2);
  CHECK(launch::jsonNumber(json, "verify_failures") == 0);
  CHECK(json.find("\"formats_seen\":[\"BGR 320x240\",\"I420 160x120\"]") != std::string::npos);
  CHECK(json.find("\"format\":\"I420\",\"width\":160,\"height\":120") != std::string::npos);
  CHECK(consumer.err().find("has ended; waiting up to 30 s for a new producer") != std::string::npos);
  CHECK(second.child.wait(60s) == 0);
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("with --exit-on-end the consumer exits 0 when the feed ends") {
  const auto feed = frameshm::test::uniqueFeed("exitonend");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto consumer =
      launch::start(dir, "consumer",
                    {launch::consumer(), "--feed", feed, "--exit-on-end", "--stats-json", "--timeout", "20"});
  auto producer =
      launch::start(dir, "producer", {launch::producer(), "--feed", feed, "--frames", "40", "--fps", "50"});
  REQUIRE(producer.child.wait(60s) == 0);
  INFO(consumer.err());
  REQUIRE(consumer.child.wait(20s) == 0);
  CHECK(launch::jsonNumber(consumer.out(), "feed_ends") == 1);
  CHECK(launch::jsonNumber(consumer.out(), "frames") > 0);
  CHECK(launch::jsonNumber(consumer.out(), "frames") <= 40);
  CHECK(consumer.err().find("has ended") != std::string::npos);
}

TEST_CASE(
    "without --exit-on-end the consumer gives up with exit 1 when no producer comes back within --timeout") {
  const auto feed = frameshm::test::uniqueFeed("noreturn");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto producer = launch::start(dir, "producer", {launch::producer(), "--feed", feed, "--fps", "50"});
  auto consumer = launch::start(dir, "consumer", {launch::consumer(), "--feed", feed, "--timeout", "10"});
  // The feed ends only once the consumer reads it (a slow start, under a
  // sanitizer, must not turn this into a feed that never appeared).
  REQUIRE(launch::waitForReaders(feed, 1, 60s));
  producer.child.kill(SIGTERM);
  REQUIRE(producer.child.wait(60s) == 0);
  const auto ended = std::chrono::steady_clock::now();
  const int code = consumer.child.wait(40s);
  INFO(consumer.err());
  CHECK(code == 1);
  CHECK(std::chrono::steady_clock::now() - ended >= 9s);  // it did wait for a new producer
  CHECK(consumer.err().find("ended and no producer came back within 10 s") != std::string::npos);
}
