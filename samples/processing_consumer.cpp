// SPDX-License-Identifier: LGPL-2.1-or-later
// processing_consumer — a consumer that runs OpenCV on frames in place.
//
// Opens a feed, and for each frame finds edges on a cv::Mat view of the
// shared memory (the input is never copied), then checks that the producer
// did not overwrite the frame meanwhile. Works with any pixel format.
//
//   frameshm-sample-processing-consumer [FEED [FRAMES [EDGES.png]]]   (defaults: sample, 100)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "frameshm/consumer.hpp"
#include "frameshm/opencv.hpp"

int main(int argc, char** argv) {
  const std::string feed = argc > 1 ? argv[1] : "sample";
  const int wanted = argc > 2 ? std::atoi(argv[2]) : 100;
  const std::string output = argc > 3 ? argv[3] : "";

  // 1. Open the feed, waiting up to 5 s for its producer to create it.
  auto consumer = frameshm::Consumer::open({.feed = feed, .openTimeout = std::chrono::seconds(5)});
  if (!consumer) {
    std::fprintf(stderr, "%s\n", consumer.error().message.c_str());
    return 2;
  }

  int processed = 0, torn = 0;
  cv::Mat bgr, gray, edges;
  while (processed < wanted) {
    // 2. Wait for the next frame. The Frame is a read-only view into the segment.
    auto frame = consumer->waitFrame(std::chrono::seconds(2));
    if (!frame) {
      // Timeout, or the feed ended (reported once; waiting again would
      // follow a new producer). A sample just stops here.
      std::fprintf(stderr, "%s\n", frame.error().message.c_str());
      break;
    }

    // 3. A cv::Mat view of the frame: no copy. It is read-only memory, so
    //    every OpenCV call below only reads it. BGR frames are used as they
    //    are; other formats are converted to BGR first.
    if (frame->format().pixelFormat == frameshm::PixelFormat::Bgr) {
      cv::cvtColor(frameshm::opencv::view(*frame), gray, cv::COLOR_BGR2GRAY);
    } else {
      if (!frameshm::opencv::toBgr(*frame, bgr)) continue;
      cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
    }
    cv::Canny(gray, edges, 60, 160);

    // 4. Was the frame overwritten while we read it? Then the result mixes two
    //    frames: drop it. (A slow reader on a feed with few slots sees this.)
    if (!frame->intact()) {
      ++torn;
      continue;
    }
    ++processed;
    if (processed % 30 == 0)
      std::printf("frame %llu: %d edge pixels\n", static_cast<unsigned long long>(frame->number()),
                  cv::countNonZero(edges));
  }

  // 5. The library counts what it saw: frames dropped (we were too slow) and torn.
  const auto stats = consumer->stats();
  std::printf("processed %d frames, %llu dropped, %d torn\n", processed,
              static_cast<unsigned long long>(stats.framesDropped), torn);
  if (!output.empty() && !edges.empty()) cv::imwrite(output, edges);
  return processed == wanted ? 0 : 1;
}
