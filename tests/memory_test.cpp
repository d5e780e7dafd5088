// SPDX-License-Identifier: LGPL-2.1-or-later
// The frame memory backends and the control memory: what a reader can and
// cannot do with what it is handed (memory.hpp).
#include "memory.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "layout.hpp"
#include "test_support.hpp"

using namespace frameshm;
using namespace frameshm::detail;
using frameshm::test::FeedGuard;
using frameshm::test::uniqueFeed;

namespace {

constexpr std::uint64_t kSize = 3 * 4096;

Fd duplicate(const Fd& fd) {
  return Fd(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
}

long minorFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

}  // namespace

TEST_CASE(
    "a sealed memfd maps read-only for readers and can be neither resized, written nor mapped writable") {
  auto memory = createFrameMemory(Backend::Memfd, uniqueFeed("memfd"), kSize, 0600);
  REQUIRE(memory);
  memory->mapping.data()[0] = std::byte{42};
  REQUIRE(sealFrameMemory(*memory));
  memory->mapping.data()[1] = std::byte{43};  // the producer's own mapping stays writable
  const int fd = memory->readerFd.get();
  CHECK(ftruncate(fd, 4096) == -1);
  CHECK(ftruncate(fd, kSize * 2) == -1);
  const char byte = 1;
  CHECK(pwrite(fd, &byte, 1, 0) == -1);
  CHECK(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
  CHECK(fcntl(fd, F_ADD_SEALS, 0) == -1);  // F_SEAL_SEAL: no seal can be removed or added
  auto reader = mapFrameMemory(Backend::Memfd, duplicate(memory->readerFd), -1, geteuid(), 4096, "memfd");
  REQUIRE(reader);
  CHECK(reader->size == kSize);
  CHECK(reader->mapping.data()[0] == std::byte{42});
  CHECK(reader->mapping.data()[1] == std::byte{43});
}

TEST_CASE("an unsealed memfd or memory of another owner is refused by a reader") {
  auto memory = createFrameMemory(Backend::Memfd, uniqueFeed("unsealed"), kSize, 0600);
  REQUIRE(memory);
  Fd raw = duplicate(memory->fd);
  auto unsealed = mapFrameMemory(Backend::Memfd, std::move(raw), -1, geteuid(), 4096, "unsealed");
  REQUIRE_FALSE(unsealed);
  CHECK(unsealed.error().message.find("not sealed") != std::string::npos);
  REQUIRE(sealFrameMemory(*memory));
  auto foreign = mapFrameMemory(Backend::Memfd, duplicate(memory->readerFd), -1, geteuid() + 1, 4096, "x");
  REQUIRE_FALSE(foreign);
  CHECK(foreign.error().message.find("belongs to uid") != std::string::npos);
}

TEST_CASE(
    "the POSIX file is created with the requested mode, replaces a stale one and goes with its producer") {
  const auto feed = uniqueFeed("posix");
  FeedGuard guard(feed);
  const std::string path = posixShmPath(feed);
  {
    const int stale = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    REQUIRE(stale >= 0);
    close(stale);
  }
  const mode_t old = umask(077);
  auto created = createFrameMemory(Backend::Posix, feed, kSize, 0640);
  umask(old);
  REQUIRE(created);
  auto memory = std::make_unique<FrameMemory>(std::move(*created));
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  CHECK(static_cast<std::uint64_t>(st.st_size) == kSize);
  // Readers get a read-only open: no write, no resize through it.
  CHECK((fcntl(memory->readerFd.get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  CHECK(ftruncate(memory->readerFd.get(), 0) == -1);
  auto reader = mapFrameMemory(Backend::Posix, duplicate(memory->readerFd), -1, geteuid(), 4096, feed);
  REQUIRE(reader);
  memory.reset();
  CHECK(stat(path.c_str(), &st) != 0);
}

TEST_CASE("a System V segment is removed once attached, readers attach it read-only by id") {
  int id = -1;
  {
    auto memory = createFrameMemory(Backend::SysV, uniqueFeed("sysv"), kSize, 0600);
    REQUIRE(memory);
    id = memory->shmid;
    shmid_ds ds{};
    REQUIRE(shmctl(id, IPC_STAT, &ds) == 0);
    CHECK((ds.shm_perm.mode & SHM_DEST) != 0);  // marked for removal: nothing outlives its last process
    CHECK((ds.shm_perm.mode & 0777) == 0600);
    memory->mapping.data()[0] = std::byte{7};
    auto reader = mapFrameMemory(Backend::SysV, Fd(), id, geteuid(), 4096, "sysv");
    REQUIRE(reader);
    CHECK(reader->mapping.data()[0] == std::byte{7});
    CHECK(frameshm::test::sysvSegments(getpid()).size() == 1);  // ipcs -m shows it while it lives
  }
  shmid_ds gone{};
  CHECK(shmctl(id, IPC_STAT, &gone) == -1);
  CHECK(frameshm::test::sysvSegments(getpid()).empty());
}

TEST_CASE("control memory is one sealed page: the reader can write it but not shrink it") {
  auto control = createControl();
  REQUIRE(control);
  CHECK(ftruncate(control->fd.get(), 0) == -1);
  auto reader = mapControl(duplicate(control->fd), "ctl");
  REQUIRE(reader);
  reinterpret_cast<layout::ReaderControl*>(reader->mapping.data())->pinnedMask = 5;
  CHECK(reinterpret_cast<layout::ReaderControl*>(control->mapping.data())->pinnedMask == 5);
  auto plain = memfd_create("plain", MFD_CLOEXEC);
  REQUIRE(ftruncate(plain, 4096) == 0);
  CHECK_FALSE(mapControl(Fd(plain), "ctl"));  // shrinkable: refused
}

TEST_CASE("new frame memory is faulted in writable, so the first frame written into it takes no page fault") {
#if defined(__SANITIZE_THREAD__)
  // TSan writes its shadow of every byte memset touches: thousands of faults of its own.
  WARN("the page faults of a write are TSan's own under TSan: not checked");
  return;
#endif
  const Backend backend = GENERATE(Backend::Memfd, Backend::Posix, Backend::SysV);
  INFO("backend " << static_cast<int>(backend));
  const auto feed = uniqueFeed("prefault");
  FeedGuard guard(feed);
  constexpr std::uint64_t kBytes = 4 << 20;  // 1024 pages
  auto memory = createFrameMemory(backend, feed, kBytes, 0600);
  REQUIRE(memory);
  const long before = minorFaults();
  std::memset(memory->mapping.data(), 0x5a, kBytes);
  // One per page (1024) without it; ASan's shadow of the range adds up to 128.
  CHECK(minorFaults() - before < 256);
}

TEST_CASE("a POSIX feed larger than /dev/shm has room for is refused when created, and leaves no file") {
  if (geteuid() != 0) {
    WARN("needs root to mount a small /dev/shm in a mount namespace: not checked");
    return;
  }
  const auto feed = uniqueFeed("shmfull");
  // In a child with a mount namespace of its own and a 1 MiB /dev/shm.
  auto child = test::Child::fork([&] {
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m") != 0)
      return 77;
    {
      auto memory = createFrameMemory(Backend::Posix, feed, 4 << 20, 0600);
      if (memory) return 1;  // a SIGBUS waiting for the first frame
      if (memory.error().message.find("cannot reserve the 4 MiB of /dev/shm/frameshm." + feed) ==
              std::string::npos ||
          memory.error().message.find("is /dev/shm or memory full?") == std::string::npos)
        return 2;
    }
    return std::filesystem::exists(posixShmPath(feed)) ? 3 : 0;
  });
  const int code = child.wait(std::chrono::seconds(20));
  if (code == 77) {
    WARN("could not mount a small /dev/shm in a mount namespace: not checked");
    return;
  }
  CHECK(code == 0);
}
