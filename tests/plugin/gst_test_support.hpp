// SPDX-License-Identifier: LGPL-2.1-or-later
// gst_test_support.hpp — running real GStreamer pipelines in the plugin tests.
//
// Every test process loads the plugin from the build tree (GST_PLUGIN_PATH)
// and keeps its registry in the build tree (GST_REGISTRY), never in the
// user's. A Pipeline is built with gst_parse_launch, run, and waited for;
// a FrameTap records what passes an `identity` element (caps, PTS and a
// checksum of the pixels, padding excluded).
//
//   frameshm::test::initGst();
//   auto pipeline = frameshm::test::Pipeline::launch("frameshmsrc feed=x ! identity name=tap ! fakesink");
//   frameshm::test::FrameTap tap(pipeline.element("tap"));
//   pipeline.play();
//   auto end = pipeline.waitEnd(std::chrono::seconds(10));
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace frameshm::test {

// GST_PLUGIN_PATH and GST_REGISTRY for this build (also for child
// processes), then gst_init once.
void initGst();

// The environment entries child gst-launch-1.0 processes need ("K=V").
std::vector<std::string> gstEnvironment();

// How a pipeline run ended.
struct PipelineEnd {
  bool eos = false;
  bool error = false;
  bool timedOut = false;
  std::string errorSource;   // name of the element that posted the error
  std::string errorMessage;  // the message for the user
  std::string errorDebug;    // the developer message
  GQuark errorDomain = 0;
  int errorCode = 0;
};

class Pipeline {
 public:
  // Parses `description`; REQUIREs that it parses.
  static Pipeline launch(const std::string& description);
  Pipeline(Pipeline&& other) noexcept;
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;
  // Sets the pipeline to NULL and frees it.
  ~Pipeline();

  // The named element (a borrowed pointer); REQUIREs that it exists.
  GstElement* element(const std::string& name) const;
  // Sets PLAYING; returns the state change result.
  GstStateChangeReturn play();
  // Sets NULL, waiting for it.
  void stop();
  // Waits for EOS or an error on the bus, at most `timeout`.
  PipelineEnd waitEnd(std::chrono::milliseconds timeout);

 private:
  explicit Pipeline(GstElement* pipeline) : pipeline_(pipeline) {}
  GstElement* pipeline_ = nullptr;
};

// One buffer seen by a FrameTap.
struct TappedFrame {
  std::string format;
  int width = 0;
  int height = 0;
  std::uint64_t pts = 0;  // GST_CLOCK_TIME_NONE if none
  std::uint64_t checksum = 0;
  std::vector<std::byte> head;  // the first bytes of the buffer (stamps)
  bool zeroCopy = false;        // the buffer's memory is read-only (wrapped shared memory)
};

// Records every buffer an `identity` element hands off.
class FrameTap {
 public:
  explicit FrameTap(GstElement* identity, std::size_t headBytes = 0);
  FrameTap(const FrameTap&) = delete;
  FrameTap& operator=(const FrameTap&) = delete;
  ~FrameTap();

  [[nodiscard]] std::vector<TappedFrame> frames() const;
  [[nodiscard]] std::size_t count() const;

 private:
  static void onHandoff(GstElement* identity, GstBuffer* buffer, gpointer self);
  GstElement* identity_;
  gulong handler_ = 0;
  std::size_t headBytes_;
  mutable std::mutex mutex_;
  std::vector<TappedFrame> frames_;
};

// A checksum of a video frame's pixels, row by row, padding excluded.
std::uint64_t pixelChecksum(const GstVideoFrame& frame);

}  // namespace frameshm::test
