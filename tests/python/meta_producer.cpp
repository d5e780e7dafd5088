// SPDX-License-Identifier: LGPL-2.1-or-later
// For the Python tests: a C++ producer that publishes FRAMES Gray8 64x48
// frames as fast as it can over 2 slots, frame n filled with the byte n % 251
// and carrying the metadata {"n": n, "pad": n % 7 x "p"} (so that its size
// changes), once a reader is connected; then it ends the feed.
//   frameshm_py_meta_producer FEED FRAMES
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "frameshm/producer.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: frameshm_py_meta_producer FEED FRAMES\n");
    return 2;
  }
  auto producer = frameshm::Producer::create(
      {.feed = argv[1], .format = *frameshm::makeFormat(frameshm::PixelFormat::Gray8, 64, 48), .slots = 2});
  if (!producer) {
    std::fprintf(stderr, "%s\n", producer.error().message.c_str());
    return 1;
  }
  for (int i = 0; i < 10'000 && producer->readerCount() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto frames = std::strtoull(argv[2], nullptr, 10);
  for (std::uint64_t f = 0; f < frames; ++f) {
    auto slot = producer->acquire();
    if (!slot) return 1;
    const std::uint64_t n = slot->frameNumber();
    std::memset(slot->data().data(), static_cast<int>(n % 251), slot->data().size());
    frameshm::Metadata m;
    if (!m.setInt("n", static_cast<std::int64_t>(n)) || !m.setString("pad", std::string(n % 7, 'p')) ||
        !slot->setMetadata(m) || !producer->publish(std::move(*slot)))
      return 1;
  }
  return 0;
}
