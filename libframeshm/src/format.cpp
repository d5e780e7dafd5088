// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/format.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace frameshm {
namespace {

constexpr std::array kFormats = {
    PixelFormat::Gray8, PixelFormat::Rgb,  PixelFormat::Bgr,  PixelFormat::Rgba,
    PixelFormat::Bgra,  PixelFormat::Bgrx, PixelFormat::I420, PixelFormat::Nv12,
    PixelFormat::Yuy2,  PixelFormat::Uyvy,
};

// Frames larger than this are refused: 16384x16384 RGBA is exactly 1 GiB.
constexpr std::uint64_t kMaxFrameSize = 1ULL << 30;

constexpr std::uint32_t roundUp2(std::uint32_t v) { return (v + 1) & ~1u; }
constexpr std::uint32_t roundUp4(std::uint32_t v) { return (v + 3) & ~3u; }

bool isKnown(std::uint32_t value) {
  return std::ranges::any_of(kFormats,
                             [value](PixelFormat f) { return static_cast<std::uint32_t>(f) == value; });
}

bool hasHalfHeightChroma(PixelFormat format) {
  return format == PixelFormat::I420 || format == PixelFormat::Nv12;
}

}  // namespace

std::span<const PixelFormat> allPixelFormats() noexcept { return kFormats; }

std::string_view toString(PixelFormat format) noexcept {
  switch (format) {
    case PixelFormat::Gray8: return "GRAY8";
    case PixelFormat::Rgb: return "RGB";
    case PixelFormat::Bgr: return "BGR";
    case PixelFormat::Rgba: return "RGBA";
    case PixelFormat::Bgra: return "BGRA";
    case PixelFormat::Bgrx: return "BGRx";
    case PixelFormat::I420: return "I420";
    case PixelFormat::Nv12: return "NV12";
    case PixelFormat::Yuy2: return "YUY2";
    case PixelFormat::Uyvy: return "UYVY";
  }
  return "unknown";
}

std::optional<PixelFormat> parsePixelFormat(std::string_view name) noexcept {
  auto equalNoCase = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (PixelFormat format : kFormats)
    if (equalNoCase(name, toString(format))) return format;
  return std::nullopt;
}

std::uint32_t planeCount(PixelFormat format) noexcept {
  switch (format) {
    case PixelFormat::I420: return 3;
    case PixelFormat::Nv12: return 2;
    default: return 1;
  }
}

std::uint32_t FrameFormat::planeHeight(std::uint32_t plane) const noexcept {
  if (plane > 0 && hasHalfHeightChroma(pixelFormat)) return roundUp2(height) / 2;
  return height;
}

std::uint32_t FrameFormat::rowBytes(std::uint32_t plane) const noexcept {
  switch (pixelFormat) {
    case PixelFormat::Gray8: return width;
    case PixelFormat::Rgb:
    case PixelFormat::Bgr: return width * 3;
    case PixelFormat::Rgba:
    case PixelFormat::Bgra:
    case PixelFormat::Bgrx: return width * 4;
    case PixelFormat::Yuy2:
    case PixelFormat::Uyvy: return roundUp2(width) * 2;
    case PixelFormat::I420: return plane == 0 ? width : roundUp2(width) / 2;
    case PixelFormat::Nv12: return plane == 0 ? width : roundUp2(width);
  }
  return 0;
}

Result<FrameFormat> makeFormat(PixelFormat pixelFormat, std::uint32_t width, std::uint32_t height,
                               Rate rate) {
  if (!isKnown(static_cast<std::uint32_t>(pixelFormat)))
    return fail(ErrorCode::UnsupportedFormat,
                "pixel format " + std::to_string(static_cast<std::uint32_t>(pixelFormat)) +
                    " is not one frameshm supports");
  if (width == 0 || height == 0 || width > kMaxDimension || height > kMaxDimension)
    return fail(ErrorCode::UnsupportedFormat,
                "frame size " + std::to_string(width) + "x" + std::to_string(height) +
                    " is out of range (1..16384 on each side)");
  if (rate.den == 0)
    return fail(ErrorCode::InvalidArgument, "frame rate denominator must not be 0");

  FrameFormat f;
  f.pixelFormat = pixelFormat;
  f.width = width;
  f.height = height;
  f.rate = rate;
  f.planeCount = planeCount(pixelFormat);
  switch (pixelFormat) {
    case PixelFormat::I420: {
      f.planes[0] = {roundUp4(width), 0};
      const std::uint32_t chromaStride = roundUp4(roundUp2(width) / 2);
      const std::uint64_t lumaSize = std::uint64_t{f.planes[0].stride} * roundUp2(height);
      const std::uint64_t chromaSize = std::uint64_t{chromaStride} * (roundUp2(height) / 2);
      f.planes[1] = {chromaStride, lumaSize};
      f.planes[2] = {chromaStride, lumaSize + chromaSize};
      f.frameSize = lumaSize + 2 * chromaSize;
      break;
    }
    case PixelFormat::Nv12: {
      const std::uint32_t stride = roundUp4(width);
      const std::uint64_t lumaSize = std::uint64_t{stride} * roundUp2(height);
      f.planes[0] = {stride, 0};
      f.planes[1] = {stride, lumaSize};
      f.frameSize = lumaSize + std::uint64_t{stride} * (roundUp2(height) / 2);
      break;
    }
    default:
      f.planes[0] = {roundUp4(f.rowBytes(0)), 0};
      f.frameSize = std::uint64_t{f.planes[0].stride} * height;
      break;
  }
  return f;
}

Result<void> validateFormat(const FrameFormat& f) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorCode::UnsupportedFormat, "frame format " + describe(f) + ": " + why);
  };
  if (!isKnown(static_cast<std::uint32_t>(f.pixelFormat)))
    return fail(ErrorCode::UnsupportedFormat,
                "pixel format " + std::to_string(static_cast<std::uint32_t>(f.pixelFormat)) +
                    " is not one frameshm supports");
  if (f.width == 0 || f.height == 0 || f.width > kMaxDimension || f.height > kMaxDimension)
    return bad("size out of range (1..16384 on each side)");
  if (f.planeCount != planeCount(f.pixelFormat))
    return bad("has " + std::to_string(f.planeCount) + " planes, the format has " +
               std::to_string(planeCount(f.pixelFormat)));
  if (f.frameSize == 0 || f.frameSize > kMaxFrameSize) return bad("frame size out of range");
  if (f.rate.den == 0) return bad("frame rate denominator is 0");
  std::uint64_t previousEnd = 0;
  for (std::uint32_t i = 0; i < kMaxPlanes; ++i) {
    const Plane& p = f.planes[i];
    if (i >= f.planeCount) {
      if (p.stride != 0 || p.offset != 0) return bad("unused plane " + std::to_string(i) + " set");
      continue;
    }
    if (p.stride < f.rowBytes(i) || p.stride > kMaxFrameSize)
      return bad("plane " + std::to_string(i) + " stride " + std::to_string(p.stride) +
                 " is shorter than a row (" + std::to_string(f.rowBytes(i)) + " bytes)");
    if (p.offset < previousEnd || p.offset > f.frameSize)
      return bad("plane " + std::to_string(i) + " offset overlaps the plane before or is past the frame");
    const std::uint64_t end = p.offset + std::uint64_t{p.stride} * (f.planeHeight(i) - 1) + f.rowBytes(i);
    if (end > f.frameSize)
      return bad("plane " + std::to_string(i) + " ends past the frame size");
    previousEnd = p.offset + std::uint64_t{p.stride} * f.planeHeight(i);
  }
  return {};
}

std::string describe(const FrameFormat& f) {
  // Appended piece by piece: GCC 12 at -O3 sees a false -Wrestrict in
  // chains of std::string operator+.
  std::string text(toString(f.pixelFormat));
  text.append(" ").append(std::to_string(f.width)).append("x").append(std::to_string(f.height));
  if (f.rate.num != 0) text.append(" @").append(std::to_string(f.rate.num)).append("/").append(std::to_string(f.rate.den));
  return text;
}

}  // namespace frameshm
