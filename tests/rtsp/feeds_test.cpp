// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-rtsp following its feeds: a producer that restarts at another
// size keeps its clients, a feed that ends ends them cleanly, a feed that
// appears later is served, --feed limits what is served.
#include <catch2/catch.hpp>
#include <thread>

#include "rtsp_test_support.hpp"

using namespace rtsptest;
using frameshm::test::FeedGuard;
using frameshm::test::TempDir;
using frameshm::test::uniqueFeed;

namespace {

bool has404(const Finished& probe) {
  return probe.code != 0 && probe.err.find("404") != std::string::npos;
}

// ffmpeg watching `url` with every decoded frame's size and time on stderr.
std::vector<std::string> watcher(const std::string& url) {
  return {"ffmpeg", "-nostdin", "-rtsp_transport", "tcp", "-i", url, "-vf", "showinfo", "-f", "null", "-"};
}

}  // namespace

TEST_CASE("a producer restarting at another size keeps its clients, who get the new size") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-restart");
  FeedGuard guard(feed);
  auto first = startProducer(dir, feed, 640, 480, "first");
  auto server = startServer(dir, {"--feed", feed, "--end-grace", "30"});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  auto ffmpeg = start(dir, "ffmpeg", watcher(server.url(feed)));
  REQUIRE(waitForText(ffmpeg.errPath, "s:640x480"));

  REQUIRE(first.child.stop(10s) == 0);  // the feed ends; the server waits for it
  auto second = startProducer(dir, feed, 320, 240, "second");
  CHECK(waitForText(ffmpeg.errPath, "s:320x240"));
  CHECK(ffmpeg.child.running());

  // A client that joins now sees the new size too.
  const auto probe = run(dir, "ffprobe", ffprobe(server.url(feed)));
  INFO(probe.err);
  CHECK(probe.out.find("width=320") != std::string::npos);

  ffmpeg.child.stop(10s);
  const auto frames = shownFrames(ffmpeg.err());
  REQUIRE(!frames.empty());
  CHECK(frames.front().size == "640x480");
  CHECK(frames.back().size == "320x240");
  // No frame of another size in between: the change is clean.
  for (const auto& frame : frames) CHECK((frame.size == "640x480" || frame.size == "320x240"));
  CHECK(server.process.err().find("ended") == std::string::npos);
  CHECK(server.process.child.stop(10s) == 0);
}

TEST_CASE("a feed that ends ends its clients cleanly and is then unknown") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-end");
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, 320, 240);
  auto server = startServer(dir, {"--end-grace", "0.5"});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  auto ffmpeg = start(dir, "ffmpeg", watcher(server.url(feed)));
  auto rtspsrc = start(dir, "rtspsrc",
                       {"gst-launch-1.0", "-v", "rtspsrc", "location=" + server.url(feed), "!", "decodebin",
                        "!", "fakesink", "silent=false", "sync=false"});
  REQUIRE(waitForText(ffmpeg.errPath, "s:320x240"));
  REQUIRE(waitForText(rtspsrc.outPath, "last-message = chain"));  // a decoded frame

  REQUIRE(producer.child.stop(10s) == 0);
  // Both players stop by themselves (RTCP BYE, then the server closes their
  // connection), without an error; the timeouts only guard against a hang.
  INFO(ffmpeg.err());
  CHECK(ffmpeg.child.wait(60s) == 0);
  INFO(rtspsrc.out() << rtspsrc.err());
  CHECK(rtspsrc.child.wait(60s) == 0);
  CHECK(rtspsrc.out().find("Got EOS") != std::string::npos);
  CHECK(waitForText(server.process.errPath, "feed '" + feed + "' ended"));
  CHECK(has404(run(dir, "ffprobe", ffprobe(server.url(feed)))));
  CHECK(server.process.child.running());
  CHECK(server.process.child.stop(10s) == 0);
}

TEST_CASE("a feed that appears after the server started is served") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-late");
  FeedGuard guard(feed);
  auto server = startServer(dir, {});
  REQUIRE(server.port > 0);
  CHECK(has404(run(dir, "before", ffprobe(server.url(feed)))));
  auto producer = startProducer(dir, feed, 320, 240);
  REQUIRE(server.waitForMount(feed));
  const auto probe = run(dir, "after", ffprobe(server.url(feed)));
  INFO(probe.err);
  CHECK(probe.code == 0);
  CHECK(probe.out.find("width=320") != std::string::npos);
  CHECK(server.process.child.stop(10s) == 0);
}

TEST_CASE("only the feeds named by --feed are served") {
  TempDir dir;
  const auto named = uniqueFeed("rtsp-named");
  const auto other = uniqueFeed("rtsp-other");
  FeedGuard guardNamed(named), guardOther(other);
  auto producerNamed = startProducer(dir, named, 320, 240, "named");
  auto producerOther = startProducer(dir, other, 320, 240, "other");
  auto server = startServer(dir, {"--feed", named});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(named));
  CHECK(run(dir, "named", ffprobe(server.url(named))).code == 0);
  CHECK(has404(run(dir, "other", ffprobe(server.url(other)))));
  CHECK(server.process.err().find(other) == std::string::npos);
  CHECK(server.process.child.stop(10s) == 0);
}
