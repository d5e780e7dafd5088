// SPDX-License-Identifier: LGPL-2.1-or-later
// For the Python tests: reads a feed with the C++ API (pinned, so frames stay
// intact) and prints "<number> <crc32>" for each frame, the CRC-32 chained
// over every plane's pixel rows (no padding), until the feed ends or
// MAX_FRAMES frames came. The Python side computes the same over its arrays.
//   frameshm_py_checksums FEED MAX_FRAMES
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "frameshm/consumer.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: frameshm_py_checksums FEED MAX_FRAMES\n");
    return 2;
  }
  auto consumer = frameshm::Consumer::open({.feed = argv[1], .openTimeout = std::chrono::seconds(10), .pin = true});
  if (!consumer) {
    std::fprintf(stderr, "%s\n", consumer.error().message.c_str());
    return 1;
  }
  const auto maxFrames = std::strtoull(argv[2], nullptr, 10);
  for (unsigned long long n = 0; n < maxFrames;) {
    auto frame = consumer->waitFrame(std::chrono::seconds(5));
    if (!frame) {
      if (frame.error().code == frameshm::ErrorCode::FeedEnded) break;
      std::fprintf(stderr, "%s\n", frame.error().message.c_str());
      return 1;
    }
    const auto& f = frame->format();
    uLong crc = crc32(0L, Z_NULL, 0);
    for (std::uint32_t p = 0; p < f.planeCount; ++p) {
      const auto* plane = reinterpret_cast<const Bytef*>(frame->plane(p));
      for (std::uint32_t row = 0; row < f.planeHeight(p); ++row) {
        crc = crc32(crc, plane + std::size_t{row} * f.planes[p].stride, f.rowBytes(p));
      }
    }
    if (!frame->intact()) continue;
    std::printf("%llu %lu\n", static_cast<unsigned long long>(frame->number()), crc);
    std::fflush(stdout);
    ++n;
  }
  return 0;
}
