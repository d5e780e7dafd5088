// SPDX-License-Identifier: LGPL-2.1-or-later
// The plugin against the command-line programs: frames from frameshm-producer
// read by frameshmsrc, frames from frameshmsink read by frameshm-consumer.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "frameshm/stamp.hpp"
#include "gst_test_support.hpp"
#include "test_support.hpp"

using frameshm::test::Child;
using frameshm::test::FeedGuard;
using frameshm::test::FrameTap;
using frameshm::test::Pipeline;
using frameshm::test::uniqueFeed;
using namespace std::chrono_literals;

namespace {

// The number after `"key":` in a one-line JSON object, or -1.
long long jsonNumber(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + key.size() + 3));
}

}  // namespace

TEST_CASE("frames written by frameshm-producer are read by frameshmsrc with the producer's caps") {
  for (const char* format : {"BGR", "NV12", "YUY2"}) {
    INFO(format);
    const std::string feed = uniqueFeed("fromprog");
    FeedGuard guard(feed);
    frameshm::test::TempDir dir;
    auto in = Pipeline::launch("frameshmsrc name=src timeout=15000 feed=" + feed +
                               " ! identity name=tap ! fakesink");
    FrameTap read(in.element("tap"), 320 * 240 * 3);
    REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
    auto producer = Child::spawn({FRAMESHM_PRODUCER, "--feed", feed, "--format", format, "--width", "320",
                                  "--height", "240", "--fps", "60", "--frames", "90"},
                                 {}, dir.file("producer.out"), dir.file("producer.err"));
    INFO("producer stderr: " << frameshm::test::readFile(dir.file("producer.err")));
    REQUIRE(producer.wait(30s) == 0);
    const auto end = in.waitEnd(20s);
    INFO(end.errorMessage << " / " << end.errorDebug);
    REQUIRE(end.eos);
    const auto frames = read.frames();
    REQUIRE(frames.size() >= 30);
    for (const auto& frame : frames) {
      CHECK(frame.format == format);
      CHECK(frame.width == 320);
      CHECK(frame.height == 240);
      CHECK(frameshm::checkStamp(std::span<const std::byte>(frame.head)) == frameshm::StampCheck::Ok);
    }
  }
}

TEST_CASE("frames written by frameshmsink are read by frameshm-consumer") {
  const std::string feed = uniqueFeed("toprog");
  FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto consumer =
      Child::spawn({FRAMESHM_CONSUMER, "--feed", feed, "--timeout", "15", "--exit-on-end", "--stats-json"},
                   {}, dir.file("consumer.out"), dir.file("consumer.err"));
  // 150 frames (5 s): the consumer may attach a few seconds late (a loaded
  // machine, a sanitizer's start-up) and still reads well over 30 of them.
  auto out = Pipeline::launch(
      "videotestsrc is-live=true num-buffers=150 ! "
      "video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! "
      "frameshmsink feed=" +
      feed);
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  REQUIRE(out.waitEnd(20s).eos);
  const int code = consumer.wait(20s);
  const std::string json = frameshm::test::readFile(dir.file("consumer.out"));
  INFO("consumer stdout: " << json);
  INFO("consumer stderr: " << frameshm::test::readFile(dir.file("consumer.err")));
  REQUIRE(code == 0);
  CHECK_THAT(json, Catch::Contains("\"formats_seen\":[\"I420 320x240\"]"));
  CHECK(jsonNumber(json, "frames") >= 30);
  CHECK(jsonNumber(json, "torn") == 0);
}
