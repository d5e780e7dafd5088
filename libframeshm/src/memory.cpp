// SPDX-License-Identifier: LGPL-2.1-or-later
#include "memory.hpp"

#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "frameshm/clock.hpp"
#include "layout.hpp"
#include "text.hpp"

namespace frameshm::detail {
namespace {

constexpr unsigned kFrameSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL;
constexpr unsigned kControlSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

// Faults new frame memory in writable now, so that no frame pays one fault per
// page on its first write into a slot: a SysV attach populates nothing
// (memory_test: 1024 faults per 4 MiB without this; the memfd and POSIX
// mappings' MAP_POPULATE already maps tmpfs pages writable). Above all, fails,
// rather than leaving a SIGBUS for the first frame, when the memory cannot be
// had (a full /dev/shm: MAP_POPULATE does not report it).
Result<void> prefaultWritable(std::byte* base, std::uint64_t length, std::string_view what) {
  if (madvise(base, length, MADV_POPULATE_WRITE) == 0) return {};
  if (errno != EINVAL) {
    // EFAULT: a page could not be had (what a write would have met as SIGBUS).
    const int err = errno == EFAULT ? ENOSPC : errno;
    return failErrno("cannot reserve the " + std::to_string((length + (1 << 20) - 1) >> 20) + " MiB of " +
                         std::string(what) + " (is /dev/shm or memory full?)",
                     err);
  }
  // Before Linux 5.14: one write per page. The memory is new, all zeros, and
  // no reader has it yet.
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  for (std::uint64_t offset = 0; offset < length; offset += page)
    __atomic_store_n(reinterpret_cast<unsigned char*>(base + offset), 0, __ATOMIC_RELAXED);
  return {};
}

Result<Mapping> mapFd(int fd, std::uint64_t length, int prot, std::string_view what) {
  void* base = mmap(nullptr, length, prot, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (base == MAP_FAILED) return failErrno("cannot map " + std::string(what), errno);
  return Mapping(static_cast<std::byte*>(base), length, false);
}

Result<FrameMemory> createMemfd(FrameMemory memory, std::uint64_t size) {
  const std::string label = "frameshm." + memory.feed;
  memory.fd = Fd(memfd_create(label.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!memory.fd) return failErrno("cannot create the memfd of feed " + quoted(memory.feed), errno);
  if (ftruncate(memory.fd.get(), static_cast<off_t>(size)) != 0)
    return failErrno("cannot size the memfd of feed " + quoted(memory.feed), errno);
  const std::string what = "the memfd of feed " + quoted(memory.feed);
  auto mapped = mapFd(memory.fd.get(), size, PROT_READ | PROT_WRITE, what);
  if (!mapped) return std::unexpected(mapped.error());
  if (auto ok = prefaultWritable(mapped->data(), size, what); !ok) return std::unexpected(ok.error());
  memory.mapping = std::move(*mapped);
  return memory;
}

Result<FrameMemory> createPosix(FrameMemory memory, std::uint64_t size, mode_t mode) {
  const std::string name = posixShmName(memory.feed);
  for (int attempt = 0; attempt < 2 && !memory.fd; ++attempt) {
    memory.fd = Fd(shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (memory.fd) break;
    if (errno != EEXIST) return failErrno("cannot create " + posixShmPath(memory.feed), errno);
    // We hold the feed's socket, so whatever file is there was left by a dead
    // producer. Remove it only if it is ours: another user's file stays, and
    // we say whose it is.
    struct stat st {};
    if (stat(posixShmPath(memory.feed).c_str(), &st) == 0 && st.st_uid != geteuid())
      return fail(ErrorCode::PermissionDenied,
                  "permission denied for feed " + quoted(memory.feed) + ": " + posixShmPath(memory.feed) +
                      " belongs to uid " + std::to_string(st.st_uid) + "; remove it or use another backend");
    if (shm_unlink(name.c_str()) != 0 && errno != ENOENT)
      return failErrno("cannot remove the stale " + posixShmPath(memory.feed), errno);
  }
  if (!memory.fd)
    return fail(ErrorCode::AlreadyProduced, posixShmPath(memory.feed) + " keeps being re-created");
  struct stat st {};
  // shm_open applies the umask; the mode the caller asked for is the one wanted.
  if (fchmod(memory.fd.get(), mode) != 0 || fstat(memory.fd.get(), &st) != 0 ||
      ftruncate(memory.fd.get(), static_cast<off_t>(size)) != 0) {
    const int err = errno;
    shm_unlink(name.c_str());
    return failErrno("cannot set up " + posixShmPath(memory.feed), err);
  }
  memory.dev = st.st_dev;
  memory.ino = st.st_ino;
  // Readers get a read-only open of the same file: they cannot write or resize through it.
  char self[64];
  std::snprintf(self, sizeof self, "/proc/self/fd/%d", memory.fd.get());
  memory.readerFd = Fd(::open(self, O_RDONLY | O_CLOEXEC));
  if (!memory.readerFd) return failErrno("cannot reopen " + posixShmPath(memory.feed) + " read-only", errno);
  auto mapped = mapFd(memory.fd.get(), size, PROT_READ | PROT_WRITE, posixShmPath(memory.feed));
  if (!mapped) return std::unexpected(mapped.error());
  if (auto ok = prefaultWritable(mapped->data(), size, posixShmPath(memory.feed)); !ok)
    return std::unexpected(ok.error());  // the name goes with `memory`
  memory.mapping = std::move(*mapped);
  return memory;
}

Result<FrameMemory> createSysV(FrameMemory memory, std::uint64_t size, mode_t mode) {
  memory.shmid = shmget(IPC_PRIVATE, size, IPC_CREAT | IPC_EXCL | static_cast<int>(mode & 0777));
  if (memory.shmid < 0)
    return failErrno("cannot create the System V segment of feed " + quoted(memory.feed), errno);
  void* base = shmat(memory.shmid, nullptr, 0);
  const int err = errno;
  // Marked for removal at once: it lives while attached (ipcs -m shows it),
  // and nothing outlives the last process that has it, even after kill -9.
  // Linux still lets readers attach it by id until then.
  shmctl(memory.shmid, IPC_RMID, nullptr);
  if (base == reinterpret_cast<void*>(-1))
    return failErrno("cannot attach the System V segment of feed " + quoted(memory.feed), err);
  memory.mapping = Mapping(static_cast<std::byte*>(base), size, true);
  if (auto ok = prefaultWritable(memory.mapping.data(), size,
                                 "the System V segment of feed " + quoted(memory.feed));
      !ok)
    return std::unexpected(ok.error());
  return memory;
}

}  // namespace

Mapping::Mapping(Mapping&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      length_(std::exchange(other.length_, 0)),
      sysv_(other.sysv_) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    release();
    base_ = std::exchange(other.base_, nullptr);
    length_ = std::exchange(other.length_, 0);
    sysv_ = other.sysv_;
  }
  return *this;
}

void Mapping::release() noexcept {
  if (!base_) return;
  if (sysv_)
    shmdt(base_);
  else
    munmap(base_, length_);
  base_ = nullptr;
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.release();
  }
  return *this;
}

int Fd::release() noexcept {
  return std::exchange(fd_, -1);
}

void Fd::reset() noexcept {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

std::string posixShmName(std::string_view feed) {
  return "/frameshm." + std::string(feed);
}
std::string posixShmPath(std::string_view feed) {
  return "/dev/shm" + posixShmName(feed);
}

FrameMemory::~FrameMemory() {
  if (backend != Backend::Posix || !fd) return;
  struct stat named {};
  if (stat(posixShmPath(feed).c_str(), &named) == 0 && named.st_dev == dev && named.st_ino == ino)
    shm_unlink(posixShmName(feed).c_str());
}

Result<FrameMemory> createFrameMemory(Backend backend, std::string_view feed, std::uint64_t size,
                                      mode_t mode) {
  FrameMemory memory;
  memory.backend = backend;
  memory.feed = std::string(feed);
  switch (backend) {
    case Backend::Memfd:
      return createMemfd(std::move(memory), size);
    case Backend::Posix:
      return createPosix(std::move(memory), size, mode);
    case Backend::SysV:
      return createSysV(std::move(memory), size, mode);
  }
  return fail(ErrorCode::InvalidArgument,
              "unknown backend " + std::to_string(static_cast<unsigned>(backend)));
}

Result<void> sealFrameMemory(FrameMemory& memory) {
  if (memory.backend != Backend::Memfd) return {};
  if (fcntl(memory.fd.get(), F_ADD_SEALS, kFrameSeals) != 0)
    return failErrno("cannot seal the memfd of feed " + quoted(memory.feed), errno);
  // Our writable mapping predates F_SEAL_FUTURE_WRITE and stays writable;
  // readers can only ever map it read-only.
  memory.readerFd = Fd(fcntl(memory.fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!memory.readerFd) return failErrno("cannot duplicate the memfd of feed " + quoted(memory.feed), errno);
  return {};
}

Result<void> openToGroup(FrameMemory& memory, gid_t gid) {
  if (memory.backend != Backend::SysV) return {};
  shmid_ds ds{};
  if (shmctl(memory.shmid, IPC_STAT, &ds) != 0)
    return failErrno("cannot read the System V segment's owner", errno);
  ds.shm_perm.gid = gid;
  ds.shm_perm.mode = (ds.shm_perm.mode & 0777) | 0040;
  if (shmctl(memory.shmid, IPC_SET, &ds) != 0)
    return failErrno("cannot open the System V segment of feed " + quoted(memory.feed) + " to its group",
                     errno);
  return {};
}

Result<ReaderMemory> mapFrameMemory(Backend backend, Fd fd, int shmid, uid_t owner, std::uint64_t minSize,
                                    std::string_view feed) {
  auto corrupt = [&](const std::string& why) {
    return fail(ErrorCode::Corrupt, "the frame memory of feed " + quoted(feed) + " " + why);
  };
  ReaderMemory memory;
  if (backend == Backend::SysV) {
    shmid_ds ds{};
    if (shmctl(shmid, IPC_STAT, &ds) != 0) {
      if (errno == EACCES || errno == EPERM)
        return fail(ErrorCode::PermissionDenied,
                    "permission denied for feed " + quoted(feed) +
                        ": its System V segment is not open to this user (producer option: allowed group)");
      return failErrno("cannot find the System V segment of feed " + quoted(feed), errno);
    }
    if (ds.shm_perm.cuid != owner)
      return corrupt("was created by uid " + std::to_string(ds.shm_perm.cuid) + ", not by its producer");
    if (ds.shm_segsz < minSize || ds.shm_segsz > layout::kMaxSegmentSize)
      return corrupt("has an impossible size");
    void* base = shmat(shmid, nullptr, SHM_RDONLY);
    if (base == reinterpret_cast<void*>(-1)) {
      if (errno == EACCES)
        return fail(ErrorCode::PermissionDenied, "permission denied for feed " + quoted(feed) +
                                                     ": its System V segment is not open to this user");
      return failErrno("cannot attach the System V segment of feed " + quoted(feed), errno);
    }
    memory.size = ds.shm_segsz;
    memory.mapping = Mapping(static_cast<std::byte*>(base), memory.size, true);
    return memory;
  }
  struct stat st {};
  if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return corrupt("is not shared memory");
  if (st.st_uid != owner)
    return corrupt("belongs to uid " + std::to_string(st.st_uid) + ", not to its producer");
  if (backend == Backend::Memfd) {
    const int seals = fcntl(fd.get(), F_GET_SEALS);
    if (seals < 0 || (static_cast<unsigned>(seals) & kFrameSeals) != kFrameSeals)
      return corrupt("is not sealed (it could shrink or be written under the reader)");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < minSize || size > layout::kMaxSegmentSize) return corrupt("has an impossible size");
  auto mapped = mapFd(fd.get(), size, PROT_READ, "the frame memory of feed " + quoted(feed));
  if (!mapped) return std::unexpected(mapped.error());
  memory.mapping = std::move(*mapped);
  memory.size = size;
  if (backend == Backend::Posix) memory.fd = std::move(fd);
  return memory;
}

Result<ControlMemory> createControl() {
  ControlMemory control;
  control.fd = Fd(memfd_create("frameshm-reader", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!control.fd) return failErrno("cannot create a reader's control memory", errno);
  if (ftruncate(control.fd.get(), layout::kControlSize) != 0 ||
      fcntl(control.fd.get(), F_ADD_SEALS, kControlSeals) != 0)
    return failErrno("cannot set up a reader's control memory", errno);
  auto mapped =
      mapFd(control.fd.get(), layout::kControlSize, PROT_READ | PROT_WRITE, "a reader's control memory");
  if (!mapped) return std::unexpected(mapped.error());
  control.mapping = std::move(*mapped);
  return control;
}

Result<ControlMemory> mapControl(Fd fd, std::string_view feed) {
  struct stat st {};
  const int seals = fd ? fcntl(fd.get(), F_GET_SEALS) : -1;
  if (!fd || fstat(fd.get(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) != layout::kControlSize ||
      seals < 0 || (static_cast<unsigned>(seals) & F_SEAL_SHRINK) == 0)
    return fail(ErrorCode::Corrupt, "the producer of feed " + quoted(feed) + " sent unusable control memory");
  auto mapped = mapFd(fd.get(), layout::kControlSize, PROT_READ | PROT_WRITE,
                      "the control memory of feed " + quoted(feed));
  if (!mapped) return std::unexpected(mapped.error());
  ControlMemory control;
  control.fd = std::move(fd);
  control.mapping = std::move(*mapped);
  return control;
}

bool shorterThan(int fd, std::uint64_t size) noexcept {
  struct stat st {};
  return fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) < size;
}

std::uint64_t randomNonZero() noexcept {
  std::uint64_t value = 0;
  while (value == 0) {
    if (getrandom(&value, sizeof value, 0) != sizeof value)
      value = static_cast<std::uint64_t>(monotonicNs()) * 0x9e3779b97f4a7c15ULL ^
              static_cast<std::uint64_t>(getpid());
  }
  return value;
}

}  // namespace frameshm::detail
