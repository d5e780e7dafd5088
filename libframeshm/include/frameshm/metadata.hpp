// SPDX-License-Identifier: LGPL-2.1-or-later
// frameshm/metadata.hpp — the user's own data that travels with a frame.
//
// Metadata is a small list of named, typed entries (exposure, gain, a camera
// frame ID, a PTP capture time, a detection list as bytes or JSON). The
// producer sets it on the slot it fills; it lands in the slot's metadata area
// (ProducerOptions::metadataBytes per frame) under the same sequence counter
// as the pixels, so a reader never sees the metadata of another frame. The
// encoding is documented in the library's layout header; entries cost 8 bytes
// plus key and value, each rounded up to 8 (encodedSize()).
//
//   frameshm::Metadata meta;
//   meta.setInt("exposure-us", 8000);
//   meta.setTimestamp("timestamp/x-ptp", {.ns = ptpNow});
//   if (auto ok = slot->setMetadata(meta); !ok) return fail(ok.error());
//   ...
//   auto got = frame->metadata();            // reader side, validated
//   if (got) if (auto* e = got->find("exposure-us")) use(e->asInt());
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frameshm/error.hpp"

namespace frameshm {

// The type of an entry's value; the numbers are part of the segment ABI.
enum class MetaType : std::uint8_t {
  Bytes = 0,      // opaque bytes
  String = 1,     // UTF-8 text, no terminator
  Int = 2,        // int64
  Double = 3,     // IEEE 754 double
  Timestamp = 4,  // MetaTimestamp; the key names the clock ("timestamp/x-ptp", "timestamp/x-unix")
};

// A time on a named clock, as GStreamer's GstReferenceTimestampMeta carries it.
struct MetaTimestamp {
  std::int64_t ns = 0;
  std::int64_t durationNs = -1;  // -1: none
  bool operator==(const MetaTimestamp&) const = default;
};

struct MetaEntry {
  std::string key;
  MetaType type = MetaType::Bytes;
  std::vector<std::byte> value;  // encoded as in the segment (host order)

  // The value as its type; nullopt if the entry is of another type.
  [[nodiscard]] std::optional<std::int64_t> asInt() const noexcept;
  [[nodiscard]] std::optional<double> asDouble() const noexcept;
  [[nodiscard]] std::optional<MetaTimestamp> asTimestamp() const noexcept;
  // String and Bytes entries as text (the bytes as they are).
  [[nodiscard]] std::string_view asString() const noexcept;
  bool operator==(const MetaEntry&) const = default;
};

// Longest key, in bytes.
inline constexpr std::size_t kMaxMetaKeyLength = 255;

class Metadata {
 public:
  // Each set replaces an entry of the same key, or appends one.
  // Errors: InvalidArgument (empty key, key over 255 bytes or with a NUL byte).
  [[nodiscard]] Result<void> setBytes(std::string_view key, std::span<const std::byte> value);
  [[nodiscard]] Result<void> setString(std::string_view key, std::string_view value);
  [[nodiscard]] Result<void> setInt(std::string_view key, std::int64_t value);
  [[nodiscard]] Result<void> setDouble(std::string_view key, double value);
  [[nodiscard]] Result<void> setTimestamp(std::string_view key, MetaTimestamp value);
  // Removes the entry of `key`; false if there was none.
  bool erase(std::string_view key) noexcept;
  void clear() noexcept { entries_.clear(); }

  // The entry of `key`, or nullptr.
  [[nodiscard]] const MetaEntry* find(std::string_view key) const noexcept;
  [[nodiscard]] const std::vector<MetaEntry>& entries() const noexcept { return entries_; }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  // Bytes the entries take in a slot's metadata area.
  [[nodiscard]] std::size_t encodedSize() const noexcept;
  // Writes the entries into `out`; returns the bytes written.
  // Errors: InvalidArgument ("metadata of 5000 bytes does not fit ... 4096"), nothing truncated.
  [[nodiscard]] Result<std::size_t> encode(std::span<std::byte> out) const;
  // Parses an area written by encode(), checking every length and type first.
  // Errors: Corrupt, naming the entry and what is wrong with it.
  [[nodiscard]] static Result<Metadata> decode(std::span<const std::byte> bytes);

  bool operator==(const Metadata&) const = default;

 private:
  Result<void> set(std::string_view key, MetaType type, std::span<const std::byte> value);
  std::vector<MetaEntry> entries_;
};

}  // namespace frameshm
