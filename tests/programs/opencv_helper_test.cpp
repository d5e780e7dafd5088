// SPDX-License-Identifier: LGPL-2.1-or-later
// The OpenCV helper (frameshm/opencv.hpp) in process: views and conversions
// for every pixel format, even and odd sizes, default and padded strides.
#include <catch2/catch.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "frameshm/opencv.hpp"

using namespace frameshm;

namespace {

// A smooth colour image (a few levels per pixel at any size): chroma
// subsampling loses little of it.
cv::Mat gradient(int width, int height) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      image.at<cv::Vec3b>(y, x) =
          cv::Vec3b(static_cast<std::uint8_t>(40 + 3 * x), static_cast<std::uint8_t>(60 + 3 * y),
                    static_cast<std::uint8_t>(200 - (x + y)));
  return image;
}

double meanAbsDifference(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat difference;
  cv::absdiff(a, b, difference);
  const cv::Scalar mean = cv::mean(difference);
  return (mean[0] + mean[1] + mean[2]) / 3.0;
}

// Widens every plane's stride by `extra` bytes (a layout makeFormat never picks).
FrameFormat padded(FrameFormat format, std::uint32_t extra) {
  std::uint64_t offset = 0;
  for (std::uint32_t i = 0; i < format.planeCount; ++i) {
    format.planes[i].stride += extra;
    format.planes[i].offset = offset;
    offset += std::uint64_t{format.planes[i].stride} * format.planeHeight(i);
  }
  format.frameSize = offset;
  return format;
}

}  // namespace

TEST_CASE("every pixel format converts from BGR and back close to the original, at any size and stride") {
  const auto [width, height] =
      GENERATE(std::pair{64, 48}, std::pair{33, 17}, std::pair{1, 1}, std::pair{2, 3});
  const std::uint32_t extraStride = GENERATE(0u, 12u);
  const cv::Mat original = gradient(width, height);
  cv::Mat gray;
  cv::cvtColor(original, gray, cv::COLOR_BGR2GRAY);
  cv::Mat grayAsBgr;
  cv::cvtColor(gray, grayAsBgr, cv::COLOR_GRAY2BGR);

  for (PixelFormat pf : allPixelFormats()) {
    auto made = makeFormat(pf, static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height));
    REQUIRE(made);
    const FrameFormat format = extraStride ? padded(*made, extraStride) : *made;
    REQUIRE(validateFormat(format));
    INFO(describe(format) << " stride +" << extraStride);
    std::vector<std::byte> frame(format.frameSize, std::byte{0x5a});
    cv::Mat scratch, back;
    REQUIRE(opencv::fromBgr(original, format, frame, scratch));
    REQUIRE(opencv::toBgr(format, frame, back));
    REQUIRE(back.size() == original.size());
    REQUIRE(back.type() == CV_8UC3);
    const bool lossless = pf == PixelFormat::Rgb || pf == PixelFormat::Bgr || pf == PixelFormat::Rgba ||
                          pf == PixelFormat::Bgra || pf == PixelFormat::Bgrx;
    if (pf == PixelFormat::Gray8)
      CHECK(meanAbsDifference(back, grayAsBgr) == 0.0);
    else if (lossless)
      CHECK(meanAbsDifference(back, original) == 0.0);
    else
      CHECK(meanAbsDifference(back, original) < 6.0);  // limited-range YUV and chroma subsampling
  }
}

TEST_CASE("plane views cover each plane with its own stride, offset and rounded-up chroma size") {
  auto format = makeFormat(PixelFormat::I420, 33, 17);
  REQUIRE(format);
  std::vector<std::byte> frame(format->frameSize);
  const cv::Mat y = opencv::planeView(*format, frame.data(), 0);
  const cv::Mat u = opencv::planeView(*format, frame.data(), 1);
  const cv::Mat v = opencv::planeView(*format, frame.data(), 2);
  CHECK(y.cols == 33);
  CHECK(y.rows == 17);
  CHECK(y.step[0] == format->planes[0].stride);
  CHECK(u.cols == 17);
  CHECK(u.rows == 9);
  CHECK(u.step[0] == format->planes[1].stride);
  CHECK(reinterpret_cast<const std::byte*>(v.data) == frame.data() + format->planes[2].offset);
  CHECK(opencv::planeView(*format, frame.data(), 3).empty());

  auto nv12 = makeFormat(PixelFormat::Nv12, 33, 17);
  REQUIRE(nv12);
  const cv::Mat uv = opencv::planeView(*nv12, frame.data(), 1);
  CHECK(uv.type() == CV_8UC2);
  CHECK(uv.cols == 17);
  CHECK(uv.rows == 9);

  auto yuy2 = makeFormat(PixelFormat::Yuy2, 33, 17);
  REQUIRE(yuy2);
  const cv::Mat packed = opencv::planeView(*yuy2, frame.data(), 0);
  CHECK(packed.type() == CV_8UC2);
  CHECK(packed.cols == 34);  // the stored row holds a whole last pixel pair
}

TEST_CASE("a view of a buffer is that buffer: drawing into it changes the frame bytes, no copy") {
  auto format = makeFormat(PixelFormat::Bgrx, 16, 8);
  REQUIRE(format);
  std::vector<std::byte> frame(format->frameSize, std::byte{0});
  cv::Mat view = opencv::planeView(*format, frame.data(), 0);
  REQUIRE(reinterpret_cast<std::byte*>(view.data) == frame.data());
  view.setTo(cv::Scalar(1, 2, 3, 4));
  CHECK(frame[0] == std::byte{1});
  CHECK(frame[format->frameSize - 1] == std::byte{4});
}

TEST_CASE("fromBgr refuses an image of the wrong size or type and writes nothing") {
  auto format = makeFormat(PixelFormat::I420, 16, 16);
  REQUIRE(format);
  std::vector<std::byte> frame(format->frameSize, std::byte{7});
  cv::Mat scratch;
  CHECK_FALSE(opencv::fromBgr(cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(0)), *format, frame, scratch));
  CHECK_FALSE(opencv::fromBgr(cv::Mat(16, 16, CV_8UC1, cv::Scalar::all(0)), *format, frame, scratch));
  CHECK_FALSE(opencv::fromBgr(cv::Mat(16, 16, CV_8UC3, cv::Scalar::all(0)), *format,
                              std::span(frame).first(10), scratch));
  CHECK(frame[0] == std::byte{7});
}

TEST_CASE(
    "toBgr refuses a buffer smaller than its format's frame, or a broken format, and leaves the image "
    "alone") {
  auto format = makeFormat(PixelFormat::I420, 16, 16);
  REQUIRE(format);
  std::vector<std::byte> frame(format->frameSize, std::byte{7});
  cv::Mat out(4, 4, CV_8UC3, cv::Scalar::all(9));
  CHECK_FALSE(opencv::toBgr(*format, std::span<const std::byte>(frame).first(format->frameSize - 1), out));
  CHECK_FALSE(opencv::toBgr(*format, {}, out));
  FrameFormat broken = *format;
  broken.planes[2].offset = broken.frameSize;  // the last plane starts past the end of the frame
  CHECK_FALSE(opencv::toBgr(broken, frame, out));
  CHECK(out.size() == cv::Size(4, 4));
  CHECK(out.at<cv::Vec3b>(0, 0) == cv::Vec3b(9, 9, 9));
  CHECK(opencv::toBgr(*format, frame, out));
  CHECK(out.size() == cv::Size(16, 16));
}
