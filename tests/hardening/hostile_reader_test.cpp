// SPDX-License-Identifier: LGPL-2.1-or-later
// A hostile reader, as its own process of another uid let in by the group
// option, tries everything it can against a feed while two normal readers
// verify every frame, on every backend (issue 11): resize and write every
// descriptor it got, map the frames writable, scribble over its own control
// memory, pin every slot, connect and disconnect 1000 times, send garbage and
// truncated hellos, connect and never read. Nothing it does may reach the
// producer or the other readers.
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "frameshm/clock.hpp"
#include "frameshm/consumer.hpp"
#include "frameshm/producer.hpp"
#include "frameshm/stamp.hpp"
#include "handshake.hpp"
#include "layout.hpp"
#include "test_support.hpp"

using namespace frameshm;
using namespace std::chrono_literals;
using frameshm::test::Child;
using frameshm::test::FeedGuard;
using frameshm::test::uniqueFeed;

namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Bits of what the hostile reader managed: every one must stay 0.
enum Breach : std::uint32_t {
  TruncatedFrames = 1 << 0,
  GrewFrames = 1 << 1,
  WroteFrames = 1 << 2,
  MappedFramesWritable = 1 << 3,
  ShrankControl = 1 << 4,
  NoHandshake = 1 << 5,  // not a breach: the attack could not even start
};

struct Verdict {
  std::uint32_t breaches = 0;
  std::uint32_t cycles = 0;
};

struct ReaderReport {
  std::uint64_t accepted = 0;
  std::uint64_t badStamps = 0;
  int endedBy = -1;
};

// The handshake by hand, so the attacker holds the raw descriptors.
std::optional<detail::Received> handshake(const std::string& feed, detail::Fd& connection,
                                          std::uint32_t flags) {
  auto fd = detail::connectToFeed(feed, {});
  if (!fd) return std::nullopt;
  connection = std::move(*fd);
  detail::Hello hello;
  hello.request = static_cast<std::uint16_t>(detail::Request::Read);
  hello.flags = flags;
  hello.pid = static_cast<std::uint32_t>(getpid());
  if (!detail::sendMessage(connection.get(), detail::encode(hello), {})) return std::nullopt;
  auto got =
      detail::receiveWelcome(connection.get(), detail::Request::Read, monotonicNs() + 5'000'000'000, feed);
  if (!got || got->welcome.status != detail::Status::Ok) return std::nullopt;
  return std::move(*got);
}

int attack(const std::string& feed, const test::ResultPipe<Verdict>& out) {
  if (setgroups(0, nullptr) != 0 || setgid(kNogroup) != 0 || setuid(kNobody) != 0) return 9;
  Verdict v;
  detail::Fd connection;
  auto got = handshake(feed, connection, detail::kHelloPin);
  if (!got) {
    v.breaches |= NoHandshake;
    out.send(v);
    return 0;
  }
  const auto& w = got->welcome;
  const int control = got->fds.back().get();
  // The frame memory: every descriptor, and for SysV the id.
  for (std::size_t i = 0; i + 1 < got->fds.size(); ++i) {
    const int fd = got->fds[i].get();
    if (ftruncate(fd, 4096) == 0) v.breaches |= TruncatedFrames;
    if (ftruncate(fd, static_cast<off_t>(w.memorySize * 2)) == 0) v.breaches |= GrewFrames;
    const char junk[16] = {};
    if (pwrite(fd, junk, sizeof junk, 0) > 0 || write(fd, junk, sizeof junk) > 0) v.breaches |= WroteFrames;
    void* writable = mmap(nullptr, w.memorySize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (writable != MAP_FAILED) {
      v.breaches |= MappedFramesWritable;
      munmap(writable, w.memorySize);
    }
    // mprotect of a read-only shared mapping to writable must fail too.
    void* ro = mmap(nullptr, w.memorySize, PROT_READ, MAP_SHARED, fd, 0);
    if (ro != MAP_FAILED) {
      if (mprotect(ro, w.memorySize, PROT_READ | PROT_WRITE) == 0) v.breaches |= MappedFramesWritable;
      munmap(ro, w.memorySize);
    }
  }
  if (w.backend == Backend::SysV) {
    void* writable = shmat(w.shmid, nullptr, 0);
    if (writable != reinterpret_cast<void*>(-1)) {
      v.breaches |= MappedFramesWritable;
      shmdt(writable);
    }
  }
  if (ftruncate(control, 0) == 0) v.breaches |= ShrankControl;
  // Its own control memory: every slot pinned, then random bytes, again and again.
  void* mapped = mmap(nullptr, layout::kControlSize, PROT_READ | PROT_WRITE, MAP_SHARED, control, 0);
  std::mt19937_64 random(getpid());
  if (mapped != MAP_FAILED) {
    auto* ctl = static_cast<layout::ReaderControl*>(mapped);
    ctl->pinnedMask = ~std::uint64_t{0};
    ctl->waiting = 1;
    for (int round = 0; round < 200; ++round) {
      auto* words = static_cast<std::uint64_t*>(mapped);
      for (std::size_t i = 0; i < layout::kControlSize / 8; ++i) words[i] = random();
      std::this_thread::sleep_for(1ms);
    }
    ctl->pinnedMask = ~std::uint64_t{0};
  }
  // Connections that never say hello, held open.
  std::vector<detail::Fd> silent;
  for (int i = 0; i < 100; ++i)
    if (auto fd = detail::connectToFeed(feed, {})) silent.push_back(std::move(*fd));
  // Garbage and truncated hellos, and plain connect/disconnect cycles.
  for (int i = 0; i < 1000; ++i) {
    auto fd = detail::connectToFeed(feed, {});
    if (!fd) continue;
    ++v.cycles;
    std::byte bytes[64];
    for (auto& b : bytes) b = static_cast<std::byte>(random());
    if (i % 3 == 1) (void)!send(fd->get(), bytes, 1 + random() % sizeof bytes, MSG_NOSIGNAL);
    if (i % 3 == 2) {
      auto hello = detail::encode(detail::Hello{});
      (void)!send(fd->get(), hello.data(), 7, MSG_NOSIGNAL);
    }
  }
  // Garbage on its own, admitted connection: the producer ignores it.
  for (int i = 0; i < 100; ++i) {
    std::byte bytes[512];
    for (auto& b : bytes) b = static_cast<std::byte>(random());
    (void)!send(connection.get(), bytes, sizeof bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  out.send(v);
  pause();  // stays connected, pins and all, until killed
  return 0;
}

int verify(const std::string& feed, std::uint64_t frames, const test::ResultPipe<ReaderReport>& out) {
  ReaderReport report;
  auto consumer = Consumer::open({.feed = feed, .openTimeout = 10s});
  if (!consumer) return 1;
  while (report.accepted < frames) {
    auto frame = consumer->waitFrame(10s);
    if (!frame) {
      report.endedBy = static_cast<int>(frame.error().code);
      break;
    }
    const bool ok =
        checkStamp(frame->data()) == StampCheck::Ok && stampedNumber(frame->data()) == frame->number();
    if (!frame->intact()) continue;
    ++report.accepted;
    if (!ok) ++report.badStamps;
  }
  out.send(report);
  return 0;
}

}  // namespace

TEST_CASE("a hostile reader of another uid cannot break the feed for the producer or two verifying readers") {
  if (getuid() != 0) {
    WARN("needs root to run the hostile reader as another user: not checked");
    return;
  }
  const std::string backend = GENERATE(values({"memfd", "posix", "sysv"}));
  INFO("backend " << backend);
  const auto feed = uniqueFeed("hostile-" + backend);
  FeedGuard guard(feed);
  // Every child is forked before the producer exists, while this process has
  // no other thread (under TSan a child of a threaded process may not start
  // threads); the hostile one attacks once the two readers are in.
  constexpr std::uint64_t kFrames = 3000;
  test::ResultPipe<ReaderReport> reportA, reportB;
  auto a = Child::fork([&] { return verify(feed, kFrames, reportA); });
  auto b = Child::fork([&] { return verify(feed, kFrames, reportB); });
  test::ResultPipe<Verdict> verdict;
  test::ResultPipe<char> go;
  auto hostile = Child::fork([&] { return go.receive(60s) ? attack(feed, verdict) : 8; });
  auto producer = Producer::create({.feed = feed,
                                    .format = *makeFormat(PixelFormat::Gray8, 320, 240, {500, 1}),
                                    .slots = 3,
                                    .backend = *backendFromString(backend),
                                    .allowedGids = {kNogroup}});
  REQUIRE(producer);
  for (int i = 0; i < 5000 && producer->readerCount() < 2; ++i) std::this_thread::sleep_for(1ms);
  go.send(1);

  std::atomic<bool> stop{false};
  std::uint64_t failures = 0;
  std::thread publisher([&] {
    while (!stop) {
      auto slot = producer->acquire();
      if (!slot) {
        ++failures;
        break;
      }
      writeStamp(slot->data(), slot->frameNumber());
      if (!producer->publish(std::move(*slot))) ++failures;
      std::this_thread::sleep_for(200us);
    }
  });
  const auto hostileVerdict = verdict.receive(60s);
  const auto ra = reportA.receive(60s);
  const auto rb = reportB.receive(60s);
  stop = true;
  publisher.join();
  hostile.kill(SIGKILL);
  CHECK(hostile.wait(10s) == 128 + SIGKILL);
  CHECK(a.wait(10s) == 0);
  CHECK(b.wait(10s) == 0);

  REQUIRE(hostileVerdict);
  CHECK((hostileVerdict->breaches & NoHandshake) == 0);
  CHECK((hostileVerdict->breaches & ~NoHandshake) == 0);
  CHECK(hostileVerdict->cycles == 1000);
  CHECK(failures == 0);
  for (const auto& r : {ra, rb}) {
    REQUIRE(r);
    CHECK(r->accepted == kFrames);
    CHECK(r->badStamps == 0);
  }
  // Its pins were masked or overwritten, never waited for; and its
  // connection's end took them back.
  for (int i = 0; i < 500 && producer->readerCount() != 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(producer->readerCount() == 0);
  auto slot = producer->acquire();
  CHECK(slot);
}
