// SPDX-License-Identifier: LGPL-2.1-or-later
#include "handshake.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "frameshm/clock.hpp"
#include "text.hpp"

namespace frameshm::detail {
namespace {

struct Address {
  sockaddr_un addr{};
  socklen_t length = 0;
  std::string path;  // empty for an abstract name
};

Result<Address> addressOf(std::string_view feed, std::string_view socketDir) {
  const std::string text = feedAddress(feed, socketDir);
  Address a;
  a.addr.sun_family = AF_UNIX;
  if (text.size() >= sizeof a.addr.sun_path)
    return fail(ErrorCode::InvalidArgument,
                "socket address " + quoted(text) + " of feed " + quoted(feed) + " is longer than " +
                    std::to_string(sizeof a.addr.sun_path - 1) + " bytes (use a shorter socket directory)");
  if (text.front() == '@') {
    // Abstract: a leading NUL, no terminator.
    std::memcpy(a.addr.sun_path + 1, text.data() + 1, text.size() - 1);
    a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + text.size());
  } else {
    std::memcpy(a.addr.sun_path, text.data(), text.size());
    a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + text.size() + 1);
    a.path = text;
  }
  return a;
}

timespec toTimespec(std::int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

template <class T>
T load(std::span<const std::byte> bytes, std::size_t offset = 0) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

}  // namespace

Result<Hello> parseHello(std::span<const std::byte> bytes) {
  if (bytes.size() != sizeof(Hello)) return fail(ErrorCode::Corrupt, "hello of the wrong size");
  const auto hello = load<Hello>(bytes);
  if (hello.magic != kHelloMagic) return fail(ErrorCode::Corrupt, "not a frameshm hello");
  if (hello.version != kProtocolVersion)
    return fail(ErrorCode::AbiMismatch, "handshake version " + std::to_string(hello.version) +
                                            ", this library speaks " + std::to_string(kProtocolVersion));
  if (hello.request < static_cast<std::uint16_t>(Request::Read) ||
      hello.request > static_cast<std::uint16_t>(Request::Replace))
    return fail(ErrorCode::Corrupt, "unknown request " + std::to_string(hello.request));
  if ((hello.flags & ~(kHelloPin | kHelloNotify | kHelloSequential)) != 0)
    return fail(ErrorCode::Corrupt, "unknown hello flags");
  return hello;
}

int expectedFds(Request request, Status status, Backend backend, bool notify) noexcept {
  if (status != Status::Ok || request == Request::Replace) return 0;
  const int memory = backend == Backend::SysV ? 0 : 1;
  return request == Request::Read ? memory + 1 + (notify ? 1 : 0) : memory;
}

Result<Welcome> parseWelcome(std::span<const std::byte> bytes, int fdCount, Request request, bool notify) {
  auto corrupt = [](const std::string& why) {
    return fail(ErrorCode::Corrupt, "the producer's answer " + why);
  };
  if (bytes.size() < sizeof(WelcomeHead)) return corrupt("is truncated");
  const auto head = load<WelcomeHead>(bytes);
  if (head.magic != kWelcomeMagic) return corrupt("is not a frameshm handshake");
  if (head.version != kProtocolVersion)
    return fail(ErrorCode::AbiMismatch, "the producer speaks handshake version " +
                                            std::to_string(head.version) + ", this library " +
                                            std::to_string(kProtocolVersion) +
                                            " (rebuild the producer and consumer against the same frameshm)");
  if (head.status > static_cast<std::uint16_t>(Status::BadRequest))
    return corrupt("has an unknown status " + std::to_string(head.status));
  Welcome w;
  w.status = static_cast<Status>(head.status);
  if (w.status == Status::Ok && request != Request::Replace) {
    auto backend = static_cast<Backend>(head.backend);
    if (backend != Backend::Memfd && backend != Backend::Posix && backend != Backend::SysV)
      return corrupt("names an unknown backend " + std::to_string(head.backend));
    w.backend = backend;
  }
  const std::uint32_t maxRecords = request == Request::Inspect && w.status == Status::Ok ? kMaxRecords : 0;
  if (head.recordCount > maxRecords) return corrupt("lists " + std::to_string(head.recordCount) + " readers");
  if (bytes.size() != sizeof(WelcomeHead) + std::size_t{head.recordCount} * sizeof(ReaderRecord))
    return corrupt("has the wrong length");
  if (fdCount != expectedFds(request, w.status, w.backend, notify))
    return corrupt("came with " + std::to_string(fdCount) + " descriptors");
  if (w.status == Status::Ok && w.backend == Backend::SysV && request != Request::Replace && head.shmid < 0)
    return corrupt("names no System V segment");
  w.shmid = head.shmid;
  w.memorySize = head.memorySize;
  w.generation = head.generation;
  w.producerPid = head.producerPid;
  w.readers.resize(head.recordCount);
  if (head.recordCount)
    std::memcpy(w.readers.data(), bytes.data() + sizeof(WelcomeHead),
                head.recordCount * sizeof(ReaderRecord));
  return w;
}

std::vector<std::byte> encode(const Hello& hello) {
  std::vector<std::byte> out(sizeof hello);
  std::memcpy(out.data(), &hello, sizeof hello);
  return out;
}

std::vector<std::byte> encode(const WelcomeHead& head, std::span<const ReaderRecord> records) {
  std::vector<std::byte> out(sizeof head + records.size_bytes());
  std::memcpy(out.data(), &head, sizeof head);
  if (!records.empty()) std::memcpy(out.data() + sizeof head, records.data(), records.size_bytes());
  return out;
}

Result<Fd> listenOnFeed(std::string_view feed, std::string_view socketDir, mode_t mode) {
  auto address = addressOf(feed, socketDir);
  if (!address) return std::unexpected(address.error());
  for (int attempt = 0; attempt < 2; ++attempt) {
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return failErrno("cannot create the socket of feed " + quoted(feed), errno);
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address->addr), address->length) == 0) {
      // A path socket takes its permissions from the file: the producer's
      // mode, so that only those it lets in can even connect.
      if (!address->path.empty() && chmod(address->path.c_str(), (mode & 0660) | 0600) != 0)
        return failErrno("cannot set the mode of " + address->path, errno);
      if (listen(fd.get(), 64) != 0)
        return failErrno("cannot listen on " + feedAddress(feed, socketDir), errno);
      return fd;
    }
    if (errno != EADDRINUSE) return failErrno("cannot bind " + feedAddress(feed, socketDir), errno);
    if (address->path.empty() || attempt > 0) break;
    // A path socket nobody answers on was left by a dead producer: replace it
    // (only a socket: a file of another kind there is not ours to remove).
    Fd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct stat st {};
    if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&address->addr), address->length) == 0 ||
        errno != ECONNREFUSED || lstat(address->path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode))
      break;
    unlink(address->path.c_str());
  }
  return fail(ErrorCode::AlreadyProduced,
              "feed " + quoted(feed) + " is already served on " + feedAddress(feed, socketDir));
}

void unlinkFeedSocket(std::string_view feed, std::string_view socketDir, int listener) noexcept {
  auto address = addressOf(feed, socketDir);
  if (!address || address->path.empty()) return;
  // Ours only if the inode bound to our listener is the one at the path.
  sockaddr_un bound{};
  socklen_t length = sizeof bound;
  struct stat named {};
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &length) != 0) return;
  if (lstat(address->path.c_str(), &named) != 0 || !S_ISSOCK(named.st_mode)) return;
  struct stat mine {};
  if (fstat(listener, &mine) == 0 && named.st_uid == mine.st_uid) unlink(address->path.c_str());
}

Result<Fd> connectToFeed(std::string_view feed, std::string_view socketDir) {
  auto address = addressOf(feed, socketDir);
  if (!address) return std::unexpected(address.error());
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return failErrno("cannot create a socket", errno);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address->addr), address->length) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ECONNREFUSED)
      return fail(ErrorCode::NotFound, "feed " + quoted(feed) +
                                           " does not exist (is its producer running? nobody serves " +
                                           quoted(feedAddress(feed, socketDir)) + ")");
    if (err == EACCES || err == EPERM)
      return fail(ErrorCode::PermissionDenied, "permission denied for feed " + quoted(feed) +
                                                   ": its socket " + quoted(address->path) +
                                                   " is not open to this user");
    return failErrno("cannot connect to feed " + quoted(feed), err);
  }
  return fd;
}

Result<ucred> peerCredentials(int fd) {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0)
    return failErrno("cannot ask who is at the other end of a feed's socket", errno);
  return cred;
}

std::vector<gid_t> peerGroups(int fd) {
  std::vector<gid_t> groups(64);
  socklen_t length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) return {};
  groups.resize(length / sizeof(gid_t));
  return groups;
}

Result<void> sendMessage(int socket, std::span<const std::byte> bytes, std::span<const int> fds) {
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)]{};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  const ssize_t sent = sendmsg(socket, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent != static_cast<ssize_t>(bytes.size())) return failErrno("cannot answer on a feed's socket", errno);
  return {};
}

Result<Received> receiveWelcome(int socket, Request request, std::int64_t deadlineNs, std::string_view feed,
                                bool notify) {
  Received got;
  std::vector<std::byte> bytes;
  std::size_t wanted = sizeof(WelcomeHead);
  while (bytes.size() < wanted) {
    const std::int64_t left = deadlineNs - monotonicNs();
    pollfd pfd{socket, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(left / 1'000'000, 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0)
      return fail(ErrorCode::Timeout,
                  "the producer of feed " + quoted(feed) + " did not answer the handshake in time");
    std::byte buffer[sizeof(WelcomeHead) + kMaxRecords * sizeof(ReaderRecord)];
    iovec iov{buffer, wanted - bytes.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)]{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    // Take every descriptor that came, so none leaks, whatever else is wrong.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        got.fds.emplace_back(fd);
      }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0)
      return fail(ErrorCode::Corrupt, "the producer's answer carried too many descriptors");
    if (n <= 0)
      return fail(ErrorCode::ProducerGone,
                  "the producer of feed " + quoted(feed) + " hung up during the handshake");
    const std::size_t had = bytes.size();
    bytes.resize(had + static_cast<std::size_t>(n));
    std::memcpy(bytes.data() + had, buffer, static_cast<std::size_t>(n));
    if (bytes.size() == sizeof(WelcomeHead)) {
      const auto count = load<WelcomeHead>(bytes).recordCount;
      if (count > kMaxRecords) break;  // parseWelcome says why
      wanted = sizeof(WelcomeHead) + std::size_t{count} * sizeof(ReaderRecord);
    }
  }
  auto welcome = parseWelcome(bytes, static_cast<int>(got.fds.size()), request, notify);
  if (!welcome) return std::unexpected(welcome.error());
  got.welcome = std::move(*welcome);
  return got;
}

bool futexWait(const std::uint32_t* word, std::uint32_t expected, std::int64_t untilNs) noexcept {
  const timespec until = toTimespec(untilNs);
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time; shared (no
  // FUTEX_PRIVATE_FLAG) because the word is in memory of another process,
  // and read-only is enough to wait on it.
  return syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, &until, nullptr, FUTEX_BITSET_MATCH_ANY) ==
             0 ||
         errno != ETIMEDOUT;
}

void futexWakeAll(const std::uint32_t* word) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace frameshm::detail
