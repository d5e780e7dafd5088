// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-consumer: reads a frameshm feed and shows, checks, saves or
// processes its frames.
//
//   frameshm-consumer --feed cam0                     # headless: live fps, drops, latency
//   frameshm-consumer --feed cam0 --verify --frames 300 --stats-json
//   frameshm-consumer --feed cam0 --display --process edges
//   frameshm-consumer --feed cam0 --snapshot frame.png
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
using frameshm::programs::kExitOk;
using frameshm::programs::kExitRuntime;
using frameshm::programs::kExitUsage;

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
  opencv::toBgr(frame, scratch);
  cv::Mat gray;
  cv::cvtColor(scratch, gray, cv::COLOR_BGR2GRAY);
  return gray;
}

// The input of colour processing: a view of a BGR frame, a conversion otherwise.
cv::Mat bgrInput(const Frame& frame, cv::Mat& scratch) {
  if (frame.format().pixelFormat == PixelFormat::Bgr) return opencv::view(frame, 0);
  opencv::toBgr(frame, scratch);
  return scratch;
}

// What --process makes of a frame, read in place; a new image, never the input.
cv::Mat processFrame(const std::string& process, const Frame& frame, cv::Mat& scratch) {
  cv::Mat out;
  if (process == "gray") {
    grayInput(frame, scratch).copyTo(out);
  } else if (process == "edges") {
    cv::Canny(grayInput(frame, scratch), out, 60, 160);
  } else if (process == "blur") {
    cv::GaussianBlur(bgrInput(frame, scratch), out, cv::Size(15, 15), 0);
  } else {
    opencv::toBgr(frame, out);
  }
  return out;
}

std::string jsonList(const std::set<std::string>& items) {
  std::string text = "[";
  for (const auto& item : items) text += (text.size() > 1 ? ",\"" : "\"") + item + "\"";
  return text + "]";
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

int run(const Options& options) {
  static const std::set<std::string> kProcesses = {"none", "gray", "edges", "blur"};
  if (!kProcesses.contains(options.process))
    return usageError("--process '" + options.process + "' is not one of none, gray, edges, blur");
  if (options.timeout < 0) return usageError("--timeout must be 0 (wait forever) or more seconds");
  if (!options.snapshot.empty() && !options.snapshot.ends_with(".png"))
    return usageError("--snapshot needs a path ending in .png");
  if (options.display && std::getenv("DISPLAY") == nullptr && std::getenv("WAYLAND_DISPLAY") == nullptr)
    return usageError("--display needs a graphical session (DISPLAY is not set); without one try xvfb-run");

  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(options.timeout * 1000));
  auto consumer = Consumer::open(
      {.feed = options.feed, .openTimeout = options.timeout == 0 ? std::chrono::milliseconds(-1) : timeout});
  if (!consumer) return usageError(consumer.error().message);
  programs::installStopHandlers();

  const std::string window = "frameshm: " + options.feed;
  if (options.display) cv::namedWindow(window, cv::WINDOW_AUTOSIZE | cv::WINDOW_GUI_NORMAL);

  programs::StatusLine status;
  Latencies latencies;
  std::set<std::string> formatsSeen;
  cv::Mat scratch, shown;
  cv::VideoWriter writer;
  cv::Size recordSize;
  std::uint64_t frames = 0, verifyFailures = 0, feedEnds = 0;
  std::int64_t firstNs = 0, lastNs = 0;
  std::int64_t endedNs = 0;
  FrameFormat lastFormat{};  // of the last frame accepted: still known after the feed ends
  auto lastTitle = std::chrono::steady_clock::now();
  int exitCode = kExitOk;
  const bool wantsImage =
      options.display || !options.snapshot.empty() || !options.record.empty() || options.process != "none";

  while (!programs::stopRequested() && (options.frames == 0 || frames < options.frames)) {
    auto frame = consumer->waitFrame(std::chrono::milliseconds(100));
    if (!frame) {
      if (options.display && quitRequested(window)) break;
      const ErrorCode code = frame.error().code;
      if (code == ErrorCode::Timeout) {
        if (endedNs != 0 && options.timeout > 0 && monotonicNs() - endedNs >= options.timeout * 1e9) {
          status.finish();
          std::fprintf(stderr, "frameshm-consumer: feed '%s' ended and no producer came back within %g s\n",
                       options.feed.c_str(), options.timeout);
          exitCode = kExitRuntime;
          break;
        }
        continue;
      }
      if (code == ErrorCode::FeedEnded || code == ErrorCode::ProducerGone) {
        ++feedEnds;
        status.finish();
        if (options.exitOnEnd) {
          std::fprintf(stderr, "frameshm-consumer: %s\n", frame.error().message.c_str());
          break;
        }
        std::fprintf(
            stderr, "frameshm-consumer: %s; waiting %s for a new producer\n", frame.error().message.c_str(),
            options.timeout == 0 ? "as long as it takes"
                                 : ("up to " + std::to_string(std::lround(options.timeout)) + " s").c_str());
        endedNs = monotonicNs();
        continue;
      }
      status.finish();
      std::fprintf(stderr, "frameshm-consumer: %s\n", frame.error().message.c_str());
      exitCode = kExitRuntime;
      break;
    }
    endedNs = 0;
    const std::int64_t receivedNs = monotonicNs();
    const FrameMeta& meta = frame->meta();
    const std::int64_t sentNs = meta.captureNs >= 0 ? meta.captureNs : frame->publishNs();

    // Everything read in place happens before intact(): a torn frame's results are dropped.
    bool verified = true;
    if (options.verify) {
      verified =
          checkStamp(frame->data()) == StampCheck::Ok && stampedNumber(frame->data()) == frame->number();
    }
    cv::Mat image;
    if (wantsImage) image = processFrame(options.process, *frame, scratch);
    if (!frame->intact()) continue;

    ++frames;
    if (!verified) {
      ++verifyFailures;
      if (verifyFailures <= 5) {
        status.finish();
        std::fprintf(stderr, "frameshm-consumer: frame %llu failed verification (%s)\n",
                     static_cast<unsigned long long>(frame->number()),
                     checkStamp(frame->data()) == StampCheck::Missing
                         ? "no stamp: is the producer's source the pattern?"
                         : "stamp does not match the pixels");
      }
    }
    latencies.add((receivedNs - sentNs) / 1000);
    if (firstNs == 0) firstNs = receivedNs;
    lastNs = receivedNs;
    const FrameFormat& format = frame->format();
    lastFormat = format;
    formatsSeen.insert(std::string(toString(format.pixelFormat)) + " " + std::to_string(format.width) + "x" +
                       std::to_string(format.height));

    if (!options.snapshot.empty()) {
      if (!cv::imwrite(options.snapshot, image)) {
        std::fprintf(stderr, "frameshm-consumer: could not write snapshot %s\n", options.snapshot.c_str());
        exitCode = kExitRuntime;
      }
      break;
    }
    if (!options.record.empty()) {
      if (!writer.isOpened()) {
        recordSize = image.size();
        const double fps =
            format.rate.num > 0 ? static_cast<double>(format.rate.num) / format.rate.den : 30.0;
        if (!writer.open(options.record, fourccFor(options.record), fps, recordSize, true)) {
          status.finish();
          std::fprintf(stderr,
                       "frameshm-consumer: cannot record to %s (unknown extension or unwritable path?)\n",
                       options.record.c_str());
          exitCode = kExitUsage;
          break;
        }
      }
      cv::Mat frameToWrite = image;
      if (frameToWrite.channels() == 1) cv::cvtColor(frameToWrite, frameToWrite, cv::COLOR_GRAY2BGR);
      if (frameToWrite.size() != recordSize) cv::resize(frameToWrite, frameToWrite, recordSize);
      writer.write(frameToWrite);
    }
    if (options.display) {
      if (image.channels() == 1)
        cv::cvtColor(image, shown, cv::COLOR_GRAY2BGR);
      else
        shown = image;
      char caption[160];
      std::snprintf(caption, sizeof caption, "%s | %s | %.1f fps | frame %llu", options.feed.c_str(),
                    describe(format).c_str(), consumer->frameRate(),
                    static_cast<unsigned long long>(frame->number()));
      const double scale = std::clamp(shown.rows / 900.0, 0.4, 1.0);
      cv::rectangle(shown, cv::Rect(0, 0, shown.cols, static_cast<int>(30 * scale) + 6), cv::Scalar(0, 0, 0),
                    cv::FILLED);
      cv::putText(shown, caption, {6, static_cast<int>(24 * scale)}, cv::FONT_HERSHEY_SIMPLEX, scale,
                  cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
      cv::imshow(window, shown);
      if (std::chrono::steady_clock::now() - lastTitle >= std::chrono::seconds(1)) {
        lastTitle = std::chrono::steady_clock::now();
        char title[160];
        std::snprintf(title, sizeof title, "frameshm: %s - %s - %.1f fps", options.feed.c_str(),
                      describe(format).c_str(), consumer->frameRate());
        cv::setWindowTitle(window, title);
      }
      if (quitRequested(window)) break;
    }
    if (options.slowMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options.slowMs));
    if (status.due()) {
      const ReaderStats stats = consumer->stats();
      char text[220];
      std::snprintf(text, sizeof text,
                    "%s %s gen %llu | %.1f fps | %llu frames | %llu dropped | %llu torn | latency %.0f us%s",
                    options.feed.c_str(), describe(format).c_str(),
                    static_cast<unsigned long long>(frame->generation()), consumer->frameRate(),
                    static_cast<unsigned long long>(frames),
                    static_cast<unsigned long long>(stats.framesDropped),
                    static_cast<unsigned long long>(stats.framesTorn), latencies.smoothed(),
                    options.verify ? (" | " + std::to_string(verifyFailures) + " bad").c_str() : "");
      status.show(text);
    }
  }
  status.finish();
  if (options.display) cv::destroyAllWindows();
  writer.release();

  const ReaderStats stats = consumer->stats();
  const double fps = frames > 1 && lastNs > firstNs
                         ? static_cast<double>(frames - 1) * 1e9 / static_cast<double>(lastNs - firstNs)
                         : 0.0;
  // The last frame's format: once the feed has ended the consumer holds none.
  const FrameFormat& format = lastFormat;
  const auto p50 = latencies.percentile(50), p95 = latencies.percentile(95), p99 = latencies.percentile(99),
             max = latencies.percentile(100);
  std::fprintf(
      stderr,
      "frameshm-consumer: feed '%s': %llu frames, %llu dropped, %llu torn, %llu verify failures, %.1f fps, "
      "latency p50 %lld us p99 %lld us max %lld us\n",
      options.feed.c_str(), static_cast<unsigned long long>(frames),
      static_cast<unsigned long long>(stats.framesDropped), static_cast<unsigned long long>(stats.framesTorn),
      static_cast<unsigned long long>(verifyFailures), fps, static_cast<long long>(p50),
      static_cast<long long>(p99), static_cast<long long>(max));
  if (options.statsJson) {
    std::printf(
        "{\"feed\":\"%s\",\"format\":\"%s\",\"width\":%u,\"height\":%u,\"frames\":%llu,\"dropped\":%llu,"
        "\"torn\":%llu,\"verify_failures\":%llu,\"fps\":%.2f,\"latency_us\":{\"p50\":%lld,\"p95\":%lld,"
        "\"p99\":%lld,\"max\":%lld},\"generations\":%llu,\"feed_ends\":%llu,\"formats_seen\":%s}\n",
        options.feed.c_str(), std::string(toString(format.pixelFormat)).c_str(), format.width, format.height,
        static_cast<unsigned long long>(frames), static_cast<unsigned long long>(stats.framesDropped),
        static_cast<unsigned long long>(stats.framesTorn), static_cast<unsigned long long>(verifyFailures),
        fps, static_cast<long long>(p50), static_cast<long long>(p95), static_cast<long long>(p99),
        static_cast<long long>(max), static_cast<unsigned long long>(stats.generations),
        static_cast<unsigned long long>(feedEnds), jsonList(formatsSeen).c_str());
    std::fflush(stdout);
  }
  if (exitCode == kExitOk && verifyFailures > 0) exitCode = kExitRuntime;
  return exitCode;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Reads a frameshm feed: shows, verifies, saves or processes its frames.", "frameshm-consumer"};
  app.add_option("--feed", options.feed, "Feed name")->capture_default_str();
  app.add_option("--timeout", options.timeout,
                 "Seconds to wait for the feed to appear, and for a new producer after it ends (0 = forever)")
      ->capture_default_str();
  app.add_option("--frames", options.frames, "Stop after N frames (0 = run until stopped)")
      ->capture_default_str();
  app.add_flag("--display", options.display, "Show the frames in a window (q or Esc quits)");
  app.add_flag("--verify", options.verify,
               "Check the pattern's stamp (frame number, checksum) in every frame");
  app.add_option("--snapshot", options.snapshot, "Write one frame to PATH.png and exit");
  app.add_option("--record", options.record, "Record to a video file (.avi: MJPG, .mp4: mp4v)");
  app.add_option("--process", options.process, "none | gray | edges | blur, applied to a view of each frame")
      ->capture_default_str();
  app.add_option("--slow-ms", options.slowMs, "Sleep MS milliseconds per frame (plays a slow viewer)")
      ->capture_default_str();
  app.add_flag("--stats-json", options.statsJson, "At exit print one JSON line of figures on stdout");
  app.add_flag("--exit-on-end", options.exitOnEnd,
               "Exit 0 when the feed ends instead of waiting for a new producer");
  if (auto code = programs::parse(app, argc, argv)) return *code;
  programs::silenceOpenCvLogs();
  return run(options);
}
