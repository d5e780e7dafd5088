// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-producer: publishes a test pattern, a camera, a video file or a
// GStreamer pipeline as a frameshm feed.
//
//   frameshm-producer --feed cam0                          # moving test pattern, BGR 640x480 @30
//   frameshm-producer --feed cam0 --source camera:0 --width 1280 --height 720
//   frameshm-producer --feed clip --source file:clip.avi --loop --format I420
//   frameshm-producer --feed cam0 --meta exposure-us=8000 --meta lens=wide   # metadata on every frame
//
// Exit codes: 0 when the feed ended as asked (--frames reached, end of file,
// SIGINT/SIGTERM), 1 when it ended on a failure while running (camera lost,
// feed taken over), 2 for bad input or a source or feed that cannot be set up,
// in which case nothing is left in /dev/shm.
#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <expected>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "capture.hpp"
#include "frameshm/clock.hpp"
#include "frameshm/feed.hpp"
#include "frameshm/format.hpp"
#include "frameshm/metadata.hpp"
#include "frameshm/opencv.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "pattern.hpp"
#include "program_support.hpp"

namespace {

using namespace frameshm;
using frameshm::cli::kExitOk;
using frameshm::cli::kExitRuntime;

struct Options {
  std::string feed = "cam0";
  std::string source = "pattern";
  std::string format = "BGR";
  int width = 640;
  int height = 480;
  double fps = 30;
  bool fpsGiven = false;
  bool sizeGiven = false;
  std::uint64_t frames = 0;
  // As frameshmsink's default: a default zero-copy frameshmsrc hands up to
  // three frames downstream without a copy (README, "Zero copy").
  std::uint32_t slots = 6;
  std::string mode = "0600";
  std::string backend = "memfd";
  bool replace = false;
  bool loop = false;
  bool still = false;
  std::vector<std::string> meta;  // key=value, on every frame
  std::uint32_t metadataBytes = 4096;
};

int usageError(const std::string& message) {
  return programs::usageError("frameshm-producer", message);
}

// 30 -> 30/1, 29.97 -> 29970/1000, 0 -> 0/1 ("variable").
Rate toRate(double fps) {
  if (fps <= 0) return {0, 1};
  if (std::abs(fps - std::round(fps)) < 1e-6) return {static_cast<std::uint32_t>(std::lround(fps)), 1};
  return {static_cast<std::uint32_t>(std::lround(fps * 1000)), 1000};
}

std::string capsFor(const FrameFormat& format) {
  return "video/x-raw,format=" + std::string(toString(format.pixelFormat)) +
         ",width=" + std::to_string(format.width) + ",height=" + std::to_string(format.height) +
         ",framerate=" + std::to_string(format.rate.num) + "/" + std::to_string(format.rate.den);
}

// --meta key=value entries: an integer value is an int, a number a double,
// anything else a string. Errors: what is wrong with which entry.
std::expected<Metadata, std::string> parseMeta(const std::vector<std::string>& entries) {
  Metadata m;
  for (const auto& entry : entries) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0)
      return std::unexpected("--meta '" + entry + "' is not KEY=VALUE (e.g. --meta exposure-us=8000)");
    const std::string key = entry.substr(0, eq), value = entry.substr(eq + 1);
    const char* end = value.data() + value.size();
    std::int64_t integer = 0;
    double real = 0;
    Result<void> set;
    if (!value.empty() && std::from_chars(value.data(), end, integer).ptr == end)
      set = m.setInt(key, integer);
    else if (!value.empty() && std::from_chars(value.data(), end, real).ptr == end)
      set = m.setDouble(key, real);
    else
      set = m.setString(key, value);
    if (!set) return std::unexpected("--meta '" + entry + "': " + set.error().message);
  }
  return m;
}

// Keeps frames on a fixed schedule and counts the ticks missed when the
// source or the machine was late (those frames are skipped, not queued).
class Pacer {
 public:
  explicit Pacer(double fps)
      : interval_(fps > 0 ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / fps))
                          : std::chrono::nanoseconds(0)) {}

  // Sleeps until the next frame is due. Returns how many ticks were missed.
  std::uint64_t wait() {
    if (interval_.count() == 0) return 0;
    const auto now = std::chrono::steady_clock::now();
    if (!started_) {
      started_ = true;
      next_ = now + interval_;
      return 0;
    }
    std::uint64_t missed = 0;
    if (now > next_ + interval_) {
      missed = static_cast<std::uint64_t>((now - next_) / interval_);
      next_ += interval_ * static_cast<std::int64_t>(missed);
    }
    // A signal cuts the sleep short (no SA_RESTART); the main loop then stops.
    while (std::chrono::steady_clock::now() < next_ && !programs::stopRequested())
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(next_ - std::chrono::steady_clock::now(),
                                                                     std::chrono::milliseconds(50)));
    next_ += interval_;
    return missed;
  }

 private:
  std::chrono::nanoseconds interval_;
  std::chrono::steady_clock::time_point next_{};
  bool started_ = false;
};

// Fills a slot from the pattern or from a capture source.
class FrameFiller {
 public:
  FrameFiller(const Options& options, const FrameFormat& format,
              std::optional<sources::CaptureSource> capture)
      : options_(options), format_(format), capture_(std::move(capture)) {
    // BGR, BGRA and BGRx are drawn straight into the slot; other formats are
    // drawn in BGR once and converted into the slot.
    const PixelFormat pf = format.pixelFormat;
    directType_ = pf == PixelFormat::Bgr                                 ? CV_8UC3
                  : (pf == PixelFormat::Bgra || pf == PixelFormat::Bgrx) ? CV_8UC4
                                                                         : -1;
    if (!capture_)
      pattern_.emplace(options.feed, static_cast<int>(format.width), static_cast<int>(format.height),
                       directType_ == -1 ? CV_8UC3 : directType_);
  }

  enum class Outcome { Filled, SourceEnded, SourceLost };

  Outcome fill(WriteSlot& slot, std::chrono::nanoseconds elapsed) {
    cv::Mat target = opencv::view(slot, format_);
    if (pattern_) {
      const std::uint64_t number = options_.still ? 0 : slot.frameNumber();
      const auto at = options_.still ? std::chrono::nanoseconds(0) : elapsed;
      if (directType_ != -1) {
        pattern_->draw(target, number, at);
      } else {
        bgr_.create(static_cast<int>(format_.height), static_cast<int>(format_.width), CV_8UC3);
        pattern_->draw(bgr_, number, at);
        convert(bgr_, slot);
      }
      // The stamp goes in last: its checksum covers the finished pixels.
      writeStamp(slot.data(), slot.frameNumber());
      return Outcome::Filled;
    }
    return fillFromCapture(slot, target);
  }

  // Catches up with a late schedule: a file skips the frames that are due.
  void skip(std::uint64_t frames) {
    if (capture_ && capture_->kind() == sources::CaptureSource::Kind::File)
      for (std::uint64_t i = 0; i < frames; ++i) capture_->skip();
  }

  // Frames the capture decoded straight into the slot (no copy; the first
  // frame, read when the source was opened, is copied in once).
  [[nodiscard]] std::uint64_t decodedInPlace() const noexcept { return inPlace_; }
  // Times a file source started again from its beginning (--loop).
  [[nodiscard]] std::uint64_t loops() const noexcept { return loops_; }
  [[nodiscard]] bool fromCapture() const noexcept { return capture_.has_value(); }
  [[nodiscard]] bool fromFile() const noexcept {
    return capture_ && capture_->kind() == sources::CaptureSource::Kind::File;
  }

  [[nodiscard]] std::uint32_t flags() const noexcept {
    return pattern_ ? kFlagPattern | kFlagKeyFrame : kFlagKeyFrame;
  }

 private:
  Outcome fillFromCapture(WriteSlot& slot, cv::Mat& target) {
    // For BGR at the feed's size, the capture decodes straight into the slot.
    cv::Mat& into = format_.pixelFormat == PixelFormat::Bgr ? target : bgr_;
    const auto* slotData = target.data;
    if (!capture_->read(into)) {
      if (capture_->kind() == sources::CaptureSource::Kind::File && options_.loop && capture_->rewind() &&
          capture_->read(into)) {
        ++loops_;
      } else {
        // A file or pipeline ends (end of stream); a camera that stops was lost.
        return capture_->kind() == sources::CaptureSource::Kind::Camera ? Outcome::SourceLost
                                                                        : Outcome::SourceEnded;
      }
    }
    const cv::Size feedSize(static_cast<int>(format_.width), static_cast<int>(format_.height));
    if (into.size() != feedSize) {
      cv::resize(into, resized_, feedSize, 0, 0, cv::INTER_AREA);
      convert(resized_, slot);
    } else if (into.data != slotData) {
      convert(into, slot);
    } else {
      ++inPlace_;
    }
    return Outcome::Filled;
  }

  void convert(const cv::Mat& bgr, WriteSlot& slot) {
    // Cannot fail: bgr has the feed's size and type by construction.
    [[maybe_unused]] const bool converted = opencv::fromBgr(bgr, format_, slot, scratch_);
  }

  const Options& options_;
  FrameFormat format_;
  std::optional<sources::CaptureSource> capture_;
  std::optional<sources::Pattern> pattern_;
  int directType_ = -1;
  cv::Mat bgr_, resized_, scratch_;
  std::uint64_t loops_ = 0;
  std::uint64_t inPlace_ = 0;
};

// --mode as permissions, or nullopt if it is not octal up to 0777.
std::optional<mode_t> parseMode(const std::string& text) {
  try {
    std::size_t used = 0;
    const auto mode = static_cast<mode_t>(std::stoul(text, &used, 8));
    if (used == text.size() && mode <= 0777) return mode;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// Where frames come from, and the size and rate the feed gets from it.
struct Source {
  std::optional<sources::CaptureSource> capture;  // none: the test pattern
  double fps = 0;
  int width = 0, height = 0;
};

// Opens --source (the pattern needs nothing). Errors: what went wrong, for the user.
std::expected<Source, std::string> openSource(const Options& options) {
  Source source{
      .capture = std::nullopt, .fps = options.fps, .width = options.width, .height = options.height};
  if (options.source == "pattern") return source;
  sources::CaptureRequest request;
  if (options.sizeGiven) request.width = options.width, request.height = options.height;
  if (options.fpsGiven) request.fps = options.fps;
  auto opened = sources::CaptureSource::open(options.source, request);
  if (!opened) return std::unexpected(opened.error().message);
  auto& capture = source.capture.emplace(std::move(*opened));
  const bool camera = capture.kind() == sources::CaptureSource::Kind::Camera;
  if (camera)  // what was asked and what it delivers
    std::fprintf(stderr, "frameshm-producer: %s\n", capture.description().c_str());
  // A camera gives its own size; a file or pipeline is scaled only if asked.
  if (camera || !options.sizeGiven)
    source.width = capture.frameSize().width, source.height = capture.frameSize().height;
  // A camera paces itself; a file plays at its own rate unless --fps says otherwise.
  if (!options.fpsGiven)
    source.fps = capture.kind() == sources::CaptureSource::Kind::File ? capture.fps() : 0;
  return source;
}

// How the publishing loop ended.
struct Ending {
  std::uint64_t frames = 0, late = 0;
  int exitCode = kExitOk;
  std::string how = "stopped";
};

// Fills and publishes frames on the pacer's schedule until --frames, a stop
// signal, the end of the source or a failure.
Ending publishFrames(const Options& options, Producer& producer, FrameFiller& filler, Pacer& pacer,
                     const Metadata& metadata, const std::chrono::steady_clock::time_point start) {
  programs::StatusLine status;
  Ending ending;
  auto fail = [&](const std::string& message) {
    status.finish();
    std::fprintf(stderr, "frameshm-producer: %s\n", message.c_str());
    ending.exitCode = kExitRuntime;
    ending.how = "failed";
  };
  while (options.frames == 0 || ending.frames < options.frames) {
    const std::uint64_t missed = pacer.wait();
    if (programs::stopRequested()) break;
    ending.late += missed;
    filler.skip(missed);
    auto slot = producer.acquire();
    if (!slot) {
      fail(slot.error().message);
      break;
    }
    if (auto set = slot->setMetadata(metadata); !set) {
      fail(set.error().message);
      break;
    }
    const auto outcome = filler.fill(*slot, std::chrono::steady_clock::now() - start);
    if (outcome == FrameFiller::Outcome::SourceEnded) {
      ending.how = filler.fromFile() ? "reached the end of the file" : "reached the end of the pipeline";
      break;
    }
    if (outcome == FrameFiller::Outcome::SourceLost) {
      fail("the camera stopped delivering frames (unplugged?)");
      ending.how = "lost its source";
      break;
    }
    // The frame counts as captured once complete (read from the source, or
    // drawn): consumers' latency is then the transport's, not the drawing's.
    const std::int64_t captureNs = monotonicNs();
    auto published = producer.publish(std::move(*slot), {.captureNs = captureNs, .flags = filler.flags()});
    if (!published) {
      fail(published.error().message);
      break;
    }
    ++ending.frames;
    if (status.due()) {
      char text[200];
      std::snprintf(text, sizeof text, "%s %s | %.1f fps | %llu frames | %u readers | %llu late",
                    options.feed.c_str(), describe(producer.format()).c_str(), producer.frameRate(),
                    static_cast<unsigned long long>(ending.frames), producer.readerCount(),
                    static_cast<unsigned long long>(ending.late));
      status.show(text);
    }
  }
  status.finish();
  if (options.frames != 0 && ending.frames == options.frames) ending.how = "sent its frames";
  if (programs::stopSignal() != 0)
    ending.how = programs::stopSignal() == SIGINT ? "stopped by SIGINT" : "stopped by SIGTERM";
  return ending;
}

// The summary line on stderr.
void report(const Options& options, const Ending& ending, const FrameFiller& filler, std::uint32_t readers,
            double seconds) {
  std::string extra;
  if (filler.fromCapture()) extra += ", " + std::to_string(filler.decodedInPlace()) + " decoded in place";
  if (filler.loops() > 0) extra += ", " + std::to_string(filler.loops()) + " loops";
  std::fprintf(
      stderr,
      "frameshm-producer: feed '%s' %s: %llu frames in %.1f s (%.1f fps), %llu late, %u readers at the "
      "end%s\n",
      options.feed.c_str(), ending.how.c_str(), static_cast<unsigned long long>(ending.frames), seconds,
      seconds > 0 ? static_cast<double>(ending.frames) / seconds : 0.0,
      static_cast<unsigned long long>(ending.late), readers, extra.c_str());
}

// Checks what CLI11 cannot, opens the source, creates the feed, publishes and reports.
int run(const Options& options) {
  if (auto valid = validateFeedName(options.feed); !valid) return usageError(valid.error().message);
  const auto pixelFormat = parsePixelFormat(options.format);
  if (!pixelFormat) {
    std::string names;
    for (PixelFormat f : allPixelFormats()) names += (names.empty() ? "" : ", ") + std::string(toString(f));
    return usageError("unsupported format '" + options.format + "' (use one of " + names + ")");
  }
  const auto mode = parseMode(options.mode);
  if (!mode) return usageError("--mode '" + options.mode + "' is not octal permissions such as 0600 or 0660");
  const auto metadata = parseMeta(options.meta);
  if (!metadata) return usageError(metadata.error());
  if (metadata->encodedSize() > options.metadataBytes)
    return usageError("the --meta entries take " + std::to_string(metadata->encodedSize()) +
                      " bytes a frame, more than --metadata-bytes " + std::to_string(options.metadataBytes));

  auto source = openSource(options);
  if (!source) return usageError(source.error());
  const auto& capture = source->capture;
  auto format = makeFormat(*pixelFormat, static_cast<std::uint32_t>(source->width),
                           static_cast<std::uint32_t>(source->height),
                           toRate(source->fps > 0 ? source->fps
                                  : capture       ? capture->fps()
                                                  : 0));
  if (!format) return usageError(format.error().message);
  auto producer = Producer::create({.feed = options.feed,
                                    .format = *format,
                                    .slots = options.slots,
                                    .mode = *mode,
                                    .replace = options.replace,
                                    .caps = capsFor(*format),
                                    .backend = *frameshm::backendFromString(options.backend),
                                    .metadataBytes = options.metadataBytes});
  if (!producer) return usageError(producer.error().message);
  programs::installStopHandlers();
  std::fprintf(stderr, "frameshm-producer: feed '%s': %s from %s, %u slots\n", options.feed.c_str(),
               describe(*format).c_str(), capture ? capture->description().c_str() : "the test pattern",
               producer->slotCount());

  FrameFiller filler(options, *format, std::move(source->capture));
  Pacer pacer(source->fps);
  const auto start = std::chrono::steady_clock::now();
  const Ending ending = publishFrames(options, *producer, filler, pacer, *metadata, start);
  const std::uint32_t readers = producer->readerCount();
  producer->end();
  report(options, ending, filler, readers,
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return ending.exitCode;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Publishes a test pattern, camera, video file or GStreamer pipeline as a frameshm feed.",
               "frameshm-producer"};
  app.add_option("--feed", options.feed, "Feed name, 1..200 of [A-Za-z0-9._-]")->capture_default_str();
  app.add_option("--source", options.source,
                 "pattern | camera:N | /dev/videoN | file:PATH | gst:PIPELINE (ending in appsink)")
      ->capture_default_str();
  app.add_option("--format", options.format, "Pixel format: GRAY8 RGB BGR RGBA BGRA BGRx I420 NV12 YUY2 UYVY")
      ->capture_default_str();
  const auto positive = cli::explained(CLI::PositiveNumber, "must be positive");
  auto* width = app.add_option("--width", options.width, "Frame width (asked of a camera)")
                    ->capture_default_str()
                    ->check(positive);
  auto* height = app.add_option("--height", options.height, "Frame height (asked of a camera)")
                     ->capture_default_str()
                     ->check(positive);
  auto* fps = app.add_option("--fps", options.fps,
                             "Frames per second, 0 = as fast as possible (default: 30 for the pattern, "
                             "the file's rate, the camera's own pace)")
                  ->check(cli::explained(CLI::NonNegativeNumber, "must be 0 (as fast as possible) or more"));
  app.add_option("--frames", options.frames, "Stop after N frames (0 = run until stopped)")
      ->capture_default_str();
  app.add_option("--slots", options.slots, "Frame slots in the feed, 2..64")->capture_default_str();
  app.add_option("--mode", options.mode, "Permissions of the feed, octal (0660 opens it to the group)")
      ->capture_default_str();
  app.add_flag("--replace", options.replace, "Take the feed over from a live producer");
  app.add_option("--backend", options.backend,
                 "Where the frames live: memfd (sealed, over the feed's socket), posix (/dev/shm) or sysv")
      ->check(CLI::IsMember({"memfd", "posix", "sysv"}))
      ->capture_default_str();
  app.add_flag("--loop", options.loop, "Play a file source again from the start when it ends");
  app.add_flag(
      "--still", options.still,
      "Pattern only: draw the same picture (frame 0 at time 0) in every frame; the stamp still counts");
  app.add_option(
      "--meta", options.meta,
      "KEY=VALUE metadata carried by every frame (repeatable; an integer value is an int, a number "
      "a double, anything else a string)");
  app.add_option("--metadata-bytes", options.metadataBytes,
                 "Bytes of metadata each frame can carry, 0..1048576")
      ->capture_default_str()
      ->check(cli::explained(CLI::Range(0u, 1u << 20), "must be 0..1048576"));
  if (auto code = cli::parse(app, argc, argv)) return *code;
  programs::silenceOpenCvLogs();
  options.fpsGiven = fps->count() > 0;
  options.sizeGiven = width->count() > 0 || height->count() > 0;
  return run(options);
}
