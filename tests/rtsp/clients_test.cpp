// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-rtsp as independent players see it: ffprobe, ffmpeg and
// GStreamer's rtspsrc, alone and four at once, H.264 and JPEG.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "rtsp_test_support.hpp"

using namespace rtsptest;
using frameshm::test::FeedGuard;
using frameshm::test::TempDir;
using frameshm::test::uniqueFeed;

namespace {

// ffprobe's view of a feed of `width`x`height` served with `options`.
void checkProbe(const std::string& name, const std::vector<std::string>& options, int width, int height,
                const std::string& codec) {
  TempDir dir;
  const auto feed = uniqueFeed(name);
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, width, height);
  std::vector<std::string> args{"--feed", feed};
  args.insert(args.end(), options.begin(), options.end());
  auto server = startServer(dir, args);
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  const auto probe = run(dir, "ffprobe", ffprobe(server.url(feed)));
  INFO(probe.err);
  CHECK(probe.code == 0);
  CHECK(probe.out.find("codec_name=" + codec) != std::string::npos);
  CHECK(probe.out.find("width=" + std::to_string(width)) != std::string::npos);
  CHECK(probe.out.find("height=" + std::to_string(height)) != std::string::npos);
  CHECK(server.process.child.stop(10s) == 0);
}

}  // namespace

TEST_CASE("ffprobe reports H.264 and the feed's size") {
  checkProbe("rtsp-probe", {}, 320, 240, "h264");
}

TEST_CASE("with --codec jpeg ffprobe reports motion JPEG at the feed's size") {
  checkProbe("rtsp-jpeg", {"--codec", "jpeg"}, 352, 288, "mjpeg");
}

TEST_CASE("ffmpeg records 60 frames that decode without an error") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-record");
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, 320, 240);
  auto server = startServer(dir, {"--feed", feed});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  // Over TCP, so that a loaded machine loses no packet: any decoding error
  // is then the stream's fault.
  const auto out = dir.file("frames.yuv");
  const auto record =
      run(dir, "ffmpeg",
          {"ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", server.url(feed), "-frames:v",
           "60", "-f", "rawvideo", "-pix_fmt", "yuv420p", out});
  INFO(record.err);
  CHECK(record.code == 0);
  CHECK(record.err.empty());
  CHECK(frameshm::test::readFile(out).size() == 60u * 320 * 240 * 3 / 2);
  CHECK(server.process.child.stop(10s) == 0);
}

TEST_CASE("another H.264 encoder by --encoder gives frames that decode without an error") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-encoder");
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, 320, 240);
  auto server = startServer(dir, {"--feed", feed, "--encoder", "openh264enc complexity=low"});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  const auto out = dir.file("frames.yuv");
  const auto record =
      run(dir, "ffmpeg",
          {"ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", server.url(feed), "-frames:v",
           "30", "-f", "rawvideo", "-pix_fmt", "yuv420p", out});
  INFO(record.err << server.process.err());
  CHECK(record.code == 0);
  CHECK(record.err.empty());
  CHECK(frameshm::test::readFile(out).size() == 30u * 320 * 240 * 3 / 2);
  CHECK(server.process.child.stop(10s) == 0);
}

TEST_CASE("gst-launch-1.0 rtspsrc ! decodebin plays the feed") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-gst");
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, 320, 240);
  auto server = startServer(dir, {"--feed", feed});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  const auto play =
      run(dir, "rtspsrc",
          {"gst-launch-1.0", "rtspsrc", "location=" + server.url(feed), "!", "decodebin", "!",
           "video/x-raw,width=320,height=240", "!", "identity", "eos-after=30", "!", "fakesink"});
  INFO(play.out << play.err);
  REQUIRE(play.out.find("Got EOS from element") != std::string::npos);  // 30 frames at the feed's size
  CHECK(playedToEos(play));  // or failed only sending its teardown (see playedToEos)
  CHECK(server.process.child.stop(10s) == 0);
}

TEST_CASE("four clients at once all get frames from one shared encode") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-four");
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, 320, 240);
  auto server = startServer(dir, {"--feed", feed, "--stats-json"});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  const auto publishedBefore = framesPublished(feed);
  std::vector<Running> clients;
  for (int i = 0; i < 4; ++i)
    clients.push_back(
        start(dir, "ffmpeg" + std::to_string(i),
              {"ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", i % 2 == 0 ? "tcp" : "udp", "-i",
               server.url(feed), "-frames:v", "45", "-f", "rawvideo", "-pix_fmt", "yuv420p",
               dir.file("out" + std::to_string(i) + ".yuv")}));
  for (int i = 0; i < 4; ++i) {
    INFO("client " << i << ": " << clients[i].err());
    CHECK(clients[i].child.wait(90s) == 0);
    CHECK(frameshm::test::readFile(dir.file("out" + std::to_string(i) + ".yuv")).size() ==
          45u * 320 * 240 * 3 / 2);
  }
  const auto publishedAfter = framesPublished(feed);
  REQUIRE(server.process.child.stop(10s) == 0);
  const auto stats = nlohmann::json::parse(server.process.out());
  INFO(stats.dump());
  REQUIRE(stats["feeds"].size() == 1);
  // One encode for all four: it cannot have encoded more frames than the
  // producer published while the server ran (four encodes would be ~4x).
  const auto encoded = stats["feeds"][0]["frames"].get<std::uint64_t>();
  CHECK(encoded >= 45);
  CHECK(encoded <= publishedAfter - publishedBefore + 30);
}

TEST_CASE("eight clients of a 720p feed do not hold the server's reading back") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-eight");
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, 1280, 720);
  auto server = startServer(dir, {"--feed", feed, "--stats-interval", "1"});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  // Clients that take every packet without decoding it (-c copy), for as
  // long as the test needs them (killed at the end; -t only bounds them).
  std::vector<Running> clients;
  for (int i = 0; i < 8; ++i)
    clients.push_back(
        start(dir, "ffmpeg" + std::to_string(i),
              {"ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", i % 2 == 0 ? "tcp" : "udp", "-i",
               server.url(feed), "-t", "120", "-c", "copy", "-f", "null", "-"}));
  REQUIRE(waitForText(server.process.errPath, "8 clients"));
  // The server encodes (nearly) every frame the producer publishes: the
  // sinks that pace eight clients hold nothing back (by hand, with a ball
  // pattern and no queue behind frameshmsrc, they once did: 15 or 1 fps).
  // Its encoded rate from its stats lines, the producer's from the feed,
  // over the same span.
  const auto from = feedCounts(feed, server.process.child.pid());
  const auto seen = server.process.err().size();
  std::vector<double> rates;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (rates.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    rates.clear();
    std::istringstream lines(server.process.err().substr(seen));
    for (std::string line; std::getline(lines, line);)
      if (const auto at = line.find(" fps"); at != std::string::npos && line.ends_with("fps"))
        rates.push_back(std::strtod(line.c_str() + line.rfind(' ', at - 1) + 1, nullptr));
  }
  const auto to = feedCounts(feed, server.process.child.pid());
  REQUIRE(rates.size() == 3);
  const double encoded = (rates[0] + rates[1] + rates[2]) / 3;
  const double published = perSecond(to.published - from.published, from, to);
  INFO("encoded " << encoded << " fps, published " << published << " fps");
  CHECK(encoded >= 0.7 * published);
  for (auto& client : clients) CHECK(client.child.running());
  CHECK(server.process.child.stop(10s) == 0);
}
