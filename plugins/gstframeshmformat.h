// SPDX-License-Identifier: LGPL-2.1-or-later
// gstframeshmformat.h — what frameshmsink and frameshmsrc share: the mapping
// between GStreamer's video formats, caps and clocks and libframeshm's, and
// the reading of their `stats` property.
//
// libframeshm knows nothing of GStreamer, so this is where a GstVideoInfo
// becomes a frameshm::FrameFormat and back, where a frame is repacked when
// the two sides lay out planes differently, and where a pipeline clock time
// becomes a CLOCK_MONOTONIC capture time and back.
//
//   GstVideoInfo info;
//   gst_video_info_from_caps(&info, caps);
//   auto format = frameshm::gst::formatFromInfo(info);
//   if (!format) GST_ERROR("%s", format.error().message.c_str());
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <array>
#include <cstddef>
#include <optional>
#include <string>

#include "frameshm/format.hpp"

namespace frameshm::gst {

// The GStreamer format of a frameshm pixel format.
[[nodiscard]] GstVideoFormat toGstFormat(PixelFormat format) noexcept;

// The frameshm pixel format of a GStreamer one, or nullopt if frameshm cannot carry it.
[[nodiscard]] std::optional<PixelFormat> fromGstFormat(GstVideoFormat format) noexcept;

// The caps both elements' pads accept: video/x-raw in every format frameshm
// carries, any size up to frameshm's limit, any rate. Returns a new reference.
[[nodiscard]] GstCaps* templateCaps();

// The feed format for negotiated video info, in makeFormat's (GStreamer's
// default) layout. Errors: UnsupportedFormat with the reason, for a format,
// size or interlacing frameshm cannot carry.
[[nodiscard]] Result<FrameFormat> formatFromInfo(const GstVideoInfo& info);

// `format`'s geometry with the strides and plane offsets of `info` (what a
// GstVideoFrame of `info` looks like, as a FrameFormat).
[[nodiscard]] FrameFormat withLayoutOf(const FrameFormat& format, const GstVideoInfo& info);

// Whether two formats of the same frame put every plane at the same place.
[[nodiscard]] bool sameLayout(const FrameFormat& a, const FrameFormat& b) noexcept;

// Copies one frame, plane by plane and row by row, from layout `from` to
// layout `to` (same pixel format and size, any strides and offsets).
void copyFrame(const std::byte* src, const FrameFormat& from, std::byte* dst, const FrameFormat& to) noexcept;

// Copies a mapped GstVideoFrame (any strides, planes anywhere) into `dst`,
// laid out as `to` (same pixel format and size).
void copyFrame(const GstVideoFrame& src, std::byte* dst, const FrameFormat& to) noexcept;

// Copies the frame at `src`, laid out as `from`, into a mapped writable
// GstVideoFrame of the same pixel format and size.
void copyFrame(const std::byte* src, const FrameFormat& from, GstVideoFrame& dst) noexcept;

// Caps for a feed whose producer wrote none: format, size and rate from the
// segment. Returns a new reference.
[[nodiscard]] GstCaps* capsFromFormat(const FrameFormat& format);

// The caps a feed carries: its caps string if it parses and describes
// `format`, otherwise capsFromFormat. `why` (if given) says why the string
// was not used. Returns a new reference.
[[nodiscard]] GstCaps* capsForFeed(const std::string& capsString, const FrameFormat& format,
                                   std::string* why = nullptr);

// CLOCK_MONOTONIC at the moment `element`'s clock showed `clockTime`, or -1
// when the element has no clock or the time is unknown.
[[nodiscard]] std::int64_t monotonicFromClock(GstElement* element, GstClockTime clockTime);

// The time `element`'s clock showed at CLOCK_MONOTONIC `monotonic`, or
// GST_CLOCK_TIME_NONE when the element has no clock or the time is unknown.
[[nodiscard]] GstClockTime clockFromMonotonic(GstElement* element, std::int64_t monotonic);

// get_property for the read-only counters of either element, all kept in one
// `stats` structure (taken, freed here): the whole structure for the `stats`
// property, otherwise the field named like the property.
void getStatsProperty(GstStructure* stats, bool wholeStructure, GValue* value, GParamSpec* pspec);

}  // namespace frameshm::gst
