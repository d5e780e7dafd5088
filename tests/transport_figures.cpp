// SPDX-License-Identifier: LGPL-2.1-or-later
// transport_figures: the figures of issue 11, measured on this machine with
// real processes. Not a test (timing goals belong to measurements); its
// output goes into the README. Each figure is printed as "name value unit".
//
//   build/plain/tests/transport_figures            # all figures, ~1 min
//   build/plain/tests/transport_figures --quick    # fewer frames and readers
#include <linux/futex.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "frameshm/clock.hpp"
#include "frameshm/consumer.hpp"
#include "frameshm/producer.hpp"
#include "test_support.hpp"

using namespace frameshm;
using namespace std::chrono_literals;
using frameshm::test::Child;

namespace {

std::int64_t threadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void print(const std::string& name, double value, const char* unit) {
  std::printf("%-44s %12.2f %s\n", name.c_str(), value, unit);
}

// Readers that block in waitFrame (or poll with tryFrame every millisecond,
// never blocking) and read until the feed ends.
std::vector<Child> startReaders(const std::string& feed, int count, bool polling) {
  std::vector<Child> readers;
  for (int i = 0; i < count; ++i)
    readers.push_back(Child::fork([feed, polling] {
      auto consumer = Consumer::open({.feed = feed, .openTimeout = 10s});
      if (!consumer) return 1;
      if (!polling) {
        while (consumer->waitFrame(5s)) {
        }
        return 0;
      }
      for (;;) {
        auto frame = consumer->tryFrame();
        if (!frame && frame.error().code != ErrorCode::NoFrame) return 0;
        std::this_thread::sleep_for(1ms);
      }
    }));
  return readers;
}

void producerCpu(Backend backend, int frames, std::initializer_list<int> counts, bool polling = false) {
  for (int readers : counts) {
    const auto feed = frameshm::test::uniqueFeed("cpu");
    auto producer = Producer::create({.feed = feed,
                                      .format = *makeFormat(PixelFormat::Gray8, 640, 480, {1000, 1}),
                                      .maxReaders = 64,
                                      .backend = backend});
    if (!producer) return;
    auto children = startReaders(feed, readers, polling);
    while (producer->readerCount() < static_cast<std::uint32_t>(readers)) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(100ms);
    std::int64_t cpu = 0;
    for (int i = 0; i < frames; ++i) {
      const std::int64_t before = threadCpuNs();
      auto slot = producer->acquire();  // in place: no fill, the cost of the transport alone
      (void)producer->publish(std::move(*slot));
      cpu += threadCpuNs() - before;
      std::this_thread::sleep_for(2ms);  // readers block again between frames
    }
    producer->end();
    for (auto& c : children) c.wait(10s);
    print(std::string("producer CPU per frame, ") + toString(backend) + ", " + std::to_string(readers) +
              (polling ? " polling readers" : " blocked readers"),
          static_cast<double>(cpu) / frames / 1000.0, "us");
  }
}

// Publish to wake-up of one blocked reader, p50, at a frame size.
void wakeLatency(std::uint32_t width, std::uint32_t height, int frames) {
  const auto feed = frameshm::test::uniqueFeed("wake");
  auto producer =
      Producer::create({.feed = feed, .format = *makeFormat(PixelFormat::Bgr, width, height, {100, 1})});
  if (!producer) return;
  int fds[2];
  if (pipe(fds) != 0) return;
  auto reader = Child::fork([&] {
    close(fds[0]);
    auto consumer = Consumer::open({.feed = feed, .openTimeout = 10s});
    if (!consumer) return 1;
    while (auto frame = consumer->waitFrame(5s)) {
      const double us = static_cast<double>(monotonicNs() - frame->publishNs()) / 1000.0;
      (void)!write(fds[1], &us, sizeof us);
    }
    return 0;
  });
  close(fds[1]);
  while (producer->readerCount() < 1) std::this_thread::sleep_for(1ms);
  std::vector<double> us;
  for (int i = 0; i < frames; ++i) {
    std::this_thread::sleep_for(3ms);
    (void)producer->publish(std::move(*producer->acquire()));
    double v = 0;
    if (read(fds[0], &v, sizeof v) == sizeof v) us.push_back(v);
  }
  producer->end();
  reader.wait(10s);
  close(fds[0]);
  print("blocking wake p50, " + std::to_string(width) + "x" + std::to_string(height), percentile(us, 0.5),
        "us");
}

// The floor: a bare shared futex and a bare process-shared semaphore, process to process.
void wakeFloor(int rounds) {
  struct Shared {
    std::uint32_t word;
    std::int64_t postedNs;
    sem_t sem;
  };
  auto* shared =
      static_cast<Shared*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  sem_init(&shared->sem, 1, 0);
  int fds[2];
  if (pipe(fds) != 0) return;
  for (const bool futex : {true, false}) {
    auto waiter = Child::fork([&] {
      for (int i = 0; i < rounds; ++i) {
        if (futex) {
          const std::uint32_t seen = __atomic_load_n(&shared->word, __ATOMIC_ACQUIRE);
          while (__atomic_load_n(&shared->word, __ATOMIC_ACQUIRE) == seen)
            syscall(SYS_futex, &shared->word, FUTEX_WAIT, seen, nullptr, nullptr, 0);
        } else {
          while (sem_wait(&shared->sem) != 0) {
          }
        }
        const double us =
            static_cast<double>(monotonicNs() - __atomic_load_n(&shared->postedNs, __ATOMIC_ACQUIRE)) /
            1000.0;
        (void)!write(fds[1], &us, sizeof us);
      }
      return 0;
    });
    std::vector<double> us;
    for (int i = 0; i < rounds; ++i) {
      std::this_thread::sleep_for(3ms);
      __atomic_store_n(&shared->postedNs, monotonicNs(), __ATOMIC_RELEASE);
      if (futex) {
        __atomic_add_fetch(&shared->word, 1u, __ATOMIC_SEQ_CST);
        syscall(SYS_futex, &shared->word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
      } else {
        sem_post(&shared->sem);
      }
      double v = 0;
      if (read(fds[0], &v, sizeof v) == sizeof v) us.push_back(v);
    }
    waiter.wait(10s);
    print(futex ? "floor: bare futex wake p50" : "floor: bare semaphore wake p50", percentile(us, 0.5), "us");
  }
  close(fds[0]);
  close(fds[1]);
  munmap(shared, 4096);
}

// kill -9 of the producer to the blocked consumer's ProducerGone; kill -9 of
// a pinning reader to the producer's reader count dropping.
void deathDetection(int kills) {
  std::vector<double> producerUs, readerUs;
  const auto format = *makeFormat(PixelFormat::Gray8, 64, 64, {30, 1});
  for (int k = 0; k < kills; ++k) {
    const auto feed = frameshm::test::uniqueFeed("death");
    int ready[2];
    if (pipe(ready) != 0) return;
    auto producer = Child::fork([&] {
      auto p = Producer::create({.feed = feed, .format = format});
      if (!p) return 1;
      (void)p->write(std::vector<std::byte>(format.frameSize));
      (void)!write(ready[1], "x", 1);
      pause();
      return 0;
    });
    char c;
    (void)!read(ready[0], &c, 1);
    close(ready[0]);
    close(ready[1]);
    auto consumer = Consumer::open({.feed = feed, .openTimeout = 5s});
    if (!consumer) return;
    (void)consumer->waitFrame(1s);
    std::int64_t killedNs = 0;
    std::thread killer([&] {
      std::this_thread::sleep_for(20ms);  // the consumer is blocked by then
      killedNs = monotonicNs();
      producer.kill(SIGKILL);
    });
    auto gone = consumer->waitFrame(5s);
    const std::int64_t noticed = monotonicNs();
    killer.join();
    if (!gone && gone.error().code == ErrorCode::ProducerGone)
      producerUs.push_back(static_cast<double>(noticed - killedNs) / 1000.0);
    producer.wait(5s);
  }
  for (int k = 0; k < kills; ++k) {
    const auto feed = frameshm::test::uniqueFeed("rdeath");
    auto producer = Producer::create({.feed = feed, .format = format});
    if (!producer) return;
    auto reader = Child::fork([&] {
      auto consumer = Consumer::open({.feed = feed, .openTimeout = 5s, .pin = true});
      if (!consumer) return 1;
      auto held = consumer->waitFrame(5s);  // holds a pin
      pause();
      return 0;
    });
    while (producer->readerCount() < 1) std::this_thread::sleep_for(1ms);
    (void)producer->write(std::vector<std::byte>(format.frameSize));
    std::this_thread::sleep_for(20ms);
    const std::int64_t killedNs = monotonicNs();
    reader.kill(SIGKILL);
    while (producer->readerCount() != 0) std::this_thread::sleep_for(20us);
    readerUs.push_back(static_cast<double>(monotonicNs() - killedNs) / 1000.0);
    reader.wait(5s);
  }
  print("dead producer noticed p50 (" + std::to_string(producerUs.size()) + " kills)",
        percentile(producerUs, 0.5), "us");
  print("dead producer noticed max", percentile(producerUs, 1.0), "us");
  print("dead reader's pins reclaimed p50 (" + std::to_string(readerUs.size()) + " kills)",
        percentile(readerUs, 0.5), "us");
  print("dead reader's pins reclaimed max", percentile(readerUs, 1.0), "us");
}

void connectToFirstFrame(int rounds) {
  const auto feed = frameshm::test::uniqueFeed("connect");
  auto producer =
      Producer::create({.feed = feed, .format = *makeFormat(PixelFormat::Bgr, 1920, 1080, {30, 1})});
  if (!producer) return;
  (void)producer->publish(std::move(*producer->acquire()));
  std::vector<double> openUs;
  for (int i = 0; i < rounds; ++i) {
    const std::int64_t start = monotonicNs();
    auto consumer = Consumer::open({.feed = feed});
    if (!consumer) return;
    auto frame = consumer->tryFrame();  // the newest frame is there already
    if (frame) openUs.push_back(static_cast<double>(monotonicNs() - start) / 1000.0);
  }
  print("connect to first frame p50, 1080p BGR", percentile(openUs, 0.5), "us");
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const bool pollingOnly = argc > 1 && std::strcmp(argv[1], "--polling") == 0;
  if (pollingOnly) {
    producerCpu(Backend::Memfd, 1000, {1, 64}, true);
    return 0;
  }
  for (Backend backend : {Backend::Memfd, Backend::Posix, Backend::SysV})
    producerCpu(backend, quick ? 200 : 1000,
                quick ? std::initializer_list<int>{1, 8} : std::initializer_list<int>{1, 8, 32, 64});
  producerCpu(Backend::Memfd, quick ? 200 : 1000, {1, 64}, true);
  wakeFloor(quick ? 200 : 1000);
  wakeLatency(640, 480, quick ? 200 : 1000);
  wakeLatency(3840, 2160, quick ? 200 : 1000);
  deathDetection(20);
  connectToFirstFrame(quick ? 50 : 200);
  return 0;
}
