// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/feed.hpp — what a user needs to know about a feed by name.
//
// A feed is named by 1..200 of [A-Za-z0-9._-]. Its producer serves it on a
// Unix stream socket, which is how every consumer finds it, is let in and
// learns that the producer died, whatever memory the frames live in (the
// Backend). The socket's address, in this one discovery order:
//   1. the `socketDir` option of ProducerOptions / ConsumerOptions, if set:
//      the path `<socketDir>/frameshm.<feed>.sock`;
//   2. else the environment variable FRAMESHM_SOCKET_DIR, if set and not
//      empty: the same path under that directory (bind-mount it into a
//      container to let the container's consumers in);
//   3. else the abstract socket `@frameshm/<feed>` (Linux's abstract
//      namespace: it vanishes with its producer, so a kill -9 leaves nothing).
//
//   if (auto ok = frameshm::validateFeedName(name); !ok) return usage(ok.error().message);
//   std::printf("serving on %s\n", frameshm::feedAddress(name).c_str());
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "frameshm/error.hpp"

namespace frameshm {

inline constexpr std::size_t kMaxFeedNameLength = 200;

// Checks a feed name: 1..200 characters of [A-Za-z0-9._-].
// Errors: InvalidFeedName saying what is wrong with it.
[[nodiscard]] Result<void> validateFeedName(std::string_view feed);

// Where a feed's frames live. Every backend has the same socket, handshake
// and liveness; they differ in what a co-resident process can do (README,
// threat model).
enum class Backend : std::uint32_t {
  Memfd = 1,  // a sealed memfd passed over the socket: nothing on disk, read-only for readers (default)
  Posix = 2,  // POSIX shared memory /dev/shm/frameshm.<feed>, for tools that expect it
  SysV = 3,   // a System V segment (shmget), removed as soon as the producer attached it
};

// "memfd", "posix" or "sysv".
[[nodiscard]] const char* toString(Backend backend) noexcept;
// The backend of that name, or nullopt.
[[nodiscard]] std::optional<Backend> backendFromString(std::string_view name) noexcept;

// The state a feed's producer announces in its frame memory.
enum class FeedState : std::uint32_t {
  Creating = 0,    // being initialised: not ready to read
  Live = 1,        // a producer publishes into it
  Ended = 2,       // the producer ended the feed (EOS): no more frames
  Superseded = 3,  // a new producer or generation replaced this one under the same name
};

// "creating", "live", "ended", "superseded".
[[nodiscard]] const char* toString(FeedState state) noexcept;

// The feed's socket address for messages, after the discovery order above:
// "@frameshm/cam0" (abstract) or "/run/frameshm/frameshm.cam0.sock".
[[nodiscard]] std::string feedAddress(std::string_view feed, std::string_view socketDir = {});

}  // namespace frameshm
