// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/stamp.hpp"

#include <cstring>

namespace frameshm {
namespace {

constexpr std::uint64_t kStampMarker = 0x504d415453534d46ULL;  // "FMSSTAMP"
constexpr std::uint64_t kPrime1 = 0x9e3779b185ebca87ULL;
constexpr std::uint64_t kPrime2 = 0xc2b2ae3d27d4eb4fULL;

constexpr std::uint64_t rotl(std::uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }

constexpr std::uint64_t round(std::uint64_t acc, std::uint64_t lane) {
  return rotl(acc + lane * kPrime2, 31) * kPrime1;
}

std::uint64_t load64(const std::byte* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

std::uint64_t checksum(std::span<const std::byte> bytes) noexcept {
  // Four independent lanes keep the loop at memory speed.
  std::uint64_t a = kPrime1, b = kPrime2, c = 1, d = bytes.size();
  const std::byte* p = bytes.data();
  std::size_t n = bytes.size();
  for (; n >= 32; p += 32, n -= 32) {
    a = round(a, load64(p));
    b = round(b, load64(p + 8));
    c = round(c, load64(p + 16));
    d = round(d, load64(p + 24));
  }
  std::uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18);
  for (; n >= 8; p += 8, n -= 8) h = round(h, load64(p));
  for (; n > 0; ++p, --n) h = round(h, static_cast<std::uint64_t>(*p));
  h ^= h >> 33;
  h *= kPrime2;
  h ^= h >> 29;
  return h;
}

void writeStamp(std::span<std::byte> frame, std::uint64_t frameNumber) noexcept {
  if (frame.size() < kStampSize) return;
  const std::uint64_t sum = checksum(frame.subspan(kStampSize)) ^ frameNumber;
  std::memcpy(frame.data(), &kStampMarker, 8);
  std::memcpy(frame.data() + 8, &frameNumber, 8);
  std::memcpy(frame.data() + 16, &sum, 8);
}

StampCheck checkStamp(std::span<const std::byte> frame) noexcept {
  auto number = stampedNumber(frame);
  if (!number) return StampCheck::Missing;
  const std::uint64_t expected = checksum(frame.subspan(kStampSize)) ^ *number;
  return load64(frame.data() + 16) == expected ? StampCheck::Ok : StampCheck::BadChecksum;
}

std::optional<std::uint64_t> stampedNumber(std::span<const std::byte> frame) noexcept {
  if (frame.size() < kStampSize || load64(frame.data()) != kStampMarker) return std::nullopt;
  return load64(frame.data() + 8);
}

}  // namespace frameshm
