// SPDX-License-Identifier: LGPL-2.1-or-later
// libFuzzer target: what a reader does with a segment another process wrote.
//
// Each input is the bytes of a whole segment. The target validates its header
// as raw bytes, then puts the bytes into a real shared-memory segment (with a
// live producer lock, so the reader takes it seriously), opens it with the
// Consumer, reads frames in place, and truncates the segment under the reader
// to check that a short segment is refused rather than read past its end.
// Any crash, sanitizer report or hang is a bug in the reader's validation.
//
//   build/fuzz/tests/fuzz/segment_fuzz -max_total_time=600 tests/fuzz/corpus
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "frameshm/consumer.hpp"
#include "frameshm/layout.hpp"
#include "frameshm/segment.hpp"
#include "frameshm/stamp.hpp"

namespace {

constexpr std::uint64_t kMaxFuzzSegment = 16ULL << 20;

void readFrames(frameshm::Consumer& consumer) {
  for (int i = 0; i < 3; ++i) {
    auto frame = consumer.tryFrame();
    if (!frame) return;
    // Touch every byte the reader was handed: all of it must be mapped.
    volatile auto sum = frameshm::checksum(frame->data());
    (void)sum;
    for (std::uint32_t p = 0; p < frame->format().planeCount; ++p) (void)frame->plane(p);
    (void)frame->intact();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace frameshm;
  layout::SegmentHeader header{};
  std::memcpy(&header, data, std::min(size, sizeof header));
  (void)layout::validate(header, size, "fuzz");
  (void)layout::validate(header, header.segmentSize, "fuzz");

  static const std::string feed = "fuzz-" + std::to_string(getpid());
  (void)PosixShmSegment::unlinkFeed(feed);
  auto segment = PosixShmSegment::create(feed, 0600);
  if (!segment) return 0;
  Segment& shm = **segment;
  // Honour the size the header claims when it is small, so valid geometries
  // get past validation and the frame path is reached.
  const std::uint64_t claimed = header.segmentSize <= kMaxFuzzSegment ? header.segmentSize : 0;
  const std::uint64_t total = std::max<std::uint64_t>(size, claimed);
  if (total > 0 && shm.resize(total) && shm.tryLock(layout::kProducerLockByte).value_or(false)) {
    if (auto mapped = shm.map(0, total, Access::ReadWrite)) {
      std::memcpy(mapped->data(), data, size);
      if (auto consumer = Consumer::open({.feed = feed})) {
        readFrames(*consumer);
        // Truncated under a reader that already mapped it: refused, not a SIGBUS.
        if (shm.resize(total / 2)) readFrames(*consumer);
      }
    }
  }
  (void)shm.unlinkName();
  return 0;
}
