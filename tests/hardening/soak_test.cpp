// SPDX-License-Identifier: LGPL-2.1-or-later
// Soak: for FRAMESHM_SOAK_SECONDS (default 10; CI runs 60), readers join,
// leave, crash and are killed at random while the producer restarts, changes
// format, and is once killed and replaced. At the end: no reader ever
// accepted a frame that was not the one published, no reader slot is left
// taken, and the producer's heap did not grow.
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "frameshm/consumer.hpp"
#include "frameshm/feeds.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "test_support.hpp"

using namespace frameshm;
using namespace std::chrono_literals;
using frameshm::test::Child;
using frameshm::test::FeedGuard;
using frameshm::test::uniqueFeed;
using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizer runtimes export it; GCC 12 ships no header declaring it.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace {

// Small enough to be written atomically to a pipe by many children at once.
struct Report {
  std::uint32_t kind;  // 1: reader delta, 2: producer memory
  std::uint32_t pad;
  std::uint64_t a;  // accepted frames, or live heap after warm-up (bytes)
  std::uint64_t b;  // bad frames, or live heap at the end (bytes)
};

volatile sig_atomic_t stopRequested = 0;

// Bytes the program holds from the allocator now: what a leak or a container
// that keeps growing adds to. RSS is no measure of that under a sanitizer,
// whose quarantine and shadow memory grow by themselves.
std::uint64_t liveHeapBytes() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

int produce(const std::string& feed, int reportFd, std::uint64_t seed) {
  signal(SIGTERM, [](int) { stopRequested = 1; });
  std::mt19937_64 random(seed);
  const FrameFormat formats[] = {*makeFormat(PixelFormat::Gray8, 64, 64),
                                 *makeFormat(PixelFormat::I420, 96, 72),
                                 *makeFormat(PixelFormat::Bgrx, 40, 30)};
  std::uint64_t warmHeap = 0;
  for (int generation = 0; !stopRequested; ++generation) {
    {
      auto producer =
          Producer::create({.feed = feed, .format = formats[generation % 3], .slots = 4, .maxReaders = 8});
      if (!producer) return 1;
      const auto until = Clock::now() + std::chrono::milliseconds(300 + random() % 1200);
      while (!stopRequested && Clock::now() < until) {
        auto slot = producer->acquire();
        if (!slot) return 2;
        std::memset(slot->data().data(), static_cast<int>(slot->frameNumber()), slot->data().size());
        writeStamp(slot->data(), slot->frameNumber());
        if (!producer->publish(std::move(*slot))) return 3;
        std::this_thread::sleep_for(2ms);
        if (random() % 500 == 0) {  // a caps change within the run
          if (!producer->reconfigure(formats[random() % 3])) return 4;
        }
      }
    }
    // Taken as at the end: between generations, no producer alive.
    if (generation == 3) warmHeap = liveHeapBytes();
  }
  const Report memory{2, 0, warmHeap, liveHeapBytes()};
  return write(reportFd, &memory, sizeof memory) == sizeof memory ? 0 : 5;
}

// A reader with a random life: reads and verifies frames, reports what it
// accepted, then leaves cleanly or dies without cleaning up.
int read(const std::string& feed, int reportFd, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  const auto until = Clock::now() + std::chrono::milliseconds(50 + random() % 1500);
  auto consumer = Consumer::open({.feed = feed, .openTimeout = 2000ms, .pin = random() % 2 == 0});
  if (!consumer) return 0;  // between producers: fine
  Report delta{1, 0, 0, 0};
  while (Clock::now() < until) {
    auto frame = consumer->waitFrame(100ms);
    if (!frame) continue;
    const bool good =
        checkStamp(frame->data()) == StampCheck::Ok && stampedNumber(frame->data()) == frame->number();
    if (!frame->intact()) continue;
    ++delta.a;
    if (!good) ++delta.b;
    if (delta.a == 50) {
      (void)!write(reportFd, &delta, sizeof delta);
      delta = {1, 0, 0, 0};
    }
  }
  (void)!write(reportFd, &delta, sizeof delta);
  if (random() % 3 == 0) raise(SIGKILL);  // crash: the producer must reclaim the slot
  return 0;
}

int soakSeconds() {
  const char* text = std::getenv("FRAMESHM_SOAK_SECONDS");
  const int seconds = text ? std::atoi(text) : 10;
  return seconds > 0 ? seconds : 10;
}

}  // namespace

TEST_CASE("soak: readers come, go and die while the producer restarts") {
  const auto feed = uniqueFeed("soak");
  FeedGuard guard(feed);
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  const auto duration = std::chrono::seconds(soakSeconds());
  std::mt19937_64 random(20261201);

  std::uint64_t accepted = 0, bad = 0, warmHeap = 0, endHeap = 0;
  auto drain = [&] {
    Report r;
    while (::read(fds[0], &r, sizeof r) == sizeof r) {
      if (r.kind == 1) {
        accepted += r.a;
        bad += r.b;
      } else {
        warmHeap = r.a;
        endHeap = r.b;
      }
    }
  };
  auto startProducer = [&] {
    return Child::fork([&, seed = random()] { return produce(feed, fds[1], seed); });
  };

  auto producer = startProducer();
  bool producerKilled = false;
  std::vector<Child> readers;
  std::uint64_t readersStarted = 0, readersKilled = 0;
  const auto start = Clock::now();
  while (Clock::now() - start < duration) {
    std::erase_if(readers, [](Child& c) { return !c.running(); });
    while (readers.size() < 5) {
      readers.push_back(Child::fork([&, seed = random()] { return read(feed, fds[1], seed); }));
      ++readersStarted;
    }
    if (!readers.empty() && random() % 8 == 0) {
      readers[random() % readers.size()].kill(SIGKILL);
      ++readersKilled;
    }
    if (!producerKilled && Clock::now() - start > duration / 3) {  // once: a crashed producer, replaced
      producer.kill(SIGKILL);
      REQUIRE(producer.wait(5s) == 128 + SIGKILL);
      producer = startProducer();
      producerKilled = true;
    }
    drain();
    std::this_thread::sleep_for(50ms);
  }
  for (Child& reader : readers) reader.wait(10s);
  readers.clear();

  // Every reader is gone: within a second its slot must be free again.
  std::size_t leaked = 99;
  for (auto deadline = Clock::now() + 3s; Clock::now() < deadline; std::this_thread::sleep_for(50ms)) {
    auto info = inspectFeed(feed);
    if (info && info->valid) {
      leaked = info->readers.size();
      if (leaked == 0) break;
    }
  }
  producer.kill(SIGTERM);
  CHECK(producer.wait(10s) == 0);
  drain();
  close(fds[0]);
  close(fds[1]);

  WARN("soak " << duration.count() << " s: " << readersStarted << " readers (" << readersKilled
               << " killed), " << accepted << " frames accepted, producer heap in use " << warmHeap << " -> "
               << endHeap << " bytes");
  CHECK(bad == 0);
  CHECK(accepted > 0);
  CHECK(leaked == 0);
  CHECK(warmHeap > 0);
  // Stable: after hundreds of readers and dozens of restarts the producer
  // holds no more than it did after its fourth generation. The allowance is
  // glibc's: chunks a thread keeps in its tcache count as in use, and which
  // ones are kept at either moment moves the figure by a few KiB (4.3 KiB
  // once in CI over 60 s; +0.6 KiB over 120 s here, so no trend). 16 KiB
  // still fails 36 bytes a reader or 400 a restart over CI's 60 s.
  CHECK(endHeap <= warmHeap + 16384);
  CHECK_FALSE(frameshm::test::segmentExists(feed));
}
