// SPDX-License-Identifier: LGPL-2.1-or-later
// libFuzzer target: what a reader does with a segment another process wrote.
//
// Each input is the bytes of a whole segment. The target validates its header
// as raw bytes, then writes the bytes over a live POSIX-backend producer's
// frame memory (so the feed is served and the reader takes it seriously),
// opens it with the Consumer, reads frames in place with their metadata
// (sequentially too), and truncates the file
// under the reader to check that a short one is refused rather than read past
// its end. Any crash, sanitizer report or hang is a bug in the reader's
// validation. (The handshake is fuzzed by handshake_fuzz.cpp.)
//
//   build/fuzz/tests/fuzz/segment_fuzz -max_total_time=600 tests/fuzz/corpus
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "frameshm/consumer.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "layout.hpp"
#include "memory.hpp"

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
    // The user's metadata: every length in it is checked before it is followed.
    if (auto metadata = frame->metadata())
      for (const auto& entry : metadata->entries()) (void)frameshm::checksum(entry.value);
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
  auto producer = Producer::create({.feed = feed,
                                    .format = *makeFormat(PixelFormat::Gray8, 16, 16),
                                    .slots = 2,
                                    .maxReaders = 1,
                                    .backend = Backend::Posix});
  if (!producer) return 0;
  detail::Fd fd(::open(detail::posixShmPath(feed).c_str(), O_RDWR | O_CLOEXEC));
  // Honour the size the header claims when it is small, so valid geometries
  // get past validation and the frame path is reached.
  const std::uint64_t claimed = header.segmentSize <= kMaxFuzzSegment ? header.segmentSize : 0;
  const std::uint64_t total = std::max<std::uint64_t>(size, claimed);
  if (fd && total > 0 && ftruncate(fd.get(), static_cast<off_t>(total)) == 0) {
    void* base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (base != MAP_FAILED) {
      std::memcpy(base, data, size);
      if (auto sequential = Consumer::open({.feed = feed, .delivery = Delivery::Sequential})) {
        readFrames(*sequential);
      }
      if (auto consumer = Consumer::open({.feed = feed})) {
        readFrames(*consumer);
        // Truncated under a reader that already mapped it: refused, not a SIGBUS.
        if (ftruncate(fd.get(), static_cast<off_t>(total / 2)) == 0) readFrames(*consumer);
      }
      munmap(base, total);
    }
  }
  return 0;
}
