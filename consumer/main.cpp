// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-consumer: reads a frameshm feed and shows, checks, saves or
// processes its frames.
//
//   frameshm-consumer --feed cam0                     # headless: live fps, drops, latency
//   frameshm-consumer --feed cam0 --verify --frames 300 --stats-json
//   frameshm-consumer --feed cam0 --display --process edges
//   frameshm-consumer --feed cam0 --snapshot frame.png
//   frameshm-consumer --feed cam0 --record cam0.avi     # every frame in order (sequential delivery)
//
// The consumer follows its feed: when the producer ends or dies it waits (up
// to --timeout) for a new producer of the same feed, whatever its format or
// size, unless --exit-on-end. Exit codes: 0 done, 1 a failure while running
// (verification failures, feed not back within --timeout, a write failed),
// 2 bad input or a feed that cannot be opened.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/highgui.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "frameshm/clock.hpp"
#include "frameshm/consumer.hpp"
#include "frameshm/opencv.hpp"
#include "frameshm/stamp.hpp"
#include "program_support.hpp"

namespace {

using namespace frameshm;
using frameshm::cli::kExitOk;
using frameshm::cli::kExitRuntime;
using frameshm::cli::kExitUsage;

struct Options {
  std::string feed = "cam0";
  double timeout = 5;
  std::uint64_t frames = 0;
  bool display = false;
  bool verify = false;
  std::string snapshot;
  std::string record;
  std::string process = "none";
  int slowMs = 0;
  bool statsJson = false;
  bool exitOnEnd = false;
  std::string delivery;  // "" : latest, or sequential with --record
};

int usageError(const std::string& message) {
  return programs::usageError("frameshm-consumer", message);
}

// Latency samples in microseconds; percentiles at the end.
class Latencies {
 public:
  void add(std::int64_t us) {
    samples_.push_back(us);
    smoothed_ =
        samples_.size() == 1 ? static_cast<double>(us) : smoothed_ * 0.9 + static_cast<double>(us) * 0.1;
  }
  [[nodiscard]] double smoothed() const noexcept { return smoothed_; }
  // The p-th percentile (0..100), 0 without samples.
  [[nodiscard]] std::int64_t percentile(double p) {
    if (samples_.empty()) return 0;
    const auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(samples_.size() - 1) + 0.5);
    std::nth_element(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(rank), samples_.end());
    return samples_[rank];
  }

 private:
  std::vector<std::int64_t> samples_;
  double smoothed_ = 0;
};

// The input of gray processing as a view where the frame already holds a
// gray image (GRAY8, or the luma plane of I420/NV12); converted otherwise.
cv::Mat grayInput(const Frame& frame, cv::Mat& scratch) {
  const PixelFormat pf = frame.format().pixelFormat;
  if (pf == PixelFormat::Gray8 || pf == PixelFormat::I420 || pf == PixelFormat::Nv12)
    return opencv::view(frame, 0);
  cv::Mat gray;
  if (opencv::toBgr(frame, scratch)) cv::cvtColor(scratch, gray, cv::COLOR_BGR2GRAY);
  return gray;
}

// The input of colour processing: a view of a BGR frame, a conversion otherwise.
cv::Mat bgrInput(const Frame& frame, cv::Mat& scratch) {
  if (frame.format().pixelFormat == PixelFormat::Bgr) return opencv::view(frame, 0);
  if (!opencv::toBgr(frame, scratch)) return {};
  return scratch;
}

// What --process makes of a frame, read in place; a new image, never the input.
// Empty only for a frame whose data does not hold its format (the library
// never hands one out).
cv::Mat processFrame(const std::string& process, const Frame& frame, cv::Mat& scratch) {
  cv::Mat out;
  if (frame.data().size() < frame.format().frameSize) return out;
  if (process == "gray") {
    grayInput(frame, scratch).copyTo(out);
  } else if (process == "edges") {
    cv::Canny(grayInput(frame, scratch), out, 60, 160);
  } else if (process == "blur") {
    cv::GaussianBlur(bgrInput(frame, scratch), out, cv::Size(15, 15), 0);
  } else if (!opencv::toBgr(frame, out)) {
    out.release();
  }
  return out;
}

// Lets the window handle its events; true if q or Esc was pressed or the window closed.
bool quitRequested(const std::string& window) {
  const int key = cv::waitKey(1);
  if (key == 'q' || key == 'Q' || key == 27) return true;
  return cv::getWindowProperty(window, cv::WND_PROP_VISIBLE) < 1;
}

int fourccFor(const std::string& path) {
  if (path.ends_with(".mp4") || path.ends_with(".m4v")) return cv::VideoWriter::fourcc('m', 'p', '4', 'v');
  return cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
}

// A frame's metadata as JSON: numbers and strings as they are, bytes as
// {"bytes": hex}, timestamps as {"ns", "duration_ns"}.
nlohmann::ordered_json toJson(const Metadata& metadata) {
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  for (const auto& e : metadata.entries()) {
    switch (e.type) {
      case MetaType::Int:
        json[e.key] = *e.asInt();
        break;
      case MetaType::Double:
        json[e.key] = *e.asDouble();
        break;
      case MetaType::String:
        json[e.key] = std::string(e.asString());
        break;
      case MetaType::Timestamp:
        json[e.key] = {{"ns", e.asTimestamp()->ns}, {"duration_ns", e.asTimestamp()->durationNs}};
        break;
      case MetaType::Bytes: {
        std::string hex;
        for (const std::byte b : e.value) {
          char two[3];
          std::snprintf(two, sizeof two, "%02x", static_cast<unsigned>(b));
          hex += two;
        }
        json[e.key] = {{"bytes", hex}};
        break;
      }
    }
  }
  return json;
}

// What a run counted: the live status line, the summary and --stats-json.
struct Tally {
  std::uint64_t frames = 0, verifyFailures = 0, feedEnds = 0;
  std::int64_t firstNs = 0, lastNs = 0;
  FrameFormat lastFormat{};  // of the last frame accepted: still known after the feed ends
  Latencies latencies;
  std::set<std::string> formatsSeen;
  Result<Metadata> lastMetadata{};  // of the last frame accepted (with --stats-json)

  // Frames per second between the first frame and the last.
  [[nodiscard]] double fps() const {
    return frames > 1 && lastNs > firstNs
               ? static_cast<double>(frames - 1) * 1e9 / static_cast<double>(lastNs - firstNs)
               : 0.0;
  }
};

// One run of the consumer on an opened feed: reads frames until done, then reports.
class Session {
 public:
  Session(const Options& options, Consumer& consumer)
      : options_(options),
        consumer_(consumer),
        window_("frameshm: " + options.feed),
        wantsImage_(options.display || !options.snapshot.empty() || !options.record.empty() ||
                    options.process != "none") {}

  // Reads until --frames, a stop signal, the end of the feed or a failure. Returns the exit code.
  int run() {
    if (options_.display) cv::namedWindow(window_, cv::WINDOW_AUTOSIZE | cv::WINDOW_GUI_NORMAL);
    while (!programs::stopRequested() && (options_.frames == 0 || tally_.frames < options_.frames)) {
      auto frame = consumer_.waitFrame(std::chrono::milliseconds(100));
      const Next next = frame ? onFrame(*frame) : onWaitError(frame.error());
      if (next == Next::Stop) break;
    }
    status_.finish();
    if (options_.display) cv::destroyAllWindows();
    writer_.release();
    report();
    if (exitCode_ == kExitOk && tally_.verifyFailures > 0) exitCode_ = kExitRuntime;
    return exitCode_;
  }

 private:
  enum class Next { Continue, Stop };

  // No frame: wait on through timeouts and the feed's end (for a new producer,
  // up to --timeout), stop on anything else.
  Next onWaitError(const Error& error) {
    if (options_.display && quitRequested(window_)) return Next::Stop;
    if (error.code == ErrorCode::Timeout) {
      if (endedNs_ != 0 && options_.timeout > 0 && monotonicNs() - endedNs_ >= options_.timeout * 1e9) {
        status_.finish();
        std::fprintf(stderr, "frameshm-consumer: feed '%s' ended and no producer came back within %g s\n",
                     options_.feed.c_str(), options_.timeout);
        return fail(kExitRuntime);
      }
      return Next::Continue;
    }
    if (error.code == ErrorCode::FeedEnded || error.code == ErrorCode::ProducerGone) {
      ++tally_.feedEnds;
      status_.finish();
      if (options_.exitOnEnd) {
        std::fprintf(stderr, "frameshm-consumer: %s\n", error.message.c_str());
        return Next::Stop;
      }
      std::fprintf(stderr, "frameshm-consumer: %s; waiting %s for a new producer\n", error.message.c_str(),
                   options_.timeout == 0
                       ? "as long as it takes"
                       : ("up to " + std::to_string(std::lround(options_.timeout)) + " s").c_str());
      endedNs_ = monotonicNs();
      return Next::Continue;
    }
    status_.finish();
    std::fprintf(stderr, "frameshm-consumer: %s\n", error.message.c_str());
    return fail(kExitRuntime);
  }

  // A frame: verified and processed in place, counted if it stayed intact, then saved, shown, reported.
  Next onFrame(Frame& frame) {
    endedNs_ = 0;
    const std::int64_t receivedNs = monotonicNs();
    const std::int64_t sentNs = frame.meta().captureNs >= 0 ? frame.meta().captureNs : frame.publishNs();

    // Everything read in place happens before intact(): a torn frame's results are dropped.
    const bool verified = !options_.verify || (checkStamp(frame.data()) == StampCheck::Ok &&
                                               stampedNumber(frame.data()) == frame.number());
    cv::Mat image;
    if (wantsImage_) image = processFrame(options_.process, frame, scratch_);
    if (!frame.intact()) return Next::Continue;

    count(frame, verified, receivedNs, sentNs);
    if (options_.statsJson) tally_.lastMetadata = frame.metadata();
    if (!options_.snapshot.empty()) return snapshot(image);
    if (!options_.record.empty() && record(image, frame.format()) == Next::Stop) return Next::Stop;
    if (options_.display && display(image, frame) == Next::Stop) return Next::Stop;
    if (options_.slowMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options_.slowMs));
    if (status_.due()) showStatus(frame);
    return Next::Continue;
  }

  void count(const Frame& frame, bool verified, std::int64_t receivedNs, std::int64_t sentNs) {
    ++tally_.frames;
    if (!verified && ++tally_.verifyFailures <= 5) {
      status_.finish();
      std::fprintf(stderr, "frameshm-consumer: frame %llu failed verification (%s)\n",
                   static_cast<unsigned long long>(frame.number()),
                   checkStamp(frame.data()) == StampCheck::Missing
                       ? "no stamp: is the producer's source the pattern?"
                       : "stamp does not match the pixels");
    }
    tally_.latencies.add((receivedNs - sentNs) / 1000);
    if (tally_.firstNs == 0) tally_.firstNs = receivedNs;
    tally_.lastNs = receivedNs;
    const FrameFormat& format = frame.format();
    tally_.lastFormat = format;
    tally_.formatsSeen.insert(std::string(toString(format.pixelFormat)) + " " + std::to_string(format.width) +
                              "x" + std::to_string(format.height));
  }

  // --snapshot: the first frame, then stop.
  Next snapshot(const cv::Mat& image) {
    if (!cv::imwrite(options_.snapshot, image)) {
      std::fprintf(stderr, "frameshm-consumer: could not write snapshot %s\n", options_.snapshot.c_str());
      exitCode_ = kExitRuntime;
    }
    return Next::Stop;
  }

  // --record: every frame, at the size of the first.
  Next record(const cv::Mat& image, const FrameFormat& format) {
    if (!writer_.isOpened()) {
      recordSize_ = image.size();
      const double fps = format.rate.num > 0 ? static_cast<double>(format.rate.num) / format.rate.den : 30.0;
      if (!writer_.open(options_.record, fourccFor(options_.record), fps, recordSize_, true)) {
        status_.finish();
        std::fprintf(stderr,
                     "frameshm-consumer: cannot record to %s (unknown extension or unwritable path?)\n",
                     options_.record.c_str());
        return fail(kExitUsage);
      }
    }
    cv::Mat frameToWrite = image;
    if (frameToWrite.channels() == 1) cv::cvtColor(frameToWrite, frameToWrite, cv::COLOR_GRAY2BGR);
    if (frameToWrite.size() != recordSize_) cv::resize(frameToWrite, frameToWrite, recordSize_);
    writer_.write(frameToWrite);
    return Next::Continue;
  }

  // --display: the image with a caption bar; the title says the rate once a second.
  Next display(const cv::Mat& image, const Frame& frame) {
    if (image.channels() == 1)
      cv::cvtColor(image, shown_, cv::COLOR_GRAY2BGR);
    else
      shown_ = image;
    const std::string format = describe(frame.format());
    char caption[160];
    std::snprintf(caption, sizeof caption, "%s | %s | %.1f fps | frame %llu", options_.feed.c_str(),
                  format.c_str(), consumer_.frameRate(), static_cast<unsigned long long>(frame.number()));
    const double scale = std::clamp(shown_.rows / 900.0, 0.4, 1.0);
    cv::rectangle(shown_, cv::Rect(0, 0, shown_.cols, static_cast<int>(30 * scale) + 6), cv::Scalar(0, 0, 0),
                  cv::FILLED);
    cv::putText(shown_, caption, {6, static_cast<int>(24 * scale)}, cv::FONT_HERSHEY_SIMPLEX, scale,
                cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
    cv::imshow(window_, shown_);
    if (std::chrono::steady_clock::now() - lastTitle_ >= std::chrono::seconds(1)) {
      lastTitle_ = std::chrono::steady_clock::now();
      char title[160];
      std::snprintf(title, sizeof title, "frameshm: %s - %s - %.1f fps", options_.feed.c_str(),
                    format.c_str(), consumer_.frameRate());
      cv::setWindowTitle(window_, title);
    }
    return quitRequested(window_) ? Next::Stop : Next::Continue;
  }

  void showStatus(const Frame& frame) {
    const ReaderStats stats = consumer_.stats();
    char text[220];
    std::snprintf(text, sizeof text,
                  "%s %s gen %llu | %.1f fps | %llu frames | %llu dropped | %llu torn | latency %.0f us%s",
                  options_.feed.c_str(), describe(frame.format()).c_str(),
                  static_cast<unsigned long long>(frame.generation()), consumer_.frameRate(),
                  static_cast<unsigned long long>(tally_.frames),
                  static_cast<unsigned long long>(stats.framesDropped),
                  static_cast<unsigned long long>(stats.framesTorn), tally_.latencies.smoothed(),
                  options_.verify ? (" | " + std::to_string(tally_.verifyFailures) + " bad").c_str() : "");
    status_.show(text);
  }

  // The summary line on stderr and, with --stats-json, the figures as one JSON line on stdout.
  void report() {
    const ReaderStats stats = consumer_.stats();
    const double fps = tally_.fps();
    Latencies& latencies = tally_.latencies;
    const auto p50 = latencies.percentile(50), p95 = latencies.percentile(95), p99 = latencies.percentile(99),
               max = latencies.percentile(100);
    std::fprintf(
        stderr,
        "frameshm-consumer: feed '%s': %llu frames, %llu dropped, %llu torn, %llu verify failures, %.1f fps, "
        "latency p50 %lld us p99 %lld us max %lld us\n",
        options_.feed.c_str(), static_cast<unsigned long long>(tally_.frames),
        static_cast<unsigned long long>(stats.framesDropped),
        static_cast<unsigned long long>(stats.framesTorn),
        static_cast<unsigned long long>(tally_.verifyFailures), fps, static_cast<long long>(p50),
        static_cast<long long>(p99), static_cast<long long>(max));
    if (!options_.statsJson) return;
    // The last frame's format: once the feed has ended the consumer holds none.
    const FrameFormat& format = tally_.lastFormat;
    nlohmann::ordered_json json = {
        {"feed", options_.feed},
        {"format", std::string(toString(format.pixelFormat))},
        {"width", format.width},
        {"height", format.height},
        {"frames", tally_.frames},
        {"dropped", stats.framesDropped},
        {"torn", stats.framesTorn},
        {"verify_failures", tally_.verifyFailures},
        {"fps", std::round(fps * 100) / 100},
        {"latency_us", {{"p50", p50}, {"p95", p95}, {"p99", p99}, {"max", max}}},
        {"generations", stats.generations},
        {"feed_ends", tally_.feedEnds},
        {"formats_seen", tally_.formatsSeen},
        {"delivery", consumer_.delivery() == Delivery::Sequential ? "sequential" : "latest"}};
    if (tally_.lastMetadata)
      json["last_metadata"] = toJson(*tally_.lastMetadata);
    else
      json["last_metadata_error"] = tally_.lastMetadata.error().message;
    std::printf("%s\n", json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
  }

  Next fail(int exitCode) {
    exitCode_ = exitCode;
    return Next::Stop;
  }

  const Options& options_;
  Consumer& consumer_;
  const std::string window_;
  const bool wantsImage_;
  programs::StatusLine status_;
  Tally tally_;
  cv::Mat scratch_, shown_;
  cv::VideoWriter writer_;
  cv::Size recordSize_;
  std::int64_t endedNs_ = 0;  // when the feed last ended; 0 while frames come
  std::chrono::steady_clock::time_point lastTitle_ = std::chrono::steady_clock::now();
  int exitCode_ = kExitOk;
};

// Checks what CLI11 cannot, attaches to the feed (waiting up to --timeout) and runs.
int run(const Options& options) {
  if (options.display && std::getenv("DISPLAY") == nullptr && std::getenv("WAYLAND_DISPLAY") == nullptr)
    return usageError("--display needs a graphical session (DISPLAY is not set); without one try xvfb-run");
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout * 1000));
  // A recorder wants every frame: sequential unless told otherwise.
  const bool sequential =
      options.delivery == "sequential" || (options.delivery.empty() && !options.record.empty());
  auto consumer =
      Consumer::open({.feed = options.feed,
                      .openTimeout = options.timeout == 0 ? std::chrono::milliseconds(-1) : timeout,
                      .delivery = sequential ? Delivery::Sequential : Delivery::Latest});
  if (!consumer) return usageError(consumer.error().message);
  programs::installStopHandlers();
  return Session(options, *consumer).run();
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Reads a frameshm feed: shows, verifies, saves or processes its frames.", "frameshm-consumer"};
  app.add_option("--feed", options.feed, "Feed name")->capture_default_str();
  app.add_option("--timeout", options.timeout,
                 "Seconds to wait for the feed to appear, and for a new producer after it ends (0 = forever)")
      ->capture_default_str()
      ->check(cli::explained(CLI::NonNegativeNumber, "must be 0 (wait forever) or more seconds"));
  app.add_option("--frames", options.frames, "Stop after N frames (0 = run until stopped)")
      ->capture_default_str();
  app.add_flag("--display", options.display, "Show the frames in a window (q or Esc quits)");
  app.add_flag("--verify", options.verify,
               "Check the pattern's stamp (frame number, checksum) in every frame");
  app.add_option("--snapshot", options.snapshot, "Write one frame to PATH.png and exit")
      ->check(CLI::Validator(
          [](const std::string& path) { return path.ends_with(".png") ? "" : "needs a path ending in .png"; },
          "PATH.png"));
  app.add_option(
      "--record", options.record,
      "Record every frame to a video file (.avi: MJPG, .mp4: mp4v); reads with sequential delivery");
  app.add_option("--delivery", options.delivery,
                 "latest: the newest frame, older ones skipped (default); sequential: every frame in order "
                 "while the feed's slots hold it (default with --record)")
      ->check(cli::explained(CLI::IsMember({"latest", "sequential"}), "'{}' is not latest or sequential"));
  app.add_option("--process", options.process, "Applied to a view of each frame")
      ->capture_default_str()
      ->check(cli::explained(CLI::IsMember({"none", "gray", "edges", "blur"}),
                             "'{}' is not one of none, gray, edges, blur"));
  app.add_option("--slow-ms", options.slowMs, "Sleep MS milliseconds per frame (plays a slow viewer)")
      ->capture_default_str();
  app.add_flag("--stats-json", options.statsJson,
               "At exit print one JSON line of figures on stdout, with the last frame's metadata");
  app.add_flag("--exit-on-end", options.exitOnEnd,
               "Exit 0 when the feed ends instead of waiting for a new producer");
  if (auto code = cli::parse(app, argc, argv)) return *code;
  programs::silenceOpenCvLogs();
  return run(options);
}
