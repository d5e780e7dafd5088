// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/layout.hpp — the shared-memory segment layout: the one source of truth.
//
// A feed's segment is, in this order, each part starting on a page boundary
// where noted:
//
//   SegmentHeader                      offset 0
//   SlotHeader[slotCount]              slotTableOffset (right after the header)
//   ReaderSlot[readerCapacity]         readerTableOffset (page aligned)
//   payload of slot 0 .. slotCount-1   payloadOffset + i * slotStride (page aligned)
//
// Consumers map the whole segment read-only and only the reader table
// read-write, so a consumer cannot scribble on frames other readers see.
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
//
//   const auto* header = reinterpret_cast<const frameshm::layout::SegmentHeader*>(base);
//   auto checked = frameshm::layout::validate(copyOf(*header), mappedBytes);
#pragma once

#include <semaphore.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "frameshm/error.hpp"
#include "frameshm/format.hpp"

namespace frameshm::layout {

inline constexpr std::uint64_t kMagic = 0x4d4853454d415246ULL;  // "FRAMESHM" in memory order
inline constexpr std::uint32_t kAbiVersion = 1;
inline constexpr std::uint32_t kMinSlots = 2;
inline constexpr std::uint32_t kMaxSlots = 64;
inline constexpr std::uint32_t kMaxReaders = 256;
inline constexpr std::uint32_t kCapsCapacity = 4096;  // bytes, NUL included
inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kMaxSegmentSize = 1ULL << 40;

// SegmentHeader::state
enum class FeedState : std::uint32_t {
  Creating = 0,    // being initialised: not ready to read
  Live = 1,        // a producer publishes into it
  Ended = 2,       // the producer ended the feed (EOS): no more frames
  Superseded = 3,  // a new segment replaced this one under the same name
};

// A reader slot is in use while its token is non-zero. A reader claims a slot
// by taking its lock byte first (the kernel makes that exclusive), then
// setting a fresh token; the producer reclaims the slot of a dead reader (lock
// free) by compare-and-swapping that token to zero, so a new reader that
// claimed the slot in between is never disturbed.

// Byte-range locks on the segment file mark who is alive; the kernel drops a
// lock when its holder dies, so liveness never relies on a heartbeat.
inline constexpr std::uint64_t kProducerLockByte = 0;
inline constexpr std::uint64_t readerLockByte(std::uint32_t reader) { return 1 + reader; }

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
  std::uint32_t readerCapacity;
  std::uint32_t slotHeaderSize;  // sizeof(SlotHeader)
  std::uint32_t readerSlotSize;  // sizeof(ReaderSlot)
  std::uint32_t capsLength;      // bytes in `caps`, NUL excluded
  std::uint64_t slotTableOffset;
  std::uint64_t readerTableOffset;
  std::uint64_t payloadOffset;
  std::uint64_t slotStride;  // bytes between the payloads of two slots
  FormatBlock format;
  std::uint8_t reserved0[80];

  // Live state, on its own cache line: changed by the producer while it runs.
  alignas(64) std::uint32_t state;  // FeedState
  std::uint32_t latestSlot;         // index + 1 of the newest frame, 0 = none yet
  std::uint64_t framesPublished;
  std::uint64_t rateMilliHz;  // publish rate over the last second, in mHz
  std::uint8_t reserved1[40];

  char caps[kCapsCapacity];  // GStreamer caps string, NUL-terminated
};

struct SlotHeader {
  std::uint64_t sequence;  // odd while the producer writes the slot
  std::uint64_t frameNumber;  // 1 for the feed's first frame
  std::int64_t captureNs;     // CLOCK_MONOTONIC when the frame was captured
  std::int64_t publishNs;     // CLOCK_MONOTONIC when it was published
  std::int64_t pts;           // producer's presentation time in ns, -1 = none
  std::int64_t duration;      // ns, -1 = none
  std::uint64_t payloadSize;  // bytes of the payload in use, <= frameSize
  std::uint32_t flags;        // FrameFlags
  std::uint32_t reserved;
};

struct ReaderSlot {
  std::uint32_t reserved3;   // zero
  std::uint32_t pid;         // the reader's pid, for humans and frameshm-ls
  std::uint64_t token;       // random, new for every claim
  std::uint64_t pinnedMask;  // bit i set: the reader holds slot i, the producer writes elsewhere
  std::uint64_t framesRead;  // statistics the reader keeps up to date
  std::uint64_t framesDropped;
  std::uint64_t framesTorn;
  std::int64_t lastReadNs;
  std::uint64_t reserved1;
  sem_t wake;  // process-shared, posted by the producer after every publish
  std::uint8_t reserved2[128 - 64 - sizeof(sem_t)];
};

// Geometry computed for a new segment.
struct Geometry {
  std::uint64_t slotTableOffset;
  std::uint64_t readerTableOffset;
  std::uint64_t readerTableSize;  // page-rounded
  std::uint64_t payloadOffset;
  std::uint64_t slotStride;
  std::uint64_t segmentSize;
};

// Where everything goes for `slots` slots of `frameSize` bytes and `readers` readers.
// Errors: InvalidArgument for counts out of range or a segment over kMaxSegmentSize.
[[nodiscard]] Result<Geometry> computeGeometry(std::uint32_t slots, std::uint32_t readers,
                                               std::uint64_t frameSize);

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

// Validates a private copy of a header against the segment's real size
// (fstat), so that every offset a reader will follow is inside the mapping.
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
static_assert(sizeof(sem_t) == 32, "the ReaderSlot layout assumes a 32-byte sem_t (glibc, LP64)");
static_assert(sizeof(ReaderSlot) == 128);
static_assert(offsetof(ReaderSlot, pinnedMask) == 16);
static_assert(offsetof(ReaderSlot, wake) == 64);
static_assert(sizeof(std::uint64_t) == 8 && __atomic_always_lock_free(8, 0));
static_assert(kMaxSlots <= 64, "pinnedMask has one bit per slot");

}  // namespace frameshm::layout
