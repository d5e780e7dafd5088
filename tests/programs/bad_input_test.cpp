// SPDX-License-Identifier: LGPL-2.1-or-later
// Every kind of bad input: one line on stderr saying what is wrong, exit
// code 2, and nothing left in /dev/shm.
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "programs_support.hpp"

using namespace std::chrono_literals;

namespace {

struct BadCase {
  const char* what;
  std::vector<std::string> argv;  // "{feed}" and "{dir}" are filled in
  const char* message;
};

std::vector<std::string> expand(std::vector<std::string> argv, const std::string& feed,
                                const std::string& dir) {
  for (auto& arg : argv) {
    for (auto [key, value] : {std::pair{std::string("{feed}"), feed}, std::pair{std::string("{dir}"), dir}})
      if (auto at = arg.find(key); at != std::string::npos) arg.replace(at, key.size(), value);
  }
  return argv;
}

}  // namespace

TEST_CASE("bad input to either program exits 2 with one clear line and leaves no segment") {
  const std::string P = launch::producer(), C = launch::consumer();
  const std::vector<BadCase> cases = {
      {"unknown producer flag", {P, "--feed", "{feed}", "--bogus"}, "--bogus"},
      {"non-numeric width", {P, "--feed", "{feed}", "--width", "wide"}, "--width"},
      {"unsupported format", {P, "--feed", "{feed}", "--format", "P010"}, "unsupported format 'P010'"},
      {"missing camera",
       {P, "--feed", "{feed}", "--source", "camera:57"},
       "camera /dev/video57 does not exist"},
      {"missing camera device",
       {P, "--feed", "{feed}", "--source", "/dev/video58"},
       "/dev/video58 does not exist"},
      {"camera without a number", {P, "--feed", "{feed}", "--source", "camera:front"}, "camera:N"},
      {"missing file", {P, "--feed", "{feed}", "--source", "file:{dir}/none.avi"}, "does not exist"},
      {"file that is no video",
       {P, "--feed", "{feed}", "--source", "file:{dir}/notes.txt"},
       "cannot be opened"},
      {"unknown source", {P, "--feed", "{feed}", "--source", "webcam"}, "is not one of pattern"},
      {"invalid feed name", {P, "--feed", "{feed}/x"}, "feed name"},
      {"bad mode", {P, "--feed", "{feed}", "--mode", "rw"}, "--mode 'rw'"},
      {"too few slots", {P, "--feed", "{feed}", "--slots", "1"}, "slot"},
      {"zero width", {P, "--feed", "{feed}", "--width", "0"}, "positive"},
      {"unknown consumer flag", {C, "--feed", "{feed}", "--colour"}, "--colour"},
      {"consumer feed that never appears",
       {C, "--feed", "{feed}", "--timeout", "0.3"},
       "did not appear within"},
      {"consumer invalid feed name", {C, "--feed", "bad name{feed}"}, "feed name"},
      {"unknown process", {C, "--feed", "{feed}", "--process", "sharpen"}, "--process: 'sharpen' is not one of"},
      {"snapshot not png", {C, "--feed", "{feed}", "--snapshot", "{dir}/x.jpg"}, ".png"},
      {"display without X",
       {"env", "-u", "DISPLAY", "-u", "WAYLAND_DISPLAY", C, "--feed", "{feed}", "--display"},
       "DISPLAY"},
  };
  frameshm::test::TempDir dir;
  std::ofstream(dir.file("notes.txt")) << "not a video\n";
  for (const auto& bad : cases) {
    const auto feed = frameshm::test::uniqueFeed("bad");
    frameshm::test::FeedGuard guard(feed);
    INFO(bad.what);
    auto run = launch::start(dir, "run", expand(bad.argv, feed, dir.path()));
    CHECK(run.child.wait(30s) == 2);
    const std::string err = run.err();
    INFO(err);
    CHECK(launch::lineCount(err) == 1);
    CHECK(err.find(bad.message) != std::string::npos);
    CHECK_FALSE(frameshm::test::segmentExists(feed));
  }
}

TEST_CASE("a second producer of a live feed is refused with exit 2 unless --replace, which takes it over") {
  const auto feed = frameshm::test::uniqueFeed("twice");
  frameshm::test::FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto first = launch::start(dir, "first", {launch::producer(), "--feed", feed});
  REQUIRE(launch::waitForFrames(feed, 20s));

  auto refused = launch::start(dir, "refused", {launch::producer(), "--feed", feed});
  CHECK(refused.child.wait(20s) == 2);
  CHECK(launch::lineCount(refused.err()) == 1);
  CHECK(refused.err().find("is already produced by pid " + std::to_string(first.child.pid())) !=
        std::string::npos);
  CHECK(first.child.running());  // the refusal did not disturb the live feed

  auto replacing = launch::start(dir, "replacing", {launch::producer(), "--feed", feed, "--replace"});
  INFO(first.err());
  CHECK(first.child.wait(20s) == 1);  // taken over: it ends with a runtime failure
  CHECK(first.err().find("frameshm-producer: ") != std::string::npos);
  replacing.child.kill(SIGINT);
  CHECK(replacing.child.wait(20s) == 0);
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}
