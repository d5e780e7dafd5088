// SPDX-License-Identifier: LGPL-2.1-or-later
// The producer and consumer API in one process: what each call returns, and
// every error it can give. Behaviour across real processes is in
// multiprocess_test.cpp.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "frameshm/clock.hpp"
#include "frameshm/consumer.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "test_support.hpp"

using namespace frameshm;
using namespace std::chrono_literals;
using frameshm::test::FeedGuard;
using frameshm::test::uniqueFeed;

namespace {

FrameFormat smallFormat(PixelFormat pf = PixelFormat::Bgr, std::uint32_t w = 64, std::uint32_t h = 48) {
  return *makeFormat(pf, w, h, {30, 1});
}

Producer makeProducer(const std::string& feed, std::uint32_t slots = 3, std::uint32_t readers = 16) {
  auto producer = Producer::create({.feed = feed, .format = smallFormat(), .slots = slots, .maxReaders = readers});
  REQUIRE(producer);
  return std::move(*producer);
}

Consumer makeConsumer(const std::string& feed, bool pin = false) {
  auto consumer = Consumer::open({.feed = feed, .pin = pin});
  REQUIRE(consumer);
  return std::move(*consumer);
}

std::uint64_t publishStamped(Producer& producer, const FrameMeta& meta = {}) {
  auto slot = producer.acquire();
  REQUIRE(slot);
  std::memset(slot->data().data(), static_cast<int>(slot->frameNumber() & 0xff), slot->data().size());
  writeStamp(slot->data(), slot->frameNumber());
  auto number = producer.publish(std::move(*slot), meta);
  REQUIRE(number);
  return *number;
}

}  // namespace

TEST_CASE("a published frame reaches the consumer with its metadata, in place") {
  const auto feed = uniqueFeed("meta");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  auto consumer = makeConsumer(feed);
  CHECK(consumer.format() == producer.format());
  CHECK(consumer.generation() == producer.generation());
  CHECK(consumer.producerPid() == static_cast<std::uint32_t>(getpid()));
  CHECK(producer.readerCount() == 1);

  const std::int64_t captured = monotonicNs() - 1000;
  const auto number = publishStamped(producer, {.captureNs = captured, .pts = 5000, .duration = 33, .flags = kFlagDiscont});
  auto frame = consumer.waitFrame(100ms);
  REQUIRE(frame);
  CHECK(frame->number() == number);
  CHECK(frame->meta().captureNs == captured);
  CHECK(frame->meta().pts == 5000);
  CHECK(frame->meta().duration == 33);
  CHECK(frame->meta().flags == kFlagDiscont);
  CHECK(frame->publishNs() >= captured);
  CHECK(frame->data().size() == producer.format().frameSize);
  CHECK(checkStamp(frame->data()) == StampCheck::Ok);
  CHECK(frame->intact());
  CHECK(consumer.stats().framesRead == 1);
}

TEST_CASE("a consumer of a feed that does not exist fails at once, or after waiting") {
  const auto feed = uniqueFeed("absent");
  auto now = Consumer::open({.feed = feed});
  REQUIRE_FALSE(now);
  CHECK(now.error().code == ErrorCode::NotFound);
  CHECK(now.error().message.starts_with("feed '" + feed + "' does not exist (is its producer running?"));

  const auto start = std::chrono::steady_clock::now();
  auto later = Consumer::open({.feed = feed, .openTimeout = 100ms});
  REQUIRE_FALSE(later);
  CHECK(later.error().code == ErrorCode::Timeout);
  CHECK(std::chrono::steady_clock::now() - start >= 100ms);
}

TEST_CASE("a consumer started before its producer waits for it") {
  const auto feed = uniqueFeed("early");
  FeedGuard guard(feed);
  std::thread late([&] {
    std::this_thread::sleep_for(50ms);
    auto producer = makeProducer(feed);
    std::this_thread::sleep_for(300ms);
  });
  auto consumer = Consumer::open({.feed = feed, .openTimeout = 5000ms});
  late.join();
  REQUIRE(consumer);
}

TEST_CASE("invalid feed names and options are refused by both sides") {
  CHECK(Producer::create({.feed = "bad/name", .format = smallFormat()}).error().code == ErrorCode::InvalidFeedName);
  CHECK(Consumer::open({.feed = ""}).error().code == ErrorCode::InvalidFeedName);
  const auto feed = uniqueFeed("opts");
  FeedGuard guard(feed);
  CHECK(Producer::create({.feed = feed, .format = smallFormat(), .slots = 1}).error().code ==
        ErrorCode::InvalidArgument);
  CHECK(Producer::create({.feed = feed, .format = smallFormat(), .maxReaders = 0}).error().code ==
        ErrorCode::InvalidArgument);
  CHECK(Producer::create({.feed = feed, .format = smallFormat(), .mode = 0400}).error().code ==
        ErrorCode::InvalidArgument);
  CHECK(Producer::create({.feed = feed, .format = FrameFormat{}}).error().code == ErrorCode::UnsupportedFormat);
  CHECK(Producer::create({.feed = feed, .format = smallFormat(), .caps = std::string(4096, 'c')}).error().code ==
        ErrorCode::InvalidArgument);
  CHECK(Consumer::open({.feed = feed, .spin = -1us}).error().code == ErrorCode::InvalidArgument);
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}

TEST_CASE("the caps string travels in the segment") {
  const auto feed = uniqueFeed("caps");
  FeedGuard guard(feed);
  const std::string caps = "video/x-raw, format=(string)BGR, width=(int)64, height=(int)48";
  auto producer = Producer::create({.feed = feed, .format = smallFormat(), .caps = caps});
  REQUIRE(producer);
  auto consumer = makeConsumer(feed);
  CHECK(consumer.caps() == caps);
}

TEST_CASE("a live producer's feed is refused to a second producer, naming its pid") {
  const auto feed = uniqueFeed("dup");
  FeedGuard guard(feed);
  auto first = makeProducer(feed);
  auto second = Producer::create({.feed = feed, .format = smallFormat()});
  REQUIRE_FALSE(second);
  CHECK(second.error().code == ErrorCode::AlreadyProduced);
  CHECK(second.error().message.find("is already produced by pid " + std::to_string(getpid())) != std::string::npos);
  CHECK(publishStamped(first) == 1);  // the first one is untouched
}

TEST_CASE("replace takes a live feed over, the old producer learns it and readers follow") {
  const auto feed = uniqueFeed("replace");
  FeedGuard guard(feed);
  auto first = makeProducer(feed);
  auto consumer = makeConsumer(feed);
  publishStamped(first);
  REQUIRE(consumer.waitFrame(100ms));

  auto second = Producer::create({.feed = feed, .format = smallFormat(PixelFormat::Gray8, 32, 16), .replace = true});
  REQUIRE(second);
  CHECK(first.acquire().error().code == ErrorCode::TakenOver);
  publishStamped(*second);
  auto frame = consumer.waitFrame(500ms);
  REQUIRE(frame);
  CHECK(frame->generation() == second->generation());
  CHECK(consumer.format().pixelFormat == PixelFormat::Gray8);
  first.end();  // must not remove the new producer's name
  CHECK(frameshm::test::segmentExists(feed));
}

TEST_CASE("a crashed producer leaves nothing but a POSIX file, which the next producer reclaims") {
  const std::string backendName = GENERATE(values({"memfd", "posix", "sysv"}));
  const Backend backend = *backendFromString(backendName);
  INFO("backend " << backendName);
  const auto feed = uniqueFeed("stale");
  FeedGuard guard(feed);
  auto crashed = frameshm::test::Child::fork([&] {
    auto producer = Producer::create({.feed = feed, .format = smallFormat(), .backend = backend});
    if (!producer) return 1;
    (void)producer->write(std::vector<std::byte>(100));
    raise(SIGKILL);  // no destructor runs
    return 0;
  });
  REQUIRE(crashed.wait(5000ms) == 128 + SIGKILL);
  CHECK(frameshm::test::sysvSegments(crashed.pid()).empty());
  CHECK_FALSE(frameshm::test::feedServed(feed));
  auto stale = Consumer::open({.feed = feed});
  REQUIRE_FALSE(stale);
  if (backend == Backend::Posix) {
    REQUIRE(frameshm::test::segmentExists(feed));
    CHECK(stale.error().code == ErrorCode::ProducerGone);
    CHECK(stale.error().message.find("which died") != std::string::npos);
  } else {
    CHECK_FALSE(frameshm::test::segmentExists(feed));
    CHECK(stale.error().code == ErrorCode::NotFound);
  }

  auto next = Producer::create({.feed = feed, .format = smallFormat(), .backend = backend});
  REQUIRE(next);
  auto consumer = makeConsumer(feed);
  CHECK(consumer.generation() == next->generation());
}

TEST_CASE("a slot can be acquired only once at a time and must fit the frame") {
  const auto feed = uniqueFeed("acquire");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  auto slot = producer.acquire();
  REQUIRE(slot);
  CHECK(slot->frameNumber() == 1);
  CHECK(producer.acquire().error().code == ErrorCode::InvalidState);
  CHECK(producer.publish(std::move(*slot), {.payloadSize = producer.format().frameSize + 1}).error().code ==
        ErrorCode::InvalidArgument);
  CHECK(producer.write(std::vector<std::byte>(producer.format().frameSize + 1)).error().code ==
        ErrorCode::InvalidArgument);
  WriteSlot empty;
  CHECK(producer.publish(std::move(empty)).error().code == ErrorCode::InvalidArgument);
  CHECK(producer.write(std::vector<std::byte>(10)));
}

TEST_CASE("an abandoned slot is never seen by readers") {
  const auto feed = uniqueFeed("abandon");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  auto consumer = makeConsumer(feed);
  publishStamped(producer);
  REQUIRE(consumer.waitFrame(100ms));
  {
    auto slot = producer.acquire();
    REQUIRE(slot);
  }
  CHECK(consumer.tryFrame().error().code == ErrorCode::NoFrame);
  CHECK(publishStamped(producer) == 2);  // nothing was published, so nothing is missed
  auto frame = consumer.waitFrame(100ms);
  REQUIRE(frame);
  CHECK(frame->droppedBefore() == 0);
  CHECK(checkStamp(frame->data()) == StampCheck::Ok);
}

TEST_CASE("polling with nothing new says so, waiting with nothing new times out") {
  const auto feed = uniqueFeed("poll");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  auto consumer = makeConsumer(feed);
  CHECK(consumer.tryFrame().error().code == ErrorCode::NoFrame);
  CHECK(consumer.waitFrame(20ms).error().code == ErrorCode::Timeout);
  publishStamped(producer);
  REQUIRE(consumer.tryFrame());
  CHECK(consumer.tryFrame().error().code == ErrorCode::NoFrame);
}

TEST_CASE("a reader that falls behind gets the newest frame and counts what it missed") {
  const auto feed = uniqueFeed("drops");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  auto consumer = makeConsumer(feed);
  for (int i = 0; i < 5; ++i) publishStamped(producer);
  auto frame = consumer.waitFrame(100ms);
  REQUIRE(frame);
  CHECK(frame->number() == 5);
  CHECK(frame->droppedBefore() == 0);  // frames before the first one read are not missed
  for (int i = 0; i < 4; ++i) publishStamped(producer);
  frame = consumer.waitFrame(100ms);
  REQUIRE(frame);
  CHECK(frame->number() == 9);
  CHECK(frame->droppedBefore() == 3);
  CHECK(consumer.stats().framesDropped == 3);
  CHECK(consumer.stats().framesRead == 2);
}

TEST_CASE("an unpinned frame overwritten while held is reported torn, not intact") {
  const auto feed = uniqueFeed("torn");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  auto consumer = makeConsumer(feed);
  publishStamped(producer);
  auto frame = consumer.waitFrame(100ms);
  REQUIRE(frame);
  CHECK(frame->intact());
  for (int i = 0; i < 3; ++i) publishStamped(producer);  // three slots: the held one is reused
  CHECK_FALSE(frame->intact());
  CHECK_FALSE(frame->intact());
  CHECK(consumer.stats().framesTorn == 1);  // counted once per frame
}

TEST_CASE("a pinned frame is never overwritten while slots >= 2 + pinning readers") {
  const auto feed = uniqueFeed("pin");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed, 4);
  auto first = makeConsumer(feed, true);
  auto second = makeConsumer(feed, true);
  publishStamped(producer);
  auto a = first.waitFrame(100ms);
  REQUIRE(a);
  publishStamped(producer);
  auto b = second.waitFrame(100ms);
  REQUIRE(b);
  for (int i = 0; i < 200; ++i) publishStamped(producer);
  CHECK(a->intact());
  CHECK(b->intact());
  CHECK(checkStamp(a->data()) == StampCheck::Ok);
  CHECK(stampedNumber(a->data()) == a->number());
  CHECK(checkStamp(b->data()) == StampCheck::Ok);
  CHECK(producer.stats().pinnedOverwrites == 0);
}

TEST_CASE("with too few slots for its pins the producer still never waits") {
  const auto feed = uniqueFeed("overpin");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed, 2);
  auto consumer = makeConsumer(feed, true);
  publishStamped(producer);
  auto held = consumer.waitFrame(100ms);
  REQUIRE(held);
  for (int i = 0; i < 3; ++i) publishStamped(producer);
  CHECK(producer.stats().pinnedOverwrites >= 1);
  CHECK_FALSE(held->intact());
}

TEST_CASE("without a sequential reader the same three slots come round, and with one the whole ring") {
  const auto feed = uniqueFeed("slotorder");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed, 6);
  auto slotsUsed = [&](int frames) {
    std::set<std::uint32_t> used;
    for (int i = 0; i < frames; ++i) {
      auto slot = producer.acquire();
      REQUIRE(slot);
      used.insert(slot->index());
      writeStamp(slot->data(), slot->frameNumber());
      REQUIRE(producer.publish(std::move(*slot)));
    }
    return used;
  };
  (void)slotsUsed(6);
  auto latest = makeConsumer(feed);
  CHECK(slotsUsed(30).size() == 3);  // cache-warm: the newest and the one before stay untouched

  // The newest frame a reader holds survives the next two publishes, as with triple buffering.
  auto held = latest.tryFrame();
  REQUIRE(held);
  (void)slotsUsed(2);
  CHECK(held->intact());
  CHECK(checkStamp(held->data()) == StampCheck::Ok);

  auto recorder = Consumer::open({.feed = feed, .delivery = Delivery::Sequential});
  REQUIRE(recorder);
  CHECK(slotsUsed(30).size() == 6);  // a recorder gets the whole ring as slack
  recorder = fail(ErrorCode::InvalidState, "closed");
  // The producer learns of the hangup on its socket thread.
  for (int i = 0; i < 500 && producer.readerCount() > 1; ++i) std::this_thread::sleep_for(2ms);
  REQUIRE(producer.readerCount() == 1);
  CHECK(slotsUsed(30).size() == 3);
}

TEST_CASE("readInto copies an intact frame and refuses a small buffer") {
  const auto feed = uniqueFeed("readinto");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  auto consumer = makeConsumer(feed);
  publishStamped(producer);
  std::vector<std::byte> small(10);
  CHECK(consumer.readInto(small, 100ms).error().code == ErrorCode::InvalidArgument);
  publishStamped(producer);
  std::vector<std::byte> buffer(producer.format().frameSize);
  auto info = consumer.readInto(buffer, 100ms);
  REQUIRE(info);
  CHECK(info->number == 2);
  CHECK(info->bytes == buffer.size());
  CHECK(checkStamp(buffer) == StampCheck::Ok);
}

TEST_CASE("when every reader slot is taken, the next reader is told so") {
  const auto feed = uniqueFeed("full");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed, 3, 2);
  auto a = makeConsumer(feed);
  auto b = makeConsumer(feed);
  auto c = Consumer::open({.feed = feed});
  REQUIRE_FALSE(c);
  CHECK(c.error().code == ErrorCode::ReadersFull);
  CHECK(producer.readerCount() == 2);
  { auto leaving = std::move(a); }
  // The producer learns of it from the hangup, on its own thread.
  for (int i = 0; i < 500 && producer.readerCount() != 1; ++i) std::this_thread::sleep_for(10ms);
  CHECK(producer.readerCount() == 1);
  CHECK(Consumer::open({.feed = feed}));
}

TEST_CASE("ending the feed is reported once, then the consumer waits for a new producer") {
  const auto feed = uniqueFeed("end");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  auto consumer = makeConsumer(feed);
  publishStamped(producer);
  REQUIRE(consumer.waitFrame(100ms));
  producer.end();
  CHECK_FALSE(frameshm::test::segmentExists(feed));
  CHECK(producer.acquire().error().code == ErrorCode::InvalidState);
  auto ended = consumer.waitFrame(100ms);
  REQUIRE_FALSE(ended);
  CHECK(ended.error().code == ErrorCode::FeedEnded);
  CHECK_FALSE(consumer.attached());
  CHECK(consumer.waitFrame(20ms).error().code == ErrorCode::Timeout);

  auto next = makeProducer(feed);
  publishStamped(next);
  auto frame = consumer.waitFrame(500ms);
  REQUIRE(frame);
  CHECK(frame->generation() == next.generation());
  CHECK(consumer.stats().generations == 2);
}

TEST_CASE("frames published just before the feed ended are still delivered, then the end") {
  const auto feed = uniqueFeed("lastframes");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  auto consumer = makeConsumer(feed);
  publishStamped(producer);
  REQUIRE(consumer.waitFrame(100ms));
  const auto last = publishStamped(producer);
  producer.end();
  auto frame = consumer.waitFrame(100ms);
  REQUIRE(frame);
  CHECK(frame->number() == last);
  CHECK(consumer.waitFrame(100ms).error().code == ErrorCode::FeedEnded);
}

TEST_CASE("reconfigure starts a new generation that readers follow with its new format") {
  const auto feed = uniqueFeed("reconf");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  auto consumer = makeConsumer(feed);
  publishStamped(producer);
  auto old = consumer.waitFrame(100ms);
  REQUIRE(old);
  const auto firstGeneration = producer.generation();

  const auto bigger = *makeFormat(PixelFormat::I420, 320, 240, {15, 1});
  REQUIRE(producer.reconfigure(bigger, "video/x-raw, format=(string)I420"));
  CHECK(producer.generation() != firstGeneration);
  publishStamped(producer);
  auto frame = consumer.waitFrame(500ms);
  REQUIRE(frame);
  CHECK(frame->generation() == producer.generation());
  CHECK(frame->format() == bigger);
  CHECK(consumer.format() == bigger);
  CHECK(consumer.caps() == "video/x-raw, format=(string)I420");
  CHECK(frame->data().size() == bigger.frameSize);
  CHECK(old->format() == smallFormat());  // the old frame's mapping lives on with it
  CHECK(checkStamp(old->data()) == StampCheck::Ok);
}

TEST_CASE("a consumer's frames are read-only: writing into one faults") {
  const auto feed = uniqueFeed("readonly");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  publishStamped(producer);
  auto writer = frameshm::test::Child::fork([&] {
    auto consumer = Consumer::open({.feed = feed});
    if (!consumer) return 1;
    auto frame = consumer->tryFrame();
    if (!frame) return 2;
    *const_cast<std::byte*>(frame->data().data() + 100) = std::byte{0};
    return 0;  // reached only if the write went through
  });
  CHECK(writer.wait(5000ms) == 128 + SIGSEGV);
  auto consumer = makeConsumer(feed);
  auto frame = consumer.tryFrame();
  REQUIRE(frame);
  CHECK(checkStamp(frame->data()) == StampCheck::Ok);
}

TEST_CASE("a pollable consumer's descriptor is readable after a publish and after the feed ends, not otherwise") {
  const auto feed = uniqueFeed("pollable");
  FeedGuard guard(feed);
  auto producer = makeProducer(feed);
  CHECK(makeConsumer(feed).pollFd() == -1);  // opt-in
  auto consumer = Consumer::open({.feed = feed, .pollable = true});
  REQUIRE(consumer);
  const int fd = consumer->pollFd();
  REQUIRE(fd >= 0);
  auto readable = [fd](int ms) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1;
  };
  CHECK_FALSE(readable(0));
  publishStamped(producer);
  CHECK(readable(5000));
  auto frame = consumer->tryFrame();
  REQUIRE(frame);
  CHECK(frame->number() == 1);
  CHECK_FALSE(readable(0));
  CHECK(consumer->tryFrame().error().code == ErrorCode::NoFrame);
  producer.end();
  CHECK(readable(5000));
  CHECK(consumer->tryFrame().error().code == ErrorCode::FeedEnded);
  CHECK(consumer->pollFd() == fd);  // the same descriptor for the consumer's whole life
}

TEST_CASE("a path socket left by a dead producer is replaced by the next one, and removed when it ends") {
  frameshm::test::TempDir dir;
  const auto feed = uniqueFeed("pathsock");
  auto crashed = frameshm::test::Child::fork([&] {
    auto producer = Producer::create({.feed = feed, .format = smallFormat(), .socketDir = dir.path()});
    if (!producer) return 1;
    raise(SIGKILL);
    return 0;
  });
  REQUIRE(crashed.wait(5000ms) == 128 + SIGKILL);
  const std::string path = feedAddress(feed, dir.path());
  struct stat st{};
  REQUIRE(lstat(path.c_str(), &st) == 0);  // a path outlives a kill -9; an abstract name does not
  auto stale = Consumer::open({.feed = feed, .socketDir = dir.path()});
  REQUIRE_FALSE(stale);
  CHECK(stale.error().code == ErrorCode::NotFound);
  auto next = Producer::create({.feed = feed, .format = smallFormat(), .socketDir = dir.path()});
  REQUIRE(next);
  publishStamped(*next);
  auto consumer = Consumer::open({.feed = feed, .socketDir = dir.path()});
  REQUIRE(consumer);
  CHECK(consumer->waitFrame(1s));
  next->end();
  CHECK(lstat(path.c_str(), &st) != 0);
}
