// SPDX-License-Identifier: LGPL-2.1-or-later
// The C API (frameshm/frameshm.h): frames cross between a C program
// (tests/c/c_feed.c, built as C11 against the header alone) and the C++ API
// in both directions, and every error path gives its status and a message.
#include <frameshm/frameshm.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "frameshm/consumer.hpp"
#include "frameshm/producer.hpp"
#include "test_support.hpp"

namespace {

using frameshm::test::Child;
using frameshm::test::FeedGuard;
using frameshm::test::uniqueFeed;

// The same as c_feed.c's pattern_byte.
unsigned char patternByte(std::uint64_t number, std::size_t offset) {
  return static_cast<unsigned char>((number * 31u + offset * 7u + (offset >> 8)) & 0xffu);
}

std::size_t mismatches(std::span<const std::byte> data, std::uint64_t number) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < data.size(); ++i)
    bad += static_cast<unsigned char>(data[i]) != patternByte(number, i);
  return bad;
}

}  // namespace

TEST_CASE("frames a C producer publishes reach a C++ consumer byte for byte, in every format") {
  for (const auto pixelFormat : frameshm::allPixelFormats()) {
    const std::string name(frameshm::toString(pixelFormat));
    DYNAMIC_SECTION(name) {
      const auto feed = uniqueFeed("c-to-cpp");
      FeedGuard guard(feed);
      auto producer = Child::spawn({FRAMESHM_C_FEED, "produce", feed, name, "322", "242", "60"});
      auto consumer = frameshm::Consumer::open({.feed = feed, .openTimeout = std::chrono::seconds(5)});
      REQUIRE(consumer);
      CHECK(consumer->format().pixelFormat == pixelFormat);
      std::uint64_t intact = 0, first = 0, last = 0;
      while (last < 60) {
        auto frame = consumer->waitFrame(std::chrono::seconds(3));
        if (!frame) {
          CHECK(frame.error().code == frameshm::ErrorCode::FeedEnded);
          break;
        }
        const auto wrong = mismatches(frame->data(), frame->number());
        const auto pts = frame->meta().pts;
        if (frame->intact()) {
          CHECK(wrong == 0);
          CHECK(pts == static_cast<std::int64_t>(frame->number()) * 1000);
          ++intact;
        }
        if (first == 0) first = frame->number();
        last = frame->number();
      }
      CHECK(producer.wait(std::chrono::seconds(10)) == 0);
      CHECK(intact > 0);
      // Every frame from the first one this consumer saw is read or counted
      // missed (a consumer that attaches late never saw the ones before).
      CHECK(consumer->stats().framesRead + consumer->stats().framesDropped == last - first + 1);
    }
  }
}

TEST_CASE("frames a C++ producer publishes reach a C consumer byte for byte") {
  const auto feed = uniqueFeed("cpp-to-c");
  FeedGuard guard(feed);
  auto format = frameshm::makeFormat(frameshm::PixelFormat::I420, 640, 480, {60, 1});
  REQUIRE(format);
  auto producer = frameshm::Producer::create({.feed = feed, .format = *format, .slots = 4});
  REQUIRE(producer);
  frameshm::test::TempDir dir;
  auto consumer =
      Child::spawn({FRAMESHM_C_FEED, "consume", feed, "100"}, {}, dir.file("out"), dir.file("err"));
  for (int i = 0; i < 500 && producer->readerCount() == 0; ++i) usleep(10'000);
  REQUIRE(producer->readerCount() == 1);
  std::vector<std::byte> frame(format->frameSize);
  for (std::uint64_t n = 1; n <= 100; ++n) {
    for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = std::byte{patternByte(n, i)};
    REQUIRE(producer->write(frame, {.pts = static_cast<std::int64_t>(n) * 1000}));
    usleep(2'000);
  }
  producer->end();
  CHECK(consumer.wait(std::chrono::seconds(10)) == 0);
  const auto out = frameshm::test::readFile(dir.file("out"));
  INFO(out << frameshm::test::readFile(dir.file("err")));
  CHECK(out.find("bad=0 ") != std::string::npos);
  CHECK(out.find("frames=0 ") == std::string::npos);
}

TEST_CASE("C API calls that fail return their status and a message saying what is wrong") {
  SECTION("a feed that does not exist") {
    frameshm_consumer_options options;
    frameshm_consumer_options_init(&options);
    const auto feed = uniqueFeed("c-missing");
    options.feed = feed.c_str();
    frameshm_consumer* consumer = reinterpret_cast<frameshm_consumer*>(1);
    CHECK(frameshm_consumer_open(&options, &consumer) == FRAMESHM_NOT_FOUND);
    CHECK(consumer == nullptr);
    CHECK(std::string(frameshm_last_error()).find(feed) != std::string::npos);
    CHECK(std::string(frameshm_status_name(FRAMESHM_NOT_FOUND)) == "not-found");
  }
  SECTION("a bad feed name, NULL arguments, a bad format") {
    frameshm_consumer_options options;
    frameshm_consumer_options_init(&options);
    options.feed = "bad/name";
    frameshm_consumer* consumer = nullptr;
    CHECK(frameshm_consumer_open(&options, &consumer) == FRAMESHM_INVALID_FEED_NAME);
    CHECK(frameshm_consumer_open(nullptr, &consumer) == FRAMESHM_INVALID_ARGUMENT);
    CHECK(std::strlen(frameshm_last_error()) > 0);
    frameshm_format* format = nullptr;
    CHECK(frameshm_format_create(FRAMESHM_PIXEL_FORMAT_BGR, 0, 480, 30, 1, &format) ==
          FRAMESHM_UNSUPPORTED_FORMAT);
    CHECK(frameshm_format_create(static_cast<frameshm_pixel_format>(99), 640, 480, 30, 1, &format) ==
          FRAMESHM_UNSUPPORTED_FORMAT);
    CHECK(frameshm_format_create(FRAMESHM_PIXEL_FORMAT_BGR, 640, 480, 30, 0, &format) ==
          FRAMESHM_INVALID_ARGUMENT);
    CHECK(format == nullptr);
    frameshm_producer_options producerOptions;
    frameshm_producer_options_init(&producerOptions);
    frameshm_producer* producer = nullptr;
    CHECK(frameshm_producer_create(&producerOptions, &producer) == FRAMESHM_INVALID_ARGUMENT);
  }
  SECTION("a producer used out of order, and a frame too large") {
    frameshm_format* format = nullptr;
    REQUIRE(frameshm_format_create(FRAMESHM_PIXEL_FORMAT_GRAY8, 64, 48, 0, 1, &format) == FRAMESHM_OK);
    const auto feed = uniqueFeed("c-order");
    FeedGuard guard(feed);
    frameshm_producer_options options;
    frameshm_producer_options_init(&options);
    options.feed = feed.c_str();
    options.format = format;
    frameshm_producer* producer = nullptr;
    REQUIRE(frameshm_producer_create(&options, &producer) == FRAMESHM_OK);
    frameshm_format_destroy(format);
    CHECK(frameshm_producer_publish(producer, nullptr, nullptr) == FRAMESHM_INVALID_STATE);
    void* data = nullptr;
    size_t size = 0;
    REQUIRE(frameshm_producer_acquire(producer, &data, &size) == FRAMESHM_OK);
    CHECK(size == 64 * 48);
    CHECK(frameshm_producer_acquire(producer, &data, &size) == FRAMESHM_INVALID_STATE);
    frameshm_producer_abandon(producer);
    std::vector<unsigned char> large(64 * 48 + 1);
    CHECK(frameshm_producer_write(producer, large.data(), large.size(), nullptr, nullptr) ==
          FRAMESHM_INVALID_ARGUMENT);
    uint64_t number = 0;
    CHECK(frameshm_producer_write(producer, large.data(), 64 * 48, nullptr, &number) == FRAMESHM_OK);
    CHECK(number == 1);
    frameshm_producer_end(producer);
    CHECK(frameshm_producer_write(producer, large.data(), 64 * 48, nullptr, nullptr) ==
          FRAMESHM_INVALID_STATE);
    frameshm_producer_destroy(producer);
  }
}

TEST_CASE("a C format describes the same layout as the C++ one, plane by plane") {
  for (const auto pixelFormat : frameshm::allPixelFormats()) {
    auto cpp = frameshm::makeFormat(pixelFormat, 641, 359, {25, 1});
    REQUIRE(cpp);
    frameshm_format* c = nullptr;
    REQUIRE(frameshm_format_create(static_cast<frameshm_pixel_format>(pixelFormat), 641, 359, 25, 1, &c) ==
            FRAMESHM_OK);
    CHECK(frameshm_pixel_format_from_name(frameshm_pixel_format_name(frameshm_format_pixel_format(c))) ==
          static_cast<frameshm_pixel_format>(pixelFormat));
    CHECK(frameshm_format_frame_size(c) == cpp->frameSize);
    REQUIRE(frameshm_format_plane_count(c) == cpp->planeCount);
    for (std::uint32_t p = 0; p < cpp->planeCount; ++p) {
      CHECK(frameshm_format_plane_stride(c, p) == cpp->planes[p].stride);
      CHECK(frameshm_format_plane_offset(c, p) == cpp->planes[p].offset);
      CHECK(frameshm_format_plane_height(c, p) == cpp->planeHeight(p));
    }
    CHECK(frameshm_format_plane_stride(c, cpp->planeCount) == 0);
    frameshm_format_destroy(c);
  }
  CHECK(frameshm_pixel_format_from_name("nv12") == FRAMESHM_PIXEL_FORMAT_NV12);
  CHECK(frameshm_pixel_format_from_name("P010") == FRAMESHM_PIXEL_FORMAT_UNKNOWN);
  CHECK(frameshm_pixel_format_name(FRAMESHM_PIXEL_FORMAT_UNKNOWN) == nullptr);
}

TEST_CASE("metadata set through the C API reaches a C consumer, in order with sequential delivery") {
  frameshm_format* format = nullptr;
  REQUIRE(frameshm_format_create(FRAMESHM_PIXEL_FORMAT_GRAY8, 32, 8, 60, 1, &format) == FRAMESHM_OK);
  const auto feed = uniqueFeed("c-meta");
  FeedGuard guard(feed);
  frameshm_producer_options options;
  frameshm_producer_options_init(&options);
  CHECK(options.metadata_bytes == 4096);
  options.feed = feed.c_str();
  options.format = format;
  options.slots = 5;
  options.metadata_bytes = 128;
  frameshm_producer* producer = nullptr;
  REQUIRE(frameshm_producer_create(&options, &producer) == FRAMESHM_OK);
  frameshm_format_destroy(format);

  frameshm_consumer_options consumerOptions;
  frameshm_consumer_options_init(&consumerOptions);
  CHECK(consumerOptions.delivery == FRAMESHM_DELIVERY_LATEST);
  consumerOptions.feed = feed.c_str();
  consumerOptions.delivery = FRAMESHM_DELIVERY_SEQUENTIAL;
  frameshm_consumer* consumer = nullptr;
  REQUIRE(frameshm_consumer_open(&consumerOptions, &consumer) == FRAMESHM_OK);

  frameshm_metadata* m = nullptr;
  REQUIRE(frameshm_metadata_create(&m) == FRAMESHM_OK);
  const unsigned char blob[] = {1, 2, 3};
  REQUIRE(frameshm_metadata_set_string(m, "camera", "cam-17") == FRAMESHM_OK);
  REQUIRE(frameshm_metadata_set_double(m, "gain-db", 2.5) == FRAMESHM_OK);
  REQUIRE(frameshm_metadata_set_bytes(m, "blob", blob, sizeof blob) == FRAMESHM_OK);
  REQUIRE(frameshm_metadata_set_timestamp(m, "timestamp/x-ptp", 123456789, -1) == FRAMESHM_OK);
  CHECK(frameshm_metadata_set_int(m, "", 1) == FRAMESHM_INVALID_ARGUMENT);
  // Three frames, each with its own number; the reader then takes them in order.
  std::vector<unsigned char> pixels(32 * 8);
  for (int64_t n = 1; n <= 3; ++n) {
    REQUIRE(frameshm_metadata_set_int(m, "n", n) == FRAMESHM_OK);
    if (n == 2) {
      void* data = nullptr;
      REQUIRE(frameshm_producer_acquire(producer, &data, nullptr) == FRAMESHM_OK);
      REQUIRE(frameshm_producer_set_metadata(producer, m) == FRAMESHM_OK);
      REQUIRE(frameshm_producer_publish(producer, nullptr, nullptr) == FRAMESHM_OK);
    } else {
      REQUIRE(frameshm_producer_write_with_metadata(producer, pixels.data(), pixels.size(), nullptr, m,
                                                    nullptr) == FRAMESHM_OK);
    }
    if (n == 1) {  // a sequential reader starts at the newest frame; then it goes in order
      frameshm_frame* first = nullptr;
      REQUIRE(frameshm_consumer_try_frame(consumer, &first) == FRAMESHM_OK);
      frameshm_frame_release(first);
    }
  }
  for (int64_t n = 2; n <= 3; ++n) {
    frameshm_frame* frame = nullptr;
    REQUIRE(frameshm_consumer_try_frame(consumer, &frame) == FRAMESHM_OK);
    CHECK(frameshm_frame_number(frame) == static_cast<uint64_t>(n));
    frameshm_metadata* got = nullptr;
    REQUIRE(frameshm_frame_metadata(frame, &got) == FRAMESHM_OK);
    CHECK(frameshm_metadata_count(got) == 5);
    int64_t number = 0;
    REQUIRE(frameshm_metadata_get_int(got, "n", &number) == FRAMESHM_OK);
    CHECK(number == n);
    double gain = 0;
    REQUIRE(frameshm_metadata_get_double(got, "gain-db", &gain) == FRAMESHM_OK);
    CHECK(gain == 2.5);
    int64_t ns = 0, duration = 0;
    REQUIRE(frameshm_metadata_get_timestamp(got, "timestamp/x-ptp", &ns, &duration) == FRAMESHM_OK);
    CHECK(ns == 123456789);
    CHECK(duration == -1);
    const char* key = nullptr;
    frameshm_meta_type type = FRAMESHM_META_INT;
    const void* value = nullptr;
    size_t size = 0;
    REQUIRE(frameshm_metadata_entry(got, 0, &key, &type, &value, &size) == FRAMESHM_OK);
    CHECK(std::string(key) == "camera");
    CHECK(type == FRAMESHM_META_STRING);
    CHECK(std::string(static_cast<const char*>(value), size) == "cam-17");
    CHECK(frameshm_metadata_entry(got, 5, &key, &type, &value, &size) == FRAMESHM_INVALID_ARGUMENT);
    CHECK(frameshm_metadata_get_int(got, "missing", &number) == FRAMESHM_NOT_FOUND);
    CHECK(frameshm_metadata_get_int(got, "camera", &number) == FRAMESHM_INVALID_ARGUMENT);
    frameshm_metadata_destroy(got);
    frameshm_frame_release(frame);
  }
  frameshm_reader_stats stats;
  frameshm_consumer_stats(consumer, &stats);
  CHECK(stats.frames_dropped == 0);

  // Too much for 128 bytes a frame: refused, nothing published.
  REQUIRE(frameshm_metadata_set_string(m, "big", std::string(200, 'x').c_str()) == FRAMESHM_OK);
  CHECK(frameshm_producer_write_with_metadata(producer, pixels.data(), pixels.size(), nullptr, m, nullptr) ==
        FRAMESHM_INVALID_ARGUMENT);
  CHECK(std::string(frameshm_last_error()).find("does not fit") != std::string::npos);
  CHECK(frameshm_producer_set_metadata(producer, m) == FRAMESHM_INVALID_STATE);  // no slot acquired
  CHECK(frameshm_producer_frames_published(producer) == 3);
  frameshm_metadata_destroy(m);
  frameshm_consumer_destroy(consumer);
  frameshm_producer_destroy(producer);
}
