// SPDX-License-Identifier: LGPL-2.1-or-later
#include "server.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "frameshm/feeds.hpp"

namespace frameshm::rtsp {

namespace {

constexpr const char* kRole = "viewer";
constexpr const char* kFeedKey = "frameshm-feed";

using Clock = std::chrono::steady_clock;

// Encoded frames and bytes, counted on pay0's sink pad by the streaming thread.
struct Counters {
  std::atomic<std::uint64_t> frames{0};
  std::atomic<std::uint64_t> bytes{0};
};

GstPadProbeReturn countEncoded(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto& counters = **static_cast<std::shared_ptr<Counters>*>(data);
  if (GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info); buffer != nullptr) {
    counters.frames.fetch_add(1, std::memory_order_relaxed);
    counters.bytes.fetch_add(gst_buffer_get_size(buffer), std::memory_order_relaxed);
  } else if (GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info); list != nullptr) {
    counters.frames.fetch_add(gst_buffer_list_length(list), std::memory_order_relaxed);
    counters.bytes.fetch_add(gst_buffer_list_calculate_size(list), std::memory_order_relaxed);
  }
  return GST_PAD_PROBE_OK;
}

std::string feedOf(GstRTSPMedia* media) {
  const auto* name = static_cast<const char*>(g_object_get_data(G_OBJECT(media), kFeedKey));
  return name != nullptr ? name : "";
}

// Calls visit(media) for the media of every session of the server.
template <class Visit>
void forEachSessionMedia(GstRTSPServer* server, Visit visit) {
  GstRTSPSessionPool* pool = gst_rtsp_server_get_session_pool(server);
  auto perSession = +[](GstRTSPSessionPool*, GstRTSPSession* session, gpointer data) {
    auto perMedia = +[](GstRTSPSession*, GstRTSPSessionMedia* sessionMedia, gpointer data) {
      (*static_cast<Visit*>(data))(gst_rtsp_session_media_get_media(sessionMedia));
      return GST_RTSP_FILTER_KEEP;
    };
    g_list_free(gst_rtsp_session_filter(session, perMedia, data));
    return GST_RTSP_FILTER_KEEP;
  };
  g_list_free(gst_rtsp_session_pool_filter(pool, perSession, &visit));
  g_object_unref(pool);
}

// Medias a feed ended: the clients still watching them are closed and
// their sessions removed once the EOS (and so the RTCP BYE) has had ample
// time to reach them and make them leave.
struct EndedMedias {
  GstRTSPServer* server;
  std::vector<GstRTSPMedia*> medias;
  ~EndedMedias() {
    for (auto* media : medias) g_object_unref(media);
    g_object_unref(server);
  }
  // Whether `session` watches one of the medias.
  [[nodiscard]] bool watchedBy(GstRTSPSession* session) {
    auto mediaEnded = +[](GstRTSPSession*, GstRTSPSessionMedia* sessionMedia, gpointer data) {
      const auto& medias = static_cast<EndedMedias*>(data)->medias;
      const bool ended = std::find(medias.begin(), medias.end(),
                                   gst_rtsp_session_media_get_media(sessionMedia)) != medias.end();
      return ended ? GST_RTSP_FILTER_REF : GST_RTSP_FILTER_KEEP;
    };
    GList* hits = gst_rtsp_session_filter(session, mediaEnded, this);
    const bool watched = hits != nullptr;
    g_list_free_full(hits, g_object_unref);
    return watched;
  }
};

gboolean closeEndedClients(gpointer data) {
  auto* ended = static_cast<EndedMedias*>(data);
  // Clients whose sessions watch an ended media: their connection closes.
  auto clientWatches = +[](GstRTSPServer*, GstRTSPClient* client, gpointer data) {
    auto sessionWatches = +[](GstRTSPClient*, GstRTSPSession* session, gpointer data) {
      return static_cast<EndedMedias*>(data)->watchedBy(session) ? GST_RTSP_FILTER_REF : GST_RTSP_FILTER_KEEP;
    };
    GList* sessions = gst_rtsp_client_session_filter(client, sessionWatches, data);
    const bool watches = sessions != nullptr;
    g_list_free_full(sessions, g_object_unref);
    return watches ? GST_RTSP_FILTER_REF : GST_RTSP_FILTER_KEEP;
  };
  GList* clients = gst_rtsp_server_client_filter(ended->server, clientWatches, ended);
  for (GList* item = clients; item != nullptr; item = item->next)
    gst_rtsp_client_close(GST_RTSP_CLIENT(item->data));
  g_list_free_full(clients, g_object_unref);
  // Sessions of clients already gone (UDP clients that never sent TEARDOWN).
  GstRTSPSessionPool* pool = gst_rtsp_server_get_session_pool(ended->server);
  auto sessionEnded = +[](GstRTSPSessionPool*, GstRTSPSession* session, gpointer data) {
    return static_cast<EndedMedias*>(data)->watchedBy(session) ? GST_RTSP_FILTER_REMOVE
                                                               : GST_RTSP_FILTER_KEEP;
  };
  g_list_free_full(gst_rtsp_session_pool_filter(pool, sessionEnded, ended), g_object_unref);
  g_object_unref(pool);
  return G_SOURCE_REMOVE;
}

}  // namespace

struct Server::Feed {
  std::string name;
  GstRTSPMediaFactory* factory = nullptr;  // ours while mounted
  bool mounted = false;
  std::optional<Clock::time_point> goneSince{};
  std::shared_ptr<Counters> counters = std::make_shared<Counters>();
  std::mutex mutex;                     // guards medias: media signals come from other threads
  std::vector<GstRTSPMedia*> medias{};  // prepared, referenced
  std::uint64_t lastFrames = 0, lastBytes = 0;
  Clock::time_point lastAt = Clock::now();
  unsigned clientsMax = 0;

  [[nodiscard]] std::string path() const { return "/" + name; }

  static void onUnprepared(GstRTSPMedia* media, gpointer data) {
    auto* feed = static_cast<Feed*>(data);
    g_signal_handlers_disconnect_by_data(media, data);
    std::lock_guard lock(feed->mutex);
    if (auto it = std::find(feed->medias.begin(), feed->medias.end(), media); it != feed->medias.end()) {
      feed->medias.erase(it);
      g_object_unref(media);
    }
  }

  // A new (shared) media for this feed: name it, count what it encodes, keep it.
  static void onMediaConfigure(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer data) {
    auto* feed = static_cast<Feed*>(data);
    g_object_set_data_full(G_OBJECT(media), kFeedKey, g_strdup(feed->name.c_str()), g_free);
    GstElement* bin = gst_rtsp_media_get_element(media);
    if (GstElement* pay = gst_bin_get_by_name(GST_BIN(bin), "pay0"); pay != nullptr) {
      GstPad* pad = gst_element_get_static_pad(pay, "sink");
      gst_pad_add_probe(
          pad, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
          countEncoded, new std::shared_ptr<Counters>(feed->counters),
          [](gpointer counters) { delete static_cast<std::shared_ptr<Counters>*>(counters); });
      gst_object_unref(pad);
      gst_object_unref(pay);
    }
    gst_object_unref(bin);
    g_signal_connect(media, "unprepared", G_CALLBACK(onUnprepared), feed);
    std::lock_guard lock(feed->mutex);
    feed->medias.push_back(GST_RTSP_MEDIA(g_object_ref(media)));
  }

  // Takes the medias out of the feed, for ending them.
  std::vector<GstRTSPMedia*> takeMedias() {
    std::lock_guard lock(mutex);
    for (auto* media : medias) g_signal_handlers_disconnect_by_data(media, this);
    return std::exchange(medias, {});
  }
};

std::string launchLine(const std::string& feed, const EncodeOptions& options) {
  // timeout=-1 on-end=wait: the source follows a restarting producer for as
  // long as the server keeps the feed (endGrace decides, not the source).
  // The queue lets the source take every frame while the sinks wait for
  // their buffers' time: without it the source, which only ever has the
  // newest frame, is held back that long per frame, and with eight clients
  // the stream fell to 15 or 1 fps (measured). Leaky, so that an encoder
  // that falls behind drops old frames instead of adding latency.
  std::string line = "( frameshmsrc feed=" + feed +
                     " timeout=-1 on-end=wait ! queue leaky=downstream max-size-buffers=3 max-size-bytes=0 "
                     "max-size-time=0 ! videoconvert ! video/x-raw,format=I420 ! ";
  if (options.codec == Codec::Jpeg) {
    line += "jpegenc quality=" + std::to_string(options.jpegQuality) + " ! rtpjpegpay name=pay0 pt=26 )";
    return line;
  }
  // SPS and PPS before every keyframe, so that a client that joins late, or
  // sees the size change, decodes from the next keyframe: x264enc writes them
  // itself in byte-stream form (rtph264pay's config-interval=-1 would also
  // put them between the slices of zerolatency's sliced threads, which
  // splits each keyframe in two for ffmpeg); another encoder gets them from
  // h264parse, which inserts them per access unit.
  if (options.encoder.empty()) {
    line +=
        "x264enc tune=zerolatency speed-preset=superfast bitrate=" + std::to_string(options.bitrateKbps) +
        " key-int-max=" + std::to_string(options.keyframeInterval) +
        " ! video/x-h264,stream-format=byte-stream,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 "
        "config-interval=0 )";
  } else {
    line +=
        options.encoder + " ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=0 )";
  }
  return line;
}

Server::Server(const ServerOptions& options) : options_(options) {}

std::expected<std::unique_ptr<Server>, std::string> Server::create(const ServerOptions& options) {
  std::unique_ptr<Server> self(new Server(options));
  self->server_ = gst_rtsp_server_new();
  gst_rtsp_server_set_address(self->server_, options.bind.c_str());
  gst_rtsp_server_set_service(self->server_, std::to_string(options.port).c_str());
  self->mounts_ = gst_rtsp_server_get_mount_points(self->server_);

  const bool tls = !options.certFile.empty();
  if (!options.user.empty() || tls) {
    self->auth_ = gst_rtsp_auth_new();
    if (tls) {
      GError* error = nullptr;
      GTlsCertificate* cert =
          g_tls_certificate_new_from_files(options.certFile.c_str(), options.keyFile.c_str(), &error);
      if (cert == nullptr) {
        std::string message = "cannot use --cert " + options.certFile + " and --key " + options.keyFile +
                              ": " + (error != nullptr ? error->message : "unknown error");
        g_clear_error(&error);
        return std::unexpected(message);
      }
      gst_rtsp_auth_set_tls_certificate(self->auth_, cert);
      g_object_unref(cert);
    }
    GstRTSPToken* token =
        gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, kRole, nullptr);
    if (options.user.empty()) {
      gst_rtsp_auth_set_default_token(self->auth_, token);  // TLS only: everyone may watch
    } else if (options.basicAuth) {
      gchar* basic = gst_rtsp_auth_make_basic(options.user.c_str(), options.password.c_str());
      gst_rtsp_auth_add_basic(self->auth_, basic, token);
      g_free(basic);
      gst_rtsp_auth_set_supported_methods(self->auth_, GST_RTSP_AUTH_BASIC);
    } else {
      gst_rtsp_auth_add_digest(self->auth_, options.user.c_str(), options.password.c_str(), token);
      gst_rtsp_auth_set_supported_methods(self->auth_, GST_RTSP_AUTH_DIGEST);
    }
    gst_rtsp_token_unref(token);
    gst_rtsp_server_set_auth(self->server_, self->auth_);
  }

  self->source_ = gst_rtsp_server_attach(self->server_, nullptr);
  if (self->source_ == 0)
    return std::unexpected("cannot listen on " + options.bind + ":" + std::to_string(options.port) +
                           " (address in use, or not an address of this machine?)");
  self->port_ = gst_rtsp_server_get_bound_port(self->server_);
  return self;
}

Server::~Server() {
  for (auto& [name, feed] : feeds_)
    if (feed->mounted)
      for (auto* media : detach(*feed)) g_object_unref(media);
  if (server_ != nullptr) {
    auto closeAll = +[](GstRTSPServer*, GstRTSPClient* client, gpointer) {
      gst_rtsp_client_close(client);
      return GST_RTSP_FILTER_KEEP;
    };
    g_list_free(gst_rtsp_server_client_filter(server_, closeAll, nullptr));
  }
  for (GSource* later : pendingCloses_) {
    g_source_destroy(later);
    g_source_unref(later);
  }
  if (source_ != 0) g_source_remove(source_);
  if (mounts_ != nullptr) g_object_unref(mounts_);
  if (auth_ != nullptr) g_object_unref(auth_);
  if (server_ != nullptr) g_object_unref(server_);
}

void Server::mount(Feed& feed) {
  GstRTSPMediaFactory* factory = gst_rtsp_media_factory_new();
  gst_rtsp_media_factory_set_launch(factory, launchLine(feed.name, options_.encode).c_str());
  gst_rtsp_media_factory_set_shared(factory, TRUE);  // one read, one encode, every client
  if (!options_.certFile.empty()) gst_rtsp_media_factory_set_protocols(factory, GST_RTSP_LOWER_TRANS_TCP);
  if (auth_ != nullptr)
    gst_rtsp_media_factory_add_role(factory, kRole, GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
                                    GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, nullptr);
  g_signal_connect(factory, "media-configure", G_CALLBACK(Feed::onMediaConfigure), &feed);
  feed.factory = GST_RTSP_MEDIA_FACTORY(g_object_ref(factory));
  gst_rtsp_mount_points_add_factory(mounts_, feed.path().c_str(), factory);  // takes the first reference
  feed.mounted = true;
  std::fprintf(stderr, "frameshm-rtsp: feed '%s' at rtsp%s://%s:%d%s\n", feed.name.c_str(),
               options_.certFile.empty() ? "" : "s", options_.bind.c_str(), port_, feed.path().c_str());
}

std::vector<GstRTSPMedia*> Server::detach(Feed& feed) {
  gst_rtsp_mount_points_remove_factory(mounts_, feed.path().c_str());
  g_signal_handlers_disconnect_by_data(feed.factory, &feed);
  g_object_unref(feed.factory);
  feed.factory = nullptr;
  feed.mounted = false;
  return feed.takeMedias();
}

void Server::unmount(Feed& feed) {
  // A fresh factory at the next mount: the old one's shared media has ended.
  auto* ended = new EndedMedias{GST_RTSP_SERVER(g_object_ref(server_)), detach(feed)};
  for (auto* media : ended->medias) {
    GstElement* bin = gst_rtsp_media_get_element(media);
    gst_element_send_event(bin, gst_event_new_eos());
    gst_object_unref(bin);
  }
  std::fprintf(stderr, "frameshm-rtsp: feed '%s' ended; its clients are told so\n", feed.name.c_str());
  // Players leave by themselves on the BYE (and send TEARDOWN, which a closed
  // connection would make an error); only those still there well after it are cut off.
  GSource* later = g_timeout_source_new(10000);
  g_source_set_callback(later, closeEndedClients, ended,
                        [](gpointer data) { delete static_cast<EndedMedias*>(data); });
  g_source_attach(later, nullptr);
  pendingCloses_.push_back(later);  // destroyed with the server if it has not run by then
}

void Server::refresh() {
  std::erase_if(pendingCloses_, [](GSource* later) {
    if (!g_source_is_destroyed(later)) return false;
    g_source_unref(later);
    return true;
  });
  std::set<std::string> live;
  for (const auto& info : listFeeds()) {
    if (!info.valid || info.stale || !info.producerAlive || info.state != FeedState::Live) continue;
    if (!options_.feeds.empty() &&
        std::find(options_.feeds.begin(), options_.feeds.end(), info.name) == options_.feeds.end())
      continue;
    live.insert(info.name);
  }
  const auto now = Clock::now();
  for (const auto& name : live) {
    auto& feed = feeds_[name];
    if (!feed) {
      feed = std::make_unique<Feed>();
      feed->name = name;
    }
    feed->goneSince.reset();
    if (!feed->mounted) mount(*feed);
  }
  for (auto& [name, feed] : feeds_) {
    if (!feed->mounted || live.contains(name)) continue;
    if (!feed->goneSince) feed->goneSince = now;
    if (now - *feed->goneSince >= options_.endGrace) unmount(*feed);
  }
}

std::vector<FeedStats> Server::stats() {
  std::map<std::string, unsigned> clients;
  forEachSessionMedia(server_, [&](GstRTSPMedia* media) { ++clients[feedOf(media)]; });
  std::vector<FeedStats> all;
  const auto now = Clock::now();
  for (auto& [name, feed] : feeds_) {
    FeedStats s;
    s.name = name;
    s.mounted = feed->mounted;
    s.clients = clients[name];
    feed->clientsMax = std::max(feed->clientsMax, s.clients);
    s.clientsMax = feed->clientsMax;
    s.framesOut = feed->counters->frames.load(std::memory_order_relaxed);
    s.bytesOut = feed->counters->bytes.load(std::memory_order_relaxed);
    const double seconds = std::chrono::duration<double>(now - feed->lastAt).count();
    if (seconds > 0) {
      s.fps = static_cast<double>(s.framesOut - feed->lastFrames) / seconds;
      s.kbps = static_cast<double>(s.bytesOut - feed->lastBytes) * 8 / 1000 / seconds;
    }
    feed->lastFrames = s.framesOut;
    feed->lastBytes = s.bytesOut;
    feed->lastAt = now;
    all.push_back(std::move(s));
  }
  return all;
}

}  // namespace frameshm::rtsp
