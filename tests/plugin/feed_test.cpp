// SPDX-License-Identifier: LGPL-2.1-or-later
// The plugin against the C++ API and against bad input: frames written by
// one side are read by the other, producers restart and change format under
// a running frameshmsrc, and every mistake is an element error.
#include <gst/app/gstappsrc.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "frameshm/clock.hpp"
#include "frameshm/consumer.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "gst_test_support.hpp"
#include "gstframeshmformat.h"
#include "test_support.hpp"

using frameshm::test::FeedGuard;
using frameshm::test::FrameTap;
using frameshm::test::Pipeline;
using frameshm::test::uniqueFeed;
using namespace std::chrono_literals;

namespace {

// Publishes `count` stamped frames (-1: until killed), one every `interval`,
// with PTS and duration. False if the producer failed (safe in a child process).
bool publishStamped(frameshm::Producer& producer, int count, std::chrono::milliseconds interval) {
  for (int i = 0; count < 0 || i < count; ++i) {
    auto slot = producer.acquire();
    if (!slot) return false;
    std::memset(slot->data().data(), i * 13, slot->data().size());
    frameshm::writeStamp(slot->data(), slot->frameNumber());
    const std::int64_t pts = std::int64_t{i} * interval.count() * 1'000'000;
    if (!producer.publish(std::move(*slot), {.pts = pts, .duration = interval.count() * 1'000'000}))
      return false;
    std::this_thread::sleep_for(interval);
  }
  return true;
}

// A child process body: a producer of `count` stamped frames of each format in turn
// (a new generation of the feed for each after the first), -1 count: until killed.
int stampedProducerMain(const std::string& feed, const std::vector<frameshm::FrameFormat>& formats,
                        int count) {
  auto producer = frameshm::Producer::create({.feed = feed, .format = formats.front()});
  if (!producer) return 4;
  for (std::size_t f = 0; f < formats.size(); ++f) {
    if (f > 0 && !producer->reconfigure(formats[f])) return 5;
    if (!publishStamped(*producer, count, 10ms)) return 6;
  }
  return 0;
}

frameshm::FrameFormat formatOf(frameshm::PixelFormat pixelFormat, std::uint32_t width, std::uint32_t height) {
  auto format = frameshm::makeFormat(pixelFormat, width, height, {100, 1});
  REQUIRE(format);
  return *format;
}

bool stampOk(const frameshm::test::TappedFrame& frame) {
  return frameshm::checkStamp(std::span<const std::byte>(frame.head)) == frameshm::StampCheck::Ok;
}

std::string sizeOf(const frameshm::test::TappedFrame& frame) {
  return frame.format + " " + std::to_string(frame.width) + "x" + std::to_string(frame.height);
}

void requireElementError(const frameshm::test::PipelineEnd& end, const std::string& element, GQuark domain,
                         int code, const std::string& mentions) {
  INFO("error from '" << end.errorSource << "': " << end.errorMessage << " / " << end.errorDebug);
  REQUIRE(end.error);
  CHECK(end.errorSource == element);
  CHECK(end.errorDomain == domain);
  CHECK(end.errorCode == code);
  CHECK_THAT(end.errorMessage, Catch::Contains(mentions));
}

}  // namespace

TEST_CASE("frames written by frameshmsink are read by the C++ API with their caps and PTS and capture time") {
  const std::string feed = uniqueFeed("tocpp");
  FeedGuard guard(feed);
  auto out = Pipeline::launch(
      "videotestsrc is-live=true pattern=smpte num-buffers=40 ! "
      "video/x-raw,format=NV12,width=321,height=241,framerate=30/1 ! identity name=tap ! "
      "frameshmsink name=sink feed=" +
      feed);
  FrameTap written(out.element("tap"));
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);

  auto consumer = frameshm::Consumer::open({.feed = feed, .openTimeout = 10s});
  REQUIRE(consumer);
  GstCaps* caps = gst_caps_from_string(consumer->caps().c_str());
  REQUIRE(caps);
  GstVideoInfo info;
  REQUIRE(gst_video_info_from_caps(&info, caps));
  CHECK(GST_VIDEO_INFO_FORMAT(&info) == GST_VIDEO_FORMAT_NV12);
  CHECK(GST_VIDEO_INFO_WIDTH(&info) == 321);
  CHECK(GST_VIDEO_INFO_FPS_N(&info) == 30);
  CHECK(consumer->format() == *frameshm::gst::formatFromInfo(info));

  std::vector<std::pair<std::uint64_t, std::uint64_t>> read;  // pts, checksum
  std::int64_t lastPts = -1;
  for (;;) {
    auto frame = consumer->waitFrame(10s);
    if (!frame) {
      REQUIRE(frame.error().code == frameshm::ErrorCode::FeedEnded);
      break;
    }
    const frameshm::FrameMeta& meta = frame->meta();
    CHECK(meta.pts > lastPts);
    lastPts = meta.pts;
    CHECK(meta.duration >= 33'333'333);  // videotestsrc rounds each frame's end time
    CHECK(meta.duration <= 33'333'334);
    CHECK((meta.flags & frameshm::kFlagKeyFrame) != 0);
    CHECK(meta.captureNs <= frame->publishNs());
    CHECK(meta.captureNs > frameshm::monotonicNs() - 10'000'000'000);
    GstBuffer* buffer =
        gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY, const_cast<std::byte*>(frame->data().data()),
                                    frame->data().size(), 0, frame->data().size(), nullptr, nullptr);
    GstVideoFrame video;
    REQUIRE(gst_video_frame_map(&video, &info, buffer, GST_MAP_READ));
    const std::uint64_t sum = frameshm::test::pixelChecksum(video);
    gst_video_frame_unmap(&video);
    gst_buffer_unref(buffer);
    if (frame->intact()) read.emplace_back(meta.pts, sum);
  }
  gst_caps_unref(caps);
  REQUIRE(out.waitEnd(20s).eos);

  std::map<std::uint64_t, std::uint64_t> sent;
  for (const auto& frame : written.frames()) sent[frame.pts] = frame.checksum;
  REQUIRE(read.size() >= 20);
  for (const auto& [pts, sum] : read) {
    INFO("pts " << pts);
    REQUIRE(sent.count(pts) == 1);
    CHECK(sent[pts] == sum);
  }
}

TEST_CASE("frames written by the C++ API are read by frameshmsrc with caps built from the format") {
  const std::string feed = uniqueFeed("fromcpp");
  FeedGuard guard(feed);
  auto format = frameshm::makeFormat(frameshm::PixelFormat::Gray8, 97, 31, {100, 1});
  REQUIRE(format);
  auto producer = frameshm::Producer::create({.feed = feed, .format = *format});
  REQUIRE(producer);

  auto in = Pipeline::launch("frameshmsrc name=src feed=" + feed + " ! identity name=tap ! fakesink");
  FrameTap read(in.element("tap"), format->frameSize);
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  std::this_thread::sleep_for(300ms);  // the source attaches before the first frame
  REQUIRE(publishStamped(*producer, 40, 10ms));
  producer->end();
  const auto end = in.waitEnd(20s);
  INFO(end.errorMessage << " / " << end.errorDebug);
  REQUIRE(end.eos);

  const auto frames = read.frames();
  REQUIRE(frames.size() >= 20);
  GstClockTime lastPts = 0;
  for (const auto& frame : frames) {
    CHECK(sizeOf(frame) == "GRAY8 97x31");
    CHECK(stampOk(frame));
    // Live: the running time at capture, increasing.
    REQUIRE(GST_CLOCK_TIME_IS_VALID(frame.pts));
    CHECK(frame.pts >= lastPts);
    lastPts = frame.pts;
  }
  GstPad* pad = gst_element_get_static_pad(in.element("src"), "src");
  GstCaps* caps = gst_pad_get_current_caps(pad);
  gst_object_unref(pad);
  REQUIRE(caps);
  gint fpsN = 0, fpsD = 0;
  CHECK(gst_structure_get_fraction(gst_caps_get_structure(caps, 0), "framerate", &fpsN, &fpsD));
  CHECK(fpsN == 100);
  gst_caps_unref(caps);
}

TEST_CASE("frameshmsrc uses the caps string the producer wrote") {
  const std::string feed = uniqueFeed("capsstr");
  FeedGuard guard(feed);
  auto format = frameshm::makeFormat(frameshm::PixelFormat::Rgba, 16, 16, {10, 1});
  REQUIRE(format);
  auto producer = frameshm::Producer::create(
      {.feed = feed,
       .format = *format,
       .caps = "video/x-raw, format=(string)RGBA, width=(int)16, height=(int)16, framerate=(fraction)10/1, "
               "pixel-aspect-ratio=(fraction)3/2"});
  REQUIRE(producer);
  auto in = Pipeline::launch("frameshmsrc name=src num-buffers=3 feed=" + feed + " ! fakesink");
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  std::thread writer([&] { (void)publishStamped(*producer, 30, 20ms); });
  const auto end = in.waitEnd(20s);
  writer.join();
  REQUIRE(end.eos);
  GstPad* pad = gst_element_get_static_pad(in.element("src"), "src");
  GstCaps* caps = gst_pad_get_current_caps(pad);
  gst_object_unref(pad);
  REQUIRE(caps);
  gint parN = 0, parD = 0;
  CHECK(gst_structure_get_fraction(gst_caps_get_structure(caps, 0), "pixel-aspect-ratio", &parN, &parD));
  CHECK(parN == 3);
  CHECK(parD == 2);
  gst_caps_unref(caps);
}

TEST_CASE("frameshmsrc follows a producer that is killed and restarted and one that changes format") {
  const std::string feed = uniqueFeed("restart");
  FeedGuard guard(feed);
  const auto gray = formatOf(frameshm::PixelFormat::Gray8, 320, 240);
  auto first = frameshm::test::Child::fork([&] { return stampedProducerMain(feed, {gray}, -1); });

  auto in =
      Pipeline::launch("frameshmsrc name=src timeout=10000 feed=" + feed + " ! identity name=tap ! fakesink");
  FrameTap read(in.element("tap"), 320 * 240 * 3);
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  for (int i = 0; i < 200 && read.count() < 10; ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(read.count() >= 10);
  first.kill(SIGKILL);
  REQUIRE(first.wait(5s) == 128 + SIGKILL);
  std::this_thread::sleep_for(500ms);  // the reader notices the death before the restart

  const std::vector<frameshm::FrameFormat> formats{formatOf(frameshm::PixelFormat::Bgr, 160, 120),
                                                   formatOf(frameshm::PixelFormat::I420, 100, 50)};
  auto second = frameshm::test::Child::fork([&] { return stampedProducerMain(feed, formats, 30); });
  REQUIRE(second.wait(30s) == 0);
  const auto end = in.waitEnd(20s);
  INFO(end.errorMessage << " / " << end.errorDebug);
  REQUIRE(end.eos);

  std::set<std::string> sizes;
  for (const auto& frame : read.frames()) {
    sizes.insert(sizeOf(frame));
    CHECK(stampOk(frame));
  }
  CHECK(sizes == std::set<std::string>{"GRAY8 320x240", "BGR 160x120", "I420 100x50"});
  guint64 generations = 0;
  g_object_get(in.element("src"), "generations", &generations, nullptr);
  CHECK(generations >= 3);
}

TEST_CASE("with on-end=wait frameshmsrc waits through a clean end for the next producer") {
  const std::string feed = uniqueFeed("onend");
  FeedGuard guard(feed);
  auto in = Pipeline::launch("frameshmsrc on-end=wait feed=" + feed + " ! identity name=tap ! fakesink");
  FrameTap read(in.element("tap"));
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  for (const std::uint32_t width : {40u, 80u}) {
    auto format = frameshm::makeFormat(frameshm::PixelFormat::Gray8, width, 8, {50, 1});
    auto producer = frameshm::Producer::create({.feed = feed, .format = *format});
    REQUIRE(producer);
    std::this_thread::sleep_for(300ms);
    REQUIRE(publishStamped(*producer, 15, 20ms));
    producer->end();
    std::this_thread::sleep_for(300ms);
  }
  // Still running: no EOS, no error.
  const auto end = in.waitEnd(500ms);
  CHECK(end.timedOut);
  std::set<std::string> sizes;
  for (const auto& frame : read.frames()) sizes.insert(sizeOf(frame));
  CHECK(sizes == std::set<std::string>{"GRAY8 40x8", "GRAY8 80x8"});
}

TEST_CASE("an invalid or missing feed name is an element error and not a crash") {
  for (const std::string element : {"frameshmsink", "frameshmsrc"}) {
    for (const std::string& feed :
         {std::string(" feed=bad/name"), std::string(" feed=\"\""), std::string()}) {
      INFO(element << feed);
      const std::string description = element == "frameshmsink"
                                          ? "videotestsrc num-buffers=1 ! frameshmsink name=e" + feed
                                          : "frameshmsrc name=e" + feed + " ! fakesink";
      auto pipeline = Pipeline::launch(description);
      CHECK(pipeline.play() == GST_STATE_CHANGE_FAILURE);
      requireElementError(pipeline.waitEnd(5s), "e", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
                          feed.empty() || feed == " feed=\"\"" ? "No feed name" : "feed");
    }
  }
}

TEST_CASE("no producer within timeout is an element error naming the feed") {
  const std::string feed = uniqueFeed("nobody");
  auto pipeline = Pipeline::launch("frameshmsrc name=e timeout=300 feed=" + feed + " ! fakesink");
  REQUIRE(pipeline.play() != GST_STATE_CHANGE_FAILURE);
  requireElementError(pipeline.waitEnd(10s), "e", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, feed);
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("caps frameshm cannot carry fail negotiation with the reason and leave nothing behind") {
  const std::string feed = uniqueFeed("badcaps");
  FeedGuard guard(feed);
  frameshm::test::initGst();
  {
    // Linked at parse time: refused there, naming the caps.
    GError* error = nullptr;
    GstElement* pipeline = gst_parse_launch(
        ("videotestsrc ! video/x-raw,format=I422_10LE ! frameshmsink feed=" + feed).c_str(), &error);
    REQUIRE(error);
    CHECK_THAT(error->message, Catch::Contains("can't handle caps") && Catch::Contains("I422_10LE"));
    g_error_free(error);
    if (pipeline) gst_object_unref(pipeline);
  }
  // Offered at run time: not-negotiated.
  auto pipeline = Pipeline::launch(
      "appsrc name=app format=time caps=video/x-raw,format=I422_10LE,width=64,height=64,"
      "framerate=30/1 ! frameshmsink feed=" +
      feed);
  REQUIRE(pipeline.play() != GST_STATE_CHANGE_FAILURE);
  GstBuffer* buffer = gst_buffer_new_allocate(nullptr, 64 * 64 * 4, nullptr);
  GST_BUFFER_PTS(buffer) = 0;
  gst_app_src_push_buffer(GST_APP_SRC(pipeline.element("app")), buffer);
  const auto end = pipeline.waitEnd(10s);
  INFO(end.errorMessage << " / " << end.errorDebug);
  REQUIRE(end.error);
  CHECK(end.errorDomain == GST_STREAM_ERROR);
  CHECK_THAT(end.errorDebug, Catch::Contains("not-negotiated"));
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("downstream refusing the feed's caps is a negotiation error from frameshmsrc") {
  const std::string feed = uniqueFeed("refuse");
  FeedGuard guard(feed);
  auto format = frameshm::makeFormat(frameshm::PixelFormat::Gray8, 32, 32, {30, 1});
  auto producer = frameshm::Producer::create({.feed = feed, .format = *format});
  REQUIRE(producer);
  auto pipeline =
      Pipeline::launch("frameshmsrc name=e feed=" + feed + " ! video/x-raw,format=RGB ! fakesink");
  REQUIRE(pipeline.play() != GST_STATE_CHANGE_FAILURE);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    while (!done) {
      (void)producer->write(std::vector<std::byte>(format->frameSize), {});
      std::this_thread::sleep_for(20ms);
    }
  });
  const auto end = pipeline.waitEnd(10s);
  done = true;
  writer.join();
  requireElementError(end, "e", GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, "caps");
}

TEST_CASE(
    "a second frameshmsink on a live feed is refused but replace=true takes it over and readers follow") {
  const std::string feed = uniqueFeed("takeover");
  FeedGuard guard(feed);
  const std::string source =
      "videotestsrc is-live=true ! video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1 ! ";
  auto first = Pipeline::launch(source + "frameshmsink name=e feed=" + feed);
  REQUIRE(first.play() != GST_STATE_CHANGE_FAILURE);
  auto in = Pipeline::launch("frameshmsrc feed=" + feed + " ! identity name=tap ! fakesink");
  FrameTap read(in.element("tap"));
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  for (int i = 0; i < 100 && read.count() < 5; ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(read.count() >= 5);

  auto second = Pipeline::launch(source + "frameshmsink name=e feed=" + feed);
  second.play();
  requireElementError(second.waitEnd(10s), "e", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY,
                      "already produced by");
  second.stop();

  auto third = Pipeline::launch(
      "videotestsrc is-live=true ! video/x-raw,format=GRAY8,width=32,height=24,framerate=30/1 ! "
      "frameshmsink name=e replace=true feed=" +
      feed);
  REQUIRE(third.play() != GST_STATE_CHANGE_FAILURE);
  // The replaced sink learns it lost the feed at its next frame.
  requireElementError(first.waitEnd(10s), "e", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY, "taken over");
  bool followed = false;
  for (int i = 0; i < 100 && !followed; ++i) {
    std::this_thread::sleep_for(50ms);
    for (const auto& frame : read.frames()) followed = followed || sizeOf(frame) == "GRAY8 32x24";
  }
  CHECK(followed);
  CHECK(in.waitEnd(100ms).timedOut);
}

TEST_CASE("the pipeline goes to NULL promptly while frameshmsrc waits for a producer") {
  const std::string feed = uniqueFeed("unlock");
  auto pipeline = Pipeline::launch("frameshmsrc timeout=-1 feed=" + feed + " ! fakesink");
  REQUIRE(pipeline.play() != GST_STATE_CHANGE_FAILURE);
  std::this_thread::sleep_for(300ms);
  const auto before = std::chrono::steady_clock::now();
  pipeline.stop();
  CHECK(std::chrono::steady_clock::now() - before < 5s);
}

TEST_CASE("frameshmsink backend=posix mode=0660 makes the segment group-readable") {
  const std::string feed = uniqueFeed("mode");
  FeedGuard guard(feed);
  auto pipeline = Pipeline::launch(
      "videotestsrc is-live=true ! video/x-raw,width=16,height=16 ! frameshmsink backend=posix mode=0660 "
      "feed=" +
      feed);
  REQUIRE(pipeline.play() != GST_STATE_CHANGE_FAILURE);
  bool exists = false;
  for (int i = 0; i < 100 && !exists; ++i) {
    std::this_thread::sleep_for(50ms);
    exists = frameshm::test::segmentExists(feed);
  }
  REQUIRE(exists);
  struct stat st {};
  REQUIRE(stat(("/dev/shm/frameshm." + feed).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);
  pipeline.stop();
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("buffers with padded strides (GstVideoMeta) are repacked into the slot layout row by row") {
  const std::string feed = uniqueFeed("stride");
  FeedGuard guard(feed);
  auto in = Pipeline::launch("frameshmsrc is-live=false feed=" + feed + " ! identity name=tap ! fakesink");
  FrameTap read(in.element("tap"), 100 * 48);
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  auto out = Pipeline::launch(
      "appsrc name=app format=time caps=video/x-raw,format=GRAY8,width=100,height=48,"
      "framerate=25/1 ! identity name=tap ! frameshmsink feed=" +
      feed);
  FrameTap written(out.element("tap"));
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  constexpr int kStride = 128;
  for (int i = 0; i < 10; ++i) {
    GstBuffer* buffer = gst_buffer_new_allocate(nullptr, kStride * 48, nullptr);
    GstMapInfo map;
    gst_buffer_map(buffer, &map, GST_MAP_WRITE);
    for (int row = 0; row < 48; ++row)
      for (int x = 0; x < kStride; ++x)
        map.data[row * kStride + x] = x < 100 ? static_cast<guint8>(row + x + i) : 0xAA;
    gst_buffer_unmap(buffer, &map);
    gsize offsets[GST_VIDEO_MAX_PLANES] = {0};
    gint strides[GST_VIDEO_MAX_PLANES] = {kStride};
    gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_FORMAT_GRAY8, 100, 48, 1,
                                   offsets, strides);
    GST_BUFFER_PTS(buffer) = i * 40 * GST_MSECOND;
    REQUIRE(gst_app_src_push_buffer(GST_APP_SRC(out.element("app")), buffer) == GST_FLOW_OK);
    std::this_thread::sleep_for(40ms);
  }
  gst_app_src_end_of_stream(GST_APP_SRC(out.element("app")));
  REQUIRE(out.waitEnd(10s).eos);
  REQUIRE(in.waitEnd(10s).eos);
  const auto frames = read.frames();
  REQUIRE(frames.size() >= 1);
  for (const auto& frame : frames) {
    // Default layout on the reading side: rows of 100 bytes, no padding byte.
    const int i = static_cast<int>(frame.pts / (40 * GST_MSECOND));
    INFO("frame " << i);
    REQUIRE(frame.head.size() == 100 * 48);
    bool rowsRight = true;
    for (int row = 0; row < 48; ++row)
      for (int x = 0; x < 100; ++x)
        rowsRight = rowsRight && frame.head[row * 100 + x] == std::byte(static_cast<guint8>(row + x + i));
    CHECK(rowsRight);
  }
}

TEST_CASE("a feed with custom strides is repacked into GStreamer's default layout by frameshmsrc") {
  const std::string feed = uniqueFeed("custom");
  FeedGuard guard(feed);
  auto format = frameshm::makeFormat(frameshm::PixelFormat::Gray8, 100, 48, {50, 1});
  REQUIRE(format);
  format->planes[0].stride = 128;
  format->frameSize = 128 * 48;
  REQUIRE(frameshm::validateFormat(*format));
  auto producer = frameshm::Producer::create({.feed = feed, .format = *format});
  REQUIRE(producer);
  auto in = Pipeline::launch("frameshmsrc feed=" + feed + " ! identity name=tap ! fakesink");
  FrameTap read(in.element("tap"), 100 * 48);
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  std::this_thread::sleep_for(300ms);
  std::vector<std::byte> frame(format->frameSize, std::byte{0xAA});
  for (int row = 0; row < 48; ++row)
    for (int x = 0; x < 100; ++x) frame[row * 128 + x] = std::byte(static_cast<guint8>(row * 3 + x));
  for (int i = 0; i < 20; ++i) {
    REQUIRE(producer->write(frame, {}));
    std::this_thread::sleep_for(20ms);
  }
  producer->end();
  REQUIRE(in.waitEnd(10s).eos);
  const auto frames = read.frames();
  REQUIRE(frames.size() >= 1);
  for (const auto& tapped : frames) {
    CHECK(sizeOf(tapped) == "GRAY8 100x48");
    REQUIRE(tapped.head.size() == 100 * 48);
    bool rowsRight = true;
    for (int row = 0; row < 48; ++row)
      for (int x = 0; x < 100; ++x)
        rowsRight = rowsRight && tapped.head[row * 100 + x] == std::byte(static_cast<guint8>(row * 3 + x));
    CHECK(rowsRight);
  }
}

TEST_CASE("a producer that dies and does not come back within timeout is an element error") {
  const std::string feed = uniqueFeed("dead");
  FeedGuard guard(feed);
  const auto gray = formatOf(frameshm::PixelFormat::Gray8, 32, 32);
  auto producer = frameshm::test::Child::fork([&] { return stampedProducerMain(feed, {gray}, -1); });
  auto in =
      Pipeline::launch("frameshmsrc name=e timeout=500 feed=" + feed + " ! identity name=tap ! fakesink");
  FrameTap read(in.element("tap"));
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  for (int i = 0; i < 200 && read.count() < 5; ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(read.count() >= 5);
  producer.kill(SIGKILL);
  REQUIRE(producer.wait(5s) == 128 + SIGKILL);
  requireElementError(in.waitEnd(15s), "e", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, "went away");
}

TEST_CASE("a buffer smaller than its caps say is an element error from frameshmsink") {
  const std::string feed = uniqueFeed("short");
  FeedGuard guard(feed);
  auto pipeline = Pipeline::launch(
      "appsrc name=app format=time caps=video/x-raw,format=RGB,width=64,height=48,framerate=25/1 ! "
      "frameshmsink name=e feed=" +
      feed);
  REQUIRE(pipeline.play() != GST_STATE_CHANGE_FAILURE);
  GstBuffer* buffer = gst_buffer_new_allocate(nullptr, 100, nullptr);
  GST_BUFFER_PTS(buffer) = 0;
  gst_app_src_push_buffer(GST_APP_SRC(pipeline.element("app")), buffer);
  requireElementError(pipeline.waitEnd(10s), "e", GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
                      "does not match the caps");
  pipeline.stop();
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("frameshmsrc reports as latency how old frames are when they arrive") {
  const std::string feed = uniqueFeed("latency");
  FeedGuard guard(feed);
  auto format = frameshm::makeFormat(frameshm::PixelFormat::Gray8, 16, 16, {50, 1});
  auto producer = frameshm::Producer::create({.feed = feed, .format = *format});
  REQUIRE(producer);
  auto in =
      Pipeline::launch("frameshmsrc name=src feed=" + feed + " ! identity name=tap ! fakesink sync=true");
  FrameTap read(in.element("tap"));
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    // Frames captured 150 ms before they are published.
    while (!done) {
      (void)producer->write(std::vector<std::byte>(format->frameSize),
                            {.captureNs = frameshm::monotonicNs() - 150'000'000});
      std::this_thread::sleep_for(20ms);
    }
  });
  for (int i = 0; i < 200 && read.count() < 10; ++i) std::this_thread::sleep_for(50ms);
  GstQuery* query = gst_query_new_latency();
  const bool answered = gst_element_query(in.element("src"), query);
  gboolean live = FALSE;
  GstClockTime min = 0, max = 0;
  gst_query_parse_latency(query, &live, &min, &max);
  gst_query_unref(query);
  done = true;
  writer.join();
  REQUIRE(read.count() >= 10);
  REQUIRE(answered);
  CHECK(live);
  CHECK(min >= 150 * GST_MSECOND);
  CHECK(min < 1 * GST_SECOND);
  CHECK(max >= min);
}

TEST_CASE(
    "with GST_DEBUG=frameshmsrc:7 gst-launch-1.0 logs when each frame was published, taken and made into a "
    "buffer") {
  const std::string feed = uniqueFeed("times");
  FeedGuard guard(feed);
  auto format = frameshm::makeFormat(frameshm::PixelFormat::Gray8, 16, 16, {50, 1});
  auto producer = frameshm::Producer::create({.feed = feed, .format = *format});
  REQUIRE(producer);
  frameshm::test::TempDir dir;
  const std::string logPath = dir.file("gst.log");
  auto env = frameshm::test::gstEnvironment();
  env.insert(env.end(), {"GST_DEBUG=frameshmsrc:7", "GST_DEBUG_NO_COLOR=1", "GST_DEBUG_FILE=" + logPath});
  auto reader = frameshm::test::Child::spawn({"gst-launch-1.0", "-q", "frameshmsrc", "feed=" + feed,
                                              "num-buffers=12", "!", "fakesink", "sync=false"},
                                             env);
  REQUIRE(frameshm::test::waitForReaders(*producer, 1, 10s));
  // The window each frame was published in, by frame number.
  std::map<std::uint64_t, std::pair<std::int64_t, std::int64_t>> written;
  while (reader.running() && written.size() < 200) {
    const std::int64_t before = frameshm::monotonicNs();
    auto number = producer->write(std::vector<std::byte>(format->frameSize));
    REQUIRE(number);
    written[*number] = {before, frameshm::monotonicNs()};
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(reader.wait(10s) == 0);
  const std::int64_t end = frameshm::monotonicNs();

  std::ifstream log(logPath);
  std::map<std::uint64_t, std::array<std::int64_t, 3>> times;
  for (std::string line; std::getline(log, line);) {
    const auto at = line.find("> frame ");
    if (line.find(" TRACE ") == std::string::npos || at == std::string::npos) continue;
    unsigned long long number = 0;
    long long published = 0, taken = 0, created = 0;
    if (std::sscanf(line.c_str() + at + 2, "frame %llu: published %lld taken %lld created %lld", &number,
                    &published, &taken, &created) == 4)
      times[number] = {published, taken, created};
  }
  // A frame's line comes when the next create begins: all of the 12 but the last.
  CHECK(times.size() == 11);
  for (const auto& [number, t] : times) {
    INFO("frame " << number << ": published " << t[0] << " taken " << t[1] << " created " << t[2]);
    REQUIRE(written.count(number) == 1);
    CHECK(t[0] >= written[number].first);
    CHECK(t[0] <= written[number].second);
    CHECK(t[1] >= t[0]);
    CHECK(t[2] >= t[1]);
    CHECK(t[2] <= end);
  }
}

namespace {

// How old frames are when published (publish - capture, ms, the median of
// `frames`), written by `pipeline` (a live source into frameshmsink) and read
// through the C++ API; and the sink's "sync" as it was chosen.
struct Publishing {
  double ageMs = -1;
  bool sync = true;
};
Publishing publishingBehind(const std::string& feed, const std::string& sinkOptions, int frames) {
  auto out = Pipeline::launch(
      "videotestsrc is-live=true ! video/x-raw,format=GRAY8,width=64,height=48,"
      "framerate=30/1 ! frameshmsink name=sink feed=" +
      feed + " " + sinkOptions);
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  auto consumer = frameshm::Consumer::open({.feed = feed, .openTimeout = 10s});
  REQUIRE(consumer);
  std::vector<double> ages;
  while (static_cast<int>(ages.size()) < frames) {
    auto frame = consumer->waitFrame(5s);
    REQUIRE(frame);
    ages.push_back(static_cast<double>(frame->publishNs() - frame->meta().captureNs) / 1e6);
  }
  gboolean sync = TRUE;
  g_object_get(out.element("sink"), "sync", &sync, nullptr);
  std::sort(ages.begin(), ages.end());
  return {ages[ages.size() / 2], static_cast<bool>(sync)};
}

// Seconds from PLAYING to EOS of 30 frames at 30 fps from a source that is not live.
double secondsForThirtyFrames(const std::string& feed, const std::string& sinkOptions) {
  auto out = Pipeline::launch(
      "videotestsrc num-buffers=30 ! video/x-raw,format=GRAY8,width=64,height=48,"
      "framerate=30/1 ! frameshmsink feed=" +
      feed + " " + sinkOptions);
  const std::int64_t start = frameshm::monotonicNs();
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  REQUIRE(out.waitEnd(20s).eos);
  return static_cast<double>(frameshm::monotonicNs() - start) / 1e9;
}

}  // namespace

TEST_CASE("behind a live source frameshmsink publishes each frame as it arrives unless sync=true is set") {
  {
    const std::string feed = uniqueFeed("livesync");
    FeedGuard guard(feed);
    const Publishing chosen = publishingBehind(feed, "", 15);
    INFO("frames published " << chosen.ageMs << " ms after capture");
    CHECK_FALSE(chosen.sync);
    // Waiting for the clock would make them a frame (33 ms) old.
    CHECK(chosen.ageMs < 10);
  }
  {
    const std::string feed = uniqueFeed("livesync");
    FeedGuard guard(feed);
    const Publishing set = publishingBehind(feed, "sync=true", 15);
    INFO("frames published " << set.ageMs << " ms after capture");
    CHECK(set.sync);
    CHECK(set.ageMs > 25);
  }
}

TEST_CASE(
    "behind a source that is not live frameshmsink publishes at the frames' rate unless sync=false is set") {
  const std::string feed = uniqueFeed("filesync");
  FeedGuard guard(feed);
  // 30 frames of a 30 fps stream: a second when paced, next to nothing
  // unpaced (both runs also pay the pipeline's start, however slow).
  const double paced = secondsForThirtyFrames(feed, "");
  const double unpaced = secondsForThirtyFrames(feed, "sync=false");
  INFO("paced " << paced << " s, unpaced " << unpaced << " s");
  CHECK(paced > 0.9);
  CHECK(unpaced < paced - 0.5);
}

TEST_CASE("with socket-dir on both elements the feed is found in that directory and only there") {
  const std::string feed = uniqueFeed("sockdir");
  FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto in = Pipeline::launch("frameshmsrc name=src is-live=false timeout=10000 socket-dir=" + dir.path() +
                             " feed=" + feed + " ! fakesink");
  auto elsewhere = Pipeline::launch("frameshmsrc name=e timeout=1000 feed=" + feed + " ! fakesink");
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  REQUIRE(elsewhere.play() != GST_STATE_CHANGE_FAILURE);
  auto out = Pipeline::launch(
      "videotestsrc is-live=true num-buffers=20 ! video/x-raw,width=32,height=16,framerate=60/1 ! "
      "frameshmsink socket-dir=" +
      dir.path() + " feed=" + feed);
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  REQUIRE(out.waitEnd(20s).eos);
  REQUIRE(in.waitEnd(20s).eos);
  guint64 read = 0;
  g_object_get(in.element("src"), "frames-read", &read, nullptr);
  CHECK(read >= 1);
  requireElementError(elsewhere.waitEnd(10s), "e", GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, feed);
  out.stop();
  CHECK_FALSE(frameshm::test::feedServed(feed, dir.path()));
}

TEST_CASE("a plain pool buffer queued before a newly lent slot reaches the sink is published, not dropped") {
  const std::string feed = uniqueFeed("queued");
  FeedGuard guard(feed);
  const std::string capsText = "video/x-raw,format=GRAY8,width=64,height=48,framerate=25/1";
  auto out = Pipeline::launch("appsrc name=app format=time caps=" + capsText +
                              " ! frameshmsink name=sink feed=" + feed);
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  GstElement* sink = out.element("sink");
  auto published = [&] {
    guint64 count = 0;
    g_object_get(sink, "frames-published", &count, nullptr);
    return count;
  };
  auto push = [&](GstBuffer* buffer, int i) {
    GST_BUFFER_PTS(buffer) = i * 40 * GST_MSECOND;
    REQUIRE(gst_app_src_push_buffer(GST_APP_SRC(out.element("app")), buffer) == GST_FLOW_OK);
  };
  // The first frame negotiates the caps and creates the feed.
  push(gst_buffer_new_allocate(nullptr, 64 * 48, nullptr), 0);
  for (int i = 0; i < 200 && published() < 1; ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(published() == 1);

  // The sink's pool, asked for as an upstream element would.
  GstCaps* caps = gst_caps_from_string(capsText.c_str());
  GstQuery* query = gst_query_new_allocation(caps, TRUE);
  GstPad* pad = gst_element_get_static_pad(sink, "sink");
  REQUIRE(gst_pad_query(pad, query));
  REQUIRE(gst_query_get_n_allocation_pools(query) > 0);
  GstBufferPool* pool = nullptr;
  gst_query_parse_nth_allocation_pool(query, 0, &pool, nullptr, nullptr, nullptr);
  REQUIRE(pool != nullptr);
  REQUIRE(gst_buffer_pool_set_active(pool, TRUE));
  GstBuffer* lent = nullptr;
  GstBuffer* plain = nullptr;
  GstBuffer* next = nullptr;
  REQUIRE(gst_buffer_pool_acquire_buffer(pool, &lent, nullptr) == GST_FLOW_OK);
  REQUIRE(gst_buffer_pool_acquire_buffer(pool, &plain, nullptr) == GST_FLOW_OK);  // the slot is out
  gst_buffer_unref(lent);  // given back unpublished: the producer may lend a slot again
  REQUIRE(gst_buffer_pool_acquire_buffer(pool, &next, nullptr) == GST_FLOW_OK);
  // The plain buffer goes first, as it would from a queue upstream.
  push(plain, 1);
  push(next, 2);
  gst_app_src_end_of_stream(GST_APP_SRC(out.element("app")));
  REQUIRE(out.waitEnd(10s).eos);
  CHECK(published() == 3);
  guint64 dropped = 99;
  g_object_get(sink, "frames-dropped", &dropped, nullptr);
  CHECK(dropped == 0);
  gst_buffer_pool_set_active(pool, FALSE);
  gst_object_unref(pool);
  gst_object_unref(pad);
  gst_query_unref(query);
  gst_caps_unref(caps);
}
