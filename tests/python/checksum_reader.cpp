// SPDX-License-Identifier: LGPL-2.1-or-later
// For the Python tests: reads a feed with the C++ API (pinned, so frames stay
// intact) and prints "<number> <crc32>" for each frame, the CRC-32 chained
// over every plane's pixel rows (no padding), until the feed ends or
// MAX_FRAMES frames came. The Python side computes the same over its arrays.
// With "count" it only counts intact frames and prints, at the end, the
// frames, the drops and its CPU seconds from the first frame on
// (bench/python_bench.py's C++ reference: the work of its Python reader).
//   frameshm_py_checksums FEED MAX_FRAMES [count]
#include <sys/resource.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "frameshm/consumer.hpp"

int main(int argc, char** argv) {
  const bool countOnly = argc == 4 && std::string(argv[3]) == "count";
  if (argc != 3 && !countOnly) {
    std::fprintf(stderr, "usage: frameshm_py_checksums FEED MAX_FRAMES [count]\n");
    return 2;
  }
  auto consumer = frameshm::Consumer::open({.feed = argv[1], .openTimeout = std::chrono::seconds(10), .pin = true});
  if (!consumer) {
    std::fprintf(stderr, "%s\n", consumer.error().message.c_str());
    return 1;
  }
  const auto maxFrames = std::strtoull(argv[2], nullptr, 10);
  unsigned long long n = 0;
  const auto cpuSeconds = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
  };
  double firstCpu = -1;
  while (n < maxFrames) {
    auto frame = consumer->waitFrame(std::chrono::seconds(5));
    if (!frame) {
      if (frame.error().code == frameshm::ErrorCode::FeedEnded) break;
      std::fprintf(stderr, "%s\n", frame.error().message.c_str());
      return 1;
    }
    if (countOnly) {
      if (firstCpu < 0) firstCpu = cpuSeconds();
      n += frame->intact();
      continue;
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
  if (countOnly) {
    std::printf("%llu %llu %.6f\n", n, static_cast<unsigned long long>(consumer->stats().framesDropped),
                firstCpu < 0 ? 0.0 : cpuSeconds() - firstCpu);
  }
  return 0;
}
