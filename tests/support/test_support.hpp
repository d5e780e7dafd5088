// SPDX-License-Identifier: LGPL-2.1-or-later
// tests/support/test_support.hpp — what every frameshm test and the bench need.
//
// Unique feed names (tests run in parallel), a guard that removes a feed's
// segment however the test ends, and child processes that run a lambda or a
// program and are killed if they outlive their timeout. Free of Catch2: the
// bench links it too (target frameshm::process_support).
//
//   const auto feed = frameshm::test::uniqueFeed("fanout");
//   frameshm::test::FeedGuard guard(feed);
//   auto child = frameshm::test::Child::fork([&] { return runReader(feed); });
//   REQUIRE(child.wait(std::chrono::seconds(10)) == 0);
#pragma once

#include <limits.h>
#include <poll.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "frameshm/producer.hpp"

namespace frameshm::test {

// "<prefix><tag>-<pid>-<n>" ("t-" for tests, "bench-" for the bench): unique
// within this machine for this run.
std::string uniqueFeed(std::string_view tag, std::string_view prefix = "t-");

// Whether anything of `feed` is there: a producer answering on its socket,
// its POSIX file in /dev/shm, or a path socket in FRAMESHM_SOCKET_DIR.
bool segmentExists(std::string_view feed);
// Whether a producer answers on the feed's (default) socket.
bool feedServed(std::string_view feed, std::string_view socketDir = {});

// POSIX files in /dev/shm whose feed name starts with `prefix`.
std::vector<std::string> segmentsWithPrefix(std::string_view prefix);

// System V segments of this user alive right now (ipcs -m), by id; only
// those `creator` made, if given (tests run in parallel).
std::vector<int> sysvSegments(pid_t creator = 0);

// Every backend, for tests that run the same way on each.
inline constexpr const char* kBackends[] = {"memfd", "posix", "sysv"};

// Removes the feed's POSIX file, if any, when destroyed.
class FeedGuard {
 public:
  explicit FeedGuard(std::string feed) : feed_(std::move(feed)) {}
  FeedGuard(const FeedGuard&) = delete;
  FeedGuard& operator=(const FeedGuard&) = delete;
  ~FeedGuard();

 private:
  std::string feed_;
};

// How Child::spawn runs a program.
struct SpawnOptions {
  std::vector<std::string> env{};  // "K=V" entries added to the environment
  std::string stdoutPath{};        // "" keeps stdout
  std::string stderrPath{};        // "" keeps stderr; the same path as stdoutPath shares the file
  bool ownGroup = false;           // its own process group: kill() and the timeout reach its children too
};

// A child process, killed (SIGKILL) and reaped when destroyed if still running.
class Child {
 public:
  // Forks; the child runs `body` and exits with its return value. Output
  // buffers are flushed before the child exits; fatal signals have their
  // default action in the child (not Catch2's handlers).
  static Child fork(const std::function<int()>& body);
  // Runs `argv[0]` with `argv`; `env` entries ("K=V") are added to the environment.
  static Child spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                     const std::string& stdoutPath = {}, const std::string& stderrPath = {});
  // Runs `argv[0]` (looked up in PATH) as `options` say. If exec fails, the
  // child reports why on its stderr and exits 127.
  static Child spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // Waits for the child: its exit code, 128 + signal if killed by one, or -1
  // if it was still running at the timeout (it is then killed).
  int wait(std::chrono::milliseconds timeout);
  // Sends `signal` (to its process group too, if it has its own) without waiting.
  void kill(int signal) noexcept;
  // SIGINT, then as wait(grace): SIGKILL if still running after `grace`.
  int stop(std::chrono::milliseconds grace);
  [[nodiscard]] bool running();

 private:
  explicit Child(pid_t pid, bool group = false) noexcept : pid_(pid), group_(group) {}
  pid_t pid_ = -1;
  bool group_ = false;
  bool reaped_ = false;
  int status_ = 0;  // waitpid status, once reaped
};

// A pipe a forked child sends one plain value through, back to the test.
template <class T>
class ResultPipe {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= PIPE_BUF, "sent in one atomic write");

 public:
  ResultPipe() {
    if (pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
  }
  ResultPipe(const ResultPipe&) = delete;
  ResultPipe& operator=(const ResultPipe&) = delete;
  ~ResultPipe() {
    close(fds_[0]);
    close(fds_[1]);
  }
  void send(const T& value) const { (void)!write(fds_[1], &value, sizeof value); }
  // The value, or nullopt if none came within `timeout`.
  std::optional<T> receive(std::chrono::milliseconds timeout) const {
    pollfd pfd{fds_[0], POLLIN, 0};
    T value{};
    if (poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    if (read(fds_[0], &value, sizeof value) != sizeof value) return std::nullopt;
    return value;
  }

 private:
  int fds_[2]{-1, -1};
};

// Publishes zero-filled frames through `producer` every `interval`, on a
// thread of its own, until destroyed or a publish fails.
class BackgroundPublisher {
 public:
  BackgroundPublisher(Producer& producer, std::chrono::milliseconds interval);
  BackgroundPublisher(const BackgroundPublisher&) = delete;
  BackgroundPublisher& operator=(const BackgroundPublisher&) = delete;
  ~BackgroundPublisher();

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Waits until `producer` has at least `count` readers; false at the timeout (a hang guard).
bool waitForReaders(const Producer& producer, std::uint32_t count, std::chrono::milliseconds timeout);

// The whole contents of a file ("" if it cannot be read).
std::string readFile(const std::string& path);

// A fresh temporary directory for this test, removed with its contents when destroyed.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// A started program (Child::spawn) and the files its stdout and stderr go to.
struct Running {
  Child child;
  std::string outPath;
  std::string errPath;
  [[nodiscard]] std::string out() const { return readFile(outPath); }
  [[nodiscard]] std::string err() const { return readFile(errPath); }
};

}  // namespace frameshm::test
