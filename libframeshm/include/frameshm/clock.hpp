// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/clock.hpp — the clock frameshm stamps frames with.
//
// Capture and publish times in a segment are CLOCK_MONOTONIC nanoseconds, the
// same clock in every process of the machine, so a consumer can subtract a
// producer's timestamp from its own.
//
//   auto latencyNs = frameshm::monotonicNs() - frame.meta().captureNs;
#pragma once

#include <cstdint>

namespace frameshm {

// CLOCK_MONOTONIC now, in nanoseconds.
[[nodiscard]] std::int64_t monotonicNs() noexcept;

// CLOCK_REALTIME now, in nanoseconds since the epoch.
[[nodiscard]] std::int64_t realtimeNs() noexcept;

}  // namespace frameshm
