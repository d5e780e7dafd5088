// SPDX-License-Identifier: LGPL-2.1-or-later
// program_support.hpp — what frameshm-producer and frameshm-consumer share.
//
// Both programs parse their command line with frameshm::cli::parse (exit code
// 2 for any mistake), report bad input as one line, stop cleanly on
// SIGINT/SIGTERM, and keep one live status line on a terminal. This header
// holds those pieces so the two mains stay about their job.
//
//   CLI::App app{"Reads a feed", "frameshm-consumer"};
//   ...
//   if (auto code = frameshm::cli::parse(app, argc, argv)) return *code;
//   frameshm::programs::installStopHandlers();
//   frameshm::programs::StatusLine status;
//   while (!frameshm::programs::stopRequested()) status.show("30.0 fps");
#pragma once

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <opencv2/core/utils/logger.hpp>
#include <string>
#include <string_view>

#include "cli_parse.hpp"

namespace frameshm::programs {

using cli::kExitOk;
using cli::kExitRuntime;
using cli::kExitUsage;

// Prints "<program>: <message>" as one line on stderr. Returns kExitUsage.
inline int usageError(std::string_view program, const std::string& message) {
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(), message.c_str());
  return kExitUsage;
}

// Keeps OpenCV's own log lines (backend probing, GStreamer warnings) off
// stderr, so a failure reads as the program's one line. OPENCV_LOG_LEVEL in
// the environment still turns them on for debugging.
inline void silenceOpenCvLogs() {
  if (std::getenv("OPENCV_LOG_LEVEL") == nullptr)
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
}

namespace detail {
inline std::atomic<int> stopSignal{0};
inline void onStopSignal(int signal) {
  stopSignal.store(signal, std::memory_order_relaxed);
}
}  // namespace detail

// Makes SIGINT and SIGTERM request a clean stop instead of killing the program.
// Without SA_RESTART, so a blocking sleep or read returns early.
inline void installStopHandlers() {
  struct sigaction action {};
  action.sa_handler = detail::onStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// True once SIGINT or SIGTERM arrived.
[[nodiscard]] inline bool stopRequested() noexcept {
  return detail::stopSignal.load(std::memory_order_relaxed) != 0;
}

// The signal that asked to stop (0 if none), for the summary.
[[nodiscard]] inline int stopSignal() noexcept {
  return detail::stopSignal.load(std::memory_order_relaxed);
}

// One status line rewritten in place on stderr, only when stderr is a terminal
// (logs and test output stay clean), at most a few times a second.
class StatusLine {
 public:
  StatusLine() : enabled_(isatty(STDERR_FILENO) == 1) {}
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;
  ~StatusLine() { finish(); }

  [[nodiscard]] bool enabled() const noexcept { return enabled_; }

  // True if it is time to redraw; build the text only then.
  [[nodiscard]] bool due() const noexcept {
    return enabled_ && std::chrono::steady_clock::now() - last_ >= std::chrono::milliseconds(250);
  }

  void show(const std::string& text) {
    if (!enabled_) return;
    last_ = std::chrono::steady_clock::now();
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    shown_ = true;
  }

  // Ends the line so the next message starts on a fresh one.
  void finish() {
    if (!shown_) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace frameshm::programs
