// SPDX-License-Identifier: LGPL-2.1-or-later
// Who may read a feed: the producer's user and root always; another user
// only when the producer lets its uid or one of its groups in (SO_PEERCRED
// on the feed's socket), whatever the backend.
#include <grp.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "frameshm/consumer.hpp"
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

Producer publishing(const std::string& feed, Backend backend, std::vector<gid_t> groups = {},
                    mode_t mode = 0600) {
  auto producer = Producer::create({.feed = feed,
                                    .format = *makeFormat(PixelFormat::Gray8, 16, 16),
                                    .mode = mode,
                                    .backend = backend,
                                    .allowedGids = std::move(groups)});
  REQUIRE(producer);
  REQUIRE(producer->write(std::vector<std::byte>(256)));
  return std::move(*producer);
}

constexpr gid_t kNogroup = 65534;

}  // namespace

TEST_CASE("the POSIX file and the System V segment are created 0600 unless the producer asks for more") {
  const auto feed = uniqueFeed("defaultmode");
  FeedGuard guard(feed);
  {
    auto producer = publishing(feed, Backend::Posix);
    struct stat st {};
    REQUIRE(stat(("/dev/shm/frameshm." + feed).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  const auto before = frameshm::test::sysvSegments(getpid());
  auto producer = publishing(feed, Backend::SysV);
  for (int id : frameshm::test::sysvSegments(getpid())) {
    if (std::find(before.begin(), before.end(), id) != before.end()) continue;
    shmid_ds ds{};
    REQUIRE(shmctl(id, IPC_STAT, &ds) == 0);
    CHECK((ds.shm_perm.mode & 0777) == 0600);
  }
}

TEST_CASE("another uid is refused with permission denied and gets no descriptor, on every backend") {
  if (getuid() != 0) {
    WARN("needs root to run a probe as another user: not checked");
    return;
  }
  const std::string backend = GENERATE(values({"memfd", "posix", "sysv"}));
  INFO("backend " << backend);
  const auto feed = uniqueFeed("private");
  FeedGuard guard(feed);
  auto producer = publishing(feed, *backendFromString(backend));
  auto [code, message] = probeAsNobody(feed, "");
  INFO(message);
  CHECK(code == 3);
  CHECK(message.find("permission denied for feed '" + feed + "'") != std::string::npos);
  CHECK(producer.readerCount() == 0);
}

TEST_CASE("with the group option another uid in that group reads the feed, and outside it is refused") {
  if (getuid() != 0) {
    WARN("needs root to run a probe as another user: not checked");
    return;
  }
  const std::string backend = GENERATE(values({"memfd", "posix", "sysv"}));
  INFO("backend " << backend);
  {
    const auto feed = uniqueFeed("othergroup");
    FeedGuard guard(feed);
    auto producer = publishing(feed, *backendFromString(backend), {12345});
    CHECK(probeAsNobody(feed, "").first == 3);
  }
  const auto feed = uniqueFeed("group");
  FeedGuard guard(feed);
  auto producer = publishing(feed, *backendFromString(backend), {kNogroup});
  std::pair<int, std::string> probed;
  {
    frameshm::test::BackgroundPublisher publisher(producer, 10ms);
    probed = probeAsNobody(feed, "");
  }
  const auto& [code, message] = probed;
  INFO(message);
  CHECK(code == 0);
}

TEST_CASE("a feed name squatted by another uid is refused by consumers and producers, naming that uid") {
  if (getuid() != 0) {
    WARN("needs root to run a squatter as another user: not checked");
    return;
  }
  const auto feed = uniqueFeed("squat");
  FeedGuard guard(feed);
  frameshm::test::ResultPipe<int> ready;
  auto squatter = Child::fork([&] {
    if (setgroups(0, nullptr) != 0 || setgid(kNogroup) != 0 || setuid(65534) != 0) return 9;
    auto producer = Producer::create({.feed = feed, .format = *makeFormat(PixelFormat::Gray8, 16, 16)});
    if (!producer) return 1;
    (void)producer->write(std::vector<std::byte>(256));
    ready.send(1);
    pause();
    return 0;
  });
  REQUIRE(ready.receive(10s));
  auto consumer = Consumer::open({.feed = feed});
  REQUIRE_FALSE(consumer);
  CHECK(consumer.error().code == ErrorCode::PermissionDenied);
  CHECK(consumer.error().message.find("permission denied for feed '" + feed + "'") != std::string::npos);
  CHECK(consumer.error().message.find("uid 65534") != std::string::npos);
  // Trusted by choice, it reads.
  auto trusting = Consumer::open({.feed = feed, .trustedUids = {65534}});
  CHECK(trusting);
  squatter.kill(SIGKILL);
  CHECK(squatter.wait(10s) == 128 + SIGKILL);
}
