// SPDX-License-Identifier: LGPL-2.1-or-later
#include "gst_test_support.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <span>

#include "frameshm/stamp.hpp"

namespace frameshm::test {

void initGst() {
  static const bool done = [] {
    setenv("GST_PLUGIN_PATH", FRAMESHM_PLUGIN_DIR, 1);
    setenv("GST_REGISTRY", FRAMESHM_GST_REGISTRY, 1);
    // In a sanitizer build the plugin is instrumented, and the programs that
    // load it besides this one (gst-plugin-scanner, gst-launch-1.0) are not:
    // they get the runtime preloaded (scripts/test.sh names it), without
    // leak checks of GStreamer's own one-time allocations.
    if (const char* preload = std::getenv("FRAMESHM_ASAN_PRELOAD"); preload && *preload) {
      setenv("LD_PRELOAD", preload, 1);
      const char* options = std::getenv("ASAN_OPTIONS");
      setenv("ASAN_OPTIONS", (std::string(options ? options : "") + ":detect_leaks=0").c_str(), 1);
    }
    gst_init(nullptr, nullptr);
    return true;
  }();
  (void)done;
}

std::vector<std::string> gstEnvironment() {
  initGst();  // also prepares what a sanitizer build's children need
  return {std::string("GST_PLUGIN_PATH=") + FRAMESHM_PLUGIN_DIR,
          std::string("GST_REGISTRY=") + FRAMESHM_GST_REGISTRY};
}

Pipeline Pipeline::launch(const std::string& description) {
  initGst();
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
  INFO("pipeline: " << description);
  if (error) {
    INFO("parse error: " << error->message);
    g_error_free(error);
    if (pipeline) gst_object_unref(pipeline);
    FAIL("the pipeline does not parse");
  }
  REQUIRE(pipeline != nullptr);
  return Pipeline(pipeline);
}

Pipeline::Pipeline(Pipeline&& other) noexcept : pipeline_(std::exchange(other.pipeline_, nullptr)) {}

Pipeline::~Pipeline() {
  if (!pipeline_) return;
  stop();
  gst_object_unref(pipeline_);
}

GstElement* Pipeline::element(const std::string& name) const {
  GstElement* element = gst_bin_get_by_name(GST_BIN(pipeline_), name.c_str());
  INFO("element " << name);
  REQUIRE(element != nullptr);
  gst_object_unref(element);  // the pipeline keeps it alive
  return element;
}

GstStateChangeReturn Pipeline::play() {
  return gst_element_set_state(pipeline_, GST_STATE_PLAYING);
}

void Pipeline::stop() {
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  gst_element_get_state(pipeline_, nullptr, nullptr, GST_CLOCK_TIME_NONE);
}

PipelineEnd Pipeline::waitEnd(std::chrono::milliseconds timeout) {
  PipelineEnd end;
  GstBus* bus = gst_element_get_bus(pipeline_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      end.timedOut = true;
      break;
    }
    GstMessage* message = gst_bus_timed_pop_filtered(
        bus, static_cast<GstClockTime>(std::chrono::duration_cast<std::chrono::nanoseconds>(left).count()),
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    if (!message) continue;
    if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_EOS) {
      end.eos = true;
    } else {
      GError* error = nullptr;
      gchar* debug = nullptr;
      gst_message_parse_error(message, &error, &debug);
      end.error = true;
      end.errorSource = GST_OBJECT_NAME(GST_MESSAGE_SRC(message));
      end.errorMessage = error ? error->message : "";
      end.errorDebug = debug ? debug : "";
      end.errorDomain = error ? error->domain : 0;
      end.errorCode = error ? error->code : 0;
      if (error) g_error_free(error);
      g_free(debug);
    }
    gst_message_unref(message);
    break;
  }
  gst_object_unref(bus);
  return end;
}

std::uint64_t pixelChecksum(const GstVideoFrame& frame) {
  std::uint64_t sum = 0;
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(&frame); ++p) {
    // The bytes of a row that hold pixels: up to the last byte of the last
    // pixel of any component in this plane; the rest is padding.
    int rowBytes = 0;
    int rows = 0;
    for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS(&frame); ++c) {
      if (GST_VIDEO_FRAME_COMP_PLANE(&frame, c) != p) continue;
      const int end = (GST_VIDEO_FRAME_COMP_WIDTH(&frame, c) - 1) * GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, c) +
                      GST_VIDEO_FRAME_COMP_POFFSET(&frame, c) + 1;
      rowBytes = std::max(rowBytes, end);
      rows = std::max(rows, GST_VIDEO_FRAME_COMP_HEIGHT(&frame, c));
    }
    const auto* data = static_cast<const std::byte*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, p));
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p);
    for (int row = 0; row < rows; ++row)
      sum = sum * 1099511628211ULL + checksum(std::span<const std::byte>(data + std::ptrdiff_t{row} * stride,
                                                                         static_cast<std::size_t>(rowBytes)));
  }
  return sum;
}

FrameTap::FrameTap(GstElement* identity, std::size_t headBytes) : identity_(identity), headBytes_(headBytes) {
  g_object_set(identity_, "signal-handoffs", TRUE, nullptr);
  handler_ = g_signal_connect(identity_, "handoff", G_CALLBACK(&FrameTap::onHandoff), this);
}

FrameTap::~FrameTap() {
  g_signal_handler_disconnect(identity_, handler_);
}

void FrameTap::onHandoff(GstElement* identity, GstBuffer* buffer, gpointer data) {
  auto* self = static_cast<FrameTap*>(data);
  GstPad* pad = gst_element_get_static_pad(identity, "sink");
  GstCaps* caps = gst_pad_get_current_caps(pad);
  gst_object_unref(pad);
  TappedFrame tapped;
  tapped.pts = GST_BUFFER_PTS(buffer);
  tapped.zeroCopy = gst_buffer_n_memory(buffer) == 1 &&
                    GST_MEMORY_FLAG_IS_SET(gst_buffer_peek_memory(buffer, 0), GST_MEMORY_FLAG_READONLY);
  GstVideoInfo info;
  if (caps && gst_video_info_from_caps(&info, caps)) {
    tapped.format = gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&info));
    tapped.width = GST_VIDEO_INFO_WIDTH(&info);
    tapped.height = GST_VIDEO_INFO_HEIGHT(&info);
    GstVideoFrame frame;
    if (gst_video_frame_map(&frame, &info, buffer, GST_MAP_READ)) {
      tapped.checksum = pixelChecksum(frame);
      gst_video_frame_unmap(&frame);
    }
  }
  if (caps) gst_caps_unref(caps);
  if (self->headBytes_ > 0) {
    tapped.head.resize(std::min(self->headBytes_, gst_buffer_get_size(buffer)));
    gst_buffer_extract(buffer, 0, tapped.head.data(), tapped.head.size());
  }
  std::lock_guard lock(self->mutex_);
  self->frames_.push_back(std::move(tapped));
}

std::vector<TappedFrame> FrameTap::frames() const {
  std::lock_guard lock(mutex_);
  return frames_;
}

std::size_t FrameTap::count() const {
  std::lock_guard lock(mutex_);
  return frames_.size();
}

}  // namespace frameshm::test
