// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/consumer.hpp"

#include <semaphore.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

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

// A blocked reader looks at its producer's lock at least this often, so a
// dead producer is reported within about this long.
constexpr std::int64_t kLivenessIntervalNs = 50'000'000;
// How often a reader waiting for a feed to appear looks for it.
constexpr auto kAttachPollInterval = std::chrono::milliseconds(5);
constexpr int kReadAttempts = 8;
// An honest producer leaves at most 64 wake-ups pending (producer.cpp); a
// semaphore count the segment's writer set to 2^31 must not keep us draining.
constexpr int kMaxDrain = 1024;


std::uint64_t randomToken() {
  std::uint64_t value = 0;
  while (value == 0) {
    if (getrandom(&value, sizeof value, 0) != sizeof value)
      value = static_cast<std::uint64_t>(monotonicNs()) * 0x9e3779b97f4a7c15ULL ^ static_cast<std::uint64_t>(getpid());
  }
  return value;
}

timespec toTimespec(std::int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

std::int64_t toNs(std::chrono::nanoseconds d) { return d.count(); }

std::string seconds(std::chrono::milliseconds ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

// Takes the wake-ups that piled up while we were not waiting: every one of
// them only says "look again", and we are about to.
void drainWakes(sem_t* wake) noexcept {
  for (int i = 0; i < kMaxDrain && sem_trywait(wake) == 0; ++i) {
  }
}

}  // namespace

struct Counters {
  std::uint64_t torn = 0;  // atomically updated: Frames may be checked from any thread
};

struct Attachment {
  std::unique_ptr<Segment> segment;
  Mapping view;   // the whole segment, read-only
  Mapping table;  // the reader table, read-write
  layout::CheckedHeader checked;
  const layout::SegmentHeader* header = nullptr;
  const layout::SlotHeader* slots = nullptr;
  const std::byte* payload = nullptr;
  layout::ReaderSlot* self = nullptr;
  std::uint32_t readerIndex = 0;
  std::shared_ptr<Counters> counters;
  // Set once the segment was found shorter than its header says: from then
  // on nothing in it is touched, since pages past the end raise SIGBUS.
  mutable bool truncated = false;

  Attachment() = default;
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;
  ~Attachment() {
    if (!self) return;
    if (usable()) {
      storeRelease(self->pinnedMask, std::uint64_t{0});
      storeRelease(self->token, std::uint64_t{0});
    }
    segment->unlock(layout::readerLockByte(readerIndex));
  }

  // Whether the whole segment is still there. Another process with write
  // access can shrink it at any time; this is asked of the kernel before
  // each access that depends on it.
  bool usable() const noexcept {
    if (truncated) return false;
    auto size = segment->currentSize();
    truncated = !size || *size < checked.geometry.segmentSize;
    return !truncated;
  }

  Error truncatedError() const {
    return {ErrorCode::Corrupt, "segment of feed " + quoted(segment->feed()) +
                                    " was truncated while mapped (by its producer or another process)"};
  }

  FeedState state() const noexcept { return static_cast<FeedState>(loadAcquire(header->state)); }

  void countTorn() const noexcept {
    const std::uint64_t torn = __atomic_add_fetch(&counters->torn, 1, __ATOMIC_RELAXED);
    if (usable()) storeRelaxed(self->framesTorn, torn);
  }
};

void unpin(Attachment& attachment, std::uint32_t index) noexcept {
  if (!attachment.usable()) return;
  __atomic_fetch_and(&attachment.self->pinnedMask, ~(std::uint64_t{1} << index), __ATOMIC_RELEASE);
}

// Why an attempt to attach did not succeed, and whether waiting may help.
struct AttachFailure {
  Error error;
  bool retry;
};

std::expected<std::shared_ptr<Attachment>, AttachFailure> tryAttach(const std::string& feed,
                                                                     const std::shared_ptr<Counters>& counters) {
  auto failWith = [](Error error, bool retry) { return std::unexpected(AttachFailure{std::move(error), retry}); };
  auto opened = PosixShmSegment::open(feed);
  if (!opened) return failWith(opened.error(), opened.error().code == ErrorCode::NotFound);
  auto attachment = std::make_shared<Attachment>();
  attachment->segment = std::move(*opened);
  Segment& segment = *attachment->segment;

  const Error notReady{ErrorCode::NotFound, "feed " + quoted(feed) + " is still being created by its producer"};
  auto size = segment.currentSize();
  if (!size) return failWith(size.error(), false);
  if (*size < sizeof(layout::SegmentHeader)) return failWith(notReady, true);

  // Copy the header out of shared memory, then validate the copy: the
  // producer is another process, and nothing it wrote is trusted unchecked.
  layout::SegmentHeader copy;
  {
    auto headerMap = segment.map(0, sizeof(layout::SegmentHeader), Access::ReadOnly);
    if (!headerMap) return failWith(headerMap.error(), false);
    const auto* shared = reinterpret_cast<const layout::SegmentHeader*>(headerMap->data());
    if (loadAcquire(shared->magic) == 0) return failWith(notReady, true);
    std::memcpy(&copy, shared, sizeof copy);
  }
  auto checked = layout::validate(copy, *size, feed);
  if (!checked) return failWith(checked.error(), false);
  if (copy.state == static_cast<std::uint32_t>(FeedState::Creating)) return failWith(notReady, true);
  if (copy.state != static_cast<std::uint32_t>(FeedState::Live))
    return failWith({ErrorCode::FeedEnded, "feed " + quoted(feed) + " has ended"}, true);
  auto alive = segment.isLockedByOther(layout::kProducerLockByte);
  if (!alive) return failWith(alive.error(), false);
  if (!*alive)
    return failWith({ErrorCode::ProducerGone, "feed " + quoted(feed) + " was left behind by its producer (pid " +
                                                  std::to_string(checked->producerPid) + "), which died"},
                    true);

  const layout::Geometry& g = checked->geometry;
  auto view = segment.map(0, g.segmentSize, Access::ReadOnly);
  if (!view) return failWith(view.error(), false);
  auto table = segment.map(g.readerTableOffset, g.readerTableSize, Access::ReadWrite);
  if (!table) return failWith(table.error(), false);
  attachment->view = std::move(*view);
  attachment->table = std::move(*table);
  attachment->checked = std::move(*checked);
  const std::byte* base = attachment->view.data();
  attachment->header = reinterpret_cast<const layout::SegmentHeader*>(base);
  attachment->slots = reinterpret_cast<const layout::SlotHeader*>(base + g.slotTableOffset);
  attachment->payload = base + g.payloadOffset;
  attachment->counters = counters;

  // Claim a reader slot: its lock byte makes the claim exclusive.
  const std::uint32_t capacity = attachment->checked.readerCapacity;
  std::uint32_t index = capacity;
  for (std::uint32_t r = 0; r < capacity; ++r) {
    auto got = segment.tryLock(layout::readerLockByte(r));
    if (!got) return failWith(got.error(), false);
    if (*got) {
      index = r;
      break;
    }
  }
  if (index == capacity)
    return failWith({ErrorCode::ReadersFull, "feed " + quoted(feed) + " already has " + std::to_string(capacity) +
                                                 " readers, all its reader slots (its producer can allow more)"},
                    true);
  auto* self = reinterpret_cast<layout::ReaderSlot*>(attachment->table.data()) + index;
  std::uint64_t seen = loadAcquire(self->token);
  const std::uint64_t token = randomToken();
  while (!compareExchange(self->token, seen, token)) {
  }
  storeRelaxed(self->pinnedMask, std::uint64_t{0});
  storeRelaxed(self->pid, static_cast<std::uint32_t>(getpid()));
  storeRelaxed(self->framesRead, std::uint64_t{0});
  storeRelaxed(self->framesDropped, std::uint64_t{0});
  storeRelaxed(self->framesTorn, __atomic_load_n(&counters->torn, __ATOMIC_RELAXED));
  drainWakes(&self->wake);
  attachment->self = self;
  attachment->readerIndex = index;
  return attachment;
}

struct ConsumerState {
  ConsumerOptions options;
  std::shared_ptr<Attachment> current;
  std::shared_ptr<Counters> counters = std::make_shared<Counters>();
  std::uint64_t framesRead = 0;
  std::uint64_t framesDropped = 0;
  std::uint64_t generations = 0;
  std::uint64_t lastFrame = 0;  // of the current attachment
  std::int64_t lastPublishNs = 0;
  std::int64_t intervalNs = 0;  // smoothed publish interval, for spinning
  std::int64_t lastLivenessNs = 0;
  RateMeter rate;

  // Waits until `deadlineNs` (CLOCK_MONOTONIC) for the feed to be attachable.
  // `reattaching`: the feed's end or death was reported already, so finding
  // only the old segment at the deadline is a Timeout, not a new report.
  Result<void> attach(std::int64_t deadlineNs, bool waitForever, std::chrono::milliseconds waited,
                      bool reattaching) {
    for (;;) {
      auto attached = tryAttach(options.feed, counters);
      if (attached) {
        current = std::move(*attached);
        ++generations;
        lastFrame = 0;
        lastPublishNs = 0;
        intervalNs = 0;
        return {};
      }
      if (!attached.error().retry) return std::unexpected(attached.error().error);
      if (!waitForever && monotonicNs() >= deadlineNs) {
        Error error = std::move(attached.error().error);
        if (error.code == ErrorCode::NotFound && waited.count() > 0)
          return fail(ErrorCode::Timeout, "feed " + quoted(options.feed) + " did not appear within " +
                                              seconds(waited) + " (is its producer running?)");
        if (reattaching && (error.code == ErrorCode::ProducerGone || error.code == ErrorCode::FeedEnded))
          return fail(ErrorCode::Timeout, "feed " + quoted(options.feed) + " has no live producer yet");
        return std::unexpected(std::move(error));
      }
      std::this_thread::sleep_for(kAttachPollInterval);
    }
  }

  // One attempt to take the newest frame: a Frame, NoFrame, or Corrupt.
  Result<Frame> poll() {
    Attachment& a = *current;
    if (!a.usable()) return std::unexpected(a.truncatedError());
    const std::uint32_t slotCount = a.checked.slotCount;  // validated copy, not the shared field
    for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
      const std::uint32_t latest = loadAcquire(a.header->latestSlot);
      if (latest == 0) break;
      if (latest > slotCount)
        return fail(ErrorCode::Corrupt, "feed " + quoted(options.feed) + " names slot " + std::to_string(latest) +
                                            " as newest, but has " + std::to_string(slotCount));
      const std::uint32_t index = latest - 1;
      const layout::SlotHeader& slot = a.slots[index];
      const std::uint64_t before = loadAcquire(slot.sequence);
      if (before & 1) continue;  // being rewritten: the newest has moved on
      const std::uint64_t number = loadRelaxed(slot.frameNumber);
      if (number <= lastFrame) break;
      FrameMeta meta;
      meta.captureNs = loadRelaxed(slot.captureNs);
      meta.pts = loadRelaxed(slot.pts);
      meta.duration = loadRelaxed(slot.duration);
      meta.flags = loadRelaxed(slot.flags);
      meta.payloadSize = loadRelaxed(slot.payloadSize);
      const std::int64_t publishNs = loadRelaxed(slot.publishNs);
      std::uint64_t after = 0;
      if (options.pin) {
        // Dekker handshake with the producer's slot choice (producer.cpp).
        __atomic_fetch_or(&a.self->pinnedMask, std::uint64_t{1} << index, __ATOMIC_SEQ_CST);
        after = loadSeqCst(slot.sequence);
      } else {
        fenceAcquire();
        after = loadRelaxed(slot.sequence);
      }
      if (after != before) {
        if (options.pin) unpin(a, index);
        a.countTorn();
        continue;
      }
      const std::uint64_t frameSize = a.checked.format.frameSize;
      const std::uint64_t payloadSize = meta.payloadSize == 0 ? frameSize : meta.payloadSize;
      if (payloadSize > frameSize) {
        if (options.pin) unpin(a, index);
        return fail(ErrorCode::Corrupt, "feed " + quoted(options.feed) + " has a frame larger than its format");
      }
      meta.payloadSize = payloadSize;
      return accept(index, before, number, publishNs, meta);
    }
    return fail(ErrorCode::NoFrame, "no new frame");
  }

  Frame accept(std::uint32_t index, std::uint64_t sequence, std::uint64_t number, std::int64_t publishNs,
               const FrameMeta& meta) {
    Attachment& a = *current;
    const std::uint64_t dropped = lastFrame != 0 && number > lastFrame + 1 ? number - lastFrame - 1 : 0;
    if (lastPublishNs != 0 && publishNs > lastPublishNs) {
      const std::int64_t interval = (publishNs - lastPublishNs) / static_cast<std::int64_t>(dropped + 1);
      intervalNs = intervalNs == 0 ? interval : (intervalNs * 7 + interval) / 8;
    }
    lastFrame = number;
    lastPublishNs = publishNs;
    ++framesRead;
    framesDropped += dropped;
    const std::int64_t now = monotonicNs();
    storeRelaxed(a.self->framesRead, framesRead);
    storeRelaxed(a.self->framesDropped, framesDropped);
    storeRelaxed(a.self->lastReadNs, now);
    rate.count(now);

    Frame frame;
    frame.attachment_ = current;
    frame.data_ = std::span<const std::byte>(a.payload + std::uint64_t{index} * a.checked.geometry.slotStride,
                                             meta.payloadSize);
    frame.format_ = &a.checked.format;
    frame.sequenceWord_ = &a.slots[index].sequence;
    frame.sequence_ = sequence;
    frame.meta_ = meta;
    frame.number_ = number;
    frame.publishNs_ = publishNs;
    frame.droppedBefore_ = dropped;
    frame.generation_ = a.checked.generation;
    frame.index_ = index;
    frame.pinned_ = options.pin;
    return frame;
  }

  // What a reader does when its segment stops being the feed.
  struct FeedChange {
    bool follow;  // a new generation took the name: attach to it at once
    Error error;  // otherwise: what to report
  };

  // After a poll found nothing: has the feed ended, been replaced, or lost its producer?
  std::optional<FeedChange> checkFeed(bool forceLiveness) {
    Attachment& a = *current;
    if (!a.usable()) return FeedChange{false, a.truncatedError()};
    switch (a.state()) {
      case FeedState::Ended:
        return FeedChange{false, {ErrorCode::FeedEnded, "feed " + quoted(options.feed) + " has ended"}};
      case FeedState::Superseded:
        return FeedChange{true, {}};
      default:
        break;
    }
    const std::int64_t now = monotonicNs();
    if (!forceLiveness && now - lastLivenessNs < kLivenessIntervalNs / 5) return std::nullopt;
    lastLivenessNs = now;
    auto alive = a.segment->isLockedByOther(layout::kProducerLockByte);
    if (alive && !*alive)
      return FeedChange{false, {ErrorCode::ProducerGone, "the producer of feed " + quoted(options.feed) +
                                                             " (pid " + std::to_string(a.checked.producerPid) +
                                                             ") died"}};
    return std::nullopt;
  }

  // True if the newest slot differs from what the last poll saw (cheap: no syscall).
  bool somethingNew() const noexcept {
    const Attachment& a = *current;
    if (!a.usable()) return true;  // let poll() report it
    const std::uint32_t latest = loadAcquire(a.header->latestSlot);
    if (latest == 0 || latest > a.checked.slotCount) return latest != 0;
    return loadRelaxed(a.slots[latest - 1].frameNumber) > lastFrame ||
           a.state() != FeedState::Live;
  }

  // Blocks on our semaphore until `untilNs` (CLOCK_MONOTONIC). True if woken.
  bool block(std::int64_t untilNs) noexcept {
    if (!current->usable()) return true;  // let poll() report it
    sem_t* wake = &current->self->wake;
    const timespec until = toTimespec(untilNs);
    for (;;) {
      if (sem_clockwait(wake, CLOCK_MONOTONIC, &until) == 0) {
        drainWakes(wake);
        return true;
      }
      if (errno != EINTR) return false;
    }
  }

  Result<Frame> next(std::chrono::microseconds timeout, bool blocking) {
    const std::int64_t deadlineNs = monotonicNs() + toNs(timeout);
    bool spun = false;
    for (;;) {
      if (!current) {
        if (auto ok = attach(deadlineNs, false, std::chrono::duration_cast<std::chrono::milliseconds>(timeout),
                             true);
            !ok)
          return std::unexpected(ok.error());
      }
      auto frame = poll();
      if (frame) return frame;
      if (frame.error().code != ErrorCode::NoFrame) {
        current.reset();  // corrupt: the next call looks at the feed afresh
        return frame;
      }

      std::int64_t now = monotonicNs();
      const bool timedOut = now >= deadlineNs;
      if (auto change = checkFeed(timedOut)) {
        // The poll above may have looked before the producer's last frames
        // were published; this one comes after seeing the end, so it sees
        // every frame published before it, and those are still delivered.
        if (auto last = poll()) return last;
        current.reset();
        if (change->follow) continue;
        return std::unexpected(std::move(change->error));
      }
      if (timedOut || !blocking) {
        if (!blocking) return fail(ErrorCode::NoFrame, "no new frame on feed " + quoted(options.feed));
        return fail(ErrorCode::Timeout, "no frame on feed " + quoted(options.feed) + " within the timeout");
      }

      const std::int64_t spinNs = toNs(options.spin);
      if (spinNs > 0 && !spun && intervalNs > 0) {
        // Sleep until just before the next frame is due, then spin through its arrival.
        spun = true;
        // A post left by a frame that arrived while we spun last time is
        // stale: it would end the sleep below at once and send us to a plain
        // blocking wait, skipping the spin. Drain it, then look again.
        if (current->usable()) drainWakes(&current->self->wake);
        if (somethingNew()) continue;
        const std::int64_t expected = lastPublishNs + intervalNs;
        if (now < expected - spinNs) {
          if (block(std::min(expected - spinNs, deadlineNs))) continue;
          now = monotonicNs();
        }
        const std::int64_t spinUntil = std::min(std::max(expected, now) + spinNs, deadlineNs);
        while (!somethingNew() && monotonicNs() < spinUntil) cpuRelax();
        continue;
      }
      block(std::min(deadlineNs, now + kLivenessIntervalNs));
    }
  }
};

}  // namespace detail

using detail::ConsumerState;

Frame::Frame(Frame&& other) noexcept
    : attachment_(std::move(other.attachment_)),
      data_(other.data_),
      format_(other.format_),
      sequenceWord_(other.sequenceWord_),
      sequence_(other.sequence_),
      meta_(other.meta_),
      number_(other.number_),
      publishNs_(other.publishNs_),
      droppedBefore_(other.droppedBefore_),
      generation_(other.generation_),
      index_(other.index_),
      pinned_(std::exchange(other.pinned_, false)),
      tornCounted_(other.tornCounted_) {}

Frame& Frame::operator=(Frame&& other) noexcept {
  if (this != &other) {
    if (attachment_ && pinned_) detail::unpin(*attachment_, index_);
    attachment_ = std::move(other.attachment_);
    data_ = other.data_;
    format_ = other.format_;
    sequenceWord_ = other.sequenceWord_;
    sequence_ = other.sequence_;
    meta_ = other.meta_;
    number_ = other.number_;
    publishNs_ = other.publishNs_;
    droppedBefore_ = other.droppedBefore_;
    generation_ = other.generation_;
    index_ = other.index_;
    pinned_ = std::exchange(other.pinned_, false);
    tornCounted_ = other.tornCounted_;
  }
  return *this;
}

Frame::~Frame() {
  if (attachment_ && pinned_) detail::unpin(*attachment_, index_);
}

const std::byte* Frame::plane(std::uint32_t plane) const noexcept {
  if (!format_ || plane >= format_->planeCount) return nullptr;
  return data_.data() + format_->planes[plane].offset;
}

bool Frame::intact() noexcept {
  if (!attachment_) return false;
  detail::fenceAcquire();
  if (attachment_->usable() && detail::loadRelaxed(*sequenceWord_) == sequence_) return true;
  if (!tornCounted_) {
    tornCounted_ = true;
    attachment_->countTorn();
  }
  return false;
}

Consumer::Consumer(std::unique_ptr<ConsumerState> state) noexcept : state_(std::move(state)) {}
Consumer::Consumer(Consumer&& other) noexcept = default;
Consumer& Consumer::operator=(Consumer&& other) noexcept = default;
Consumer::~Consumer() = default;

Result<Consumer> Consumer::open(ConsumerOptions options) {
  if (auto ok = validateFeedName(options.feed); !ok) return std::unexpected(ok.error());
  if (options.spin.count() < 0) return fail(ErrorCode::InvalidArgument, "spin time must not be negative");
  auto state = std::make_unique<ConsumerState>();
  state->options = std::move(options);
  const bool forever = state->options.openTimeout.count() < 0;
  const std::int64_t deadlineNs = monotonicNs() + (forever ? 0 : detail::toNs(state->options.openTimeout));
  if (auto ok = state->attach(deadlineNs, forever, state->options.openTimeout, false); !ok)
    return std::unexpected(ok.error());
  return Consumer(std::move(state));
}

Result<Frame> Consumer::waitFrame(std::chrono::microseconds timeout) { return state_->next(timeout, true); }

Result<Frame> Consumer::tryFrame() { return state_->next(std::chrono::microseconds(0), false); }

Result<FrameInfo> Consumer::readInto(std::span<std::byte> out, std::chrono::microseconds timeout) {
  const std::int64_t deadlineNs = monotonicNs() + detail::toNs(timeout);
  for (;;) {
    const auto left = std::chrono::nanoseconds(std::max<std::int64_t>(deadlineNs - monotonicNs(), 0));
    auto frame = state_->next(std::chrono::duration_cast<std::chrono::microseconds>(left), true);
    if (!frame) return std::unexpected(frame.error());
    if (out.size() < frame->data().size())
      return fail(ErrorCode::InvalidArgument, "buffer of " + std::to_string(out.size()) +
                                                  " bytes is smaller than the frame (" +
                                                  std::to_string(frame->data().size()) + ")");
    std::memcpy(out.data(), frame->data().data(), frame->data().size());
    if (!frame->intact()) {
      // Never delivered: it counts as missed, not read.
      --state_->framesRead;
      ++state_->framesDropped;
      continue;
    }
    return FrameInfo{frame->meta(), frame->number(), frame->publishNs(), frame->droppedBefore(),
                     frame->generation(), frame->data().size()};
  }
}

bool Consumer::attached() const noexcept { return state_->current != nullptr; }

const FrameFormat& Consumer::format() const noexcept {
  static const FrameFormat none{};
  return state_->current ? state_->current->checked.format : none;
}

const std::string& Consumer::caps() const noexcept {
  static const std::string none;
  return state_->current ? state_->current->checked.caps : none;
}

const std::string& Consumer::feed() const noexcept { return state_->options.feed; }

std::uint64_t Consumer::generation() const noexcept {
  return state_->current ? state_->current->checked.generation : 0;
}

std::uint32_t Consumer::producerPid() const noexcept {
  return state_->current ? state_->current->checked.producerPid : 0;
}

std::uint32_t Consumer::slotCount() const noexcept {
  return state_->current ? state_->current->checked.slotCount : 0;
}

ReaderStats Consumer::stats() const noexcept {
  return ReaderStats{state_->framesRead, state_->framesDropped,
                     __atomic_load_n(&state_->counters->torn, __ATOMIC_RELAXED), state_->generations};
}

double Consumer::frameRate() const noexcept { return state_->rate.hz(); }

}  // namespace frameshm
