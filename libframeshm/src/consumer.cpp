// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/consumer.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "atomics.hpp"
#include "frameshm/clock.hpp"
#include "handshake.hpp"
#include "layout.hpp"
#include "memory.hpp"
#include "planes.hpp"
#include "rate_meter.hpp"
#include "text.hpp"

namespace frameshm {
namespace detail {

namespace {

// How often a reader waiting for a feed to appear looks for it.
constexpr auto kAttachPollInterval = std::chrono::milliseconds(5);
constexpr int kReadAttempts = 8;
// How long the producer may take to answer the handshake.
constexpr std::int64_t kHandshakeTimeoutNs = 2'000'000'000;
// A blocked reader wakes at least this often even if nobody wakes it (the
// watcher thread and the producer wake it at once; this is only a backstop).
constexpr std::int64_t kMaxBlockNs = 1'000'000'000;

std::int64_t toNs(std::chrono::nanoseconds d) {
  return d.count();
}

std::string seconds(std::chrono::milliseconds ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

}  // namespace

struct Counters {
  std::uint64_t torn = 0;  // atomically updated: Frames may be checked from any thread
};

struct Attachment {
  Fd connection;  // to the producer: its hangup is the producer's death
  ReaderMemory memory;
  ControlMemory control;
  Backend backend = Backend::Memfd;
  layout::CheckedHeader checked;
  const layout::SegmentHeader* header = nullptr;
  const layout::SlotHeader* slots = nullptr;
  const std::byte* payload = nullptr;
  const std::byte* metadata = nullptr;  // the first slot's metadata area
  layout::ReaderControl* self = nullptr;
  std::shared_ptr<Counters> counters;
  std::string feed;
  std::atomic<bool> hungUp{false};
  Fd notify;           // read end of the producer's pipe (pollable consumers)
  int pollEvent = -1;  // the consumer's own eventfd, signalled by the watcher
  Fd stopWatcher;
  std::thread watcher;
  // POSIX only: set once the file was found shorter than its header says
  // (another process of the producer's user truncated it): from then on
  // nothing in it is touched, since pages past the end raise SIGBUS.
  mutable bool truncated = false;

  Attachment() = default;
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;
  ~Attachment() {
    if (watcher.joinable()) {
      const std::uint64_t one = 1;
      (void)!::write(stopWatcher.get(), &one, sizeof one);
      watcher.join();
    }
  }

  // Blocks in poll() on the connection; on hangup marks the producer gone and
  // wakes every reader blocked on the word (waking needs no write access).
  void watch() noexcept {
    const std::uint64_t one = 1;
    for (;;) {
      pollfd fds[3] = {
          {stopWatcher.get(), POLLIN, 0}, {connection.get(), POLLIN, 0}, {notify.get(), POLLIN, 0}};
      if (poll(fds, notify ? 3 : 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[0].revents) return;
      if (notify && fds[2].revents) {
        std::byte drained[4096];
        const ssize_t n = read(notify.get(), drained, sizeof drained);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;  // the producer is gone
        (void)!::write(pollEvent, &one, sizeof one);
        if (!fds[1].revents) continue;
      }
      if (fds[1].revents & POLLIN) {
        std::byte ignored[256];  // the producer has nothing to say after the handshake
        const ssize_t n = recv(connection.get(), ignored, sizeof ignored, MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) continue;
      }
      break;
    }
    hungUp.store(true, std::memory_order_seq_cst);
    futexWakeAll(&header->wakeWord);
    if (pollEvent >= 0) (void)!::write(pollEvent, &one, sizeof one);
  }

  // Whether the whole memory is still there. Only a POSIX file can shrink
  // (sealed memfds and SysV segments cannot), so only it is asked about.
  bool usable() const noexcept {
    if (!truncated && backend == Backend::Posix)
      truncated = shorterThan(memory.fd.get(), checked.geometry.segmentSize);
    return !truncated;
  }

  Error truncatedError() const {
    return {ErrorCode::Corrupt,
            "the frame memory of feed " + quoted(feed) +
                " was truncated while mapped (by another process of its producer's user)"};
  }

  FeedState state() const noexcept { return static_cast<FeedState>(loadAcquire(header->state)); }

  void countTorn() const noexcept {
    const std::uint64_t torn = __atomic_add_fetch(&counters->torn, 1, __ATOMIC_RELAXED);
    storeRelaxed(self->framesTorn, torn);
  }
};

void unpin(Attachment& attachment, std::uint32_t index) noexcept {
  __atomic_fetch_and(&attachment.self->pinnedMask, ~(std::uint64_t{1} << index), __ATOMIC_RELEASE);
}

// Why an attempt to attach did not succeed, and whether waiting may help.
struct AttachFailure {
  Error error;
  bool retry;
};

bool trusted(uid_t uid, const ConsumerOptions& options) {
  return uid == geteuid() || uid == 0 ||
         std::ranges::find(options.trustedUids, uid) != options.trustedUids.end();
}

std::expected<std::shared_ptr<Attachment>, AttachFailure> tryAttach(const ConsumerOptions& options,
                                                                    const std::shared_ptr<Counters>& counters,
                                                                    int pollEvent) {
  const bool notify = pollEvent >= 0;
  auto failWith = [](Error error, bool retry) {
    return std::unexpected(AttachFailure{std::move(error), retry});
  };
  const std::string& feed = options.feed;
  auto connection = connectToFeed(feed, options.socketDir);
  if (!connection) {
    struct stat st {};
    if (connection.error().code == ErrorCode::NotFound && stat(posixShmPath(feed).c_str(), &st) == 0)
      return failWith({ErrorCode::ProducerGone,
                       "feed " + quoted(feed) + " was left behind by its producer, which died (" +
                           posixShmPath(feed) + " is there, nobody serves the feed)"},
                      true);
    return failWith(connection.error(), connection.error().code == ErrorCode::NotFound);
  }
  auto cred = peerCredentials(connection->get());
  if (!cred) return failWith(cred.error(), false);
  if (!trusted(cred->uid, options))
    return failWith({ErrorCode::PermissionDenied,
                     "permission denied for feed " + quoted(feed) + ": it is served by uid " +
                         std::to_string(cred->uid) + " (pid " + std::to_string(cred->pid) +
                         "), a user this consumer does not trust (another user may have taken the name; "
                         "trust it with ConsumerOptions::trustedUids)"},
                    false);
  Hello hello;
  hello.request = static_cast<std::uint16_t>(Request::Read);
  hello.flags = (options.pin ? kHelloPin : 0) | (notify ? kHelloNotify : 0) |
                (options.delivery == Delivery::Sequential ? kHelloSequential : 0);
  hello.pid = static_cast<std::uint32_t>(getpid());
  if (auto sent = sendMessage(connection->get(), encode(hello), {}); !sent)
    return failWith({ErrorCode::NotFound, "the producer of feed " + quoted(feed) + " hung up"}, true);
  auto received =
      receiveWelcome(connection->get(), Request::Read, monotonicNs() + kHandshakeTimeoutNs, feed, notify);
  if (!received) {
    const bool gone = received.error().code == ErrorCode::ProducerGone;
    return failWith(gone ? Error{ErrorCode::NotFound, received.error().message} : received.error(), gone);
  }
  const Welcome& welcome = received->welcome;
  switch (welcome.status) {
    case Status::Denied:
      return failWith({ErrorCode::PermissionDenied,
                       "permission denied for feed " + quoted(feed) + ": its producer (uid " +
                           std::to_string(cred->uid) + ") does not let uid " + std::to_string(geteuid()) +
                           " read it (producer options: allowed uids or groups)"},
                      false);
    case Status::Full:
      return failWith(
          {ErrorCode::ReadersFull,
           "feed " + quoted(feed) + " already has all the readers its producer admits (it can allow more)"},
          true);
    case Status::BadRequest:
      return failWith({ErrorCode::Corrupt, "the producer of feed " + quoted(feed) + " did not understand us"},
                      false);
    case Status::Ok:
      break;
  }
  auto attachment = std::make_shared<Attachment>();
  attachment->backend = welcome.backend;
  // In order: the frame memory (not for SysV), the control memory, the pipe.
  auto& fds = received->fds;
  if (notify) {
    attachment->notify = std::move(fds.back());
    fds.pop_back();
  }
  attachment->pollEvent = pollEvent;
  Fd memoryFd = welcome.backend == Backend::SysV ? Fd() : std::move(fds.front());
  auto memory = mapFrameMemory(welcome.backend, std::move(memoryFd), welcome.shmid, cred->uid,
                               sizeof(layout::SegmentHeader), feed);
  if (!memory) return failWith(memory.error(), false);
  attachment->memory = std::move(*memory);

  // Copy the header out of shared memory, then validate the copy: the
  // producer is another process, and nothing it wrote is trusted unchecked.
  layout::SegmentHeader copy;
  const auto* shared = reinterpret_cast<const layout::SegmentHeader*>(attachment->memory.mapping.data());
  const std::uint64_t magic = loadAcquire(shared->magic);
  std::memcpy(&copy, shared, sizeof copy);
  copy.magic = magic;
  auto checked = layout::validate(copy, attachment->memory.size, feed);
  if (!checked) return failWith(checked.error(), false);
  if (copy.state != static_cast<std::uint32_t>(FeedState::Live))
    return failWith({ErrorCode::FeedEnded, "feed " + quoted(feed) + " has ended"}, true);
  auto control = mapControl(std::move(fds.back()), feed);
  if (!control) return failWith(control.error(), false);

  attachment->control = std::move(*control);
  attachment->connection = std::move(*connection);
  attachment->checked = std::move(*checked);
  attachment->feed = feed;
  const std::byte* base = attachment->memory.mapping.data();
  const layout::Geometry& g = attachment->checked.geometry;
  attachment->header = reinterpret_cast<const layout::SegmentHeader*>(base);
  attachment->slots = reinterpret_cast<const layout::SlotHeader*>(base + g.slotTableOffset);
  attachment->payload = base + g.payloadOffset;
  attachment->metadata = base + g.metadataOffset;
  attachment->counters = counters;
  attachment->self = reinterpret_cast<layout::ReaderControl*>(attachment->control.mapping.data());
  storeRelaxed(attachment->self->framesTorn, __atomic_load_n(&counters->torn, __ATOMIC_RELAXED));
  attachment->stopWatcher = Fd(eventfd(0, EFD_CLOEXEC));
  if (!attachment->stopWatcher)
    return failWith(Error{ErrorCode::SystemError, "cannot create an eventfd"}, false);
  attachment->watcher = std::thread([a = attachment.get()] { a->watch(); });
  return attachment;
}

struct ConsumerState {
  ConsumerOptions options;
  std::shared_ptr<Attachment> current;
  std::shared_ptr<Counters> counters = std::make_shared<Counters>();
  Fd pollEvent;  // ConsumerOptions::pollable
  std::uint64_t framesRead = 0;
  std::uint64_t framesDropped = 0;
  std::uint64_t generations = 0;
  std::uint64_t lastFrame = 0;  // of the current attachment
  bool firstTaken = false;      // the frame taken last was the attachment's first
  std::int64_t lastPublishNs = 0;
  std::int64_t intervalNs = 0;  // smoothed publish interval, for spinning
  RateMeter rate;

  // Waits until `deadlineNs` (CLOCK_MONOTONIC) for the feed to be attachable.
  // `reattaching`: the feed's end or death was reported already, so finding
  // only the old segment at the deadline is a Timeout, not a new report.
  Result<void> attach(std::int64_t deadlineNs, bool waitForever, std::chrono::milliseconds waited,
                      bool reattaching) {
    bool sawEnd = false;  // the feed was there, but ended or died while we attached
    for (;;) {
      auto attached = tryAttach(options, counters, pollEvent ? pollEvent.get() : -1);
      if (attached) {
        current = std::move(*attached);
        ++generations;
        lastFrame = 0;
        lastPublishNs = 0;
        intervalNs = 0;
        return {};
      }
      if (!attached.error().retry) return std::unexpected(attached.error().error);
      const ErrorCode code = attached.error().error.code;
      sawEnd = sawEnd || code == ErrorCode::FeedEnded || code == ErrorCode::ProducerGone;
      if (!waitForever && monotonicNs() >= deadlineNs) {
        Error error = std::move(attached.error().error);
        if (error.code == ErrorCode::NotFound && waited.count() > 0 && sawEnd)
          return fail(ErrorCode::Timeout, "feed " + quoted(options.feed) +
                                              " ended while this consumer attached, and no producer came "
                                              "back within " +
                                              seconds(waited));
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

  // Sequential delivery: the slot holding the oldest frame after the last one
  // delivered, and that frame's number; nullopt if no slot holds a newer one.
  // Only a hint: poll() reads the slot under its sequence and checks the number.
  struct Candidate {
    std::uint32_t index;
    std::uint64_t number;
  };
  std::optional<Candidate> oldestAfterLast(const Attachment& a) const noexcept {
    std::optional<Candidate> best;
    for (std::uint32_t i = 0; i < a.checked.slotCount; ++i) {
      if (loadAcquire(a.slots[i].sequence) & 1) continue;
      const std::uint64_t number = loadRelaxed(a.slots[i].frameNumber);
      if (number > lastFrame && (!best || number < best->number)) best = Candidate{i, number};
    }
    return best;
  }

  // One attempt to take the next frame (the newest, or with sequential
  // delivery the next in order): a Frame, NoFrame, or Corrupt.
  Result<Frame> poll() {
    Attachment& a = *current;
    if (!a.usable()) return std::unexpected(a.truncatedError());
    const std::uint32_t slotCount = a.checked.slotCount;  // validated copy, not the shared field
    for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
      const std::uint32_t latest = loadAcquire(a.header->latestSlot);
      if (latest == 0) break;
      if (latest > slotCount)
        return fail(ErrorCode::Corrupt, "feed " + quoted(options.feed) + " names slot " +
                                            std::to_string(latest) + " as newest, but has " +
                                            std::to_string(slotCount));
      std::uint32_t index = latest - 1;
      std::uint64_t wanted = 0;
      // A sequential reader starts at the newest frame, then goes in order.
      if (options.delivery == Delivery::Sequential && lastFrame != 0) {
        const auto candidate = oldestAfterLast(a);
        if (!candidate) break;
        index = candidate->index;
        wanted = candidate->number;
      }
      const layout::SlotHeader& slot = a.slots[index];
      const std::uint64_t before = loadAcquire(slot.sequence);
      if (before & 1) continue;  // being rewritten: the newest has moved on
      const std::uint64_t number = loadRelaxed(slot.frameNumber);
      if (wanted != 0 && number != wanted) continue;  // overwritten since: look again
      if (number <= lastFrame) break;
      FrameMeta meta;
      meta.captureNs = loadRelaxed(slot.captureNs);
      meta.pts = loadRelaxed(slot.pts);
      meta.duration = loadRelaxed(slot.duration);
      meta.flags = loadRelaxed(slot.flags);
      meta.payloadSize = loadRelaxed(slot.payloadSize);
      const std::int64_t publishNs = loadRelaxed(slot.publishNs);
      // The metadata is copied under the same sequence check as the header.
      const std::uint32_t metadataSize = loadRelaxed(slot.metadataSize);
      const std::uint32_t capacity = a.checked.geometry.metadataCapacity;
      std::vector<std::byte> metadata;
      if (metadataSize <= capacity && metadataSize > 0) {
        metadata.resize(metadataSize);
        std::memcpy(metadata.data(), a.metadata + std::uint64_t{index} * a.checked.geometry.metadataStride,
                    metadataSize);
      }
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
        // Impossible from an honest producer: not this frame, but the feed goes on.
        if (options.pin) unpin(a, index);
        a.countTorn();
        lastFrame = number;
        continue;
      }
      meta.payloadSize = payloadSize;
      Frame frame = accept(index, before, number, publishNs, meta);
      frame.metadata_ = std::move(metadata);
      frame.metadataClaimed_ = metadataSize;
      frame.metadataCapacity_ = capacity;
      return frame;
    }
    return fail(ErrorCode::NoFrame, "no new frame");
  }

  Frame accept(std::uint32_t index, std::uint64_t sequence, std::uint64_t number, std::int64_t publishNs,
               const FrameMeta& meta) {
    Attachment& a = *current;
    const std::uint64_t dropped = lastFrame != 0 && number > lastFrame + 1 ? number - lastFrame - 1 : 0;
    firstTaken = lastFrame == 0;
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
    frame.hold_ = FrameHold(current, index, options.pin);
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
    return frame;
  }

  // What a reader does when its segment stops being the feed.
  struct FeedChange {
    bool follow;  // a new generation took the name: attach to it at once
    Error error;  // otherwise: what to report
  };

  // After a poll found nothing: has the feed ended, been replaced, or lost its producer?
  std::optional<FeedChange> checkFeed() {
    Attachment& a = *current;
    if (!a.usable()) return FeedChange{false, a.truncatedError()};
    // The state first: a producer sets it before it hangs up.
    switch (a.state()) {
      case FeedState::Ended:
        return FeedChange{false, {ErrorCode::FeedEnded, "feed " + quoted(options.feed) + " has ended"}};
      case FeedState::Superseded:
        return FeedChange{true, {}};
      default:
        break;
    }
    if (a.hungUp.load(std::memory_order_seq_cst)) {
      if (a.state() != FeedState::Live) return checkFeed();
      return FeedChange{false,
                        {ErrorCode::ProducerGone, "the producer of feed " + quoted(options.feed) + " (pid " +
                                                      std::to_string(a.checked.producerPid) + ") died"}};
    }
    return std::nullopt;
  }

  // True if the newest slot differs from what the last poll saw (cheap: no syscall).
  bool somethingNew() const noexcept {
    const Attachment& a = *current;
    if (!a.usable()) return true;  // let poll() report it
    const std::uint32_t latest = loadAcquire(a.header->latestSlot);
    if (latest == 0 || latest > a.checked.slotCount) return latest != 0;
    return loadRelaxed(a.slots[latest - 1].frameNumber) > lastFrame || a.state() != FeedState::Live ||
           a.hungUp.load(std::memory_order_relaxed);
  }

  // Blocks on the feed's wake word until `untilNs` (CLOCK_MONOTONIC). True
  // if woken (or something is new already). Dekker with the producer's
  // wakeReaders(): we say we wait, then look; it publishes, then looks at us.
  bool block(std::int64_t untilNs) noexcept {
    Attachment& a = *current;
    if (!a.usable()) return true;  // let poll() report it
    storeSeqCst(a.self->waiting, 1u);
    const std::uint32_t seen = loadSeqCst(a.header->wakeWord);
    bool woken = true;
    if (!somethingNew()) woken = futexWait(&a.header->wakeWord, seen, untilNs);
    storeRelaxed(a.self->waiting, 0u);
    return woken;
  }

  Result<Frame> next(std::chrono::microseconds timeout, bool blocking) {
    const std::int64_t deadlineNs = monotonicNs() + toNs(timeout);
    if (pollEvent) {
      std::uint64_t count = 0;
      (void)!::read(pollEvent.get(), &count, sizeof count);  // unreadable until something new
    }
    bool spun = false;
    for (;;) {
      if (!current) {
        if (auto ok = attach(deadlineNs, false,
                             std::chrono::duration_cast<std::chrono::milliseconds>(timeout), true);
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
      if (auto change = checkFeed()) {
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
      block(std::min(deadlineNs, now + kMaxBlockNs));
    }
  }
};

}  // namespace detail

using detail::ConsumerState;

namespace detail {

FrameHold::FrameHold(std::shared_ptr<Attachment> attachment, std::uint32_t index, bool pinned) noexcept
    : attachment_(std::move(attachment)), index_(index), pinned_(pinned) {}

FrameHold::FrameHold(FrameHold&& other) noexcept
    : attachment_(std::move(other.attachment_)),
      index_(other.index_),
      pinned_(std::exchange(other.pinned_, false)) {}

FrameHold& FrameHold::operator=(FrameHold&& other) noexcept {
  if (this != &other) {
    release();
    attachment_ = std::move(other.attachment_);
    index_ = other.index_;
    pinned_ = std::exchange(other.pinned_, false);
  }
  return *this;
}

void FrameHold::release() noexcept {
  if (attachment_ && pinned_) unpin(*attachment_, index_);
  pinned_ = false;
  attachment_.reset();
}

}  // namespace detail

const std::byte* Frame::plane(std::uint32_t plane) const noexcept {
  return detail::planeStart(data_.data(), format_, plane);
}

bool Frame::intact() noexcept {
  detail::Attachment* attachment = hold_.get();
  if (!attachment) return false;
  detail::fenceAcquire();
  if (attachment->usable() && detail::loadRelaxed(*sequenceWord_) == sequence_) return true;
  if (!tornCounted_) {
    tornCounted_ = true;
    attachment->countTorn();
  }
  return false;
}

Consumer::Consumer(std::unique_ptr<ConsumerState> state) noexcept : state_(std::move(state)) {}
Consumer::Consumer(Consumer&& other) noexcept = default;
Consumer& Consumer::operator=(Consumer&& other) noexcept = default;
Consumer::~Consumer() = default;

Result<Metadata> Frame::metadata() const {
  // Most frames carry none: nothing to decode, nothing to allocate.
  if (metadata_.empty() && metadataClaimed_ <= metadataCapacity_) return Metadata{};
  // Built only for an error: a reader calls this for every frame.
  auto where = [this] {
    return "frame " + std::to_string(number_) +
           (hold_.get() ? " of feed " + detail::quoted(hold_.get()->feed) : std::string());
  };
  if (metadataClaimed_ > metadataCapacity_)
    return fail(ErrorCode::Corrupt, where() + " claims " + std::to_string(metadataClaimed_) +
                                        " bytes of metadata, but the feed carries at most " +
                                        std::to_string(metadataCapacity_) +
                                        " per frame (its producer is broken or hostile)");
  auto decoded = Metadata::decode(metadata_);
  if (!decoded) return fail(ErrorCode::Corrupt, where() + ": " + decoded.error().message);
  return decoded;
}

Result<Consumer> Consumer::open(ConsumerOptions options) {
  if (auto ok = validateFeedName(options.feed); !ok) return std::unexpected(ok.error());
  if (options.spin.count() < 0) return fail(ErrorCode::InvalidArgument, "spin time must not be negative");
  if (options.delivery != Delivery::Latest && options.delivery != Delivery::Sequential)
    return fail(ErrorCode::InvalidArgument, "unknown delivery policy");
  auto state = std::make_unique<ConsumerState>();
  state->options = std::move(options);
  if (state->options.pollable) {
    state->pollEvent = detail::Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!state->pollEvent) return failErrno("cannot create the consumer's pollable descriptor", errno);
  }
  const bool forever = state->options.openTimeout.count() < 0;
  const std::int64_t deadlineNs = monotonicNs() + (forever ? 0 : detail::toNs(state->options.openTimeout));
  if (auto ok = state->attach(deadlineNs, forever, state->options.openTimeout, false); !ok)
    return std::unexpected(ok.error());
  return Consumer(std::move(state));
}

Result<Frame> Consumer::waitFrame(std::chrono::microseconds timeout) {
  return state_->next(timeout, true);
}

Result<Frame> Consumer::tryFrame() {
  return state_->next(std::chrono::microseconds(0), false);
}

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
      // Never delivered: it counts as missed, not read; unless it was the
      // first frame since attaching, which follows no delivered frame, so
      // there is no gap yet (framesDropped counts gaps between delivered frames).
      --state_->framesRead;
      if (state_->firstTaken)
        state_->lastFrame = 0;
      else
        ++state_->framesDropped;
      continue;
    }
    // The pixels are fine, but a malformed metadata area is reported, not hidden.
    if (auto valid = frame->metadata(); !valid) return std::unexpected(valid.error());
    const auto metadata = frame->metadataBytes();
    return FrameInfo{frame->meta(),
                     frame->number(),
                     frame->publishNs(),
                     frame->droppedBefore(),
                     frame->generation(),
                     frame->data().size(),
                     {metadata.begin(), metadata.end()}};
  }
}

int Consumer::pollFd() const noexcept {
  return state_->pollEvent ? state_->pollEvent.get() : -1;
}

bool Consumer::attached() const noexcept {
  return state_->current != nullptr;
}

const FrameFormat& Consumer::format() const noexcept {
  static const FrameFormat none{};
  return state_->current ? state_->current->checked.format : none;
}

const std::string& Consumer::caps() const noexcept {
  static const std::string none;
  return state_->current ? state_->current->checked.caps : none;
}

const std::string& Consumer::feed() const noexcept {
  return state_->options.feed;
}

std::uint64_t Consumer::generation() const noexcept {
  return state_->current ? state_->current->checked.generation : 0;
}

std::uint32_t Consumer::producerPid() const noexcept {
  return state_->current ? state_->current->checked.producerPid : 0;
}

std::uint32_t Consumer::slotCount() const noexcept {
  return state_->current ? state_->current->checked.slotCount : 0;
}

std::uint32_t Consumer::metadataCapacity() const noexcept {
  return state_->current ? state_->current->checked.geometry.metadataCapacity : 0;
}

Delivery Consumer::delivery() const noexcept {
  return state_->options.delivery;
}

ReaderStats Consumer::stats() const noexcept {
  return ReaderStats{state_->framesRead, state_->framesDropped,
                     __atomic_load_n(&state_->counters->torn, __ATOMIC_RELAXED), state_->generations};
}

double Consumer::frameRate() const noexcept {
  return state_->rate.hz();
}

}  // namespace frameshm
