// SPDX-License-Identifier: LGPL-2.1-or-later
#include "programs_support.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "frameshm/feeds.hpp"

namespace launch {

Running start(const frameshm::test::TempDir& dir, const std::string& name,
              const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  const std::string out = dir.file(name + ".out"), err = dir.file(name + ".err");
  return Running{frameshm::test::Child::spawn(argv, env, out, err), out, err};
}

double jsonNumber(const std::string& json, std::string_view key) {
  const auto doc = nlohmann::json::parse(json, nullptr, false);
  if (!doc.is_object()) return -1;
  const std::string name(key);
  if (doc.contains(name)) return doc[name].is_number() ? doc[name].get<double>() : -1;
  for (const auto& [member, value] : doc.items())
    if (value.is_object() && value.contains(name) && value[name].is_number())
      return value[name].get<double>();
  return -1;
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
    if (!info || !info->valid) return false;
    return static_cast<std::size_t>(std::ranges::count_if(
               info->readers, [](const frameshm::ReaderInfo& r) { return r.framesRead > 0; })) >= readers;
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

}  // namespace launch
