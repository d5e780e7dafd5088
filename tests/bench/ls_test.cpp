// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-ls against real feeds: live ones with readers, stale ones left by a
// producer killed with SIGKILL, --clean, --json and bad flags.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "frameshm/consumer.hpp"
#include "frameshm/feeds.hpp"
#include "frameshm/producer.hpp"
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
nlohmann::json feedEntry(const std::string& text, const std::string& feed) {
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  REQUIRE(doc.is_object());
  for (const auto& entry : doc.value("feeds", nlohmann::json::array()))
    if (entry.value("name", std::string()) == feed) return entry;
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
  REQUIRE(entry.is_object());
  CHECK(entry.value("producerPid", NAN) == getpid());
  CHECK(entry.value("producerAlive", false));
  CHECK_FALSE(entry.value("stale", false));
  CHECK(entry.value("state", std::string()) == "live");
  CHECK(entry.value("format", std::string()) == "I420");
  CHECK(entry.value("width", NAN) == 64);
  CHECK(entry.value("slots", NAN) == 4);
  CHECK(entry.value("framesPublished", NAN) == 5);
  REQUIRE(entry.value("readers", nlohmann::json::array()).size() == 1);
  const auto& r = entry.at("readers").at(0);
  CHECK(r.value("pid", NAN) == reader.pid());
  CHECK(r.value("alive", false));
  CHECK(r.value("framesRead", NAN) >= 1);
  CHECK(r.contains("framesDropped"));
  producer->end();
  CHECK(reader.wait(10s) == 0);
}

TEST_CASE("frameshm-ls marks a killed producer's segment stale and --clean removes it") {
  const auto feed = frameshm::test::uniqueFeed("ls-stale");
  FeedGuard guard(feed);
  auto producer = Child::fork([&] {
    // POSIX: the backend whose killed producer leaves something (its file) to clean.
    auto created = frameshm::Producer::create(
        {.feed = feed, .format = smallFormat(), .backend = frameshm::Backend::Posix});
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
  REQUIRE(entry.is_object());
  CHECK(entry.value("stale", false));
  CHECK_FALSE(entry.value("producerAlive", false));
  CHECK(runLs({}).out.find("stale") != std::string::npos);

  const auto cleaned = runLs({"--clean", "--json", feed});
  REQUIRE(cleaned.code == 0);
  entry = feedEntry(cleaned.out, feed);
  CHECK(entry.value("removed", false));
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("frameshm-ls --clean never removes a live feed") {
  const auto feed = frameshm::test::uniqueFeed("ls-keep");
  FeedGuard guard(feed);
  auto producer = frameshm::Producer::create({.feed = feed, .format = smallFormat()});
  REQUIRE(producer);
  // Named: a bare --clean would also remove the stale feeds of tests running
  // beside this one (the test above counts on its own).
  const auto cleaned = runLs({"--clean", "--json", feed});
  REQUIRE(cleaned.code == 0);
  const auto entry = feedEntry(cleaned.out, feed);
  REQUIRE(entry.is_object());
  CHECK_FALSE(entry.value("removed", false));
  CHECK_FALSE(entry.value("stale", false));
  CHECK(frameshm::test::segmentExists(feed));
  std::vector<std::byte> frame(smallFormat().frameSize);
  CHECK(producer->write(frame));
}

TEST_CASE("frameshm-ls --json with no feed of ours still parses") {
  const auto listed = runLs({"--json"});
  REQUIRE(listed.code == 0);
  const auto doc = nlohmann::json::parse(listed.out, nullptr, false);
  REQUIRE(doc.is_object());
  CHECK(doc.contains("feeds"));
  CHECK(doc.value("feeds", nlohmann::json()).is_array());
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
