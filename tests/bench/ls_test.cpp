// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-ls against real feeds: live ones with readers, stale ones left by a
// producer killed with SIGKILL, --clean, --json and bad flags.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <thread>

#include "frameshm/consumer.hpp"
#include "frameshm/feeds.hpp"
#include "frameshm/producer.hpp"
#include "json_reader.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using frameshm::test::Child;
using frameshm::test::FeedGuard;
using frameshm::test::TempDir;

namespace {

struct Output {
  int code;
  std::string out, err;
};

Output runLs(const std::vector<std::string>& args) {
  TempDir dir;
  std::vector<std::string> argv = {FRAMESHM_LS};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = Child::spawn(argv, {}, dir.file("out"), dir.file("err"));
  const int code = child.wait(30s);
  return {code, frameshm::test::readFile(dir.file("out")), frameshm::test::readFile(dir.file("err"))};
}

// The entry of `feed` in `frameshm-ls --json` output, or null.
frameshm::tools::json::Value feedEntry(const std::string& text, const std::string& feed) {
  auto doc = frameshm::tools::json::parse(text);
  REQUIRE(doc);
  for (const auto& entry : (*doc)["feeds"].array())
    if (entry["name"].string() == feed) return entry;
  return {};
}

frameshm::FrameFormat smallFormat() {
  return *frameshm::makeFormat(frameshm::PixelFormat::I420, 64, 48, {30, 1});
}

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace

TEST_CASE("frameshm-ls lists a live feed with its producer, format and readers") {
  const auto feed = frameshm::test::uniqueFeed("ls-live");
  FeedGuard guard(feed);
  auto producer = frameshm::Producer::create({.feed = feed, .format = smallFormat(), .slots = 4});
  REQUIRE(producer);
  auto reader = Child::fork([&] {
    auto consumer = frameshm::Consumer::open({.feed = feed, .openTimeout = 10s});
    if (!consumer) return 1;
    for (;;) {
      auto frame = consumer->waitFrame(10s);
      if (!frame && frame.error().code != frameshm::ErrorCode::Timeout) return 0;
    }
  });
  REQUIRE(waitFor([&] { return producer->readerCount() == 1; }, 10s));
  std::vector<std::byte> frame(smallFormat().frameSize);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(producer->write(frame));
    std::this_thread::sleep_for(20ms);
  }

  const auto table = runLs({});
  CHECK(table.code == 0);
  CHECK(table.out.find(feed) != std::string::npos);
  CHECK(table.out.find("I420 64x48") != std::string::npos);
  CHECK(table.out.find("pid " + std::to_string(reader.pid())) != std::string::npos);

  const auto listed = runLs({"--json", feed});
  REQUIRE(listed.code == 0);
  const auto entry = feedEntry(listed.out, feed);
  REQUIRE(entry.isObject());
  CHECK(entry["producerPid"].number() == getpid());
  CHECK(entry["producerAlive"].boolean());
  CHECK_FALSE(entry["stale"].boolean());
  CHECK(entry["state"].string() == "live");
  CHECK(entry["format"].string() == "I420");
  CHECK(entry["width"].number() == 64);
  CHECK(entry["slots"].number() == 4);
  CHECK(entry["framesPublished"].number() == 5);
  REQUIRE(entry["readers"].array().size() == 1);
  const auto& r = entry["readers"].array()[0];
  CHECK(r["pid"].number() == reader.pid());
  CHECK(r["alive"].boolean());
  CHECK(r["framesRead"].number() >= 1);
  CHECK(r.has("framesDropped"));
  producer->end();
  CHECK(reader.wait(10s) == 0);
}

TEST_CASE("frameshm-ls marks a killed producer's segment stale and --clean removes it") {
  const auto feed = frameshm::test::uniqueFeed("ls-stale");
  FeedGuard guard(feed);
  auto producer = Child::fork([&] {
    // POSIX: the backend whose killed producer leaves something (its file) to clean.
    auto created =
        frameshm::Producer::create({.feed = feed, .format = smallFormat(), .backend = frameshm::Backend::Posix});
    if (!created) return 1;
    std::vector<std::byte> frame(smallFormat().frameSize);
    (void)created->write(frame);
    for (;;) std::this_thread::sleep_for(1s);
  });
  REQUIRE(waitFor([&] { return frameshm::test::segmentExists(feed); }, 10s));
  // The feed is ready once its first frame is out.
  REQUIRE(waitFor(
      [&] {
        auto i = frameshm::inspectFeed(feed);
        return i && i->framesPublished == 1;
      },
      10s));
  producer.kill(SIGKILL);
  CHECK(producer.wait(10s) == 128 + SIGKILL);

  const auto listed = runLs({"--json"});
  REQUIRE(listed.code == 0);
  auto entry = feedEntry(listed.out, feed);
  REQUIRE(entry.isObject());
  CHECK(entry["stale"].boolean());
  CHECK_FALSE(entry["producerAlive"].boolean());
  CHECK(runLs({}).out.find("stale") != std::string::npos);

  const auto cleaned = runLs({"--clean", "--json", feed});
  REQUIRE(cleaned.code == 0);
  entry = feedEntry(cleaned.out, feed);
  CHECK(entry["removed"].boolean());
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("frameshm-ls --clean never removes a live feed") {
  const auto feed = frameshm::test::uniqueFeed("ls-keep");
  FeedGuard guard(feed);
  auto producer = frameshm::Producer::create({.feed = feed, .format = smallFormat()});
  REQUIRE(producer);
  const auto cleaned = runLs({"--clean", "--json"});
  REQUIRE(cleaned.code == 0);
  const auto entry = feedEntry(cleaned.out, feed);
  REQUIRE(entry.isObject());
  CHECK_FALSE(entry["removed"].boolean());
  CHECK_FALSE(entry["stale"].boolean());
  CHECK(frameshm::test::segmentExists(feed));
  std::vector<std::byte> frame(smallFormat().frameSize);
  CHECK(producer->write(frame));
}

TEST_CASE("frameshm-ls --json with no feed of ours still parses") {
  const auto listed = runLs({"--json"});
  REQUIRE(listed.code == 0);
  auto doc = frameshm::tools::json::parse(listed.out);
  REQUIRE(doc);
  CHECK((*doc)["feeds"].isArray());
}

TEST_CASE("frameshm-ls rejects a bad flag or a missing feed with exit 2 and one line") {
  auto bad = runLs({"--no-such-flag"});
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--no-such-flag") != std::string::npos);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);

  const auto missing = runLs({frameshm::test::uniqueFeed("ls-missing")});
  CHECK(missing.code == 2);
  CHECK(missing.err.find("does not exist") != std::string::npos);
  CHECK(std::count(missing.err.begin(), missing.err.end(), '\n') == 1);
  CHECK(missing.out.empty());

  const auto invalid = runLs({"bad/name"});
  CHECK(invalid.code == 2);
  CHECK(std::count(invalid.err.begin(), invalid.err.end(), '\n') == 1);
}
