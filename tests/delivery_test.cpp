// SPDX-License-Identifier: LGPL-2.1-or-later
// Delivery policies: a sequential reader (a recorder) gets every frame in
// order while it stays within the ring, and past that skips ahead counting
// what it lost; the producer never waits for it, and a latest reader beside
// it still gets the newest frame.
//
// The stalls are made deterministic: the producer is another process that
// publishes a known number of frames on command while the reader holds its
// frame (commands and acknowledgements go through pipes, never sleeps).
#include <catch2/catch.hpp>

#include <optional>
#include <string>

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

namespace {

constexpr std::uint32_t kSlots = 5;

struct Published {
  std::uint64_t last = 0;              // frame number of the last frame published
  std::uint64_t pinnedOverwrites = 0;  // the producer's count: it never waited, it overwrote
  std::uint32_t readers = 0;
};

// A producer process: publishes `n` stamped frames for each n it is sent, then
// reports; 0 ends it.
class ProducerProcess {
 public:
  explicit ProducerProcess(const std::string& feed) {
    child_.emplace(Child::fork([this, feed] {
      auto producer =
          Producer::create({.feed = feed, .format = *makeFormat(PixelFormat::Gray8, 64, 8), .slots = kSlots});
      if (!producer) return 1;
      Published published;
      while (auto n = commands_.receive(60s)) {
        if (*n < 0) {
          published.readers = producer->readerCount();
          acks_.send(published);
          continue;
        }
        if (*n == 0) return 0;
        for (int i = 0; i < *n; ++i) {
          Metadata m;
          auto slot = producer->acquire();
          if (!slot) return 2;
          writeStamp(slot->data(), slot->frameNumber());
          if (!m.setInt("n", static_cast<std::int64_t>(slot->frameNumber())) || !slot->setMetadata(m))
            return 3;
          auto number = producer->publish(std::move(*slot));
          if (!number) return 4;
          published.last = *number;
        }
        published.pinnedOverwrites = producer->stats().pinnedOverwrites;
        published.readers = producer->readerCount();
        acks_.send(published);
      }
      return 5;
    }));
  }
  ~ProducerProcess() {
    commands_.send(0);
    (void)child_->wait(10s);
  }
  // Publishes `n` frames and returns once they are all published.
  Published publish(int n) {
    commands_.send(n);
    auto ack = acks_.receive(30s);
    REQUIRE(ack);
    return *ack;
  }
  // Waits (hang guard: 10 s) until `count` readers are connected.
  void waitForReaders(std::uint32_t count) {
    for (int i = 0; i < 10'000; ++i) {
      commands_.send(-1);
      auto ack = acks_.receive(10s);
      REQUIRE(ack);
      if (ack->readers >= count) return;
      std::this_thread::sleep_for(1ms);
    }
    FAIL("the producer did not see " << count << " readers");
  }

 private:
  ResultPipe<int> commands_;
  ResultPipe<Published> acks_;
  std::optional<Child> child_;  // after the pipes, which it inherits
};

Consumer open(const std::string& feed, Delivery delivery, bool pin) {
  auto consumer = Consumer::open({.feed = feed, .openTimeout = 10'000ms, .pin = pin, .delivery = delivery});
  REQUIRE(consumer);
  return std::move(*consumer);
}

// The next frame, checked: its pixels and metadata are of its number.
Frame next(Consumer& consumer) {
  auto frame = consumer.waitFrame(10s);
  REQUIRE(frame);
  CHECK(checkStamp(frame->data()) == StampCheck::Ok);
  CHECK(stampedNumber(frame->data()) == frame->number());
  auto metadata = frame->metadata();
  REQUIRE(metadata);
  CHECK(metadata->find("n")->asInt() == static_cast<std::int64_t>(frame->number()));
  return std::move(*frame);
}

}  // namespace

TEST_CASE("a sequential reader that falls behind by no more than slots - 2 frames loses none") {
  const auto feed = uniqueFeed("seq");
  FeedGuard guard(feed);
  ProducerProcess producer(feed);
  const bool pin = GENERATE(false, true);
  auto recorder = open(feed, Delivery::Sequential, pin);
  producer.waitForReaders(1);
  producer.publish(1);
  Frame held = next(recorder);
  REQUIRE(held.number() == 1);

  // Stalls of 1, 2 and 3 frames (3 = 5 slots - 2), 20 times each: while the
  // reader holds its frame, the producer publishes the stall's frames.
  std::uint64_t expected = 2;
  for (int round = 0; round < 20; ++round)
    for (int stall = 1; stall <= static_cast<int>(kSlots) - 2; ++stall) {
      const Published published = producer.publish(stall);
      CHECK(published.pinnedOverwrites == 0);
      for (int i = 0; i < stall; ++i) {
        held = next(recorder);
        CHECK(held.number() == expected);
        CHECK(held.droppedBefore() == 0);
        ++expected;
      }
      CHECK(held.number() == published.last);
    }
  CHECK(recorder.stats().framesDropped == 0);
  CHECK(recorder.stats().framesRead == expected - 1);
  CHECK(recorder.stats().framesTorn == 0);
}

TEST_CASE(
    "a sequential reader that stalls past the ring loses exactly what it could not hold, and counts it") {
  const auto feed = uniqueFeed("seq-lost");
  FeedGuard guard(feed);
  ProducerProcess producer(feed);
  auto recorder = open(feed, Delivery::Sequential, true);
  auto viewer = open(feed, Delivery::Latest, false);
  producer.waitForReaders(2);
  producer.publish(1);
  Frame held = next(recorder);
  REQUIRE(next(viewer).number() == 1);

  // 10 frames while the recorder holds frame 1 pinned: the producer writes
  // the other 4 slots in turn and never waits, so they hold frames 8..11.
  constexpr int kStall = 10;
  const Published published = producer.publish(kStall);
  CHECK(published.last == 1 + kStall);
  CHECK(published.pinnedOverwrites == 0);
  constexpr std::uint64_t kHeld = kSlots - 1;      // slots besides the pinned one
  constexpr std::uint64_t kLost = kStall - kHeld;  // frames 2..7
  // The latest reader beside it is unaffected: it gets the newest frame.
  auto newest = next(viewer);
  CHECK(newest.number() == published.last);
  CHECK(newest.droppedBefore() == kStall - 1);

  held = next(recorder);
  CHECK(held.number() == 2 + kLost);
  CHECK(held.droppedBefore() == kLost);
  for (std::uint64_t n = 3 + kLost; n <= published.last; ++n) {
    held = next(recorder);
    CHECK(held.number() == n);
    CHECK(held.droppedBefore() == 0);
  }
  CHECK(recorder.stats().framesDropped == kLost);
  CHECK(recorder.stats().framesRead == 1 + kHeld);
  CHECK_FALSE(recorder.tryFrame());

  // Then it goes on in order, losing nothing more.
  producer.publish(2);
  CHECK(next(recorder).number() == published.last + 1);
  CHECK(next(recorder).number() == published.last + 2);
  CHECK(recorder.stats().framesDropped == kLost);
}

TEST_CASE("a sequential reader starts at the newest frame when it attaches") {
  const auto feed = uniqueFeed("seq-start");
  FeedGuard guard(feed);
  ProducerProcess producer(feed);
  auto early = open(feed, Delivery::Latest, false);
  producer.waitForReaders(1);
  producer.publish(4);
  auto recorder = open(feed, Delivery::Sequential, false);
  CHECK(recorder.delivery() == Delivery::Sequential);
  CHECK(next(recorder).number() == 4);
  CHECK(recorder.stats().framesDropped == 0);
  producer.publish(1);
  CHECK(next(recorder).number() == 5);
  CHECK(next(early).number() == 5);
}
