// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshmsink → frameshmsrc with real pipelines: content, readers, EOS.
#include <gst/app/gstappsrc.h>
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gst_test_support.hpp"
#include "test_support.hpp"

using frameshm::test::FeedGuard;
using frameshm::test::FrameTap;
using frameshm::test::Pipeline;
using frameshm::test::uniqueFeed;
using namespace std::chrono_literals;

namespace {

const char* const kFormats[] = {"GRAY8", "RGB",  "BGR",  "RGBA", "BGRA",
                                "BGRx",  "I420", "NV12", "YUY2", "UYVY"};

std::string writer(const std::string& feed, const std::string& format, int width, int height, int frames,
                   const std::string& sinkOptions = "") {
  return "videotestsrc is-live=true pattern=ball num-buffers=" + std::to_string(frames) +
         " ! video/x-raw,format=" + format + ",width=" + std::to_string(width) +
         ",height=" + std::to_string(height) +
         ",framerate=60/1 ! identity name=tap ! frameshmsink feed=" + feed + " " + sinkOptions;
}

std::string reader(const std::string& feed, const std::string& options = "", const std::string& middle = "") {
  return "frameshmsrc name=src feed=" + feed + " timeout=10000 " + options + " ! identity name=tap ! " +
         middle + "fakesink";
}

// Every frame the reader saw must be a frame the writer sent, pixel for pixel
// (matched by PTS). Returns how many matched.
std::size_t requireSameContent(const FrameTap& written, const FrameTap& read) {
  std::map<std::uint64_t, frameshm::test::TappedFrame> sent;
  for (const auto& frame : written.frames()) sent[frame.pts] = frame;
  std::size_t matched = 0;
  for (const auto& frame : read.frames()) {
    INFO("frame with pts " << frame.pts);
    const auto it = sent.find(frame.pts);
    REQUIRE(it != sent.end());
    CHECK(frame.format == it->second.format);
    CHECK(frame.width == it->second.width);
    CHECK(frame.height == it->second.height);
    CHECK(frame.checksum == it->second.checksum);
    ++matched;
  }
  return matched;
}

void roundTrip(int width, int height, const std::string& sinkOptions, const std::string& srcOptions) {
  for (const char* format : kFormats) {
    INFO(format << " " << width << "x" << height << " sink: " << sinkOptions << " src: " << srcOptions);
    const std::string feed = uniqueFeed("rt");
    FeedGuard guard(feed);
    // The reader starts first and waits for the producer, so it sees the
    // stream from its first frame.
    auto in = Pipeline::launch(reader(feed, "is-live=false " + srcOptions));
    FrameTap read(in.element("tap"));
    REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
    auto out = Pipeline::launch(writer(feed, format, width, height, 20, sinkOptions));
    FrameTap written(out.element("tap"));
    REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);

    const auto outEnd = out.waitEnd(20s);
    INFO("writer error: " << outEnd.errorMessage << " / " << outEnd.errorDebug);
    REQUIRE(outEnd.eos);
    const auto inEnd = in.waitEnd(20s);
    INFO("reader error: " << inEnd.errorMessage << " / " << inEnd.errorDebug);
    REQUIRE(inEnd.eos);
    CHECK(written.count() == 20);
    CHECK(requireSameContent(written, read) >= 1);
    out.stop();
    CHECK_FALSE(frameshm::test::segmentExists(feed));
  }
}

guint64 uint64Property(GstElement* element, const char* name) {
  guint64 value = 0;
  g_object_get(element, name, &value, nullptr);
  return value;
}

}  // namespace

TEST_CASE("every supported format round-trips frameshmsink to frameshmsrc with identical pixels at 320x240") {
  roundTrip(320, 240, "", "");
}

TEST_CASE(
    "every supported format round-trips frameshmsink to frameshmsrc with identical pixels at odd 641x481") {
  roundTrip(641, 481, "", "");
}

TEST_CASE("frames round-trip unchanged when written in place and read zero copy (slots=8)") {
  roundTrip(322, 242, "slots=8", "zero-copy=true");
}

TEST_CASE("frames round-trip unchanged when the reader blocks at once (spin=0) and when it spins long") {
  roundTrip(96, 64, "", "spin=0");
  roundTrip(96, 64, "", "spin=5000");
}

TEST_CASE("frames round-trip unchanged when both elements copy") {
  roundTrip(160, 120, "offer-slots=false", "zero-copy=false");
}

TEST_CASE("upstream writes into the slots of the sink's pool and a reader with spare slots wraps them") {
  const std::string feed = uniqueFeed("inplace");
  FeedGuard guard(feed);
  auto in = Pipeline::launch(reader(feed, "is-live=false"));
  FrameTap read(in.element("tap"));
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  auto out = Pipeline::launch(writer(feed, "BGRx", 320, 240, 30, "name=sink slots=8"));
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  REQUIRE(out.waitEnd(20s).eos);
  REQUIRE(in.waitEnd(20s).eos);
  GstElement* sink = out.element("sink");
  CHECK(uint64Property(sink, "frames-published") == 30);
  CHECK(uint64Property(sink, "frames-in-place") > 0);
  GstElement* src = in.element("src");
  const guint64 readCount = uint64Property(src, "frames-read");
  CHECK(readCount >= 1);
  CHECK(uint64Property(src, "frames-copied") < readCount);
  std::size_t wrapped = 0;
  for (const auto& frame : read.frames()) wrapped += frame.zeroCopy ? 1 : 0;
  CHECK(wrapped > 0);
}

namespace {

// The `stats` structure of `element`, checked to be named `name`; its
// counter fields, each REQUIREd to equal the property of the same name.
std::map<std::string, guint64> statsMatchingProperties(GstElement* element, const std::string& name,
                                                       const std::vector<std::string>& counters) {
  GstStructure* stats = nullptr;
  g_object_get(element, "stats", &stats, nullptr);
  REQUIRE(stats != nullptr);
  CHECK(gst_structure_has_name(stats, name.c_str()));
  std::map<std::string, guint64> values;
  for (const std::string& counter : counters) {
    INFO(name << " field " << counter);
    guint64 value = 0;
    REQUIRE(gst_structure_get_uint64(stats, counter.c_str(), &value));
    CHECK(value == uint64Property(element, counter.c_str()));
    values[counter] = value;
  }
  gst_structure_free(stats);
  return values;
}

}  // namespace

TEST_CASE("each element's stats structure holds the counts its counter properties show") {
  const std::string feed = uniqueFeed("stats");
  FeedGuard guard(feed);
  auto in = Pipeline::launch(reader(feed, "is-live=false"));
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  auto out = Pipeline::launch(writer(feed, "BGRx", 320, 240, 30, "name=sink slots=8"));
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  REQUIRE(out.waitEnd(20s).eos);
  REQUIRE(in.waitEnd(20s).eos);

  GstElement* sink = out.element("sink");
  const auto published = statsMatchingProperties(sink, "application/x-frameshmsink-stats",
                                                 {"frames-published", "frames-in-place", "frames-dropped"});
  CHECK(published.at("frames-published") == 30);
  CHECK(published.at("frames-in-place") + published.at("frames-dropped") <= 30);
  GstStructure* sinkStats = nullptr;
  g_object_get(sink, "stats", &sinkStats, nullptr);
  guint readers = 99;
  CHECK(gst_structure_get_uint(sinkStats, "readers", &readers));
  CHECK(readers <= 1);
  gst_structure_free(sinkStats);

  const auto read = statsMatchingProperties(
      in.element("src"), "application/x-frameshmsrc-stats",
      {"frames-read", "frames-dropped", "frames-torn", "frames-copied", "generations"});
  CHECK(read.at("frames-read") >= 1);
  CHECK(read.at("frames-read") + read.at("frames-dropped") <= 30);
  CHECK(read.at("frames-copied") <= read.at("frames-read"));
  CHECK(read.at("generations") == 1);
}

TEST_CASE("behind 3 slots the reader copies every frame rather than pin too many") {
  const std::string feed = uniqueFeed("copy3");
  FeedGuard guard(feed);
  auto in = Pipeline::launch(reader(feed, "is-live=false"));
  FrameTap read(in.element("tap"));
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  auto out = Pipeline::launch(writer(feed, "GRAY8", 64, 48, 20, "slots=3"));
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  REQUIRE(out.waitEnd(20s).eos);
  REQUIRE(in.waitEnd(20s).eos);
  GstElement* src = in.element("src");
  CHECK(uint64Property(src, "frames-read") >= 1);
  CHECK(uint64Property(src, "frames-copied") == uint64Property(src, "frames-read"));
  for (const auto& frame : read.frames()) CHECK_FALSE(frame.zeroCopy);
}

TEST_CASE("at element defaults the reader hands fakesink and videoconvert the shared memory itself") {
  for (const std::string middle : {"", "videoconvert ! video/x-raw,format=BGRx ! "}) {
    INFO("downstream: " << middle << "fakesink");
    const std::string feed = uniqueFeed("zcdefault");
    FeedGuard guard(feed);
    auto in = Pipeline::launch(reader(feed, "is-live=false", middle));
    FrameTap read(in.element("tap"));
    REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
    auto out = Pipeline::launch(writer(feed, "I420", 320, 240, 20, "name=sink"));
    FrameTap written(out.element("tap"));
    REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
    REQUIRE(out.waitEnd(20s).eos);
    REQUIRE(in.waitEnd(20s).eos);
    // videotestsrc takes the sink's slot pool at its defaults.
    CHECK(uint64Property(out.element("sink"), "frames-in-place") > 0);
    GstElement* src = in.element("src");
    CHECK(uint64Property(src, "frames-read") >= 1);
    CHECK(uint64Property(src, "frames-copied") == 0);
    CHECK(requireSameContent(written, read) >= 1);
    for (const auto& frame : read.frames()) CHECK(frame.zeroCopy);
  }
}

TEST_CASE("several readers on one feed each get the frames and a slow reader does not slow the others") {
  const std::string feed = uniqueFeed("fanout");
  FeedGuard guard(feed);
  constexpr int kFrames = 90;  // 3 s at 30 fps
  auto fast1 = Pipeline::launch(reader(feed));
  auto fast2 = Pipeline::launch(reader(feed));
  auto slow = Pipeline::launch(reader(feed, "", "identity sleep-time=100000 ! "));
  FrameTap fast1Tap(fast1.element("tap"));
  FrameTap fast2Tap(fast2.element("tap"));
  FrameTap slowTap(slow.element("tap"));
  for (Pipeline* p : {&fast1, &fast2, &slow}) REQUIRE(p->play() != GST_STATE_CHANGE_FAILURE);

  auto out = Pipeline::launch("videotestsrc is-live=true num-buffers=" + std::to_string(kFrames) +
                              " ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! "
                              "frameshmsink name=sink feed=" +
                              feed);
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  // A reader that joins behind the slow one still gets frames at once.
  std::this_thread::sleep_for(1s);
  CHECK(uint64Property(out.element("sink"), "frames-published") > 0);
  guint readers = 0;
  g_object_get(out.element("sink"), "readers", &readers, nullptr);
  CHECK(readers == 3);
  auto late = Pipeline::launch(reader(feed));
  FrameTap lateTap(late.element("tap"));
  REQUIRE(late.play() != GST_STATE_CHANGE_FAILURE);

  REQUIRE(out.waitEnd(30s).eos);
  for (Pipeline* p : {&fast1, &fast2, &slow, &late}) REQUIRE(p->waitEnd(30s).eos);
  CHECK(uint64Property(out.element("sink"), "frames-published") == kFrames);
  INFO("fast " << fast1Tap.count() << " " << fast2Tap.count() << ", slow " << slowTap.count() << ", late "
               << lateTap.count());
  // The fast readers keep up with the producer (most frames), the slow one
  // gets about 10 a second, and it costs the others nothing.
  CHECK(fast1Tap.count() >= kFrames * 2 / 3);
  CHECK(fast2Tap.count() >= kFrames * 2 / 3);
  CHECK(slowTap.count() < kFrames / 2);
  CHECK(slowTap.count() >= 5);
  CHECK(uint64Property(slow.element("src"), "frames-dropped") > 0);
  CHECK(lateTap.count() >= 10);
}

TEST_CASE(
    "at EOS the gst-launch-1.0 writer and reader both exit 0 and the reader got EOS and the feed is gone") {
  const std::string feed = uniqueFeed("eos");
  FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto readerProcess = frameshm::test::Child::spawn(
      {"gst-launch-1.0", "frameshmsrc", "feed=" + feed, "timeout=15000", "!", "fakesink"},
      frameshm::test::gstEnvironment(), dir.file("reader.out"), dir.file("reader.err"));
  auto writerProcess = frameshm::test::Child::spawn(
      {"gst-launch-1.0", "videotestsrc", "num-buffers=60", "!",
       "video/x-raw,width=320,height=240,framerate=30/1", "!", "frameshmsink", "feed=" + feed},
      frameshm::test::gstEnvironment(), dir.file("writer.out"), dir.file("writer.err"));
  const int writerCode = writerProcess.wait(30s);
  const int readerCode = readerProcess.wait(30s);
  INFO("writer stdout: " << frameshm::test::readFile(dir.file("writer.out")));
  INFO("writer stderr: " << frameshm::test::readFile(dir.file("writer.err")));
  INFO("reader stdout: " << frameshm::test::readFile(dir.file("reader.out")));
  INFO("reader stderr: " << frameshm::test::readFile(dir.file("reader.err")));
  CHECK(writerCode == 0);
  CHECK(readerCode == 0);
  CHECK_THAT(frameshm::test::readFile(dir.file("reader.out")), Catch::Contains("Got EOS"));
  CHECK_THAT(frameshm::test::readFile(dir.file("writer.out")), !Catch::Contains("ERROR"));
  CHECK_THAT(frameshm::test::readFile(dir.file("writer.err")), !Catch::Contains("ERROR"));
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("a caps change through frameshmsink starts a new generation that frameshmsrc renegotiates") {
  const std::string feed = uniqueFeed("recaps");
  FeedGuard guard(feed);
  auto in = Pipeline::launch(reader(feed, "is-live=false"));
  FrameTap read(in.element("tap"));
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);

  auto out = Pipeline::launch("appsrc name=app format=time ! identity name=tap ! frameshmsink feed=" + feed);
  FrameTap written(out.element("tap"));
  GstElement* app = out.element("app");
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  struct Step {
    const char* format;
    int width, height;
  };
  const Step steps[] = {{"RGB", 64, 48}, {"I420", 33, 17}, {"GRAY8", 640, 2}};
  std::uint64_t pts = 0;
  for (const Step& step : steps) {
    GstVideoInfo info;
    gst_video_info_set_format(&info, gst_video_format_from_string(step.format), step.width, step.height);
    GST_VIDEO_INFO_FPS_N(&info) = 25;
    GstCaps* caps = gst_video_info_to_caps(&info);
    g_object_set(app, "caps", caps, nullptr);
    gst_caps_unref(caps);
    for (int i = 0; i < 8; ++i) {
      GstBuffer* buffer = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
      GstMapInfo map;
      gst_buffer_map(buffer, &map, GST_MAP_WRITE);
      for (gsize b = 0; b < map.size; ++b) map.data[b] = static_cast<guint8>(b * 7 + pts / 1000000);
      gst_buffer_unmap(buffer, &map);
      GST_BUFFER_PTS(buffer) = pts;
      GST_BUFFER_DURATION(buffer) = 40 * GST_MSECOND;
      pts += 40 * GST_MSECOND;
      REQUIRE(gst_app_src_push_buffer(GST_APP_SRC(app), buffer) == GST_FLOW_OK);
      std::this_thread::sleep_for(40ms);
    }
  }
  gst_app_src_end_of_stream(GST_APP_SRC(app));
  REQUIRE(out.waitEnd(20s).eos);
  const auto inEnd = in.waitEnd(20s);
  INFO("reader error: " << inEnd.errorMessage << " / " << inEnd.errorDebug);
  REQUIRE(inEnd.eos);
  requireSameContent(written, read);
  std::set<std::string> seen;
  for (const auto& frame : read.frames())
    seen.insert(frame.format + " " + std::to_string(frame.width) + "x" + std::to_string(frame.height));
  CHECK(seen == std::set<std::string>{"RGB 64x48", "I420 33x17", "GRAY8 640x2"});
  CHECK(uint64Property(in.element("src"), "generations") == 3);
}

TEST_CASE("a caps change upstream of the slot pool renegotiates the pool and the feed") {
  const std::string feed = uniqueFeed("poolcaps");
  FeedGuard guard(feed);
  auto in = Pipeline::launch(reader(feed));
  FrameTap read(in.element("tap"));
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  auto out = Pipeline::launch(
      "videotestsrc is-live=true ! capsfilter name=filter caps=video/x-raw,format=BGRx,width=320,height=240,"
      "framerate=30/1 ! frameshmsink name=sink feed=" +
      feed);
  REQUIRE(out.play() != GST_STATE_CHANGE_FAILURE);
  auto waitFor = [&](const std::string& size) {
    for (int i = 0; i < 200; ++i) {
      for (const auto& frame : read.frames())
        if (frame.format + " " + std::to_string(frame.width) + "x" + std::to_string(frame.height) == size)
          return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  REQUIRE(waitFor("BGRx 320x240"));
  GstCaps* caps = gst_caps_from_string("video/x-raw,format=I420,width=160,height=90,framerate=30/1");
  g_object_set(out.element("filter"), "caps", caps, nullptr);
  gst_caps_unref(caps);
  CHECK(waitFor("I420 160x90"));
  CHECK(uint64Property(out.element("sink"), "frames-in-place") > 0);
  GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(out.element("sink")));
  gst_element_send_event(pipeline, gst_event_new_eos());
  gst_object_unref(pipeline);
  const auto outEnd = out.waitEnd(10s);
  INFO(outEnd.errorMessage << " / " << outEnd.errorDebug);
  CHECK(outEnd.eos);
  CHECK(in.waitEnd(10s).eos);
}

TEST_CASE("a frameshmsink process killed and restarted is followed by its readers") {
  const std::string feed = uniqueFeed("sinkkill");
  FeedGuard guard(feed);
  frameshm::test::TempDir dir;
  auto in = Pipeline::launch(reader(feed));
  FrameTap read(in.element("tap"));
  REQUIRE(in.play() != GST_STATE_CHANGE_FAILURE);
  auto writerArgs = [&](const std::string& size, const std::string& frames) {
    return std::vector<std::string>{"gst-launch-1.0",
                                    "videotestsrc",
                                    "is-live=true",
                                    "num-buffers=" + frames,
                                    "!",
                                    "video/x-raw,format=GRAY8," + size + ",framerate=30/1",
                                    "!",
                                    "frameshmsink",
                                    "feed=" + feed};
  };
  auto first =
      frameshm::test::Child::spawn(writerArgs("width=64,height=48", "100000"),
                                   frameshm::test::gstEnvironment(), dir.file("1.out"), dir.file("1.err"));
  for (int i = 0; i < 200 && read.count() < 10; ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(read.count() >= 10);
  first.kill(SIGKILL);
  first.wait(5s);
  auto second =
      frameshm::test::Child::spawn(writerArgs("width=32,height=24", "30"), frameshm::test::gstEnvironment(),
                                   dir.file("2.out"), dir.file("2.err"));
  INFO("second writer: " << frameshm::test::readFile(dir.file("2.out"))
                         << frameshm::test::readFile(dir.file("2.err")));
  REQUIRE(second.wait(30s) == 0);
  const auto end = in.waitEnd(20s);
  INFO(end.errorMessage << " / " << end.errorDebug);
  REQUIRE(end.eos);
  std::set<int> widths;
  for (const auto& frame : read.frames()) widths.insert(frame.width);
  CHECK(widths == std::set<int>{64, 32});
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}
