// SPDX-License-Identifier: LGPL-2.1-or-later
// Scenario 5 and the GStreamer half of scenario 3: gst-launch-1.0 processes
// with shmsink/shmsrc beside the same pipelines with frameshmsink/frameshmsrc.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "floors.hpp"
#include "harness.hpp"
#include "scenarios.hpp"

namespace frameshm::bench {
namespace {

using std::chrono::milliseconds;

struct Size {
  const char* name;
  std::uint32_t width, height;
};
constexpr Size kSizes[] = {{"640x480", 640, 480}, {"1080p", 1920, 1080}, {"4K", 3840, 2160}};

std::uint64_t i420Bytes(const Size& s) {
  auto round4 = [](std::uint64_t v) { return (v + 3) / 4 * 4; };
  return round4(s.width) * s.height + 2 * round4((s.width + 1) / 2) * ((s.height + 1) / 2);
}

std::string caps(const Size& s, int fps) {
  return "video/x-raw,format=I420,width=" + std::to_string(s.width) + ",height=" + std::to_string(s.height) +
         ",framerate=" + std::to_string(fps) + "/1";
}

// A scratch directory for sockets and logs, removed with what shmsink left in /dev/shm.
class Scratch {
 public:
  Scratch() {
    path_ = (std::filesystem::temp_directory_path() /
             ("frameshm-bench-" + std::to_string(getpid()) + "-" + std::to_string(counter_++)))
                .string();
    std::filesystem::create_directories(path_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  static inline int counter_ = 0;
  std::string path_{};
};

// shmsink names its segments /dev/shm/shmpipe.<pid>.<n>, the numbers padded
// with spaces to 5 characters; a killed sender leaves them.
void removeShmpipeSegments(pid_t pid) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("shmpipe.", 0) != 0) continue;
    const auto dot = name.find('.', 8);
    if (dot == std::string::npos) continue;
    std::string number = name.substr(8, dot - 8);
    number.erase(0, number.find_first_not_of(' '));
    if (number == std::to_string(pid)) std::filesystem::remove(entry.path(), ec);
  }
}

std::vector<std::string> gstLaunch(const std::string& pipeline) {
  std::vector<std::string> argv = {"gst-launch-1.0", "-v"};
  std::istringstream words(pipeline);
  for (std::string word; words >> word;) argv.push_back(word);
  return argv;
}

std::string readFileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::vector<std::string> gstEnv(const Config& config) {
  if (config.pluginDir.empty()) return {};
  return {"GST_PLUGIN_PATH=" + config.pluginDir};
}

bool elementExists(const Config& config, const std::string& element) {
  // Not --exists: it does not look at GST_PLUGIN_PATH's plugins (GStreamer 1.22).
  test::Child inspect = spawnLogged({"gst-inspect-1.0", element}, "/dev/null", gstEnv(config));
  return inspect.wait(milliseconds(20'000)) == 0;
}

struct Pair {
  std::string name{};    // "shmsink" or "frameshm"
  std::string sink{};    // the sink element with its properties
  std::string source{};  // the source element with its properties
  bool shmpipe = false;  // a shmsink sender: clean its /dev/shm leftovers
  std::string feed{};    // the frameshm feed, to remove whatever happens
};

Pair shmPair(const Scratch& scratch, const std::string& tag, std::uint64_t frameBytes, int buffers) {
  const std::string socket = scratch.file(tag + ".sock");
  // shm-size for `buffers` frames, as many as frameshmsink's slots. sync=false
  // is named: at its default, shmsink holds each frame of a live source one
  // pipeline latency (33 ms at 30 fps), where frameshmsink publishes at once.
  const std::uint64_t shmSize = frameBytes * static_cast<std::uint64_t>(buffers) + 65536;
  return {"shmsink",
          "shmsink socket-path=" + socket + " shm-size=" + std::to_string(shmSize) +
              " wait-for-connection=true sync=false",
          "shmsrc socket-path=" + socket + " is-live=true", true};
}

// frameshmsink and frameshmsrc at their element defaults.
Pair frameshmPair(const std::string& tag) {
  const std::string feed = test::uniqueFeed(tag, "bench-");
  return {"frameshm", "frameshmsink feed=" + feed, "frameshmsrc feed=" + feed, false, feed};
}

// Frames each pair may have in flight: frameshmsink's default slots, and as
// many frames of shm-size for shmsink.
constexpr int kBuffers = 6;

// Put before either sink, upstream cannot write into the sink's memory, so the
// sink copies every frame. shmsink needs it behind a fast source: writing in
// place into its area (videotestsrc's pool on shmsink's allocator) stalls for
// good within a second at 1080p, whatever shm-size (gst-plugins-bad 1.22).
constexpr const char* kSinkCopies = "identity drop-allocation=true ! ";

std::vector<double> readSamples(const std::string& path) {
  std::vector<double> samples;
  std::ifstream in(path);
  for (double v; in >> v;) samples.push_back(v);
  return samples;
}

// What one counting receiver measured.
struct Count {
  double fps = 0;              // 0: no frame came
  double cpuUsPerFrame = NAN;  // the receiving process's CPU per frame
  double skippedFps = 0;       // frames per second the source never saw (frameshmsrc)
};

// One `SOURCE ! fakesink` process counted by the helper (its count mode).
class Counter {
 public:
  Counter(const Config& config, const Scratch& scratch, const std::string& source, double seconds,
          const std::string& tag)
      : out_(scratch.file(tag + "-fps")),
        log_(scratch.file(tag + "-recv.log")),
        limit_(milliseconds(static_cast<int>((seconds + kWarmup) * 1000) + 20'000)),
        child_(
            spawnLogged({config.gstHelper, "count", "--source", source, "--seconds", std::to_string(seconds),
                         "--warmup-seconds", std::to_string(config.smoke ? 0.2 : kWarmup), "--out", out_},
                        log_, gstEnv(config))) {}

  // What it counted (nothing if it failed: said on stderr, as `who`).
  Count result(const std::string& who) {
    const int code = child_.wait(limit_);
    const auto got = readSamples(out_);
    if (code != 0)
      std::fprintf(stderr, "frameshm-bench: %s receiver failed: %s\n", who.c_str(),
                   readFileText(log_).c_str());
    return code == 0 && got.size() >= 3 ? Count{got[0], got[1], got[2]} : Count{};
  }

 private:
  static constexpr double kWarmup = 0.5;
  std::string out_, log_;
  milliseconds limit_;
  test::Child child_;
};

// Runs one gst-launch-1.0 sender and its receivers (`receiver ! fakesink`,
// counted by the helper) for `seconds`; returns what each receiver counted.
std::vector<Count> runPipelinesOnce(const Config& config, const Scratch& scratch, const Pair& pair,
                                    const std::string& sender, const std::vector<std::string>& receivers,
                                    double seconds, const std::string& tag) {
  const auto env = gstEnv(config);
  std::unique_ptr<test::FeedGuard> cleanup;
  if (pair.name == "frameshm") cleanup = std::make_unique<test::FeedGuard>(pair.feed);
  test::Child send = spawnLogged(gstLaunch(sender), scratch.file(tag + "-send.log"), env);
  // The receivers need the sender's socket or feed to exist.
  std::this_thread::sleep_for(milliseconds(700));
  std::vector<Counter> receive;
  for (std::size_t i = 0; i < receivers.size(); ++i)
    receive.emplace_back(config, scratch, receivers[i], seconds, tag + "-" + std::to_string(i));
  std::vector<Count> fps;
  for (auto& receiver : receive) fps.push_back(receiver.result(pair.name));
  const pid_t sendPid = send.pid();
  send.stop(milliseconds(2'000));
  if (pair.shmpipe) removeShmpipeSegments(sendPid);
  return fps;
}

// As above, once more if a receiver counted nothing: on a loaded machine a
// pipeline of either pair now and then fails to start (shmsrc: "Failed to
// read from shmsrc" while the whole test suite ran beside it under ASan).
std::vector<Count> runPipelines(const Config& config, const Scratch& scratch, const Pair& pair,
                                const std::string& sender, const std::vector<std::string>& receivers,
                                double seconds, const std::string& tag) {
  auto fps = runPipelinesOnce(config, scratch, pair, sender, receivers, seconds, tag);
  if (std::ranges::all_of(fps, [](const Count& c) { return c.fps > 0; })) return fps;
  std::fprintf(stderr, "frameshm-bench: %s: a receiver counted nothing; running it once more\n",
               pair.name.c_str());
  return runPipelinesOnce(config, scratch, pair, sender, receivers, seconds, tag + "-again");
}

// Rounds of each figure that sets the pairs side by side (latency cells, reader
// CPU), the pairs taking turns; one for the smoke run.
int pairRounds(const Config& config) {
  return config.smoke ? 1 : 3;
}

// The stages of one frame's trip (see gst_helper.cpp --stages).
constexpr const char* kStages[] = {"appsrcToSink", "sinkToSource", "sourceToApp"};
constexpr const char* kStageText[] = {"appsrc thread hand-off to the sink",
                                      "sink render, publish, reader wake, source create",
                                      "source push to the application's pull"};

// frameshmsink -> frameshmsrc's part of "sinkToSource", from frameshmsrc's
// own times of each frame (its TRACE log, caught in a round of its own):
// the sink's pad to the publish (render: the copy, or the in-place publish),
// the publish to the reader taking the frame (the wake-up), the take to
// create returning, and create returning to the buffer leaving the pad.
constexpr int kSourceStageCount = 4;
constexpr const char* kSourceStages[kSourceStageCount] = {"sinkToPublish", "publishToTaken", "takenToCreated",
                                                          "createdToPushed"};
constexpr const char* kSourceStageText[kSourceStageCount] = {
    "sink pad to publish (render: copy or in-place publish)",
    "publish to the reader taking the frame (wake-up)", "frame taken to create returning (the buffer made)",
    "create returning to the buffer leaving the source"};

struct LatencyRun {
  std::vector<double> samples{};                             // push -> pull, us
  std::vector<double> stages[3] = {};                        // per kStages, us
  std::vector<double> sourceStages[kSourceStageCount] = {};  // per kSourceStages, us (--source-times only)
};

// Per-stage durations from the sender's and the receiver's stage files.
void joinStages(const std::string& sent, const std::string& received, LatencyRun& run) {
  std::map<std::int64_t, std::int64_t> atSink;
  {
    std::ifstream in(sent);
    for (std::int64_t i, pushed, sink; in >> i >> pushed >> sink;) atSink[i] = sink;
  }
  std::ifstream in(received);
  for (std::int64_t i, pushed, left, pulled, published, taken, created;
       in >> i >> pushed >> left >> pulled >> published >> taken >> created;) {
    const auto sink = atSink.find(i);
    if (sink == atSink.end() || sink->second == 0 || left == 0) continue;
    const std::int64_t t[] = {pushed, sink->second, left, pulled};
    for (int k = 0; k < 3; ++k) run.stages[k].push_back(static_cast<double>(t[k + 1] - t[k]) * 1e-3);
    if (published == 0 || taken == 0 || created == 0) continue;
    const std::int64_t u[] = {sink->second, published, taken, created, left};
    for (int k = 0; k < kSourceStageCount; ++k)
      run.sourceStages[k].push_back(static_cast<double>(u[k + 1] - u[k]) * 1e-3);
  }
}

// appsrc -> sink ... source -> appsink latency in two processes; no samples if it could not run.
LatencyRun gstLatency(const Config& config, const Scratch& scratch, const Pair& pair, const Size& size,
                      bool inPlace, int frames, const std::string& tag, bool& notOffered,
                      bool sourceTimes = false) {
  const auto env = gstEnv(config);
  std::unique_ptr<test::FeedGuard> cleanup;
  if (pair.name == "frameshm") cleanup = std::make_unique<test::FeedGuard>(pair.feed);
  const std::string dims = std::to_string(size.width) + "x" + std::to_string(size.height);
  const std::string out = scratch.file(tag + ".samples"), ready = scratch.file(tag + ".ready");
  const std::string sentStages = scratch.file(tag + ".sent"),
                    receivedStages = scratch.file(tag + ".received");
  // The receiver counts the sender's priming frame too, and leaves out a
  // warm-up of half a second: on this VM the first write into memory fresh to
  // the process is slow (12 MB: 17-35 ms, page faults or none), so the first
  // frames into each of the sink's buffers or slots put the sender behind, and
  // the frames it then pushes at once queue up (4K in place: frames 11-16 of a
  // run at 1-4 ms with a warm-up of 10 frames, for either pair).
  constexpr int kWarmup = 30;
  test::Child send = spawnLogged({config.gstHelper, "send", "--sink", pair.sink, "--size", dims, "--frames",
                                  std::to_string(frames + kWarmup), "--ready", ready, "--stages", sentStages,
                                  inPlace ? "--in-place" : "--fps=60"},
                                 scratch.file(tag + "-send.log"), env);
  std::this_thread::sleep_for(milliseconds(700));
  std::vector<std::string> receiver = {config.gstHelper, "receive",
                                       "--source",       pair.source,
                                       "--size",         dims,
                                       "--frames",       std::to_string(frames + kWarmup + 1),
                                       "--warmup",       std::to_string(kWarmup + 1),
                                       "--out",          out,
                                       "--ready",        ready,
                                       "--stages",       receivedStages};
  if (sourceTimes) receiver.push_back("--source-times");
  test::Child receive = spawnLogged(receiver, scratch.file(tag + "-recv.log"), env);
  const auto limit = milliseconds(frames * 1000 / 60 + 15'000);
  const int received = receive.wait(limit);
  const pid_t sendPid = send.pid();
  const int sent = send.wait(milliseconds(3'000));
  if (pair.shmpipe) removeShmpipeSegments(sendPid);
  notOffered = sent == 3;
  if (received != 0 && !notOffered)
    std::fprintf(stderr, "frameshm-bench: %s latency failed: %s %s\n", pair.name.c_str(),
                 readFileText(scratch.file(tag + "-send.log")).c_str(),
                 readFileText(scratch.file(tag + "-recv.log")).c_str());
  LatencyRun run;
  if (received != 0) return run;
  run.samples = readSamples(out);
  joinStages(sentStages, receivedStages, run);
  return run;
}

void addLatency(Report& report, const std::string& id, const std::string& what, const Summary& s, double ref,
                const std::string& refName) {
  const std::pair<const char*, double> parts[] = {
      {"p50", s.p50}, {"p95", s.p95}, {"p99", s.p99}, {"max", s.max}};
  for (const auto& [name, value] : parts) {
    const bool withRatio = std::string(name) == "p50" && ref > 0;
    report.add({"gstreamer", id + "." + name, what + " " + name, value, "us", withRatio ? value / ref : NAN,
                withRatio ? refName : ""});
  }
}

bool frameshmElements(const Config& config, Report& report, const std::string& scenario) {
  if (!config.pluginDir.empty() && elementExists(config, "frameshmsink") &&
      elementExists(config, "frameshmsrc"))
    return true;
  report.note(scenario,
              "frameshmsink/frameshmsrc not available (libgstframeshm.so not built in this build "
              "directory): shmsink/shmsrc side only");
  return false;
}

}  // namespace

void runGstSlowReader(const Config& config, Report& report) {
  if (!elementExists(config, "shmsink")) {
    report.note("slowreader", "shmsink not installed (gst-plugins-bad): GStreamer side left out");
    return;
  }
  const Size& size = kSizes[1];
  Scratch scratch;
  const double seconds = config.smoke ? 1.0 : std::max(1.5, config.phaseSeconds * 2);
  std::vector<Pair> pairs = {shmPair(scratch, "slow", i420Bytes(size), kBuffers)};
  if (frameshmElements(config, report, "slowreader")) pairs.push_back(frameshmPair("gslow"));
  double shmNormal = NAN;
  for (const Pair& pair : pairs) {
    std::printf("slow reader through %s ...\n", pair.name.c_str());
    std::fflush(stdout);
    const std::string sender =
        "videotestsrc is-live=true pattern=black ! " + caps(size, 60) + " ! " + kSinkCopies + pair.sink;
    const std::string normal = pair.source + " ! " + caps(size, 60);
    const std::string slow = pair.source + " ! " + caps(size, 60) + " ! identity sleep-time=100000";
    const auto counts =
        runPipelines(config, scratch, pair, sender, {normal, slow}, seconds, "slow-" + pair.name);
    const double fps[] = {counts[0].fps, counts[1].fps};
    const std::string who = pair.name == "shmsink" ? "shmsink" : "frameshmgst";
    const std::string label = pair.name == "shmsink" ? "shmsink/shmsrc" : "frameshmsink/frameshmsrc";
    if (pair.name == "shmsink") shmNormal = fps[0];
    const bool ratio = pair.name != "shmsink" && shmNormal > 0;
    report.add({"slowreader", who + ".normalFps",
                label + " 1080p60: normal reader fps beside a 100 ms reader", fps[0], "frames/s",
                fps[0] / 60.0, "source rate"});
    report.add({"slowreader", who + ".slowFps", label + " 1080p60: slow reader fps", fps[1], "frames/s",
                fps[1] / 60.0, "source rate"});
    if (ratio)
      report.add({"slowreader", who + ".vsShmsink", label + ": normal reader fps / shmsink's",
                  fps[0] / shmNormal, "ratio", fps[0] / shmNormal, "shmsink"});
  }
}

namespace {

// Throughput: identical pipelines, as fast as the source goes, same buffer
// count; once with the sink copying, once with upstream writing in place;
// `rounds` times in a row, the pairs taking turns.
void gstThroughput(const Config& config, Report& report, const Scratch& scratch, bool withFrameshm) {
  const Size& big = kSizes[1];
  const double seconds = config.smoke ? 1.0 : std::max(1.5, config.phaseSeconds * 2);
  const int rounds = pairRounds(config);
  for (bool inPlace : {false, true}) {
    const std::string mode = inPlace ? "inplace" : "copy";
    const std::string how = inPlace ? "upstream writes in place" : "sink copies";
    std::vector<double> shmRuns, frameshmRuns, ratios, skipped;
    for (int round = 1; round <= rounds; ++round) {
      const std::string tag = (inPlace ? "tpi" : "tp") + std::to_string(round);
      std::vector<Pair> pairs = {shmPair(scratch, tag, i420Bytes(big), kBuffers)};
      if (withFrameshm) pairs.push_back(frameshmPair("g" + tag));
      for (const Pair& pair : pairs) {
        std::printf("gstreamer throughput %s %s, run %d ...\n", pair.name.c_str(), mode.c_str(), round);
        std::fflush(stdout);
        // The source is not live: a sink that synchronised would pace it at 60 fps.
        const std::string sender = "videotestsrc pattern=black ! " + caps(big, 60) + " ! " +
                                   (inPlace ? "" : kSinkCopies) + pair.sink + " sync=false";
        const std::string receiver = pair.source + " ! " + caps(big, 60);
        const Count count =
            runPipelines(config, scratch, pair, sender, {receiver}, seconds, "tp-" + tag + pair.name)[0];
        (pair.name == "shmsink" ? shmRuns : frameshmRuns).push_back(count.fps);
        if (pair.name != "shmsink") skipped.push_back(count.skippedFps);
      }
      if (withFrameshm && shmRuns.back() > 0) ratios.push_back(frameshmRuns.back() / shmRuns.back());
    }
    const double shmFps = summarize(shmRuns).p50;
    report.add({"gstreamer", "shm.throughput." + mode,
                "shmsink/shmsrc 1080p I420 throughput, " + how + " (median of runs)", shmFps, "frames/s"});
    if (shmFps <= 0)
      report.note("gstreamer", "shmsink/shmsrc, " + how +
                                   ": no frame got through in the measuring window "
                                   "(shmsink stalls when upstream writes into its memory)");
    if (!withFrameshm) continue;
    report.add({"gstreamer", "frameshm.throughput." + mode,
                "frameshmsink/frameshmsrc 1080p I420 throughput, " + how + " (median of runs)",
                summarize(frameshmRuns).p50, "frames/s",
                shmFps > 0 ? summarize(frameshmRuns).p50 / shmFps : NAN, "shmsink"});
    for (std::size_t i = 0; i < ratios.size(); ++i)
      report.add({"gstreamer", "frameshm.throughput." + mode + ".run" + std::to_string(i + 1),
                  "throughput frameshm / shmsink, " + how + ", run " + std::to_string(i + 1), ratios[i],
                  "ratio", ratios[i], "shmsink"});
    // shmsink holds its sender until the reader is done with a buffer;
    // frameshmsink never waits, so what the reader gets depends on how the
    // two processes share the cores: frames it skips show it.
    report.add({"gstreamer", "frameshm.throughput." + mode + ".skipped",
                "frameshmsrc 1080p, " + how +
                    ": frames the producer published that the reader skipped "
                    "(median of runs)",
                summarize(skipped).p50, "frames/s"});
    if (!ratios.empty())
      report.add(
          {"gstreamer", "frameshm.throughput." + mode + ".worstRun",
           "throughput frameshm / shmsink, " + how + ", worst of " + std::to_string(ratios.size()) + " runs",
           *std::min_element(ratios.begin(), ratios.end()), "ratio",
           *std::min_element(ratios.begin(), ratios.end()), "shmsink"});
  }
}

// CPU per frame of the reading process (`source ! fakesink`) at a camera's
// pace: 1080p60 and 4K30, element defaults, the sink copying.
void gstReaderCpu(const Config& config, Report& report, const Scratch& scratch, bool withFrameshm) {
  const double seconds = config.smoke ? 1.0 : std::max(2.0, config.phaseSeconds * 2);
  const std::pair<const Size*, int> cases[] = {{&kSizes[1], 60}, {&kSizes[2], 30}};
  for (const auto& [size, fps] : cases) {
    if (config.smoke && fps == 30) continue;
    const std::string name = std::string(size->name) + "@" + std::to_string(fps);
    const std::string tag = std::string("cpu") + size->name + std::to_string(fps);
    std::vector<Pair> pairs = {shmPair(scratch, tag, i420Bytes(*size), kBuffers)};
    if (withFrameshm) pairs.push_back(frameshmPair("g" + tag));
    // What each source's way of waiting costs a bare process at this rate:
    // the part of the reading pipeline's CPU that is the kernel's.
    std::printf("gstreamer reader CPU: bare waiters at %d Hz ...\n", fps);
    std::fflush(stdout);
    const double futexFloor = waiterCpuUs(Waiter::ReadOnlyFutex, fps, seconds);
    const double socketFloor = waiterCpuUs(Waiter::SocketMessage, fps, seconds);
    const std::string hz = std::to_string(fps) + " Hz";
    report.add({"gstreamer", "floor.futexWaiter." + std::to_string(fps),
                "bare process woken at " + hz + " from FUTEX_WAIT on a read-only word: CPU per wake",
                futexFloor, "us"});
    report.add({"gstreamer", "floor.socketWaiter." + std::to_string(fps),
                "bare process woken at " + hz + " by poll, recv and an acknowledging send: CPU per wake",
                socketFloor, "us"});
    // And GStreamer's own per-buffer work at this rate: a live source that
    // only pushes a tiny buffer, paced by one clock wait per buffer.
    std::printf("gstreamer reader CPU: fakesrc sync=true at %d Hz ...\n", fps);
    std::fflush(stdout);
    const Count bare = Counter(config, scratch,
                               "fakesrc is-live=true sync=true format=time sizetype=fixed sizemax=64 "
                               "filltype=nothing datarate=" +
                                   std::to_string(64 * fps),
                               seconds, "cpu-fakesrc-" + tag)
                           .result("fakesrc");
    if (bare.fps > 0)
      report.add(
          {"gstreamer", "floor.gstSource." + std::to_string(fps),
           "fakesrc sync=true ! fakesink at " + hz + " (GStreamer's own per-buffer work): CPU per frame",
           bare.cpuUsPerFrame, "us"});
    // The pairs take turns, round after round, and each pair's figure is the
    // median of its rounds: one slow minute moves one round, not the ratio.
    std::vector<std::vector<double>> cpuRounds(pairs.size());
    for (int round = 0; round < pairRounds(config); ++round) {
      for (std::size_t k = 0; k < pairs.size(); ++k) {
        const Pair& pair = pairs[k];
        std::printf("gstreamer reader CPU %s %s, round %d ...\n", pair.name.c_str(), name.c_str(), round + 1);
        std::fflush(stdout);
        const std::string sender =
            "videotestsrc is-live=true pattern=black ! " + caps(*size, fps) + " ! " + kSinkCopies + pair.sink;
        const Count count = runPipelines(config, scratch, pair, sender, {pair.source}, seconds,
                                         "cpu-" + tag + pair.name + std::to_string(round))[0];
        if (count.fps > 0) cpuRounds[k].push_back(count.cpuUsPerFrame);
      }
    }
    double shmCpu = NAN;
    for (std::size_t k = 0; k < pairs.size(); ++k) {
      const Pair& pair = pairs[k];
      // NAN if no round counted a frame.
      const double cpu = cpuRounds[k].empty() ? NAN : summarize(cpuRounds[k]).p50;
      const bool shm = pair.name == "shmsink";
      if (shm) shmCpu = cpu;
      report.add({"gstreamer", (shm ? "shm" : "frameshm") + std::string(".readerCpu.") + name,
                  (shm ? "shmsrc ! fakesink " : "frameshmsrc ! fakesink ") + name + " CPU per frame", cpu,
                  "us", shm || !(shmCpu > 0) ? NAN : cpu / shmCpu, shm ? "" : "shmsrc"});
      if (!cpuRounds[k].empty())
        report.add({"gstreamer", (shm ? "shm" : "frameshm") + std::string(".readerCpuAboveWait.") + name,
                    (shm ? "shmsrc ! fakesink " : "frameshmsrc ! fakesink ") + name +
                        " CPU per frame beyond its bare wait (GStreamer and the element)",
                    cpu - (shm ? socketFloor : futexFloor), "us"});
    }
  }
}

}  // namespace

void runGstreamer(const Config& config, Report& report) {
  if (!elementExists(config, "shmsink")) {
    report.note("gstreamer", "shmsink not installed (gst-plugins-bad): scenario 5 left out");
    return;
  }
  Scratch scratch;
  const bool withFrameshm = frameshmElements(config, report, "gstreamer");
  gstThroughput(config, report, scratch, withFrameshm);
  gstReaderCpu(config, report, scratch, withFrameshm);

  // Latency: appsrc push in one process to appsink pull in the other, beside
  // the same push and pull in one process through a queue (GStreamer's own
  // thread hand-off), measured in the same run at each size.
  if (!std::filesystem::exists(config.gstHelper)) {
    report.note("gstreamer", "frameshm-bench-gst helper not found next to frameshm-bench: latency left out");
    return;
  }
  const int frames = config.smoke ? 40 : static_cast<int>(std::max(60.0, config.latencySeconds * 60));
  for (const Size& size : kSizes) {
    // The smoke run only checks that the latency path works.
    if (config.smoke && std::string(size.name) != "1080p") continue;
    const std::string dims = std::to_string(size.width) + "x" + std::to_string(size.height);
    double baseline = NAN;
    {
      const std::string out = scratch.file(std::string("local") + size.name + ".samples");
      test::Child local = spawnLogged({config.gstHelper, "local", "--size", dims, "--frames",
                                       std::to_string(frames + 20), "--warmup", "20", "--out", out},
                                      scratch.file("local.log"));
      if (local.wait(milliseconds(frames * 1000 / 60 + 15'000)) == 0) {
        const Summary s = summarize(readSamples(out));
        baseline = s.p50;
        addLatency(report, std::string("sameProcess.") + size.name,
                   std::string("appsrc ! queue ! appsink (one process, ") + size.name + ")", s, 0, "");
        // The plots' and earlier runs' name for the 1080p baseline.
        if (std::string(size.name) == "1080p")
          addLatency(report, "sameProcess", "appsrc ! queue ! appsink (one process, 1080p)", s, 0, "");
      }
    }
    // A sink that copies cannot hand a frame on sooner than one copy of it.
    const Summary copy = pacedCopyUs(i420Bytes(size), 60, config.smoke ? 0.5 : 2.0);
    addLatency(report, std::string("pacedCopy.") + size.name,
               std::string("one memcpy of a ") + size.name + " I420 frame at 60 Hz (a copying sink's floor)",
               copy, 0, "");
    std::vector<Pair> latencyPairs = {
        shmPair(scratch, std::string("lat") + size.name, i420Bytes(size), kBuffers)};
    if (withFrameshm) latencyPairs.push_back(frameshmPair(std::string("glat") + size.name));
    std::map<std::string, Summary> shm;
    for (bool inPlace : {false, true}) {
      const std::string mode = inPlace ? "inplace" : "copy";
      // The pairs of a mode take turns, round after round, and each pair's
      // samples are pooled over its rounds: a slow minute of this VM falls on
      // both pairs alike rather than on one pair's cells.
      std::vector<LatencyRun> runs(latencyPairs.size());
      std::vector<bool> notOffered(latencyPairs.size(), false), failed(latencyPairs.size(), false);
      for (int round = 0; round < pairRounds(config); ++round) {
        for (std::size_t k = 0; k < latencyPairs.size(); ++k) {
          const Pair& pair = latencyPairs[k];
          if (notOffered[k] || failed[k]) continue;
          std::printf("gstreamer latency %s %s %s, round %d ...\n", pair.name.c_str(), size.name,
                      mode.c_str(), round + 1);
          std::fflush(stdout);
          bool refused = false;
          const std::string tag =
              "lat-" + pair.name + "-" + size.name + "-" + mode + "-" + std::to_string(round);
          LatencyRun one = gstLatency(config, scratch, pair, size, inPlace, frames, tag, refused);
          notOffered[k] = refused;
          // A round that could not run spoils the pair's cell: no half pools.
          failed[k] = one.samples.empty();
          if (failed[k]) runs[k] = {};
          runs[k].samples.insert(runs[k].samples.end(), one.samples.begin(), one.samples.end());
          for (int stage = 0; stage < 3; ++stage)
            runs[k].stages[stage].insert(runs[k].stages[stage].end(), one.stages[stage].begin(),
                                         one.stages[stage].end());
        }
      }
      // One more round of frameshm's alone, with frameshmsrc's own times of
      // each frame: its stages only, since catching its log is work the
      // other pair does not do; the latency cells keep to the rounds above.
      std::vector<LatencyRun> timed(latencyPairs.size());
      for (std::size_t k = 0; k < latencyPairs.size(); ++k) {
        const Pair& pair = latencyPairs[k];
        if (pair.name != "frameshm" || notOffered[k] || failed[k]) continue;
        std::printf("gstreamer latency %s %s %s, frameshmsrc's own times ...\n", pair.name.c_str(), size.name,
                    mode.c_str());
        std::fflush(stdout);
        bool refused = false;
        timed[k] = gstLatency(config, scratch, pair, size, inPlace, frames,
                              "lat-" + pair.name + "-" + size.name + "-" + mode + "-times", refused, true);
      }
      for (std::size_t k = 0; k < latencyPairs.size(); ++k) {
        const Pair& pair = latencyPairs[k];
        const LatencyRun& run = runs[k];
        const bool isShm = pair.name == "shmsink";
        const std::string who = isShm ? "shm" : "frameshm";
        const std::string label = (isShm ? "shmsink/shmsrc " : "frameshmsink/frameshmsrc ") +
                                  std::string(size.name) + "@60 appsrc->appsink, " +
                                  (inPlace ? "written in place" : "sink copies");
        if (run.samples.empty()) {
          report.note("gstreamer",
                      label + ": " + (notOffered[k] ? "the sink offers no memory upstream" : "did not run"));
          continue;
        }
        const Summary s = summarize(run.samples);
        const std::string id = who + "." + size.name + "." + mode;
        if (isShm) shm[mode] = s;
        const bool ref = !isShm && shm.count(mode);
        addLatency(report, id, label, s, ref ? shm[mode].p50 : 0, "shmsink");
        if (ref && shm[mode].p95 > 0)
          report.add({"gstreamer", id + ".p95vsShm", label + " p95 / shmsink's", s.p95 / shm[mode].p95,
                      "ratio", s.p95 / shm[mode].p95, "shmsink"});
        if (std::isfinite(baseline)) {
          const double crossing = s.p50 - baseline;
          const double shmCrossing = ref ? shm[mode].p50 - baseline : NAN;
          report.add({"gstreamer", id + ".crossProcess.p50", label + ": p50 minus the same-process baseline",
                      crossing, "us", ref && shmCrossing > 0 ? crossing / shmCrossing : NAN,
                      ref ? "shmsink" : ""});
        }
        for (int stage = 0; stage < 3; ++stage) {
          if (run.stages[stage].empty()) continue;
          report.add({"gstreamer", id + ".stage." + kStages[stage] + ".p50",
                      label + " stage: " + kStageText[stage] + " p50", summarize(run.stages[stage]).p50,
                      "us"});
        }
        for (int stage = 0; stage < kSourceStageCount; ++stage) {
          const std::vector<double>& got = timed[k].sourceStages[stage];
          if (got.empty()) continue;
          report.add({"gstreamer", id + ".sourceStage." + kSourceStages[stage] + ".p50",
                      label + " within sink -> source: " + kSourceStageText[stage] + " p50",
                      summarize(got).p50, "us"});
        }
      }
    }
  }
}

}  // namespace frameshm::bench
