// SPDX-License-Identifier: LGPL-2.1-or-later
// A consumer in its own mount and IPC namespace (`unshare --mount --ipc`,
// with a private, empty /dev/shm), as in a container that shares only the
// network namespace (abstract sockets) or a bind-mounted socket directory:
// memfd and POSIX feeds are read through the socket alone, since the frame
// memory travels as a descriptor. A System V feed cannot cross an IPC
// namespace; its consumer says so instead of hanging.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
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

// Runs open_probe on `feed` in new mount and IPC namespaces with an empty
// /dev/shm; its exit code (0: read a frame), or nullopt if namespaces are not
// allowed here.
std::optional<int> probeInNamespaces(const std::string& feed, std::string& message,
                                     const std::vector<std::string>& env = {}) {
  TempDir dir;
  const std::string err = dir.file("stderr");
  auto check = Child::spawn({"unshare", "--mount", "--ipc", "true"}, {}, "", err);
  if (check.wait(10s) != 0) {
    message = frameshm::test::readFile(err);
    return std::nullopt;
  }
  auto child =
      Child::spawn({"unshare", "--mount", "--ipc", "sh", "-c",
                    "mount -t tmpfs none /dev/shm && test -z \"$(ls /dev/shm)\" && exec \"$0\" \"$1\"",
                    FRAMESHM_OPEN_PROBE, feed},
                   env, "", err);
  const int code = child.wait(20s);
  message = frameshm::test::readFile(err);
  return code;
}

}  // namespace

TEST_CASE(
    "a consumer in its own mount and IPC namespace reads memfd and POSIX feeds through the socket alone") {
  const std::string backend = GENERATE(values({"memfd", "posix", "sysv"}));
  INFO("backend " << backend);
  const auto feed = uniqueFeed("ns-" + backend);
  FeedGuard guard(feed);
  auto producer = Producer::create({.feed = feed,
                                    .format = *makeFormat(PixelFormat::Gray8, 16, 16),
                                    .backend = *backendFromString(backend)});
  REQUIRE(producer);
  std::string message;
  std::optional<int> code;
  {
    frameshm::test::BackgroundPublisher publisher(*producer, 5ms);
    code = probeInNamespaces(feed, message);
  }
  if (!code) {
    WARN("skipped: this machine does not allow unshare --mount --ipc: " << message);
    return;
  }
  INFO(message);
  if (backend == "sysv") {
    CHECK(*code == 1);  // refused with a message, not a hang
    CHECK(message.find("System V segment") != std::string::npos);
  } else {
    CHECK(*code == 0);
  }
}

TEST_CASE(
    "a consumer in its own namespaces finds a feed through a socket directory given by FRAMESHM_SOCKET_DIR") {
  TempDir sockets;
  const auto feed = uniqueFeed("nsdir");
  auto producer = Producer::create(
      {.feed = feed, .format = *makeFormat(PixelFormat::Gray8, 16, 16), .socketDir = sockets.path()});
  REQUIRE(producer);
  std::string message;
  std::optional<int> code;
  {
    frameshm::test::BackgroundPublisher publisher(*producer, 5ms);
    code = probeInNamespaces(feed, message, {"FRAMESHM_SOCKET_DIR=" + sockets.path()});
  }
  if (!code) {
    WARN("skipped: this machine does not allow unshare --mount --ipc: " << message);
    return;
  }
  INFO(message);
  CHECK(*code == 0);
  producer->end();
  CHECK_FALSE(frameshm::test::segmentExists(feed));
  struct stat st {};
  CHECK(stat(feedAddress(feed, sockets.path()).c_str(), &st) != 0);  // its socket went with it
}
