// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/opencv.hpp — zero-copy cv::Mat views of frameshm frames, and BGR conversion.
//
// A frame in a feed is already an image in memory; these helpers wrap it in a
// cv::Mat header without copying a byte, for every packed format (one Mat) and
// for planar formats (one Mat per plane), respecting each plane's stride and
// offset. `toBgr` converts any supported format to BGR for display or
// encoding, and `fromBgr` converts a BGR image into a frame of any format,
// writing straight into a producer's slot where OpenCV allows it.
//
// A Frame is a read-only mapping of the producer's memory. cv::Mat has no
// const view, so the Mat returned by `view(const Frame&)` looks writable but
// is not: writing through it faults (SIGSEGV). Read from it, or convert or
// copy it first. Check `frame.intact()` after reading, as always.
//
//   auto frame = consumer->waitFrame(std::chrono::seconds(1));
//   cv::Mat gray;
//   cv::cvtColor(frameshm::opencv::view(*frame), gray, cv::COLOR_BGR2GRAY);  // BGR feed
//   if (!frame->intact()) return;  // overwritten while we read: discard `gray`
//
//   auto slot = producer->acquire();
//   cv::Mat image = frameshm::opencv::view(*slot, producer->format());
//   cv::putText(image, "hello", {20, 40}, cv::FONT_HERSHEY_SIMPLEX, 1.0, {255, 255, 255});
//   auto published = producer->publish(std::move(*slot));
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <span>
#include <vector>

#include "frameshm/consumer.hpp"
#include "frameshm/format.hpp"
#include "frameshm/producer.hpp"

namespace frameshm::opencv {

// The OpenCV type of plane `plane` of `format`: CV_8UC1/2/3/4.
[[nodiscard]] inline int planeType(PixelFormat format, std::uint32_t plane) noexcept {
  switch (format) {
    case PixelFormat::Gray8:
      return CV_8UC1;
    case PixelFormat::Rgb:
    case PixelFormat::Bgr:
      return CV_8UC3;
    case PixelFormat::Rgba:
    case PixelFormat::Bgra:
    case PixelFormat::Bgrx:
      return CV_8UC4;
    case PixelFormat::Yuy2:
    case PixelFormat::Uyvy:
      return CV_8UC2;
    case PixelFormat::I420:
      return CV_8UC1;
    case PixelFormat::Nv12:
      return plane == 0 ? CV_8UC1 : CV_8UC2;
  }
  return CV_8UC1;
}

// A Mat header over plane `plane` of a frame starting at `frameStart`, no copy.
// Packed YUV (YUY2, UYVY) is CV_8UC2 with the width rounded up to even, as
// stored; chroma planes of I420/NV12 have the rounded-up chroma size.
// Returns an empty Mat for a plane the format does not have.
[[nodiscard]] inline cv::Mat planeView(const FrameFormat& format, std::byte* frameStart,
                                       std::uint32_t plane) {
  if (plane >= format.planeCount || frameStart == nullptr) return {};
  const int type = planeType(format.pixelFormat, plane);
  const int columns = static_cast<int>(format.rowBytes(plane) / CV_ELEM_SIZE(type));
  const int rows = static_cast<int>(format.planeHeight(plane));
  return cv::Mat(rows, columns, type, frameStart + format.planes[plane].offset, format.planes[plane].stride);
}

// A view of plane `plane` of a received frame. Read-only memory: see the header comment.
[[nodiscard]] inline cv::Mat view(const Frame& frame, std::uint32_t plane = 0) {
  // The const_cast only satisfies cv::Mat's constructor; the mapping stays read-only.
  return planeView(frame.format(), const_cast<std::byte*>(frame.data().data()), plane);
}

// One view per plane of a received frame (one for packed formats).
[[nodiscard]] inline std::vector<cv::Mat> planeViews(const Frame& frame) {
  std::vector<cv::Mat> planes;
  for (std::uint32_t i = 0; i < frame.format().planeCount; ++i) planes.push_back(view(frame, i));
  return planes;
}

// A writable view of plane `plane` of a slot being filled; `format` is the producer's.
[[nodiscard]] inline cv::Mat view(const WriteSlot& slot, const FrameFormat& format, std::uint32_t plane = 0) {
  return planeView(format, slot.data().data(), plane);
}

namespace detail {

inline std::uint32_t even(std::uint32_t v) {
  return (v + 1) & ~1u;
}

// Copies a 4:2:0 frame into one contiguous buffer of even size, the layout
// OpenCV's I420/NV12 conversions expect: luma rows (the last row and column
// repeated to reach an even size), then the chroma plane(s) unpadded.
inline void packYuv420(const FrameFormat& format, const std::byte* data, cv::Mat& packed) {
  const std::uint32_t w = format.width, h = format.height, w2 = even(w), h2 = even(h);
  packed.create(static_cast<int>(h2 * 3 / 2), static_cast<int>(w2), CV_8UC1);
  auto* out = packed.ptr<std::uint8_t>();
  const auto* luma = reinterpret_cast<const std::uint8_t*>(data + format.planes[0].offset);
  for (std::uint32_t y = 0; y < h2; ++y) {
    const std::uint8_t* row = luma + std::uint64_t{format.planes[0].stride} * std::min(y, h - 1);
    std::memcpy(out + std::uint64_t{y} * w2, row, w);
    if (w2 > w) out[std::uint64_t{y} * w2 + w] = row[w - 1];
  }
  out += std::uint64_t{w2} * h2;
  for (std::uint32_t p = 1; p < format.planeCount; ++p) {
    const auto* chroma = reinterpret_cast<const std::uint8_t*>(data + format.planes[p].offset);
    const std::uint32_t rowBytes = format.rowBytes(p);
    for (std::uint32_t y = 0; y < format.planeHeight(p); ++y, out += rowBytes)
      std::memcpy(out, chroma + std::uint64_t{format.planes[p].stride} * y, rowBytes);
  }
}

// Converts BGR to I420 in OpenCV's contiguous layout, padding odd sizes to even.
inline void bgrToI420(const cv::Mat& bgr, cv::Mat& i420) {
  if (bgr.cols % 2 == 0 && bgr.rows % 2 == 0) {
    cv::cvtColor(bgr, i420, cv::COLOR_BGR2YUV_I420);
    return;
  }
  cv::Mat padded;
  cv::copyMakeBorder(bgr, padded, 0, bgr.rows % 2, 0, bgr.cols % 2, cv::BORDER_REPLICATE);
  cv::cvtColor(padded, i420, cv::COLOR_BGR2YUV_I420);
}

}  // namespace detail

// Converts a frame of any supported format, laid out as `format` in `data`, to
// an 8-bit BGR image of the frame's size in `out` (reallocated if needed).
// Returns false (leaving `out` alone) if `format` is not a valid layout
// (validateFormat) or `data` is smaller than its frame: nothing is read past
// the end of `data`.
[[nodiscard]] inline bool toBgr(const FrameFormat& format, std::span<const std::byte> data, cv::Mat& out) {
  if (data.size() < format.frameSize || !validateFormat(format)) return false;
  auto* base = const_cast<std::byte*>(data.data());
  const cv::Mat packed = planeView(format, base, 0);
  const int w = static_cast<int>(format.width), h = static_cast<int>(format.height);
  switch (format.pixelFormat) {
    case PixelFormat::Gray8:
      cv::cvtColor(packed, out, cv::COLOR_GRAY2BGR);
      return true;
    case PixelFormat::Rgb:
      cv::cvtColor(packed, out, cv::COLOR_RGB2BGR);
      return true;
    case PixelFormat::Bgr:
      packed.copyTo(out);
      return true;
    case PixelFormat::Rgba:
      cv::cvtColor(packed, out, cv::COLOR_RGBA2BGR);
      return true;
    case PixelFormat::Bgra:
    case PixelFormat::Bgrx:
      cv::cvtColor(packed, out, cv::COLOR_BGRA2BGR);
      return true;
    case PixelFormat::Yuy2:
    case PixelFormat::Uyvy: {
      const int code =
          format.pixelFormat == PixelFormat::Yuy2 ? cv::COLOR_YUV2BGR_YUY2 : cv::COLOR_YUV2BGR_UYVY;
      if (packed.cols == w) {
        cv::cvtColor(packed, out, code);
      } else {
        cv::Mat full;  // odd width: the stored row has one pixel more
        cv::cvtColor(packed, full, code);
        full(cv::Rect(0, 0, w, h)).copyTo(out);
      }
      return true;
    }
    case PixelFormat::I420:
    case PixelFormat::Nv12: {
      const bool nv12 = format.pixelFormat == PixelFormat::Nv12;
      const bool evenSize = w % 2 == 0 && h % 2 == 0;
      if (nv12 && evenSize) {
        cv::cvtColorTwoPlane(packed, planeView(format, base, 1), out, cv::COLOR_YUV2BGR_NV12);
        return true;
      }
      const auto& p = format.planes;
      const std::uint64_t lumaBytes = std::uint64_t(w) * h;
      const bool contiguous = evenSize && p[0].stride == std::uint32_t(w) && p[1].offset == lumaBytes &&
                              p[1].stride == std::uint32_t(w / 2) && p[2].offset == lumaBytes * 5 / 4;
      const int code = nv12 ? cv::COLOR_YUV2BGR_NV12 : cv::COLOR_YUV2BGR_I420;
      if (contiguous) {
        cv::cvtColor(cv::Mat(h * 3 / 2, w, CV_8UC1, base), out, code);
        return true;
      }
      cv::Mat buffer, full;
      detail::packYuv420(format, data.data(), buffer);
      cv::cvtColor(buffer, full, code);
      if (evenSize)
        out = full;
      else
        full(cv::Rect(0, 0, w, h)).copyTo(out);
      return true;
    }
  }
  return false;
}

// Converts a received frame to BGR (see above). Check frame.intact() afterwards.
// Returns false only for a frame whose data does not hold its format.
[[nodiscard]] inline bool toBgr(const Frame& frame, cv::Mat& out) {
  return toBgr(frame.format(), frame.data(), out);
}

// Converts the BGR image `bgr` (of the format's size) into a frame laid out as
// `format` in `frame`, e.g. a producer's slot. Packed RGB formats, GRAY8 and
// even-sized unpadded I420 are written by OpenCV straight into the frame;
// the other YUV formats go through one I420 image in `scratch`.
// Returns false (writing nothing) if `bgr` is not 8-bit BGR of the format's size.
[[nodiscard]] inline bool fromBgr(const cv::Mat& bgr, const FrameFormat& format, std::span<std::byte> frame,
                                  cv::Mat& scratch) {
  const int w = static_cast<int>(format.width), h = static_cast<int>(format.height);
  if (bgr.type() != CV_8UC3 || bgr.cols != w || bgr.rows != h || frame.size() < format.frameSize)
    return false;
  cv::Mat target = planeView(format, frame.data(), 0);
  switch (format.pixelFormat) {
    case PixelFormat::Gray8:
      cv::cvtColor(bgr, target, cv::COLOR_BGR2GRAY);
      return true;
    case PixelFormat::Rgb:
      cv::cvtColor(bgr, target, cv::COLOR_BGR2RGB);
      return true;
    case PixelFormat::Bgr:
      bgr.copyTo(target);
      return true;
    case PixelFormat::Rgba:
      cv::cvtColor(bgr, target, cv::COLOR_BGR2RGBA);
      return true;
    case PixelFormat::Bgra:
    case PixelFormat::Bgrx:
      cv::cvtColor(bgr, target, cv::COLOR_BGR2BGRA);
      return true;
    default:
      break;
  }
  const auto& p = format.planes;
  const std::uint64_t lumaBytes = std::uint64_t(w) * h;
  if (format.pixelFormat == PixelFormat::I420 && w % 2 == 0 && h % 2 == 0 &&
      p[0].stride == std::uint32_t(w) && p[1].offset == lumaBytes && p[1].stride == std::uint32_t(w / 2) &&
      p[2].offset == lumaBytes * 5 / 4) {
    cv::Mat whole(h * 3 / 2, w, CV_8UC1, frame.data());
    cv::cvtColor(bgr, whole, cv::COLOR_BGR2YUV_I420);
    return true;
  }

  detail::bgrToI420(bgr, scratch);
  const int w2 = static_cast<int>(detail::even(format.width)),
            h2 = static_cast<int>(detail::even(format.height));
  const cv::Mat luma = scratch.rowRange(0, h2);
  // OpenCV stores each chroma plane unpadded: (w2/2) bytes per row, h2/2 rows.
  const auto* chromaBase = scratch.ptr<std::uint8_t>(h2);
  const cv::Mat u(h2 / 2, w2 / 2, CV_8UC1, const_cast<std::uint8_t*>(chromaBase));
  const cv::Mat v(h2 / 2, w2 / 2, CV_8UC1, const_cast<std::uint8_t*>(chromaBase) + (w2 / 2) * (h2 / 2));
  switch (format.pixelFormat) {
    case PixelFormat::I420:
      luma(cv::Rect(0, 0, w, h)).copyTo(target);
      u.copyTo(planeView(format, frame.data(), 1));
      v.copyTo(planeView(format, frame.data(), 2));
      return true;
    case PixelFormat::Nv12: {
      luma(cv::Rect(0, 0, w, h)).copyTo(target);
      cv::Mat uv = planeView(format, frame.data(), 1);
      const cv::Mat channels[] = {u, v};
      cv::merge(channels, 2, uv);
      return true;
    }
    case PixelFormat::Yuy2:
    case PixelFormat::Uyvy: {
      // 4:2:2 from 4:2:0: each chroma row serves two luma rows.
      const bool yuy2 = format.pixelFormat == PixelFormat::Yuy2;
      for (int y = 0; y < h; ++y) {
        const auto* yRow = luma.ptr<std::uint8_t>(y);
        const auto* uRow = u.ptr<std::uint8_t>(y / 2);
        const auto* vRow = v.ptr<std::uint8_t>(y / 2);
        auto* out = target.ptr<std::uint8_t>(y);
        for (int x = 0; x < w2 / 2; ++x, out += 4) {
          const std::uint8_t y0 = yRow[2 * x], y1 = yRow[2 * x + 1];
          if (yuy2) {
            out[0] = y0, out[1] = uRow[x], out[2] = y1, out[3] = vRow[x];
          } else {
            out[0] = uRow[x], out[1] = y0, out[2] = vRow[x], out[3] = y1;
          }
        }
      }
      return true;
    }
    default:
      return false;
  }
}

// Converts `bgr` into a producer's slot (see above).
[[nodiscard]] inline bool fromBgr(const cv::Mat& bgr, const FrameFormat& format, const WriteSlot& slot,
                                  cv::Mat& scratch) {
  return fromBgr(bgr, format, slot.data(), scratch);
}

}  // namespace frameshm::opencv
