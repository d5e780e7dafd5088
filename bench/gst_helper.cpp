// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm-bench-gst: the GStreamer processes of frameshm-bench's scenarios 3 and 5.
//
// send/receive: appsrc push in one process -> appsink pull in another. The
// sender pushes timestamped I420 frames at a fixed rate into a sink pipeline
// description (shmsink or frameshmsink); the receiver pulls them from a source
// description (shmsrc or frameshmsrc) with appsink and writes one latency
// sample per line (microseconds, push -> pull) to a file. The frame is either
// in ordinary memory (the sink copies it) or taken from the memory the sink
// offers upstream in the ALLOCATION query (written in place). The receiver
// creates the --ready file once the first frame came through, and the sender
// waits for it, so no frame queues up while the pair connects.
// With --stages, each side also writes one line per frame with the stage
// times (CLOCK_MONOTONIC ns) of frame i: the sender "i pushed atSink" (the
// buffer reaching the sink's pad, after appsrc's thread), the receiver
// "i pushed leftSource pulled published taken created" (the buffer leaving
// the source's pad, the pull in the application, and with --source-times
// frameshmsrc's own times of the frame: its publish, the reader taking it,
// create returning; 0 without); frameshm-bench joins them by i.
// local: appsrc ! queue ! appsink in one process, for reference.
// count: frames per second through `SOURCE ! fakesink`, counted by fakesink's
// handoff signal over a measured window, and the process's CPU per frame.
//
//   frameshm-bench-gst send --sink "shmsink socket-path=/tmp/s wait-for-connection=true" --size 1920x1080
//   --frames 300 --ready /tmp/r frameshm-bench-gst receive --source "shmsrc socket-path=/tmp/s is-live=true"
//   --size 1920x1080 --frames 300 --ready /tmp/r --out lat.txt frameshm-bench-gst count --source "shmsrc
//   socket-path=/tmp/s ! video/x-raw,format=I420" --seconds 2 --out fps.txt
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_parse.hpp"
#include "frameshm/clock.hpp"
#include "harness.hpp"

namespace {

struct Options {
  std::string sink, source, out, ready, stages;
  double seconds = 2.0;        // count: measuring window
  double warmupSeconds = 0.5;  // count: left out after the first frame
  std::uint32_t width = 1920, height = 1080, fps = 60;
  int frames = 300;
  int warmup = 10;
  bool inPlace = false;
  bool sourceTimes = false;  // receive: catch frameshmsrc's per-frame TRACE times
};

std::string capsString(const Options& o) {
  return "video/x-raw,format=I420,width=" + std::to_string(o.width) + ",height=" + std::to_string(o.height) +
         ",framerate=" + std::to_string(o.fps) + "/1";
}

std::size_t frameBytes(const Options& o) {
  // I420 with GStreamer's default strides (rows padded to 4 bytes).
  auto round4 = [](std::uint32_t v) { return (v + 3) / 4 * 4; };
  const std::uint32_t cw = (o.width + 1) / 2, ch = (o.height + 1) / 2;
  return std::size_t{round4(o.width)} * o.height + 2 * std::size_t{round4(cw)} * ch;
}

GstElement* launch(const std::string& description) {
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
  if (!pipeline || error) {
    std::fprintf(stderr, "frameshm-bench-gst: cannot build '%s': %s\n", description.c_str(),
                 error ? error->message : "unknown error");
    if (error) g_error_free(error);
    return nullptr;
  }
  return pipeline;
}

// The first error on the bus, if any, without waiting.
bool busFailed(GstElement* pipeline) {
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  if (!message) return false;
  GError* error = nullptr;
  gst_message_parse_error(message, &error, nullptr);
  std::fprintf(stderr, "frameshm-bench-gst: %s\n", error ? error->message : "pipeline error");
  if (error) g_error_free(error);
  gst_message_unref(message);
  return true;
}

// Each frame carries its push time at byte 0 and its number at byte 8.
constexpr std::size_t kStampBytes = 16;

struct Stamp {
  std::int64_t pushed = 0;
  std::int64_t index = 0;
};

Stamp stampOf(GstBuffer* buffer) {
  Stamp stamp;
  if (gst_buffer_get_size(buffer) >= kStampBytes) {
    gst_buffer_extract(buffer, 0, &stamp.pushed, sizeof stamp.pushed);
    gst_buffer_extract(buffer, 8, &stamp.index, sizeof stamp.index);
  }
  return stamp;
}

// When each frame passed one pad, by frame number (a pad probe, any thread).
class PadTimes {
 public:
  void attach(GstPad* pad) { gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, onBuffer, this, nullptr); }
  [[nodiscard]] std::int64_t at(std::int64_t index) const {
    std::lock_guard lock(mutex_);
    return index >= 0 && static_cast<std::size_t>(index) < times_.size() ? times_[index] : 0;
  }

 private:
  static GstPadProbeReturn onBuffer(GstPad*, GstPadProbeInfo* info, gpointer self) {
    const std::int64_t now = frameshm::monotonicNs();
    auto* times = static_cast<PadTimes*>(self);
    const Stamp stamp = stampOf(GST_PAD_PROBE_INFO_BUFFER(info));
    if (stamp.index > 0 && stamp.index < 10'000'000) {
      std::lock_guard lock(times->mutex_);
      if (times->times_.size() <= static_cast<std::size_t>(stamp.index))
        times->times_.resize(stamp.index + 1);
      times->times_[stamp.index] = now;
    }
    return GST_PAD_PROBE_OK;
  }
  mutable std::mutex mutex_;
  std::vector<std::int64_t> times_;
};

// frameshmsrc's times of each frame (CLOCK_MONOTONIC ns), from its TRACE
// lines, caught by a log function of ours rather than printed. The source logs
// a frame's times when its next create begins, before it waits: the catching
// costs that frame nothing. Messages of other categories, warnings and worse,
// go to the default log function as before. Made before the pipeline.
class SourceTimes {
 public:
  struct Times {
    std::int64_t published = 0, taken = 0, created = 0;
  };

  SourceTimes() {
    gst_debug_remove_log_function(gst_debug_log_default);
    gst_debug_add_log_function(onLog, this, nullptr);
    gst_debug_set_threshold_for_name("frameshmsrc", GST_LEVEL_TRACE);
  }
  SourceTimes(const SourceTimes&) = delete;
  SourceTimes& operator=(const SourceTimes&) = delete;
  ~SourceTimes() {
    gst_debug_remove_log_function(onLog);
    gst_debug_add_log_function(gst_debug_log_default, nullptr, nullptr);
  }

  [[nodiscard]] Times at(std::uint64_t number) const {
    std::lock_guard lock(mutex_);
    const auto it = times_.find(number);
    return it == times_.end() ? Times{} : it->second;
  }

 private:
  static void onLog(GstDebugCategory* category, GstDebugLevel level, const gchar* file, const gchar* function,
                    gint line, GObject* object, GstDebugMessage* message, gpointer data) {
    if (std::strcmp(gst_debug_category_get_name(category), "frameshmsrc") != 0) {
      if (level <= GST_LEVEL_WARNING)
        gst_debug_log_default(category, level, file, function, line, object, message, nullptr);
      return;
    }
    if (level != GST_LEVEL_TRACE) return;
    unsigned long long number = 0;
    long long published = 0, taken = 0, created = 0;
    if (std::sscanf(gst_debug_message_get(message), "frame %llu: published %lld taken %lld created %lld",
                    &number, &published, &taken, &created) != 4)
      return;
    auto* self = static_cast<SourceTimes*>(data);
    std::lock_guard lock(self->mutex_);
    self->times_[number] = {published, taken, created};
  }

  mutable std::mutex mutex_;
  std::map<std::uint64_t, Times> times_;
};

// The pad of the element the pipeline's first (or last) element links to.
GstPad* neighbourPad(GstElement* element, const char* padName) {
  GstPad* pad = gst_element_get_static_pad(element, padName);
  GstPad* peer = pad ? gst_pad_get_peer(pad) : nullptr;
  if (pad) gst_object_unref(pad);
  return peer;
}

// The source pad of the pipeline's source element (the first of --source).
GstPad* sourcePad(GstElement* pipeline) {
  GstIterator* it = gst_bin_iterate_sources(GST_BIN(pipeline));
  GValue item = G_VALUE_INIT;
  GstPad* pad = nullptr;
  if (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    pad = gst_element_get_static_pad(GST_ELEMENT(g_value_get_object(&item)), "src");
    g_value_unset(&item);
  }
  gst_iterator_free(it);
  return pad;
}

// Memory the element downstream of appsrc offers for writing frames in place.
struct SinkMemory {
  GstBufferPool* pool = nullptr;
  GstAllocator* allocator = nullptr;
  GstAllocationParams params{};
  bool offered = false;
};

SinkMemory askSinkMemory(GstElement* appsrc, const Options& o) {
  SinkMemory memory;
  GstCaps* caps = gst_caps_from_string(capsString(o).c_str());
  GstQuery* query = gst_query_new_allocation(caps, TRUE);
  GstPad* pad = gst_element_get_static_pad(appsrc, "src");
  if (gst_pad_peer_query(pad, query)) {
    if (gst_query_get_n_allocation_pools(query) > 0) {
      guint size = 0, min = 0, max = 0;
      gst_query_parse_nth_allocation_pool(query, 0, &memory.pool, &size, &min, &max);
      if (memory.pool) {
        GstStructure* config = gst_buffer_pool_get_config(memory.pool);
        gst_buffer_pool_config_set_params(config, caps, static_cast<guint>(frameBytes(o)), min, max);
        if (!gst_buffer_pool_set_config(memory.pool, config) ||
            !gst_buffer_pool_set_active(memory.pool, TRUE)) {
          gst_object_unref(memory.pool);
          memory.pool = nullptr;
        }
      }
    }
    if (!memory.pool && gst_query_get_n_allocation_params(query) > 0)
      gst_query_parse_nth_allocation_param(query, 0, &memory.allocator, &memory.params);
    memory.offered = memory.pool || memory.allocator;
  }
  gst_object_unref(pad);
  gst_query_unref(query);
  gst_caps_unref(caps);
  return memory;
}

// Ordinary memory recycled through a pool of our own, as a real source's:
// a fresh 12 MB allocation per 4K frame would page-fault it in again each
// time and load the sender more than the transport does.
GstBufferPool* ownPool(const Options& o) {
  GstBufferPool* pool = gst_buffer_pool_new();
  GstCaps* caps = gst_caps_from_string(capsString(o).c_str());
  GstStructure* config = gst_buffer_pool_get_config(pool);
  gst_buffer_pool_config_set_params(config, caps, static_cast<guint>(frameBytes(o)), 4, 0);
  gst_caps_unref(caps);
  if (!gst_buffer_pool_set_config(pool, config) || !gst_buffer_pool_set_active(pool, TRUE)) {
    gst_object_unref(pool);
    return nullptr;  // plain allocations then
  }
  return pool;
}

GstBuffer* newFrame(SinkMemory& memory, std::size_t bytes) {
  if (memory.pool) {
    GstBuffer* buffer = nullptr;
    return gst_buffer_pool_acquire_buffer(memory.pool, &buffer, nullptr) == GST_FLOW_OK ? buffer : nullptr;
  }
  return gst_buffer_new_allocate(memory.allocator, bytes, memory.allocator ? &memory.params : nullptr);
}

// Pushes one unstamped frame, so caps are negotiated and the sink's feed or
// socket exists, then waits for the receiver's --ready file.
bool prime(GstElement* appsrc, GstElement* pipeline, const Options& o) {
  GstBuffer* buffer = gst_buffer_new_allocate(nullptr, frameBytes(o), nullptr);
  gst_buffer_memset(buffer, 0, 0, frameBytes(o));
  if (gst_app_src_push_buffer(GST_APP_SRC(appsrc), buffer) != GST_FLOW_OK) return false;
  const std::int64_t deadline = frameshm::monotonicNs() + 15'000'000'000;
  while (!std::filesystem::exists(o.ready)) {
    if (frameshm::monotonicNs() > deadline || busFailed(pipeline)) {
      std::fprintf(stderr, "frameshm-bench-gst: the receiver did not get a frame within 15 s\n");
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Pushes `frames` frames at `fps`, each stamped with the push time and its number; in
// ordinary memory of a pool of our own, or (--in-place) the sink's. Returns the exit code.
int pushFrames(GstElement* appsrc, GstElement* pipeline, const Options& o, SinkMemory& memory,
               std::vector<std::int64_t>& pushedAt) {
  const std::size_t bytes = frameBytes(o);
  pushedAt.assign(o.frames + 1, 0);
  std::set<const guint8*> written;
  const std::int64_t period = 1'000'000'000 / o.fps;
  std::int64_t next = frameshm::monotonicNs();
  for (int i = 1; i <= o.frames; ++i) {
    next += period;
    frameshm::bench::sleepUntilNs(next);
    GstBuffer* buffer = newFrame(memory, bytes);
    if (!buffer) {
      std::fprintf(stderr, "frameshm-bench-gst: no buffer from the sink's memory\n");
      return 1;
    }
    GstMapInfo map;
    if (!gst_buffer_map(buffer, &map, GST_MAP_WRITE)) return 1;
    // A real source writes every pixel; writing all of a buffer the first
    // time it comes round is enough to give it real pages. Never-written
    // memory would map the zero page, and copying from it page-faults on
    // every frame (12 MB at 4K: the sender then falls behind 60 fps).
    const bool firstUse = written.insert(map.data).second;
    std::memset(map.data + kStampBytes, i & 0xff,
                firstUse ? map.size - kStampBytes : std::min<std::size_t>(map.size - kStampBytes, 4096));
    GST_BUFFER_PTS(buffer) = static_cast<GstClockTime>(i) * static_cast<GstClockTime>(period);
    GST_BUFFER_DURATION(buffer) = static_cast<GstClockTime>(period);
    const std::int64_t index = i;
    std::memcpy(map.data + 8, &index, sizeof index);
    const std::int64_t now = frameshm::monotonicNs();
    std::memcpy(map.data, &now, sizeof now);
    pushedAt[i] = now;
    gst_buffer_unmap(buffer, &map);
    if (gst_app_src_push_buffer(GST_APP_SRC(appsrc), buffer) != GST_FLOW_OK || busFailed(pipeline)) return 1;
  }
  gst_app_src_end_of_stream(GST_APP_SRC(appsrc));
  return 0;
}

// Pulls frames until `frames` arrived, EOS or 5 s of silence; writes the latencies after warm-up.
int pullFrames(GstElement* appsink, GstElement* pipeline, const Options& o, const SourceTimes* sourceTimes) {
  PadTimes leftSource;
  if (GstPad* pad = sourcePad(pipeline)) {
    leftSource.attach(pad);
    gst_object_unref(pad);
  }
  // Per stage line: the stamp, and the source's frame number for its times.
  struct Pulled {
    Stamp stamp;
    std::int64_t pulled;
    std::uint64_t number;
  };
  std::vector<Pulled> pulled;
  std::vector<double> samples;
  for (int i = 0; i < o.frames; ++i) {
    GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(appsink), 15 * GST_SECOND);
    const std::int64_t now = frameshm::monotonicNs();
    if (!sample) break;
    if (i == 0) std::ofstream(o.ready) << "ready\n";
    GstBuffer* buffer = gst_sample_get_buffer(sample);
    if (buffer) {
      const Stamp stamp = stampOf(buffer);
      if (i >= o.warmup && stamp.pushed > 0) {
        samples.push_back(static_cast<double>(now - stamp.pushed) * 1e-3);
        pulled.push_back({stamp, now, GST_BUFFER_OFFSET(buffer)});
      }
    }
    gst_sample_unref(sample);
  }
  if (busFailed(pipeline) && samples.empty()) return 1;
  if (!o.stages.empty()) {
    // Written now: a frame's source times are logged when the next create begins.
    std::ofstream stages(o.stages);
    for (const Pulled& p : pulled) {
      const SourceTimes::Times t = sourceTimes ? sourceTimes->at(p.number) : SourceTimes::Times{};
      stages << p.stamp.index << " " << p.stamp.pushed << " " << leftSource.at(p.stamp.index) << " "
             << p.pulled << " " << t.published << " " << t.taken << " " << t.created << "\n";
    }
  }
  std::ofstream out(o.out);
  for (double s : samples) out << s << "\n";
  return out && !samples.empty() ? 0 : 1;
}

int runSend(GstElement* pipeline, GstElement* src, const Options& o) {
  if (!prime(src, pipeline, o)) return 1;
  SinkMemory memory;
  if (o.inPlace) {
    memory = askSinkMemory(src, o);
    if (!memory.offered) {
      std::fprintf(stderr, "frameshm-bench-gst: the sink offers no memory to write in place\n");
      return 3;
    }
  } else {
    memory.pool = ownPool(o);
  }
  PadTimes atSink;
  if (GstPad* pad = neighbourPad(src, "src")) {
    atSink.attach(pad);
    gst_object_unref(pad);
  }
  std::vector<std::int64_t> pushedAt;
  const int code = pushFrames(src, pipeline, o, memory, pushedAt);
  if (memory.pool) {
    gst_buffer_pool_set_active(memory.pool, FALSE);
    gst_object_unref(memory.pool);
  }
  if (memory.allocator) gst_object_unref(memory.allocator);
  // Let the last frames leave before tearing down.
  GstBus* bus = gst_element_get_bus(pipeline);
  if (GstMessage* m = gst_bus_timed_pop_filtered(
          bus, 2 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)))
    gst_message_unref(m);
  gst_object_unref(bus);
  if (!o.stages.empty()) {
    std::ofstream stages(o.stages);
    for (std::size_t i = 1; i < pushedAt.size(); ++i)
      stages << i << " " << pushedAt[i] << " " << atSink.at(static_cast<std::int64_t>(i)) << "\n";
  }
  return code;
}

// One process: push, then pull the same frame back through the queue's thread.
int runLocal(GstElement* src, GstElement* sink, const Options& o) {
  std::vector<double> samples;
  const std::int64_t period = 1'000'000'000 / o.fps;
  std::int64_t next = frameshm::monotonicNs();
  for (int i = 0; i < o.frames; ++i) {
    next += period;
    frameshm::bench::sleepUntilNs(next);
    GstBuffer* buffer = gst_buffer_new_allocate(nullptr, frameBytes(o), nullptr);
    const std::int64_t pushed = frameshm::monotonicNs();
    gst_buffer_fill(buffer, 0, &pushed, sizeof pushed);
    GST_BUFFER_PTS(buffer) = static_cast<GstClockTime>(i) * static_cast<GstClockTime>(period);
    if (gst_app_src_push_buffer(GST_APP_SRC(src), buffer) != GST_FLOW_OK) break;
    GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), GST_SECOND);
    const std::int64_t now = frameshm::monotonicNs();
    if (!sample) break;
    if (i >= o.warmup) samples.push_back(static_cast<double>(now - pushed) * 1e-3);
    gst_sample_unref(sample);
  }
  std::ofstream out(o.out);
  for (double s : samples) out << s << "\n";
  return out && !samples.empty() ? 0 : 1;
}

void countFrame(GstElement*, GstBuffer*, GstPad*, gpointer counter) {
  static_cast<std::atomic<std::uint64_t>*>(counter)->fetch_add(1, std::memory_order_relaxed);
}

// Frames per second through fakesink over `seconds`, after the first frame and a warm-up.
// The source's frames-dropped counter (frameshmsrc: frames it never saw,
// the producer having moved on); 0 for a source without one.
std::uint64_t sourceDropped(GstElement* pipeline) {
  GstPad* pad = sourcePad(pipeline);
  if (!pad) return 0;
  GstElement* source = gst_pad_get_parent_element(pad);
  gst_object_unref(pad);
  guint64 dropped = 0;
  if (source && g_object_class_find_property(G_OBJECT_GET_CLASS(source), "frames-dropped"))
    g_object_get(source, "frames-dropped", &dropped, nullptr);
  if (source) gst_object_unref(source);
  return dropped;
}

int runCount(GstElement* pipeline, GstElement* sink, const Options& o) {
  std::atomic<std::uint64_t> frames{0};
  // fakesink's streaming thread counts into `frames`: stop it before `frames` goes.
  struct StopStreaming {
    GstElement* pipeline;
    ~StopStreaming() { gst_element_set_state(pipeline, GST_STATE_NULL); }
  } stop{pipeline};
  g_signal_connect(sink, "handoff", G_CALLBACK(countFrame), &frames);
  const std::int64_t deadline = frameshm::monotonicNs() + 15'000'000'000;
  while (frames.load() == 0) {
    if (frameshm::monotonicNs() > deadline || busFailed(pipeline)) {
      std::fprintf(stderr, "frameshm-bench-gst: no frame within 15 s\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmupSeconds));
  const std::uint64_t n1 = frames.load();
  const std::int64_t t1 = frameshm::monotonicNs();
  const double cpu1 = frameshm::bench::cpuSeconds();
  const std::uint64_t dropped1 = sourceDropped(pipeline);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  const std::uint64_t n2 = frames.load();
  const std::int64_t t2 = frameshm::monotonicNs();
  const double cpu2 = frameshm::bench::cpuSeconds();
  const std::uint64_t dropped2 = sourceDropped(pipeline);
  const bool failed = busFailed(pipeline);
  std::ofstream out(o.out);
  // Frames per second, this process's CPU microseconds per frame, and the
  // frames per second the source skipped.
  const double window = static_cast<double>(t2 - t1) * 1e-9;
  out << static_cast<double>(n2 - n1) / window << "\n"
      << (n2 > n1 ? (cpu2 - cpu1) * 1e6 / static_cast<double>(n2 - n1) : 0.0) << "\n"
      << static_cast<double>(dropped2 - dropped1) / window << "\n";
  return out && !failed ? 0 : 1;
}

int run(const std::string& mode, const Options& o) {
  const std::string appsrc = "appsrc name=src is-live=true format=time caps=\"" + capsString(o) + "\" ! ";
  const std::string appsink = "appsink name=sink sync=false max-buffers=4";
  std::string description;
  if (mode == "send")
    description = appsrc + o.sink;
  else if (mode == "receive")
    description = o.source + " ! " + capsString(o) + " ! " + appsink;
  else if (mode == "count")
    description = o.source + " ! fakesink name=sink sync=false signal-handoffs=true";
  else
    description = appsrc + "queue ! " + appsink;
  std::optional<SourceTimes> sourceTimes;
  if (mode == "receive" && o.sourceTimes) sourceTimes.emplace();
  GstElement* pipeline = launch(description);
  if (!pipeline) return 1;
  GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  int code = 1;
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE) {
    if (mode == "send")
      code = runSend(pipeline, src, o);
    else if (mode == "receive")
      code = pullFrames(sink, pipeline, o, sourceTimes ? &*sourceTimes : nullptr);
    else if (mode == "count")
      code = runCount(pipeline, sink, o);
    else
      code = runLocal(src, sink, o);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  if (src) gst_object_unref(src);
  if (sink) gst_object_unref(sink);
  gst_object_unref(pipeline);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"frameshm-bench-gst: appsrc -> appsink latency across processes, for frameshm-bench"};
  Options o;
  std::string mode, size = "1920x1080";
  app.add_option("mode", mode, "send, receive, local or count")
      ->required()
      ->check(CLI::IsMember({"send", "receive", "local", "count"}));
  app.add_option("--sink", o.sink, "sink pipeline description (send)");
  app.add_option("--source", o.source, "source pipeline description (receive)");
  app.add_option("--size", size, "WIDTHxHEIGHT");
  app.add_option("--fps", o.fps, "frames per second")->check(CLI::Range(1, 1000));
  app.add_option("--frames", o.frames, "frames to push or pull")->check(CLI::Range(1, 1000000));
  app.add_option("--warmup", o.warmup, "frames left out of the samples")->check(CLI::Range(0, 100000));
  app.add_option("--out", o.out, "file for the samples (receive, local)");
  app.add_flag("--in-place", o.inPlace, "write frames into the memory the sink offers");
  app.add_option("--stages", o.stages, "file for each frame's stage times (send, receive)");
  app.add_flag("--source-times", o.sourceTimes,
               "receive: add frameshmsrc's own times of each frame (publish, take, create) to --stages");
  app.add_option("--ready", o.ready, "file the receiver creates once frames flow, and the sender waits for");
  app.add_option("--seconds", o.seconds, "count: measuring window, seconds")->check(CLI::Range(0.05, 600.0));
  app.add_option("--warmup-seconds", o.warmupSeconds, "count: time left out after the first frame")
      ->check(CLI::Range(0.0, 60.0));
  if (auto code = frameshm::cli::parse(app, argc, argv)) return *code;
  if (std::sscanf(size.c_str(), "%ux%u", &o.width, &o.height) != 2 || o.width == 0 || o.height == 0) {
    std::fprintf(stderr, "frameshm-bench-gst: --size must be WIDTHxHEIGHT, e.g. 1920x1080\n");
    return 2;
  }
  const bool missing = (mode == "send" && (o.sink.empty() || o.ready.empty())) ||
                       (mode == "receive" && (o.source.empty() || o.ready.empty() || o.out.empty())) ||
                       (mode == "count" && (o.source.empty() || o.out.empty())) ||
                       (mode == "local" && o.out.empty());
  if (missing) {
    std::fprintf(stderr, "frameshm-bench-gst: %s needs %s\n", mode.c_str(),
                 mode == "send"      ? "--sink and --ready"
                 : mode == "receive" ? "--source, --ready and --out"
                 : mode == "count"   ? "--source and --out"
                                     : "--out");
    return 2;
  }
  gst_init(nullptr, nullptr);
  return run(mode, o);
}
