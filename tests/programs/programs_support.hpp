// SPDX-License-Identifier: LGPL-2.1-or-later
// programs_support.hpp — launching frameshm-producer and frameshm-consumer from tests.
//
// Each program runs as a real child process with its stdout and stderr in
// files of a TempDir; the helpers read the consumer's --stats-json line and
// wait for a feed to have readers, so tests synchronise on facts, not sleeps.
// (Namespace `launch`, not to be confused with the programs' own
// frameshm::programs support.)
//
//   frameshm::test::TempDir dir;
//   auto consumer = launch::start(dir, "c1", {launch::consumer(), "--feed", feed, "--stats-json"});
//   REQUIRE(consumer.child.wait(std::chrono::seconds(60)) == 0);
//   CHECK(launch::jsonNumber(consumer.out(), "verify_failures") == 0);
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "test_support.hpp"

namespace launch {

inline std::string producer() {
  return FRAMESHM_PRODUCER;
}
inline std::string consumer() {
  return FRAMESHM_CONSUMER;
}

using frameshm::test::Running;  // a started program and where its output goes

// Starts `argv` with stdout/stderr in dir/<name>.out and dir/<name>.err.
Running start(const frameshm::test::TempDir& dir, const std::string& name,
              const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

// The number under `key` in the one-line JSON object `json`, at its top level
// or in one of its member objects ("p50" in "latency_us"); -1 if `json` is
// not JSON or has no such number.
double jsonNumber(const std::string& json, std::string_view key);

// Waits until `feed` has at least `readers` live readers that have each read a
// frame (so their Consumer::open is done: a feed ended while a reader is
// still in its handshake is, to that reader, a feed that never appeared).
// False at the timeout.
bool waitForReaders(const std::string& feed, std::size_t readers, std::chrono::milliseconds timeout);

// Waits until `feed` has published at least one frame. False at the timeout.
bool waitForFrames(const std::string& feed, std::chrono::milliseconds timeout);

// Lines in `text` (each ending in '\n', or a last unterminated one).
std::size_t lineCount(const std::string& text);

}  // namespace launch
