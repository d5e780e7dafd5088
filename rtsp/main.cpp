// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-rtsp: serves frameshm feeds to network viewers over RTSP.
//
//   frameshm-rtsp                               # every live feed at rtsp://127.0.0.1:8554/<feed>
//   frameshm-rtsp --bind 0.0.0.0 --feed cam0    # only cam0, to the network
//   FRAMESHM_RTSP_PASSWORD=secret frameshm-rtsp --user viewer --cert c.pem --key k.pem
//   ffplay rtsp://127.0.0.1:8554/cam0
//
// Each feed is read once and encoded once (H.264 by x264enc, or JPEG)
// however many clients watch; clients join and leave without touching the
// feed's producer. Feeds that appear later are served as they come, feeds
// that end are dropped after --end-grace (a producer that restarts sooner
// keeps its clients). Exit codes: 0 stopped by SIGINT/SIGTERM, 1 a failure
// while running, 2 bad input or a server that cannot start.
#include <gst/gst.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "frameshm/feed.hpp"
#include "program_support.hpp"
#include "server.hpp"

namespace {

using namespace frameshm;
using frameshm::cli::kExitOk;
using frameshm::cli::kExitUsage;

constexpr const char* kProgram = "frameshm-rtsp";

struct Options {
  rtsp::ServerOptions server;
  std::string codec = "h264";
  std::string passwordFile;
  std::string passwordEnv = "FRAMESHM_RTSP_PASSWORD";
  std::string authMethod = "digest";
  double endGrace = 3;
  double statsInterval = 10;
  bool statsJson = false;
};

int usageError(const std::string& message) {
  return programs::usageError(kProgram, message);
}

// frameshmsrc from the plugin next to this program when GStreamer does not
// know it already: the build tree (rtsp/../plugins) or the install prefix.
bool findFrameshmPlugin() {
  if (GstElementFactory* factory = gst_element_factory_find("frameshmsrc"); factory != nullptr) {
    gst_object_unref(factory);
    return true;
  }
  std::error_code error;
  const auto exeDir = std::filesystem::read_symlink("/proc/self/exe", error).parent_path();
  for (const char* relative : {"../plugins", FRAMESHM_RTSP_PLUGIN_RELDIR}) {
    const auto dir = exeDir / relative;
    if (std::filesystem::is_directory(dir, error)) gst_registry_scan_path(gst_registry_get(), dir.c_str());
  }
  GstElementFactory* factory = gst_element_factory_find("frameshmsrc");
  if (factory == nullptr) return false;
  gst_object_unref(factory);
  return true;
}

// Builds the media pipeline once with a placeholder feed, so that a missing
// encoder or a wrong --encoder is one message now, not a failure per client.
std::string checkPipeline(const rtsp::EncodeOptions& encode) {
  std::string line = rtsp::launchLine("check", encode);
  line = line.substr(2, line.size() - 4);  // without the "( " and " )" of a media factory
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(line.c_str(), &error);
  std::string problem;
  if (error != nullptr) {
    problem = error->message;
    if (encode.codec == rtsp::Codec::H264 && encode.encoder.empty() &&
        problem.find("x264enc") != std::string::npos)
      problem += " (install gstreamer1.0-plugins-ugly, or use --codec jpeg)";
    g_clear_error(&error);
  }
  if (pipeline != nullptr) gst_object_unref(pipeline);
  return problem;
}

std::string readPassword(const Options& options) {
  if (!options.passwordFile.empty()) {
    std::ifstream in(options.passwordFile);
    std::string line;
    if (!in || !std::getline(in, line)) return {};
    return line;
  }
  const char* value = std::getenv(options.passwordEnv.c_str());
  return value != nullptr ? value : "";
}

std::string statsText(const std::vector<rtsp::FeedStats>& all) {
  std::string text;
  for (const auto& s : all) {
    if (!s.mounted && s.clients == 0) continue;
    char line[256];
    std::snprintf(line, sizeof line, "%s%s: %u client%s, %.0f kbit/s, %.1f fps", text.empty() ? "" : "; ",
                  s.name.c_str(), s.clients, s.clients == 1 ? "" : "s", s.kbps, s.fps);
    text += line;
  }
  return text.empty() ? "no feed" : text;
}

struct Run {
  rtsp::Server* server;
  GMainLoop* loop;
  const Options* options;
  programs::StatusLine status;
  std::vector<rtsp::FeedStats> last;
  double sinceLine = 0;
};

gboolean onTick(gpointer data) {
  auto& run = *static_cast<Run*>(data);
  if (programs::stopRequested()) {
    g_main_loop_quit(run.loop);
    return G_SOURCE_REMOVE;
  }
  run.server->refresh();
  return G_SOURCE_CONTINUE;
}

gboolean onStats(gpointer data) {
  auto& run = *static_cast<Run*>(data);
  run.last = run.server->stats();
  run.sinceLine += 1;
  if (run.status.enabled()) {
    run.status.show(std::string(kProgram) + ": " + statsText(run.last));
  } else if (run.options->statsInterval > 0 && run.sinceLine >= run.options->statsInterval) {
    std::fprintf(stderr, "%s: %s\n", kProgram, statsText(run.last).c_str());
    run.sinceLine = 0;
  }
  return G_SOURCE_CONTINUE;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  auto& server = options.server;
  CLI::App app{"Serves frameshm feeds over RTSP, at rtsp://HOST:PORT/<feed>", kProgram};
  app.add_option("--bind", server.bind, "Address to listen on (0.0.0.0 for every interface)")
      ->capture_default_str();
  app.add_option("--port", server.port, "Port (0 picks a free one, printed at start)")
      ->check(cli::explained(CLI::Range(0, 65535), "must be a port, 0..65535, not {}"))
      ->capture_default_str();
  app.add_option("--feed", server.feeds, "Serve only this feed (repeatable); default every live feed")
      ->check(CLI::Validator(
          [](std::string& name) {
            auto ok = validateFeedName(name);
            return ok ? std::string() : ok.error().message;
          },
          "FEED"));
  app.add_option("--codec", options.codec, "h264 or jpeg (needs no plugins beyond plugins-good)")
      ->check(cli::explained(CLI::IsMember({"h264", "jpeg"}), "must be h264 or jpeg, not {}"))
      ->capture_default_str();
  app.add_option(
      "--encoder", server.encode.encoder,
      "H.264 encoder element instead of x264enc, with its properties (e.g. 'vah264enc bitrate=4000'); "
      "--bitrate and --keyframe-interval then do not apply");
  app.add_option("--bitrate", server.encode.bitrateKbps, "H.264 bitrate, kbit/s")
      ->check(cli::explained(CLI::Range(16, 200000), "must be 16..200000 kbit/s, not {}"))
      ->capture_default_str();
  app.add_option("--keyframe-interval", server.encode.keyframeInterval, "Frames between H.264 keyframes")
      ->check(cli::explained(CLI::Range(1, 3000), "must be 1..3000 frames, not {}"))
      ->capture_default_str();
  app.add_option("--jpeg-quality", server.encode.jpegQuality, "JPEG quality, 1..100")
      ->check(cli::explained(CLI::Range(1, 100), "must be 1..100, not {}"))
      ->capture_default_str();
  app.add_option("--user", server.user, "Require this user name (RTSP digest authentication)");
  app.add_option("--password-file", options.passwordFile, "File whose first line is --user's password")
      ->check(cli::explained(CLI::ExistingFile, "cannot read {}"));
  app.add_option("--password-env", options.passwordEnv, "Environment variable holding --user's password")
      ->capture_default_str();
  app.add_option("--auth", options.authMethod, "digest, or basic (sends the password in clear without TLS)")
      ->check(cli::explained(CLI::IsMember({"digest", "basic"}), "must be digest or basic, not {}"))
      ->capture_default_str();
  auto* cert = app.add_option("--cert", server.certFile, "TLS certificate (PEM): serve rtsps:// only")
                   ->check(cli::explained(CLI::ExistingFile, "cannot read {}"));
  auto* key = app.add_option("--key", server.keyFile, "TLS private key (PEM) for --cert")
                  ->check(cli::explained(CLI::ExistingFile, "cannot read {}"));
  cert->needs(key);
  key->needs(cert);
  app.add_option("--end-grace", options.endGrace,
                 "Seconds a vanished feed keeps its clients, waiting for its producer to come back")
      ->check(cli::explained(CLI::Range(0.0, 3600.0), "must be 0..3600 s, not {}"))
      ->capture_default_str();
  app.add_option("--stats-interval", options.statsInterval,
                 "Seconds between stats lines on stderr (0 = none)")
      ->check(cli::explained(CLI::Range(0.0, 86400.0), "must be 0..86400 s, not {}"))
      ->capture_default_str();
  app.add_flag("--stats-json", options.statsJson,
               "Print each feed's figures as one JSON line on stdout at exit");
  if (auto code = cli::parse(app, argc, argv)) return *code;

  server.encode.codec = options.codec == "jpeg" ? rtsp::Codec::Jpeg : rtsp::Codec::H264;
  server.basicAuth = options.authMethod == "basic";
  server.endGrace = std::chrono::milliseconds(static_cast<long>(options.endGrace * 1000));
  if (!server.encode.encoder.empty() && server.encode.codec != rtsp::Codec::H264)
    return usageError("--encoder is an H.264 encoder; it does not go with --codec jpeg");
  if (!server.user.empty()) {
    server.password = readPassword(options);
    if (server.password.empty())
      return usageError("--user " + server.user + " needs a password: in --password-file, or in $" +
                        options.passwordEnv);
  }

  gst_init(nullptr, nullptr);
  if (!findFrameshmPlugin())
    return usageError(
        "GStreamer has no frameshmsrc: set GST_PLUGIN_PATH to the directory of libgstframeshm.so "
        "(build/<preset>/plugins, or the installed plugin directory)");
  if (auto problem = checkPipeline(server.encode); !problem.empty())
    return usageError("cannot build the media pipeline: " + problem);

  auto created = rtsp::Server::create(server);
  if (!created) return usageError(created.error());
  programs::installStopHandlers();
  std::fprintf(stderr, "%s: listening on rtsp%s://%s:%d/ (%s)\n", kProgram,
               server.certFile.empty() ? "" : "s", server.bind.c_str(), (*created)->port(),
               server.feeds.empty() ? "every live feed" : "the feeds named by --feed");

  GMainLoop* loop = g_main_loop_new(nullptr, FALSE);
  Run run{created->get(), loop, &options, {}, {}, 0};
  (*created)->refresh();
  const auto started = std::chrono::steady_clock::now();
  g_timeout_add(250, onTick, &run);
  const guint statsSource = g_timeout_add(1000, onStats, &run);
  g_main_loop_run(loop);
  g_source_remove(statsSource);
  run.status.finish();

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto final = (*created)->stats();
  if (options.statsJson) {
    auto feeds = nlohmann::json::array();
    for (const auto& s : final)
      feeds.push_back(
          {{"name", s.name},
           {"clients_max", s.clientsMax},
           {"frames", s.framesOut},
           {"bytes", s.bytesOut},
           {"kbps_mean", seconds > 0 ? static_cast<double>(s.bytesOut) * 8 / 1000 / seconds : 0.0}});
    std::printf(
        "%s\n",
        nlohmann::json{{"port", (*created)->port()}, {"seconds", seconds}, {"feeds", std::move(feeds)}}
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            .c_str());
  }
  std::fprintf(stderr, "%s: stopped after %.1f s (signal %d)\n", kProgram, seconds, programs::stopSignal());
  created->reset();
  g_main_loop_unref(loop);
  return kExitOk;
}
