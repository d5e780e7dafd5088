// SPDX-License-Identifier: LGPL-2.1-or-later
// One pattern producer, two verifying consumers: every accepted frame is
// exactly the frame published, at a steady rate and flat out.
#include <signal.h>

#include <catch2/catch.hpp>

#include "programs_support.hpp"

using namespace std::chrono_literals;

namespace {

void runFanout(const std::string& fps, const std::string& size) {
  const auto feed = frameshm::test::uniqueFeed("fanout");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  const auto [width, height] = std::pair{size.substr(0, size.find('x')), size.substr(size.find('x') + 1)};
  auto producer = launch::start(
      dir, "producer",
      {launch::producer(), "--feed", feed, "--fps", fps, "--width", width, "--height", height});
  std::vector<launch::Running> consumers;
  for (const char* name : {"c1", "c2"})
    consumers.push_back(launch::start(dir, name,
                                        {launch::consumer(), "--feed", feed, "--verify", "--frames", "300",
                                         "--stats-json", "--timeout", "20"}));
  for (auto& consumer : consumers) {
    INFO(consumer.err());
    REQUIRE(consumer.child.wait(120s) == 0);
    const std::string json = consumer.out();
    INFO(json);
    CHECK(launch::jsonNumber(json, "frames") == 300);
    CHECK(launch::jsonNumber(json, "verify_failures") == 0);
    CHECK(launch::jsonNumber(json, "width") == std::stod(width));
    CHECK(json.find("\"format\":\"BGR\"") != std::string::npos);
    CHECK(launch::jsonNumber(json, "p50") >= 0);
    CHECK(launch::jsonNumber(json, "max") >= launch::jsonNumber(json, "p99"));
  }
  producer.child.kill(SIGINT);
  INFO(producer.err());
  CHECK(producer.child.wait(20s) == 0);
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

}  // namespace

TEST_CASE("two verifying consumers of a 60 fps pattern accept 300 frames each, none failing verification") {
  runFanout("60", "640x480");
}

TEST_CASE(
    "flat out (--fps 0) no consumer accepts a torn frame: torn reads are discarded, never verified bad") {
  runFanout("0", "320x240");
}
