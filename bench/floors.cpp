// SPDX-License-Identifier: LGPL-2.1-or-later
#include "floors.hpp"

#include <linux/futex.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "frameshm/clock.hpp"

namespace frameshm::bench {
namespace {

using std::chrono::milliseconds;

constexpr std::uint32_t kStop = 0x8000'0000u;  // set in the word: waiters leave
constexpr int kWarmupFrames = 10;              // not measured: processes settle first

long futex(const std::uint32_t* word, int op, std::uint32_t value, const timespec* timeout = nullptr) {
  return syscall(SYS_futex, word, op, value, timeout, nullptr, 0);
}

std::int64_t periodNs(double rateHz) {
  return static_cast<std::int64_t>(1e9 / rateHz);
}

int frameCount(double rateHz, double seconds) {
  return std::max(20, static_cast<int>(rateHz * seconds));
}

// One word of a memfd, mapped writable here and read-only by the waiters,
// with `payload` bytes after its page (frames, for a floor that copies).
class WakeWord {
 public:
  explicit WakeWord(std::size_t payload = 0)
      : size_(kPage + payload), fd_(memfd_create("frameshm-bench-floor", MFD_CLOEXEC)) {
    if (fd_ < 0 || ftruncate(fd_, static_cast<off_t>(size_)) != 0) throw std::bad_alloc();
    void* memory = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    word_ = static_cast<std::uint32_t*>(memory);
  }
  WakeWord(const WakeWord&) = delete;
  WakeWord& operator=(const WakeWord&) = delete;
  ~WakeWord() {
    munmap(word_, size_);
    close(fd_);
  }

  // In a waiter: waits for each change of the word until kStop; calls
  // `onWake(payload, word)` after each change, with the payload mapped
  // read-only. A lost wake-up costs a second, not a hang.
  template <class OnWake>
  void waitAll(std::atomic<int>& ready, OnWake onWake) const {
    void* memory = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
    if (memory == MAP_FAILED) return;
    const auto* word = static_cast<const std::uint32_t*>(memory);
    const auto* payload = static_cast<const std::byte*>(memory) + kPage;
    std::uint32_t seen = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    ready.fetch_add(1);
    const timespec second{1, 0};
    while ((seen & kStop) == 0) {
      const std::uint32_t now = __atomic_load_n(word, __ATOMIC_ACQUIRE);
      if (now == seen) {
        futex(word, FUTEX_WAIT, seen, &second);
        continue;
      }
      seen = now;
      onWake(payload, now);
    }
    munmap(memory, size_);
  }

  [[nodiscard]] std::byte* payload() noexcept { return reinterpret_cast<std::byte*>(word_) + kPage; }
  void bump() noexcept { __atomic_add_fetch(word_, 1u, __ATOMIC_SEQ_CST); }
  void wakeAll() noexcept { futex(word_, FUTEX_WAKE, INT_MAX); }
  void stop() noexcept {
    __atomic_or_fetch(word_, kStop, __ATOMIC_SEQ_CST);
    wakeAll();
  }

 private:
  static constexpr std::size_t kPage = 4096;
  std::size_t size_;
  int fd_;
  std::uint32_t* word_ = nullptr;
};

struct Shared {
  std::atomic<int> ready{0};
  double cpuUs = NAN;
};

// Waits (up to 10 s) until `count` processes have said they are ready.
void awaitReady(const std::atomic<int>& ready, int count) {
  const std::int64_t until = monotonicNs() + 10'000'000'000;
  while (ready.load() < count && monotonicNs() < until) sleepUntilNs(monotonicNs() + 1'000'000);
}

}  // namespace

double copyBesideReadersCpuUs(std::size_t bytes, int readers, double rateHz, double seconds) {
  constexpr int kSlots = 3;
  WakeWord word(bytes * kSlots);
  auto* shared = new (sharedAlloc(sizeof(Shared))) Shared;
  std::vector<test::Child> children;
  for (int i = 0; i < readers; ++i)
    children.push_back(test::Child::fork([&] {
      std::uint64_t sum = 0;
      word.waitAll(shared->ready, [&](const std::byte* payload, std::uint32_t frame) {
        const std::byte* slot = payload + static_cast<std::size_t>((frame - 1) % kSlots) * bytes;
        for (std::size_t k = 0; k + 8 <= bytes; k += 8) {
          std::uint64_t v;
          std::memcpy(&v, slot + k, 8);
          sum += v;
        }
      });
      return sum == 42 ? 1 : 0;  // keeps the sum from being optimised away
    }));
  const int frames = frameCount(rateHz, seconds);
  test::Child writer = test::Child::fork([&] {
    // Four source frames of distinct bytes (none at all for a bare wake).
    std::vector<std::vector<std::byte>> from;
    for (int i = 1; i <= 4; ++i) from.emplace_back(bytes, static_cast<std::byte>(i));
    awaitReady(shared->ready, readers);
    std::int64_t next = monotonicNs();
    double startCpu = 0;
    for (int i = 0; i < kWarmupFrames + frames; ++i) {
      if (i == kWarmupFrames) startCpu = cpuSeconds();
      next += periodNs(rateHz);
      sleepUntilNs(next);
      // Frame i + 1 goes into slot i % kSlots: the word counts frames.
      if (bytes > 0)
        std::memcpy(word.payload() + static_cast<std::size_t>(i % kSlots) * bytes,
                    from[static_cast<std::size_t>(i) % from.size()].data(), bytes);
      word.bump();
      word.wakeAll();
    }
    shared->cpuUs = (cpuSeconds() - startCpu) / frames * 1e6;
    return 0;
  });
  const bool ok = writer.wait(milliseconds(static_cast<int>(seconds * 1000) + 20'000)) == 0;
  word.stop();
  for (auto& child : children) (void)child.wait(milliseconds(5'000));
  return ok ? shared->cpuUs : NAN;
}

double wakeAllCpuUs(int waiters, double rateHz, double seconds) {
  return copyBesideReadersCpuUs(0, waiters, rateHz, seconds);
}

double waiterCpuUs(Waiter kind, double rateHz, double seconds) {
  auto* shared = new (sharedAlloc(sizeof(Shared))) Shared;
  const int frames = frameCount(rateHz, seconds);
  auto perWake = [&](int& wakes, double& startCpu) {
    if (++wakes == kWarmupFrames) startCpu = cpuSeconds();
    if (wakes == kWarmupFrames + frames) shared->cpuUs = (cpuSeconds() - startCpu) / frames * 1e6;
  };
  const auto limit = milliseconds(static_cast<int>(seconds * 1000) + 20'000);
  if (kind == Waiter::ReadOnlyFutex) {
    WakeWord word;
    test::Child waiter = test::Child::fork([&] {
      int wakes = 0;
      double startCpu = 0;
      word.waitAll(shared->ready, [&](const std::byte*, std::uint32_t) { perWake(wakes, startCpu); });
      return 0;
    });
    awaitReady(shared->ready, 1);
    std::int64_t next = monotonicNs();
    for (int i = 0; i < kWarmupFrames + frames + 1; ++i) {
      next += periodNs(rateHz);
      sleepUntilNs(next);
      word.bump();
      word.wakeAll();
    }
    word.stop();
    return waiter.wait(limit) == 0 ? shared->cpuUs : NAN;
  }

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return NAN;
  test::Child waiter = test::Child::fork([&] {
    close(pair[0]);
    int wakes = 0;
    double startCpu = 0;
    char message[32];
    shared->ready.fetch_add(1);
    for (;;) {
      pollfd fd{pair[1], POLLIN, 0};
      if (poll(&fd, 1, 1000) < 0) continue;
      if (recv(pair[1], message, sizeof message, 0) <= 0) break;  // the poster hung up
      (void)!send(pair[1], message, 8, MSG_NOSIGNAL);             // the buffer's release
      perWake(wakes, startCpu);
    }
    return 0;
  });
  close(pair[1]);
  awaitReady(shared->ready, 1);
  char message[32] = {};
  std::int64_t next = monotonicNs();
  for (int i = 0; i < kWarmupFrames + frames + 1; ++i) {
    next += periodNs(rateHz);
    sleepUntilNs(next);
    (void)!send(pair[0], message, sizeof message, MSG_NOSIGNAL);
    while (recv(pair[0], message, sizeof message, MSG_DONTWAIT) > 0) {
    }
  }
  close(pair[0]);
  return waiter.wait(limit) == 0 ? shared->cpuUs : NAN;
}

double copyAndWakeMBps(std::size_t bytes, double seconds) {
  WakeWord word;
  auto* shared = new (sharedAlloc(sizeof(Shared))) Shared;
  test::Child waiter = test::Child::fork([&] {
    word.waitAll(shared->ready, [](const std::byte*, std::uint32_t) {});
    return 0;
  });
  awaitReady(shared->ready, 1);
  const double rate = memcpyMBps(bytes, seconds, 4, 3, [&] {
    word.bump();
    word.wakeAll();
  });
  word.stop();
  (void)waiter.wait(milliseconds(5'000));
  return rate;
}

Summary pacedCopyUs(std::size_t bytes, double rateHz, double seconds) {
  std::vector<std::vector<std::byte>> from(4, std::vector<std::byte>(bytes));
  std::vector<std::vector<std::byte>> to(3, std::vector<std::byte>(bytes));
  for (std::size_t i = 0; i < from.size(); ++i) std::memset(from[i].data(), static_cast<int>(i + 1), bytes);
  for (auto& buffer : to) std::memset(buffer.data(), 0, bytes);
  const int frames = frameCount(rateHz, seconds);
  std::vector<double> samples;
  std::int64_t next = monotonicNs();
  for (int i = 0; i < kWarmupFrames + frames; ++i) {
    next += periodNs(rateHz);
    sleepUntilNs(next);
    const std::int64_t start = monotonicNs();
    std::memcpy(to[static_cast<std::size_t>(i) % to.size()].data(),
                from[static_cast<std::size_t>(i) % from.size()].data(), bytes);
    if (i >= kWarmupFrames) samples.push_back(static_cast<double>(monotonicNs() - start) * 1e-3);
  }
  return summarize(samples);
}

}  // namespace frameshm::bench
