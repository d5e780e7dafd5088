// SPDX-License-Identifier: LGPL-2.1-or-later
// Private: the frame memory layout, the one source of truth.
//
// A feed's frame memory (a sealed memfd, a POSIX shared-memory file or a
// System V segment, see memory.hpp) is, in this order:
//
//   SegmentHeader                      offset 0
//   SlotHeader[slotCount]              slotTableOffset (right after the header)
//   payload of slot 0 .. slotCount-1   payloadOffset + i * slotStride (page aligned)
//   metadata of slot 0 .. slotCount-1  metadataOffset + i * metadataStride (page aligned
//                                      start, metadataCapacity bytes each; absent if 0)
//
// A slot's user metadata (SlotHeader::metadataSize bytes of its metadata
// area) is written while the slot's sequence is odd, like its pixels, so a
// reader that confirms the sequence has the metadata of that very frame. It
// is a run of entries, back to back, each starting on a multiple of 8:
//
//   MetaEntryHeader (8 bytes: keyLength, type, reserved 0, valueLength)
//   key   (keyLength bytes, 1..255, no NUL)
//   value (valueLength bytes, by type: 0 bytes, any length; 1 UTF-8 string,
//          any length, no terminator; 2 int64, 8 bytes; 3 IEEE double, 8
//          bytes; 4 timestamp, 16 bytes: int64 ns then int64 duration ns
//          (-1: none), the key naming the clock as GStreamer reference caps,
//          e.g. "timestamp/x-ptp")
//   zero padding to the next multiple of 8
//
// Numbers are in host byte order (both sides share one machine). The reader
// copies the area out under the sequence check and validates every length
// before it follows it (metadata.cpp).
//
// Only the producer maps it writable; readers map it read-only. What a reader
// writes (pins, statistics, its waiting flag) is in its own ReaderControl, a
// small memfd only that reader and the producer share (handshake.hpp), so a
// reader can disturb nobody but itself.
//
// Everything here is plain data shared between processes of possibly
// different builds: fixed-width integers, no pointers, no padding the
// compiler chooses. Fields other processes change concurrently are accessed
// only through the atomic helpers in the library, never as plain loads.
//
// Bump kAbiVersion whenever a struct below changes size, a field moves or
// changes meaning, or the slot protocol changes; readers refuse any other
// version. Adding a field in reserved space without changing the meaning of
// zero does not need a bump. The sizes and offsets are pinned by the
// static_asserts at the end and by tests/layout_test.cpp.
// Version 2: no reader table and no sem_t in the frame memory; one futex
// word (wakeWord) for all readers; per-reader control memory.
// Version 3: per-slot user metadata (metadataCapacity, metadataOffset,
// metadataStride, SlotHeader::metadataSize); an abandoned slot's frameNumber
// is zeroed, so that readers taking frames in order never take its stale number.
//
//   const auto* header = reinterpret_cast<const frameshm::layout::SegmentHeader*>(base);
//   auto checked = frameshm::layout::validate(copyOf(*header), mappedBytes);
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "frameshm/error.hpp"
#include "frameshm/feed.hpp"
#include "frameshm/format.hpp"

namespace frameshm::layout {

inline constexpr std::uint64_t kMagic = 0x4d4853454d415246ULL;  // "FRAMESHM" in memory order
inline constexpr std::uint32_t kAbiVersion = 3;
inline constexpr std::uint32_t kMinSlots = 2;
inline constexpr std::uint32_t kMaxSlots = 64;
inline constexpr std::uint32_t kMaxReaders = 256;
inline constexpr std::uint32_t kCapsCapacity = 4096;  // bytes, NUL included
inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kMaxSegmentSize = 1ULL << 40;
inline constexpr std::uint32_t kMaxMetadataBytes = 1u << 20;  // per slot

// SegmentHeader::state holds a frameshm::FeedState (feed.hpp).
using frameshm::FeedState;

// Bytes of a reader's control memory (one page; ReaderControl at its start).
inline constexpr std::uint64_t kControlSize = 4096;

struct FormatBlock {
  std::uint32_t pixelFormat;  // PixelFormat value
  std::uint32_t width;
  std::uint32_t height;
  std::uint32_t planeCount;
  std::uint32_t stride[kMaxPlanes];
  std::uint64_t planeOffset[kMaxPlanes];
  std::uint64_t frameSize;
  std::uint32_t rateNum;
  std::uint32_t rateDen;
};

struct SegmentHeader {
  // Identity and geometry: written once by the producer before `magic`
  // (the last store, with release order), never changed afterwards.
  std::uint64_t magic;
  std::uint32_t abiVersion;
  std::uint32_t headerSize;  // sizeof(SegmentHeader)
  std::uint64_t segmentSize;
  std::uint64_t generation;  // random, new for every segment
  std::int64_t createdNs;    // CLOCK_REALTIME, for humans
  std::uint32_t producerPid;
  std::uint32_t slotCount;
  std::uint32_t readerCapacity;  // readers the producer admits at most
  std::uint32_t slotHeaderSize;  // sizeof(SlotHeader)
  std::uint32_t controlSize;     // sizeof(ReaderControl)
  std::uint32_t capsLength;      // bytes in `caps`, NUL excluded
  std::uint64_t slotTableOffset;
  std::uint32_t backend;  // frameshm::Backend the memory was made with, for humans
  std::uint32_t reserved2;
  std::uint64_t payloadOffset;
  std::uint64_t slotStride;  // bytes between the payloads of two slots
  FormatBlock format;
  std::uint32_t metadataCapacity;  // bytes of user metadata per slot, 0..kMaxMetadataBytes
  std::uint32_t reserved3;
  std::uint64_t metadataOffset;  // first slot's metadata area
  std::uint64_t metadataStride;  // bytes between two slots' metadata areas
  std::uint8_t reserved0[56];

  // Live state, on its own cache line: changed by the producer while it runs.
  alignas(64) std::uint32_t state;  // FeedState
  std::uint32_t latestSlot;         // index + 1 of the newest frame, 0 = none yet
  std::uint64_t framesPublished;
  std::uint64_t rateMilliHz;  // publish rate over the last second, in mHz
  // The futex every blocked reader waits on: bumped after every publish and
  // state change, FUTEX_WAKE'd only when some reader said it waits.
  std::uint32_t wakeWord;
  std::uint8_t reserved1[36];

  char caps[kCapsCapacity];  // GStreamer caps string, NUL-terminated
};

struct SlotHeader {
  std::uint64_t sequence;      // odd while the producer writes the slot
  std::uint64_t frameNumber;   // 1 for the feed's first frame
  std::int64_t captureNs;      // CLOCK_MONOTONIC when the frame was captured
  std::int64_t publishNs;      // CLOCK_MONOTONIC when it was published
  std::int64_t pts;            // producer's presentation time in ns, -1 = none
  std::int64_t duration;       // ns, -1 = none
  std::uint64_t payloadSize;   // bytes of the payload in use, <= frameSize
  std::uint32_t flags;         // FrameFlags
  std::uint32_t metadataSize;  // bytes of the slot's metadata area in use, <= metadataCapacity
};

// The start of one metadata entry (see the top of this file).
struct MetaEntryHeader {
  std::uint16_t keyLength;
  std::uint8_t type;  // frameshm::MetaType
  std::uint8_t reserved;
  std::uint32_t valueLength;
};

// At the start of a reader's control memory: written by the reader, read by
// the producer, who treats every value as untrusted (masks pins to its slot
// count, clamps counters, never waits for any of it).
struct ReaderControl {
  std::uint64_t pinnedMask;  // bit i set: the reader holds slot i, the producer writes elsewhere
  std::uint32_t waiting;     // non-zero: the reader is (about to be) blocked on wakeWord
  std::uint32_t reserved0;
  std::uint64_t framesRead;  // statistics the reader keeps up to date
  std::uint64_t framesDropped;
  std::uint64_t framesTorn;
  std::int64_t lastReadNs;
  std::uint64_t reserved1[2];
};

// Geometry computed for a new segment.
struct Geometry {
  std::uint64_t slotTableOffset;
  std::uint64_t payloadOffset;
  std::uint64_t slotStride;
  std::uint64_t metadataOffset;
  std::uint64_t metadataStride;
  std::uint32_t metadataCapacity;
  std::uint64_t segmentSize;
  bool operator==(const Geometry&) const = default;
};

// Where everything goes for `slots` slots of `frameSize` bytes and
// `metadataBytes` of user metadata each, admitting `readers` readers.
// Errors: InvalidArgument for counts out of range or a segment over kMaxSegmentSize.
[[nodiscard]] Result<Geometry> computeGeometry(std::uint32_t slots, std::uint32_t readers,
                                               std::uint64_t frameSize, std::uint32_t metadataBytes = 0);

// The validated facts a reader takes from a header. Nothing else of the
// header is trusted.
struct CheckedHeader {
  std::uint32_t slotCount;
  std::uint32_t readerCapacity;
  Geometry geometry;
  FrameFormat format;
  std::uint64_t generation;
  std::uint32_t producerPid;
  std::string caps;
};

// Validates a private copy of a header against the memory's real size
// (fstat or IPC_STAT), so that every offset a reader will follow is inside
// the mapping.
// `feed` is only used in messages.
// Errors: AbiMismatch, Corrupt, UnsupportedFormat, each naming the bad field.
[[nodiscard]] Result<CheckedHeader> validate(const SegmentHeader& copy, std::uint64_t realSize,
                                             std::string_view feed);

// Header fields from a format, and back.
[[nodiscard]] FormatBlock toBlock(const FrameFormat& format) noexcept;
[[nodiscard]] Result<FrameFormat> fromBlock(const FormatBlock& block);

// Pinned sizes and offsets; tests/layout_test.cpp checks the same numbers.
static_assert(std::is_trivially_copyable_v<SegmentHeader>);
static_assert(std::is_standard_layout_v<SegmentHeader>);
static_assert(sizeof(FormatBlock) == 80);
static_assert(sizeof(SegmentHeader) == 4416);
static_assert(offsetof(SegmentHeader, format) == 96);
static_assert(offsetof(SegmentHeader, state) == 256);
static_assert(offsetof(SegmentHeader, latestSlot) == 260);
static_assert(offsetof(SegmentHeader, caps) == 320);
static_assert(alignof(SegmentHeader) == 64);
static_assert(sizeof(SlotHeader) == 64);
static_assert(offsetof(SlotHeader, payloadSize) == 48);
static_assert(offsetof(SlotHeader, metadataSize) == 60);
static_assert(offsetof(SegmentHeader, metadataCapacity) == 176);
static_assert(offsetof(SegmentHeader, metadataOffset) == 184);
static_assert(offsetof(SegmentHeader, metadataStride) == 192);
static_assert(sizeof(MetaEntryHeader) == 8);
static_assert(offsetof(MetaEntryHeader, valueLength) == 4);
static_assert(offsetof(SegmentHeader, wakeWord) == 280);
static_assert(offsetof(SegmentHeader, backend) == 72);
static_assert(sizeof(ReaderControl) == 64);
static_assert(offsetof(ReaderControl, waiting) == 8);
static_assert(offsetof(ReaderControl, framesRead) == 16);
static_assert(sizeof(ReaderControl) <= kControlSize);
static_assert(sizeof(std::uint64_t) == 8 && __atomic_always_lock_free(8, 0));
static_assert(kMaxSlots <= 64, "pinnedMask has one bit per slot");

}  // namespace frameshm::layout
