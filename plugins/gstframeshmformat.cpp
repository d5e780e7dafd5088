// SPDX-License-Identifier: LGPL-2.1-or-later
#include "gstframeshmformat.h"

#include <cstring>
#include <limits>

#include "frameshm/clock.hpp"

namespace frameshm::gst {

namespace {

struct FormatPair {
  PixelFormat frameshm;
  GstVideoFormat gst;
};

constexpr FormatPair kFormats[] = {
    {PixelFormat::Gray8, GST_VIDEO_FORMAT_GRAY8}, {PixelFormat::Rgb, GST_VIDEO_FORMAT_RGB},
    {PixelFormat::Bgr, GST_VIDEO_FORMAT_BGR},     {PixelFormat::Rgba, GST_VIDEO_FORMAT_RGBA},
    {PixelFormat::Bgra, GST_VIDEO_FORMAT_BGRA},   {PixelFormat::Bgrx, GST_VIDEO_FORMAT_BGRx},
    {PixelFormat::I420, GST_VIDEO_FORMAT_I420},   {PixelFormat::Nv12, GST_VIDEO_FORMAT_NV12},
    {PixelFormat::Yuy2, GST_VIDEO_FORMAT_YUY2},   {PixelFormat::Uyvy, GST_VIDEO_FORMAT_UYVY},
};

}  // namespace

GstVideoFormat toGstFormat(PixelFormat format) noexcept {
  for (const auto& pair : kFormats)
    if (pair.frameshm == format) return pair.gst;
  return GST_VIDEO_FORMAT_UNKNOWN;
}

std::optional<PixelFormat> fromGstFormat(GstVideoFormat format) noexcept {
  for (const auto& pair : kFormats)
    if (pair.gst == format) return pair.frameshm;
  return std::nullopt;
}

GstCaps* templateCaps() {
  GValue list = G_VALUE_INIT;
  g_value_init(&list, GST_TYPE_LIST);
  for (const auto& pair : kFormats) {
    GValue name = G_VALUE_INIT;
    g_value_init(&name, G_TYPE_STRING);
    g_value_set_string(&name, gst_video_format_to_string(pair.gst));
    gst_value_list_append_and_take_value(&list, &name);
  }
  GstCaps* caps =
      gst_caps_new_simple("video/x-raw", "width", GST_TYPE_INT_RANGE, 1, static_cast<int>(kMaxDimension),
                          "height", GST_TYPE_INT_RANGE, 1, static_cast<int>(kMaxDimension), "framerate",
                          GST_TYPE_FRACTION_RANGE, 0, 1, std::numeric_limits<int>::max(), 1, nullptr);
  gst_caps_set_value(caps, "format", &list);
  g_value_unset(&list);
  return caps;
}

Result<FrameFormat> formatFromInfo(const GstVideoInfo& info) {
  const GstVideoFormat gstFormat = GST_VIDEO_INFO_FORMAT(&info);
  const auto pixelFormat = fromGstFormat(gstFormat);
  if (!pixelFormat)
    return fail(ErrorCode::UnsupportedFormat, std::string("frameshm cannot carry the pixel format ") +
                                                  gst_video_format_to_string(gstFormat) +
                                                  " (it carries GRAY8, RGB, BGR, RGBA, BGRA, BGRx, I420, "
                                                  "NV12, YUY2 and UYVY; put a videoconvert in front)");
  if (GST_VIDEO_INFO_INTERLACE_MODE(&info) == GST_VIDEO_INTERLACE_MODE_ALTERNATE)
    return fail(ErrorCode::UnsupportedFormat,
                "frameshm carries whole frames, not alternate fields (put a deinterlace in front)");
  const int width = GST_VIDEO_INFO_WIDTH(&info);
  const int height = GST_VIDEO_INFO_HEIGHT(&info);
  if (width <= 0 || height <= 0)
    return fail(ErrorCode::UnsupportedFormat,
                "frame size " + std::to_string(width) + "x" + std::to_string(height) + " is not a frame");
  const int fpsN = GST_VIDEO_INFO_FPS_N(&info);
  const int fpsD = GST_VIDEO_INFO_FPS_D(&info);
  const Rate rate = fpsN > 0 && fpsD > 0
                        ? Rate{static_cast<std::uint32_t>(fpsN), static_cast<std::uint32_t>(fpsD)}
                        : Rate{0, 1};
  return makeFormat(*pixelFormat, static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height),
                    rate);
}

FrameFormat withLayoutOf(const FrameFormat& format, const GstVideoInfo& info) {
  FrameFormat laid = format;
  for (std::uint32_t p = 0; p < laid.planeCount; ++p) {
    laid.planes[p].stride = static_cast<std::uint32_t>(GST_VIDEO_INFO_PLANE_STRIDE(&info, p));
    laid.planes[p].offset = GST_VIDEO_INFO_PLANE_OFFSET(&info, p);
  }
  laid.frameSize = GST_VIDEO_INFO_SIZE(&info);
  return laid;
}

bool sameLayout(const FrameFormat& a, const FrameFormat& b) noexcept {
  if (a.pixelFormat != b.pixelFormat || a.width != b.width || a.height != b.height ||
      a.planeCount != b.planeCount)
    return false;
  for (std::uint32_t p = 0; p < a.planeCount; ++p)
    if (a.planes[p] != b.planes[p]) return false;
  return true;
}

namespace {

using PlanePointers = std::array<const std::byte*, kMaxPlanes>;
using PlaneStrides = std::array<std::uint32_t, kMaxPlanes>;

// Row by row, so that differing strides (padding) on either side are skipped.
void copyPlanes(const FrameFormat& geometry, const PlanePointers& in, const PlaneStrides& inStrides,
                const std::array<std::byte*, kMaxPlanes>& out, const PlaneStrides& outStrides) noexcept {
  for (std::uint32_t p = 0; p < geometry.planeCount; ++p) {
    const std::uint32_t rows = geometry.planeHeight(p);
    const std::uint32_t bytes = geometry.rowBytes(p);
    for (std::uint32_t row = 0; row < rows; ++row)
      std::memcpy(out[p] + std::uint64_t{row} * outStrides[p], in[p] + std::uint64_t{row} * inStrides[p],
                  bytes);
  }
}

}  // namespace

void copyFrame(const std::byte* src, const FrameFormat& from, std::byte* dst,
               const FrameFormat& to) noexcept {
  PlanePointers in{};
  std::array<std::byte*, kMaxPlanes> out{};
  PlaneStrides inStrides{}, outStrides{};
  for (std::uint32_t p = 0; p < to.planeCount; ++p) {
    in[p] = src + from.planes[p].offset;
    inStrides[p] = from.planes[p].stride;
    out[p] = dst + to.planes[p].offset;
    outStrides[p] = to.planes[p].stride;
  }
  copyPlanes(to, in, inStrides, out, outStrides);
}

void copyFrame(const GstVideoFrame& src, std::byte* dst, const FrameFormat& to) noexcept {
  PlanePointers in{};
  std::array<std::byte*, kMaxPlanes> out{};
  PlaneStrides inStrides{}, outStrides{};
  for (std::uint32_t p = 0; p < to.planeCount; ++p) {
    in[p] = static_cast<const std::byte*>(GST_VIDEO_FRAME_PLANE_DATA(&src, p));
    inStrides[p] = static_cast<std::uint32_t>(GST_VIDEO_FRAME_PLANE_STRIDE(&src, p));
    out[p] = dst + to.planes[p].offset;
    outStrides[p] = to.planes[p].stride;
  }
  copyPlanes(to, in, inStrides, out, outStrides);
}

void copyFrame(const std::byte* src, const FrameFormat& from, GstVideoFrame& dst) noexcept {
  PlanePointers in{};
  std::array<std::byte*, kMaxPlanes> out{};
  PlaneStrides inStrides{}, outStrides{};
  for (std::uint32_t p = 0; p < from.planeCount; ++p) {
    in[p] = src + from.planes[p].offset;
    inStrides[p] = from.planes[p].stride;
    out[p] = static_cast<std::byte*>(GST_VIDEO_FRAME_PLANE_DATA(&dst, p));
    outStrides[p] = static_cast<std::uint32_t>(GST_VIDEO_FRAME_PLANE_STRIDE(&dst, p));
  }
  copyPlanes(from, in, inStrides, out, outStrides);
}

GstCaps* capsFromFormat(const FrameFormat& format) {
  GstVideoInfo info;
  gst_video_info_init(&info);
  if (!gst_video_info_set_format(&info, toGstFormat(format.pixelFormat), format.width, format.height))
    return gst_caps_new_empty();
  GST_VIDEO_INFO_FPS_N(&info) = static_cast<int>(format.rate.num);
  GST_VIDEO_INFO_FPS_D(&info) = format.rate.num == 0 ? 1 : static_cast<int>(format.rate.den);
  return gst_video_info_to_caps(&info);
}

GstCaps* capsForFeed(const std::string& capsString, const FrameFormat& format, std::string* why) {
  auto explain = [why](std::string reason) {
    if (why) *why = std::move(reason);
  };
  if (capsString.empty()) {
    explain("the producer wrote no caps");
    return capsFromFormat(format);
  }
  GstCaps* caps = gst_caps_from_string(capsString.c_str());
  GstVideoInfo info;
  if (!caps || !gst_caps_is_fixed(caps) || !gst_video_info_from_caps(&info, caps)) {
    explain("the feed's caps '" + capsString + "' are not fixed raw video caps");
  } else if (GST_VIDEO_INFO_FORMAT(&info) != toGstFormat(format.pixelFormat) ||
             GST_VIDEO_INFO_WIDTH(&info) != static_cast<int>(format.width) ||
             GST_VIDEO_INFO_HEIGHT(&info) != static_cast<int>(format.height)) {
    explain("the feed's caps '" + capsString + "' do not describe its format " + describe(format));
  } else {
    explain({});
    return caps;
  }
  if (caps) gst_caps_unref(caps);
  return capsFromFormat(format);
}

std::int64_t monotonicFromClock(GstElement* element, GstClockTime clockTime) {
  if (!GST_CLOCK_TIME_IS_VALID(clockTime)) return -1;
  GstClock* clock = gst_element_get_clock(element);
  if (!clock) return -1;
  const GstClockTime now = gst_clock_get_time(clock);
  const std::int64_t monotonic = monotonicNs();
  gst_object_unref(clock);
  return monotonic - GST_CLOCK_DIFF(clockTime, now);
}

GstClockTime clockFromMonotonic(GstElement* element, std::int64_t monotonic) {
  if (monotonic < 0) return GST_CLOCK_TIME_NONE;
  GstClock* clock = gst_element_get_clock(element);
  if (!clock) return GST_CLOCK_TIME_NONE;
  const GstClockTime now = gst_clock_get_time(clock);
  const std::int64_t age = monotonicNs() - monotonic;
  gst_object_unref(clock);
  if (age > 0 && static_cast<GstClockTime>(age) > now) return 0;
  return static_cast<GstClockTime>(static_cast<std::int64_t>(now) - age);
}

void getStatsProperty(GstStructure* stats, bool wholeStructure, GValue* value, GParamSpec* pspec) {
  if (wholeStructure) {
    g_value_take_boxed(value, stats);
    return;
  }
  g_value_copy(gst_structure_get_value(stats, g_param_spec_get_name(pspec)), value);
  gst_structure_free(stats);
}

}  // namespace frameshm::gst
