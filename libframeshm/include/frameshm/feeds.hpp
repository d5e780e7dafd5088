// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/feeds.hpp — looking at the feeds of this machine from outside.
//
// What `frameshm-ls` shows: every feed whose socket answers (abstract names
// from /proc/net/unix, path sockets in the socket directory), whatever its
// backend, with its format and its readers as its producer reports them; and
// what dead producers left behind (a POSIX file in /dev/shm, a path socket
// nobody answers on), marked stale. Inspecting a feed does not register as a
// reader. A System V feed leaves nothing behind: its segment goes with its
// last process.
//
//   for (const auto& feed : frameshm::listFeeds())
//     std::printf("%s %s\n", feed.name.c_str(), feed.stale ? "stale" : "live");
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frameshm/error.hpp"
#include "frameshm/feed.hpp"
#include "frameshm/format.hpp"

namespace frameshm {

struct ReaderInfo {
  std::uint32_t index = 0;
  std::uint32_t pid = 0;  // as the reader said in its handshake
  bool alive = false;     // connected (a dead reader is forgotten at once)
  std::uint64_t framesRead = 0;
  std::uint64_t framesDropped = 0;
  std::uint64_t framesTorn = 0;
};

struct FeedInfo {
  std::string name;
  std::string address;  // the feed's socket (feed.hpp)
  Backend backend = Backend::Memfd;
  bool valid = false;   // frame memory passed validation; the fields below are meaningful
  std::string problem;  // why not, when !valid
  std::uint32_t producerPid = 0;
  bool producerAlive = false;
  bool stale = false;  // left by a dead producer: safe to remove
  FeedState state = FeedState::Creating;
  FrameFormat format{};
  std::string caps;
  std::uint32_t slotCount = 0;
  std::uint32_t readerCapacity = 0;
  std::uint64_t framesPublished = 0;
  double rateHz = 0;  // publish rate over the last second
  std::uint64_t segmentBytes = 0;
  std::uint64_t generation = 0;
  std::vector<ReaderInfo> readers;  // the connected ones
};

// One feed, by name. Errors: InvalidFeedName, NotFound, PermissionDenied, SystemError.
[[nodiscard]] Result<FeedInfo> inspectFeed(const std::string& name, std::string_view socketDir = {});

// Every frameshm feed of this machine, by name; feeds that cannot be read are
// listed with valid == false and the reason.
[[nodiscard]] std::vector<FeedInfo> listFeeds(std::string_view socketDir = {});

// Removes what a dead producer left of the feed (its POSIX file, its path
// socket). Returns true if removed, false if a live producer serves it.
// Errors: InvalidFeedName, NotFound (nothing left), SystemError.
[[nodiscard]] Result<bool> removeIfStale(const std::string& name, std::string_view socketDir = {});

}  // namespace frameshm
