// SPDX-License-Identifier: LGPL-2.1-or-later
// Test helper: opens a feed as whatever user runs it and reads one frame.
// Prints the error on failure. Exit: 0 read a frame, 3 permission denied,
// 1 any other error, 2 usage.
#include <chrono>
#include <cstdio>
#include <cstring>

#include "frameshm/consumer.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: open_probe FEED\n");
    return 2;
  }
  auto consumer = frameshm::Consumer::open({.feed = argv[1]});
  if (!consumer) {
    std::fprintf(stderr, "%s\n", consumer.error().message.c_str());
    return consumer.error().code == frameshm::ErrorCode::PermissionDenied ? 3 : 1;
  }
  auto frame = consumer->waitFrame(std::chrono::seconds(2));
  if (!frame) {
    std::fprintf(stderr, "%s\n", frame.error().message.c_str());
    return 1;
  }
  return 0;
}
