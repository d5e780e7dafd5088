// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-rtsp against clients that misbehave or are not allowed in:
// stalled, slow and paused clients, wrong credentials, unknown feeds,
// garbage on the port, TLS, and bad command lines.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "rtsp_test_support.hpp"

using namespace rtsptest;
using frameshm::test::FeedGuard;
using frameshm::test::TempDir;
using frameshm::test::uniqueFeed;

TEST_CASE("stalled, slow and paused clients cost the producer and the other clients nothing") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-slow");
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, 320, 240);
  auto server = startServer(dir, {"--feed", feed});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  const auto url = server.url(feed);

  // RTP over their RTSP connections, which they do not read (stalled), read
  // 1 KB a second of (slow), or PAUSE.
  RtspConnection stalled(server.port), slow(server.port), paused(server.port);
  stalled.shrinkReceiveBuffer();
  slow.shrinkReceiveBuffer();
  REQUIRE(stalled.play(url));
  REQUIRE(slow.play(url));
  REQUIRE(paused.play(url));
  REQUIRE(paused.request("PAUSE", url).status == 200);
  std::atomic<bool> stop{false};
  std::thread slowReader([&] {
    while (!stop) {
      slow.drain(1024, std::chrono::milliseconds(200));
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });

  // A normal client records 150 frames meanwhile.
  const auto before = feedCounts(feed, server.process.child.pid());
  const auto record = run(dir, "ffmpeg",
                          {"ffmpeg", "-nostdin", "-rtsp_transport", "tcp", "-i", url, "-frames:v", "150",
                           "-vf", "showinfo", "-f", "null", "-"},
                          120s);
  const auto after = feedCounts(feed, server.process.child.pid());
  stop = true;
  slowReader.join();

  INFO(record.err);
  REQUIRE(record.code == 0);
  const auto frames = shownFrames(record.err);
  REQUIRE(frames.size() >= 150);
  // Rates, each measured: the producer's own (videotestsrc at 30 fps), the
  // server's reading of the feed, and the normal client's, from the capture
  // times its frames carry. A client that held the shared pipeline back
  // would bring the last two down together, to nothing.
  const double producerRate = perSecond(after.published - before.published, before, after);
  const double serverRate = perSecond(after.serverRead - before.serverRead, before, after);
  const double clientRate =
      static_cast<double>(frames.size() - 1) / (frames.back().ptsTime - frames.front().ptsTime);
  INFO("producer " << producerRate << " fps, server reads " << serverRate << " fps, client gets "
                   << clientRate << " fps");
  CHECK(producerRate >= 0.7 * 30);
  CHECK(clientRate >= 0.6 * serverRate);
  CHECK(server.process.child.running());
  CHECK(server.process.child.stop(10s) == 0);
}

TEST_CASE("wrong credentials get 401, right ones the feed, and the server stays up") {
  for (const char* method : {"digest", "basic"}) {
    DYNAMIC_SECTION("--auth " << method) {
      TempDir dir;
      const auto feed = uniqueFeed("rtsp-auth");
      FeedGuard guard(feed);
      auto producer = startProducer(dir, feed, 320, 240);
      auto server = startServer(dir, {"--feed", feed, "--user", "viewer", "--auth", method},
                                {"FRAMESHM_RTSP_PASSWORD=right-one"});
      REQUIRE(server.port > 0);
      REQUIRE(server.waitForMount(feed));
      const std::string at = "127.0.0.1:" + std::to_string(server.port) + "/" + feed;
      for (const std::string& url :
           {"rtsp://" + at, "rtsp://viewer:wrong@" + at, "rtsp://intruder:right-one@" + at}) {
        const auto probe = run(dir, "refused", ffprobe(url));
        INFO(url << ": " << probe.err);
        CHECK(probe.code != 0);
        CHECK(probe.err.find("401") != std::string::npos);
      }
      const auto probe = run(dir, "allowed", ffprobe("rtsp://viewer:right-one@" + at));
      INFO(probe.err);
      CHECK(probe.code == 0);
      CHECK(probe.out.find("codec_name=h264") != std::string::npos);
      CHECK(server.process.child.stop(10s) == 0);
    }
  }
}

TEST_CASE("an unknown feed gets 404 and the server stays up") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-known");
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, 320, 240);
  auto server = startServer(dir, {});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  const auto unknown = server.url(uniqueFeed("rtsp-nosuch"));
  {
    RtspConnection connection(server.port);
    REQUIRE(connection.connected());
    CHECK(connection.request("DESCRIBE", unknown, "Accept: application/sdp\r\n").status == 404);
    CHECK(connection.request("DESCRIBE", server.url(feed), "Accept: application/sdp\r\n").status == 200);
  }
  const auto probe = run(dir, "unknown", ffprobe(unknown));
  CHECK(probe.code != 0);
  CHECK(probe.err.find("404") != std::string::npos);
  CHECK(run(dir, "known", ffprobe(server.url(feed))).code == 0);
  CHECK(server.process.child.stop(10s) == 0);
}

TEST_CASE("garbage sent to the port does not disturb the server or its clients") {
  TempDir dir;
  const auto feed = uniqueFeed("rtsp-garbage");
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, 320, 240);
  auto server = startServer(dir, {"--feed", feed});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  auto watcher = start(dir, "watcher",
                       {"ffmpeg", "-nostdin", "-rtsp_transport", "tcp", "-i", server.url(feed), "-vf",
                        "showinfo", "-f", "null", "-"});
  REQUIRE(waitForText(watcher.errPath, "s:320x240"));

  std::mt19937 random(13);
  std::string noise(256 * 1024, '\0');
  for (auto& c : noise) c = static_cast<char>(random());
  const std::vector<std::string> garbage{
      noise,
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      std::string(100000, 'A'),
      "DESCRIBE rtsp://127.0.0.1/" + feed +
          " RTSP/1.0\r\nCSeq: -99999999999999999999\r\nContent-Length: 999999999\r\n\r\n",
      "SETUP * RTSP/9.9\r\nTransport: RTP/AVP/TCP;interleaved=999999-1\r\n\r\n",
      "$\x00\xff\xff" + std::string(100, 'x'),
      "\r\n\r\n\r\n",
      ""};
  for (const auto& bytes : garbage) {
    RtspConnection connection(server.port);
    REQUIRE(connection.connected());
    connection.send(bytes);
  }
  // The server still answers, and its client is still watching.
  RtspConnection connection(server.port);
  CHECK(connection.request("OPTIONS", server.url(feed)).status == 200);
  const auto probe = run(dir, "after", ffprobe(server.url(feed)));
  CHECK(probe.code == 0);
  const auto seen = shownFrames(watcher.err()).size();
  CHECK(waitForShownFrames(watcher.errPath, seen + 30));
  CHECK(watcher.child.running());
  CHECK(server.process.child.stop(10s) == 0);
}

TEST_CASE("with --cert and --key the feed is served over rtsps only") {
  TempDir dir;
  const auto made =
      run(dir, "openssl",
          {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.file("key.pem"), "-out",
           dir.file("cert.pem"), "-days", "2", "-subj", "/CN=localhost"});
  REQUIRE(made.code == 0);
  const auto feed = uniqueFeed("rtsp-tls");
  FeedGuard guard(feed);
  auto producer = startProducer(dir, feed, 320, 240);
  auto server =
      startServer(dir, {"--feed", feed, "--cert", dir.file("cert.pem"), "--key", dir.file("key.pem")});
  REQUIRE(server.port > 0);
  REQUIRE(server.waitForMount(feed));
  const std::string at = "127.0.0.1:" + std::to_string(server.port) + "/" + feed;
  const auto secure = run(dir, "rtsps", ffprobe("rtsps://" + at));
  INFO(secure.err);
  CHECK(secure.code == 0);
  CHECK(secure.out.find("codec_name=h264") != std::string::npos);
  const auto play = run(dir, "rtspsrc",
                        {"gst-launch-1.0", "rtspsrc", "location=rtsps://" + at, "tls-validation-flags=0", "!",
                         "decodebin", "!", "identity", "eos-after=10", "!", "fakesink"});
  INFO(play.out << play.err);
  REQUIRE(play.out.find("Got EOS from element") != std::string::npos);  // 10 frames over TLS
  CHECK(playedToEos(play));
  CHECK(run(dir, "plain", ffprobe("rtsp://" + at)).code != 0);  // no clear text
  CHECK(server.process.child.running());
  CHECK(server.process.child.stop(10s) == 0);
}

TEST_CASE("bad input is one line on stderr and exit code 2") {
  TempDir dir;
  // A port in use.
  const int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(bind(busy, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(listen(busy, 1) == 0);
  REQUIRE(getsockname(busy, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const std::string busyPort = std::to_string(ntohs(address.sin_port));

  const std::vector<std::vector<std::string>> cases{
      {"--port", "70000"},
      {"--feed", "no spaces"},
      {"--codec", "vp9"},
      {"--bitrate", "0"},
      {"--user", "viewer", "--password-env", "FRAMESHM_RTSP_TEST_UNSET"},
      {"--user", "viewer", "--password-file", "/nonexistent/password"},
      {"--cert", "/nonexistent/cert.pem", "--key", "/nonexistent/key.pem"},
      {"--encoder", "nosuchencoder"},
      {"--codec", "jpeg", "--encoder", "x264enc"},
      {"--bind", "256.1.1.1"},
      {"--port", busyPort},
  };
  int n = 0;
  for (const auto& args : cases) {
    std::vector<std::string> argv{FRAMESHM_RTSP};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto result = run(dir, "bad" + std::to_string(n++), argv);
    INFO(argv[1] << " " << argv[2] << ": " << result.err);
    CHECK(result.code == 2);
    CHECK(result.err.starts_with("frameshm-rtsp: "));
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  close(busy);
}
