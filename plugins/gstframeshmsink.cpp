// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-frameshmsink
 * @title: frameshmsink
 * @see_also: frameshmsrc
 *
 * Publishes raw video into a frameshm feed: a named shared-memory segment
 * that any number of readers (frameshmsrc, frameshm-consumer, the C++ API)
 * read without copying and without ever slowing the sink down. A reader that
 * falls behind skips frames; the producer never waits for it.
 *
 * The negotiated caps are written into the feed, so a frameshmsrc needs no
 * caps of its own. A caps change mid-stream starts a new generation of the
 * feed, which readers follow; EOS ends the feed (readers see EOS) and the
 * segment is removed when the sink stops.
 *
 * Upstream elements that take the buffer pool the sink proposes (videotestsrc,
 * videoconvert, most decoders and capture sources) write each frame straight
 * into a slot, one at a time: while that slot is out, further buffers are
 * plain memory and copied. Other buffers are copied into a slot: those of an
 * element that allocates its own (appsrc, v4l2src with its own memory), and
 * all of them when no pool is offered, which is when offer-slots=false,
 * enable-last-sample=true, or GStreamer's layout for the caps is not the
 * slot layout (the debug log at level DEBUG says which, and why the first
 * copied frame was copied). Once published, the slot belongs to the feed again and is
 * rewritten in turn, so an element between the source and this sink that
 * keeps buffers after passing them on (videorate) would see them change: use
 * offer-slots=false behind such elements. For the same reason the sink keeps
 * no last sample by default, and offers no slots if enable-last-sample is set.
 *
 * Behind a live source (a camera, a live test source, appsrc is-live=true) the
 * sink publishes each frame the moment it arrives: the frame carries its
 * capture time, so readers can synchronise on it, and waiting here would only
 * make every reader's frames older by the pipeline latency (33 ms behind a
 * 30 fps live source). Behind a source that is not live (a file) it waits, as
 * sinks do, until the pipeline clock reaches each buffer's running time, which
 * plays the file at its own rate. The upstream latency query decides, once per
 * caps. Setting `sync` (sync=true or sync=false on the launch line,
 * g_object_set) overrides the choice either way: sync=true delays a live
 * source's frames too, sync=false publishes a file's as fast as they come.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! video/x-raw,format=BGRx ! frameshmsink feed=cam0
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=I420,width=1280,height=720 ! \
 *     frameshmsink feed=test slots=5 mode=0660
 * gst-launch-1.0 filesrc location=clip.mp4 ! decodebin ! videoconvert ! frameshmsink feed=clip
 * ]|
 */
#include "gstframeshmsink.h"

#include <gst/video/video.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "frameshm/clock.hpp"
#include "frameshm/feed.hpp"
#include "frameshm/feeds.hpp"
#include "frameshm/producer.hpp"
#include "gstframeshmformat.h"
#include "gstframeshmmeta.h"
#include "gstframeshmpool.h"

GST_DEBUG_CATEGORY_STATIC(gst_frameshm_sink_debug);
#define GST_CAT_DEFAULT gst_frameshm_sink_debug

namespace {

// Enough for a zero-copy frameshmsrc to hand downstream up to three frames
// at once without a copy (see frameshmsrc's "Zero copy"); 6 frames of memory.
constexpr guint DEFAULT_SLOTS = 6;
constexpr guint DEFAULT_MODE = 0600;
constexpr const char* DEFAULT_BACKEND = "memfd";
constexpr gboolean DEFAULT_REPLACE = FALSE;
constexpr gboolean DEFAULT_OFFER_SLOTS = TRUE;
constexpr guint DEFAULT_METADATA_BYTES = 4096;  // ProducerOptions' default
constexpr guint MAX_METADATA_BYTES = 1u << 20;  // the library's limit per frame

// How long a caps change waits for upstream to give back a slot it is filling.
constexpr auto kLeaseWait = std::chrono::seconds(1);

enum {
  PROP_0,
  PROP_FEED,
  PROP_SLOTS,
  PROP_MODE,
  PROP_BACKEND,
  PROP_REPLACE,
  PROP_OFFER_SLOTS,
  PROP_SOCKET_DIR,
  PROP_METADATA_BYTES,
  PROP_SYNC,  // basesink's, overridden: see "sync" in the doc block
  PROP_READERS,
  PROP_FRAMES_PUBLISHED,
  PROP_FRAMES_IN_PLACE,
  PROP_FRAMES_DROPPED,
  PROP_STATS,
};

using frameshm::gst::SlotBox;

}  // namespace

struct GstFrameshmSinkState {
  std::shared_ptr<SlotBox> box = std::make_shared<SlotBox>();
  GstVideoInfo info{};
  frameshm::FrameFormat format{};  // the feed's (slot) layout
  std::string negotiatedCaps;      // the caps string written into the feed
  bool negotiated = false;
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> inPlace{0};
  std::atomic<std::uint64_t> dropped{0};
  // Why frames are copied rather than written in place, for the first
  // copy's debug line (streaming thread only).
  std::string copyReason = "upstream sent no allocation query";
  bool copyReported = false;
};

namespace {

std::string feedOf(GstFrameshmSink* self) {
  GST_OBJECT_LOCK(self);
  std::string feed = self->feed ? self->feed : "";
  GST_OBJECT_UNLOCK(self);
  return feed;
}

// The FrameMeta of a buffer: its timestamps, flags and capture time.
frameshm::FrameMeta metaOf(GstBaseSink* sink, GstBuffer* buffer) {
  frameshm::FrameMeta meta;
  const GstClockTime pts = GST_BUFFER_PTS(buffer);
  meta.pts = GST_CLOCK_TIME_IS_VALID(pts) ? static_cast<std::int64_t>(pts) : -1;
  meta.duration =
      GST_BUFFER_DURATION_IS_VALID(buffer) ? static_cast<std::int64_t>(GST_BUFFER_DURATION(buffer)) : -1;
  meta.flags = frameshm::kFlagKeyFrame;
  if (GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DISCONT)) meta.flags |= frameshm::kFlagDiscont;
  if (GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_GAP)) meta.flags |= frameshm::kFlagGap;
  // The capture time is when the pipeline clock reached the buffer's running
  // time; a buffer ahead of the clock (an unsynchronised sink) was captured now.
  const GstClockTime running = gst_segment_to_running_time(&sink->segment, GST_FORMAT_TIME, pts);
  const std::int64_t now = frameshm::monotonicNs();
  if (GST_CLOCK_TIME_IS_VALID(running)) {
    const std::int64_t capture = frameshm::gst::monotonicFromClock(
        GST_ELEMENT(sink), running + gst_element_get_base_time(GST_ELEMENT(sink)));
    meta.captureNs = capture >= 0 && capture <= now ? capture : now;
  } else {
    meta.captureNs = now;
  }
  return meta;
}

// Posts the element error for a failed Producer::create or reconfigure.
void postProducerError(GstFrameshmSink* self, const frameshm::Error& error) {
  switch (error.code) {
    case frameshm::ErrorCode::AlreadyProduced:
      GST_ELEMENT_ERROR(self, RESOURCE, BUSY, ("%s", error.message.c_str()),
                        ("Producer::create: %s", std::string(frameshm::toString(error.code)).c_str()));
      break;
    case frameshm::ErrorCode::InvalidFeedName:
    case frameshm::ErrorCode::InvalidArgument:
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", error.message.c_str()),
                        ("Producer::create: %s", std::string(frameshm::toString(error.code)).c_str()));
      break;
    case frameshm::ErrorCode::UnsupportedFormat:
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("%s", error.message.c_str()),
                        ("Producer::create: %s", std::string(frameshm::toString(error.code)).c_str()));
      break;
    default:
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("%s", error.message.c_str()),
                        ("Producer::create: %s", std::string(frameshm::toString(error.code)).c_str()));
      break;
  }
}

}  // namespace

#define gst_frameshm_sink_parent_class parent_class
G_DEFINE_TYPE(GstFrameshmSink, gst_frameshm_sink, GST_TYPE_BASE_SINK)
GST_ELEMENT_REGISTER_DEFINE(frameshmsink, "frameshmsink", GST_RANK_NONE, GST_TYPE_FRAMESHM_SINK)

// The box in use; the object lock guards the pointer (stop() swaps it).
static std::shared_ptr<SlotBox> currentBox(GstFrameshmSink* self) {
  GST_OBJECT_LOCK(self);
  std::shared_ptr<SlotBox> box = self->state->box;
  GST_OBJECT_UNLOCK(self);
  return box;
}

// The read-only counters, as the `stats` structure; each is also a property of its own.
static GstStructure* sinkStats(GstFrameshmSink* self) {
  GstFrameshmSinkState& state = *self->state;
  guint readers = 0;
  {
    const std::shared_ptr<SlotBox> box = currentBox(self);
    std::lock_guard lock(box->mutex);
    readers = box->producer ? box->producer->readerCount() : 0;
  }
  return gst_structure_new("application/x-frameshmsink-stats", "readers", G_TYPE_UINT, readers,
                           "frames-published", G_TYPE_UINT64, guint64{state.published.load()},
                           "frames-in-place", G_TYPE_UINT64, guint64{state.inPlace.load()}, "frames-dropped",
                           G_TYPE_UINT64, guint64{state.dropped.load()}, nullptr);
}

// Properties: the settings are fields read and written under the object
// lock; the counters are read from sinkStats, which takes locks of its own.
static void gst_frameshm_sink_set_property(GObject* object, guint id, const GValue* value,
                                           GParamSpec* pspec) {
  auto* self = GST_FRAMESHM_SINK(object);
  if (id == PROP_SYNC) {
    // Set by the user: no longer chosen from the upstream latency query.
    GST_OBJECT_LOCK(self);
    self->sync_set = TRUE;
    GST_OBJECT_UNLOCK(self);
    gst_base_sink_set_sync(GST_BASE_SINK(self), g_value_get_boolean(value));  // takes the object lock
    return;
  }
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_FEED:
      g_free(self->feed);
      self->feed = g_value_dup_string(value);
      break;
    case PROP_SLOTS:
      self->slots = g_value_get_uint(value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_uint(value);
      break;
    case PROP_BACKEND:
      g_free(self->backend);
      self->backend = g_value_dup_string(value);
      break;
    case PROP_REPLACE:
      self->replace = g_value_get_boolean(value);
      break;
    case PROP_OFFER_SLOTS:
      self->offer_slots = g_value_get_boolean(value);
      break;
    case PROP_SOCKET_DIR:
      g_free(self->socket_dir);
      self->socket_dir = g_value_dup_string(value);
      break;
    case PROP_METADATA_BYTES:
      self->metadata_bytes = g_value_get_uint(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_frameshm_sink_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_FRAMESHM_SINK(object);
  if (id >= PROP_READERS) {
    frameshm::gst::getStatsProperty(sinkStats(self), id == PROP_STATS, value, pspec);
    return;
  }
  if (id == PROP_SYNC) {
    g_value_set_boolean(value, gst_base_sink_get_sync(GST_BASE_SINK(self)));  // takes the object lock
    return;
  }
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_FEED:
      g_value_set_string(value, self->feed);
      break;
    case PROP_SLOTS:
      g_value_set_uint(value, self->slots);
      break;
    case PROP_MODE:
      g_value_set_uint(value, self->mode);
      break;
    case PROP_BACKEND:
      g_value_set_string(value, self->backend);
      break;
    case PROP_REPLACE:
      g_value_set_boolean(value, self->replace);
      break;
    case PROP_OFFER_SLOTS:
      g_value_set_boolean(value, self->offer_slots);
      break;
    case PROP_SOCKET_DIR:
      g_value_set_string(value, self->socket_dir);
      break;
    case PROP_METADATA_BYTES:
      g_value_set_uint(value, self->metadata_bytes);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

// Whether the user set basesink's "sync": then it is not chosen from upstream.
static bool userSetSync(GstFrameshmSink* self) {
  GST_OBJECT_LOCK(self);
  const bool set = self->sync_set;
  GST_OBJECT_UNLOCK(self);
  return set;
}

static gboolean gst_frameshm_sink_start(GstBaseSink* sink) {
  auto* self = GST_FRAMESHM_SINK(sink);
  const std::string feed = feedOf(self);
  if (feed.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("No feed name set."),
                      ("set the 'feed' property, e.g. frameshmsink feed=cam0"));
    return FALSE;
  }
  if (auto valid = frameshm::validateFeedName(feed); !valid) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", valid.error().message.c_str()),
                      ("invalid 'feed' property '%s'", feed.c_str()));
    return FALSE;
  }
  GST_OBJECT_LOCK(self);
  const bool replace = self->replace;
  const std::string backend = self->backend ? self->backend : "";
  const std::string socketDir = self->socket_dir ? self->socket_dir : "";
  GST_OBJECT_UNLOCK(self);
  if (!frameshm::backendFromString(backend)) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("Unknown backend '%s' (use memfd, posix or sysv).", backend.c_str()),
                      ("invalid 'backend' property"));
    return FALSE;
  }
  // Fail the state change now rather than at the first caps, if we can tell.
  if (auto info = frameshm::inspectFeed(feed, socketDir);
      info && info->valid && info->producerAlive && !replace && info->state == frameshm::FeedState::Live) {
    GST_ELEMENT_ERROR(
        self, RESOURCE, BUSY,
        ("Feed '%s' is already produced by pid %u (stop it, or set replace=true to take it over).",
         feed.c_str(), info->producerPid),
        ("inspectFeed found a live producer"));
    return FALSE;
  }
  self->state->published = 0;
  self->state->inPlace = 0;
  self->state->dropped = 0;
  // Chosen afresh at the first caps of this run (chooseSync).
  if (!userSetSync(self)) gst_base_sink_set_sync(sink, TRUE);
  return TRUE;
}

// Unless the user set `sync`: no waiting for the clock behind a live
// upstream (frames are published as they arrive, with their capture time),
// waiting behind one that is not live (a file plays at its rate).
static void chooseSync(GstFrameshmSink* self) {
  if (userSetSync(self)) return;
  // Asked here rather than through gst_base_sink_query_latency, which answers
  // only once the sink has prerolled: caps come before the first buffer.
  GstQuery* query = gst_query_new_latency();
  const bool answered = gst_pad_peer_query(GST_BASE_SINK_PAD(self), query);
  gboolean upstreamLive = FALSE;
  if (answered) gst_query_parse_latency(query, &upstreamLive, nullptr, nullptr);
  gst_query_unref(query);
  if (!answered) {
    GST_DEBUG_OBJECT(self, "upstream did not answer the latency query: sync stays as it is");
    return;
  }
  gst_base_sink_set_sync(GST_BASE_SINK(self), !upstreamLive);
  GST_DEBUG_OBJECT(self, "upstream is %s: %s", upstreamLive ? "live" : "not live",
                   upstreamLive ? "each frame is published as it arrives (sync=false)"
                                : "frames are published at their running time (sync=true)");
}

static gboolean gst_frameshm_sink_stop(GstBaseSink* sink) {
  auto* self = GST_FRAMESHM_SINK(sink);
  GstFrameshmSinkState& state = *self->state;
  const std::shared_ptr<SlotBox> box = currentBox(self);
  {
    std::lock_guard lock(box->mutex);
    if (box->liveLeases != 0 && box->producer) {
      // Upstream may still be writing into the lent slot, or holding
      // buffers that wrap slots: end the feed now, keep the memory mapped
      // until they are freed.
      box->producer->end();
      box->orphaned = true;
    } else {
      box->lent = frameshm::WriteSlot{};
      box->producer.reset();
    }
  }
  GST_OBJECT_LOCK(self);
  state.box = std::make_shared<SlotBox>();
  GST_OBJECT_UNLOCK(self);
  state.negotiated = false;
  GST_DEBUG_OBJECT(self, "stopped after %" G_GUINT64_FORMAT " frames (%" G_GUINT64_FORMAT " in place)",
                   state.published.load(), state.inPlace.load());
  return TRUE;
}

static gboolean gst_frameshm_sink_set_caps(GstBaseSink* sink, GstCaps* caps) {
  auto* self = GST_FRAMESHM_SINK(sink);
  GstFrameshmSinkState& state = *self->state;
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, caps)) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
                      ("frameshmsink cannot carry these caps: they are not raw video."),
                      ("gst_video_info_from_caps failed for %" GST_PTR_FORMAT, static_cast<void*>(caps)));
    return FALSE;
  }
  auto format = frameshm::gst::formatFromInfo(info);
  if (!format) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION,
                      ("frameshmsink cannot carry these caps: %s", format.error().message.c_str()),
                      ("caps %" GST_PTR_FORMAT, static_cast<void*>(caps)));
    return FALSE;
  }
  gchar* capsText = gst_caps_to_string(caps);
  std::string capsString = capsText;
  g_free(capsText);
  if (capsString.size() >= 4096) {
    GST_WARNING_OBJECT(self, "caps string of %zu bytes is too long for the feed; readers will rebuild caps",
                       capsString.size());
    capsString.clear();
  }

  GST_OBJECT_LOCK(self);
  frameshm::ProducerOptions options{
      .feed = self->feed ? self->feed : "",
      .format = *format,
      .slots = self->slots,
      .mode = static_cast<mode_t>(self->mode),
      .replace = static_cast<bool>(self->replace),
      .caps = capsString,
      .backend =
          frameshm::backendFromString(self->backend ? self->backend : "").value_or(frameshm::Backend::Memfd),
      .socketDir = self->socket_dir ? self->socket_dir : "",
      .metadataBytes = self->metadata_bytes};
  GST_OBJECT_UNLOCK(self);

  const std::shared_ptr<SlotBox> box = currentBox(self);
  std::unique_lock lock(box->mutex);
  if (!box->producer) {
    auto producer = frameshm::Producer::create(std::move(options));
    if (!producer) {
      lock.unlock();
      postProducerError(self, producer.error());
      return FALSE;
    }
    box->producer = std::move(*producer);
    GST_INFO_OBJECT(self, "feed '%s' created: %s, %u slots", box->producer->feed().c_str(),
                    frameshm::describe(*format).c_str(), box->producer->slotCount());
  } else if (box->producer->format() != *format || capsString != state.negotiatedCaps) {
    // The old segment is unmapped with the old generation: no buffer may
    // still wrap one of its slots.
    if (!box->returned.wait_for(lock, kLeaseWait, [&] { return box->liveLeases == 0; })) {
      const std::uint32_t held = box->liveLeases;
      lock.unlock();
      GST_ELEMENT_ERROR(
          self, STREAM, FAILED,
          ("Cannot change the feed's format while upstream still holds buffers of the old one."),
          ("%u slot buffers of the old caps not freed within 1 s: an element upstream keeps "
           "buffers (set offer-slots=false)",
           held));
      return FALSE;
    }
    if (auto ok = box->producer->reconfigure(*format, capsString); !ok) {
      lock.unlock();
      postProducerError(self, ok.error());
      return FALSE;
    }
    GST_INFO_OBJECT(self, "feed '%s' generation %" G_GUINT64_FORMAT ": %s", box->producer->feed().c_str(),
                    box->producer->generation(), frameshm::describe(*format).c_str());
  }
  state.negotiatedCaps = capsString;
  state.info = info;
  state.format = *format;
  state.negotiated = true;
  state.copyReported = false;
  lock.unlock();
  chooseSync(self);
  return TRUE;
}

// Why upstream gets no slot pool for `caps`; null if it gets one.
static const char* whyNoSlotPool(GstFrameshmSink* self, GstCaps* caps) {
  GstFrameshmSinkState& state = *self->state;
  GST_OBJECT_LOCK(self);
  const bool offer = self->offer_slots;
  GST_OBJECT_UNLOCK(self);
  if (!offer) return "offer-slots=false";
  // A kept last sample would pin a slot buffer.
  if (gst_base_sink_is_last_sample_enabled(GST_BASE_SINK(self))) return "enable-last-sample=true";
  if (!caps) return "the allocation query has no caps";
  if (!state.negotiated) return "the allocation query came before the caps";
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, caps)) return "the query's caps are not raw video";
  auto format = frameshm::gst::formatFromInfo(info);
  if (!format || *format != state.format) return "the query's caps are not the negotiated ones";
  // Only buffers laid out exactly like a slot can be written in place.
  if (!frameshm::gst::sameLayout(frameshm::gst::withLayoutOf(*format, info), *format))
    return "GStreamer's layout for these caps is not the slot layout";
  return nullptr;
}

static gboolean gst_frameshm_sink_propose_allocation(GstBaseSink* sink, GstQuery* query) {
  auto* self = GST_FRAMESHM_SINK(sink);
  GstFrameshmSinkState& state = *self->state;
  // Any strides are fine: render() repacks into the slot layout.
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);

  GstCaps* caps = nullptr;
  gboolean needPool = FALSE;
  gst_query_parse_allocation(query, &caps, &needPool);
  const char* why = whyNoSlotPool(self, caps);
  GstBufferPool* pool =
      why ? nullptr : frameshm::gst::newSlotPool(currentBox(self), caps, state.format.frameSize);
  if (!why && !pool) why = "the slot pool refused its configuration";
  if (why) {
    GST_DEBUG_OBJECT(self, "no slot pool offered upstream (%s): frames are copied into slots", why);
    state.copyReason = why;
    return TRUE;
  }
  gst_query_add_allocation_pool(query, pool, static_cast<guint>(state.format.frameSize), 0, 1);
  gst_object_unref(pool);
  state.copyReason = "upstream did not take the slot pool offered";
  GST_DEBUG_OBJECT(self, "offered a slot pool of %" G_GUINT64_FORMAT "-byte frames", state.format.frameSize);
  return TRUE;
}

// Copies `buffer` into a fresh slot, repacking when its layout is not the
// slot's. False on a buffer that does not map as a frame of the caps.
static bool copyIntoSlot(GstFrameshmSink* self, GstBuffer* buffer, const frameshm::WriteSlot& slot) {
  GstFrameshmSinkState& state = *self->state;
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &state.info, buffer, GST_MAP_READ)) return false;
  const frameshm::FrameFormat& to = state.format;
  const auto* base = static_cast<const std::byte*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
  bool contiguous = gst_buffer_n_memory(buffer) == 1 && gst_buffer_get_size(buffer) >= to.frameSize;
  for (std::uint32_t p = 0; contiguous && p < to.planeCount; ++p)
    contiguous =
        static_cast<std::uint32_t>(GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p)) == to.planes[p].stride &&
        static_cast<const std::byte*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, p)) == base + to.planes[p].offset;
  if (contiguous && base == reinterpret_cast<const std::byte*>(frame.map[0].data))
    std::memcpy(slot.data().data(), base, to.frameSize);
  else
    frameshm::gst::copyFrame(frame, slot.data().data(), to);
  gst_video_frame_unmap(&frame);
  return true;
}

static GstFlowReturn gst_frameshm_sink_render(GstBaseSink* sink, GstBuffer* buffer) {
  auto* self = GST_FRAMESHM_SINK(sink);
  GstFrameshmSinkState& state = *self->state;
  const frameshm::FrameMeta meta = metaOf(sink, buffer);
  const std::shared_ptr<SlotBox> box = currentBox(self);
  std::unique_lock lock(box->mutex);
  if (!box->producer) {
    lock.unlock();
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("No caps were negotiated before the first frame."),
                      ("render called without a producer"));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  frameshm::Result<std::uint64_t> published =
      frameshm::fail(frameshm::ErrorCode::InvalidState, "not written");
  std::optional<frameshm::WriteSlot> lent = frameshm::gst::takeLentSlot(*box, buffer);
  const bool inPlace = lent.has_value();
  if (inPlace) {
    published = frameshm::gst::publishWithMetadata(*box->producer, std::move(*lent), meta, buffer);
  } else if (box->leaseId != 0) {
    // Upstream still holds the one slot a producer can lend, and handed us
    // another buffer first: there is no slot to copy this one into.
    ++state.dropped;
    GST_WARNING_OBJECT(self, "frame dropped: upstream holds the lent slot and sent another buffer first");
    return GST_FLOW_OK;
  } else {
    auto slot = box->producer->acquire();
    if (slot) {
      if (!copyIntoSlot(self, buffer, *slot)) {
        *slot = frameshm::WriteSlot{};  // abandoned under the lock, like every producer call
        lock.unlock();
        GST_ELEMENT_ERROR(self, STREAM, FAILED,
                          ("Could not read a video frame: the buffer does not match the caps."),
                          ("gst_video_frame_map failed for a buffer of %" G_GSIZE_FORMAT
                           " bytes, caps want %" G_GSIZE_FORMAT,
                           gst_buffer_get_size(buffer), GST_VIDEO_INFO_SIZE(&state.info)));
        return GST_FLOW_ERROR;
      }
      published = frameshm::gst::publishWithMetadata(*box->producer, std::move(*slot), meta, buffer);
    } else {
      published = std::unexpected(slot.error());
    }
  }
  if (!published) {
    const frameshm::Error error = published.error();
    lock.unlock();
    if (error.code == frameshm::ErrorCode::TakenOver) {
      GST_ELEMENT_ERROR(self, RESOURCE, BUSY, ("%s", error.message.c_str()),
                        ("another frameshmsink or producer with replace=true took the feed"));
    } else {
      GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("Could not publish a frame: %s", error.message.c_str()),
                        ("Producer::publish: %s", std::string(frameshm::toString(error.code)).c_str()));
    }
    return GST_FLOW_ERROR;
  }
  ++state.published;
  if (inPlace) ++state.inPlace;
  if (!inPlace && !state.copyReported) {
    state.copyReported = true;
    GST_DEBUG_OBJECT(
        self, "copying frames into slots: %s",
        state.inPlace > 0 ? "the one slot a producer lends was still upstream" : state.copyReason.c_str());
  }
  GST_LOG_OBJECT(self, "frame %" G_GUINT64_FORMAT " published (%s)", *published,
                 inPlace ? "in place" : "copied");
  return GST_FLOW_OK;
}

static gboolean gst_frameshm_sink_event(GstBaseSink* sink, GstEvent* event) {
  auto* self = GST_FRAMESHM_SINK(sink);
  if (GST_EVENT_TYPE(event) == GST_EVENT_EOS) {
    const std::shared_ptr<SlotBox> box = currentBox(self);
    std::lock_guard lock(box->mutex);
    if (box->producer) {
      box->producer->end();
      GST_INFO_OBJECT(self, "EOS: feed '%s' ended", box->producer->feed().c_str());
    }
  }
  return GST_BASE_SINK_CLASS(parent_class)->event(sink, event);
}

static void gst_frameshm_sink_finalize(GObject* object) {
  auto* self = GST_FRAMESHM_SINK(object);
  g_free(self->feed);
  g_free(self->backend);
  g_free(self->socket_dir);
  delete self->state;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_frameshm_sink_class_init(GstFrameshmSinkClass* klass) {
  GObjectClass* objectClass = G_OBJECT_CLASS(klass);
  GstElementClass* elementClass = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass* sinkClass = GST_BASE_SINK_CLASS(klass);

  objectClass->set_property = gst_frameshm_sink_set_property;
  objectClass->get_property = gst_frameshm_sink_get_property;
  objectClass->finalize = gst_frameshm_sink_finalize;

  const auto rw =
      static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      objectClass, PROP_FEED,
      g_param_spec_string("feed", "Feed", "Name of the feed to publish (1..200 of A-Z a-z 0-9 . _ -)",
                          nullptr, rw));
  g_object_class_install_property(
      objectClass, PROP_SLOTS,
      g_param_spec_uint(
          "slots", "Slots",
          "Frame slots in the segment; each zero-copy reader can hand downstream slots - 3 frames at once "
          "without a copy (memory: slots x the frame size)",
          2, 64, DEFAULT_SLOTS, rw));
  g_object_class_install_property(
      objectClass, PROP_MODE,
      g_param_spec_uint("mode", "Mode",
                        "Permissions of the segment, in octal on a command line: mode=0600 (owner only) or "
                        "mode=0660 (the group may read); must include 0600 (shown in decimal: 384 is 0600)",
                        0, 0777, DEFAULT_MODE, rw));
  g_object_class_install_property(
      objectClass, PROP_BACKEND,
      g_param_spec_string("backend", "Backend",
                          "Where the frames live: memfd (sealed, passed over the feed's socket), posix "
                          "(/dev/shm/frameshm.<feed>) or sysv (System V shared memory)",
                          DEFAULT_BACKEND, rw));
  g_object_class_install_property(
      objectClass, PROP_REPLACE,
      g_param_spec_boolean("replace", "Replace",
                           "Take the feed over even if a live producer holds it (its readers follow)",
                           DEFAULT_REPLACE, rw));
  g_object_class_install_property(
      objectClass, PROP_OFFER_SLOTS,
      g_param_spec_boolean("offer-slots", "Offer slots",
                           "Propose a buffer pool whose buffers are slots, so that upstream writes frames in "
                           "place instead of having them copied; not offered with enable-last-sample=true or "
                           "when the caps' layout is not the slot layout (GST_DEBUG=frameshmsink:5 says why)",
                           DEFAULT_OFFER_SLOTS, rw));
  g_object_class_install_property(
      objectClass, PROP_SOCKET_DIR,
      g_param_spec_string("socket-dir", "Socket directory",
                          "Directory for the feed's socket (readers must look there too); unset: "
                          "$FRAMESHM_SOCKET_DIR, else the abstract socket @frameshm/<feed>",
                          nullptr, rw));
  g_object_class_install_property(
      objectClass, PROP_METADATA_BYTES,
      g_param_spec_uint("metadata-bytes", "Metadata bytes",
                        "Bytes of metadata each frame can carry (FrameshmMeta entries and reference "
                        "timestamps of the buffer); a buffer carrying more is an error, never truncated "
                        "(memory: slots x this)",
                        0, MAX_METADATA_BYTES, DEFAULT_METADATA_BYTES, rw));
  // basesink's "sync", with a default that follows upstream (see the doc block).
  g_object_class_override_property(objectClass, PROP_SYNC, "sync");
  g_object_class_install_property(
      objectClass, PROP_READERS,
      g_param_spec_uint("readers", "Readers", "Readers attached to the feed right now", 0, G_MAXUINT, 0, ro));
  g_object_class_install_property(
      objectClass, PROP_FRAMES_PUBLISHED,
      g_param_spec_uint64("frames-published", "Frames published", "Frames published since the sink started",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      objectClass, PROP_FRAMES_IN_PLACE,
      g_param_spec_uint64("frames-in-place", "Frames in place",
                          "Frames upstream wrote straight into a slot (not copied)", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      objectClass, PROP_FRAMES_DROPPED,
      g_param_spec_uint64("frames-dropped", "Frames dropped",
                          "Frames not published because upstream held the lent slot and sent others first", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      objectClass, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "The counters above in one structure (application/x-frameshmsink-stats: readers, "
                         "frames-published, frames-in-place, frames-dropped)",
                         GST_TYPE_STRUCTURE, ro));

  GstCaps* caps = frameshm::gst::templateCaps();
  gst_element_class_add_pad_template(elementClass,
                                     gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);
  gst_element_class_set_static_metadata(elementClass, "frameshm video sink", "Sink/Video",
                                        "Publishes raw video as a frameshm shared-memory feed that any "
                                        "number of processes read without copying, "
                                        "never waiting for a slow reader",
                                        "frameshm developers");
  gst_element_class_add_static_metadata(
      elementClass, "example",
      "gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=BGRx,width=640,height=480 ! "
      "frameshmsink feed=cam0");

  sinkClass->start = gst_frameshm_sink_start;
  sinkClass->stop = gst_frameshm_sink_stop;
  sinkClass->set_caps = gst_frameshm_sink_set_caps;
  sinkClass->propose_allocation = gst_frameshm_sink_propose_allocation;
  sinkClass->render = gst_frameshm_sink_render;
  sinkClass->event = gst_frameshm_sink_event;

  GST_DEBUG_CATEGORY_INIT(gst_frameshm_sink_debug, "frameshmsink", 0, "frameshm video sink");
}

static void gst_frameshm_sink_init(GstFrameshmSink* self) {
  self->feed = nullptr;
  self->slots = DEFAULT_SLOTS;
  self->mode = DEFAULT_MODE;
  self->backend = g_strdup(DEFAULT_BACKEND);
  self->replace = DEFAULT_REPLACE;
  self->offer_slots = DEFAULT_OFFER_SLOTS;
  self->socket_dir = nullptr;
  self->metadata_bytes = DEFAULT_METADATA_BYTES;
  self->sync_set = FALSE;
  self->state = new GstFrameshmSinkState();
  // Publishing is a copy at most: the 20 ms basesink reserves for rendering
  // would only add to every reader's latency in a live pipeline.
  gst_base_sink_set_processing_deadline(GST_BASE_SINK(self), 0);
  // A kept last sample would hold a slot-wrapping buffer: its memory would
  // change as the producer reuses the slot, and block a caps change.
  gst_base_sink_set_last_sample_enabled(GST_BASE_SINK(self), FALSE);
}
