// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/feeds.hpp — looking at the feeds of this machine from outside.
//
// What `frameshm-ls` shows: every frameshm segment in /dev/shm, whether its
// producer is alive (asked of the kernel through the producer's lock), its
// format and its readers. Inspecting a feed does not register as a reader.
//
//   for (const auto& feed : frameshm::listFeeds())
//     std::printf("%s %s\n", feed.name.c_str(), feed.stale ? "stale" : "live");
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frameshm/error.hpp"
#include "frameshm/format.hpp"
#include "frameshm/layout.hpp"

namespace frameshm {

struct ReaderInfo {
  std::uint32_t index = 0;
  std::uint32_t pid = 0;
  bool alive = false;
  std::uint64_t framesRead = 0;
  std::uint64_t framesDropped = 0;
  std::uint64_t framesTorn = 0;
};

struct FeedInfo {
  std::string name;
  bool valid = false;     // header passed validation; the fields below are meaningful
  std::string problem;    // why not, when !valid
  std::uint32_t producerPid = 0;
  bool producerAlive = false;
  bool stale = false;     // producer dead and feed not ended: safe to remove
  layout::FeedState state = layout::FeedState::Creating;
  FrameFormat format{};
  std::string caps;
  std::uint32_t slotCount = 0;
  std::uint32_t readerCapacity = 0;
  std::uint64_t framesPublished = 0;
  double rateHz = 0;      // publish rate over the last second
  std::uint64_t segmentBytes = 0;
  std::uint64_t generation = 0;
  std::vector<ReaderInfo> readers;  // the active ones
};

// One feed, by name. Errors: InvalidFeedName, NotFound, PermissionDenied, SystemError.
[[nodiscard]] Result<FeedInfo> inspectFeed(const std::string& name);

// Every frameshm feed in /dev/shm, by name; feeds that cannot be read are
// listed with valid == false and the reason.
[[nodiscard]] std::vector<FeedInfo> listFeeds();

// Removes the feed's segment if its producer is dead (a crashed producer's
// leftovers). Returns true if removed, false if a live producer holds it.
// Errors: InvalidFeedName, NotFound, SystemError.
[[nodiscard]] Result<bool> removeIfStale(const std::string& name);

// "live", "ended", ... for a FeedState.
[[nodiscard]] const char* toString(layout::FeedState state) noexcept;

}  // namespace frameshm
