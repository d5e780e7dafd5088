// SPDX-License-Identifier: LGPL-2.1-or-later
// makeFormat must lay frames out exactly as GStreamer does by default, or a
// slot could not be handed to a pipeline without repacking.
#include <gst/video/video.h>

#include <catch2/catch.hpp>

#include "frameshm/format.hpp"
#include "gst_test_support.hpp"
#include "gstframeshmformat.h"

namespace {

struct Size {
  std::uint32_t width;
  std::uint32_t height;
};

constexpr Size kSizes[] = {{1, 1},     {2, 2},     {3, 3},       {17, 1},  {1, 17},
                           {641, 481}, {640, 480}, {1920, 1080}, {4095, 3}};

}  // namespace

TEST_CASE("makeFormat's strides and offsets and sizes equal gst_video_info_set_format's for every format") {
  frameshm::test::initGst();
  for (const frameshm::PixelFormat pixelFormat : frameshm::allPixelFormats()) {
    const GstVideoFormat gstFormat = frameshm::gst::toGstFormat(pixelFormat);
    REQUIRE(gstFormat != GST_VIDEO_FORMAT_UNKNOWN);
    REQUIRE(frameshm::gst::fromGstFormat(gstFormat) == pixelFormat);
    REQUIRE(std::string_view(gst_video_format_to_string(gstFormat)) == frameshm::toString(pixelFormat));
    for (const Size size : kSizes) {
      INFO(frameshm::toString(pixelFormat) << " " << size.width << "x" << size.height);
      auto format = frameshm::makeFormat(pixelFormat, size.width, size.height, {30, 1});
      REQUIRE(format);
      GstVideoInfo info;
      REQUIRE(gst_video_info_set_format(&info, gstFormat, size.width, size.height));
      CHECK(format->frameSize == GST_VIDEO_INFO_SIZE(&info));
      REQUIRE(format->planeCount == GST_VIDEO_INFO_N_PLANES(&info));
      for (std::uint32_t p = 0; p < format->planeCount; ++p) {
        INFO("plane " << p);
        CHECK(format->planes[p].stride == static_cast<std::uint32_t>(GST_VIDEO_INFO_PLANE_STRIDE(&info, p)));
        CHECK(format->planes[p].offset == GST_VIDEO_INFO_PLANE_OFFSET(&info, p));
      }
    }
  }
}

TEST_CASE("negotiated video info becomes the feed format and frameshm's format becomes caps again") {
  frameshm::test::initGst();
  for (const frameshm::PixelFormat pixelFormat : frameshm::allPixelFormats()) {
    INFO(frameshm::toString(pixelFormat));
    auto format = frameshm::makeFormat(pixelFormat, 641, 481, {30000, 1001});
    REQUIRE(format);
    GstCaps* caps = frameshm::gst::capsFromFormat(*format);
    GstVideoInfo info;
    REQUIRE(gst_video_info_from_caps(&info, caps));
    gst_caps_unref(caps);
    auto back = frameshm::gst::formatFromInfo(info);
    REQUIRE(back);
    CHECK(*back == *format);
    CHECK(frameshm::gst::sameLayout(frameshm::gst::withLayoutOf(*back, info), *format));
  }
}

TEST_CASE("formats frameshm cannot carry are refused with the reason") {
  frameshm::test::initGst();
  GstVideoInfo info;
  REQUIRE(gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I422_10LE, 64, 64));
  auto format = frameshm::gst::formatFromInfo(info);
  REQUIRE_FALSE(format);
  CHECK(format.error().code == frameshm::ErrorCode::UnsupportedFormat);
  CHECK_THAT(format.error().message, Catch::Contains("I422_10LE") && Catch::Contains("videoconvert"));
}

TEST_CASE("a feed's caps string is used only if it describes the feed's format") {
  frameshm::test::initGst();
  auto format = frameshm::makeFormat(frameshm::PixelFormat::Gray8, 64, 48, {25, 1});
  REQUIRE(format);
  std::string why;
  GstCaps* own = frameshm::gst::capsForFeed(
      "video/x-raw, format=(string)GRAY8, width=(int)64, height=(int)48, framerate=(fraction)25/1, "
      "pixel-aspect-ratio=(fraction)2/1",
      *format, &why);
  CHECK(why.empty());
  gint parN = 0, parD = 0;
  CHECK(gst_structure_get_fraction(gst_caps_get_structure(own, 0), "pixel-aspect-ratio", &parN, &parD));
  CHECK(parN == 2);
  gst_caps_unref(own);

  for (const char* wrong :
       {"", "video/x-raw, format=(string)RGB, width=(int)64, height=(int)48", "not caps at all",
        "video/x-raw, format=(string)GRAY8, width=(int)[1,100], height=(int)48"}) {
    INFO("caps string '" << wrong << "'");
    GstCaps* built = frameshm::gst::capsForFeed(wrong, *format, &why);
    CHECK_FALSE(why.empty());
    GstVideoInfo info;
    REQUIRE(gst_video_info_from_caps(&info, built));
    CHECK(GST_VIDEO_INFO_FORMAT(&info) == GST_VIDEO_FORMAT_GRAY8);
    CHECK(GST_VIDEO_INFO_WIDTH(&info) == 64);
    CHECK(GST_VIDEO_INFO_FPS_N(&info) == 25);
    gst_caps_unref(built);
  }
}

TEST_CASE("copyFrame repacks rows between layouts and leaves padding alone") {
  frameshm::test::initGst();
  auto packed = frameshm::makeFormat(frameshm::PixelFormat::I420, 5, 3);
  REQUIRE(packed);
  frameshm::FrameFormat padded = *packed;
  padded.planes[0] = {16, 0};
  padded.planes[1] = {8, 48};
  padded.planes[2] = {8, 64};
  padded.frameSize = 80;
  REQUIRE(frameshm::validateFormat(padded));
  std::vector<std::byte> source(padded.frameSize, std::byte{0xEE});
  for (std::uint32_t p = 0; p < 3; ++p)
    for (std::uint32_t row = 0; row < padded.planeHeight(p); ++row)
      for (std::uint32_t x = 0; x < padded.rowBytes(p); ++x)
        source[padded.planes[p].offset + row * padded.planes[p].stride + x] = std::byte(p * 64 + row * 8 + x);
  std::vector<std::byte> out(packed->frameSize, std::byte{0});
  frameshm::gst::copyFrame(source.data(), padded, out.data(), *packed);
  std::vector<std::byte> back(padded.frameSize, std::byte{0xEE});
  frameshm::gst::copyFrame(out.data(), *packed, back.data(), padded);
  CHECK(back == source);
  CHECK(std::find(out.begin(), out.end(), std::byte{0xEE}) == out.end());
}
