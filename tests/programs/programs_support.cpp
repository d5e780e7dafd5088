// SPDX-License-Identifier: LGPL-2.1-or-later
#include "programs_support.hpp"

#include <cstdlib>
#include <thread>

#include "frameshm/feeds.hpp"

namespace programs {

Running start(const frameshm::test::TempDir& dir, const std::string& name,
              const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  const std::string out = dir.file(name + ".out"), err = dir.file(name + ".err");
  return Running{frameshm::test::Child::spawn(argv, env, out, err), out, err};
}

double jsonNumber(const std::string& json, std::string_view key) {
  std::string needle = "\"";  // appended: GCC 12 sees a false -Wrestrict in "\"" + string
  needle.append(key).append("\":");
  const auto at = json.find(needle);
  if (at == std::string::npos) return -1;
  return std::strtod(json.c_str() + at + needle.size(), nullptr);
}

namespace {

template <class Ready>
bool waitUntil(std::chrono::milliseconds timeout, Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

bool waitForReaders(const std::string& feed, std::size_t readers, std::chrono::milliseconds timeout) {
  return waitUntil(timeout, [&] {
    auto info = frameshm::inspectFeed(feed);
    return info && info->valid && info->readers.size() >= readers;
  });
}

bool waitForFrames(const std::string& feed, std::chrono::milliseconds timeout) {
  return waitUntil(timeout, [&] {
    auto info = frameshm::inspectFeed(feed);
    return info && info->valid && info->framesPublished > 0;
  });
}

std::size_t lineCount(const std::string& text) {
  std::size_t lines = 0;
  for (char c : text) lines += c == '\n';
  if (!text.empty() && text.back() != '\n') ++lines;
  return lines;
}

}  // namespace programs
