// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "text.hpp"

namespace frameshm {
using detail::quoted;
namespace {


bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::unexpected<Error> openError(std::string_view feed, int err) {
  switch (err) {
    case ENOENT:
      return fail(ErrorCode::NotFound,
                  "feed " + quoted(feed) + " does not exist (is its producer running?)");
    case EACCES:
    case EPERM:
      return fail(ErrorCode::PermissionDenied,
                  "permission denied for feed " + quoted(feed) +
                      ": it belongs to another user (its producer can open it to a group with --mode 0660)");
    case ELOOP:
      return fail(ErrorCode::PermissionDenied,
                  "feed " + quoted(feed) + " is a symbolic link in /dev/shm; frameshm does not follow links");
    default:
      return failErrno("cannot open the segment of feed " + quoted(feed), err);
  }
}

int lockCommand(int fd, int command, short type, std::uint64_t index, struct flock* out = nullptr) {
  struct flock lock{};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(index);
  lock.l_len = 1;
  const int rc = fcntl(fd, command, &lock);
  if (out) *out = lock;
  return rc;
}

}  // namespace

Result<void> validateFeedName(std::string_view feed) {
  if (feed.empty())
    return fail(ErrorCode::InvalidFeedName, "feed name is empty (use 1..200 of A-Z a-z 0-9 . _ -)");
  if (feed.size() > kMaxFeedNameLength)
    return fail(ErrorCode::InvalidFeedName, "feed name is " + std::to_string(feed.size()) +
                                                " characters long; the limit is 200");
  for (char c : feed) {
    if (!isNameChar(c))
      return fail(ErrorCode::InvalidFeedName,
                  "feed name " + quoted(feed) + " has a character other than A-Z a-z 0-9 . _ -");
  }
  return {};
}

Mapping::Mapping(Mapping&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), length_(std::exchange(other.length_, 0)) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    if (base_) munmap(base_, length_);
    base_ = std::exchange(other.base_, nullptr);
    length_ = std::exchange(other.length_, 0);
  }
  return *this;
}

Mapping::~Mapping() {
  if (base_) munmap(base_, length_);
}

std::string PosixShmSegment::shmName(std::string_view feed) { return "/frameshm." + std::string(feed); }

const char* PosixShmSegment::directory() noexcept { return "/dev/shm"; }

PosixShmSegment::PosixShmSegment(std::string feed, int fd) noexcept : feed_(std::move(feed)), fd_(fd) {}

PosixShmSegment::~PosixShmSegment() {
  if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<Segment>> PosixShmSegment::create(std::string_view feed, mode_t mode) {
  if (auto ok = validateFeedName(feed); !ok) return std::unexpected(ok.error());
  const std::string name = shmName(feed);
  const int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST)
      return fail(ErrorCode::AlreadyProduced, "feed " + quoted(feed) + " already exists");
    return openError(feed, errno);
  }
  // shm_open applies the umask; the mode the caller asked for is the one wanted.
  if (fchmod(fd, mode) != 0) {
    const int err = errno;
    close(fd);
    shm_unlink(name.c_str());
    return failErrno("cannot set the mode of feed " + quoted(feed), err);
  }
  return std::make_unique<PosixShmSegment>(std::string(feed), fd);
}

Result<std::unique_ptr<Segment>> PosixShmSegment::open(std::string_view feed) {
  if (auto ok = validateFeedName(feed); !ok) return std::unexpected(ok.error());
  const std::string name = shmName(feed);
  const int fd = shm_open(name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) return openError(feed, errno);
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail(ErrorCode::Corrupt, "feed " + quoted(feed) + " is not a regular shared-memory file");
  }
  return std::make_unique<PosixShmSegment>(std::string(feed), fd);
}

Result<void> PosixShmSegment::unlinkFeed(std::string_view feed) {
  if (auto ok = validateFeedName(feed); !ok) return std::unexpected(ok.error());
  if (shm_unlink(shmName(feed).c_str()) != 0) return openError(feed, errno);
  return {};
}

Result<std::uint64_t> PosixShmSegment::currentSize() const {
  struct stat st{};
  if (fstat(fd_, &st) != 0) return failErrno("cannot stat the segment of feed " + quoted(feed_), errno);
  return static_cast<std::uint64_t>(st.st_size);
}

Result<void> PosixShmSegment::resize(std::uint64_t size) {
  if (ftruncate(fd_, static_cast<off_t>(size)) != 0)
    return failErrno("cannot size the segment of feed " + quoted(feed_) + " to " + std::to_string(size) +
                         " bytes",
                     errno);
  return {};
}

Result<Mapping> PosixShmSegment::map(std::uint64_t offset, std::uint64_t length, Access access) {
  if (length == 0 || offset % static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) != 0)
    return fail(ErrorCode::InvalidArgument, "mapping of " + std::to_string(length) + " bytes at offset " +
                                                std::to_string(offset) + " is not page aligned");
  const int prot = access == Access::ReadOnly ? PROT_READ : PROT_READ | PROT_WRITE;
  void* base = mmap(nullptr, length, prot, MAP_SHARED | MAP_POPULATE, fd_, static_cast<off_t>(offset));
  if (base == MAP_FAILED) return failErrno("cannot map the segment of feed " + quoted(feed_), errno);
  return Mapping(static_cast<std::byte*>(base), length);
}

Result<bool> PosixShmSegment::tryLock(std::uint64_t index) {
  if (lockCommand(fd_, F_OFD_SETLK, F_WRLCK, index) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  return failErrno("cannot lock the segment of feed " + quoted(feed_), errno);
}

void PosixShmSegment::unlock(std::uint64_t index) noexcept { lockCommand(fd_, F_OFD_SETLK, F_UNLCK, index); }

Result<bool> PosixShmSegment::isLockedByOther(std::uint64_t index) const {
  struct flock probe{};
  if (lockCommand(fd_, F_OFD_GETLK, F_RDLCK, index, &probe) != 0)
    return failErrno("cannot query the locks of feed " + quoted(feed_), errno);
  return probe.l_type != F_UNLCK;
}

bool PosixShmSegment::isCurrent() const noexcept {
  struct stat mine{};
  struct stat named{};
  const std::string path = std::string(directory()) + shmName(feed_);
  if (fstat(fd_, &mine) != 0 || stat(path.c_str(), &named) != 0) return false;
  return mine.st_dev == named.st_dev && mine.st_ino == named.st_ino;
}

Result<void> PosixShmSegment::unlinkName() {
  if (!isCurrent()) return {};
  if (shm_unlink(shmName(feed_).c_str()) != 0 && errno != ENOENT)
    return failErrno("cannot remove feed " + quoted(feed_), errno);
  return {};
}

}  // namespace frameshm
