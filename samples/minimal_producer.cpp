// SPDX-License-Identifier: LGPL-2.1-or-later
// minimal_producer — the smallest useful frameshm producer.
//
// Creates a BGR 640x480 feed and draws each frame straight into the shared
// memory slot it will be read from: no frame buffer of its own, no copy.
//
//   frameshm-sample-minimal-producer [FEED [FRAMES]]     (defaults: sample, 300)
//   frameshm-consumer --feed sample --display            # look at it
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <opencv2/imgproc.hpp>
#include <string>
#include <thread>

#include "frameshm/clock.hpp"
#include "frameshm/opencv.hpp"
#include "frameshm/producer.hpp"

int main(int argc, char** argv) {
  const std::string feed = argc > 1 ? argv[1] : "sample";
  const int frames = argc > 2 ? std::atoi(argv[2]) : 300;

  // 1. Describe the frames. makeFormat picks GStreamer's layout (row strides
  //    padded to 4 bytes), so a GStreamer element can use the frames as they are.
  auto format = frameshm::makeFormat(frameshm::PixelFormat::Bgr, 640, 480, {30, 1});
  if (!format) {
    std::fprintf(stderr, "%s\n", format.error().message.c_str());
    return 2;
  }

  // 2. Create the feed: /dev/shm/frameshm.<feed>. This fails (with a message
  //    for the user) if the name is invalid or another producer holds it.
  auto producer = frameshm::Producer::create({.feed = feed, .format = *format});
  if (!producer) {
    std::fprintf(stderr, "%s\n", producer.error().message.c_str());
    return 2;
  }
  std::printf("producing %d frames on feed '%s'\n", frames, feed.c_str());

  for (int i = 0; i < frames; ++i) {
    // 3. Take a free slot. Readers never see it until it is published.
    auto slot = producer->acquire();
    if (!slot) {
      std::fprintf(stderr, "%s\n", slot.error().message.c_str());
      return 1;
    }
    const std::int64_t capturedAt = frameshm::monotonicNs();

    // 4. Wrap the slot in a cv::Mat header (no copy) and draw into it.
    cv::Mat image = frameshm::opencv::view(*slot, producer->format());
    image.setTo(cv::Scalar(i * 3 % 256, 96, 255 - i * 3 % 256));
    const int x = 20 + (i * 5) % (image.cols - 200);
    cv::rectangle(image, cv::Rect(x, 200, 160, 80), cv::Scalar(255, 255, 255), cv::FILLED);
    cv::putText(image, "frame " + std::to_string(i), {30, 60}, cv::FONT_HERSHEY_SIMPLEX, 1.5,
                cv::Scalar(0, 0, 0), 3);

    // 5. Publish: the slot becomes the newest frame and every reader is woken.
    //    captureNs lets consumers measure latency from "capture" to display.
    auto published = producer->publish(std::move(*slot), {.captureNs = capturedAt});
    if (!published) {
      std::fprintf(stderr, "%s\n", published.error().message.c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(33));  // about 30 fps
  }

  // 6. Ending the feed tells readers it is over and removes its name. The
  //    destructor would do the same; being explicit reads better.
  producer->end();
  std::printf("done: %d frames\n", frames);
  return 0;
}
