// SPDX-License-Identifier: LGPL-2.1-or-later
// Who may open a feed: the owner always; another user only through the
// group, when the producer opened the feed to it.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "frameshm/producer.hpp"
#include "test_support.hpp"

using namespace frameshm;
using namespace std::chrono_literals;
using frameshm::test::Child;
using frameshm::test::FeedGuard;
using frameshm::test::TempDir;
using frameshm::test::uniqueFeed;

namespace {

// Runs open_probe on `feed` as user and group `nobody`, with `groups` as its
// supplementary groups; returns its exit code and what it printed.
std::pair<int, std::string> probeAsNobody(const std::string& feed, const std::string& groups) {
  TempDir dir;
  const std::string err = dir.file("stderr");
  std::vector<std::string> argv = {"setpriv", "--reuid=65534", "--regid=65534"};
  argv.push_back(groups.empty() ? "--clear-groups" : "--groups=" + groups);
  argv.push_back(FRAMESHM_OPEN_PROBE);
  argv.push_back(feed);
  auto child = Child::spawn(argv, {}, "", err);
  const int code = child.wait(10s);
  return {code, frameshm::test::readFile(err)};
}

Producer publishing(const std::string& feed, mode_t mode) {
  auto producer = Producer::create({.feed = feed, .format = *makeFormat(PixelFormat::Gray8, 16, 16), .mode = mode});
  REQUIRE(producer);
  REQUIRE(producer->write(std::vector<std::byte>(256)));
  return std::move(*producer);
}

}  // namespace

TEST_CASE("feeds are created 0600 unless the producer asks for more") {
  const auto feed = uniqueFeed("defaultmode");
  FeedGuard guard(feed);
  auto producer = publishing(feed, ProducerOptions{}.mode);
  struct stat st{};
  REQUIRE(stat(("/dev/shm/frameshm." + feed).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("another user cannot open a 0600 feed and is told permission is denied") {
  if (getuid() != 0) {
    WARN("needs root to run a probe as another user: not checked");
    return;
  }
  const auto feed = uniqueFeed("private");
  FeedGuard guard(feed);
  auto producer = publishing(feed, 0600);
  auto [code, message] = probeAsNobody(feed, "");
  CHECK(code == 3);
  CHECK(message.find("permission denied for feed '" + feed + "'") != std::string::npos);
  CHECK(producer.readerCount() == 0);
}

TEST_CASE("with 0660, another user in the feed's group can read it") {
  if (getuid() != 0) {
    WARN("needs root to run a probe as another user: not checked");
    return;
  }
  const auto feed = uniqueFeed("group");
  FeedGuard guard(feed);
  auto producer = publishing(feed, 0660);
  struct stat st{};
  REQUIRE(stat(("/dev/shm/frameshm." + feed).c_str(), &st) == 0);
  // Outside the group: still refused.
  CHECK(probeAsNobody(feed, "").first == 3);
  // In the group: it opens the feed and gets a frame.
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    while (!stop && producer.write(std::vector<std::byte>(256))) std::this_thread::sleep_for(10ms);
  });
  auto [code, message] = probeAsNobody(feed, std::to_string(st.st_gid));
  stop = true;
  publisher.join();
  INFO(message);
  CHECK(code == 0);
}
