// SPDX-License-Identifier: LGPL-2.1-or-later
// Private: frames per second over the last whole second, for a producer's
// publishes and a consumer's deliveries alike.
#pragma once

#include <cstdint>

namespace frameshm::detail {

class RateMeter {
 public:
  // Counts one frame at `nowNs` (CLOCK_MONOTONIC). True when a new rate was
  // computed (once a second).
  bool count(std::int64_t nowNs) noexcept {
    ++frames_;
    if (startNs_ == 0) startNs_ = nowNs;
    const std::int64_t span = nowNs - startNs_;
    if (span < kWindowNs) return false;
    rateHz_ = static_cast<double>(frames_) * 1e9 / static_cast<double>(span);
    startNs_ = nowNs;
    frames_ = 0;
    return true;
  }
  [[nodiscard]] double hz() const noexcept { return rateHz_; }

 private:
  static constexpr std::int64_t kWindowNs = 1'000'000'000;
  std::int64_t startNs_ = 0;
  std::uint64_t frames_ = 0;
  double rateHz_ = 0;
};

}  // namespace frameshm::detail
