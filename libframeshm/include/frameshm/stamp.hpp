// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/stamp.hpp — a verification stamp carried inside a frame's pixels.
//
// Test producers write a 24-byte stamp at the start of the frame: a marker,
// the frame number, and a checksum of every other byte of the payload. A
// consumer that checks it knows the frame it accepted is exactly the frame
// that was published, byte for byte, and not a mix of two (a torn read).
//
//   frameshm::writeStamp(slot->data(), slot->frameNumber());
//   ...
//   if (frameshm::checkStamp(frame->data()) != frameshm::StampCheck::Ok) ++failures;
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace frameshm {

inline constexpr std::size_t kStampSize = 24;

// A fast 64-bit checksum of `bytes` (not cryptographic).
[[nodiscard]] std::uint64_t checksum(std::span<const std::byte> bytes) noexcept;

// Writes the stamp for `frameNumber` into the first kStampSize bytes of
// `frame`, checksumming the rest. Frames shorter than the stamp are left alone.
void writeStamp(std::span<std::byte> frame, std::uint64_t frameNumber) noexcept;

enum class StampCheck {
  Ok,
  Missing,      // no stamp marker: not a stamped frame, or the marker was damaged
  BadChecksum,  // the payload is not the one the stamp was made for
};

// Checks the stamp of `frame`.
[[nodiscard]] StampCheck checkStamp(std::span<const std::byte> frame) noexcept;

// The frame number in the stamp, if there is a stamp marker.
[[nodiscard]] std::optional<std::uint64_t> stampedNumber(std::span<const std::byte> frame) noexcept;

}  // namespace frameshm
