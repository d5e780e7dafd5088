// SPDX-License-Identifier: LGPL-2.1-or-later
// The segment layout is an ABI between processes of different builds: these
// numbers are pinned here as well as by static_asserts in layout.hpp, so that
// a change to them is a deliberate, reviewed ABI bump.
#include "layout.hpp"

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>

#include "frameshm/format.hpp"

using namespace frameshm;
using namespace frameshm::layout;

namespace {

// A header as a producer of this build writes it, for validate() to judge.
struct ValidSegment {
  FrameFormat format = *makeFormat(PixelFormat::I420, 640, 480, {30, 1});
  Geometry geometry = *computeGeometry(3, 16, format.frameSize, 4096);
  SegmentHeader header{};

  ValidSegment() {
    header.magic = kMagic;
    header.abiVersion = kAbiVersion;
    header.headerSize = sizeof(SegmentHeader);
    header.segmentSize = geometry.segmentSize;
    header.generation = 42;
    header.producerPid = 1234;
    header.slotCount = 3;
    header.readerCapacity = 16;
    header.slotHeaderSize = sizeof(SlotHeader);
    header.controlSize = sizeof(ReaderControl);
    header.slotTableOffset = geometry.slotTableOffset;
    header.payloadOffset = geometry.payloadOffset;
    header.slotStride = geometry.slotStride;
    header.metadataCapacity = geometry.metadataCapacity;
    header.metadataOffset = geometry.metadataOffset;
    header.metadataStride = geometry.metadataStride;
    header.format = toBlock(format);
    header.state = static_cast<std::uint32_t>(FeedState::Live);
    std::strcpy(header.caps, "video/x-raw");
    header.capsLength = 11;
  }
};

}  // namespace

TEST_CASE("layout sizes and offsets are pinned at ABI version 3") {
  CHECK(kAbiVersion == 3);
  CHECK(kMagic == 0x4d4853454d415246ULL);
  CHECK(sizeof(SegmentHeader) == 4416);
  CHECK(alignof(SegmentHeader) == 64);
  CHECK(offsetof(SegmentHeader, magic) == 0);
  CHECK(offsetof(SegmentHeader, abiVersion) == 8);
  CHECK(offsetof(SegmentHeader, segmentSize) == 16);
  CHECK(offsetof(SegmentHeader, generation) == 24);
  CHECK(offsetof(SegmentHeader, producerPid) == 40);
  CHECK(offsetof(SegmentHeader, slotCount) == 44);
  CHECK(offsetof(SegmentHeader, readerCapacity) == 48);
  CHECK(offsetof(SegmentHeader, slotTableOffset) == 64);
  CHECK(offsetof(SegmentHeader, backend) == 72);
  CHECK(offsetof(SegmentHeader, payloadOffset) == 80);
  CHECK(offsetof(SegmentHeader, format) == 96);
  CHECK(offsetof(SegmentHeader, metadataCapacity) == 176);
  CHECK(offsetof(SegmentHeader, metadataOffset) == 184);
  CHECK(offsetof(SegmentHeader, metadataStride) == 192);
  CHECK(offsetof(SegmentHeader, state) == 256);
  CHECK(offsetof(SegmentHeader, latestSlot) == 260);
  CHECK(offsetof(SegmentHeader, framesPublished) == 264);
  CHECK(offsetof(SegmentHeader, wakeWord) == 280);
  CHECK(offsetof(SegmentHeader, caps) == 320);
  CHECK(sizeof(FormatBlock) == 80);
  CHECK(offsetof(FormatBlock, planeOffset) == 32);
  CHECK(offsetof(FormatBlock, frameSize) == 64);
  CHECK(sizeof(SlotHeader) == 64);
  CHECK(offsetof(SlotHeader, sequence) == 0);
  CHECK(offsetof(SlotHeader, frameNumber) == 8);
  CHECK(offsetof(SlotHeader, captureNs) == 16);
  CHECK(offsetof(SlotHeader, publishNs) == 24);
  CHECK(offsetof(SlotHeader, payloadSize) == 48);
  CHECK(offsetof(SlotHeader, flags) == 56);
  CHECK(offsetof(SlotHeader, metadataSize) == 60);
  CHECK(sizeof(MetaEntryHeader) == 8);
  CHECK(offsetof(MetaEntryHeader, keyLength) == 0);
  CHECK(offsetof(MetaEntryHeader, type) == 2);
  CHECK(offsetof(MetaEntryHeader, reserved) == 3);
  CHECK(offsetof(MetaEntryHeader, valueLength) == 4);
  CHECK(kMaxMetadataBytes == 1u << 20);
  CHECK(sizeof(ReaderControl) == 64);
  CHECK(offsetof(ReaderControl, pinnedMask) == 0);
  CHECK(offsetof(ReaderControl, waiting) == 8);
  CHECK(offsetof(ReaderControl, framesRead) == 16);
  CHECK(offsetof(ReaderControl, lastReadNs) == 40);
  CHECK(kControlSize == 4096);
  CHECK(kCapsCapacity == 4096);
  CHECK(kMaxSlots == 64);
}

TEST_CASE("geometry puts every payload on its own pages, and no reader state in the frame memory") {
  auto g = computeGeometry(3, 16, 1920 * 1080 * 3);
  REQUIRE(g);
  CHECK(g->slotTableOffset == sizeof(SegmentHeader));
  CHECK(g->payloadOffset % kPageSize == 0);
  CHECK(g->payloadOffset == 8192);  // header + 3 slot headers, rounded up
  CHECK(*computeGeometry(3, 256, 4096) == *computeGeometry(3, 1, 4096));  // readers cost no frame memory
  CHECK(g->slotStride == 6221824);                                        // 6220800 rounded up to a page
  CHECK(g->metadataOffset == g->payloadOffset + 3 * g->slotStride);
  CHECK(g->metadataStride == 0);
  CHECK(g->segmentSize == g->payloadOffset + 3 * g->slotStride);  // no metadata, no bytes for it
}

TEST_CASE("geometry puts the metadata areas after the payloads, each on its own cache lines") {
  auto g = computeGeometry(3, 16, 1920 * 1080 * 3, 4000);
  REQUIRE(g);
  CHECK(g->metadataCapacity == 4000);
  CHECK(g->metadataOffset == g->payloadOffset + 3 * g->slotStride);
  CHECK(g->metadataOffset % kPageSize == 0);
  CHECK(g->metadataStride == 4032);                            // 4000 rounded up to 64
  CHECK(g->segmentSize == g->metadataOffset + 3 * kPageSize);  // 3 x 4032 rounded up to pages
  CHECK(computeGeometry(3, 16, 4096, kMaxMetadataBytes));
  auto over = computeGeometry(3, 16, 4096, kMaxMetadataBytes + 1);
  REQUIRE_FALSE(over);
  CHECK(over.error().code == ErrorCode::InvalidArgument);
  CHECK(over.error().message.find("metadata size") != std::string::npos);
}

TEST_CASE("geometry refuses slot and reader counts out of range") {
  CHECK(computeGeometry(1, 16, 4096).error().code == ErrorCode::InvalidArgument);
  CHECK(computeGeometry(65, 16, 4096).error().code == ErrorCode::InvalidArgument);
  CHECK(computeGeometry(3, 0, 4096).error().code == ErrorCode::InvalidArgument);
  CHECK(computeGeometry(3, 257, 4096).error().code == ErrorCode::InvalidArgument);
  CHECK(computeGeometry(3, 16, 0).error().code == ErrorCode::InvalidArgument);
  CHECK(computeGeometry(2, 1, 4096));
  CHECK(computeGeometry(64, 256, 4096));
}

TEST_CASE("a header written by this build validates") {
  ValidSegment s;
  auto checked = validate(s.header, s.geometry.segmentSize, "cam0");
  REQUIRE(checked);
  CHECK(checked->slotCount == 3);
  CHECK(checked->readerCapacity == 16);
  CHECK(checked->format == s.format);
  CHECK(checked->caps == "video/x-raw");
  CHECK(checked->generation == 42);
  CHECK(checked->producerPid == 1234);
}

TEST_CASE("validation rejects every corrupted header field with a clear error") {
  ValidSegment s;
  const std::uint64_t size = s.geometry.segmentSize;
  auto codeOf = [&](const SegmentHeader& h, std::uint64_t real) {
    return validate(h, real, "cam0").error().code;
  };

  SECTION("bad magic") {
    s.header.magic ^= 1;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("another ABI version names both versions") {
    s.header.abiVersion = 4;
    auto result = validate(s.header, size, "cam0");
    REQUIRE(!result);
    CHECK(result.error().code == ErrorCode::AbiMismatch);
    CHECK(result.error().message.find("segment 'cam0' has ABI version 4, this library reads 3") !=
          std::string::npos);
  }
  SECTION("older ABIs are refused, not read as garbage") {
    s.header.abiVersion = 1;
    CHECK(codeOf(s.header, size) == ErrorCode::AbiMismatch);
    s.header.abiVersion = 2;
    CHECK(codeOf(s.header, size) == ErrorCode::AbiMismatch);
  }
  SECTION("metadata capacity over the limit") {
    s.header.metadataCapacity = kMaxMetadataBytes + 1;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("metadata capacity that disagrees with the geometry") {
    s.header.metadataCapacity = 1 << 16;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("metadata offset beyond the mapping") {
    s.header.metadataOffset = size;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("metadata stride that would overlap the areas") {
    s.header.metadataStride = 8;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("wrong structure sizes") {
    s.header.controlSize = 128;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("absurd slot count") {
    s.header.slotCount = 1'000'000;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("absurd reader count") {
    s.header.readerCapacity = 0;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("payload offset beyond the mapping") {
    s.header.payloadOffset = 1ULL << 50;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("slot stride smaller than a frame") {
    s.header.slotStride = 4096;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("segment truncated below what the header says") {
    auto result = validate(s.header, size - 1, "cam0");
    REQUIRE(!result);
    CHECK(result.error().code == ErrorCode::Corrupt);
    CHECK(result.error().message.find("truncated") != std::string::npos);
  }
  SECTION("segment smaller than its header") {
    CHECK(codeOf(s.header, 100) == ErrorCode::Corrupt);
  }
  SECTION("unknown pixel format") {
    s.header.format.pixelFormat = 99;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("plane beyond the frame") {
    s.header.format.planeOffset[2] = s.format.frameSize;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("stride shorter than a row") {
    s.header.format.stride[0] = 10;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("caps length past the buffer") {
    s.header.capsLength = kCapsCapacity;
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
  SECTION("caps not terminated where the length says") {
    s.header.caps[s.header.capsLength] = 'x';
    CHECK(codeOf(s.header, size) == ErrorCode::Corrupt);
  }
}

TEST_CASE("format blocks round-trip through the header") {
  for (PixelFormat pf : allPixelFormats()) {
    auto format = makeFormat(pf, 641, 479, {25, 1});
    REQUIRE(format);
    auto back = fromBlock(toBlock(*format));
    REQUIRE(back);
    CHECK(*back == *format);
  }
}
