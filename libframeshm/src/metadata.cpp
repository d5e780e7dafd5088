// SPDX-License-Identifier: LGPL-2.1-or-later
#include "frameshm/metadata.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "layout.hpp"

namespace frameshm {
namespace {

constexpr std::size_t pad8(std::size_t n) noexcept {
  return (n + 7) & ~std::size_t{7};
}

std::size_t entrySize(const MetaEntry& e) noexcept {
  return sizeof(layout::MetaEntryHeader) + pad8(e.key.size() + e.value.size());
}

// The value length each fixed-size type must have; 0: any.
std::size_t fixedLength(MetaType type) noexcept {
  switch (type) {
    case MetaType::Int:
    case MetaType::Double:
      return 8;
    case MetaType::Timestamp:
      return 16;
    default:
      return 0;
  }
}

template <typename T>
std::optional<T> valueAs(const MetaEntry& e, MetaType type) noexcept {
  if (e.type != type || e.value.size() != sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, e.value.data(), sizeof v);
  return v;
}

template <typename T>
std::span<const std::byte> bytesOf(const T& v) noexcept {
  return std::as_bytes(std::span<const T, 1>(&v, 1));
}

}  // namespace

std::optional<std::int64_t> MetaEntry::asInt() const noexcept {
  return valueAs<std::int64_t>(*this, MetaType::Int);
}
std::optional<double> MetaEntry::asDouble() const noexcept {
  return valueAs<double>(*this, MetaType::Double);
}
std::optional<MetaTimestamp> MetaEntry::asTimestamp() const noexcept {
  if (type != MetaType::Timestamp || value.size() != 16) return std::nullopt;
  MetaTimestamp t;
  std::memcpy(&t.ns, value.data(), 8);
  std::memcpy(&t.durationNs, value.data() + 8, 8);
  return t;
}
std::string_view MetaEntry::asString() const noexcept {
  if (type != MetaType::String && type != MetaType::Bytes) return {};
  return {reinterpret_cast<const char*>(value.data()), value.size()};
}

Result<void> Metadata::set(std::string_view key, MetaType type, std::span<const std::byte> value) {
  if (key.empty()) return fail(ErrorCode::InvalidArgument, "a metadata key must not be empty");
  if (key.size() > kMaxMetaKeyLength)
    return fail(ErrorCode::InvalidArgument, "metadata key of " + std::to_string(key.size()) +
                                                " bytes is too long (at most " +
                                                std::to_string(kMaxMetaKeyLength) + ")");
  if (key.find('\0') != std::string_view::npos)
    return fail(ErrorCode::InvalidArgument, "metadata key contains a NUL byte");
  if (value.size() > layout::kMaxMetadataBytes)
    return fail(ErrorCode::InvalidArgument, "metadata value of " + std::to_string(value.size()) +
                                                " bytes is larger than any feed can carry");
  MetaEntry entry{std::string(key), type, {value.begin(), value.end()}};
  auto it = std::ranges::find(entries_, key, &MetaEntry::key);
  if (it != entries_.end())
    *it = std::move(entry);
  else
    entries_.push_back(std::move(entry));
  return {};
}

Result<void> Metadata::setBytes(std::string_view key, std::span<const std::byte> value) {
  return set(key, MetaType::Bytes, value);
}
Result<void> Metadata::setString(std::string_view key, std::string_view value) {
  return set(key, MetaType::String, std::as_bytes(std::span(value.data(), value.size())));
}
Result<void> Metadata::setInt(std::string_view key, std::int64_t value) {
  return set(key, MetaType::Int, bytesOf(value));
}
Result<void> Metadata::setDouble(std::string_view key, double value) {
  return set(key, MetaType::Double, bytesOf(value));
}
Result<void> Metadata::setTimestamp(std::string_view key, MetaTimestamp value) {
  std::byte raw[16];
  std::memcpy(raw, &value.ns, 8);
  std::memcpy(raw + 8, &value.durationNs, 8);
  return set(key, MetaType::Timestamp, raw);
}

bool Metadata::erase(std::string_view key) noexcept {
  return std::erase_if(entries_, [&](const MetaEntry& e) { return e.key == key; }) > 0;
}

const MetaEntry* Metadata::find(std::string_view key) const noexcept {
  auto it = std::ranges::find(entries_, key, &MetaEntry::key);
  return it == entries_.end() ? nullptr : &*it;
}

std::size_t Metadata::encodedSize() const noexcept {
  std::size_t total = 0;
  for (const auto& e : entries_) total += entrySize(e);
  return total;
}

Result<std::size_t> Metadata::encode(std::span<std::byte> out) const {
  const std::size_t total = encodedSize();
  if (total > out.size())
    return fail(ErrorCode::InvalidArgument,
                "metadata of " + std::to_string(total) + " bytes (" + std::to_string(entries_.size()) +
                    " entries) does not fit the feed's " + std::to_string(out.size()) +
                    " bytes per frame (create the feed with more metadata bytes)");
  std::byte* p = out.data();
  for (const auto& e : entries_) {
    const layout::MetaEntryHeader h{static_cast<std::uint16_t>(e.key.size()),
                                    static_cast<std::uint8_t>(e.type), 0,
                                    static_cast<std::uint32_t>(e.value.size())};
    std::memcpy(p, &h, sizeof h);
    std::memcpy(p + sizeof h, e.key.data(), e.key.size());
    if (!e.value.empty()) std::memcpy(p + sizeof h + e.key.size(), e.value.data(), e.value.size());
    const std::size_t used = sizeof h + e.key.size() + e.value.size();
    std::memset(p + used, 0, entrySize(e) - used);
    p += entrySize(e);
  }
  return total;
}

Result<Metadata> Metadata::decode(std::span<const std::byte> bytes) {
  Metadata m;
  std::size_t at = 0;
  for (std::size_t index = 0; at < bytes.size(); ++index) {
    auto corrupt = [&](const std::string& why) {
      return fail(ErrorCode::Corrupt, "metadata entry " + std::to_string(index) + " at byte " +
                                          std::to_string(at) + " of " + std::to_string(bytes.size()) +
                                          " is corrupt: " + why);
    };
    layout::MetaEntryHeader h;
    if (bytes.size() - at < sizeof h) return corrupt("its header runs past the end of the metadata");
    std::memcpy(&h, bytes.data() + at, sizeof h);
    if (h.keyLength == 0 || h.keyLength > kMaxMetaKeyLength)
      return corrupt("its key length " + std::to_string(h.keyLength) + " is out of range (1.." +
                     std::to_string(kMaxMetaKeyLength) + ")");
    if (h.type > static_cast<std::uint8_t>(MetaType::Timestamp))
      return corrupt("its type " + std::to_string(h.type) + " is unknown");
    if (h.reserved != 0) return corrupt("its reserved byte is not zero");
    const auto type = static_cast<MetaType>(h.type);
    const std::size_t room = bytes.size() - at - sizeof h;
    if (h.keyLength > room || h.valueLength > room - h.keyLength)
      return corrupt("its key (" + std::to_string(h.keyLength) + " bytes) and value (" +
                     std::to_string(h.valueLength) + " bytes) run past the end of the metadata");
    if (fixedLength(type) != 0 && h.valueLength != fixedLength(type))
      return corrupt("its value of " + std::to_string(h.valueLength) +
                     " bytes has the wrong size for its type");
    const std::byte* key = bytes.data() + at + sizeof h;
    if (std::memchr(key, 0, h.keyLength) != nullptr) return corrupt("its key contains a NUL byte");
    const std::size_t size = sizeof h + pad8(std::size_t{h.keyLength} + h.valueLength);
    if (size > bytes.size() - at) return corrupt("its padding runs past the end of the metadata");
    MetaEntry e{std::string(reinterpret_cast<const char*>(key), h.keyLength),
                type,
                {key + h.keyLength, key + h.keyLength + h.valueLength}};
    m.entries_.push_back(std::move(e));
    at += size;
  }
  return m;
}

}  // namespace frameshm
