// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/producer.hpp — publishing frames into a named feed.
//
// A Producer creates the feed's frame memory (Backend: a sealed memfd by
// default) and serves the feed's socket (feed.hpp) from a thread of its own:
// it lets readers in (SO_PEERCRED: its own uid, root, or the allowed uids and
// groups), gives each the frame memory read-only and a control memory of its
// own, and takes a dead reader's pins back the moment its connection hangs
// up. Publishing never waits for a consumer: each frame goes into a slot that
// is neither the newest frame nor pinned by a reader, with the slot's
// sequence counter odd while it is written; then the slot becomes the newest
// frame and one futex word is bumped, woken only if some reader waits.
// Destroying the Producer ends the feed (readers see it ended) and removes
// its name.
//
// Two ways to write a frame: copy it in with `write`, or `acquire` a slot,
// fill it in place (zero copy for capture code and decoders) and `publish` it.
//
//   auto format = frameshm::makeFormat(frameshm::PixelFormat::Bgr, 640, 480, {30, 1});
//   auto producer = frameshm::Producer::create({.feed = "cam0", .format = *format});
//   if (!producer) return fail(producer.error());
//   auto slot = producer->acquire();
//   fill(slot->data());
//   (void)slot->setMetadata(cameraMetadata);  // optional: the user's entries
//   auto published = producer->publish(std::move(*slot), {.captureNs = capturedAt});
#pragma once

#include <sys/types.h>

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

struct ProducerOptions {
  std::string feed{};             // required: 1..200 of [A-Za-z0-9._-]
  FrameFormat format{};           // required: from makeFormat, or custom and valid
  std::uint32_t slots = 3;        // frame slots, 2..64; readers that pin need 2 + pinners
  std::uint32_t maxReaders = 16;  // readers admitted at once, 1..256
  // Permissions of the POSIX file, the SysV segment and a path socket; 0660
  // opens them to the group (descriptors passed over the socket need none).
  mode_t mode = 0600;
  bool replace = false;              // take over a feed a live producer of this user holds
  std::string caps{};                // GStreamer caps string, < 4 KiB; empty: none
  Backend backend = Backend::Memfd;  // where the frames live
  // Where the feed's socket goes (feed.hpp): empty means FRAMESHM_SOCKET_DIR,
  // else the abstract name @frameshm/<feed>.
  std::string socketDir{};
  // Who may read besides this user and root: uids, and groups (a reader's
  // primary or supplementary group). SysV: the first group also gets read
  // access to the segment.
  std::vector<uid_t> allowedUids{};
  std::vector<gid_t> allowedGids{};
  // Bytes of user metadata each frame can carry (metadata.hpp), 0..1 MiB;
  // 0: none. Costs slots x this much memory.
  std::uint32_t metadataBytes = 4096;
};

namespace detail {
struct ProducerState;
}  // namespace detail

// A slot the producer is filling in place. Move-only; publish it with
// Producer::publish, or let it go to abandon it (readers never see it, and its
// frame number goes to the next slot). Must not outlive its Producer.
class Producer;

class WriteSlot {
 public:
  WriteSlot() = default;
  WriteSlot(WriteSlot&& other) noexcept;
  WriteSlot& operator=(WriteSlot&& other) noexcept;
  WriteSlot(const WriteSlot&) = delete;
  WriteSlot& operator=(const WriteSlot&) = delete;
  ~WriteSlot();

  // The whole frame, writable.
  [[nodiscard]] std::span<std::byte> data() const noexcept { return data_; }
  // First byte of plane `plane` (see FrameFormat::planes for its stride).
  [[nodiscard]] std::byte* plane(std::uint32_t plane) const noexcept;
  // The frame number this slot will be published as.
  [[nodiscard]] std::uint64_t frameNumber() const noexcept { return frameNumber_; }
  [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
  [[nodiscard]] explicit operator bool() const noexcept { return owner_ != nullptr; }
  // Sets the frame's user metadata (replacing any set before on this slot).
  // Errors: InvalidArgument if it does not fit ProducerOptions::metadataBytes
  // (nothing is truncated: the slot keeps what it had), or for an empty slot.
  [[nodiscard]] Result<void> setMetadata(const Metadata& metadata);
  // Bytes of metadata set on this slot so far, and how many it can hold.
  [[nodiscard]] std::size_t metadataSize() const noexcept { return metadataSize_; }
  [[nodiscard]] std::size_t metadataCapacity() const noexcept { return metadata_.size(); }

 private:
  friend class Producer;
  friend struct detail::ProducerState;
  detail::ProducerState* owner_ = nullptr;
  std::span<std::byte> data_;
  const FrameFormat* format_ = nullptr;
  std::uint32_t index_ = 0;
  std::uint64_t frameNumber_ = 0;
  std::span<std::byte> metadata_;  // the slot's metadata area
  std::uint32_t metadataSize_ = 0;
};

struct ProducerStats {
  std::uint64_t framesPublished = 0;
  std::uint64_t pinnedOverwrites = 0;  // frames written over a pinned slot (too few slots)
  std::uint64_t readersReclaimed = 0;  // readers whose connection ended (their pins went with it)
};

class Producer {
 public:
  // Creates the feed. A segment left by a dead producer is reclaimed; a live
  // producer's feed is taken over only with `replace`.
  // Errors: InvalidFeedName, UnsupportedFormat, InvalidArgument,
  // AlreadyProduced ("feed 'cam0' is already produced by pid 4242"),
  // PermissionDenied, SystemError.
  [[nodiscard]] static Result<Producer> create(ProducerOptions options);

  Producer(Producer&& other) noexcept;
  Producer& operator=(Producer&& other) noexcept;
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;
  // Ends the feed (see end()).
  ~Producer();

  // A slot to fill in place. Only one may be outstanding.
  // Errors: InvalidState (feed ended, or a slot is already acquired), TakenOver.
  [[nodiscard]] Result<WriteSlot> acquire();
  // Makes the slot the newest frame and wakes every reader; returns its frame
  // number. The slot is used up even on error (an invalid one is abandoned).
  // Errors: InvalidArgument (slot of another producer, payload larger than the
  // frame), TakenOver (another producer replaced this one).
  [[nodiscard]] Result<std::uint64_t> publish(WriteSlot&& slot, const FrameMeta& meta = {});
  // Copies `frame` (at most frameSize bytes) into a slot and publishes it.
  // Returns the frame number. Errors: as acquire and publish.
  [[nodiscard]] Result<std::uint64_t> write(std::span<const std::byte> frame, const FrameMeta& meta = {});
  // As above, with the frame's user metadata. Errors: also as setMetadata
  // (then nothing is published).
  [[nodiscard]] Result<std::uint64_t> write(std::span<const std::byte> frame, const FrameMeta& meta,
                                            const Metadata& metadata);

  // Starts a new generation of the feed with another format or caps: the
  // current segment is marked superseded and a new one takes the name.
  // Readers that follow the feed move to it. Errors: as create.
  [[nodiscard]] Result<void> reconfigure(const FrameFormat& format, std::string caps = {});

  // Marks the feed ended, wakes the readers and removes the name. Idempotent.
  void end() noexcept;

  [[nodiscard]] const FrameFormat& format() const noexcept;
  [[nodiscard]] const std::string& feed() const noexcept;
  [[nodiscard]] std::uint64_t generation() const noexcept;
  [[nodiscard]] std::uint32_t slotCount() const noexcept;
  // Readers connected right now.
  [[nodiscard]] std::uint32_t readerCount() const noexcept;
  [[nodiscard]] ProducerStats stats() const noexcept;
  [[nodiscard]] Backend backend() const noexcept;
  // Bytes of user metadata each frame can carry.
  [[nodiscard]] std::uint32_t metadataCapacity() const noexcept;
  // Bytes the frame memory occupies.
  [[nodiscard]] std::uint64_t segmentSize() const noexcept;

  // Publish rate over the last second, frames per second.
  [[nodiscard]] double frameRate() const noexcept;

 private:
  explicit Producer(std::unique_ptr<detail::ProducerState> state) noexcept;
  std::unique_ptr<detail::ProducerState> state_;
};

}  // namespace frameshm
