// SPDX-License-Identifier: LGPL-2.1-or-later
#include <catch2/catch.hpp>

#include <vector>

#include "frameshm/stamp.hpp"

using namespace frameshm;

TEST_CASE("a stamped frame checks out and carries its number") {
  std::vector<std::byte> frame(1000);
  for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<std::byte>(i * 7);
  writeStamp(frame, 77);
  CHECK(checkStamp(frame) == StampCheck::Ok);
  CHECK(stampedNumber(frame) == 77u);
}

TEST_CASE("any changed byte after the stamp fails the check") {
  std::vector<std::byte> frame(4096, std::byte{3});
  writeStamp(frame, 5);
  for (std::size_t at : {kStampSize, std::size_t{100}, frame.size() - 1}) {
    auto copy = frame;
    copy[at] ^= std::byte{1};
    CHECK(checkStamp(copy) == StampCheck::BadChecksum);
  }
  auto renumbered = frame;
  renumbered[8] ^= std::byte{1};  // the frame number is covered too
  CHECK(checkStamp(renumbered) == StampCheck::BadChecksum);
}

TEST_CASE("frames without a stamp, or too short for one, are reported missing") {
  std::vector<std::byte> blank(64);
  CHECK(checkStamp(blank) == StampCheck::Missing);
  CHECK_FALSE(stampedNumber(blank));
  std::vector<std::byte> tiny(kStampSize - 1);
  writeStamp(tiny, 1);
  CHECK(checkStamp(tiny) == StampCheck::Missing);
  CHECK(checkStamp({}) == StampCheck::Missing);
}

TEST_CASE("checksum depends on every byte and on the length") {
  std::vector<std::byte> a(131, std::byte{9});
  const auto base = checksum(a);
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto b = a;
    b[i] = std::byte{10};
    CHECK(checksum(b) != base);
  }
  CHECK(checksum(std::span(a).first(130)) != base);
}
