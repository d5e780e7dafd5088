// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/feeds.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>

#include "atomics.hpp"
#include "frameshm/clock.hpp"
#include "handshake.hpp"
#include "layout.hpp"
#include "memory.hpp"
#include "text.hpp"

namespace frameshm {
using detail::quoted;
namespace {

constexpr std::string_view kPrefix = "frameshm.";
constexpr std::string_view kAbstractPrefix = "@frameshm/";
constexpr std::string_view kSocketSuffix = ".sock";
constexpr std::int64_t kInspectTimeoutNs = 2'000'000'000;

std::string socketDirOf(std::string_view socketDir) {
  if (!socketDir.empty()) return std::string(socketDir);
  const char* env = std::getenv("FRAMESHM_SOCKET_DIR");
  return env ? env : "";
}

// Fills `info` from a private copy of a header; `problem` if it does not validate.
void describeHeader(FeedInfo& info, const std::byte* base, std::uint64_t size) {
  layout::SegmentHeader copy{};
  if (size >= sizeof copy) std::memcpy(&copy, base, sizeof copy);
  info.segmentBytes = size;
  auto checked = layout::validate(copy, size, info.name);
  if (!checked) {
    info.problem = checked.error().message;
    return;
  }
  info.valid = true;
  info.state = static_cast<FeedState>(copy.state);
  info.producerPid = checked->producerPid;
  info.format = checked->format;
  info.caps = checked->caps;
  info.slotCount = checked->slotCount;
  info.readerCapacity = checked->readerCapacity;
  info.framesPublished = copy.framesPublished;
  info.rateHz = static_cast<double>(copy.rateMilliHz) / 1000.0;
  info.generation = checked->generation;
}

// Whether a producer of ABI version 1 (no socket; it marked itself alive with
// a lock on byte 0 of its file) holds the file: then it is not ours to remove.
bool heldByOldProducer(int fd) {
  struct flock probe {};
  probe.l_type = F_RDLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = 0;
  probe.l_len = 1;
  return fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
}

// What a dead producer left: its POSIX file, maybe a path socket.
Result<FeedInfo> inspectLeftovers(const std::string& name, std::string_view socketDir,
                                  const Error& notServed) {
  FeedInfo info;
  info.name = name;
  info.address = feedAddress(name, socketDir);
  info.stale = true;
  const std::string path = detail::posixShmPath(name);
  detail::Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (fd && fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
    info.backend = Backend::Posix;
    if (heldByOldProducer(fd.get())) {
      info.stale = false;
      info.producerAlive = true;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size >= sizeof(layout::SegmentHeader)) {
      void* base = mmap(nullptr, sizeof(layout::SegmentHeader), PROT_READ, MAP_SHARED, fd.get(), 0);
      if (base != MAP_FAILED) {
        describeHeader(info, static_cast<const std::byte*>(base), size);
        munmap(base, sizeof(layout::SegmentHeader));
      }
    } else {
      info.problem = path + " is smaller than a header";
    }
    return info;
  }
  const std::string dir = socketDirOf(socketDir);
  if (!dir.empty() && lstat(info.address.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    info.problem = "nobody answers on " + info.address;
    return info;
  }
  return std::unexpected(notServed);
}

}  // namespace

Result<FeedInfo> inspectFeed(const std::string& name, std::string_view socketDir) {
  if (auto ok = validateFeedName(name); !ok) return std::unexpected(ok.error());
  auto connection = detail::connectToFeed(name, socketDir);
  if (!connection) {
    if (connection.error().code != ErrorCode::NotFound) return std::unexpected(connection.error());
    return inspectLeftovers(name, socketDir, connection.error());
  }
  FeedInfo info;
  info.name = name;
  info.address = feedAddress(name, socketDir);
  info.producerAlive = true;
  auto cred = detail::peerCredentials(connection->get());
  if (!cred) return std::unexpected(cred.error());
  info.producerPid = static_cast<std::uint32_t>(cred->pid);
  if (cred->uid != geteuid() && cred->uid != 0) {
    info.problem = "served by uid " + std::to_string(cred->uid) + ", another user";
    return info;
  }
  detail::Hello hello;
  hello.request = static_cast<std::uint16_t>(detail::Request::Inspect);
  hello.pid = static_cast<std::uint32_t>(getpid());
  if (auto sent = detail::sendMessage(connection->get(), detail::encode(hello), {}); !sent)
    return std::unexpected(sent.error());
  auto received = detail::receiveWelcome(connection->get(), detail::Request::Inspect,
                                         monotonicNs() + kInspectTimeoutNs, name);
  if (!received) {
    info.problem = received.error().message;
    return info;
  }
  const detail::Welcome& w = received->welcome;
  if (w.status == detail::Status::Denied)
    return fail(ErrorCode::PermissionDenied,
                "permission denied for feed " + quoted(name) + ": its producer does not let this user in");
  if (w.status != detail::Status::Ok) {
    info.problem = "its producer refused to be inspected";
    return info;
  }
  info.backend = w.backend;
  detail::Fd memoryFd = w.backend == Backend::SysV ? detail::Fd() : std::move(received->fds.front());
  auto memory = detail::mapFrameMemory(w.backend, std::move(memoryFd), w.shmid, cred->uid,
                                       sizeof(layout::SegmentHeader), name);
  if (!memory) {
    info.problem = memory.error().message;
    return info;
  }
  const std::byte* base = memory->mapping.data();
  // Live fields straight from the memory; identity from a validated copy.
  describeHeader(info, base, memory->size);
  const auto* header = reinterpret_cast<const layout::SegmentHeader*>(base);
  info.state = static_cast<FeedState>(detail::loadAcquire(header->state));
  info.framesPublished = detail::loadRelaxed(header->framesPublished);
  for (std::uint32_t i = 0; i < w.readers.size(); ++i) {
    const auto& r = w.readers[i];
    info.readers.push_back({i, r.pid, true, r.framesRead, r.framesDropped, r.framesTorn});
  }
  return info;
}

std::vector<FeedInfo> listFeeds(std::string_view socketDir) {
  std::set<std::string> names;
  auto consider = [&](std::string_view name) {
    if (validateFeedName(name)) names.emplace(name);
  };
  // Abstract sockets: the last column of /proc/net/unix is "@frameshm/<feed>".
  std::ifstream unixTable("/proc/net/unix");
  for (std::string line; std::getline(unixTable, line);) {
    const auto at = line.rfind(' ');
    if (at == std::string::npos) continue;
    const std::string_view path = std::string_view(line).substr(at + 1);
    if (path.starts_with(kAbstractPrefix)) consider(path.substr(kAbstractPrefix.size()));
  }
  auto scan = [&](const std::string& dir, std::string_view suffix) {
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
    if (!d) return;
    while (const dirent* entry = readdir(d.get())) {
      std::string_view file = entry->d_name;
      if (!file.starts_with(kPrefix) || !file.ends_with(suffix)) continue;
      file.remove_prefix(kPrefix.size());
      file.remove_suffix(suffix.size());
      consider(file);
    }
  };
  scan("/dev/shm", "");
  if (const std::string dir = socketDirOf(socketDir); !dir.empty()) scan(dir, kSocketSuffix);

  std::vector<FeedInfo> feeds;
  for (const auto& name : names) {
    auto info = inspectFeed(name, socketDir);
    if (info) {
      feeds.push_back(std::move(*info));
    } else if (info.error().code != ErrorCode::NotFound) {
      FeedInfo unreadable;
      unreadable.name = name;
      unreadable.problem = info.error().message;
      feeds.push_back(std::move(unreadable));
    }
  }
  return feeds;
}

Result<bool> removeIfStale(const std::string& name, std::string_view socketDir) {
  if (auto ok = validateFeedName(name); !ok) return std::unexpected(ok.error());
  auto connection = detail::connectToFeed(name, socketDir);
  if (connection) return false;
  if (connection.error().code != ErrorCode::NotFound) return std::unexpected(connection.error());
  bool removed = false;
  if (detail::Fd old(::open(detail::posixShmPath(name).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      old && heldByOldProducer(old.get()))
    return false;
  if (shm_unlink(detail::posixShmName(name).c_str()) == 0)
    removed = true;
  else if (errno != ENOENT)
    return failErrno("cannot remove " + detail::posixShmPath(name), errno);
  if (!socketDirOf(socketDir).empty()) {
    const std::string path = feedAddress(name, socketDir);
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && unlink(path.c_str()) == 0) removed = true;
  }
  if (!removed) return fail(ErrorCode::NotFound, "feed " + quoted(name) + " does not exist");
  return true;
}

}  // namespace frameshm
