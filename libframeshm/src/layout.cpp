// SPDX-License-Identifier: LGPL-2.1-or-later
#include "layout.hpp"

#include <cstring>
#include <string>

#include "text.hpp"

namespace frameshm::layout {
using detail::quoted;
namespace {

constexpr std::uint64_t roundUpPage(std::uint64_t v) {
  return (v + kPageSize - 1) & ~(kPageSize - 1);
}

}  // namespace

Result<Geometry> computeGeometry(std::uint32_t slots, std::uint32_t readers, std::uint64_t frameSize,
                                 std::uint32_t metadataBytes) {
  if (slots < kMinSlots || slots > kMaxSlots)
    return fail(ErrorCode::InvalidArgument, "slot count " + std::to_string(slots) + " is out of range (" +
                                                std::to_string(kMinSlots) + ".." + std::to_string(kMaxSlots) +
                                                ")");
  if (readers < 1 || readers > kMaxReaders)
    return fail(ErrorCode::InvalidArgument, "reader count " + std::to_string(readers) +
                                                " is out of range (1.." + std::to_string(kMaxReaders) + ")");
  if (frameSize == 0 || frameSize > kMaxSegmentSize / kMaxSlots)
    return fail(ErrorCode::InvalidArgument, "frame size " + std::to_string(frameSize) + " is out of range");
  if (metadataBytes > kMaxMetadataBytes)
    return fail(ErrorCode::InvalidArgument, "metadata size " + std::to_string(metadataBytes) +
                                                " bytes per frame is out of range (0.." +
                                                std::to_string(kMaxMetadataBytes) + ")");
  Geometry g{};
  g.slotTableOffset = sizeof(SegmentHeader);
  g.payloadOffset = roundUpPage(g.slotTableOffset + std::uint64_t{slots} * sizeof(SlotHeader));
  g.slotStride = roundUpPage(frameSize);
  // Metadata areas after the payloads, each on its own cache lines.
  g.metadataCapacity = metadataBytes;
  g.metadataOffset = g.payloadOffset + std::uint64_t{slots} * g.slotStride;
  g.metadataStride = (std::uint64_t{metadataBytes} + 63) & ~std::uint64_t{63};
  g.segmentSize = roundUpPage(g.metadataOffset + std::uint64_t{slots} * g.metadataStride);
  if (g.segmentSize > kMaxSegmentSize)
    return fail(ErrorCode::InvalidArgument, "a segment of " + std::to_string(g.segmentSize) +
                                                " bytes is larger than frameshm allows (" +
                                                std::to_string(kMaxSegmentSize) + ")");
  return g;
}

FormatBlock toBlock(const FrameFormat& format) noexcept {
  FormatBlock b{};
  b.pixelFormat = static_cast<std::uint32_t>(format.pixelFormat);
  b.width = format.width;
  b.height = format.height;
  b.planeCount = format.planeCount;
  for (std::uint32_t i = 0; i < kMaxPlanes; ++i) {
    b.stride[i] = format.planes[i].stride;
    b.planeOffset[i] = format.planes[i].offset;
  }
  b.frameSize = format.frameSize;
  b.rateNum = format.rate.num;
  b.rateDen = format.rate.den;
  return b;
}

Result<FrameFormat> fromBlock(const FormatBlock& b) {
  FrameFormat f;
  f.pixelFormat = static_cast<PixelFormat>(b.pixelFormat);
  f.width = b.width;
  f.height = b.height;
  f.planeCount = b.planeCount;
  for (std::uint32_t i = 0; i < kMaxPlanes; ++i) f.planes[i] = {b.stride[i], b.planeOffset[i]};
  f.frameSize = b.frameSize;
  f.rate = {b.rateNum, b.rateDen};
  if (auto ok = validateFormat(f); !ok) return std::unexpected(ok.error());
  return f;
}

Result<CheckedHeader> validate(const SegmentHeader& h, std::uint64_t realSize, std::string_view feed) {
  auto corrupt = [&](const std::string& why) {
    return fail(ErrorCode::Corrupt, "segment of feed " + quoted(feed) + " is corrupt: " + why +
                                        " (remove it with frameshm-ls --clean, or restart its producer)");
  };
  if (realSize < sizeof(SegmentHeader))
    return corrupt("it is " + std::to_string(realSize) + " bytes, smaller than its header");
  if (h.magic != kMagic) return corrupt("it does not start with the frameshm magic number");
  if (h.abiVersion != kAbiVersion)
    return fail(ErrorCode::AbiMismatch, "segment " + quoted(feed) + " has ABI version " +
                                            std::to_string(h.abiVersion) + ", this library reads " +
                                            std::to_string(kAbiVersion) +
                                            " (rebuild the producer and consumer against the same frameshm)");
  if (h.headerSize != sizeof(SegmentHeader) || h.slotHeaderSize != sizeof(SlotHeader) ||
      h.controlSize != sizeof(ReaderControl))
    return corrupt("its structure sizes do not match ABI version " + std::to_string(kAbiVersion));

  auto format = fromBlock(h.format);
  if (!format) return corrupt(format.error().message);
  auto geometry = computeGeometry(h.slotCount, h.readerCapacity, format->frameSize, h.metadataCapacity);
  if (!geometry) return corrupt(geometry.error().message);
  const Geometry& g = *geometry;
  if (h.slotTableOffset != g.slotTableOffset || h.payloadOffset != g.payloadOffset ||
      h.slotStride != g.slotStride || h.metadataOffset != g.metadataOffset ||
      h.metadataStride != g.metadataStride || h.segmentSize != g.segmentSize)
    return corrupt("its offsets do not match its slot count, reader count, frame size and metadata size");
  if (realSize < g.segmentSize)
    return corrupt("it is " + std::to_string(realSize) + " bytes, its header says " +
                   std::to_string(g.segmentSize) + " (truncated)");
  if (h.capsLength >= kCapsCapacity || h.caps[h.capsLength] != '\0' ||
      std::memchr(h.caps, '\0', h.capsLength) != nullptr)
    return corrupt("its caps string is not terminated");

  CheckedHeader checked{};
  checked.slotCount = h.slotCount;
  checked.readerCapacity = h.readerCapacity;
  checked.geometry = g;
  checked.format = *format;
  checked.generation = h.generation;
  checked.producerPid = h.producerPid;
  checked.caps.assign(h.caps, h.capsLength);
  return checked;
}

}  // namespace frameshm::layout
