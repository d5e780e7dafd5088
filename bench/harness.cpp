// SPDX-License-Identifier: LGPL-2.1-or-later
#include "harness.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <numeric>
#include <thread>
#include <utility>

#include "frameshm/clock.hpp"

namespace frameshm::bench {

void* sharedAlloc(std::size_t bytes) {
  void* memory = mmap(nullptr, std::max<std::size_t>(bytes, 1), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  return memory;
}

Proc Proc::fork(const std::function<int()>& body) {
  std::fflush(nullptr);
  Proc proc;
  proc.pid_ = ::fork();
  if (proc.pid_ == 0) {
    int code = 127;
    try {
      code = body();
    } catch (...) {
      code = 126;
    }
    std::fflush(nullptr);
    _exit(code);
  }
  return proc;
}

Proc Proc::spawn(const std::vector<std::string>& argv, const std::string& outputPath,
                 const std::vector<std::string>& env) {
  std::fflush(nullptr);
  Proc proc;
  proc.group_ = true;
  proc.pid_ = ::fork();
  if (proc.pid_ == 0) {
    setpgid(0, 0);
    for (const auto& entry : env) putenv(strdup(entry.c_str()));
    if (!outputPath.empty()) {
      const int fd = open(outputPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
    }
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  if (proc.pid_ > 0) setpgid(proc.pid_, proc.pid_);
  return proc;
}

Proc::Proc(Proc&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      group_(other.group_),
      reaped_(other.reaped_),
      status_(other.status_) {}

Proc& Proc::operator=(Proc&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !reaped_) wait(std::chrono::milliseconds(0));
    pid_ = std::exchange(other.pid_, -1);
    group_ = other.group_;
    reaped_ = other.reaped_;
    status_ = other.status_;
  }
  return *this;
}

Proc::~Proc() {
  if (pid_ > 0 && !reaped_) wait(std::chrono::milliseconds(0));
}

void Proc::signal(int sig) noexcept {
  if (pid_ <= 0 || reaped_) return;
  if (group_) ::kill(-pid_, sig);
  ::kill(pid_, sig);
}

int Proc::wait(std::chrono::milliseconds timeout) {
  auto decode = [this] {
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
    return -1;
  };
  if (pid_ <= 0) return -1;
  if (reaped_) return decode();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const pid_t got = waitpid(pid_, &status_, WNOHANG);
    if (got == pid_ || (got < 0 && errno != EINTR)) {
      reaped_ = true;
      return got == pid_ ? decode() : -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  signal(SIGKILL);
  waitpid(pid_, &status_, 0);
  reaped_ = true;
  return -1;
}

int Proc::stop(std::chrono::milliseconds grace) {
  signal(SIGINT);
  return wait(grace);
}

std::string feedName(std::string_view tag) {
  static std::atomic<int> counter{0};
  return "bench-" + std::string(tag) + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

FeedCleanup::~FeedCleanup() {
  const std::string name = "/frameshm." + feed_;
  shm_unlink(name.c_str());
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

double memcpyMBps(std::size_t bytes, double seconds, int sources, int targets) {
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
