// SPDX-License-Identifier: LGPL-2.1-or-later
// Writes the fuzzer's seed corpus: the bytes of real segments made by the
// Producer for a few small formats, before and after frames (some with
// metadata) are published.
//
//   make_seeds tests/fuzz/corpus
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"

namespace {

bool dump(const std::string& feed, const std::string& path) {
  std::ifstream in("/dev/shm/frameshm." + feed, std::ios::binary);
  std::ofstream out(path, std::ios::binary);
  out << in.rdbuf();
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::string feed = "seeds-" + std::to_string(getpid());
  struct Seed {
    frameshm::PixelFormat format;
    std::uint32_t width, height, slots, frames;
  };
  const Seed seeds[] = {
      {frameshm::PixelFormat::Gray8, 16, 16, 3, 0}, {frameshm::PixelFormat::Gray8, 16, 16, 3, 5},
      {frameshm::PixelFormat::I420, 17, 9, 2, 3},   {frameshm::PixelFormat::Nv12, 8, 8, 4, 7},
      {frameshm::PixelFormat::Yuy2, 10, 4, 3, 1},   {frameshm::PixelFormat::Bgrx, 4, 4, 8, 20},
  };
  int n = 0;
  for (const Seed& s : seeds) {
    auto format = frameshm::makeFormat(s.format, s.width, s.height, {30, 1});
    auto producer = frameshm::Producer::create({.feed = feed,
                                                .format = *format,
                                                .slots = s.slots,
                                                .maxReaders = 2,
                                                .caps = "video/x-raw",
                                                .backend = frameshm::Backend::Posix,  // dumped from /dev/shm
                                                .metadataBytes = 256});
    if (!producer) {
      std::fprintf(stderr, "%s\n", producer.error().message.c_str());
      return 1;
    }
    for (std::uint32_t f = 0; f < s.frames; ++f) {
      auto slot = producer->acquire();
      frameshm::writeStamp(slot->data(), slot->frameNumber());
      // Metadata of every type on odd frames, none on even ones.
      frameshm::Metadata m;
      if (slot->frameNumber() % 2 == 1 &&
          (!m.setInt("n", static_cast<std::int64_t>(slot->frameNumber())) || !m.setDouble("gain", 2.5) ||
           !m.setString("camera", "cam0") || !m.setBytes("blob", std::vector<std::byte>(5)) ||
           !m.setTimestamp("timestamp/x-ptp", {.ns = 42}) || !slot->setMetadata(m)))
        return 1;
      (void)producer->publish(std::move(*slot));
    }
    if (!dump(feed, dir + "/seed-" + std::to_string(n++))) return 1;
  }
  return 0;
}
