// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rtsp_test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <thread>

#include "frameshm/feeds.hpp"

namespace rtsptest {

namespace {

// The text after the first `key` in `text` up to (not including) the first
// of `stops` or the end of the line; nullopt without `key`. (No std::regex:
// GCC 12 warns inside it under the sanitizers.)
std::optional<std::string> valueAfter(std::string_view text, std::string_view key,
                                      std::string_view stops = {}) {
  const auto at = text.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  auto value = text.substr(at + key.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return std::string(value.substr(0, value.find_first_of(std::string(stops) + "\r\n")));
}

// Whether `argv` runs frameshm's plugin: the server, or a pipeline with a frameshm element.
bool loadsPlugin(const std::vector<std::string>& argv) {
  return argv.at(0) == FRAMESHM_RTSP || std::any_of(argv.begin(), argv.end(), [](const std::string& arg) {
           return arg.starts_with("frameshm");
         });
}

}  // namespace

std::vector<std::string> environmentFor(const std::vector<std::string>& argv) {
  if (!loadsPlugin(argv))
    return {"GST_REGISTRY=" FRAMESHM_GST_CLIENT_REGISTRY, "GST_PLUGIN_PATH=", "LD_PRELOAD="};
  std::vector<std::string> env{"GST_PLUGIN_PATH=" FRAMESHM_PLUGIN_DIR, "GST_REGISTRY=" FRAMESHM_GST_REGISTRY};
#ifdef FRAMESHM_ASAN_RUNTIME
  const char* options = std::getenv("ASAN_OPTIONS");
  env.push_back("LD_PRELOAD=" FRAMESHM_ASAN_RUNTIME);
  env.push_back("ASAN_OPTIONS=" + std::string(options != nullptr ? options : "") + ":detect_leaks=0");
#endif
  return env;
}

Running start(const frameshm::test::TempDir& dir, const std::string& name,
              const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  const std::string out = dir.file(name + ".out");
  const std::string err = dir.file(name + ".err");
  auto all = environmentFor(argv);
  all.insert(all.end(), env.begin(), env.end());
  return Running{frameshm::test::Child::spawn(argv, frameshm::test::SpawnOptions{all, out, err, false}), out,
                 err};
}

bool playedToEos(const Finished& client) {
  if (client.code == 0) return true;
  const bool teardownSendFailed = client.err.find("Could not send message") != std::string::npos &&
                                  client.err.find("gst_rtspsrc_") != std::string::npos;
  if (teardownSendFailed) WARN("rtspsrc could not send its teardown after EOS");
  return teardownSendFailed;
}

Finished run(const frameshm::test::TempDir& dir, const std::string& name,
             const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  auto running = start(dir, name, argv);
  Finished finished;
  finished.code = running.child.wait(timeout);
  finished.out = running.out();
  finished.err = running.err();
  return finished;
}

bool waitForText(const std::string& path, std::string_view text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (frameshm::test::readFile(path).find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

std::string Server::url(const std::string& feed) const {
  return "rtsp://127.0.0.1:" + std::to_string(port) + "/" + feed;
}

bool Server::waitForMount(const std::string& feed, std::chrono::milliseconds timeout) const {
  return waitForText(process.errPath, "feed '" + feed + "' at rtsp", timeout);
}

Server startServer(const frameshm::test::TempDir& dir, const std::vector<std::string>& args,
                   const std::vector<std::string>& env, const std::string& name) {
  std::vector<std::string> argv{FRAMESHM_RTSP, "--port", "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  Server server{start(dir, name, argv, env), 0};
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline && server.process.child.running()) {
    // "frameshm-rtsp: listening on rtsp://127.0.0.1:PORT/ (...)"
    if (auto address = valueAfter(server.process.err(), "listening on ", " ")) {  // rtsp://HOST:PORT/
      const auto colon = address->rfind(':');
      if (colon != std::string::npos && address->ends_with("/")) {
        server.port = std::atoi(address->c_str() + colon + 1);
        break;
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  return server;
}

std::uint64_t framesPublished(const std::string& feed) {
  auto info = frameshm::inspectFeed(feed);
  return info && info->valid ? info->framesPublished : 0;
}

FeedCounts feedCounts(const std::string& feed, pid_t server) {
  FeedCounts counts;
  auto info = frameshm::inspectFeed(feed);
  if (!info || !info->valid) return counts;
  counts.published = info->framesPublished;
  for (const auto& reader : info->readers)
    if (reader.pid == static_cast<std::uint32_t>(server)) counts.serverRead += reader.framesRead;
  return counts;
}

double perSecond(std::uint64_t frames, const FeedCounts& from, const FeedCounts& to) {
  return static_cast<double>(frames) / std::chrono::duration<double>(to.at - from.at).count();
}

Running startProducer(const frameshm::test::TempDir& dir, const std::string& feed, int width, int height,
                      const std::string& name) {
  auto producer = start(dir, name,
                        {"gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "!",
                         "video/x-raw,format=I420,width=" + std::to_string(width) +
                             ",height=" + std::to_string(height) + ",framerate=30/1",
                         "!", "frameshmsink", "feed=" + feed, "sync=false"});
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (framesPublished(feed) == 0 && std::chrono::steady_clock::now() < deadline &&
         producer.child.running())
    std::this_thread::sleep_for(50ms);
  return producer;
}

std::vector<std::string> ffprobe(const std::string& url, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{"ffprobe",
                                "-v",
                                "error",
                                "-select_streams",
                                "v:0",
                                "-show_entries",
                                "stream=codec_name,width,height",
                                "-of",
                                "default=noprint_wrappers=1"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  return argv;
}

std::vector<ShownFrame> shownFrames(const std::string& ffmpegStderr) {
  std::vector<ShownFrame> frames;
  std::string_view rest = ffmpegStderr;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (line.find("Parsed_showinfo") == std::string_view::npos) continue;
    const auto pts = valueAfter(line, "pts_time:", " ");
    const auto size = valueAfter(line, " s:", " ");
    if (pts && size && size->find('x') != std::string::npos)
      frames.push_back({*size, std::strtod(pts->c_str(), nullptr)});
  }
  return frames;
}

bool waitForShownFrames(const std::string& path, std::size_t count, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (shownFrames(frameshm::test::readFile(path)).size() < count) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

RtspConnection::RtspConnection(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  timeval timeout{15, 0};  // a hang guard on every read and write
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

RtspConnection::~RtspConnection() {
  if (fd_ >= 0) close(fd_);
}

void RtspConnection::shrinkReceiveBuffer() {
  const int bytes = 4096;
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

bool RtspConnection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

bool RtspConnection::readExact(std::string& into, std::size_t bytes) {
  const std::size_t start = into.size();
  into.resize(start + bytes);
  std::size_t got = 0;
  while (got < bytes) {
    const ssize_t n = recv(fd_, into.data() + start + got, bytes - got, 0);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

RtspConnection::Response RtspConnection::request(const std::string& method, const std::string& url,
                                                 const std::string& headers) {
  Response response;
  std::string text = method + " " + url + " RTSP/1.0\r\nCSeq: " + std::to_string(++cseq_) + "\r\n";
  if (!session_.empty()) text += "Session: " + session_ + "\r\n";
  if (fd_ < 0 || !send(text + headers + "\r\n")) return response;
  for (;;) {
    std::string first;
    if (!readExact(first, 1)) return response;
    if (first[0] == '$') {  // an interleaved frame: channel, 16-bit length, data
      std::string frame;
      if (!readExact(frame, 3)) return response;
      const std::size_t length =
          (static_cast<unsigned char>(frame[1]) << 8) | static_cast<unsigned char>(frame[2]);
      std::string skipped;
      if (!readExact(skipped, length)) return response;
      continue;
    }
    response.head = first;
    while (!response.head.ends_with("\r\n\r\n"))
      if (!readExact(response.head, 1)) return response;
    break;
  }
  if (response.head.starts_with("RTSP/1.0 ")) response.status = std::atoi(response.head.c_str() + 9);
  if (auto length = valueAfter(response.head, "Content-Length:"))
    readExact(response.body, std::stoul(*length));
  if (auto session = valueAfter(response.head, "Session:", ";")) session_ = *session;
  return response;
}

bool RtspConnection::play(const std::string& url) {
  const auto describe = request("DESCRIBE", url, "Accept: application/sdp\r\n");
  if (describe.status != 200) return false;
  const auto video = describe.body.find("m=video");
  if (video == std::string::npos) return false;
  const auto track = valueAfter(std::string_view(describe.body).substr(video), "a=control:", " ");
  if (!track) return false;
  const std::string control = track->starts_with("rtsp") ? *track : url + "/" + *track;
  if (request("SETUP", control, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n").status != 200)
    return false;
  return request("PLAY", url).status == 200;
}

std::size_t RtspConnection::drain(std::size_t bytes, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string buffer(bytes, '\0');
  const ssize_t n = recv(fd_, buffer.data(), bytes, 0);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

}  // namespace rtsptest
