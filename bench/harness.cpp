// SPDX-License-Identifier: LGPL-2.1-or-later
#include "harness.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <numeric>
#include <thread>

#include "frameshm/clock.hpp"

namespace frameshm::bench {

void* sharedAlloc(std::size_t bytes) {
  void* memory = mmap(nullptr, std::max<std::size_t>(bytes, 1), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  return memory;
}

test::Child spawnLogged(const std::vector<std::string>& argv, const std::string& logPath,
                        const std::vector<std::string>& env) {
  return test::Child::spawn(argv,
                            {.env = env, .stdoutPath = logPath, .stderrPath = logPath, .ownGroup = true});
}

Summary summarize(std::vector<double> samples) {
  Summary summary;
  summary.count = samples.size();
  if (samples.empty()) return summary;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    const auto index = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size()))) - 1;
    return samples[std::min(index, samples.size() - 1)];
  };
  summary.p50 = at(0.50);
  summary.p95 = at(0.95);
  summary.p99 = at(0.99);
  summary.max = samples.back();
  summary.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  return summary;
}

double cpuSeconds() noexcept {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void sleepUntilNs(std::int64_t ns) noexcept {
  const timespec until{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
  }
}

bool pinToCpu(int cpu) noexcept {
  if (std::thread::hardware_concurrency() < 2) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

double memcpyMBps(std::size_t bytes, double seconds, int sources, int targets,
                  const std::function<void()>& afterEach) {
  std::vector<std::vector<std::byte>> from(static_cast<std::size_t>(sources), std::vector<std::byte>(bytes));
  std::vector<std::vector<std::byte>> to(static_cast<std::size_t>(targets), std::vector<std::byte>(bytes));
  for (std::size_t i = 0; i < from.size(); ++i) std::memset(from[i].data(), static_cast<int>(i + 1), bytes);
  for (auto& buffer : to) std::memset(buffer.data(), 0, bytes);
  const std::int64_t start = monotonicNs();
  const auto budget = static_cast<std::int64_t>(seconds * 1e9);
  std::uint64_t copies = 0;
  std::int64_t now = start;
  while (now - start < budget || copies < 8) {
    std::memcpy(to[copies % to.size()].data(), from[copies % from.size()].data(), bytes);
    if (afterEach) afterEach();
    ++copies;
    now = monotonicNs();
  }
  return static_cast<double>(copies) * static_cast<double>(bytes) / (static_cast<double>(now - start) * 1e-3);
}

std::vector<double> loadAverage() {
  double values[3] = {0, 0, 0};
  if (getloadavg(values, 3) != 3) return {0, 0, 0};
  return {values[0], values[1], values[2]};
}

}  // namespace frameshm::bench
