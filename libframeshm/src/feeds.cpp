// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/feeds.hpp"

#include <dirent.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>

#include "atomics.hpp"
#include "frameshm/segment.hpp"

namespace frameshm {
namespace {

constexpr std::string_view kPrefix = "frameshm.";

}  // namespace

const char* toString(layout::FeedState state) noexcept {
  switch (state) {
    case layout::FeedState::Creating: return "creating";
    case layout::FeedState::Live: return "live";
    case layout::FeedState::Ended: return "ended";
    case layout::FeedState::Superseded: return "superseded";
  }
  return "unknown";
}

Result<FeedInfo> inspectFeed(const std::string& name) {
  auto opened = PosixShmSegment::open(name);
  if (!opened) return std::unexpected(opened.error());
  Segment& segment = **opened;
  FeedInfo info;
  info.name = name;

  auto alive = segment.isLockedByOther(layout::kProducerLockByte);
  if (!alive) return std::unexpected(alive.error());
  info.producerAlive = *alive;
  auto size = segment.currentSize();
  if (!size) return std::unexpected(size.error());
  info.segmentBytes = *size;

  layout::SegmentHeader copy{};
  if (*size >= sizeof copy) {
    auto headerMap = segment.map(0, sizeof copy, Access::ReadOnly);
    if (!headerMap) return std::unexpected(headerMap.error());
    std::memcpy(&copy, headerMap->data(), sizeof copy);
  }
  auto checked = layout::validate(copy, *size, name);
  info.state = static_cast<layout::FeedState>(copy.state);
  info.stale = !info.producerAlive;
  if (!checked) {
    info.problem = checked.error().message;
    return info;
  }
  info.valid = true;
  info.producerPid = checked->producerPid;
  info.format = checked->format;
  info.caps = checked->caps;
  info.slotCount = checked->slotCount;
  info.readerCapacity = checked->readerCapacity;
  info.framesPublished = copy.framesPublished;
  info.rateHz = static_cast<double>(copy.rateMilliHz) / 1000.0;
  info.generation = checked->generation;

  const layout::Geometry& g = checked->geometry;
  auto table = segment.map(g.readerTableOffset, g.readerTableSize, Access::ReadOnly);
  if (!table) return std::unexpected(table.error());
  const auto* readers = reinterpret_cast<const layout::ReaderSlot*>(table->data());
  for (std::uint32_t r = 0; r < checked->readerCapacity; ++r) {
    if (detail::loadAcquire(readers[r].token) == 0) continue;
    ReaderInfo reader;
    reader.index = r;
    reader.pid = detail::loadRelaxed(readers[r].pid);
    auto locked = segment.isLockedByOther(layout::readerLockByte(r));
    reader.alive = locked && *locked;
    reader.framesRead = detail::loadRelaxed(readers[r].framesRead);
    reader.framesDropped = detail::loadRelaxed(readers[r].framesDropped);
    reader.framesTorn = detail::loadRelaxed(readers[r].framesTorn);
    info.readers.push_back(reader);
  }
  return info;
}

std::vector<FeedInfo> listFeeds() {
  std::vector<FeedInfo> feeds;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(PosixShmSegment::directory()), closedir);
  if (!dir) return feeds;
  while (const dirent* entry = readdir(dir.get())) {
    const std::string_view file = entry->d_name;
    if (!file.starts_with(kPrefix)) continue;
    const std::string name(file.substr(kPrefix.size()));
    auto info = inspectFeed(name);
    if (info) {
      feeds.push_back(std::move(*info));
    } else {
      FeedInfo unreadable;
      unreadable.name = name;
      unreadable.problem = info.error().message;
      feeds.push_back(std::move(unreadable));
    }
  }
  std::ranges::sort(feeds, {}, &FeedInfo::name);
  return feeds;
}

Result<bool> removeIfStale(const std::string& name) {
  auto opened = PosixShmSegment::open(name);
  if (!opened) return std::unexpected(opened.error());
  // Holding the producer lock ourselves proves no producer is alive, and
  // keeps one from starting on this segment while we remove it.
  auto locked = (*opened)->tryLock(layout::kProducerLockByte);
  if (!locked) return std::unexpected(locked.error());
  if (!*locked) return false;
  if (auto removed = (*opened)->unlinkName(); !removed) return std::unexpected(removed.error());
  return true;
}

}  // namespace frameshm
