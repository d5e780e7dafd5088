// SPDX-License-Identifier: LGPL-2.1-or-later
// bench/harness.hpp — processes, shared result memory and statistics for frameshm-bench.
//
// Every scenario runs its producer and readers as forked processes that
// report through memory shared with the parent (mapped before the fork), so
// the figures come from real cross-process transport. Feed names carry the
// bench's pid and are removed whatever happens to the children.
//
//   auto* result = frameshm::bench::sharedNew<ReaderResult>();
//   frameshm::bench::Proc reader = frameshm::bench::Proc::fork([&] { return runReader(*result); });
//   reader.wait(std::chrono::seconds(30));
//   auto stats = frameshm::bench::summarize(samples);
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace frameshm::bench {

// Zero-filled memory shared with every process forked after the call; never freed
// (the bench maps a few megabytes per run).
void* sharedAlloc(std::size_t bytes);

template <class T>
T* sharedNew(std::size_t count = 1) {
  return static_cast<T*>(sharedAlloc(sizeof(T) * count));
}

// A forked child process, killed and reaped when destroyed if still running.
class Proc {
 public:
  // Forks; the child runs `body` and _exits with its return value.
  static Proc fork(const std::function<int()>& body);
  // Runs a program (argv[0] looked up in PATH) with stdout and stderr sent to `outputPath`
  // ("" keeps them), in its own process group so a kill reaches its children too.
  static Proc spawn(const std::vector<std::string>& argv, const std::string& outputPath = {},
                    const std::vector<std::string>& env = {});

  Proc() = default;
  Proc(Proc&& other) noexcept;
  Proc& operator=(Proc&& other) noexcept;
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;
  ~Proc();

  // Waits up to `timeout`: the exit code, 128 + signal if killed, or -1 on timeout (then killed).
  int wait(std::chrono::milliseconds timeout);
  // Sends `signal` (to the group for spawned programs) without waiting.
  void signal(int signal) noexcept;
  // SIGINT, then SIGKILL if the child is still there after `grace`. Returns as wait().
  int stop(std::chrono::milliseconds grace);
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  bool group_ = false;
  bool reaped_ = false;
  int status_ = 0;
};

// "bench-<tag>-<pid>-<n>", unique on this machine for this run.
std::string feedName(std::string_view tag);

// Removes /dev/shm/frameshm.<feed> when destroyed (the producer normally does).
class FeedCleanup {
 public:
  explicit FeedCleanup(std::string feed) : feed_(std::move(feed)) {}
  FeedCleanup(const FeedCleanup&) = delete;
  FeedCleanup& operator=(const FeedCleanup&) = delete;
  ~FeedCleanup();

 private:
  std::string feed_;
};

// Percentiles of a set of samples (any unit).
struct Summary {
  std::size_t count = 0;
  double p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;
};
Summary summarize(std::vector<double> samples);

// CPU time (user + system) this process has used, seconds.
double cpuSeconds() noexcept;
// Sleeps until CLOCK_MONOTONIC reaches `ns`.
void sleepUntilNs(std::int64_t ns) noexcept;
// Pins the calling process to one CPU; false if the machine has only one.
bool pinToCpu(int cpu) noexcept;

// Single-core memcpy bandwidth in MB/s (10^6 bytes) for blocks of `bytes`,
// copying from `sources` distinct buffers into `targets` rotating ones for
// about `seconds`: the physical limit of a transport that copies once.
double memcpyMBps(std::size_t bytes, double seconds, int sources = 4, int targets = 3);

// The 1-, 5- and 15-minute load averages.
std::vector<double> loadAverage();

}  // namespace frameshm::bench
