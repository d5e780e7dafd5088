// SPDX-License-Identifier: LGPL-2.1-or-later
// A segment written by a buggy or hostile process: the reader must refuse it
// with a clear error, never crash, never read outside its mapping.
//
// Each case starts from a real producer's POSIX segment (so it is served and
// looks alive) and corrupts it through a second, writable mapping, as
// another process of the producer's user could (memfd and SysV readers
// cannot: tests/hardening/hostile_reader_test.cpp).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "frameshm/consumer.hpp"
#include "frameshm/metadata.hpp"
#include "layout.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "test_support.hpp"

using namespace frameshm;
using namespace std::chrono_literals;
using frameshm::test::FeedGuard;
using frameshm::test::uniqueFeed;

namespace {

// The raw bytes of a feed's segment, writable, as a hostile process sees them.
class RawSegment {
 public:
  explicit RawSegment(const std::string& feed) : path_("/dev/shm/frameshm." + feed) {
    fd_ = ::open(path_.c_str(), O_RDWR);
    REQUIRE(fd_ >= 0);
    size_ = static_cast<std::size_t>(lseek(fd_, 0, SEEK_END));
    void* base = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    REQUIRE(base != MAP_FAILED);
    base_ = static_cast<std::byte*>(base);
  }
  ~RawSegment() {
    munmap(base_, size_);
    close(fd_);
  }
  layout::SegmentHeader& header() { return *reinterpret_cast<layout::SegmentHeader*>(base_); }
  layout::SlotHeader& slot(std::uint32_t i) {
    return reinterpret_cast<layout::SlotHeader*>(base_ + header().slotTableOffset)[i];
  }
  std::byte* bytes() { return base_; }
  void truncate(std::size_t size) { REQUIRE(ftruncate(fd_, static_cast<off_t>(size)) == 0); }

 private:
  std::string path_;
  int fd_ = -1;
  std::size_t size_ = 0;
  std::byte* base_ = nullptr;
};

Producer liveProducer(const std::string& feed) {
  // POSIX: the one backend whose frames a process of the same user can open writable.
  auto producer = Producer::create(
      {.feed = feed, .format = *makeFormat(PixelFormat::I420, 64, 48, {30, 1}), .backend = Backend::Posix});
  REQUIRE(producer);
  for (int i = 0; i < 2; ++i) {
    auto slot = producer->acquire();
    REQUIRE(slot);
    writeStamp(slot->data(), slot->frameNumber());
    REQUIRE(producer->publish(std::move(*slot)));
  }
  return std::move(*producer);
}

void requireRefused(const std::string& feed, ErrorCode expected, const char* mentions) {
  auto consumer = Consumer::open({.feed = feed});
  REQUIRE_FALSE(consumer);
  CHECK(consumer.error().code == expected);
  CHECK(consumer.error().message.find(mentions) != std::string::npos);
  CHECK(consumer.error().message.find(feed) != std::string::npos);
}

}  // namespace

TEST_CASE("a segment whose header fields were corrupted is refused with a clear error") {
  const auto feed = uniqueFeed("hostile");
  FeedGuard guard(feed);
  auto producer = liveProducer(feed);
  RawSegment raw(feed);
  auto& h = raw.header();

  SECTION("not a frameshm segment") {
    h.magic = 0x1122334455667788ULL;
    requireRefused(feed, ErrorCode::Corrupt, "magic");
  }
  SECTION("another ABI version") {
    h.abiVersion = 7;
    requireRefused(feed, ErrorCode::AbiMismatch, "has ABI version 7, this library reads 3");
  }
  SECTION("offsets beyond the mapping") {
    h.payloadOffset = h.segmentSize * 4;
    requireRefused(feed, ErrorCode::Corrupt, "offsets");
  }
  SECTION("a control structure of another size") {
    h.controlSize = 4096;
    requireRefused(feed, ErrorCode::Corrupt, "structure sizes");
  }
  SECTION("absurd slot count") {
    h.slotCount = 0xffffffffu;
    requireRefused(feed, ErrorCode::Corrupt, "slot count");
  }
  SECTION("absurd reader count") {
    h.readerCapacity = 100000;
    requireRefused(feed, ErrorCode::Corrupt, "reader count");
  }
  SECTION("a frame larger than its slots") {
    h.format.frameSize = h.slotStride + 1;
    requireRefused(feed, ErrorCode::Corrupt, "corrupt");
  }
  SECTION("a segment size larger than the file") {
    h.segmentSize += 1ULL << 30;
    requireRefused(feed, ErrorCode::Corrupt, "offsets");
  }
}

TEST_CASE("random bytes in the header never crash a reader") {
  const auto feed = uniqueFeed("random");
  FeedGuard guard(feed);
  auto producer = liveProducer(feed);
  RawSegment raw(feed);
  layout::SegmentHeader good;
  std::memcpy(&good, &raw.header(), sizeof good);
  std::mt19937_64 random(12345);
  int refused = 0;
  for (int round = 0; round < 300; ++round) {
    std::memcpy(&raw.header(), &good, sizeof good);
    const int flips = 1 + static_cast<int>(random() % 8);
    for (int i = 0; i < flips; ++i)  // identity and geometry: the part a reader trusts after checking
      raw.bytes()[random() % offsetof(layout::SegmentHeader, state)] = static_cast<std::byte>(random());
    auto consumer = Consumer::open({.feed = feed});
    if (!consumer) {
      ++refused;
      CHECK_FALSE(consumer.error().message.empty());
      continue;
    }
    while (auto frame = consumer->tryFrame()) (void)checksum(frame->data());
  }
  CHECK(refused > 0);
}

TEST_CASE("a newest-slot index outside the slot table is refused at read time") {
  const auto feed = uniqueFeed("latest");
  FeedGuard guard(feed);
  auto producer = liveProducer(feed);
  auto consumer = Consumer::open({.feed = feed});
  REQUIRE(consumer);
  RawSegment raw(feed);
  raw.header().latestSlot = 1000;
  auto frame = consumer->tryFrame();
  REQUIRE_FALSE(frame);
  CHECK(frame.error().code == ErrorCode::Corrupt);
  CHECK(frame.error().message.find("slot") != std::string::npos);
}

TEST_CASE("a payload size larger than the frame is taken as a torn frame, and the reader goes on") {
  const auto feed = uniqueFeed("payload");
  FeedGuard guard(feed);
  auto producer = liveProducer(feed);
  auto consumer = Consumer::open({.feed = feed});
  REQUIRE(consumer);
  RawSegment raw(feed);
  const std::uint32_t latest = raw.header().latestSlot - 1;
  raw.slot(latest).payloadSize = 1ULL << 40;
  auto frame = consumer->tryFrame();
  REQUIRE_FALSE(frame);
  CHECK(frame.error().code == ErrorCode::NoFrame);
  CHECK(consumer->stats().framesTorn == 1);
  auto slot = producer.acquire();
  REQUIRE(slot);
  REQUIRE(producer.publish(std::move(*slot)));
  auto next = consumer->tryFrame();
  REQUIRE(next);
  CHECK(next->number() == 3);
}

TEST_CASE(
    "corrupted metadata lengths in a segment give the reader a clear error, and the frame still comes") {
  const auto feed = uniqueFeed("meta-corrupt");
  FeedGuard guard(feed);
  auto producer = liveProducer(feed);
  RawSegment raw(feed);
  auto publishWithMetadata = [&] {
    Metadata m;
    REQUIRE(m.setString("camera", "cam-17"));
    auto slot = producer.acquire();
    REQUIRE(slot);
    REQUIRE(slot->setMetadata(m));
    REQUIRE(producer.publish(std::move(*slot)));
    return raw.header().latestSlot - 1;
  };
  auto consumer = Consumer::open({.feed = feed});
  REQUIRE(consumer);
  const auto& h = raw.header();

  SECTION("a metadata size over the feed's capacity") {
    raw.slot(publishWithMetadata()).metadataSize = h.metadataCapacity + 1;
    auto frame = consumer->tryFrame();
    REQUIRE(frame);
    CHECK(frame->intact());
    auto metadata = frame->metadata();
    REQUIRE_FALSE(metadata);
    CHECK(metadata.error().code == ErrorCode::Corrupt);
    CHECK_THAT(metadata.error().message, Catch::Contains("claims 4097 bytes of metadata") &&
                                             Catch::Contains("at most 4096") && Catch::Contains(feed));
  }
  SECTION("readInto reports a metadata size over the capacity instead of hiding it") {
    raw.slot(publishWithMetadata()).metadataSize = h.metadataCapacity + 1;
    std::vector<std::byte> buffer(consumer->format().frameSize);
    auto info = consumer->readInto(buffer, 1s);
    REQUIRE_FALSE(info);
    CHECK(info.error().code == ErrorCode::Corrupt);
    CHECK_THAT(info.error().message, Catch::Contains("claims 4097 bytes of metadata"));
  }
  SECTION("an entry whose value length runs past the metadata in use") {
    const std::uint32_t index = publishWithMetadata();
    std::byte* area = raw.bytes() + h.metadataOffset + index * h.metadataStride;
    const std::uint32_t huge = 0xffff'fff0u;
    std::memcpy(area + offsetof(layout::MetaEntryHeader, valueLength), &huge, sizeof huge);
    auto frame = consumer->tryFrame();
    REQUIRE(frame);
    auto metadata = frame->metadata();
    REQUIRE_FALSE(metadata);
    CHECK(metadata.error().code == ErrorCode::Corrupt);
    CHECK_THAT(metadata.error().message, Catch::Contains("entry 0") && Catch::Contains("run past the end"));
  }
  // The reader goes on: the next honest frame's metadata reads.
  publishWithMetadata();
  auto next = consumer->tryFrame();
  REQUIRE(next);
  REQUIRE(next->metadata());
  CHECK(next->metadata()->find("camera")->asString() == "cam-17");
}

TEST_CASE("a segment truncated after the reader mapped it is refused, not read past its end") {
  const auto feed = uniqueFeed("truncate");
  FeedGuard guard(feed);
  auto producer = liveProducer(feed);
  auto consumer = Consumer::open({.feed = feed});
  REQUIRE(consumer);
  {
    RawSegment raw(feed);
    raw.truncate(8192);
  }
  auto frame = consumer->tryFrame();
  REQUIRE_FALSE(frame);
  CHECK(frame.error().code == ErrorCode::Corrupt);
  CHECK(frame.error().message.find("truncated") != std::string::npos);
  auto later = Consumer::open({.feed = feed});
  REQUIRE_FALSE(later);
  CHECK(later.error().code == ErrorCode::Corrupt);
}

TEST_CASE("a POSIX file nobody serves is reported as left behind by a dead producer") {
  const auto feed = uniqueFeed("tiny");
  FeedGuard guard(feed);
  const std::string path = "/dev/shm/frameshm." + feed;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, 100) == 0);
  close(fd);
  auto consumer = Consumer::open({.feed = feed, .openTimeout = 50ms});
  REQUIRE_FALSE(consumer);
  CHECK(consumer.error().code == ErrorCode::ProducerGone);
  CHECK(consumer.error().message.find("which died") != std::string::npos);
}

TEST_CASE("a feed that ends while a consumer attaches is reported as ended, not as one that never appeared") {
  const auto feed = uniqueFeed("endattach");
  FeedGuard guard(feed);
  std::optional<Producer> producer(liveProducer(feed));
  // The state a producer writes first when it ends, before it stops serving.
  RawSegment(feed).header().state = static_cast<std::uint32_t>(FeedState::Ended);
  auto once = Consumer::open({.feed = feed, .openTimeout = 0ms});
  REQUIRE_FALSE(once);
  REQUIRE(once.error().code == ErrorCode::FeedEnded);

  std::optional<Error> refused;
  std::thread opener([&] {
    auto consumer = Consumer::open({.feed = feed, .openTimeout = 2000ms});
    if (!consumer) refused = consumer.error();
  });
  std::this_thread::sleep_for(500ms);
  producer.reset();  // now nobody serves the name
  opener.join();
  REQUIRE(refused.has_value());
  INFO(refused->message);
  CHECK(refused->code == ErrorCode::Timeout);
  CHECK(refused->message.find("ended while this consumer attached") != std::string::npos);
  CHECK(refused->message.find("did not appear") == std::string::npos);
}
