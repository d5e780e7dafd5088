// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/frame_meta.hpp — what travels with each frame besides its pixels.
//
// The producer fills a FrameMeta when it publishes; a consumer gets it back
// with the frame. Times are nanoseconds; -1 means "not known".
//
//   producer.publish(std::move(slot), {.captureNs = frameshm::monotonicNs(), .pts = pts});
#pragma once

#include <cstdint>

namespace frameshm {

// Bits of FrameMeta::flags; the values are part of the segment ABI.
enum FrameFlags : std::uint32_t {
  kFlagKeyFrame = 1u << 0,  // no dependency on earlier frames (always true for raw video)
  kFlagDiscont = 1u << 1,   // a discontinuity precedes this frame
  kFlagGap = 1u << 2,       // the frame repeats or stands in for missing data
  kFlagPattern = 1u << 3,   // the payload carries frameshm's verification stamp
};

struct FrameMeta {
  std::int64_t captureNs = -1;  // CLOCK_MONOTONIC at capture; -1: the publish time is used
  std::int64_t pts = -1;        // presentation time, ns
  std::int64_t duration = -1;   // ns
  std::uint32_t flags = 0;      // FrameFlags
  std::uint64_t payloadSize = 0;  // bytes used; 0: the whole frame
};

}  // namespace frameshm
