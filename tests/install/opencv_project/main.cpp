// SPDX-License-Identifier: LGPL-2.1-or-later
// Draws into a slot through the installed frameshm/opencv.hpp and reads the frame back as BGR.
#include <frameshm/consumer.hpp>
#include <frameshm/opencv.hpp>
#include <frameshm/producer.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

int main() {
  const std::string feed = "t-install-opencv-" + std::to_string(getpid());
  auto format = frameshm::makeFormat(frameshm::PixelFormat::Bgr, 32, 16, {30, 1});
  auto producer = frameshm::Producer::create({.feed = feed, .format = *format});
  if (!producer) return std::fprintf(stderr, "%s\n", producer.error().message.c_str()), 1;
  auto consumer = frameshm::Consumer::open({.feed = feed});
  if (!consumer) return std::fprintf(stderr, "%s\n", consumer.error().message.c_str()), 1;
  auto slot = producer->acquire();
  frameshm::opencv::view(*slot, producer->format()).setTo(cv::Scalar(10, 20, 30));
  if (!producer->publish(std::move(*slot))) return 1;
  auto frame = consumer->waitFrame(std::chrono::seconds(1));
  cv::Mat bgr;
  if (!frame || !frameshm::opencv::toBgr(*frame, bgr) || !frame->intact()) return 1;
  if (bgr.size() != cv::Size(32, 16) || bgr.at<cv::Vec3b>(15, 31) != cv::Vec3b(10, 20, 30)) return 1;
  std::puts("ok");
  return 0;
}
