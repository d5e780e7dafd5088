// SPDX-License-Identifier: LGPL-2.1-or-later
// Private: the memory a feed's frames live in, for each Backend.
//
// The producer creates it (createFrameMemory), fills the header, then seals
// it (memfd: no shrinking, growing or new writable mapping ever again).
// Readers get it over the feed's socket as a descriptor (memfd, POSIX) or a
// System V id, and map it read-only (mapFrameMemory), checking who owns it
// and that it cannot shrink under them. Each reader also gets its own
// control memory (createControl / mapControl): one sealed page only it and
// the producer share.
//
//   auto memory = createFrameMemory(Backend::Memfd, "cam0", size, 0600);
//   fill(memory->mapping.data());
//   (void)sealFrameMemory(*memory);
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "frameshm/error.hpp"
#include "frameshm/feed.hpp"

namespace frameshm::detail {

// A mapping of shared memory; unmapped (munmap or shmdt) when destroyed. Move-only.
class Mapping {
 public:
  Mapping() = default;
  Mapping(std::byte* base, std::size_t length, bool sysv) noexcept
      : base_(base), length_(length), sysv_(sysv) {}
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { release(); }

  [[nodiscard]] std::byte* data() const noexcept { return base_; }
  [[nodiscard]] std::size_t size() const noexcept { return length_; }
  [[nodiscard]] explicit operator bool() const noexcept { return base_ != nullptr; }

 private:
  void release() noexcept;
  std::byte* base_ = nullptr;
  std::size_t length_ = 0;
  bool sysv_ = false;
};

// A descriptor closed when destroyed. Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] int release() noexcept;
  void reset() noexcept;
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// The POSIX backend's file for a feed: "/dev/shm/frameshm.<feed>"; its shm_open name without "/dev/shm".
[[nodiscard]] std::string posixShmPath(std::string_view feed);
[[nodiscard]] std::string posixShmName(std::string_view feed);

// The producer's side of a feed's frame memory.
struct FrameMemory {
  Backend backend = Backend::Memfd;
  std::string feed;
  Fd fd;           // memfd, or the POSIX file read-write
  Fd readerFd;     // what readers get: the sealed memfd, or the POSIX file opened read-only
  int shmid = -1;  // SysV only (already IPC_RMID'd: gone with its last attachment)
  dev_t dev = 0;   // POSIX only: which file the name must still refer to when removed
  ino_t ino = 0;
  Mapping mapping;  // the whole memory, writable

  FrameMemory() = default;
  FrameMemory(FrameMemory&&) noexcept = default;
  FrameMemory& operator=(FrameMemory&&) noexcept = default;
  // POSIX: removes the name if it still refers to this memory.
  ~FrameMemory();
};

// Creates `size` bytes of zeroed frame memory with `backend`, mapped writable.
// POSIX: /dev/shm/frameshm.<feed> with `mode` (a stale file of this user is
// replaced; the caller owns the feed's socket, so no live producer uses it).
// SysV: a private segment of `mode`, marked for removal once attached.
// Errors: PermissionDenied (a POSIX file of another user), SystemError.
[[nodiscard]] Result<FrameMemory> createFrameMemory(Backend backend, std::string_view feed,
                                                    std::uint64_t size, mode_t mode);
// Makes the memory unchangeable for readers (memfd seals); a no-op for the
// others. Errors: SystemError.
[[nodiscard]] Result<void> sealFrameMemory(FrameMemory& memory);
// Lets the members of `gid` attach a SysV segment (mode 0640 plus that
// group); descriptors need nothing. Errors: SystemError.
[[nodiscard]] Result<void> openToGroup(FrameMemory& memory, gid_t gid);

// A reader's mapping of frame memory handed over by a producer of uid `owner`.
struct ReaderMemory {
  Mapping mapping;  // read-only, the memory's whole size
  Fd fd;            // POSIX: kept for the size check a truncatable file needs
  std::uint64_t size = 0;
};
// Maps frame memory read-only: a descriptor (memfd, POSIX) or a SysV id.
// Refuses memory not owned by `owner`, a memfd without its seals, a size
// below `minSize` or above the largest segment. Errors: Corrupt,
// PermissionDenied, SystemError.
[[nodiscard]] Result<ReaderMemory> mapFrameMemory(Backend backend, Fd fd, int shmid, uid_t owner,
                                                  std::uint64_t minSize, std::string_view feed);

// A reader's control memory: one sealed page (it cannot shrink or grow).
struct ControlMemory {
  Fd fd;
  Mapping mapping;  // writable
};
// Producer side: a new one for a reader. Errors: SystemError.
[[nodiscard]] Result<ControlMemory> createControl();
// Reader side: maps the one the producer sent. Errors: Corrupt, SystemError.
[[nodiscard]] Result<ControlMemory> mapControl(Fd fd, std::string_view feed);

// Whether the file behind `fd` is now shorter than `size` (or cannot be
// asked): a POSIX file its owner truncated, whose pages past the end raise
// SIGBUS. Sealed memfds and SysV segments never need asking.
[[nodiscard]] bool shorterThan(int fd, std::uint64_t size) noexcept;

// A random non-zero 64-bit value (generations).
[[nodiscard]] std::uint64_t randomNonZero() noexcept;

}  // namespace frameshm::detail
