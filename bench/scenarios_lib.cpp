// SPDX-License-Identifier: LGPL-2.1-or-later
// Scenarios 1-4 and 6: the C++ library between forked processes.
#include <sched.h>
#include <semaphore.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "floors.hpp"
#include "frameshm/clock.hpp"
#include "frameshm/consumer.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "harness.hpp"
#include "scenarios.hpp"

namespace frameshm::bench {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t kMaxSamples = 8192;
constexpr int kSourceFrames = 4;  // distinct stamped source frames the producer cycles through

// Set by the producer, read by the readers: frames published in [startNs, endNs) are measured.
struct Control {
  std::atomic<std::int64_t> startNs{0};
  std::atomic<std::int64_t> endNs{0};
};

struct ProducerResult {
  std::uint64_t frames = 0;  // published in the window
  double cpuSeconds = 0;     // used in the window
  double wallSeconds = 0;
  double publishSeconds = 0;   // spent inside write()/acquire()+publish() in the window
  double metadataSeconds = 0;  // of that, inside WriteSlot::setMetadata
  std::uint64_t segmentBytes = 0;
  int failed = 0;
  char error[200] = {};
};

struct ReaderResult {
  std::uint64_t frames = 0;    // accepted in the window
  std::uint64_t verified = 0;  // of those, intact with a correct stamp
  std::uint64_t badStamp = 0;  // intact but with a wrong stamp: a transport bug
  std::uint64_t torn = 0;
  std::uint64_t dropped = 0;  // frames of the window this reader never saw
  std::uint64_t samples = 0;
  double cpuSeconds = 0;  // used from the window's first accepted frame to its last
  double publishToWakeUs[kMaxSamples];
  double captureToWakeUs[kMaxSamples];
  int failed = 0;
  char error[200] = {};
};

enum class Wait { Block, Spin, Poll };
enum class Fill { Copy, InPlace };

struct ReaderPlan {
  std::string feed{};
  Wait wait = Wait::Block;
  int spinUs = 0;
  bool verify = true;
  int delayMs = 0;   // work per frame of a slow reader
  bool pin = false;  // keep the slot from the producer while verifying it
  Delivery delivery = Delivery::Latest;
};

struct ProducerPlan {
  std::string feed{};
  FrameFormat format{};
  std::uint32_t slots = 3;
  std::uint32_t maxReaders = 16;
  std::uint32_t readers = 1;  // waits for this many before measuring
  double rateHz = 0;          // 0: as fast as possible
  Fill fill = Fill::Copy;
  double warmupSeconds = 0.3;
  double seconds = 1.0;
  std::uint32_t metadata = 0;  // bytes of user metadata set on every frame (in-place fill)
};

// One bytes entry whose encoding takes exactly `bytes` (a multiple of 8, >= 16).
Metadata metadataOfSize(std::uint32_t bytes) {
  Metadata m;
  if (bytes >= 16) (void)m.setBytes("payload", std::vector<std::byte>(bytes - 8 - 7));
  return m;
}

void setError(char (&out)[200], const std::string& text) {
  std::snprintf(out, sizeof out, "%s", text.c_str());
}

std::vector<std::vector<std::byte>> stampedSources(const FrameFormat& format) {
  std::vector<std::vector<std::byte>> frames;
  for (int k = 0; k < kSourceFrames; ++k) {
    std::vector<std::byte> frame(format.frameSize);
    for (std::size_t i = 0; i < frame.size(); i += 64) frame[i] = static_cast<std::byte>(i / 64 * 7 + k);
    writeStamp(frame, static_cast<std::uint64_t>(k));
    frames.push_back(std::move(frame));
  }
  return frames;
}

int runProducer(const ProducerPlan& plan, Control& control, ProducerResult& result) {
  const auto sources =
      plan.fill == Fill::Copy ? stampedSources(plan.format) : std::vector<std::vector<std::byte>>{};
  const Metadata metadata = metadataOfSize(plan.metadata);
  auto producer = Producer::create({.feed = plan.feed,
                                    .format = plan.format,
                                    .slots = plan.slots,
                                    .maxReaders = plan.maxReaders,
                                    .metadataBytes = std::max<std::uint32_t>(plan.metadata, 4096)});
  if (!producer) {
    setError(result.error, producer.error().message);
    result.failed = 1;
    return 1;
  }
  result.segmentBytes = producer->segmentSize();
  const std::int64_t waitUntil = monotonicNs() + 20'000'000'000;
  while (producer->readerCount() < plan.readers && monotonicNs() < waitUntil)
    std::this_thread::sleep_for(milliseconds(2));
  if (producer->readerCount() < plan.readers) {
    setError(result.error, "readers did not attach within 20 s");
    result.failed = 1;
    return 1;
  }
  const std::int64_t periodNs = plan.rateHz > 0 ? static_cast<std::int64_t>(1e9 / plan.rateHz) : 0;
  const std::int64_t begin = monotonicNs();
  const std::int64_t start = begin + static_cast<std::int64_t>(plan.warmupSeconds * 1e9);
  const std::int64_t end = start + static_cast<std::int64_t>(plan.seconds * 1e9);
  control.startNs.store(start);
  control.endNs.store(end);
  bool measuring = false;
  double cpuAtStart = 0;
  std::int64_t inPublish = 0, inMetadata = 0;
  std::uint64_t n = 0;
  for (std::int64_t next = begin;; ++n) {
    if (periodNs) {
      next += periodNs;
      sleepUntilNs(next);
    }
    const std::int64_t now = monotonicNs();
    if (!measuring && now >= start) {
      measuring = true;
      cpuAtStart = cpuSeconds();
    }
    if (now >= end) break;
    const std::int64_t t0 = monotonicNs();
    Result<std::uint64_t> published;
    if (plan.fill == Fill::Copy) {
      published = producer->write(sources[n % kSourceFrames], {.captureNs = t0, .flags = kFlagPattern});
    } else {
      auto slot = producer->acquire();
      if (!slot) {
        setError(result.error, slot.error().message);
        result.failed = 1;
        return 1;
      }
      if (plan.metadata) {
        const std::int64_t m0 = monotonicNs();
        auto set = slot->setMetadata(metadata);
        if (measuring) inMetadata += monotonicNs() - m0;
        if (!set) {
          setError(result.error, set.error().message);
          result.failed = 1;
          return 1;
        }
      }
      published = producer->publish(std::move(*slot), {.captureNs = t0});
    }
    const std::int64_t t1 = monotonicNs();
    if (!published) {
      setError(result.error, published.error().message);
      result.failed = 1;
      return 1;
    }
    if (measuring) {
      inPublish += t1 - t0;
      ++result.frames;
    }
  }
  result.cpuSeconds = cpuSeconds() - cpuAtStart;
  result.wallSeconds = static_cast<double>(end - start) * 1e-9;
  result.publishSeconds = static_cast<double>(inPublish) * 1e-9;
  result.metadataSeconds = static_cast<double>(inMetadata) * 1e-9;
  producer->end();
  return 0;
}

int runReader(const ReaderPlan& plan, Control& control, ReaderResult& result) {
  auto consumer = Consumer::open({.feed = plan.feed,
                                  .openTimeout = milliseconds(20'000),
                                  .spin = std::chrono::microseconds(plan.spinUs),
                                  .pin = plan.pin,
                                  .delivery = plan.delivery});
  if (!consumer) {
    setError(result.error, consumer.error().message);
    result.failed = 1;
    return 1;
  }
  std::uint64_t firstInWindow = 0, lastInWindow = 0;
  double cpuAtFirst = 0;
  for (;;) {
    Result<Frame> frame;
    if (plan.wait == Wait::Poll) {
      do {
        frame = consumer->tryFrame();
      } while (!frame && frame.error().code == ErrorCode::NoFrame);
    } else {
      frame = consumer->waitFrame(std::chrono::seconds(30));
    }
    const std::int64_t wokeNs = monotonicNs();
    if (!frame) {
      if (frame.error().code == ErrorCode::FeedEnded || frame.error().code == ErrorCode::ProducerGone) break;
      setError(result.error, frame.error().message);
      result.failed = 1;
      return 1;
    }
    const std::int64_t start = control.startNs.load(), end = control.endNs.load();
    const bool inWindow = start != 0 && frame->publishNs() >= start && frame->publishNs() < end;
    if (!inWindow) {
      if (plan.delayMs) std::this_thread::sleep_for(milliseconds(plan.delayMs));
      continue;
    }
    if (firstInWindow == 0) {
      firstInWindow = frame->number();
      cpuAtFirst = cpuSeconds();
    }
    lastInWindow = frame->number();
    ++result.frames;
    if (result.samples < kMaxSamples) {
      result.publishToWakeUs[result.samples] = static_cast<double>(wokeNs - frame->publishNs()) * 1e-3;
      result.captureToWakeUs[result.samples] = static_cast<double>(wokeNs - frame->meta().captureNs) * 1e-3;
      ++result.samples;
    }
    if (plan.verify) {
      const bool stampOk = checkStamp(frame->data()) == StampCheck::Ok &&
                           stampedNumber(frame->data()) == (frame->number() - 1) % kSourceFrames;
      if (!frame->intact())
        ++result.torn;
      else if (stampOk)
        ++result.verified;
      else
        ++result.badStamp;
    } else if (frame->intact()) {
      ++result.verified;
    } else {
      ++result.torn;
    }
    if (plan.delayMs) std::this_thread::sleep_for(milliseconds(plan.delayMs));
    result.cpuSeconds = cpuSeconds() - cpuAtFirst;
  }
  if (lastInWindow >= firstInWindow && firstInWindow != 0)
    result.dropped = (lastInWindow - firstInWindow + 1) - result.frames;
  return 0;
}

struct Run {
  ProducerResult* producer = nullptr;
  std::vector<ReaderResult*> readers;
  bool ok = false;
  std::string error{};
};

// One producer and its readers as processes; returns their results.
Run runFeed(ProducerPlan plan, const std::vector<ReaderPlan>& readerPlans) {
  plan.feed = test::uniqueFeed("f", "bench-");
  test::FeedGuard cleanup(plan.feed);
  plan.readers = static_cast<std::uint32_t>(readerPlans.size());
  Run run;
  auto* control = new (sharedAlloc(sizeof(Control))) Control;
  run.producer = sharedNew<ProducerResult>();
  std::vector<test::Child> readers{};
  test::Child producer = test::Child::fork([&] { return runProducer(plan, *control, *run.producer); });
  for (auto readerPlan : readerPlans) {
    readerPlan.feed = plan.feed;
    auto* result = sharedNew<ReaderResult>();
    run.readers.push_back(result);
    readers.push_back(
        test::Child::fork([&, readerPlan] { return runReader(readerPlan, *control, *result); }));
  }
  const auto limit = milliseconds(static_cast<int>((plan.warmupSeconds + plan.seconds) * 1000) + 40'000);
  int code = producer.wait(limit);
  run.ok = code == 0;
  if (!run.ok)
    run.error = run.producer->failed ? run.producer->error : "producer exited with " + std::to_string(code);
  for (std::size_t i = 0; i < readers.size(); ++i) {
    // A slow reader may still sleep through its last frame.
    code = readers[i].wait(milliseconds(5'000));
    if (code != 0 && run.ok) {
      run.ok = false;
      run.error =
          run.readers[i]->failed ? run.readers[i]->error : "reader exited with " + std::to_string(code);
    }
  }
  if (!run.ok) std::fprintf(stderr, "frameshm-bench: %s\n", run.error.c_str());
  return run;
}

struct Size {
  const char* name;
  std::uint32_t width, height;
};
constexpr Size kSizes[] = {{"640x480", 640, 480}, {"1080p", 1920, 1080}, {"4K", 3840, 2160}};

FrameFormat formatOf(PixelFormat pixelFormat, const Size& size, std::uint32_t fps) {
  return *makeFormat(pixelFormat, size.width, size.height, {fps, 1});
}

// Single-core speed of the stamp check a verifying reader runs on every frame, MB/s.
double checksumMBps(std::size_t bytes, double seconds) {
  std::vector<std::byte> frame(bytes, std::byte{7});
  const std::int64_t start = monotonicNs();
  std::uint64_t sums = 0, sink = 0;
  std::int64_t now = start;
  while (now - start < static_cast<std::int64_t>(seconds * 1e9) || sums < 4) {
    sink += checksum(frame);
    ++sums;
    now = monotonicNs();
  }
  if (sink == 42) std::printf(" ");  // keeps the sums from being optimised away
  return static_cast<double>(sums) * static_cast<double>(bytes) / (static_cast<double>(now - start) * 1e-3);
}

std::string sizeLabel(const Size& size) {
  return std::to_string(size.width) + "x" + std::to_string(size.height);
}

}  // namespace

void runThroughput(const Config& config, Report& report) {
  for (const Size& size : kSizes) {
    for (PixelFormat pf : {PixelFormat::I420, PixelFormat::Bgr}) {
      const FrameFormat format = formatOf(pf, size, 0);
      const std::string id = std::string(size.name) + "." + std::string(toString(pf));
      const std::string what = sizeLabel(size) + " " + std::string(toString(pf));
      const double bytes = static_cast<double>(format.frameSize);
      const double memcpyRate = memcpyMBps(format.frameSize, std::min(config.phaseSeconds, 1.0));
      std::printf("throughput %s ...\n", what.c_str());
      std::fflush(stdout);
      // The reader pins the slot it verifies: against a producer that never
      // waits, an unpinned reader of a 3-slot feed mostly finds its frame overwritten.
      Run run =
          runFeed({.format = format, .warmupSeconds = config.warmupSeconds, .seconds = config.phaseSeconds},
                  {ReaderPlan{.verify = true, .pin = true}});
      if (!run.ok) continue;
      const ReaderResult& r = *run.readers[0];
      const double readerFps = static_cast<double>(r.verified) / run.producer->wallSeconds;
      const double producerFps = static_cast<double>(run.producer->frames) / run.producer->wallSeconds;
      const double deliveredMBps = readerFps * bytes * 1e-6;
      const double producerMBps = producerFps * bytes * 1e-6;
      report.add({"throughput", id + ".readerFps", what + ": frames/s delivered and verified", readerFps,
                  "frames/s"});
      report.add({"throughput", id + ".readerMBps", what + ": MB/s delivered and verified", deliveredMBps,
                  "MB/s", deliveredMBps / memcpyRate, "memcpy"});
      report.add({"throughput", id + ".producerFps", what + ": frames/s published", producerFps, "frames/s"});
      report.add({"throughput", id + ".producerMBps", what + ": MB/s published (copy in)", producerMBps,
                  "MB/s", producerMBps / memcpyRate, "memcpy"});
      report.add(
          {"throughput", id + ".memcpyMBps", what + ": single-core memcpy, same size", memcpyRate, "MB/s"});
      const double checkRate = checksumMBps(format.frameSize, std::min(config.phaseSeconds, 0.5));
      report.add({"throughput", id + ".checksumMBps", what + ": single-core stamp check (the reader's limit)",
                  checkRate, "MB/s"});
      report.add({"throughput", id + ".dropped", what + ": frames the reader skipped (newest-frame)",
                  static_cast<double>(r.dropped), "frames"});
      report.add({"throughput", id + ".torn", what + ": torn reads discarded", static_cast<double>(r.torn),
                  "frames"});
      report.add({"throughput", id + ".badStamp", what + ": accepted frames with a wrong stamp",
                  static_cast<double>(r.badStamp), "frames"});
    }
  }

  // Issue 2: what publishing costs the producer, a reader attached that only takes frames.
  for (const Size& size : kSizes) {
    const FrameFormat format = formatOf(PixelFormat::I420, size, 0);
    const std::string what = sizeLabel(size) + " I420";
    const double memcpyRate = memcpyMBps(format.frameSize, std::min(config.phaseSeconds, 1.0));
    std::printf("publish cost %s ...\n", what.c_str());
    std::fflush(stdout);
    const double seconds = std::max(config.smoke ? 0.1 : 0.2, config.phaseSeconds / 2);
    Run copy = runFeed(
        {.format = format, .fill = Fill::Copy, .warmupSeconds = config.warmupSeconds, .seconds = seconds},
        {ReaderPlan{.verify = false}});
    Run inPlace = runFeed(
        {.format = format, .fill = Fill::InPlace, .warmupSeconds = config.warmupSeconds, .seconds = seconds},
        {ReaderPlan{.verify = false}});
    // Issue 16: the same with 4 KiB of user metadata set on every frame.
    Run withMeta = runFeed({.format = format,
                            .fill = Fill::InPlace,
                            .warmupSeconds = config.warmupSeconds,
                            .seconds = seconds,
                            .metadata = 4096},
                           {ReaderPlan{.verify = false}});
    if (!copy.ok || !inPlace.ok || !withMeta.ok) continue;
    const double copyMBps = static_cast<double>(copy.producer->frames) *
                            static_cast<double>(format.frameSize) / copy.producer->publishSeconds * 1e-6;
    const double copyUs = copy.producer->publishSeconds / static_cast<double>(copy.producer->frames) * 1e6;
    const double inPlaceUs =
        inPlace.producer->publishSeconds / static_cast<double>(inPlace.producer->frames) * 1e6;
    report.add({"publish", std::string(size.name) + ".copyMBps", what + ": copy-publish (write) bandwidth",
                copyMBps, "MB/s", copyMBps / memcpyRate, "memcpy"});
    report.add({"publish", std::string(size.name) + ".copyUs", what + ": copy-publish time per frame", copyUs,
                "us"});
    report.add({"publish", std::string(size.name) + ".memcpyMBps", what + ": memcpy bandwidth, same size",
                memcpyRate, "MB/s"});
    const double bareRate = copyAndWakeMBps(format.frameSize, std::min(config.phaseSeconds / 2, 1.0));
    report.add({"publish", std::string(size.name) + ".copyWakeMBps",
                what + ": bare memcpy then futex wake of a blocking reader, MB/s", bareRate, "MB/s",
                bareRate / memcpyRate, "memcpy"});
    report.add({"publish", std::string(size.name) + ".inPlaceUs",
                what + ": in-place acquire+publish per frame", inPlaceUs, "us"});
    const double withMetaUs =
        withMeta.producer->publishSeconds / static_cast<double>(withMeta.producer->frames) * 1e6;
    report.add({"publish", std::string(size.name) + ".inPlaceMeta4kUs",
                what + ": in-place acquire+4 KiB metadata+publish per frame", withMetaUs, "us"});
    report.add({"publish", std::string(size.name) + ".meta4kCostUs",
                what + ": what 4 KiB of metadata adds to a publish (difference of two runs)",
                withMetaUs - inPlaceUs, "us"});
    report.add({"publish", std::string(size.name) + ".meta4kSetUs",
                what + ": time inside setMetadata (4 KiB) per frame",
                withMeta.producer->metadataSeconds / static_cast<double>(withMeta.producer->frames) * 1e6,
                "us"});
  }
}

void runFanout(const Config& config, Report& report) {
  const FrameFormat format = formatOf(PixelFormat::I420, kSizes[1], 60);
  double cpuAtOne = 0, takeOnlyAtOne = 0, bareAtOne = NAN;
  for (int readers : {1, 2, 4, 8}) {
    std::printf("fan-out %d readers ...\n", readers);
    std::fflush(stdout);
    Run run = runFeed({.format = format,
                       .rateHz = 60,
                       .warmupSeconds = config.warmupSeconds,
                       .seconds = config.phaseSeconds * 1.5},
                      std::vector<ReaderPlan>(static_cast<std::size_t>(readers), ReaderPlan{.verify = true}));
    // The same with readers that take each frame without reading its pixels:
    // what the transport itself costs the producer per reader, without the
    // readers' memory traffic slowing the producer's copy.
    Run takeOnly =
        runFeed({.format = format,
                 .rateHz = 60,
                 .warmupSeconds = config.warmupSeconds,
                 .seconds = config.phaseSeconds},
                std::vector<ReaderPlan>(static_cast<std::size_t>(readers), ReaderPlan{.verify = false}));
    if (!run.ok || !takeOnly.ok) continue;
    const std::string id = std::to_string(readers) + "r";
    const std::string what =
        "1080p60 I420, " + std::to_string(readers) + " reader" + (readers > 1 ? "s" : "");
    double minFps = 1e9;
    std::uint64_t drops = 0;
    for (std::size_t i = 0; i < run.readers.size(); ++i) {
      const double fps = static_cast<double>(run.readers[i]->verified) / run.producer->wallSeconds;
      minFps = std::min(minFps, fps);
      drops += run.readers[i]->dropped + run.readers[i]->torn;
      report.add({"fanout", id + ".reader" + std::to_string(i) + ".fps",
                  what + ": reader " + std::to_string(i) + " fps", fps, "frames/s", fps / 60.0,
                  "source rate"});
      report.add({"fanout", id + ".reader" + std::to_string(i) + ".drops",
                  what + ": reader " + std::to_string(i) + " drops",
                  static_cast<double>(run.readers[i]->dropped), "frames"});
    }
    const double cpuUs = run.producer->cpuSeconds / static_cast<double>(run.producer->frames) * 1e6;
    if (readers == 1) cpuAtOne = cpuUs;
    report.add({"fanout", id + ".minReaderFps", what + ": slowest reader fps", minFps, "frames/s",
                minFps / 60.0, "source rate"});
    report.add(
        {"fanout", id + ".drops", what + ": drops, all readers", static_cast<double>(drops), "frames"});
    report.add({"fanout", id + ".producerCpuUs", what + ": producer CPU per frame (readers verify)", cpuUs,
                "us", cpuAtOne > 0 ? cpuUs / cpuAtOne : NAN, "1 reader"});
    const double takeOnlyUs =
        takeOnly.producer->cpuSeconds / static_cast<double>(takeOnly.producer->frames) * 1e6;
    if (readers == 1) takeOnlyAtOne = takeOnlyUs;
    report.add({"fanout", id + ".producerCpuUsTakeOnly",
                what + ": producer CPU per frame (readers skip pixels)", takeOnlyUs, "us",
                takeOnlyAtOne > 0 ? takeOnlyUs / takeOnlyAtOne : NAN, "1 reader"});
    // The same copy and reads with no frameshm: the readers' memory traffic alone.
    const double bareUs = copyBesideReadersCpuUs(format.frameSize, readers, 60, config.phaseSeconds);
    if (readers == 1) bareAtOne = bareUs;
    if (std::isfinite(bareUs))
      report.add({"fanout", id + ".bareCopyCpuUs",
                  what + ": bare memcpy into 3 memfd slots beside as many reading processes, CPU per frame",
                  bareUs, "us", bareAtOne > 0 ? bareUs / bareAtOne : NAN, "1 reader"});
  }
}

void runSlowReader(const Config& config, Report& report) {
  const FrameFormat format = formatOf(PixelFormat::I420, kSizes[1], 60);
  std::printf("slow reader ...\n");
  std::fflush(stdout);
  Run run = runFeed({.format = format,
                     .rateHz = 60,
                     .warmupSeconds = config.warmupSeconds,
                     .seconds = std::max(config.smoke ? 0.5 : 1.0, config.phaseSeconds * 2)},
                    {ReaderPlan{.verify = true}, ReaderPlan{.verify = true, .delayMs = 100}});
  if (!run.ok) return;
  const double wall = run.producer->wallSeconds;
  const double normalFps = static_cast<double>(run.readers[0]->verified) / wall;
  const double slowFps = static_cast<double>(run.readers[1]->frames) / wall;
  const double producerFps = static_cast<double>(run.producer->frames) / wall;
  report.add({"slowreader", "frameshm.normalFps",
              "frameshm 1080p60: normal reader fps beside a 100 ms reader", normalFps, "frames/s",
              normalFps / 60.0, "source rate"});
  report.add({"slowreader", "frameshm.producerFps", "frameshm 1080p60: producer fps beside a 100 ms reader",
              producerFps, "frames/s", producerFps / 60.0, "source rate"});
  report.add({"slowreader", "frameshm.slowFps", "frameshm 1080p60: slow reader fps", slowFps, "frames/s",
              slowFps / 60.0, "source rate"});
  report.add({"slowreader", "frameshm.normalDrops", "frameshm 1080p60: normal reader drops",
              static_cast<double>(run.readers[0]->dropped), "frames"});
}

void runRecorder(const Config& config, Report& report) {
  // Issue 16: a recorder (sequential delivery, verifying every frame, pinning
  // it meanwhile so that the producer, which goes on, writes elsewhere) beside
  // a viewer that takes 100 ms a frame, 1080p60 over 8 slots.
  const FrameFormat format = formatOf(PixelFormat::I420, kSizes[1], 60);
  const double seconds = config.recorderSeconds > 0 ? config.recorderSeconds : config.phaseSeconds * 2;
  std::printf("recorder beside a slow viewer, %.0f s ...\n", seconds);
  std::fflush(stdout);
  Run run = runFeed(
      {.format = format, .slots = 8, .rateHz = 60, .warmupSeconds = config.warmupSeconds, .seconds = seconds},
      {ReaderPlan{.verify = true, .pin = true, .delivery = Delivery::Sequential},
       ReaderPlan{.verify = true, .delayMs = 100}});
  if (!run.ok) return;
  const ReaderResult& recorder = *run.readers[0];
  const double published = static_cast<double>(run.producer->frames);
  const double recorded = published > 0 ? static_cast<double>(recorder.verified) / published : 0;
  report.add({"recorder", "recordedPercent",
              "1080p60, 8 slots: frames a sequential recorder recorded beside a 100 ms viewer, over " +
                  std::to_string(static_cast<int>(seconds)) + " s",
              recorded * 100, "%"});
  report.add({"recorder", "recorderDropped", "1080p60, 8 slots: frames the recorder lost",
              static_cast<double>(recorder.dropped + recorder.torn + recorder.badStamp), "frames"});
  report.add({"recorder", "producerFps", "1080p60, 8 slots: producer fps beside the recorder and the viewer",
              published / run.producer->wallSeconds, "frames/s", published / run.producer->wallSeconds / 60.0,
              "source rate"});
  report.add({"recorder", "viewerFps", "1080p60, 8 slots: the 100 ms viewer's fps",
              static_cast<double>(run.readers[1]->frames) / run.producer->wallSeconds, "frames/s"});
}

namespace {

struct FloorShared {
  sem_t sem;
  std::atomic<std::int64_t> postedNs{0};
  std::atomic<int> done{0};
  std::uint64_t samples = 0;
  double wakeUs[kMaxSamples];
};

// The floor: a bare process-shared semaphore posted by one process and awaited by another.
// With `copyBytes`, the poster first copies a frame of that size, as a copying
// producer does right before it publishes: what the copy alone does to the wake.
Summary semaphoreFloor(double rateHz, double seconds, std::size_t copyBytes = 0) {
  auto* shared = new (sharedAlloc(sizeof(FloorShared))) FloorShared;
  sem_init(&shared->sem, 1, 0);
  const auto count = static_cast<std::uint64_t>(std::min<double>(kMaxSamples, rateHz * seconds));
  test::Child waiter = test::Child::fork([&] {
    for (std::uint64_t i = 0; i < count; ++i) {
      while (sem_wait(&shared->sem) != 0) {
      }
      const std::int64_t woke = monotonicNs();
      shared->wakeUs[shared->samples++] = static_cast<double>(woke - shared->postedNs.load()) * 1e-3;
    }
    return 0;
  });
  test::Child poster = test::Child::fork([&] {
    const auto period = static_cast<std::int64_t>(1e9 / rateHz);
    std::vector<std::byte> from(copyBytes, std::byte{1}), to(copyBytes);
    std::int64_t next = monotonicNs() + 100'000'000;
    for (std::uint64_t i = 0; i < count; ++i) {
      next += period;
      sleepUntilNs(next);
      if (copyBytes) std::memcpy(to.data(), from.data(), copyBytes);
      shared->postedNs.store(monotonicNs());
      sem_post(&shared->sem);
    }
    return 0;
  });
  const auto limit = milliseconds(static_cast<int>(seconds * 1000) + 20'000);
  poster.wait(limit);
  waiter.wait(milliseconds(2'000));
  std::vector<double> samples(shared->wakeUs, shared->wakeUs + shared->samples);
  sem_destroy(&shared->sem);
  return summarize(samples);
}

void addSummary(Report& report, const std::string& id, const std::string& what, const Summary& s,
                double floorP50) {
  const std::pair<const char*, double> parts[] = {
      {"p50", s.p50}, {"p95", s.p95}, {"p99", s.p99}, {"max", s.max}};
  for (const auto& [name, value] : parts) {
    const bool ratio = floorP50 > 0 && std::string(name) == "p50";
    report.add({"latency", id + "." + name, what + " " + name, value, "us", ratio ? value / floorP50 : NAN,
                ratio ? "floor p50" : ""});
  }
}

}  // namespace

void runLatency(const Config& config, Report& report) {
  struct Case {
    const Size& size;
    std::uint32_t fps;
  };
  // 4K at 60 as well as 30: how long a reader's CPU sat idle changes the wake
  // cost, so sizes are compared at one rate and each series to the floor at its rate.
  const Case cases[] = {{kSizes[0], 60}, {kSizes[1], 60}, {kSizes[2], 60}, {kSizes[2], 30}};
  std::map<std::uint32_t, double> floorP50, floorCpuUs;
  for (std::uint32_t hz : {60u, 30u}) {
    std::printf("latency floor %u Hz ...\n", hz);
    std::fflush(stdout);
    const Summary floor = semaphoreFloor(hz, config.latencySeconds);
    const std::string id = "floor" + std::string(hz == 60 ? "" : "30");
    addSummary(report, id, "semaphore floor (post -> wake, 2 processes, " + std::to_string(hz) + " Hz)",
               floor, 0);
    report.add({"latency", id + ".samples", "semaphore floor samples at " + std::to_string(hz) + " Hz",
                static_cast<double>(floor.count), "samples"});
    floorP50[hz] = floor.p50;
    // What the reader's CPU per frame is bounded by: a bare process that
    // only waits on a read-only futex word and is woken at the same rate.
    const double waiterUs = waiterCpuUs(Waiter::ReadOnlyFutex, hz, config.latencySeconds);
    floorCpuUs[hz] = waiterUs;
    report.add({"latency", id + ".waiterCpuUs",
                "bare process woken from FUTEX_WAIT at " + std::to_string(hz) + " Hz: CPU per wake", waiterUs,
                "us"});
  }
  {
    // Not the floor the goal is judged by: shows how much of a copying
    // producer's wake latency the copy itself causes, with no frameshm involved.
    const std::size_t bytes = formatOf(PixelFormat::I420, kSizes[2], 60).frameSize;
    std::printf("latency floor after a 4K copy ...\n");
    std::fflush(stdout);
    const Summary floor = semaphoreFloor(60, config.latencySeconds, bytes);
    addSummary(report, "floorAfterCopy", "semaphore post -> wake, 60 Hz, poster copies a 4K I420 frame first",
               floor, floorP50[60]);
  }
  struct Mode {
    Wait wait;
    const char* id;
    const char* name;
  };
  const Mode modes[] = {{Wait::Block, "block", "blocking"},
                        {Wait::Spin, "spin", "spin-then-block"},
                        {Wait::Poll, "poll", "busy-poll"}};
  for (const Case& c : cases) {
    const FrameFormat format = formatOf(PixelFormat::I420, c.size, c.fps);
    for (const Mode& mode : modes) {
      std::printf("latency %s@%u %s ...\n", c.size.name, c.fps, mode.name);
      std::fflush(stdout);
      Run run = runFeed(
          {.format = format,
           .rateHz = static_cast<double>(c.fps),
           .warmupSeconds = config.warmupSeconds,
           .seconds = config.latencySeconds},
          {ReaderPlan{
              .wait = mode.wait, .spinUs = mode.wait == Wait::Spin ? config.spinUs : 0, .verify = false}});
      if (!run.ok) continue;
      const ReaderResult& r = *run.readers[0];
      const std::vector<double> transport(r.publishToWakeUs, r.publishToWakeUs + r.samples);
      const std::vector<double> capture(r.captureToWakeUs, r.captureToWakeUs + r.samples);
      // The 60 Hz series keep their plain ids; 4K at 30 Hz is "4K30".
      const std::string sizeId = std::string(c.size.name) + (c.fps == 60 ? "" : std::to_string(c.fps));
      const std::string id = sizeId + "." + mode.id;
      const std::string what = std::string(c.size.name) + "@" + std::to_string(c.fps) + " " + mode.name;
      addSummary(report, id + ".publishToWake", what + " publish->wake", summarize(transport),
                 floorP50[c.fps]);
      addSummary(report, id + ".captureToWake", what + " capture->wake", summarize(capture), 0);
      report.add({"latency", id + ".samples", what + " samples", static_cast<double>(r.samples), "samples"});
      report.add(
          {"latency", id + ".drops", what + " drops", static_cast<double>(r.dropped + r.torn), "frames"});
      if (mode.wait != Wait::Poll && r.frames > 1) {
        // The library's whole read path (wait, take, check, release) in a
        // plain process: what frameshmsrc adds GStreamer's work to.
        const double cpuUs = r.cpuSeconds / static_cast<double>(r.frames - 1) * 1e6;
        report.add({"latency", id + ".readerCpuUs", what + ": reader CPU per frame", cpuUs, "us",
                    floorCpuUs[c.fps] > 0 ? cpuUs / floorCpuUs[c.fps] : NAN, "bare waiter"});
      }
    }
  }
}

void runScale(const Config& config, Report& report) {
  const FrameFormat format = formatOf(PixelFormat::I420, kSizes[1], 60);
  const double seconds = std::max(config.smoke ? 0.15 : 0.25, config.phaseSeconds / 2);
  // Per-frame CPU at 60 fps moves by 2x between runs here: each figure is the
  // median of rounds that go through every count in turn, so that a slow
  // minute of the machine does not land on one count alone.
  const int rounds = config.smoke ? 1 : 3;
  constexpr int kReaderCounts[] = {1, 2, 4, 8, 16, 32, 64};
  constexpr int kWaiterCounts[] = {1, 32, 64};
  std::map<int, std::vector<double>> publishUs, cpuUs, bareUs;
  std::map<int, double> segmentBytes;
  for (int round = 1; round <= rounds; ++round) {
    for (int readers : kReaderCounts) {
      std::printf("scale %d readers, round %d ...\n", readers, round);
      std::fflush(stdout);
      Run run =
          runFeed({.format = format,
                   .maxReaders = static_cast<std::uint32_t>(readers),
                   .rateHz = 60,
                   .fill = Fill::InPlace,
                   .warmupSeconds = config.warmupSeconds,
                   .seconds = seconds},
                  std::vector<ReaderPlan>(static_cast<std::size_t>(readers), ReaderPlan{.verify = false}));
      if (!run.ok) continue;
      const auto frames = static_cast<double>(run.producer->frames);
      publishUs[readers].push_back(run.producer->publishSeconds / frames * 1e6);
      cpuUs[readers].push_back(run.producer->cpuSeconds / frames * 1e6);
      segmentBytes[readers] = static_cast<double>(run.producer->segmentBytes);
    }
    // The same wake with nothing around it: how much of the growth above is
    // the kernel's own cost of waking each blocked process.
    for (int waiters : kWaiterCounts) {
      std::printf("scale: bare futex wake of %d blocked processes, round %d ...\n", waiters, round);
      std::fflush(stdout);
      const double us = wakeAllCpuUs(waiters, 60, seconds);
      if (std::isfinite(us)) bareUs[waiters].push_back(us);
    }
  }
  const std::string ofRounds = rounds > 1 ? " (median of " + std::to_string(rounds) + " rounds)" : "";
  for (int readers : kReaderCounts) {
    if (cpuUs[readers].empty()) continue;
    const std::string id = "readers" + std::to_string(readers);
    report.add({"scale", id + ".publishUs",
                std::to_string(readers) + " readers: in-place publish call per frame" + ofRounds,
                summarize(publishUs[readers]).p50, "us"});
    report.add({"scale", id + ".cpuUs",
                std::to_string(readers) + " readers: producer CPU per frame" + ofRounds,
                summarize(cpuUs[readers]).p50, "us"});
    report.add(
        {"scale", id + ".segmentBytes",
         std::to_string(readers) + " readers (maxReaders=" + std::to_string(readers) + "): segment size",
         segmentBytes[readers], "bytes"});
  }
  const double bareAtOne = bareUs[1].empty() ? NAN : summarize(bareUs[1]).p50;
  for (int waiters : kWaiterCounts) {
    if (bareUs[waiters].empty()) continue;
    const double us = summarize(bareUs[waiters]).p50;
    report.add({"scale", "bareWake" + std::to_string(waiters) + ".cpuUs",
                "bare futex wake of " + std::to_string(waiters) + " blocked process" +
                    (waiters > 1 ? "es" : "") + " at 60 Hz: waker CPU per frame" + ofRounds,
                us, "us", bareAtOne > 0 ? us / bareAtOne : NAN, "1 waiter"});
  }
  for (std::uint32_t slots : {3u, 4u, 8u, 16u}) {
    std::printf("scale %u slots ...\n", slots);
    std::fflush(stdout);
    Run run = runFeed({.format = format,
                       .slots = slots,
                       .rateHz = 60,
                       .fill = Fill::InPlace,
                       .warmupSeconds = config.warmupSeconds,
                       .seconds = seconds},
                      {ReaderPlan{.verify = false}});
    if (!run.ok) continue;
    const std::string id = "slots" + std::to_string(slots);
    const auto frames = static_cast<double>(run.producer->frames);
    report.add({"scale", id + ".publishUs", std::to_string(slots) + " slots: in-place publish call per frame",
                run.producer->publishSeconds / frames * 1e6, "us"});
    report.add({"scale", id + ".segmentBytes", std::to_string(slots) + " slots (1080p I420): segment size",
                static_cast<double>(run.producer->segmentBytes), "bytes"});
  }
}

}  // namespace frameshm::bench
