// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/producer.hpp"

#include <semaphore.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstring>
#include <utility>
#include <vector>

#include "atomics.hpp"
#include "frameshm/clock.hpp"
#include "frameshm/layout.hpp"
#include "frameshm/segment.hpp"
#include "rate_meter.hpp"
#include "text.hpp"

namespace frameshm {
namespace detail {

using layout::FeedState;

namespace {

// A reader that does not wait (busy polling) is not posted past this many
// pending wake-ups, so its semaphore cannot overflow.
constexpr int kMaxPendingWakes = 64;
constexpr std::int64_t kReclaimIntervalNs = 250'000'000;
constexpr int kCreateAttempts = 16;


std::uint64_t randomNonZero() {
  std::uint64_t value = 0;
  while (value == 0) {
    if (getrandom(&value, sizeof value, 0) != sizeof value)
      value = static_cast<std::uint64_t>(monotonicNs()) ^ (static_cast<std::uint64_t>(getpid()) << 32);
  }
  return value;
}

}  // namespace

struct ProducerState {
  ProducerOptions options;
  std::unique_ptr<Segment> segment;
  Mapping mapping;
  layout::Geometry geometry{};
  layout::SegmentHeader* header = nullptr;
  layout::SlotHeader* slots = nullptr;
  layout::ReaderSlot* readers = nullptr;
  std::byte* payload = nullptr;
  std::uint64_t generation = 0;
  // The producer is the only writer of sequences and frame numbers, so it
  // keeps its own copies instead of reading them back from shared memory.
  std::vector<std::uint64_t> sequence;
  std::vector<std::uint64_t> writtenFrame;  // frame number last in each slot, 0 = never
  std::uint64_t nextFrame = 1;
  bool slotOut = false;
  bool ended = false;
  ProducerStats stats{};
  // Set once the segment was found shorter than it should be (another process
  // with write access shrank it): from then on nothing in it is touched, since
  // pages past the end raise SIGBUS.
  bool truncated = false;
  std::int64_t lastReclaimNs = 0;
  RateMeter rate;

  std::uint64_t pinnedMask() const noexcept {
    std::uint64_t mask = 0;
    for (std::uint32_t r = 0; r < options.maxReaders; ++r) {
      if (loadAcquire(readers[r].token) != 0) mask |= loadSeqCst(readers[r].pinnedMask);
    }
    return mask;
  }

  // Whether the whole segment is still there, asked of the kernel.
  bool usable() noexcept {
    if (truncated) return false;
    auto size = segment->currentSize();
    truncated = !size || *size < geometry.segmentSize;
    return !truncated;
  }

  // The feed cannot go on in a truncated segment: free the name for a restart.
  std::unexpected<Error> failTruncated() {
    ended = true;
    (void)segment->unlinkName();
    return fail(ErrorCode::Corrupt, "segment of feed " + quoted(options.feed) +
                                        " was truncated by another process; the feed has ended");
  }

  std::byte* slotPayload(std::uint32_t index) const noexcept {
    return payload + std::uint64_t{index} * geometry.slotStride;
  }

  bool supersededByOther() const noexcept {
    return loadAcquire(header->state) != static_cast<std::uint32_t>(FeedState::Live);
  }

  void wakeReaders() noexcept {
    for (std::uint32_t r = 0; r < options.maxReaders; ++r) {
      if (loadAcquire(readers[r].token) == 0) continue;
      int pending = 0;
      sem_getvalue(&readers[r].wake, &pending);
      if (pending < kMaxPendingWakes) sem_post(&readers[r].wake);
    }
  }

  // Frees the slots of readers whose lock the kernel released (they died).
  void reclaimDeadReaders() noexcept {
    for (std::uint32_t r = 0; r < options.maxReaders; ++r) {
      std::uint64_t token = loadAcquire(readers[r].token);
      if (token == 0) continue;
      auto locked = segment->isLockedByOther(layout::readerLockByte(r));
      if (!locked || *locked) continue;
      // Only the token we saw: a reader that claimed the slot since keeps it.
      if (compareExchange(readers[r].token, token, std::uint64_t{0})) ++stats.readersReclaimed;
    }
  }

  void updateRate(std::int64_t now) noexcept {
    if (rate.count(now)) storeRelaxed(header->rateMilliHz, static_cast<std::uint64_t>(rate.hz() * 1000.0));
  }

  // Picks the slot to write: never the newest frame, never a pinned slot
  // unless every other slot is pinned (the producer does not wait). Leaves the
  // slot's sequence odd.
  std::uint32_t chooseSlot() noexcept {
    const std::uint32_t count = options.slots;
    const std::uint32_t latest = loadRelaxed(header->latestSlot);  // index + 1; only we write it
    std::uint64_t tried = latest ? (std::uint64_t{1} << (latest - 1)) : 0;
    for (;;) {
      // The oldest slot not tried yet.
      std::uint32_t best = count;
      for (std::uint32_t i = 0; i < count; ++i) {
        if ((tried >> i) & 1) continue;
        if (best == count || writtenFrame[i] < writtenFrame[best]) best = i;
      }
      if (best == count) break;
      tried |= std::uint64_t{1} << best;
      if ((pinnedMask() >> best) & 1) continue;
      // Dekker handshake with a reader pinning this slot: we make the sequence
      // odd, then look at the pins; a reader sets its pin, then looks at the
      // sequence. One of us sees the other. If a pin appeared, put the
      // sequence back untouched (no byte was written) and try another slot.
      storeSeqCst(slots[best].sequence, sequence[best] + 1);
      if ((pinnedMask() >> best) & 1) {
        storeSeqCst(slots[best].sequence, sequence[best]);
        continue;
      }
      sequence[best] += 1;
      return best;
    }
    // Every slot but the newest is pinned: overwrite the oldest of them. Its
    // reader sees the sequence change and does not accept the frame.
    std::uint32_t oldest = count;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (latest && i == latest - 1) continue;
      if (oldest == count || writtenFrame[i] < writtenFrame[oldest]) oldest = i;
    }
    ++stats.pinnedOverwrites;
    sequence[oldest] += 1;
    storeSeqCst(slots[oldest].sequence, sequence[oldest]);
    return oldest;
  }

  void markEnded(FeedState how) noexcept {
    if (!usable()) return;
    std::uint32_t live = static_cast<std::uint32_t>(FeedState::Live);
    (void)compareExchange(header->state, live, static_cast<std::uint32_t>(how));
    wakeReaders();
  }

  static Result<std::unique_ptr<ProducerState>> open(ProducerOptions options);
  static Result<void> takeOverOrReclaim(const ProducerOptions& options);
  Result<void> initialise();
};

// The name exists: reclaim it if its producer is dead, take it over if asked to.
Result<void> ProducerState::takeOverOrReclaim(const ProducerOptions& options) {
  auto existing = PosixShmSegment::open(options.feed);
  if (!existing) {
    if (existing.error().code == ErrorCode::NotFound) return {};  // vanished meanwhile: try again
    return std::unexpected(existing.error());
  }
  Segment& old = **existing;
  auto gotLock = old.tryLock(layout::kProducerLockByte);
  if (!gotLock) return std::unexpected(gotLock.error());

  // Read what the old header says about its producer, if it is readable.
  layout::SegmentHeader* oldHeader = nullptr;
  Mapping oldMapping;
  auto size = old.currentSize();
  if (size && *size >= sizeof(layout::SegmentHeader)) {
    auto mapped = old.map(0, sizeof(layout::SegmentHeader), Access::ReadWrite);
    if (mapped) {
      oldMapping = std::move(*mapped);
      auto* h = reinterpret_cast<layout::SegmentHeader*>(oldMapping.data());
      if (loadAcquire(h->magic) == layout::kMagic) oldHeader = h;
    }
  }

  if (!*gotLock) {  // a live producer holds it
    const std::uint32_t pid = oldHeader ? loadRelaxed(oldHeader->producerPid) : 0;
    if (!options.replace)
      return fail(ErrorCode::AlreadyProduced,
                  "feed " + quoted(options.feed) + " is already produced by " +
                      (pid ? "pid " + std::to_string(pid) : std::string("another process")) +
                      " (stop it, or take the feed over with --replace / replace=true)");
  }
  if (oldHeader) {
    // Its readers move to the new segment instead of waiting for a dead one.
    storeRelease(oldHeader->state, static_cast<std::uint32_t>(FeedState::Superseded));
    if (*size >= oldHeader->segmentSize && oldHeader->readerCapacity <= layout::kMaxReaders &&
        oldHeader->readerTableOffset % layout::kPageSize == 0 &&
        oldHeader->readerTableOffset + std::uint64_t{oldHeader->readerCapacity} * sizeof(layout::ReaderSlot) <=
            *size) {
      auto table = old.map(oldHeader->readerTableOffset,
                           std::uint64_t{oldHeader->readerCapacity} * sizeof(layout::ReaderSlot),
                           Access::ReadWrite);
      if (table) {
        auto* oldReaders = reinterpret_cast<layout::ReaderSlot*>(table->data());
        for (std::uint32_t r = 0; r < oldHeader->readerCapacity; ++r)
          if (loadAcquire(oldReaders[r].token) != 0) sem_post(&oldReaders[r].wake);
      }
    }
  }
  if (auto removed = old.unlinkName(); !removed) return std::unexpected(removed.error());
  return {};
}

Result<std::unique_ptr<ProducerState>> ProducerState::open(ProducerOptions options) {
  if (auto ok = validateFeedName(options.feed); !ok) return std::unexpected(ok.error());
  if (auto ok = validateFormat(options.format); !ok) return std::unexpected(ok.error());
  if (options.caps.size() >= layout::kCapsCapacity)
    return fail(ErrorCode::InvalidArgument, "caps string of " + std::to_string(options.caps.size()) +
                                                " bytes is too long (at most 4095)");
  if (options.caps.find('\0') != std::string::npos)
    return fail(ErrorCode::InvalidArgument, "caps string contains a NUL byte");
  if ((options.mode & ~mode_t{0777}) != 0 || (options.mode & 0600) != 0600)
    return fail(ErrorCode::InvalidArgument, "mode must be within 0777 and include 0600 (owner read-write)");
  auto geometry = layout::computeGeometry(options.slots, options.maxReaders, options.format.frameSize);
  if (!geometry) return std::unexpected(geometry.error());

  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    auto created = PosixShmSegment::create(options.feed, options.mode);
    if (!created) {
      if (created.error().code != ErrorCode::AlreadyProduced) return std::unexpected(created.error());
      if (auto ok = takeOverOrReclaim(options); !ok) return std::unexpected(ok.error());
      continue;
    }
    auto state = std::make_unique<ProducerState>();
    state->options = options;
    state->segment = std::move(*created);
    state->geometry = *geometry;
    // Another producer reclaiming what it took for a stale name may hold the
    // lock, or have removed our name already: start over.
    auto locked = state->segment->tryLock(layout::kProducerLockByte);
    if (!locked) return std::unexpected(locked.error());
    if (!*locked || !state->segment->isCurrent()) continue;
    if (auto ok = state->initialise(); !ok) {
      (void)state->segment->unlinkName();
      return std::unexpected(ok.error());
    }
    return state;
  }
  return fail(ErrorCode::AlreadyProduced,
              "feed " + quoted(options.feed) + " keeps being re-created by another process; giving up");
}

Result<void> ProducerState::initialise() {
  if (auto ok = segment->resize(geometry.segmentSize); !ok) return ok;
  auto mapped = segment->map(0, geometry.segmentSize, Access::ReadWrite);
  if (!mapped) return std::unexpected(mapped.error());
  mapping = std::move(*mapped);
  std::byte* base = mapping.data();
  header = reinterpret_cast<layout::SegmentHeader*>(base);
  slots = reinterpret_cast<layout::SlotHeader*>(base + geometry.slotTableOffset);
  readers = reinterpret_cast<layout::ReaderSlot*>(base + geometry.readerTableOffset);
  payload = base + geometry.payloadOffset;
  generation = randomNonZero();

  for (std::uint32_t r = 0; r < options.maxReaders; ++r) {
    if (sem_init(&readers[r].wake, 1, 0) != 0) return failErrno("cannot create a reader semaphore", errno);
  }
  header->abiVersion = layout::kAbiVersion;
  header->headerSize = sizeof(layout::SegmentHeader);
  header->segmentSize = geometry.segmentSize;
  header->generation = generation;
  header->createdNs = realtimeNs();
  header->producerPid = static_cast<std::uint32_t>(getpid());
  header->slotCount = options.slots;
  header->readerCapacity = options.maxReaders;
  header->slotHeaderSize = sizeof(layout::SlotHeader);
  header->readerSlotSize = sizeof(layout::ReaderSlot);
  header->slotTableOffset = geometry.slotTableOffset;
  header->readerTableOffset = geometry.readerTableOffset;
  header->payloadOffset = geometry.payloadOffset;
  header->slotStride = geometry.slotStride;
  header->format = layout::toBlock(options.format);
  header->capsLength = static_cast<std::uint32_t>(options.caps.size());
  std::memcpy(header->caps, options.caps.data(), options.caps.size());
  header->caps[options.caps.size()] = '\0';
  header->state = static_cast<std::uint32_t>(FeedState::Live);
  // The magic goes last: a reader that sees it sees everything above.
  storeRelease(header->magic, layout::kMagic);

  sequence.assign(options.slots, 0);
  writtenFrame.assign(options.slots, 0);
  return {};
}

void abandonSlot(ProducerState& state, std::uint32_t index) noexcept {
  state.slotOut = false;
  if (!state.usable()) return;
  // The bytes changed but the frame was never published: move the sequence on
  // so that a stale view of the slot is seen as overwritten.
  state.sequence[index] += 1;
  storeRelease(state.slots[index].sequence, state.sequence[index]);
  state.writtenFrame[index] = 0;
}

}  // namespace detail

using detail::ProducerState;

WriteSlot::WriteSlot(WriteSlot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      data_(other.data_),
      format_(other.format_),
      index_(other.index_),
      frameNumber_(other.frameNumber_) {}

WriteSlot& WriteSlot::operator=(WriteSlot&& other) noexcept {
  if (this != &other) {
    if (owner_) detail::abandonSlot(*owner_, index_);
    owner_ = std::exchange(other.owner_, nullptr);
    data_ = other.data_;
    format_ = other.format_;
    index_ = other.index_;
    frameNumber_ = other.frameNumber_;
  }
  return *this;
}

WriteSlot::~WriteSlot() {
  if (owner_) detail::abandonSlot(*owner_, index_);
}

std::byte* WriteSlot::plane(std::uint32_t plane) const noexcept {
  if (!format_ || plane >= format_->planeCount) return nullptr;
  return data_.data() + format_->planes[plane].offset;
}

Producer::Producer(std::unique_ptr<ProducerState> state) noexcept : state_(std::move(state)) {}
Producer::Producer(Producer&& other) noexcept = default;
Producer& Producer::operator=(Producer&& other) noexcept {
  if (this != &other) {
    end();
    state_ = std::move(other.state_);
  }
  return *this;
}
Producer::~Producer() { end(); }

Result<Producer> Producer::create(ProducerOptions options) {
  auto state = ProducerState::open(std::move(options));
  if (!state) return std::unexpected(state.error());
  return Producer(std::move(*state));
}

Result<WriteSlot> Producer::acquire() {
  if (!state_ || state_->ended) return fail(ErrorCode::InvalidState, "the feed has ended");
  ProducerState& s = *state_;
  if (s.slotOut)
    return fail(ErrorCode::InvalidState, "a slot is already acquired: publish it or let it go first");
  if (!s.usable()) return s.failTruncated();
  if (s.supersededByOther())
    return fail(ErrorCode::TakenOver,
                "feed '" + s.options.feed + "' was taken over by another producer");
  const std::uint32_t index = s.chooseSlot();
  s.slotOut = true;
  WriteSlot slot;
  slot.owner_ = &s;
  slot.data_ = std::span<std::byte>(s.slotPayload(index), s.options.format.frameSize);
  slot.format_ = &s.options.format;
  slot.index_ = index;
  slot.frameNumber_ = s.nextFrame;
  return slot;
}

Result<std::uint64_t> Producer::publish(WriteSlot&& slot, const FrameMeta& meta) {
  if (!state_ || slot.owner_ != state_.get())
    return fail(ErrorCode::InvalidArgument, "the slot was not acquired from this producer");
  ProducerState& s = *state_;
  const std::uint32_t index = slot.index_;
  slot.owner_ = nullptr;  // consumed either way: published, or abandoned below
  if (!s.usable()) {
    s.slotOut = false;
    return s.failTruncated();
  }
  const std::uint64_t payloadSize = meta.payloadSize ? meta.payloadSize : s.options.format.frameSize;
  if (payloadSize > s.options.format.frameSize) {
    detail::abandonSlot(s, index);
    return fail(ErrorCode::InvalidArgument, "payload of " + std::to_string(payloadSize) +
                                                " bytes is larger than the frame (" +
                                                std::to_string(s.options.format.frameSize) + ")");
  }
  const std::uint64_t number = s.nextFrame++;
  const std::int64_t now = monotonicNs();

  layout::SlotHeader& header = s.slots[index];
  detail::storeRelaxed(header.frameNumber, number);
  detail::storeRelaxed(header.captureNs, meta.captureNs >= 0 ? meta.captureNs : now);
  detail::storeRelaxed(header.publishNs, now);
  detail::storeRelaxed(header.pts, meta.pts);
  detail::storeRelaxed(header.duration, meta.duration);
  detail::storeRelaxed(header.payloadSize, payloadSize);
  detail::storeRelaxed(header.flags, meta.flags);
  s.sequence[index] += 1;  // even again: the frame is complete
  detail::storeRelease(header.sequence, s.sequence[index]);
  s.writtenFrame[index] = number;
  s.slotOut = false;
  detail::storeRelease(s.header->latestSlot, index + 1);
  detail::storeRelaxed(s.header->framesPublished, number);
  ++s.stats.framesPublished;
  s.wakeReaders();

  s.updateRate(now);
  if (now - s.lastReclaimNs >= detail::kReclaimIntervalNs) {
    s.lastReclaimNs = now;
    s.reclaimDeadReaders();
  }
  if (s.supersededByOther())
    return fail(ErrorCode::TakenOver, "feed '" + s.options.feed + "' was taken over by another producer");
  return number;
}

Result<std::uint64_t> Producer::write(std::span<const std::byte> frame, const FrameMeta& meta) {
  if (state_ && frame.size() > state_->options.format.frameSize)
    return fail(ErrorCode::InvalidArgument, "frame of " + std::to_string(frame.size()) +
                                                " bytes is larger than the format's " +
                                                std::to_string(state_->options.format.frameSize));
  auto slot = acquire();
  if (!slot) return std::unexpected(slot.error());
  std::memcpy(slot->data().data(), frame.data(), frame.size());
  FrameMeta withSize = meta;
  if (withSize.payloadSize == 0) withSize.payloadSize = frame.size();
  return publish(std::move(*slot), withSize);
}

Result<void> Producer::reconfigure(const FrameFormat& format, std::string caps) {
  if (!state_ || state_->ended) return fail(ErrorCode::InvalidState, "the feed has ended");
  if (state_->slotOut) return fail(ErrorCode::InvalidState, "publish or drop the acquired slot first");
  if (auto ok = validateFormat(format); !ok) return ok;
  ProducerOptions options = state_->options;
  options.format = format;
  options.caps = std::move(caps);
  options.replace = false;
  // Free the name first; readers see the old segment superseded and follow.
  state_->markEnded(layout::FeedState::Superseded);
  (void)state_->segment->unlinkName();
  state_->ended = true;
  auto next = ProducerState::open(std::move(options));
  if (!next) return std::unexpected(next.error());
  state_ = std::move(*next);
  return {};
}

void Producer::end() noexcept {
  if (!state_ || state_->ended) return;
  state_->markEnded(layout::FeedState::Ended);
  (void)state_->segment->unlinkName();
  state_->ended = true;
}

const FrameFormat& Producer::format() const noexcept { return state_->options.format; }
const std::string& Producer::feed() const noexcept { return state_->options.feed; }
std::uint64_t Producer::generation() const noexcept { return state_->generation; }
std::uint32_t Producer::slotCount() const noexcept { return state_->options.slots; }
std::uint64_t Producer::segmentSize() const noexcept { return state_->geometry.segmentSize; }
ProducerStats Producer::stats() const noexcept { return state_->stats; }
double Producer::frameRate() const noexcept { return state_->rate.hz(); }

std::uint32_t Producer::readerCount() const noexcept {
  if (!state_->usable()) return 0;
  std::uint32_t count = 0;
  for (std::uint32_t r = 0; r < state_->options.maxReaders; ++r)
    if (detail::loadAcquire(state_->readers[r].token) != 0) ++count;
  return count;
}

}  // namespace frameshm
