// SPDX-License-Identifier: LGPL-2.1-or-later
// Per-frame user metadata: its encoding, its bounds on the write side, its
// validation on the read side, and that it always belongs to the frame whose
// pixels it came with.
#include "frameshm/metadata.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "frameshm/consumer.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "test_support.hpp"

using namespace frameshm;
using namespace std::chrono_literals;
using frameshm::test::Child;
using frameshm::test::FeedGuard;
using frameshm::test::ResultPipe;
using frameshm::test::uniqueFeed;
using frameshm::test::waitForReaders;

namespace {

Metadata sample() {
  Metadata m;
  const std::byte blob[] = {std::byte{0}, std::byte{1}, std::byte{0xff}};
  REQUIRE(m.setInt("exposure-us", -8000));
  REQUIRE(m.setDouble("gain-db", 3.25));
  REQUIRE(m.setString("camera", "cam-17"));
  REQUIRE(m.setBytes("blob", blob));
  REQUIRE(m.setTimestamp("timestamp/x-ptp", {.ns = 1'700'000'000'123'456'789, .durationNs = 16'666'667}));
  REQUIRE(m.setBytes("empty", {}));
  return m;
}

FrameFormat smallFormat() {
  return *makeFormat(PixelFormat::Gray8, 16, 16, {60, 1});
}

}  // namespace

TEST_CASE("metadata of every type survives encoding and decoding") {
  SECTION("none") {
    Metadata none;
    CHECK(none.encodedSize() == 0);
    auto back = Metadata::decode({});
    REQUIRE(back);
    CHECK(back->empty());
  }
  SECTION("one") {
    Metadata one;
    REQUIRE(one.setInt("n", 7));
    CHECK(one.encodedSize() == 24);  // 8 header, then 1 key + 8 value padded to 16
    std::vector<std::byte> area(one.encodedSize());
    REQUIRE(one.encode(area) == 24);
    auto back = Metadata::decode(area);
    REQUIRE(back);
    CHECK(*back == one);
    CHECK(back->find("n")->asInt() == 7);
  }
  SECTION("many") {
    const Metadata m = sample();
    std::vector<std::byte> area(m.encodedSize());
    REQUIRE(m.encode(area) == area.size());
    CHECK(area.size() % 8 == 0);
    auto back = Metadata::decode(area);
    REQUIRE(back);
    CHECK(*back == m);
    CHECK(back->find("exposure-us")->asInt() == -8000);
    CHECK(back->find("gain-db")->asDouble() == 3.25);
    CHECK(back->find("camera")->asString() == "cam-17");
    CHECK(back->find("blob")->value.size() == 3);
    CHECK(back->find("timestamp/x-ptp")->asTimestamp() ==
          MetaTimestamp{1'700'000'000'123'456'789, 16'666'667});
    CHECK(back->find("empty")->value.empty());
    CHECK(back->find("camera")->asInt() == std::nullopt);  // wrong type: no value
    CHECK(back->find("missing") == nullptr);
  }
}

TEST_CASE("setting a key again replaces its entry, and bad keys are refused") {
  Metadata m;
  REQUIRE(m.setInt("k", 1));
  REQUIRE(m.setString("k", "two"));
  CHECK(m.size() == 1);
  CHECK(m.find("k")->asString() == "two");
  CHECK(m.erase("k"));
  CHECK_FALSE(m.erase("k"));
  CHECK(m.setInt("", 1).error().code == ErrorCode::InvalidArgument);
  CHECK(m.setInt(std::string(256, 'k'), 1).error().code == ErrorCode::InvalidArgument);
  CHECK(m.setInt(std::string(255, 'k'), 1));
  CHECK(m.setInt(std::string("a\0b", 3), 1).error().code == ErrorCode::InvalidArgument);
}

TEST_CASE("decoding refuses every corrupted length, type and key with a clear error") {
  Metadata m;
  REQUIRE(m.setInt("first", 1));
  REQUIRE(m.setString("second", "value"));
  std::vector<std::byte> area(m.encodedSize());
  REQUIRE(m.encode(area));
  // The second entry's header: after the first (8 + pad8(5 + 8) = 24 bytes).
  constexpr std::size_t second = 24;
  auto put16 = [&](std::size_t at, std::uint16_t v) { std::memcpy(area.data() + at, &v, 2); };
  auto put32 = [&](std::size_t at, std::uint32_t v) { std::memcpy(area.data() + at, &v, 4); };
  auto message = [&] {
    auto result = Metadata::decode(area);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == ErrorCode::Corrupt);
    return result.error().message;
  };

  SECTION("a value length past the end") {
    put32(second + 4, 0xffff'fff0u);
    CHECK_THAT(message(), Catch::Contains("entry 1") && Catch::Contains("run past the end"));
  }
  SECTION("a key length past the end") {
    put16(second, 200);
    CHECK_THAT(message(), Catch::Contains("run past the end"));
  }
  SECTION("an empty key") {
    put16(0, 0);
    CHECK_THAT(message(), Catch::Contains("entry 0") && Catch::Contains("key length 0"));
  }
  SECTION("an unknown type") {
    area[2] = std::byte{9};
    CHECK_THAT(message(), Catch::Contains("type 9 is unknown"));
  }
  SECTION("a fixed-size type of the wrong size") {
    put32(4, 4);
    CHECK_THAT(message(), Catch::Contains("wrong size"));
  }
  SECTION("a reserved byte that is not zero") {
    area[3] = std::byte{1};
    CHECK_THAT(message(), Catch::Contains("reserved"));
  }
  SECTION("a NUL in a key") {
    area[8] = std::byte{0};
    CHECK_THAT(message(), Catch::Contains("NUL"));
  }
  SECTION("a header cut short") {
    area.resize(second + 4);
    CHECK_THAT(message(), Catch::Contains("header runs past the end"));
  }
  SECTION("padding cut short") {
    area.resize(area.size() - 1);
    CHECK_THAT(message(), Catch::Contains("padding runs past the end"));
  }
}

TEST_CASE("a producer's metadata reaches the consumer with its frame") {
  const auto feed = uniqueFeed("meta");
  FeedGuard guard(feed);
  auto producer = Producer::create({.feed = feed, .format = smallFormat(), .slots = 4});
  REQUIRE(producer);
  CHECK(producer->metadataCapacity() == 4096);  // the default
  auto consumer = Consumer::open({.feed = feed});
  REQUIRE(consumer);
  CHECK(consumer->metadataCapacity() == 4096);

  const Metadata m = sample();
  auto slot = producer->acquire();
  REQUIRE(slot);
  CHECK(slot->metadataCapacity() == 4096);
  REQUIRE(slot->setMetadata(m));
  CHECK(slot->metadataSize() == m.encodedSize());
  REQUIRE(producer->publish(std::move(*slot)));
  auto frame = consumer->waitFrame(5s);
  REQUIRE(frame);
  auto got = frame->metadata();
  REQUIRE(got);
  CHECK(*got == m);
  CHECK(frame->intact());

  // A frame published without metadata carries none, even in a slot that had some.
  for (int i = 0; i < 4; ++i) REQUIRE(producer->write(std::vector<std::byte>(256)));
  frame = consumer->waitFrame(5s);
  REQUIRE(frame);
  REQUIRE(frame->metadata());
  CHECK(frame->metadata()->empty());
  CHECK(frame->metadataBytes().empty());

  // write() with metadata, and readInto's copy of it.
  Metadata one;
  REQUIRE(one.setInt("frame-id", 99));
  REQUIRE(producer->write(std::vector<std::byte>(256), {}, one));
  std::vector<std::byte> buffer(256);
  auto info = consumer->readInto(buffer, 5s);
  REQUIRE(info);
  CHECK(Metadata::decode(info->metadata) == one);
}

TEST_CASE("metadata too large for the feed is refused on the write side, never truncated") {
  const auto feed = uniqueFeed("meta-big");
  FeedGuard guard(feed);
  auto producer = Producer::create({.feed = feed, .format = smallFormat(), .metadataBytes = 64});
  REQUIRE(producer);
  Metadata fits;
  REQUIRE(fits.setString("k", std::string(40, 'x')));  // 8 + 41 -> 56 bytes
  Metadata big;
  REQUIRE(big.setString("k", std::string(57, 'x')));  // 8 + 58 -> 72 bytes

  auto slot = producer->acquire();
  REQUIRE(slot);
  REQUIRE(slot->setMetadata(fits));
  auto refused = slot->setMetadata(big);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::InvalidArgument);
  CHECK_THAT(refused.error().message,
             Catch::Contains("metadata of 72 bytes") && Catch::Contains("does not fit the feed's 64 bytes"));
  CHECK(slot->metadataSize() == fits.encodedSize());  // what it had, whole
  REQUIRE(producer->publish(std::move(*slot)));

  // write() publishes nothing when the metadata does not fit.
  auto written = producer->write(std::vector<std::byte>(256), {}, big);
  REQUIRE_FALSE(written);
  CHECK(written.error().code == ErrorCode::InvalidArgument);
  CHECK(producer->stats().framesPublished == 1);

  auto consumer = Consumer::open({.feed = feed});
  REQUIRE(consumer);
  auto frame = consumer->tryFrame();
  REQUIRE(frame);
  CHECK(frame->metadata() == fits);
}

TEST_CASE("a feed made with no metadata bytes carries none, and refuses any") {
  const auto feed = uniqueFeed("meta-none");
  FeedGuard guard(feed);
  auto producer = Producer::create({.feed = feed, .format = smallFormat(), .metadataBytes = 0});
  REQUIRE(producer);
  auto with = Producer::create({.feed = feed + "-with", .format = smallFormat()});
  REQUIRE(with);
  CHECK(producer->segmentSize() < with->segmentSize());
  auto slot = producer->acquire();
  REQUIRE(slot);
  REQUIRE(slot->setMetadata({}));
  Metadata one;
  REQUIRE(one.setInt("n", 1));
  CHECK(slot->setMetadata(one).error().code == ErrorCode::InvalidArgument);
  REQUIRE(producer->publish(std::move(*slot)));
  auto consumer = Consumer::open({.feed = feed});
  REQUIRE(consumer);
  CHECK(consumer->metadataCapacity() == 0);
  auto frame = consumer->tryFrame();
  REQUIRE(frame);
  CHECK(frame->metadata()->empty());
  CHECK(Producer::create({.feed = feed + "-over", .format = smallFormat(), .metadataBytes = (1u << 20) + 1})
            .error()
            .code == ErrorCode::InvalidArgument);
}

namespace {

struct RoundTripReport {
  std::uint64_t delivered = 0;
  std::uint64_t intact = 0;
  std::uint64_t mismatches = 0;  // intact frames whose metadata is not of their pixels
  std::uint64_t badMetadata = 0;
};

// Frame n carries n in its pixels' stamp and in its metadata, and 0..3
// padding entries, so that the metadata's size changes from frame to frame.
Metadata metadataFor(std::uint64_t n) {
  Metadata m;
  (void)m.setInt("n", static_cast<std::int64_t>(n));
  for (std::uint64_t i = 0; i < n % 4; ++i)
    (void)m.setString("pad" + std::to_string(i), std::string(100 * (i + 1), static_cast<char>('a' + n % 26)));
  return m;
}

bool matches(const Metadata& m, std::uint64_t n) {
  return m == metadataFor(n);
}

}  // namespace

TEST_CASE("metadata and pixels always belong to the same frame while the producer overwrites slots") {
  const auto feed = uniqueFeed("meta-race");
  FeedGuard guard(feed);
  ResultPipe<RoundTripReport> pipe;
  auto reader = Child::fork([&] {
    RoundTripReport report;
    auto consumer = Consumer::open({.feed = feed, .openTimeout = 5000ms});
    if (!consumer) return 1;
    while (auto frame = consumer->waitFrame(10s)) {
      ++report.delivered;
      const auto stamped = stampedNumber(frame->data());
      const bool stampOk = checkStamp(frame->data()) == StampCheck::Ok;
      auto metadata = frame->metadata();  // copied with the header: belongs to frame->number()
      if (!frame->intact()) continue;
      ++report.intact;
      if (!metadata) {
        ++report.badMetadata;
        continue;
      }
      if (!stampOk || stamped != frame->number() || !matches(*metadata, frame->number())) ++report.mismatches;
    }
    pipe.send(report);
    return 0;
  });
  // Forked before the producer exists, while this process has no other thread
  // (under TSan a child of a threaded process may not start threads).
  // Few slots and no pins: the producer overwrites the slots readers read.
  auto producer = Producer::create({.feed = feed, .format = smallFormat(), .slots = 2});
  REQUIRE(producer);
  REQUIRE(waitForReaders(*producer, 1, 10s));

  constexpr std::uint64_t kFrames = 1'000'000;
  for (std::uint64_t i = 0; i < kFrames; ++i) {
    auto slot = producer->acquire();
    REQUIRE(slot);
    writeStamp(slot->data(), slot->frameNumber());
    REQUIRE(slot->setMetadata(metadataFor(slot->frameNumber())));
    REQUIRE(producer->publish(std::move(*slot)));
  }
  producer->end();
  auto report = pipe.receive(400s);  // a hang guard: 1M frames take minutes under TSan
  REQUIRE(reader.wait(10s) == 0);
  REQUIRE(report);
  INFO("delivered " << report->delivered << ", intact " << report->intact);
  CHECK(report->intact > 0);
  CHECK(report->badMetadata == 0);
  CHECK(report->mismatches == 0);
}
