// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-frameshmsrc
 * @title: frameshmsrc
 * @see_also: frameshmsink
 *
 * Reads a frameshm feed (written by frameshmsink, frameshm-producer or the
 * C++ API) into a pipeline. The caps are read from the feed: nothing needs to
 * be repeated by hand. If the producer wrote no caps, they are built from the
 * feed's format, size and rate.
 *
 * As a live source (the default) each buffer's timestamp is the running time
 * at which the producer captured the frame (its CLOCK_MONOTONIC capture time
 * mapped onto the pipeline clock); with is-live=false it is the producer's PTS.
 * The latency it reports is one frame, raised when frames arrive older than
 * that (a producer whose own pipeline has latency), so that a synchronised
 * sink downstream does not drop them as late.
 *
 * The source follows its feed: a producer that restarts, is replaced or
 * changes caps is followed without an error (caps are renegotiated); a
 * producer that dies is waited for up to `timeout`; a feed that ends cleanly
 * gives EOS (or, with on-end=wait, the source waits for the next producer).
 * Frames the source missed and reads the producer overwrote are counted in
 * frames-dropped and frames-torn and logged at the INFO level.
 *
 * ## Zero copy
 * With zero-copy=true (the default) the reader pins each frame it takes, and
 * a buffer can wrap the frame's shared memory read-only: the pin keeps the
 * producer off the slot until the buffer is freed. The library only keeps a
 * pinned slot from the producer while the feed has at least 2 + pins slots,
 * and this reader holds one more pin while it takes the next frame. So a
 * frame is wrapped only while the wrapped buffers downstream still holds,
 * plus this one, plus the one taken next, leave that true
 * (outstanding + 1 <= slots - 3); otherwise it is copied into a buffer from a
 * pool, and the producer is never held up. Behind frameshmsink's default of 6
 * slots that is up to 3 buffers downstream at once: enough for fakesink,
 * appsink, videoconvert and a video sink, which hold one or two, so these get
 * every frame without a copy; an element that keeps more (x264enc's
 * lookahead, a filling queue) gets copies of the frames beyond that. Behind a
 * producer with 3 slots (the library's and frameshm-producer's default) every
 * frame is copied: give it 4 or more (--slots 6). Several
 * zero-copy readers of one feed share its slots: the producer then needs 2 +
 * the sum of their pins, or zero-copy=false on all but one.
 *
 * ## Waking
 * By default (spin=0) the source blocks on the feed's futex until the next
 * frame is published. With spin=N it sleeps until N us before the frame is
 * due (learned from the feed's publish interval) and spins through its
 * arrival, at most N us past it: the frame is taken without a wake-up, for
 * up to 2N us of CPU per frame. Measured through GStreamer on a 2-vCPU VM
 * (1080p60 written in place, appsrc to appsink in two processes), spin=200
 * cut the publish-to-take wake-up from 127-151 us to 20-30 us and the whole
 * trip from 323 to 211-233 us p50, and raised the reading process's CPU per
 * frame from 63-65 to 201-210 us: hence the default of 0. Spin where the
 * reader has a core to spare and the latency matters more than the CPU.
 *
 * With GST_DEBUG=frameshmsrc:7 the source logs each frame's times on
 * CLOCK_MONOTONIC: when the producer published it, when this reader took it
 * (the difference is the wake-up) and when create returned (the buffer's
 * making). A frame's line is written as the next create begins, so the
 * logging never delays a frame.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 frameshmsrc feed=cam0 ! videoconvert ! autovideosink
 * gst-launch-1.0 frameshmsrc feed=cam0 num-buffers=1 ! videoconvert ! pngenc ! filesink location=snap.png
 * gst-launch-1.0 frameshmsrc feed=cam0 on-end=wait timeout=-1 ! queue ! videoconvert ! x264enc ! fakesink
 * ]|
 */
#include "gstframeshmsrc.h"

#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "frameshm/clock.hpp"
#include "frameshm/consumer.hpp"
#include "frameshm/feed.hpp"
#include "gstframeshmformat.h"
#include "gstframeshmmeta.h"

GST_DEBUG_CATEGORY_STATIC(gst_frameshm_src_debug);
#define GST_CAT_DEFAULT gst_frameshm_src_debug

namespace {

constexpr gint DEFAULT_TIMEOUT = 10000;
constexpr gboolean DEFAULT_IS_LIVE = TRUE;
constexpr GstFrameshmSrcOnEnd DEFAULT_ON_END = GST_FRAMESHM_SRC_ON_END_EOS;
constexpr gboolean DEFAULT_ZERO_COPY = TRUE;
// Block at once: see "Waking" in the doc block for the measurements.
constexpr guint DEFAULT_SPIN = 0;
constexpr guint kMaxSpin = 100'000;

// Every wait is cut into slices this long, so that a flush (going to NULL)
// is noticed quickly.
constexpr auto kWaitSlice = std::chrono::milliseconds(50);

enum {
  PROP_0,
  PROP_FEED,
  PROP_TIMEOUT,
  PROP_IS_LIVE,
  PROP_ON_END,
  PROP_ZERO_COPY,
  PROP_SPIN,
  PROP_SOCKET_DIR,
  PROP_FRAMES_READ,
  PROP_FRAMES_DROPPED,
  PROP_FRAMES_TORN,
  PROP_FRAMES_COPIED,
  PROP_GENERATIONS,
  PROP_STATS,
};

// What a frame-wrapping GstMemory carries: the pinned Frame, unpinned when
// the memory is freed, and the count of wrapped frames still out.
struct WrappedFrame {
  frameshm::Frame frame;
  std::shared_ptr<std::atomic<std::uint32_t>> outstanding;
};

void releaseWrapped(gpointer data) {
  std::unique_ptr<WrappedFrame> wrapped(static_cast<WrappedFrame*>(data));
  wrapped->outstanding->fetch_sub(1);
}

}  // namespace

struct GstFrameshmSrcState {
  std::optional<frameshm::Consumer> consumer;
  bool pinning = false;  // the consumer was opened with pin
  // What was negotiated; `caps` is also read by get_caps, under the object lock.
  GstCaps* caps = nullptr;
  GstVideoInfo info{};
  frameshm::FrameFormat bufferLayout{};  // GStreamer's default layout for `caps`
  std::uint64_t generation = 0;          // of the frames `caps` was negotiated for
  GstBufferPool* pool = nullptr;         // buffers for copies
  bool downstreamVideoMeta = false;
  GstClockTime frameDuration = GST_CLOCK_TIME_NONE;
  // The latency reported: one frame, raised when frames arrive older than
  // that (a producer pipeline with latency of its own), so that sinks
  // downstream do not drop them as late. Read by the latency query.
  std::atomic<GstClockTime> latency{0};
  std::uint32_t slots = 0;

  std::shared_ptr<std::atomic<std::uint32_t>> outstanding = std::make_shared<std::atomic<std::uint32_t>>(0);
  std::atomic<bool> flushing{false};
  // CLOCK_MONOTONIC when the current wait for a producer began; -1: not waiting.
  std::int64_t waitingSinceNs = -1;
  bool everAttached = false;
  bool waitForever = false;  // on-end=wait after a clean end
  bool discont = true;

  // The last frame's times (CLOCK_MONOTONIC ns), logged at TRACE level when
  // the next create begins, so that logging never delays a frame: publish
  // (the producer's), taken (waitFrame returned), created (create returned).
  struct FrameTimes {
    std::uint64_t number = 0;  // 0: nothing to log
    std::int64_t publishNs = 0, takenNs = 0, createdNs = 0;
  } lastTimes;

  std::atomic<std::uint64_t> framesRead{0};
  std::atomic<std::uint64_t> framesDropped{0};
  std::atomic<std::uint64_t> framesTorn{0};
  std::atomic<std::uint64_t> framesCopied{0};
  std::atomic<std::uint64_t> generations{0};
};

GType gst_frameshm_src_on_end_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_FRAMESHM_SRC_ON_END_EOS, "Post EOS when the producer ends the feed", "eos"},
      {GST_FRAMESHM_SRC_ON_END_WAIT, "Wait for the next producer of the feed", "wait"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstFrameshmSrcOnEnd", values));
  return type;
}

#define gst_frameshm_src_parent_class parent_class
G_DEFINE_TYPE(GstFrameshmSrc, gst_frameshm_src, GST_TYPE_PUSH_SRC)
GST_ELEMENT_REGISTER_DEFINE(frameshmsrc, "frameshmsrc", GST_RANK_NONE, GST_TYPE_FRAMESHM_SRC)

namespace {

struct Settings {
  std::string feed;
  gint timeout;
  bool live;
  GstFrameshmSrcOnEnd onEnd;
  bool zeroCopy;
  std::chrono::microseconds spin;
  std::string socketDir;
};

Settings settingsOf(GstFrameshmSrc* self) {
  GST_OBJECT_LOCK(self);
  Settings settings{self->feed ? self->feed : "",
                    self->timeout,
                    static_cast<bool>(self->is_live),
                    self->on_end,
                    static_cast<bool>(self->zero_copy),
                    std::chrono::microseconds(self->spin),
                    self->socket_dir ? self->socket_dir : ""};
  GST_OBJECT_UNLOCK(self);
  return settings;
}

std::string secondsText(gint ms) {
  char text[32];
  g_snprintf(text, sizeof text, "%.1f s", ms / 1000.0);
  return text;
}

// Whether the wait for a producer has lasted longer than `timeout`; starts
// the clock on the first call of a wait.
bool waitedTooLong(GstFrameshmSrcState& state, const Settings& settings) {
  const std::int64_t now = frameshm::monotonicNs();
  if (state.waitingSinceNs < 0) state.waitingSinceNs = now;
  if (state.waitForever || settings.timeout < 0) return false;
  return now - state.waitingSinceNs > std::int64_t{settings.timeout} * 1'000'000;
}

void postNoProducer(GstFrameshmSrc* self, const GstFrameshmSrcState& state, const Settings& settings,
                    const std::string& detail) {
  if (state.everAttached)
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("The producer of feed '%s' went away and did not come back within %s.",
                       settings.feed.c_str(), secondsText(settings.timeout).c_str()),
                      ("%s (raise the 'timeout' property, or -1 to wait forever)", detail.c_str()));
  else
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                      ("No producer for feed '%s' within %s: start one, or raise the 'timeout' property.",
                       settings.feed.c_str(), secondsText(settings.timeout).c_str()),
                      ("%s", detail.c_str()));
}

void postConsumerError(GstFrameshmSrc* self, const frameshm::Error& error) {
  const std::string code(frameshm::toString(error.code));
  switch (error.code) {
    case frameshm::ErrorCode::InvalidFeedName:
    case frameshm::ErrorCode::InvalidArgument:
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", error.message.c_str()),
                        ("Consumer: %s", code.c_str()));
      break;
    case frameshm::ErrorCode::ReadersFull:
      GST_ELEMENT_ERROR(self, RESOURCE, BUSY, ("%s", error.message.c_str()), ("Consumer: %s", code.c_str()));
      break;
    default:
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("%s", error.message.c_str()),
                        ("Consumer: %s", code.c_str()));
      break;
  }
}

// Makes `caps` the negotiated caps for frames laid out as `format` and
// negotiates them downstream. False (with an element error posted) if
// downstream refuses them.
bool renegotiate(GstFrameshmSrc* self, GstCaps* caps, const frameshm::FrameFormat& format) {
  GstFrameshmSrcState& state = *self->state;
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, caps)) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("The feed's caps are not raw video."),
                      ("caps %" GST_PTR_FORMAT, static_cast<void*>(caps)));
    gst_caps_unref(caps);
    return false;
  }
  GST_OBJECT_LOCK(self);
  if (state.caps) gst_caps_unref(state.caps);
  state.caps = caps;
  GST_OBJECT_UNLOCK(self);
  state.info = info;
  state.bufferLayout = frameshm::gst::withLayoutOf(format, info);
  state.frameDuration =
      GST_VIDEO_INFO_FPS_N(&info) > 0
          ? gst_util_uint64_scale_int(GST_SECOND, GST_VIDEO_INFO_FPS_D(&info), GST_VIDEO_INFO_FPS_N(&info))
          : GST_CLOCK_TIME_NONE;
  if (!gst_base_src_negotiate(GST_BASE_SRC(self))) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("Downstream does not accept the feed's caps."),
                      ("not-negotiated: downstream refused %" GST_PTR_FORMAT
                       " (put a videoconvert/videoscale after frameshmsrc)",
                       static_cast<void*>(caps)));
    return false;
  }
  if (state.pool) {
    gst_buffer_pool_set_active(state.pool, FALSE);
    gst_object_unref(state.pool);
  }
  state.pool = gst_video_buffer_pool_new();
  GstStructure* config = gst_buffer_pool_get_config(state.pool);
  gst_buffer_pool_config_set_params(config, caps, static_cast<guint>(GST_VIDEO_INFO_SIZE(&info)), 2, 0);
  if (!gst_buffer_pool_set_config(state.pool, config) || !gst_buffer_pool_set_active(state.pool, TRUE)) {
    gst_object_unref(state.pool);
    state.pool = nullptr;  // copies then allocate plain buffers
  }
  state.latency = GST_CLOCK_TIME_IS_VALID(state.frameDuration) ? state.frameDuration : 0;
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
  return true;
}

// The buffer for `frame`: its shared memory wrapped (zero copy) when that is
// safe, a copy otherwise. Null if the copy turned out torn (the frame is
// dropped and counted).
GstBuffer* bufferFor(GstFrameshmSrc* self, frameshm::Frame& frame, bool zeroCopy) {
  GstFrameshmSrcState& state = *self->state;
  const frameshm::FrameFormat& format = frame.format();
  const bool defaultLayout = frameshm::gst::sameLayout(format, state.bufferLayout);
  const std::uint32_t outstanding = state.outstanding->load();
  // See "Zero copy" in the doc block: wrapped + this + the next frame taken
  // must stay within slots - 2 pins.
  const bool wrap = zeroCopy && state.pinning && outstanding + 1 + 3 <= state.slots &&
                    (defaultLayout || state.downstreamVideoMeta) && frame.data().size() >= format.frameSize;
  if (wrap) {
    const std::span<const std::byte> data = frame.data();
    auto* wrapped = new WrappedFrame{std::move(frame), state.outstanding};
    state.outstanding->fetch_add(1);
    GstBuffer* buffer = gst_buffer_new();
    gst_buffer_append_memory(
        buffer, gst_memory_new_wrapped(GST_MEMORY_FLAG_READONLY, const_cast<std::byte*>(data.data()),
                                       data.size(), 0, data.size(), wrapped, releaseWrapped));
    if (!defaultLayout) {
      gsize offsets[GST_VIDEO_MAX_PLANES] = {};
      gint strides[GST_VIDEO_MAX_PLANES] = {};
      for (std::uint32_t p = 0; p < format.planeCount; ++p) {
        offsets[p] = format.planes[p].offset;
        strides[p] = static_cast<gint>(format.planes[p].stride);
      }
      gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&state.info),
                                     format.width, format.height, format.planeCount, offsets, strides);
    }
    return buffer;
  }

  GstBuffer* buffer = nullptr;
  if (!state.pool || gst_buffer_pool_acquire_buffer(state.pool, &buffer, nullptr) != GST_FLOW_OK)
    buffer = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&state.info), nullptr);
  if (!buffer) return nullptr;
  if (defaultLayout) {
    // One copy of everything, padding included: the frame stays byte-identical.
    gst_buffer_fill(buffer, 0, frame.data().data(),
                    std::min<gsize>(frame.data().size(), gst_buffer_get_size(buffer)));
  } else {
    GstVideoFrame out;
    if (!gst_video_frame_map(&out, &state.info, buffer, GST_MAP_WRITE)) {
      gst_buffer_unref(buffer);
      return nullptr;
    }
    frameshm::gst::copyFrame(frame.data().data(), format, out);
    gst_video_frame_unmap(&out);
  }
  if (!frame.intact()) {
    gst_buffer_unref(buffer);
    GST_INFO_OBJECT(self, "frame %" G_GUINT64_FORMAT " was overwritten while copied: dropped",
                    frame.number());
    return nullptr;
  }
  ++state.framesCopied;
  return buffer;
}

void stampBuffer(GstFrameshmSrc* self, GstBuffer* buffer, const frameshm::FrameMeta& meta,
                 std::int64_t publishNs, std::uint64_t number, bool live) {
  GstFrameshmSrcState& state = *self->state;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  if (live) {
    const std::int64_t captured = meta.captureNs >= 0 ? meta.captureNs : publishNs;
    const GstClockTime clockTime = frameshm::gst::clockFromMonotonic(GST_ELEMENT(self), captured);
    const GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
    if (GST_CLOCK_TIME_IS_VALID(clockTime)) pts = clockTime > base ? clockTime - base : 0;
    // The first frame of a generation may have waited in the feed for us;
    // later ones show how old frames are when they arrive.
    const std::int64_t age = frameshm::monotonicNs() - captured;
    if (!state.discont && age > static_cast<std::int64_t>(state.latency.load()) &&
        age < static_cast<std::int64_t>(2 * GST_SECOND)) {
      state.latency = static_cast<GstClockTime>(age + age / 4);
      GST_INFO_OBJECT(self,
                      "frames arrive %" GST_TIME_FORMAT " after capture: latency raised to %" GST_TIME_FORMAT,
                      GST_TIME_ARGS(age), GST_TIME_ARGS(state.latency.load()));
      gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
    }
  } else if (meta.pts >= 0) {
    pts = static_cast<GstClockTime>(meta.pts);
  }
  GST_BUFFER_PTS(buffer) = pts;
  GST_BUFFER_DTS(buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION(buffer) =
      meta.duration >= 0 ? static_cast<GstClockTime>(meta.duration) : state.frameDuration;
  GST_BUFFER_OFFSET(buffer) = number;
  GST_BUFFER_OFFSET_END(buffer) = number + 1;
  if (state.discont || (meta.flags & frameshm::kFlagDiscont))
    GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_DISCONT);
  if (meta.flags & frameshm::kFlagGap) GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_GAP);
  state.discont = false;
}

void updateStats(GstFrameshmSrc* self) {
  GstFrameshmSrcState& state = *self->state;
  const frameshm::ReaderStats stats = state.consumer->stats();
  const std::uint64_t tornBefore = state.framesTorn.exchange(stats.framesTorn);
  if (stats.framesTorn > tornBefore)
    GST_INFO_OBJECT(self, "%" G_GUINT64_FORMAT " torn reads so far", stats.framesTorn);
  state.framesRead = stats.framesRead;
  state.framesDropped = stats.framesDropped;
  state.generations = stats.generations;
}

}  // namespace

// The read-only counters, as the `stats` structure; each is also a property of its own.
static GstStructure* srcStats(GstFrameshmSrc* self) {
  const GstFrameshmSrcState& state = *self->state;
  return gst_structure_new(
      "application/x-frameshmsrc-stats", "frames-read", G_TYPE_UINT64, guint64{state.framesRead.load()},
      "frames-dropped", G_TYPE_UINT64, guint64{state.framesDropped.load()}, "frames-torn", G_TYPE_UINT64,
      guint64{state.framesTorn.load()}, "frames-copied", G_TYPE_UINT64, guint64{state.framesCopied.load()},
      "generations", G_TYPE_UINT64, guint64{state.generations.load()}, nullptr);
}

// Properties: the settings are fields read and written under the object
// lock; the counters are read from srcStats (atomics, no lock).
static void gst_frameshm_src_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_FRAMESHM_SRC(object);
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_FEED:
      g_free(self->feed);
      self->feed = g_value_dup_string(value);
      break;
    case PROP_TIMEOUT:
      self->timeout = g_value_get_int(value);
      break;
    case PROP_IS_LIVE:
      self->is_live = g_value_get_boolean(value);
      break;
    case PROP_ON_END:
      self->on_end = static_cast<GstFrameshmSrcOnEnd>(g_value_get_enum(value));
      break;
    case PROP_ZERO_COPY:
      self->zero_copy = g_value_get_boolean(value);
      break;
    case PROP_SPIN:
      self->spin = g_value_get_uint(value);
      break;
    case PROP_SOCKET_DIR:
      g_free(self->socket_dir);
      self->socket_dir = g_value_dup_string(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
  // Takes the object lock itself.
  if (id == PROP_IS_LIVE) gst_base_src_set_live(GST_BASE_SRC(self), g_value_get_boolean(value));
}

static void gst_frameshm_src_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_FRAMESHM_SRC(object);
  if (id >= PROP_FRAMES_READ) {
    frameshm::gst::getStatsProperty(srcStats(self), id == PROP_STATS, value, pspec);
    return;
  }
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_FEED:
      g_value_set_string(value, self->feed);
      break;
    case PROP_TIMEOUT:
      g_value_set_int(value, self->timeout);
      break;
    case PROP_IS_LIVE:
      g_value_set_boolean(value, self->is_live);
      break;
    case PROP_ON_END:
      g_value_set_enum(value, self->on_end);
      break;
    case PROP_ZERO_COPY:
      g_value_set_boolean(value, self->zero_copy);
      break;
    case PROP_SPIN:
      g_value_set_uint(value, self->spin);
      break;
    case PROP_SOCKET_DIR:
      g_value_set_string(value, self->socket_dir);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static gboolean gst_frameshm_src_start(GstBaseSrc* src) {
  auto* self = GST_FRAMESHM_SRC(src);
  GstFrameshmSrcState& state = *self->state;
  const Settings settings = settingsOf(self);
  if (settings.feed.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("No feed name set."),
                      ("set the 'feed' property, e.g. frameshmsrc feed=cam0"));
    return FALSE;
  }
  if (auto valid = frameshm::validateFeedName(settings.feed); !valid) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", valid.error().message.c_str()),
                      ("invalid 'feed' property '%s'", settings.feed.c_str()));
    return FALSE;
  }
  state.waitingSinceNs = -1;
  state.everAttached = false;
  state.waitForever = false;
  state.discont = true;
  state.generation = 0;
  state.lastTimes = {};
  state.framesRead = state.framesDropped = state.framesTorn = state.framesCopied = state.generations = 0;
  return TRUE;
}

static gboolean gst_frameshm_src_stop(GstBaseSrc* src) {
  auto* self = GST_FRAMESHM_SRC(src);
  GstFrameshmSrcState& state = *self->state;
  if (state.consumer) {
    updateStats(self);
    GST_DEBUG_OBJECT(self,
                     "stopped: %" G_GUINT64_FORMAT " read, %" G_GUINT64_FORMAT " dropped, %" G_GUINT64_FORMAT
                     " torn, %" G_GUINT64_FORMAT " copied",
                     state.framesRead.load(), state.framesDropped.load(), state.framesTorn.load(),
                     state.framesCopied.load());
  }
  // Wrapped buffers still downstream keep their segment mapped on their own.
  state.consumer.reset();
  if (state.pool) {
    gst_buffer_pool_set_active(state.pool, FALSE);
    gst_object_unref(state.pool);
    state.pool = nullptr;
  }
  GST_OBJECT_LOCK(self);
  if (state.caps) gst_caps_unref(state.caps);
  state.caps = nullptr;
  GST_OBJECT_UNLOCK(self);
  return TRUE;
}

static GstCaps* gst_frameshm_src_get_caps(GstBaseSrc* src, GstCaps* filter) {
  auto* self = GST_FRAMESHM_SRC(src);
  GST_OBJECT_LOCK(self);
  GstCaps* caps = self->state->caps ? gst_caps_ref(self->state->caps) : nullptr;
  GST_OBJECT_UNLOCK(self);
  if (!caps) caps = gst_pad_get_pad_template_caps(GST_BASE_SRC_PAD(src));
  if (filter) {
    GstCaps* both = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(caps);
    caps = both;
  }
  return caps;
}

// Caps are only known once a frame arrived (create); until then there is
// nothing to negotiate.
static gboolean gst_frameshm_src_negotiate(GstBaseSrc* src) {
  auto* self = GST_FRAMESHM_SRC(src);
  GST_OBJECT_LOCK(self);
  GstCaps* caps = self->state->caps ? gst_caps_ref(self->state->caps) : nullptr;
  GST_OBJECT_UNLOCK(self);
  if (!caps) return TRUE;
  gboolean ok = gst_pad_peer_query_accept_caps(GST_BASE_SRC_PAD(src), caps);
  if (ok) ok = gst_base_src_set_caps(src, caps);
  gst_caps_unref(caps);
  return ok;
}

static gboolean gst_frameshm_src_decide_allocation(GstBaseSrc* src, GstQuery* query) {
  auto* self = GST_FRAMESHM_SRC(src);
  self->state->downstreamVideoMeta = gst_query_find_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
  return GST_BASE_SRC_CLASS(parent_class)->decide_allocation(src, query);
}

static gboolean gst_frameshm_src_query(GstBaseSrc* src, GstQuery* query) {
  auto* self = GST_FRAMESHM_SRC(src);
  if (GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    const bool live = gst_base_src_is_live(src);
    // Buffers carry their capture time, so they are as late as the frames
    // are old when they arrive; the feed holds up to slots - 1 frames more.
    const GstClockTime frame = self->state->frameDuration;
    const GstClockTime min = live ? self->state->latency.load() : 0;
    const GstClockTime max = live && GST_CLOCK_TIME_IS_VALID(frame)
                                 ? min + frame * std::max<std::uint32_t>(self->state->slots, 2)
                                 : GST_CLOCK_TIME_NONE;
    gst_query_set_latency(query, live, min, max);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS(parent_class)->query(src, query);
}

static gboolean gst_frameshm_src_unlock(GstBaseSrc* src) {
  GST_FRAMESHM_SRC(src)->state->flushing = true;
  return TRUE;
}

static gboolean gst_frameshm_src_unlock_stop(GstBaseSrc* src) {
  GST_FRAMESHM_SRC(src)->state->flushing = false;
  return TRUE;
}

// Opens the consumer, waiting in slices for the feed to appear. Nothing once
// attached; otherwise what create returns (flushing, or an error posted).
static std::optional<GstFlowReturn> attach(GstFrameshmSrc* self, const Settings& settings) {
  GstFrameshmSrcState& state = *self->state;
  for (;;) {
    if (state.flushing) return GST_FLOW_FLUSHING;
    auto opened = frameshm::Consumer::open({.feed = settings.feed,
                                            .openTimeout = std::chrono::milliseconds(0),
                                            .spin = settings.spin,
                                            .pin = settings.zeroCopy,
                                            .socketDir = settings.socketDir,
                                            .delivery = frameshm::gst::deliveryOf(G_OBJECT(self))});
    if (opened) {
      state.consumer = std::move(*opened);
      state.pinning = settings.zeroCopy;
      GST_INFO_OBJECT(self, "attached to feed '%s' (producer pid %u, %s)", settings.feed.c_str(),
                      state.consumer->producerPid(), frameshm::describe(state.consumer->format()).c_str());
      return std::nullopt;
    }
    const frameshm::Error& error = opened.error();
    if (error.code != frameshm::ErrorCode::NotFound && error.code != frameshm::ErrorCode::Timeout) {
      postConsumerError(self, error);
      return GST_FLOW_ERROR;
    }
    if (waitedTooLong(state, settings)) {
      postNoProducer(self, state, settings, error.message);
      return GST_FLOW_ERROR;
    }
    g_usleep(std::chrono::duration_cast<std::chrono::microseconds>(kWaitSlice).count());
  }
}

// What a failed waitFrame means: nothing to wait on for the next frame, or
// what create returns (EOS, or an error posted).
static std::optional<GstFlowReturn> handleReadError(GstFrameshmSrc* self, const Settings& settings,
                                                    const frameshm::Error& error) {
  GstFrameshmSrcState& state = *self->state;
  switch (error.code) {
    case frameshm::ErrorCode::Timeout:
    case frameshm::ErrorCode::NotFound:
      // Attached: a live producer that is just idle, wait on. Detached:
      // waiting for the producer to come back, which `timeout` bounds.
      if (state.consumer->attached() && error.code == frameshm::ErrorCode::Timeout) {
        state.waitingSinceNs = -1;
      } else if (waitedTooLong(state, settings)) {
        postNoProducer(self, state, settings, error.message);
        return GST_FLOW_ERROR;
      }
      return std::nullopt;
    case frameshm::ErrorCode::FeedEnded:
      if (settings.onEnd == GST_FRAMESHM_SRC_ON_END_EOS) {
        GST_INFO_OBJECT(self, "feed '%s' ended: EOS", settings.feed.c_str());
        updateStats(self);
        return GST_FLOW_EOS;
      }
      GST_INFO_OBJECT(self, "feed '%s' ended: waiting for its next producer", settings.feed.c_str());
      state.waitForever = true;
      state.waitingSinceNs = frameshm::monotonicNs();
      return std::nullopt;
    case frameshm::ErrorCode::ProducerGone:
      // Reported again on every try while the dead producer's segment is
      // still there: the wait (and its timeout) starts at the first report.
      if (state.waitingSinceNs < 0)
        GST_WARNING_OBJECT(self, "%s; waiting up to %s for it to come back", error.message.c_str(),
                           secondsText(settings.timeout).c_str());
      else
        GST_LOG_OBJECT(self, "%s", error.message.c_str());
      if (waitedTooLong(state, settings)) {
        postNoProducer(self, state, settings, error.message);
        return GST_FLOW_ERROR;
      }
      return std::nullopt;
    default:
      postConsumerError(self, error);
      return GST_FLOW_ERROR;
  }
}

// Follows the frame's generation: caps renegotiated if they changed. False
// (an element error posted) if downstream refuses the new caps.
static bool followGeneration(GstFrameshmSrc* self, const frameshm::Frame& frame) {
  GstFrameshmSrcState& state = *self->state;
  if (frame.generation() == state.generation && state.caps) return true;
  std::string why;
  GstCaps* caps = frameshm::gst::capsForFeed(state.consumer->caps(), frame.format(), &why);
  if (!why.empty()) GST_INFO_OBJECT(self, "caps built from the feed's format: %s", why.c_str());
  GST_OBJECT_LOCK(self);
  const bool same = state.caps && gst_caps_is_equal(state.caps, caps);
  GST_OBJECT_UNLOCK(self);
  if (same) {
    gst_caps_unref(caps);
    state.bufferLayout = frameshm::gst::withLayoutOf(frame.format(), state.info);
  } else {
    GST_INFO_OBJECT(self, "generation %" G_GUINT64_FORMAT ": %" GST_PTR_FORMAT, frame.generation(),
                    static_cast<void*>(caps));
    if (!renegotiate(self, caps, frame.format())) return false;
  }
  state.generation = frame.generation();
  state.slots = state.consumer->slotCount();
  state.discont = true;
  return true;
}

// Whether each frame's times are taken for the TRACE log (GST_DEBUG=frameshmsrc:7).
static bool tracingTimes() {
  return gst_debug_category_get_threshold(GST_CAT_DEFAULT) >= GST_LEVEL_TRACE;
}

// attach -> wait for a frame (or handle the error) -> follow its generation
// -> wrap or copy it -> stamp it and push it.
static GstFlowReturn gst_frameshm_src_create(GstPushSrc* push, GstBuffer** out) {
  auto* self = GST_FRAMESHM_SRC(push);
  GstFrameshmSrcState& state = *self->state;
  const Settings settings = settingsOf(self);
  if (const auto& t = state.lastTimes; t.number != 0) {
    GST_TRACE_OBJECT(self,
                     "frame %" G_GUINT64_FORMAT ": published %" G_GINT64_FORMAT " taken %" G_GINT64_FORMAT
                     " created %" G_GINT64_FORMAT " (CLOCK_MONOTONIC ns): wake %.1f us, create %.1f us",
                     t.number, t.publishNs, t.takenNs, t.createdNs, (t.takenNs - t.publishNs) / 1e3,
                     (t.createdNs - t.takenNs) / 1e3);
    state.lastTimes.number = 0;
  }

  for (;;) {
    if (state.flushing) return GST_FLOW_FLUSHING;
    if (!state.consumer)
      if (auto stop = attach(self, settings)) return *stop;

    auto frame = state.consumer->waitFrame(kWaitSlice);
    if (!frame) {
      if (auto stop = handleReadError(self, settings, frame.error())) return *stop;
      continue;
    }
    const std::int64_t takenNs = tracingTimes() ? frameshm::monotonicNs() : 0;
    state.waitingSinceNs = -1;
    state.waitForever = false;
    state.everAttached = true;
    if (!followGeneration(self, *frame)) return GST_FLOW_NOT_NEGOTIATED;

    // Taken before bufferFor, which may move the frame into the buffer.
    const frameshm::FrameMeta meta = frame->meta();
    const std::int64_t publishNs = frame->publishNs();
    const std::uint64_t number = frame->number();
    if (frame->droppedBefore() > 0)
      GST_INFO_OBJECT(self, "%" G_GUINT64_FORMAT " frames dropped before frame %" G_GUINT64_FORMAT,
                      frame->droppedBefore(), number);
    const auto metadata = frame->metadata();  // before bufferFor, which may take the frame
    GstBuffer* buffer = bufferFor(self, *frame, settings.zeroCopy);
    updateStats(self);
    if (!buffer) continue;  // a torn copy: dropped
    frameshm::gst::attachMetadata(GST_ELEMENT(self), buffer, metadata);
    stampBuffer(self, buffer, meta, publishNs, number, settings.live);
    if (takenNs != 0) state.lastTimes = {number, publishNs, takenNs, frameshm::monotonicNs()};
    *out = buffer;
    return GST_FLOW_OK;
  }
}

static void gst_frameshm_src_finalize(GObject* object) {
  auto* self = GST_FRAMESHM_SRC(object);
  g_free(self->feed);
  g_free(self->socket_dir);
  delete self->state;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_frameshm_src_class_init(GstFrameshmSrcClass* klass) {
  GObjectClass* objectClass = G_OBJECT_CLASS(klass);
  GstElementClass* elementClass = GST_ELEMENT_CLASS(klass);
  GstBaseSrcClass* baseClass = GST_BASE_SRC_CLASS(klass);
  GstPushSrcClass* pushClass = GST_PUSH_SRC_CLASS(klass);

  objectClass->set_property = gst_frameshm_src_set_property;
  objectClass->get_property = gst_frameshm_src_get_property;
  objectClass->finalize = gst_frameshm_src_finalize;
  frameshm::gst::installDeliveryProperty(objectClass);

  const auto rw =
      static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      objectClass, PROP_FEED,
      g_param_spec_string("feed", "Feed", "Name of the feed to read (1..200 of A-Z a-z 0-9 . _ -)", nullptr,
                          rw));
  g_object_class_install_property(
      objectClass, PROP_TIMEOUT,
      g_param_spec_int(
          "timeout", "Timeout",
          "Milliseconds to wait for a missing, dead or restarting producer before failing (-1: forever)", -1,
          G_MAXINT, DEFAULT_TIMEOUT, rw));
  g_object_class_install_property(
      objectClass, PROP_IS_LIVE,
      g_param_spec_boolean("is-live", "Is live",
                           "Act as a live source: timestamps are the running time of each frame's capture; "
                           "otherwise they are the producer's PTS",
                           DEFAULT_IS_LIVE, rw));
  g_object_class_install_property(
      objectClass, PROP_ON_END,
      g_param_spec_enum("on-end", "On end", "What to do when the producer ends the feed cleanly",
                        GST_TYPE_FRAMESHM_SRC_ON_END, DEFAULT_ON_END, rw));
  g_object_class_install_property(
      objectClass, PROP_ZERO_COPY,
      g_param_spec_boolean(
          "zero-copy", "Zero copy",
          "Pin frames and hand them downstream without a copy while the feed has slots to spare "
          "(see the element documentation); copy otherwise",
          DEFAULT_ZERO_COPY, rw));
  g_object_class_install_property(
      objectClass, PROP_SPIN,
      g_param_spec_uint(
          "spin", "Spin",
          "Microseconds to spin around each frame's expected arrival before blocking (0: block "
          "at once); spinning saves the reader's wake-up for up to twice this much CPU per frame",
          0, kMaxSpin, DEFAULT_SPIN, rw));
  g_object_class_install_property(
      objectClass, PROP_SOCKET_DIR,
      g_param_spec_string(
          "socket-dir", "Socket directory",
          "Directory of the feed's socket, as the producer's; unset: $FRAMESHM_SOCKET_DIR, else "
          "the abstract socket @frameshm/<feed>",
          nullptr, rw));
  g_object_class_install_property(
      objectClass, PROP_FRAMES_READ,
      g_param_spec_uint64("frames-read", "Frames read", "Frames taken from the feed", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      objectClass, PROP_FRAMES_DROPPED,
      g_param_spec_uint64("frames-dropped", "Frames dropped",
                          "Frames the producer published that this reader never saw (it was too slow)", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      objectClass, PROP_FRAMES_TORN,
      g_param_spec_uint64("frames-torn", "Frames torn",
                          "Reads the producer overwrote while they were read; such frames are discarded", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      objectClass, PROP_FRAMES_COPIED,
      g_param_spec_uint64("frames-copied", "Frames copied", "Frames copied into a buffer instead of wrapped",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      objectClass, PROP_GENERATIONS,
      g_param_spec_uint64(
          "generations", "Generations",
          "Generations of the feed attached to (1 + producer restarts and caps changes followed)", 0,
          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      objectClass, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "The counters above in one structure (application/x-frameshmsrc-stats: frames-read, "
                         "frames-dropped, frames-torn, frames-copied, generations)",
                         GST_TYPE_STRUCTURE, ro));

  GstCaps* caps = frameshm::gst::templateCaps();
  gst_element_class_add_pad_template(elementClass,
                                     gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);
  gst_element_class_set_static_metadata(elementClass, "frameshm video source", "Source/Video",
                                        "Reads a frameshm shared-memory feed, with the caps the producer "
                                        "wrote, following producer restarts and "
                                        "caps changes",
                                        "frameshm developers");
  gst_element_class_add_static_metadata(
      elementClass, "example", "gst-launch-1.0 frameshmsrc feed=cam0 ! videoconvert ! autovideosink");

  baseClass->start = gst_frameshm_src_start;
  baseClass->stop = gst_frameshm_src_stop;
  baseClass->get_caps = gst_frameshm_src_get_caps;
  baseClass->negotiate = gst_frameshm_src_negotiate;
  baseClass->decide_allocation = gst_frameshm_src_decide_allocation;
  baseClass->query = gst_frameshm_src_query;
  baseClass->unlock = gst_frameshm_src_unlock;
  baseClass->unlock_stop = gst_frameshm_src_unlock_stop;
  pushClass->create = gst_frameshm_src_create;

  gst_type_mark_as_plugin_api(GST_TYPE_FRAMESHM_SRC_ON_END, static_cast<GstPluginAPIFlags>(0));
  GST_DEBUG_CATEGORY_INIT(gst_frameshm_src_debug, "frameshmsrc", 0, "frameshm video source");
}

static void gst_frameshm_src_init(GstFrameshmSrc* self) {
  self->feed = nullptr;
  self->timeout = DEFAULT_TIMEOUT;
  self->is_live = DEFAULT_IS_LIVE;
  self->on_end = DEFAULT_ON_END;
  self->zero_copy = DEFAULT_ZERO_COPY;
  self->spin = DEFAULT_SPIN;
  self->socket_dir = nullptr;
  self->state = new GstFrameshmSrcState();
  gst_base_src_set_live(GST_BASE_SRC(self), DEFAULT_IS_LIVE);
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
}
