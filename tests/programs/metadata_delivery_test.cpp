// SPDX-License-Identifier: LGPL-2.1-or-later
// The programs' metadata and delivery options: frameshm-producer --meta,
// frameshm-consumer --delivery, --record (sequential) and the last frame's
// metadata in --stats-json.
#include <signal.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "programs_support.hpp"

using namespace std::chrono_literals;

namespace {

nlohmann::json statsOf(const launch::Running& program) {
  const auto out = program.out();
  INFO(out << program.err());
  auto json = nlohmann::json::parse(out, nullptr, false);
  REQUIRE_FALSE(json.is_discarded());
  return json;
}

}  // namespace

TEST_CASE("producer --meta entries reach the consumer's --stats-json as the last frame's metadata, typed") {
  const auto feed = frameshm::test::uniqueFeed("meta-json");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto producer = launch::start(
      dir, "producer",
      {launch::producer(), "--feed", feed, "--width", "64", "--height", "48", "--fps", "100", "--meta",
       "exposure-us=8000", "--meta", "gain=2.5", "--meta", "lens=wide angle", "--meta", "empty="});
  auto latest =
      launch::start(dir, "latest",
                    {launch::consumer(), "--feed", feed, "--frames", "5", "--stats-json", "--timeout", "20"});
  auto sequential = launch::start(dir, "sequential",
                                  {launch::consumer(), "--feed", feed, "--frames", "5", "--stats-json",
                                   "--timeout", "20", "--delivery", "sequential"});
  REQUIRE(latest.child.wait(60s) == 0);
  REQUIRE(sequential.child.wait(60s) == 0);
  producer.child.kill(SIGINT);
  REQUIRE(producer.child.wait(20s) == 0);

  const auto json = statsOf(latest);
  CHECK(json["delivery"] == "latest");
  CHECK(json["last_metadata"] ==
        nlohmann::json({{"exposure-us", 8000}, {"gain", 2.5}, {"lens", "wide angle"}, {"empty", ""}}));
  CHECK(json["last_metadata"]["exposure-us"].is_number_integer());
  CHECK(statsOf(sequential)["delivery"] == "sequential");
  CHECK(statsOf(sequential)["last_metadata"] == json["last_metadata"]);
}

TEST_CASE("consumer --record reads with sequential delivery unless --delivery says otherwise") {
  const auto feed = frameshm::test::uniqueFeed("meta-record");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto producer = launch::start(
      dir, "producer",
      {launch::producer(), "--feed", feed, "--width", "64", "--height", "48", "--fps", "60", "--slots", "8"});
  auto recorder = launch::start(dir, "recorder",
                                {launch::consumer(), "--feed", feed, "--record", dir.file("a.avi"),
                                 "--frames", "10", "--verify", "--stats-json", "--timeout", "20"});
  auto viewer = launch::start(dir, "viewer",
                              {launch::consumer(), "--feed", feed, "--record", dir.file("b.avi"), "--frames",
                               "10", "--delivery", "latest", "--stats-json", "--timeout", "20"});
  REQUIRE(recorder.child.wait(60s) == 0);
  REQUIRE(viewer.child.wait(60s) == 0);
  producer.child.kill(SIGINT);
  REQUIRE(producer.child.wait(20s) == 0);
  const auto recorded = statsOf(recorder);
  CHECK(recorded["delivery"] == "sequential");
  CHECK(recorded["frames"] == 10);
  CHECK(recorded["verify_failures"] == 0);
  CHECK(recorded["last_metadata"] == nlohmann::json::object());  // none given
  CHECK(statsOf(viewer)["delivery"] == "latest");
}

TEST_CASE("bad --meta, metadata over --metadata-bytes and a bad --delivery exit 2 and leave nothing behind") {
  const auto feed = frameshm::test::uniqueFeed("meta-bad");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  struct Case {
    std::vector<std::string> argv;
    const char* says;
  };
  const Case cases[] = {
      {{launch::producer(), "--feed", feed, "--meta", "novalue"}, "is not KEY=VALUE"},
      {{launch::producer(), "--feed", feed, "--meta", "=1"}, "is not KEY=VALUE"},
      {{launch::producer(), "--feed", feed, "--meta", std::string(256, 'k') + "=1"}, "too long"},
      {{launch::producer(), "--feed", feed, "--meta", "k=" + std::string(100, 'x'), "--metadata-bytes", "64"},
       "more than --metadata-bytes 64"},
      {{launch::producer(), "--feed", feed, "--metadata-bytes", "2000000"}, "--metadata-bytes"},
      {{launch::consumer(), "--feed", feed, "--delivery", "every"}, "is not latest or sequential"},
  };
  int n = 0;
  for (const auto& c : cases) {
    auto program = launch::start(dir, "case" + std::to_string(n++), c.argv);
    INFO(program.err());
    CHECK(program.child.wait(30s) == 2);
    CHECK_THAT(program.err(), Catch::Contains(c.says));
    CHECK(launch::lineCount(program.err()) == 1);
    CHECK_FALSE(frameshm::test::segmentExists(feed));
  }
}
