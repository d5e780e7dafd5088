// SPDX-License-Identifier: LGPL-2.1-or-later
// Per-frame metadata through the GStreamer elements: frameshmsink writes a
// buffer's FrameshmMeta and GstReferenceTimestampMeta into the frame,
// frameshmsrc attaches them to the buffers it pushes (always the metadata of
// that very frame), and a timestamp survives an encoder and a payloader.
#include <gst/app/gstappsrc.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "frameshm/consumer.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "gst_test_support.hpp"
#include "gstframeshmmeta.h"
#include "test_support.hpp"

using namespace std::chrono_literals;
using frameshm::test::FeedGuard;
using frameshm::test::Pipeline;
using frameshm::test::uniqueFeed;

namespace {

constexpr const char* kPtp = "timestamp/x-ptp";

// A buffer of `size` bytes filled with `fill`, carrying {n, camera, gain,
// blob} in a FrameshmMeta and a PTP reference timestamp of 1000 + n.
GstBuffer* bufferWithMetadata(gsize size, int n) {
  GstBuffer* buffer = gst_buffer_new_allocate(nullptr, size, nullptr);
  gst_buffer_memset(buffer, 0, static_cast<guint8>(n), size);
  GST_BUFFER_PTS(buffer) = static_cast<GstClockTime>(n) * 40 * GST_MSECOND;
  frameshm::gst::frameshmMetaInfo();
  GstStructure* s =
      gst_custom_meta_get_structure(gst_buffer_add_custom_meta(buffer, frameshm::gst::kFrameshmMetaName));
  const guint8 blob[] = {0, 1, 0xff};
  GBytes* bytes = g_bytes_new(blob, sizeof blob);
  gst_structure_set(s, "n", G_TYPE_INT64, static_cast<gint64>(n), "camera", G_TYPE_STRING, "cam-17", "gain",
                    G_TYPE_DOUBLE, 2.5, "blob", G_TYPE_BYTES, bytes, nullptr);
  g_bytes_unref(bytes);
  GstCaps* ptp = gst_caps_from_string(kPtp);
  gst_buffer_add_reference_timestamp_meta(buffer, ptp, 1000 + static_cast<GstClockTime>(n), 40 * GST_MSECOND);
  gst_caps_unref(ptp);
  return buffer;
}

// The PTP reference timestamps on a buffer.
std::vector<GstClockTime> ptpTimestamps(GstBuffer* buffer) {
  std::vector<GstClockTime> found;
  GstCaps* ptp = gst_caps_from_string(kPtp);
  gpointer state = nullptr;
  while (GstMeta* meta =
             gst_buffer_iterate_meta_filtered(buffer, &state, GST_REFERENCE_TIMESTAMP_META_API_TYPE)) {
    auto* ts = reinterpret_cast<GstReferenceTimestampMeta*>(meta);
    if (gst_caps_is_equal(ts->reference, ptp)) found.push_back(ts->timestamp);
  }
  gst_caps_unref(ptp);
  return found;
}

}  // namespace

TEST_CASE("frameshmsink writes a buffer's FrameshmMeta and reference timestamps into the frame's metadata") {
  frameshm::test::initGst();
  const std::string feed = uniqueFeed("gst-meta-sink");
  FeedGuard guard(feed);
  auto out = Pipeline::launch(
      "appsrc name=app format=time caps=video/x-raw,format=GRAY8,width=64,height=48,framerate=25/1 ! "
      "frameshmsink slots=5 feed=" +
      feed);
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  auto* app = GST_APP_SRC(out.element("app"));
  REQUIRE(gst_app_src_push_buffer(app, bufferWithMetadata(64 * 48, 1)) == GST_FLOW_OK);
  auto consumer = frameshm::Consumer::open(
      {.feed = feed, .openTimeout = 10'000ms, .delivery = frameshm::Delivery::Sequential});
  REQUIRE(consumer);
  for (int n = 2; n <= 3; ++n)
    REQUIRE(gst_app_src_push_buffer(app, bufferWithMetadata(64 * 48, n)) == GST_FLOW_OK);
  std::set<std::int64_t> seen;
  while (seen.size() < 3) {
    auto frame = consumer->waitFrame(10s);
    REQUIRE(frame);
    const std::int64_t n =
        frame->data()[0] == std::byte{0} ? -1 : static_cast<std::int64_t>(frame->data()[0]);
    auto metadata = frame->metadata();
    REQUIRE(metadata);
    INFO("frame " << frame->number());
    CHECK(metadata->find("n")->asInt() == n);
    CHECK(metadata->find("camera")->asString() == "cam-17");
    CHECK(metadata->find("gain")->asDouble() == 2.5);
    CHECK(metadata->find("blob")->value.size() == 3);
    CHECK(metadata->find(kPtp)->asTimestamp() == frameshm::MetaTimestamp{1000 + n, 40'000'000});
    seen.insert(n);
  }
  CHECK(seen == std::set<std::int64_t>{1, 2, 3});
  gst_app_src_end_of_stream(app);
  REQUIRE(out.waitEnd(10s).eos);
}

TEST_CASE(
    "frameshmsrc attaches each frame's own metadata while the producer overwrites slots as fast as it can") {
  frameshm::test::initGst();
  const bool zeroCopy = GENERATE(false, true);
  const std::string feed = uniqueFeed("gst-meta-race");
  FeedGuard guard(feed);
  auto producer = frameshm::Producer::create(
      {.feed = feed, .format = *frameshm::makeFormat(frameshm::PixelFormat::Gray8, 64, 48), .slots = 6});
  REQUIRE(producer);
  auto in =
      Pipeline::launch(std::string("frameshmsrc is-live=false zero-copy=") + (zeroCopy ? "true" : "false") +
                       " feed=" + feed + " ! identity name=tap ! fakesink sync=false");
  struct Counts {
    std::atomic<std::uint64_t> buffers{0}, mismatches{0}, missing{0};
  } counts;
  g_signal_connect(
      in.element("tap"), "handoff", G_CALLBACK(+[](GstElement*, GstBuffer* buffer, gpointer data) {
        auto* c = static_cast<Counts*>(data);
        ++c->buffers;
        GstMapInfo map;
        if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return;
        const std::span<const std::byte> pixels(reinterpret_cast<const std::byte*>(map.data), map.size);
        const bool stampOk = frameshm::checkStamp(pixels) == frameshm::StampCheck::Ok;
        const auto stamped = frameshm::stampedNumber(pixels);
        gst_buffer_unmap(buffer, &map);
        GstCustomMeta* meta = gst_buffer_get_custom_meta(buffer, frameshm::gst::kFrameshmMetaName);
        const auto ptp = ptpTimestamps(buffer);
        gint64 n = -1;
        if (!meta || ptp.size() != 1 ||
            !gst_structure_get_int64(gst_custom_meta_get_structure(meta), "n", &n)) {
          ++c->missing;
          return;
        }
        if (!stampOk || !stamped || static_cast<gint64>(*stamped) != n || ptp[0] != 7 * *stamped)
          ++c->mismatches;
      }),
      &counts);
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  REQUIRE(frameshm::test::waitForReaders(*producer, 1, 10s));
  constexpr std::uint64_t kFrames = 100'000;
  for (std::uint64_t i = 0; i < kFrames; ++i) {
    auto slot = producer->acquire();
    REQUIRE(slot);
    frameshm::writeStamp(slot->data(), slot->frameNumber());
    frameshm::Metadata m;
    REQUIRE(m.setInt("n", static_cast<std::int64_t>(slot->frameNumber())));
    REQUIRE(m.setTimestamp(kPtp, {.ns = 7 * static_cast<std::int64_t>(slot->frameNumber())}));
    REQUIRE(slot->setMetadata(m));
    REQUIRE(producer->publish(std::move(*slot)));
  }
  producer->end();
  REQUIRE(in.waitEnd(60s).eos);
  INFO("buffers " << counts.buffers.load());
  CHECK(counts.buffers.load() > 0);
  CHECK(counts.missing.load() == 0);
  CHECK(counts.mismatches.load() == 0);
}

TEST_CASE(
    "a reference timestamp survives frameshmsink, frameshmsrc delivery=sequential, x264enc and rtph264pay") {
  frameshm::test::initGst();
  const std::string feed = uniqueFeed("gst-meta-rtp");
  FeedGuard guard(feed);
  auto in =
      Pipeline::launch("frameshmsrc is-live=false delivery=sequential name=src feed=" + feed +
                       " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=1 ! rtph264pay ! "
                       "identity name=tap ! fakesink sync=false");
  GstElement* src = in.element("src");
  gint delivery = -1;
  g_object_get(src, "delivery", &delivery, nullptr);
  CHECK(delivery == static_cast<gint>(frameshm::Delivery::Sequential));
  struct Seen {
    std::mutex mutex;
    std::set<GstClockTime> ptp;
    std::uint64_t packets = 0;
  } seen;
  g_signal_connect(in.element("tap"), "handoff",
                   G_CALLBACK(+[](GstElement*, GstBuffer* buffer, gpointer data) {
                     auto* s = static_cast<Seen*>(data);
                     std::lock_guard lock(s->mutex);
                     ++s->packets;
                     for (GstClockTime t : ptpTimestamps(buffer)) s->ptp.insert(t);
                   }),
                   &seen);
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  auto out = Pipeline::launch(
      "appsrc name=app format=time caps=video/x-raw,format=I420,width=64,height=48,framerate=25/1 ! "
      "frameshmsink slots=5 feed=" +
      feed);
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  constexpr int kFrames = 10;
  for (int n = 1; n <= kFrames; ++n)
    REQUIRE(gst_app_src_push_buffer(GST_APP_SRC(out.element("app")),
                                    bufferWithMetadata(64 * 48 * 3 / 2, n)) == GST_FLOW_OK);
  gst_app_src_end_of_stream(GST_APP_SRC(out.element("app")));
  REQUIRE(out.waitEnd(10s).eos);
  REQUIRE(in.waitEnd(30s).eos);
  std::lock_guard lock(seen.mutex);
  INFO(seen.packets << " RTP packets");
  REQUIRE_FALSE(seen.ptp.empty());
  CHECK(seen.ptp.count(1000 + kFrames) == 1);  // the last frame's, at least: the reader reaches the newest
  for (GstClockTime t : seen.ptp) CHECK((t > 1000 && t <= 1000 + kFrames));
}

TEST_CASE("frameshmsink's metadata-bytes sizes each frame's metadata, and a buffer carrying more is an error naming it") {
  frameshm::test::initGst();
  // A buffer whose FrameshmMeta carries a 20,000-byte blob: more than the default 4096.
  auto bigBuffer = [] {
    GstBuffer* buffer = bufferWithMetadata(64 * 48, 1);
    GstStructure* s =
        gst_custom_meta_get_structure(gst_buffer_get_custom_meta(buffer, frameshm::gst::kFrameshmMetaName));
    GBytes* bytes = g_bytes_new_take(g_malloc0(20'000), 20'000);
    gst_structure_set(s, "blob", G_TYPE_BYTES, bytes, nullptr);
    g_bytes_unref(bytes);
    return buffer;
  };
  const std::string caps = "caps=video/x-raw,format=GRAY8,width=64,height=48,framerate=25/1";

  SECTION("metadata-bytes=65536 carries it") {
    const std::string feed = uniqueFeed("gst-meta-big");
    FeedGuard guard(feed);
    auto out = Pipeline::launch("appsrc name=app format=time " + caps +
                                " ! frameshmsink name=sink metadata-bytes=65536 feed=" + feed);
    guint bytes = 0;
    g_object_get(out.element("sink"), "metadata-bytes", &bytes, nullptr);
    CHECK(bytes == 65536);
    REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
    REQUIRE(gst_app_src_push_buffer(GST_APP_SRC(out.element("app")), bigBuffer()) == GST_FLOW_OK);
    auto consumer = frameshm::Consumer::open({.feed = feed, .openTimeout = 10'000ms});
    REQUIRE(consumer);
    auto frame = consumer->waitFrame(10s);
    REQUIRE(frame);
    auto metadata = frame->metadata();
    REQUIRE(metadata);
    CHECK(metadata->find("blob")->value.size() == 20'000);
    CHECK(metadata->find("n")->asInt() == 1);
    gst_app_src_end_of_stream(GST_APP_SRC(out.element("app")));
    REQUIRE(out.waitEnd(10s).eos);
  }
  SECTION("the default 4096 refuses it with an error that names the property") {
    const std::string feed = uniqueFeed("gst-meta-over");
    FeedGuard guard(feed);
    auto out = Pipeline::launch("appsrc name=app format=time " + caps + " ! frameshmsink feed=" + feed);
    REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
    (void)gst_app_src_push_buffer(GST_APP_SRC(out.element("app")), bigBuffer());
    const auto end = out.waitEnd(10s);
    REQUIRE(end.error);
    INFO(end.errorMessage);
    CHECK(end.errorMessage.find("metadata-bytes") != std::string::npos);
    CHECK(end.errorMessage.find("4096") != std::string::npos);
  }
}
