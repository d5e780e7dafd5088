// SPDX-License-Identifier: LGPL-2.1-or-later
// Private: where a plane starts in a frame, for WriteSlot::plane and Frame::plane alike.
#pragma once

#include <cstdint>

#include "frameshm/format.hpp"

namespace frameshm::detail {

// The first byte of `plane` in `frame` laid out as `format`; nullptr for no
// format or a plane it does not have.
template <class Byte>
[[nodiscard]] Byte* planeStart(Byte* frame, const FrameFormat* format, std::uint32_t plane) noexcept {
  if (!format || plane >= format->planeCount) return nullptr;
  return frame + format->planes[plane].offset;
}

}  // namespace frameshm::detail
