// SPDX-License-Identifier: LGPL-2.1-or-later
#include <catch2/catch.hpp>

#include "frameshm/format.hpp"

using namespace frameshm;

TEST_CASE("every supported format has its GStreamer name and parses back") {
  CHECK(allPixelFormats().size() == 10);
  for (PixelFormat pf : allPixelFormats()) {
    auto parsed = parsePixelFormat(toString(pf));
    REQUIRE(parsed);
    CHECK(*parsed == pf);
  }
  CHECK(parsePixelFormat("bgrx") == PixelFormat::Bgrx);
  CHECK(parsePixelFormat("nv12") == PixelFormat::Nv12);
  CHECK_FALSE(parsePixelFormat("YV12"));
  CHECK_FALSE(parsePixelFormat(""));
}

// Expected values follow gst_video_info_set_format (video-info.c) for the
// same sizes; tests/plugin checks the same against GStreamer itself.
TEST_CASE("packed formats pad rows to 4 bytes like GStreamer") {
  struct Case {
    PixelFormat format;
    std::uint32_t width, height, stride;
    std::uint64_t size;
  };
  const Case cases[] = {
      {PixelFormat::Gray8, 641, 3, 644, 644 * 3}, {PixelFormat::Rgb, 641, 3, 1924, 1924 * 3},
      {PixelFormat::Bgr, 640, 480, 1920, 921600},  {PixelFormat::Rgba, 641, 3, 2564, 2564 * 3},
      {PixelFormat::Bgra, 3, 3, 12, 36},           {PixelFormat::Bgrx, 1920, 1080, 7680, 8294400},
      {PixelFormat::Yuy2, 641, 3, 1284, 1284 * 3}, {PixelFormat::Uyvy, 640, 480, 1280, 614400},
  };
  for (const Case& c : cases) {
    INFO(toString(c.format) << " " << c.width << "x" << c.height);
    auto f = makeFormat(c.format, c.width, c.height);
    REQUIRE(f);
    CHECK(f->planeCount == 1);
    CHECK(f->planes[0].stride == c.stride);
    CHECK(f->planes[0].offset == 0);
    CHECK(f->frameSize == c.size);
    CHECK(validateFormat(*f));
  }
}

TEST_CASE("I420 has three planes with half-size chroma rounded up") {
  auto even = makeFormat(PixelFormat::I420, 1920, 1080);
  REQUIRE(even);
  CHECK(even->planeCount == 3);
  CHECK(even->planes[0].stride == 1920);
  CHECK(even->planes[1].stride == 960);
  CHECK(even->planes[1].offset == 2073600);
  CHECK(even->planes[2].offset == 2073600 + 518400);
  CHECK(even->frameSize == 3110400);
  CHECK(even->planeHeight(1) == 540);

  auto odd = makeFormat(PixelFormat::I420, 641, 481);
  REQUIRE(odd);
  CHECK(odd->planes[0].stride == 644);
  CHECK(odd->planes[1].stride == 324);
  CHECK(odd->planes[1].offset == 644u * 482);
  CHECK(odd->planes[2].offset == 644u * 482 + 324u * 241);
  CHECK(odd->frameSize == 644u * 482 + 2u * 324 * 241);
  CHECK(odd->planeHeight(0) == 481);
  CHECK(odd->planeHeight(2) == 241);
  CHECK(odd->rowBytes(1) == 321);
  CHECK(validateFormat(*odd));
}

TEST_CASE("NV12 has a luma plane and an interleaved chroma plane") {
  auto f = makeFormat(PixelFormat::Nv12, 641, 481);
  REQUIRE(f);
  CHECK(f->planeCount == 2);
  CHECK(f->planes[0].stride == 644);
  CHECK(f->planes[1].stride == 644);
  CHECK(f->planes[1].offset == 644u * 482);
  CHECK(f->frameSize == 644u * 482 + 644u * 241);
  CHECK(f->rowBytes(1) == 642);
}

TEST_CASE("sizes out of range are refused") {
  CHECK(makeFormat(PixelFormat::Bgr, 0, 480).error().code == ErrorCode::UnsupportedFormat);
  CHECK(makeFormat(PixelFormat::Bgr, 640, 0).error().code == ErrorCode::UnsupportedFormat);
  CHECK(makeFormat(PixelFormat::Bgr, 16385, 16).error().code == ErrorCode::UnsupportedFormat);
  CHECK(makeFormat(static_cast<PixelFormat>(0), 16, 16).error().code == ErrorCode::UnsupportedFormat);
  CHECK(makeFormat(PixelFormat::Bgr, 16, 16, {30, 0}).error().code == ErrorCode::InvalidArgument);
  CHECK(makeFormat(PixelFormat::Gray8, 1, 1));
  CHECK(makeFormat(PixelFormat::Rgba, 16384, 16384));
}

TEST_CASE("custom strides are accepted when every plane fits, refused otherwise") {
  auto f = *makeFormat(PixelFormat::I420, 64, 64);
  SECTION("a padded layout is valid") {
    FrameFormat padded = f;
    padded.planes[0] = {128, 0};
    padded.planes[1] = {64, 128 * 64};
    padded.planes[2] = {64, 128 * 64 + 64 * 32};
    padded.frameSize = 128 * 64 + 2 * 64 * 32;
    CHECK(validateFormat(padded));
  }
  SECTION("overlapping planes") {
    f.planes[1].offset = 10;
    CHECK(validateFormat(f).error().code == ErrorCode::UnsupportedFormat);
  }
  SECTION("a plane past the frame size") {
    f.frameSize -= 1;
    CHECK(validateFormat(f).error().code == ErrorCode::UnsupportedFormat);
  }
  SECTION("wrong plane count") {
    f.planeCount = 1;
    CHECK(validateFormat(f).error().code == ErrorCode::UnsupportedFormat);
  }
  SECTION("an unused plane set") {
    f.planes[3] = {4, 4};
    CHECK(validateFormat(f).error().code == ErrorCode::UnsupportedFormat);
  }
}

TEST_CASE("describe names the format, size and rate") {
  CHECK(describe(*makeFormat(PixelFormat::I420, 1920, 1080, {30, 1})) == "I420 1920x1080 @30/1");
  CHECK(describe(*makeFormat(PixelFormat::Bgrx, 2, 2)) == "BGRx 2x2");
}
