// SPDX-License-Identifier: LGPL-2.1-or-later
// Publishes one frame and reads it back through the installed headers and library.
#include <frameshm/consumer.hpp>
#include <frameshm/producer.hpp>
#include <frameshm/stamp.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

int main() {
  const std::string feed = "t-install-" + std::to_string(getpid());
  auto format = frameshm::makeFormat(frameshm::PixelFormat::I420, 32, 32, {30, 1});
  auto producer = frameshm::Producer::create({.feed = feed, .format = *format});
  if (!producer) return std::fprintf(stderr, "%s\n", producer.error().message.c_str()), 1;
  auto consumer = frameshm::Consumer::open({.feed = feed});
  if (!consumer) return std::fprintf(stderr, "%s\n", consumer.error().message.c_str()), 1;
  auto slot = producer->acquire();
  frameshm::writeStamp(slot->data(), slot->frameNumber());
  if (!producer->publish(std::move(*slot))) return 1;
  auto frame = consumer->waitFrame(std::chrono::seconds(1));
  if (!frame || frameshm::checkStamp(frame->data()) != frameshm::StampCheck::Ok) return 1;
  std::puts("ok");
  return 0;
}
