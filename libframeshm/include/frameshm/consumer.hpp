// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/consumer.hpp — reading frames from a named feed, in place.
//
// A Consumer connects to the feed's socket (feed.hpp: the discovery order),
// checks that the producer is of a user it trusts (its own, root, or
// trustedUids), and gets the frame memory, which it maps read-only, and a
// control memory of its own for its pins and statistics. It blocks on one
// futex word every reader shares; a thread of the consumer watches the
// connection, so a producer's death wakes it at once. A Frame is a read-only
// view straight into the frame memory: no copy. The
// producer may overwrite an unpinned slot while you read it, so a view that
// was read in place must be confirmed with `Frame::intact()` afterwards (or
// use `readInto`, which copies and confirms for you). With `pin`, the slot is
// kept from the producer while the Frame lives, provided the feed has at
// least 2 + (readers that pin) slots.
//
// Delivery::Latest (the default) hands out the newest frame and skips older
// ones. Delivery::Sequential (a recorder) hands out every frame in order
// while the reader stays within the ring, and when it falls further behind
// than the slots hold, skips to the oldest frame left, counting the lost ones
// in stats().framesDropped and Frame::droppedBefore(). The producer never
// waits for either. A sequential reader may lag `slots - 2 - pins` frames
// without a loss, pins being the slots other readers hold pinned (one slot is
// being written, one is the reader's own): it says so when it attaches, and
// while one is attached the producer writes over the oldest frame first.
// Without one, the producer keeps to three slots (they stay in the cache),
// and a latest reader has two frame intervals to read the newest frame.
//
// A consumer follows its feed: when the producer ends, dies or is replaced,
// waitFrame reports it once (FeedEnded, ProducerGone) and later calls wait
// for the feed to come back, maybe with another format (check generation()).
//
//   auto consumer = frameshm::Consumer::open({.feed = "cam0"});
//   while (auto frame = consumer->waitFrame(std::chrono::milliseconds(500))) {
//     process(frame->data(), consumer->format());
//     if (!frame->intact()) discardResult();
//   }
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "frameshm/error.hpp"
#include "frameshm/feed.hpp"
#include "frameshm/format.hpp"
#include "frameshm/frame_meta.hpp"
#include "frameshm/metadata.hpp"

namespace frameshm {

// Which frame a reader gets next.
enum class Delivery {
  Latest,      // the newest frame; older ones are skipped
  Sequential,  // the next frame in order while the ring still holds it
};

struct ConsumerOptions {
  std::string feed{};  // required
  // How long open() waits for a feed that does not exist yet; negative: forever.
  std::chrono::milliseconds openTimeout{0};
  // Spin this long around a frame's expected arrival before blocking (0: block
  // at once). A reader that keeps up then gets its frame without a wake-up.
  std::chrono::microseconds spin{0};
  // Pin the slot of each Frame while it lives, so the producer writes elsewhere.
  bool pin = false;
  // Where to look for the feed's socket (feed.hpp): empty means
  // FRAMESHM_SOCKET_DIR, else the abstract name @frameshm/<feed>.
  std::string socketDir{};
  // Producers of these uids are trusted too (always: this user and root). A
  // feed served by anyone else is refused: an abstract name can be bound by
  // any user, so this is what stops a squatter.
  std::vector<uid_t> trustedUids{};
  // Give this consumer a pollable descriptor (pollFd()); costs the producer
  // one write() per frame for this reader only.
  bool pollable = false;
  Delivery delivery = Delivery::Latest;
};

struct ReaderStats {
  std::uint64_t framesRead = 0;     // frames delivered (by waitFrame, tryFrame or readInto)
  std::uint64_t framesDropped = 0;  // frames never delivered: the gaps in delivered frame numbers
  std::uint64_t framesTorn = 0;     // reads found overwritten (intact() false, or retried inside)
  std::uint64_t generations = 0;    // segments attached to (1 + restarts followed)
};

namespace detail {
struct Attachment;
struct ConsumerState;

// Keeps a Frame's memory mapped and its slot pinned; unpins when destroyed or
// assigned over, so that Frame's own moves are the defaulted ones. Move-only.
class FrameHold {
 public:
  FrameHold() = default;
  FrameHold(std::shared_ptr<Attachment> attachment, std::uint32_t index, bool pinned) noexcept;
  FrameHold(FrameHold&& other) noexcept;
  FrameHold& operator=(FrameHold&& other) noexcept;
  FrameHold(const FrameHold&) = delete;
  FrameHold& operator=(const FrameHold&) = delete;
  ~FrameHold() { release(); }
  [[nodiscard]] Attachment* get() const noexcept { return attachment_.get(); }

 private:
  void release() noexcept;
  std::shared_ptr<Attachment> attachment_;
  std::uint32_t index_ = 0;
  bool pinned_ = false;
};
}  // namespace detail

// A read-only view of one frame in the segment. Move-only; releases its pin
// when destroyed. It keeps its segment mapped, so it stays readable even after
// the Consumer moved on to a new generation of the feed.
class Frame {
 public:
  Frame() = default;
  Frame(Frame&& other) noexcept = default;
  Frame& operator=(Frame&& other) noexcept = default;
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;
  ~Frame() = default;

  // The frame's bytes (payloadSize of them), read-only.
  [[nodiscard]] std::span<const std::byte> data() const noexcept { return data_; }
  // First byte of plane `plane`; its stride is format().planes[plane].stride.
  [[nodiscard]] const std::byte* plane(std::uint32_t plane) const noexcept;
  [[nodiscard]] const FrameFormat& format() const noexcept { return *format_; }
  [[nodiscard]] const FrameMeta& meta() const noexcept { return meta_; }
  [[nodiscard]] std::uint64_t number() const noexcept { return number_; }
  [[nodiscard]] std::int64_t publishNs() const noexcept { return publishNs_; }
  // Frames of the feed this consumer missed just before this one.
  [[nodiscard]] std::uint64_t droppedBefore() const noexcept { return droppedBefore_; }
  // The generation (segment) the frame came from.
  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }
  // The frame's user metadata, copied out with the frame's header and
  // validated here. Errors: Corrupt (a size or an entry that an honest
  // producer cannot have written), naming the frame and the fault.
  [[nodiscard]] Result<Metadata> metadata() const;
  // The encoded metadata as copied out of the slot (see metadata()).
  [[nodiscard]] std::span<const std::byte> metadataBytes() const noexcept { return metadata_; }
  // True if the producer has not touched the slot since the frame was taken,
  // so everything read from data() so far is this frame. A false answer is
  // counted as a torn read in the consumer's stats (once per Frame).
  [[nodiscard]] bool intact() noexcept;
  [[nodiscard]] explicit operator bool() const noexcept { return hold_.get() != nullptr; }

 private:
  friend struct detail::ConsumerState;
  detail::FrameHold hold_;
  std::span<const std::byte> data_;
  const FrameFormat* format_ = nullptr;
  const std::uint64_t* sequenceWord_ = nullptr;
  std::uint64_t sequence_ = 0;
  FrameMeta meta_{};
  std::uint64_t number_ = 0;
  std::int64_t publishNs_ = 0;
  std::uint64_t droppedBefore_ = 0;
  std::uint64_t generation_ = 0;
  bool tornCounted_ = false;
  std::vector<std::byte> metadata_;
  std::uint64_t metadataClaimed_ = 0;  // what the slot said, when over its capacity
  std::uint32_t metadataCapacity_ = 0;
};

// What readInto returns: the frame's facts, its bytes being in the caller's buffer.
struct FrameInfo {
  FrameMeta meta;
  std::uint64_t number = 0;
  std::int64_t publishNs = 0;
  std::uint64_t droppedBefore = 0;
  std::uint64_t generation = 0;
  std::uint64_t bytes = 0;
  // The frame's user metadata, encoded; Metadata::decode validates it.
  std::vector<std::byte> metadata;
};

class Consumer {
 public:
  // Opens the feed, waiting up to openTimeout for it to appear, and is let in
  // as a reader. Errors: InvalidFeedName, NotFound ("feed 'cam0' does not
  // exist"), ProducerGone (only a dead producer's POSIX file is left),
  // Timeout, PermissionDenied ("permission denied for feed 'cam0'": the
  // producer does not let this user in, or its uid is not trusted),
  // AbiMismatch, Corrupt, UnsupportedFormat, ReadersFull, SystemError.
  [[nodiscard]] static Result<Consumer> open(ConsumerOptions options);

  Consumer(Consumer&& other) noexcept;
  Consumer& operator=(Consumer&& other) noexcept;
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;
  // Hangs up (the producer forgets this reader and its pins) and unmaps.
  ~Consumer();

  // The next frame newer than the last one returned, waiting up to `timeout`.
  // A feed superseded by a new producer is followed within the call.
  // Errors: Timeout; FeedEnded or ProducerGone, once, when the attached feed
  // ends or its producer dies (the consumer detaches; later calls wait for a
  // new producer and fail with Timeout until one comes); Corrupt (also
  // detaches); the errors of open() while re-attaching.
  [[nodiscard]] Result<Frame> waitFrame(std::chrono::microseconds timeout);
  // The newest frame if there is one newer than the last returned, at once.
  // Errors: NoFrame, and as waitFrame.
  [[nodiscard]] Result<Frame> tryFrame();
  // Waits like waitFrame, copies the frame into `out` (at least frameSize
  // bytes) and confirms it intact; a torn copy is retried, never returned.
  // Errors: InvalidArgument (buffer too small), Corrupt (the frame's metadata
  // is malformed: Frame::metadata(); the next call goes on), and as waitFrame.
  [[nodiscard]] Result<FrameInfo> readInto(std::span<std::byte> out, std::chrono::microseconds timeout);

  // With ConsumerOptions::pollable, a descriptor for poll/epoll/GLib/Qt/asyncio
  // loops, the same for the consumer's whole life (-1 otherwise). It becomes
  // readable when the attached producer publishes a frame or the feed
  // changes state (ended, replaced, producer died); waitFrame and tryFrame
  // make it unreadable again, so call tryFrame until NoFrame after each
  // wake-up. A wake-up may find nothing new. While no producer is attached
  // (after FeedEnded or ProducerGone) nothing makes it readable: poll with a
  // timeout and call tryFrame, which re-attaches. Never read or close it.
  [[nodiscard]] int pollFd() const noexcept;

  // Whether the consumer is attached to a live segment right now.
  [[nodiscard]] bool attached() const noexcept;
  // The feed's format and caps (of the current generation).
  [[nodiscard]] const FrameFormat& format() const noexcept;
  [[nodiscard]] const std::string& caps() const noexcept;
  [[nodiscard]] const std::string& feed() const noexcept;
  [[nodiscard]] std::uint64_t generation() const noexcept;
  [[nodiscard]] std::uint32_t producerPid() const noexcept;
  [[nodiscard]] std::uint32_t slotCount() const noexcept;
  // Bytes of user metadata a frame of this feed can carry.
  [[nodiscard]] std::uint32_t metadataCapacity() const noexcept;
  [[nodiscard]] Delivery delivery() const noexcept;
  [[nodiscard]] ReaderStats stats() const noexcept;

  // Frames per second measured over the last second of frames.
  [[nodiscard]] double frameRate() const noexcept;

 private:
  explicit Consumer(std::unique_ptr<detail::ConsumerState> state) noexcept;
  std::unique_ptr<detail::ConsumerState> state_;
};

}  // namespace frameshm
