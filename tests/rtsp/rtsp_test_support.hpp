// SPDX-License-Identifier: LGPL-2.1-or-later
// rtsp_test_support.hpp — frameshm-rtsp, producers and RTSP clients as processes.
//
// Each test starts its own frameshm-rtsp on a free port (--port 0: the port
// is read from its first line), producers as gst-launch-1.0 pipelines into
// frameshmsink, and independent clients (ffprobe, ffmpeg, gst-launch-1.0
// rtspsrc), each a child with its output in a TempDir file and a timeout
// that only guards against a hang. A raw RTSP connection plays the clients
// no player would be: one that stalls, one that sends garbage.
//
//   frameshm::test::TempDir dir;
//   auto producer = rtsptest::startProducer(dir, feed, 320, 240);
//   auto server = rtsptest::startServer(dir, {"--feed", feed});
//   auto probe = rtsptest::run(dir, "probe", rtsptest::ffprobe(server.url(feed)));
//   CHECK(probe.out.find("h264") != std::string::npos);
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "test_support.hpp"

namespace rtsptest {

using namespace std::chrono_literals;

// The environment of a child. One that runs the plugin (the server, a
// producer pipeline) gets GST_PLUGIN_PATH (the build tree's plugin), the
// tests' registry and, in an ASan build, the runtime preloaded (the plugin
// is instrumented, gst-launch-1.0 and GStreamer's plugin scanner are not)
// without leak checks (GStreamer's one-time allocations). An independent
// client (ffmpeg, rtspsrc) gets a registry without our plugin and nothing preloaded.
std::vector<std::string> environmentFor(const std::vector<std::string>& argv);

using frameshm::test::Running;  // a started program and where its output goes

// Starts `argv` with environmentFor(argv) and `env`, stdout/stderr in dir/<name>.out and .err.
Running start(const frameshm::test::TempDir& dir, const std::string& name,
              const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

// A finished client: its exit code (-1 if it had to be killed at the timeout) and output.
struct Finished {
  int code = -1;
  std::string out;
  std::string err;
};
Finished run(const frameshm::test::TempDir& dir, const std::string& name,
             const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 60s);

// Whether a gst-launch-1.0 rtspsrc client that reached EOS played well: it
// exited 0, or it failed only while taking rtspsrc to NULL. rtspsrc then
// sends PAUSE and TEARDOWN, and about once in 25 runs of a loaded CI machine
// that send found the connection closed ("Could not send message") and
// gst-launch exited 1 after playing. That one error is forgiven, and said
// (WARN); any other is not. Call only after checking the EOS: an error stops
// a pipeline before EOS.
bool playedToEos(const Finished& client);

// Waits until the file at `path` contains `text`; false at the timeout.
bool waitForText(const std::string& path, std::string_view text, std::chrono::milliseconds timeout = 60s);

// frameshm-rtsp, listening on a free port.
struct Server {
  Running process;
  int port = 0;
  [[nodiscard]] std::string url(const std::string& feed) const;
  // Waits until the server says it serves `feed`.
  bool waitForMount(const std::string& feed, std::chrono::milliseconds timeout = 60s) const;
};
// Starts frameshm-rtsp --port 0 `args` and waits for its port; port 0 if it did not start.
Server startServer(const frameshm::test::TempDir& dir, const std::vector<std::string>& args,
                   const std::vector<std::string>& env = {}, const std::string& name = "server");

// A live videotestsrc producer of `feed` (I420, 30 fps) that has published a frame.
Running startProducer(const frameshm::test::TempDir& dir, const std::string& feed, int width, int height,
                      const std::string& name = "producer");

// Frames the feed's producer has published (0 if it is not there).
std::uint64_t framesPublished(const std::string& feed);

// What a feed has counted at a moment: frames published, and frames the
// reader of pid `server` (frameshm-rtsp's frameshmsrc) has read.
struct FeedCounts {
  std::uint64_t published = 0;
  std::uint64_t serverRead = 0;
  std::chrono::steady_clock::time_point at = std::chrono::steady_clock::now();
};
FeedCounts feedCounts(const std::string& feed, pid_t server);
// Frames per second between two counts.
double perSecond(std::uint64_t frames, const FeedCounts& from, const FeedCounts& to);

// ffprobe printing the first video stream as "codec_name=…\nwidth=…\nheight=…".
std::vector<std::string> ffprobe(const std::string& url, const std::vector<std::string>& extra = {});

// The frames in ffmpeg's showinfo output: "WxH" and pts_time of each.
struct ShownFrame {
  std::string size;
  double ptsTime = 0;
};
std::vector<ShownFrame> shownFrames(const std::string& ffmpegStderr);
// Waits until the ffmpeg stderr at `path` shows at least `count` frames; false at the timeout.
bool waitForShownFrames(const std::string& path, std::size_t count, std::chrono::milliseconds timeout = 60s);

// A raw RTSP/1.0 connection to 127.0.0.1:port, with timeouts on every read.
class RtspConnection {
 public:
  explicit RtspConnection(int port);
  RtspConnection(const RtspConnection&) = delete;
  RtspConnection& operator=(const RtspConnection&) = delete;
  ~RtspConnection();
  [[nodiscard]] bool connected() const noexcept { return fd_ >= 0; }

  struct Response {
    int status = 0;  // 0: no response (closed, or timeout)
    std::string head;
    std::string body;
  };
  // Sends a request with a CSeq and `headers` ("Name: value\r\n" each) and
  // reads its response, skipping interleaved RTP frames that come first.
  Response request(const std::string& method, const std::string& url, const std::string& headers = {});
  // Sends raw bytes. False if the server closed the connection.
  bool send(std::string_view bytes);
  // DESCRIBE, SETUP (RTP over this connection), PLAY; true if all were 200.
  bool play(const std::string& url);
  // Reads and discards up to `bytes`; the count read, 0 when closed.
  std::size_t drain(std::size_t bytes, std::chrono::milliseconds timeout);
  // Shrinks the socket's receive buffer, so that not reading stalls the stream at once.
  void shrinkReceiveBuffer();

 private:
  bool readExact(std::string& into, std::size_t bytes);
  int fd_ = -1;
  int cseq_ = 0;
  std::string session_;
};

}  // namespace rtsptest
