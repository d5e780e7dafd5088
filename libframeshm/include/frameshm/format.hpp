// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/format.hpp — pixel formats and the geometry of a frame in a slot.
//
// A FrameFormat says how the bytes of one frame are laid out: pixel format,
// size, and for each plane its stride and offset from the frame's start.
// `makeFormat` computes GStreamer's default layout (rows padded to 4 bytes,
// chroma planes of odd sizes rounded up), so a frame is byte-identical to a
// GstVideoFrame of the same caps and can be wrapped without repacking.
//
//   auto format = frameshm::makeFormat(frameshm::PixelFormat::I420, 1920, 1080, {30, 1});
//   // format->frameSize == 3110400, format->planes[1].offset == 2073600
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "frameshm/error.hpp"

namespace frameshm {

// The numeric values are part of the segment ABI (layout.hpp): never renumber.
enum class PixelFormat : std::uint32_t {
  Gray8 = 1,
  Rgb = 2,
  Bgr = 3,
  Rgba = 4,
  Bgra = 5,
  Bgrx = 6,
  I420 = 7,
  Nv12 = 8,
  Yuy2 = 9,
  Uyvy = 10,
};

// Every supported format, in ABI order.
[[nodiscard]] std::span<const PixelFormat> allPixelFormats() noexcept;

// GStreamer's name of the format ("GRAY8", "BGRx", "I420", ...).
[[nodiscard]] std::string_view toString(PixelFormat format) noexcept;

// The format named `name` (GStreamer's spelling, case-insensitive), or nullopt.
[[nodiscard]] std::optional<PixelFormat> parsePixelFormat(std::string_view name) noexcept;

// Number of planes the format has (1 for packed formats).
[[nodiscard]] std::uint32_t planeCount(PixelFormat format) noexcept;

inline constexpr std::uint32_t kMaxPlanes = 4;
inline constexpr std::uint32_t kMaxDimension = 16384;

struct Plane {
  std::uint32_t stride = 0;  // bytes from one row to the next
  std::uint64_t offset = 0;  // bytes from the frame's start to the plane's first row
  friend bool operator==(const Plane&, const Plane&) = default;
};

struct Rate {
  std::uint32_t num = 0;  // 0/1 means "variable or unknown"
  std::uint32_t den = 1;
  friend bool operator==(const Rate&, const Rate&) = default;
};

struct FrameFormat {
  PixelFormat pixelFormat = PixelFormat::Bgr;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t planeCount = 0;
  std::array<Plane, kMaxPlanes> planes{};
  std::uint64_t frameSize = 0;  // bytes of one whole frame, all planes
  Rate rate{};

  // Rows in plane `plane` (chroma planes of I420 and NV12 have half as many).
  [[nodiscard]] std::uint32_t planeHeight(std::uint32_t plane) const noexcept;
  // Bytes of pixel data in one row of plane `plane`, without padding.
  [[nodiscard]] std::uint32_t rowBytes(std::uint32_t plane) const noexcept;

  friend bool operator==(const FrameFormat&, const FrameFormat&) = default;
};

// The default layout of a `width`x`height` frame in `format`.
// Errors: UnsupportedFormat for a zero or larger than 16384 dimension.
[[nodiscard]] Result<FrameFormat> makeFormat(PixelFormat format, std::uint32_t width,
                                             std::uint32_t height, Rate rate = {});

// Checks a format that did not come from makeFormat (custom strides, or read
// from a segment): planes in order, each row long enough, every plane inside
// frameSize. Errors: UnsupportedFormat saying which rule is broken.
[[nodiscard]] Result<void> validateFormat(const FrameFormat& format);

// "I420 1920x1080 @30/1", for messages.
[[nodiscard]] std::string describe(const FrameFormat& format);

}  // namespace frameshm
