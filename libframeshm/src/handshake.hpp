// SPDX-License-Identifier: LGPL-2.1-or-later
// Private: the feed's socket and the one handshake every backend uses.
//
// A consumer (or frameshm-ls, or a producer taking the feed over) connects
// to the feed's socket (feed.hpp gives the address) and sends one Hello; the
// producer checks the peer's credentials and answers one Welcome, with
// descriptors (SCM_RIGHTS): for a reader the frame memory (memfd, POSIX; a
// SysV id travels in the message) and the reader's own control memory. The
// connection then stays open and is the liveness of both sides: a hangup is
// a death. Everything received is untrusted: parseHello and parseWelcome are
// pure functions over the bytes (fuzzed: tests/fuzz/handshake_fuzz.cpp).
//
//   auto fd = connectToFeed("cam0", {});
//   sendMessage(fd->get(), encode(Hello{...}), {});
//   auto welcome = receiveWelcome(fd->get(), Request::Read, deadlineNs, "cam0");
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frameshm/error.hpp"
#include "frameshm/feed.hpp"
#include "memory.hpp"

namespace frameshm::detail {

inline constexpr std::uint32_t kHelloMagic = 0x4b485346;    // "FSHK"
inline constexpr std::uint32_t kWelcomeMagic = 0x57485346;  // "FSHW"
// Bump when a message changes; both sides refuse any other version.
inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::uint32_t kMaxRecords = 256;  // layout::kMaxReaders
inline constexpr int kMaxFds = 3;

enum class Request : std::uint16_t {
  Read = 1,     // become a reader: frame memory + control memory
  Inspect = 2,  // frameshm-ls: frame memory + the readers' statistics, no reader slot
  Replace = 3,  // a producer of the same user takes the feed over
};

enum class Status : std::uint16_t {
  Ok = 0,
  Denied = 1,      // SO_PEERCRED: this user may not read the feed
  Full = 2,        // every reader place is taken
  BadRequest = 3,  // the Hello made no sense
};

inline constexpr std::uint32_t kHelloPin = 1;     // Hello::flags: the reader pins slots
inline constexpr std::uint32_t kHelloNotify = 2;  // Hello::flags: send a pipe written on every publish
inline constexpr std::uint32_t kHelloSequential = 4;  // Hello::flags: takes every frame in order (keep the ring)

struct Hello {
  std::uint32_t magic = kHelloMagic;
  std::uint16_t version = kProtocolVersion;
  std::uint16_t request = 0;  // Request
  std::uint32_t flags = 0;
  std::uint32_t pid = 0;  // for humans only: SO_PEERCRED is what counts
};

struct ReaderRecord {
  std::uint32_t pid;
  std::uint32_t reserved;
  std::uint64_t framesRead;
  std::uint64_t framesDropped;
  std::uint64_t framesTorn;
};

struct WelcomeHead {
  std::uint32_t magic = kWelcomeMagic;
  std::uint16_t version = kProtocolVersion;
  std::uint16_t status = 0;   // Status
  std::uint32_t backend = 0;  // Backend
  std::int32_t shmid = -1;    // SysV only
  std::uint64_t memorySize = 0;
  std::uint64_t generation = 0;
  std::uint32_t producerPid = 0;
  std::uint32_t recordCount = 0;  // ReaderRecords following (Inspect only)
};

static_assert(sizeof(Hello) == 16);
static_assert(sizeof(ReaderRecord) == 32);
static_assert(sizeof(WelcomeHead) == 40);

// A validated Welcome.
struct Welcome {
  Status status = Status::Ok;
  Backend backend = Backend::Memfd;
  int shmid = -1;
  std::uint64_t memorySize = 0;
  std::uint64_t generation = 0;
  std::uint32_t producerPid = 0;
  std::vector<ReaderRecord> readers;
};

// The Hello in `bytes` (exactly sizeof(Hello)). Errors: Corrupt.
[[nodiscard]] Result<Hello> parseHello(std::span<const std::byte> bytes);
// The descriptors a Welcome of `status` and `backend` carries for `request`
// (`notify`: a Read that asked for kHelloNotify gets the pipe's read end last).
[[nodiscard]] int expectedFds(Request request, Status status, Backend backend, bool notify = false) noexcept;
// The Welcome in `bytes`, answering `request`, that came with `fdCount`
// descriptors. Errors: Corrupt (naming what is wrong).
[[nodiscard]] Result<Welcome> parseWelcome(std::span<const std::byte> bytes, int fdCount, Request request,
                                           bool notify = false);
[[nodiscard]] std::vector<std::byte> encode(const Hello& hello);
[[nodiscard]] std::vector<std::byte> encode(const WelcomeHead& head, std::span<const ReaderRecord> records);

// The feed's socket, listening (non-blocking). A path socket left by a dead
// producer is replaced. Errors: AlreadyProduced when a live process serves
// the name (the caller asks it who it is), InvalidArgument (path too long),
// SystemError.
[[nodiscard]] Result<Fd> listenOnFeed(std::string_view feed, std::string_view socketDir, mode_t mode);
// Removes a path socket if `listener` is still the one bound there.
void unlinkFeedSocket(std::string_view feed, std::string_view socketDir, int listener) noexcept;
// A connection to the feed's socket (blocking). Errors: NotFound (nobody
// serves it), PermissionDenied (path socket not open to us), SystemError.
[[nodiscard]] Result<Fd> connectToFeed(std::string_view feed, std::string_view socketDir);
// The peer's credentials. Errors: SystemError.
[[nodiscard]] Result<ucred> peerCredentials(int fd);
// The peer's supplementary groups (SO_PEERGROUPS), empty if unknown.
[[nodiscard]] std::vector<gid_t> peerGroups(int fd);

// Sends `bytes` and `fds` in one message, without blocking or SIGPIPE.
// Errors: SystemError.
[[nodiscard]] Result<void> sendMessage(int socket, std::span<const std::byte> bytes,
                                       std::span<const int> fds);
// Receives one Welcome answering `request`, waiting until `deadlineNs`
// (CLOCK_MONOTONIC) at most. Errors: Timeout, ProducerGone (hangup), Corrupt.
struct Received {
  Welcome welcome;
  std::vector<Fd> fds;
};
[[nodiscard]] Result<Received> receiveWelcome(int socket, Request request, std::int64_t deadlineNs,
                                              std::string_view feed, bool notify = false);

// FUTEX_WAIT on a shared (possibly read-only) word until `untilNs`
// (CLOCK_MONOTONIC); every error is taken as a wake-up. False on timeout.
bool futexWait(const std::uint32_t* word, std::uint32_t expected, std::int64_t untilNs) noexcept;
// Wakes every waiter on the word; errors are ignored.
void futexWakeAll(const std::uint32_t* word) noexcept;

}  // namespace frameshm::detail
