// SPDX-License-Identifier: LGPL-2.1-or-later
// Crashes and restarts with real processes: producers killed with SIGKILL in
// the middle of a frame, and new producers of the same feed, possibly with
// another format, picked up by readers that were never restarted.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <thread>

#include "frameshm/clock.hpp"
#include "frameshm/consumer.hpp"
#include "frameshm/feeds.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "layout.hpp"
#include "test_support.hpp"

using namespace frameshm;
using namespace std::chrono_literals;
using frameshm::test::Child;
using frameshm::test::FeedGuard;
using ValuePipe = frameshm::test::ResultPipe<std::int64_t>;
using frameshm::test::uniqueFeed;

namespace {

void stampSlot(WriteSlot& slot) {
  std::memset(slot.data().data(), static_cast<int>(slot.frameNumber()), slot.data().size());
  writeStamp(slot.data(), slot.frameNumber());
}

// A producer child publishing stamped frames every 5 ms until killed; it
// sends the time of its first publish.
Child producerChild(const std::string& feed, const FrameFormat& format, const ValuePipe& firstPublish,
                    Backend backend = Backend::Memfd) {
  return Child::fork([&feed, format, &firstPublish, backend] {
    auto producer = Producer::create({.feed = feed, .format = format, .backend = backend});
    if (!producer) return 1;
    for (bool first = true;; first = false) {
      auto slot = producer->acquire();
      if (!slot) return 2;
      stampSlot(*slot);
      if (!producer->publish(std::move(*slot))) return 3;
      if (first) firstPublish.send(monotonicNs());
      std::this_thread::sleep_for(5ms);
    }
  });
}

std::uint64_t slotSequence(const std::string& feed, std::uint32_t index) {
  const int fd = ::open(("/dev/shm/frameshm." + feed).c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  void* base = mmap(nullptr, 8192, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  REQUIRE(base != MAP_FAILED);
  const auto* header = static_cast<const layout::SegmentHeader*>(base);
  const auto* slots = reinterpret_cast<const layout::SlotHeader*>(static_cast<const std::byte*>(base) +
                                                                  header->slotTableOffset);
  const std::uint64_t sequence = slots[index].sequence;
  munmap(base, 8192);
  return sequence;
}

}  // namespace

TEST_CASE("a producer killed in the middle of writing a frame: that frame is never accepted") {
  const auto feed = uniqueFeed("midwrite");
  FeedGuard guard(feed);
  const auto format = *makeFormat(PixelFormat::Bgr, 160, 120, {30, 1});
  ValuePipe writing;
  auto producer = Child::fork([&] {
    // POSIX, so that the test can look at the slot's sequence in /dev/shm.
    auto p = Producer::create({.feed = feed, .format = format, .backend = Backend::Posix});
    if (!p) return 1;
    for (int i = 0; i < 20; ++i) {
      auto slot = p->acquire();
      stampSlot(*slot);
      (void)p->publish(std::move(*slot));
      std::this_thread::sleep_for(5ms);
    }
    auto half = p->acquire();  // frame 21: half written, never published
    std::memset(half->data().data(), 0xee, half->data().size() / 2);
    writing.send(half->index());
    pause();
    return 0;
  });
  auto consumer = Consumer::open({.feed = feed, .openTimeout = 5000ms});
  REQUIRE(consumer);
  const auto index = writing.receive(5000ms);
  REQUIRE(index);
  CHECK((slotSequence(feed, static_cast<std::uint32_t>(*index)) & 1) == 1);  // killed mid-write
  producer.kill(SIGKILL);
  REQUIRE(producer.wait(5s) == 128 + SIGKILL);
  const auto killed = std::chrono::steady_clock::now();

  std::uint64_t last = 0;
  Result<Frame> result = fail(ErrorCode::Timeout, "");
  while ((result = consumer->waitFrame(200ms))) {
    CHECK(result->number() <= 20);
    CHECK(checkStamp(result->data()) == StampCheck::Ok);
    CHECK(result->intact());
    last = result->number();
  }
  const auto noticed = std::chrono::steady_clock::now() - killed;
  CHECK(last <= 20);
  CHECK(result.error().code == ErrorCode::ProducerGone);
  CHECK(noticed < 1s);  // the watcher's hangup wakes it at once; the figures are in the README
  WARN("producer death noticed " << std::chrono::duration_cast<std::chrono::microseconds>(noticed).count()
                                 << " us after the kill was reaped");

  auto late = Consumer::open({.feed = feed});
  REQUIRE_FALSE(late);
  CHECK(late.error().code == ErrorCode::ProducerGone);
  CHECK(late.error().message.find("died") != std::string::npos);
}

TEST_CASE("readers resume on a restarted producer without being restarted") {
  const auto feed = uniqueFeed("resume");
  FeedGuard guard(feed);
  const auto format = *makeFormat(PixelFormat::Gray8, 64, 64, {0, 1});
  ValuePipe firstStart, secondStart;
  auto first = producerChild(feed, format, firstStart);
  REQUIRE(firstStart.receive(5000ms));
  auto a = Consumer::open({.feed = feed, .openTimeout = 5000ms});
  auto b = Consumer::open({.feed = feed, .openTimeout = 5000ms, .pin = true});
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->waitFrame(1s));
  REQUIRE(b->waitFrame(1s));

  first.kill(SIGKILL);
  REQUIRE(first.wait(5s) == 128 + SIGKILL);
  for (Consumer* consumer : {&*a, &*b}) {
    // Frames published just before the kill come first, then the report.
    auto gone = consumer->waitFrame(2s);
    for (int i = 0; i < 10 && gone; ++i) gone = consumer->waitFrame(2s);
    REQUIRE_FALSE(gone);
    CHECK(gone.error().code == ErrorCode::ProducerGone);
  }

  auto second = producerChild(feed, format, secondStart);
  const auto started = secondStart.receive(5000ms);
  REQUIRE(started);
  for (Consumer* consumer : {&*a, &*b}) {
    Result<Frame> frame = fail(ErrorCode::Timeout, "");
    for (int i = 0; i < 20 && !frame; ++i) frame = consumer->waitFrame(250ms);
    REQUIRE(frame);
    CHECK(checkStamp(frame->data()) == StampCheck::Ok);
    CHECK(consumer->stats().generations == 2);
    WARN("resumed " << (monotonicNs() - *started) / 1000 << " us after the new producer's first frame");
  }
}

TEST_CASE("a producer restarted with another format and size is followed by its readers") {
  const auto feed = uniqueFeed("newformat");
  FeedGuard guard(feed);
  ValuePipe firstStart, secondStart;
  const auto small = *makeFormat(PixelFormat::Bgr, 64, 48, {30, 1});
  const auto large = *makeFormat(PixelFormat::Nv12, 322, 242, {60, 1});
  auto first = producerChild(feed, small, firstStart);
  REQUIRE(firstStart.receive(5000ms));
  auto consumer = Consumer::open({.feed = feed, .openTimeout = 5000ms});
  REQUIRE(consumer);
  auto before = consumer->waitFrame(1s);
  REQUIRE(before);
  CHECK(before->format() == small);

  first.kill(SIGTERM);  // dies without ending the feed: the name stays, stale
  REQUIRE(first.wait(5s) == 128 + SIGTERM);
  auto second = producerChild(feed, large, secondStart);
  REQUIRE(secondStart.receive(5000ms));
  Result<Frame> after = fail(ErrorCode::Timeout, "");
  for (int i = 0; i < 20 && !(after && after->format() == large); ++i) after = consumer->waitFrame(250ms);
  REQUIRE(after);
  CHECK(after->format() == large);
  CHECK(consumer->format() == large);
  CHECK(after->data().size() == large.frameSize);
  CHECK(checkStamp(after->data()) == StampCheck::Ok);
  CHECK(checkStamp(before->data()) == StampCheck::Ok);  // the old frame's mapping is still valid
}

namespace {

struct FollowReport {
  std::uint64_t accepted = 0;
  std::uint64_t badStamps = 0;
  std::uint64_t generations = 0;
};

// Reads and verifies frames until it has followed `generations` producers.
int follower(const std::string& feed, std::uint64_t generations,
             const frameshm::test::ResultPipe<FollowReport>& out) {
  auto consumer = Consumer::open({.feed = feed, .openTimeout = 10s});
  if (!consumer) return 1;
  FollowReport report;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (consumer->stats().generations < generations && std::chrono::steady_clock::now() < deadline) {
    auto frame = consumer->waitFrame(100ms);
    if (!frame) continue;  // ProducerGone once per death, then Timeout until the next one
    const bool ok = checkStamp(frame->data()) == StampCheck::Ok;
    if (!frame->intact()) continue;
    ++report.accepted;
    if (!ok) ++report.badStamps;
  }
  report.generations = consumer->stats().generations;
  out.send(report);
  return 0;
}

}  // namespace

TEST_CASE(
    "kill -9 of producers and readers at random points leaves nothing behind and readers follow the next "
    "producer") {
  const std::string backendName = GENERATE(values({"memfd", "posix", "sysv"}));
  const Backend backend = *backendFromString(backendName);
  INFO("backend " << backendName);
  const auto feed = uniqueFeed("kill9-" + backendName);
  FeedGuard guard(feed);
  const auto format = *makeFormat(PixelFormat::Gray8, 64, 64, {0, 1});
  constexpr int kRounds = 5;
  std::mt19937 random(static_cast<unsigned>(getpid()));
  frameshm::test::ResultPipe<FollowReport> followed;
  std::optional<Child> reader;
  for (int round = 0; round < kRounds; ++round) {
    ValuePipe started;
    auto producer = producerChild(feed, format, started, backend);
    REQUIRE(started.receive(5000ms));
    if (round == 0) reader = Child::fork([&] { return follower(feed, kRounds, followed); });
    // A reader killed at a random point: the producer goes on.
    auto victim = Child::fork([&] {
      auto consumer = Consumer::open({.feed = feed, .openTimeout = 5s, .pin = true});
      while (consumer) (void)consumer->waitFrame(1s);
      return 0;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + random() % 80));
    victim.kill(SIGKILL);
    CHECK(victim.wait(5s) == 128 + SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 50));
    CHECK(producer.running());  // a reader's death never stops the producer
    producer.kill(SIGKILL);
    REQUIRE(producer.wait(5s) == 128 + SIGKILL);
    CHECK_FALSE(frameshm::test::feedServed(feed));
    // A SysV segment lives until its last reader let go of it: the follower
    // does as soon as it has seen the hangup.
    for (int i = 0; i < 500 && !frameshm::test::sysvSegments(producer.pid()).empty(); ++i)
      std::this_thread::sleep_for(10ms);
    CHECK(frameshm::test::sysvSegments(producer.pid()).empty());
    CHECK(frameshm::test::segmentExists(feed) == (backend == Backend::Posix));  // only POSIX leaves its file
  }
  const auto report = followed.receive(30s);
  REQUIRE(reader);
  CHECK(reader->wait(10s) == 0);
  REQUIRE(report);
  CHECK(report->generations == kRounds);
  CHECK(report->accepted > 0);
  CHECK(report->badStamps == 0);
  if (backend == Backend::Posix) {
    CHECK(*removeIfStale(feed));  // frameshm-ls --clean
    CHECK_FALSE(frameshm::test::segmentExists(feed));
  }
}
