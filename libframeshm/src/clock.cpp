// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/clock.hpp"

#include <time.h>

namespace frameshm {
namespace {

std::int64_t readClock(clockid_t clock) noexcept {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

std::int64_t monotonicNs() noexcept { return readClock(CLOCK_MONOTONIC); }

std::int64_t realtimeNs() noexcept { return readClock(CLOCK_REALTIME); }

}  // namespace frameshm
