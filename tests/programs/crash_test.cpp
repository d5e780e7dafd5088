// SPDX-License-Identifier: LGPL-2.1-or-later
// Crashes with the programs: frameshm-producer and frameshm-consumer killed
// with SIGKILL, as a camera process or a viewer would die in the field.
#include <catch2/catch.hpp>

#include <signal.h>

#include <thread>

#include "frameshm/feeds.hpp"
#include "programs_support.hpp"

using namespace std::chrono_literals;

TEST_CASE("a running consumer reports a killed producer and follows its replacement in another format") {
  const auto feed = frameshm::test::uniqueFeed("pkill");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto consumer = launch::start(dir, "consumer",
                                  {launch::consumer(), "--feed", feed, "--verify", "--frames", "120",
                                   "--stats-json", "--timeout", "30"});
  auto first = launch::start(dir, "first", {launch::producer(), "--feed", feed, "--fps", "100"});
  REQUIRE(launch::waitForReaders(feed, 1, 20s));
  REQUIRE(launch::waitForFrames(feed, 20s));
  std::this_thread::sleep_for(300ms);
  first.child.kill(SIGKILL);
  REQUIRE(first.child.wait(10s) == 128 + SIGKILL);
  CHECK_FALSE(frameshm::test::segmentExists(feed));  // memfd, the default: a crash leaves nothing behind

  auto second = launch::start(dir, "second",
                                {launch::producer(), "--feed", feed, "--fps", "100", "--frames", "2000",
                                 "--format", "NV12", "--width", "322", "--height", "242"});
  INFO(consumer.err());
  INFO(second.err());
  REQUIRE(consumer.child.wait(60s) == 0);
  const std::string json = consumer.out();
  INFO(json);
  CHECK(launch::jsonNumber(json, "frames") == 120);
  CHECK(launch::jsonNumber(json, "verify_failures") == 0);
  CHECK(launch::jsonNumber(json, "generations") >= 2);
  CHECK(json.find("\"format\":\"NV12\",\"width\":322,\"height\":242") != std::string::npos);
  CHECK(consumer.err().find("died; waiting up to 30 s for a new producer") != std::string::npos);
  second.child.kill(SIGTERM);
  CHECK(second.child.wait(20s) == 0);
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("a consumer killed with SIGKILL does not stop the producer and its reader slot is reclaimed") {
  const auto feed = frameshm::test::uniqueFeed("ckill");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto producer = launch::start(dir, "producer",
                                  {launch::producer(), "--feed", feed, "--fps", "100", "--frames", "400"});
  auto victim = launch::start(dir, "victim", {launch::consumer(), "--feed", feed, "--timeout", "20"});
  REQUIRE(launch::waitForReaders(feed, 1, 20s));
  victim.child.kill(SIGKILL);
  REQUIRE(victim.child.wait(10s) == 128 + SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  std::size_t readers = 1;
  while (readers > 0 && std::chrono::steady_clock::now() - killed < 5s) {
    auto info = frameshm::inspectFeed(feed);
    REQUIRE(info);
    readers = info->readers.size();
    std::this_thread::sleep_for(20ms);
  }
  const auto reclaimed = std::chrono::steady_clock::now() - killed;
  CHECK(readers == 0);
  WARN("reader slot reclaimed " << std::chrono::duration_cast<std::chrono::milliseconds>(reclaimed).count()
                                << " ms after the kill");
  auto next = launch::start(dir, "next",
                              {launch::consumer(), "--feed", feed, "--frames", "20", "--stats-json"});
  CHECK(next.child.wait(30s) == 0);
  CHECK(launch::jsonNumber(next.out(), "frames") == 20);
  INFO(producer.err());
  REQUIRE(producer.child.wait(30s) == 0);  // it never stopped: all its frames went out
  CHECK(producer.err().find("400 frames") != std::string::npos);
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}
