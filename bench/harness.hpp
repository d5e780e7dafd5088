// SPDX-License-Identifier: LGPL-2.1-or-later
// bench/harness.hpp — shared result memory, programs and statistics for frameshm-bench.
//
// Every scenario runs its producer and readers as forked processes that
// report through memory shared with the parent (mapped before the fork), so
// the figures come from real cross-process transport. The processes, feed
// names ("bench-<tag>-<pid>-<n>") and feed guards are the tests' own
// (test_support.hpp, frameshm::process_support): one copy for both.
//
//   auto* result = frameshm::bench::sharedNew<ReaderResult>();
//   auto reader = frameshm::test::Child::fork([&] { return runReader(*result); });
//   reader.wait(std::chrono::seconds(30));
//   auto stats = frameshm::bench::summarize(samples);
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace frameshm::bench {

// Zero-filled memory shared with every process forked after the call; never freed
// (the bench maps a few megabytes per run).
void* sharedAlloc(std::size_t bytes);

template <class T>
T* sharedNew(std::size_t count = 1) {
  return static_cast<T*>(sharedAlloc(sizeof(T) * count));
}

// Runs a program (argv[0] looked up in PATH) in its own process group, so a
// kill reaches its children too, with stdout and stderr in `logPath`.
test::Child spawnLogged(const std::vector<std::string>& argv, const std::string& logPath,
                        const std::vector<std::string>& env = {});

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
// `afterEach`, if set, runs after every copy and counts in the time.
double memcpyMBps(std::size_t bytes, double seconds, int sources = 4, int targets = 3,
                  const std::function<void()>& afterEach = {});

// The 1-, 5- and 15-minute load averages.
std::vector<double> loadAverage();

}  // namespace frameshm::bench
