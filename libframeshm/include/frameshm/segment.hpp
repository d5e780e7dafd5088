// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/segment.hpp — the memory a feed lives in, behind a small interface.
//
// The slot protocol (Producer, Consumer) only needs a few things from the
// memory it runs on: its real size, mappings of parts of it, kernel-held
// locks that mark who is alive, and a way to remove its name. `Segment` is
// that interface; `PosixShmSegment` implements it with POSIX shared memory
// (shm_open, /dev/shm/frameshm.<feed>). A memfd passed over a Unix socket or
// System V shared memory would be further implementations of the same
// interface, without touching the protocol.
//
//   auto segment = frameshm::PosixShmSegment::open("cam0");
//   auto mapping = (*segment)->map(0, 4096, frameshm::Access::ReadOnly);
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "frameshm/error.hpp"

namespace frameshm {

inline constexpr std::size_t kMaxFeedNameLength = 200;

// Checks a feed name: 1..200 characters of [A-Za-z0-9._-].
// Errors: InvalidFeedName saying what is wrong with it.
[[nodiscard]] Result<void> validateFeedName(std::string_view feed);

enum class Access { ReadOnly, ReadWrite };

// A mapped range of a segment; unmapped when destroyed. Move-only.
class Mapping {
 public:
  Mapping() = default;
  Mapping(std::byte* base, std::size_t length) noexcept : base_(base), length_(length) {}
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  [[nodiscard]] std::byte* data() const noexcept { return base_; }
  [[nodiscard]] std::size_t size() const noexcept { return length_; }
  [[nodiscard]] explicit operator bool() const noexcept { return base_ != nullptr; }

 private:
  std::byte* base_ = nullptr;
  std::size_t length_ = 0;
};

class Segment {
 public:
  virtual ~Segment() = default;

  // The feed name this segment was created or opened under.
  [[nodiscard]] virtual const std::string& feed() const noexcept = 0;
  // The segment's size now, asked of the kernel (another process may have
  // changed it). Errors: SystemError.
  [[nodiscard]] virtual Result<std::uint64_t> currentSize() const = 0;
  // Sets the size (producer only). Errors: SystemError.
  [[nodiscard]] virtual Result<void> resize(std::uint64_t size) = 0;
  // Maps `length` bytes at page-aligned `offset`. Errors: InvalidArgument, SystemError.
  [[nodiscard]] virtual Result<Mapping> map(std::uint64_t offset, std::uint64_t length,
                                            Access access) = 0;
  // Takes the exclusive lock on byte `index` without waiting: true if taken,
  // false if another open of the segment holds it. Released when this object
  // is destroyed or its process dies. Errors: SystemError.
  [[nodiscard]] virtual Result<bool> tryLock(std::uint64_t index) = 0;
  // Releases a lock taken with tryLock.
  virtual void unlock(std::uint64_t index) noexcept = 0;
  // Whether another open of the segment holds a lock on byte `index`.
  // Errors: SystemError.
  [[nodiscard]] virtual Result<bool> isLockedByOther(std::uint64_t index) const = 0;
  // Whether the feed's name still refers to this very segment.
  [[nodiscard]] virtual bool isCurrent() const noexcept = 0;
  // Removes the feed's name if it still refers to this segment; the memory
  // lives on until the last mapping goes. Errors: SystemError.
  [[nodiscard]] virtual Result<void> unlinkName() = 0;
};

// POSIX shared memory: the segment of feed `cam0` is /dev/shm/frameshm.cam0.
class PosixShmSegment final : public Segment {
 public:
  // The shm_open name of a feed: "/frameshm.<feed>".
  [[nodiscard]] static std::string shmName(std::string_view feed);
  // The directory POSIX shared memory lives in ("/dev/shm").
  [[nodiscard]] static const char* directory() noexcept;

  // Creates a new, empty segment with O_CREAT|O_EXCL|O_NOFOLLOW and `mode`.
  // Errors: InvalidFeedName; AlreadyProduced if the name exists (the caller
  // decides whether it is stale); PermissionDenied; SystemError.
  [[nodiscard]] static Result<std::unique_ptr<Segment>> create(std::string_view feed, mode_t mode);
  // Opens an existing segment read-write (readers write their reader slot).
  // Errors: InvalidFeedName, NotFound, PermissionDenied, SystemError.
  [[nodiscard]] static Result<std::unique_ptr<Segment>> open(std::string_view feed);
  // Removes the name of feed `feed`, whatever it refers to. Errors: NotFound, SystemError.
  [[nodiscard]] static Result<void> unlinkFeed(std::string_view feed);

  PosixShmSegment(std::string feed, int fd) noexcept;
  ~PosixShmSegment() override;
  PosixShmSegment(const PosixShmSegment&) = delete;
  PosixShmSegment& operator=(const PosixShmSegment&) = delete;

  [[nodiscard]] const std::string& feed() const noexcept override { return feed_; }
  [[nodiscard]] Result<std::uint64_t> currentSize() const override;
  [[nodiscard]] Result<void> resize(std::uint64_t size) override;
  [[nodiscard]] Result<Mapping> map(std::uint64_t offset, std::uint64_t length,
                                    Access access) override;
  [[nodiscard]] Result<bool> tryLock(std::uint64_t index) override;
  void unlock(std::uint64_t index) noexcept override;
  [[nodiscard]] Result<bool> isLockedByOther(std::uint64_t index) const override;
  [[nodiscard]] bool isCurrent() const noexcept override;
  [[nodiscard]] Result<void> unlinkName() override;

 private:
  std::string feed_;
  int fd_ = -1;
};

}  // namespace frameshm
