// SPDX-License-Identifier: LGPL-2.1-or-later
// server.hpp — frameshm feeds served over RTSP (gst-rtsp-server).
//
// One shared media factory per feed, mounted at /<feed>: the feed is read
// once (frameshmsrc) and encoded once however many clients watch. refresh()
// follows the library's feed listing: it mounts feeds that appear and, once a
// feed has been gone for `endGrace`, unmounts it and ends its clients
// cleanly (EOS, so RTCP BYE; a client still there 10 s later is disconnected). A producer that
// comes back within the grace keeps its clients: frameshmsrc follows it and
// renegotiates, and the encoder starts again on a keyframe.
//
//   frameshm::rtsp::ServerOptions options;
//   auto server = frameshm::rtsp::Server::create(options);   // listens on 127.0.0.1:8554
//   if (!server) return fail(server.error());
//   g_timeout_add(500, refresh, server->get());              // (*server)->refresh()
//   g_main_loop_run(loop);
#pragma once

#include <gst/rtsp-server/rtsp-server.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace frameshm::rtsp {

enum class Codec { H264, Jpeg };

struct EncodeOptions {
  Codec codec = Codec::H264;
  std::string encoder{};        // H.264 only: a gst-launch element description instead of x264enc
  unsigned bitrateKbps = 2000;  // x264enc's bitrate, kbit/s
  unsigned keyframeInterval =
      30;  // frames between keyframes (x264enc, and a default --encoder's clients ask for one)
  unsigned jpegQuality = 85;  // jpegenc's quality, 1..100
};

// The media factory's launch line for `feed`: frameshmsrc (following restarts,
// waiting for the producer to come back), videoconvert, the encoder, pay0.
[[nodiscard]] std::string launchLine(const std::string& feed, const EncodeOptions& options);

struct ServerOptions {
  std::string bind = "127.0.0.1";
  unsigned port = 8554;              // 0 picks a free port (Server::port() says which)
  std::vector<std::string> feeds{};  // only these; empty = every live feed
  EncodeOptions encode{};
  std::string user{};  // empty = no authentication
  std::string password{};
  bool basicAuth = false;  // RTSP basic instead of digest authentication
  std::string certFile{};  // TLS (rtsps) when both are given
  std::string keyFile{};
  std::chrono::milliseconds endGrace{3000};  // how long a vanished feed keeps its clients
};

// What Server::stats() reports of one feed since the server started.
struct FeedStats {
  std::string name;
  bool mounted = false;
  unsigned clients = 0;         // sessions watching it now
  unsigned clientsMax = 0;      // the most at once, as seen by stats()
  std::uint64_t framesOut = 0;  // encoded frames
  std::uint64_t bytesOut = 0;   // encoded bytes (before RTP)
  double kbps = 0;              // encoded bitrate since the previous stats()
  double fps = 0;               // encoded frames per second since the previous stats()
};

class Server {
 public:
  // Creates the server and listens. Errors: a message a user can act on (bad
  // certificate, address in use, ...).
  [[nodiscard]] static std::expected<std::unique_ptr<Server>, std::string> create(
      const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port it listens on.
  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] const ServerOptions& options() const noexcept { return options_; }

  // Mounts new live feeds, ends the clients of feeds gone for longer than endGrace.
  void refresh();

  // Per feed: clients now and the rates since the previous call.
  [[nodiscard]] std::vector<FeedStats> stats();

  struct Feed;

 private:
  explicit Server(const ServerOptions& options);
  void mount(Feed& feed);
  void unmount(Feed& feed);
  // Unmounts the feed and hands over its medias (referenced).
  std::vector<GstRTSPMedia*> detach(Feed& feed);

  ServerOptions options_;
  GstRTSPServer* server_ = nullptr;
  GstRTSPMountPoints* mounts_ = nullptr;
  GstRTSPAuth* auth_ = nullptr;
  guint source_ = 0;
  int port_ = 0;
  std::map<std::string, std::unique_ptr<Feed>> feeds_;
  std::vector<GSource*> pendingCloses_;  // referenced: the clients of ended feeds, closed later
};

}  // namespace frameshm::rtsp
