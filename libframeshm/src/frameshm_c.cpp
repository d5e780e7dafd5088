// SPDX-License-Identifier: LGPL-2.1-or-later
// The C API (frameshm/frameshm.h) over the C++ one. Every entry point is
// noexcept: an exception (std::bad_alloc is the only one the C++ API can let
// out) becomes FRAMESHM_OUT_OF_MEMORY, never unwinds into C.
#include "frameshm/frameshm.h"

#include <chrono>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include "frameshm/consumer.hpp"
#include "frameshm/error.hpp"
#include "frameshm/format.hpp"
#include "frameshm/metadata.hpp"
#include "frameshm/producer.hpp"

// The handles. A format handle is the C++ FrameFormat itself, so a format
// borrowed from a producer, a consumer or a frame needs no copy.
struct frameshm_format {
  frameshm::FrameFormat format;
};
struct frameshm_producer {
  frameshm::Producer producer;
  frameshm::WriteSlot slot;  // the acquired one, if any
};
struct frameshm_consumer {
  frameshm::Consumer consumer;
};
struct frameshm_frame {
  frameshm::Frame frame;
};
struct frameshm_metadata {
  frameshm::Metadata metadata;
};

namespace {

using frameshm::ErrorCode;

static_assert(FRAMESHM_INVALID_ARGUMENT == static_cast<int>(ErrorCode::InvalidArgument) + 1);
static_assert(FRAMESHM_NOT_FOUND == static_cast<int>(ErrorCode::NotFound) + 1);
static_assert(FRAMESHM_TIMEOUT == static_cast<int>(ErrorCode::Timeout) + 1);
static_assert(FRAMESHM_SYSTEM_ERROR == static_cast<int>(ErrorCode::SystemError) + 1);
static_assert(FRAMESHM_PIXEL_FORMAT_UYVY == static_cast<int>(frameshm::PixelFormat::Uyvy));
static_assert(FRAMESHM_PIXEL_FORMAT_GRAY8 == static_cast<int>(frameshm::PixelFormat::Gray8));
static_assert(FRAMESHM_META_TIMESTAMP == static_cast<int>(frameshm::MetaType::Timestamp));
static_assert(FRAMESHM_META_BYTES == static_cast<int>(frameshm::MetaType::Bytes));
static_assert(FRAMESHM_DELIVERY_SEQUENTIAL == static_cast<int>(frameshm::Delivery::Sequential));

thread_local std::string lastError;

frameshm_status failed(const frameshm::Error& error) {
  lastError = error.message;
  return static_cast<frameshm_status>(static_cast<int>(error.code) + 1);
}

frameshm_status failed(frameshm_status status, const char* message) {
  lastError = message;
  return status;
}

// Runs `body` (which returns a frameshm_status) with no exception escaping.
template <class Body>
frameshm_status guarded(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return failed(FRAMESHM_OUT_OF_MEMORY, "out of memory in the frameshm C API");
  } catch (...) {
    return failed(FRAMESHM_SYSTEM_ERROR, "unexpected internal error in the frameshm C API");
  }
}

const frameshm_format* handle(const frameshm::FrameFormat& format) {
  // frameshm_format is a standard-layout struct whose only member is a
  // FrameFormat: the two are pointer-interconvertible.
  return reinterpret_cast<const frameshm_format*>(&format);
}

frameshm::FrameMeta toCpp(const frameshm_frame_meta* meta) {
  if (meta == nullptr) return {};
  return {.captureNs = meta->capture_ns,
          .pts = meta->pts,
          .duration = meta->duration,
          .flags = meta->flags,
          .payloadSize = meta->payload_size};
}

void toC(const frameshm::FrameMeta& in, frameshm_frame_meta* out) {
  if (out == nullptr) return;
  *out = {in.captureNs, in.pts, in.duration, in.flags, in.payloadSize};
}

template <class T>
void set(T* out, T value) {
  if (out != nullptr) *out = value;
}

template <class Get>
frameshm_status giveFrame(frameshm_consumer* c, frameshm_frame** out, Get&& get) {
  return guarded([&] {
    if (c == nullptr || out == nullptr) return failed(FRAMESHM_INVALID_ARGUMENT, "consumer or out is NULL");
    *out = nullptr;
    auto frame = get(c->consumer);
    if (!frame) return failed(frame.error());
    *out = new frameshm_frame{std::move(*frame)};
    return FRAMESHM_OK;
  });
}

// Runs `set` on the metadata after checking the handle and the key.
template <class Set>
frameshm_status setEntry(frameshm_metadata* m, const char* key, Set&& set) {
  return guarded([&] {
    if (m == nullptr || key == nullptr) return failed(FRAMESHM_INVALID_ARGUMENT, "metadata or key is NULL");
    auto done = set(m->metadata, std::string_view(key));
    if (!done) return failed(done.error());
    return FRAMESHM_OK;
  });
}

// The entry of `key` if it has `type`: NOT_FOUND or INVALID_ARGUMENT otherwise.
frameshm_status findEntry(const frameshm_metadata* m, const char* key, frameshm::MetaType type,
                          const frameshm::MetaEntry** out) {
  if (m == nullptr || key == nullptr) return failed(FRAMESHM_INVALID_ARGUMENT, "metadata or key is NULL");
  const auto* entry = m->metadata.find(key);
  if (entry == nullptr) {
    lastError = "no metadata entry '" + std::string(key) + "'";
    return FRAMESHM_NOT_FOUND;
  }
  if (entry->type != type) {
    lastError = "metadata entry '" + std::string(key) + "' is of another type";
    return FRAMESHM_INVALID_ARGUMENT;
  }
  *out = entry;
  return FRAMESHM_OK;
}

const frameshm::Metadata& metadataOf(const frameshm_metadata* m) {
  static const frameshm::Metadata none;
  return m != nullptr ? m->metadata : none;
}

}  // namespace

extern "C" {

const char* frameshm_last_error(void) { return lastError.c_str(); }

const char* frameshm_status_name(frameshm_status status) {
  if (status == FRAMESHM_OK) return "ok";
  if (status == FRAMESHM_OUT_OF_MEMORY) return "out-of-memory";
  if (status < FRAMESHM_OK || status > FRAMESHM_OUT_OF_MEMORY) return "unknown";
  return frameshm::toString(static_cast<ErrorCode>(static_cast<int>(status) - 1)).data();
}

// ---- Formats ----

const char* frameshm_pixel_format_name(frameshm_pixel_format format) {
  for (const auto known : frameshm::allPixelFormats()) {
    if (static_cast<int>(known) == static_cast<int>(format)) return frameshm::toString(known).data();
  }
  return nullptr;
}

frameshm_pixel_format frameshm_pixel_format_from_name(const char* name) {
  if (name == nullptr) return FRAMESHM_PIXEL_FORMAT_UNKNOWN;
  const auto parsed = frameshm::parsePixelFormat(name);
  return parsed ? static_cast<frameshm_pixel_format>(*parsed) : FRAMESHM_PIXEL_FORMAT_UNKNOWN;
}

frameshm_status frameshm_format_create(frameshm_pixel_format pixelFormat, uint32_t width, uint32_t height,
                                       uint32_t rateNum, uint32_t rateDen, frameshm_format** out) {
  return guarded([&] {
    if (out == nullptr) return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_format_create: out is NULL");
    *out = nullptr;
    if (frameshm_pixel_format_name(pixelFormat) == nullptr) {
      return failed(FRAMESHM_UNSUPPORTED_FORMAT,
                    "unknown pixel format number (see frameshm_pixel_format in frameshm.h)");
    }
    if (rateDen == 0) return failed(FRAMESHM_INVALID_ARGUMENT, "frame rate denominator is 0 (use 0/1 for unknown)");
    auto format = frameshm::makeFormat(static_cast<frameshm::PixelFormat>(pixelFormat), width, height,
                                       {rateNum, rateDen});
    if (!format) return failed(format.error());
    *out = new frameshm_format{*format};
    return FRAMESHM_OK;
  });
}

void frameshm_format_destroy(frameshm_format* format) { delete format; }

frameshm_pixel_format frameshm_format_pixel_format(const frameshm_format* f) {
  return static_cast<frameshm_pixel_format>(f->format.pixelFormat);
}
uint32_t frameshm_format_width(const frameshm_format* f) { return f->format.width; }
uint32_t frameshm_format_height(const frameshm_format* f) { return f->format.height; }
uint32_t frameshm_format_plane_count(const frameshm_format* f) { return f->format.planeCount; }
uint32_t frameshm_format_plane_stride(const frameshm_format* f, uint32_t plane) {
  return plane < f->format.planeCount ? f->format.planes[plane].stride : 0;
}
uint64_t frameshm_format_plane_offset(const frameshm_format* f, uint32_t plane) {
  return plane < f->format.planeCount ? f->format.planes[plane].offset : 0;
}
uint32_t frameshm_format_plane_height(const frameshm_format* f, uint32_t plane) {
  return plane < f->format.planeCount ? f->format.planeHeight(plane) : 0;
}
uint64_t frameshm_format_frame_size(const frameshm_format* f) { return f->format.frameSize; }
void frameshm_format_rate(const frameshm_format* f, uint32_t* num, uint32_t* den) {
  set(num, f->format.rate.num);
  set(den, f->format.rate.den);
}

void frameshm_frame_meta_init(frameshm_frame_meta* meta) { toC(frameshm::FrameMeta{}, meta); }

// ---- Producer ----

void frameshm_producer_options_init(frameshm_producer_options* options) {
  const frameshm::ProducerOptions defaults;
  *options = {nullptr,
              nullptr,
              defaults.slots,
              defaults.maxReaders,
              static_cast<uint32_t>(defaults.mode),
              defaults.replace,
              nullptr,
              defaults.metadataBytes};
}

frameshm_status frameshm_producer_create(const frameshm_producer_options* options, frameshm_producer** out) {
  return guarded([&] {
    if (out == nullptr) return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_producer_create: out is NULL");
    *out = nullptr;
    if (options == nullptr || options->feed == nullptr || options->format == nullptr) {
      return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_producer_create needs options with a feed and a format");
    }
    auto producer = frameshm::Producer::create({.feed = options->feed,
                                                .format = options->format->format,
                                                .slots = options->slots,
                                                .maxReaders = options->max_readers,
                                                .mode = static_cast<mode_t>(options->mode),
                                                .replace = options->replace,
                                                .caps = options->caps != nullptr ? options->caps : "",
                                                .metadataBytes = options->metadata_bytes});
    if (!producer) return failed(producer.error());
    *out = new frameshm_producer{std::move(*producer), {}};
    return FRAMESHM_OK;
  });
}

void frameshm_producer_destroy(frameshm_producer* producer) { delete producer; }

frameshm_status frameshm_producer_write(frameshm_producer* p, const void* data, size_t size,
                                        const frameshm_frame_meta* meta, uint64_t* number) {
  return frameshm_producer_write_with_metadata(p, data, size, meta, nullptr, number);
}

frameshm_status frameshm_producer_write_with_metadata(frameshm_producer* p, const void* data, size_t size,
                                                      const frameshm_frame_meta* meta,
                                                      const frameshm_metadata* metadata, uint64_t* number) {
  return guarded([&] {
    if (p == nullptr || (data == nullptr && size != 0)) {
      return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_producer_write: producer or data is NULL");
    }
    auto written =
        p->producer.write({static_cast<const std::byte*>(data), size}, toCpp(meta), metadataOf(metadata));
    if (!written) return failed(written.error());
    set(number, *written);
    return FRAMESHM_OK;
  });
}

frameshm_status frameshm_producer_acquire(frameshm_producer* p, void** data, size_t* size) {
  return guarded([&] {
    if (p == nullptr || data == nullptr) {
      return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_producer_acquire: producer or data is NULL");
    }
    if (p->slot) {
      return failed(FRAMESHM_INVALID_STATE, "a slot is already acquired: publish or abandon it first");
    }
    auto slot = p->producer.acquire();
    if (!slot) return failed(slot.error());
    p->slot = std::move(*slot);
    *data = p->slot.data().data();
    set(size, p->slot.data().size());
    return FRAMESHM_OK;
  });
}

frameshm_status frameshm_producer_publish(frameshm_producer* p, const frameshm_frame_meta* meta,
                                          uint64_t* number) {
  return guarded([&] {
    if (p == nullptr) return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_producer_publish: producer is NULL");
    if (!p->slot) return failed(FRAMESHM_INVALID_STATE, "no slot is acquired: call frameshm_producer_acquire first");
    auto published = p->producer.publish(std::move(p->slot), toCpp(meta));
    p->slot = {};
    if (!published) return failed(published.error());
    set(number, *published);
    return FRAMESHM_OK;
  });
}

frameshm_status frameshm_producer_set_metadata(frameshm_producer* p, const frameshm_metadata* metadata) {
  return guarded([&] {
    if (p == nullptr)
      return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_producer_set_metadata: producer is NULL");
    if (!p->slot)
      return failed(FRAMESHM_INVALID_STATE, "no slot is acquired: call frameshm_producer_acquire first");
    auto done = p->slot.setMetadata(metadataOf(metadata));
    if (!done) return failed(done.error());
    return FRAMESHM_OK;
  });
}

void frameshm_producer_abandon(frameshm_producer* p) {
  if (p != nullptr) p->slot = {};
}

frameshm_status frameshm_producer_reconfigure(frameshm_producer* p, const frameshm_format* format,
                                              const char* caps) {
  return guarded([&] {
    if (p == nullptr || format == nullptr) {
      return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_producer_reconfigure: producer or format is NULL");
    }
    p->slot = {};
    auto done = p->producer.reconfigure(format->format, caps != nullptr ? caps : "");
    if (!done) return failed(done.error());
    return FRAMESHM_OK;
  });
}

void frameshm_producer_end(frameshm_producer* p) {
  if (p == nullptr) return;
  p->slot = {};
  p->producer.end();
}

const frameshm_format* frameshm_producer_format(const frameshm_producer* p) { return handle(p->producer.format()); }
uint32_t frameshm_producer_reader_count(const frameshm_producer* p) { return p->producer.readerCount(); }
uint64_t frameshm_producer_frames_published(const frameshm_producer* p) {
  return p->producer.stats().framesPublished;
}

// ---- Consumer ----

void frameshm_consumer_options_init(frameshm_consumer_options* options) {
  const frameshm::ConsumerOptions defaults;
  *options = {nullptr, defaults.openTimeout.count(), defaults.spin.count(), defaults.pin,
              static_cast<frameshm_delivery>(defaults.delivery)};
}

frameshm_status frameshm_consumer_open(const frameshm_consumer_options* options, frameshm_consumer** out) {
  return guarded([&] {
    if (out == nullptr) return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_consumer_open: out is NULL");
    *out = nullptr;
    if (options == nullptr || options->feed == nullptr) {
      return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_consumer_open needs options with a feed");
    }
    if (options->spin_us < 0) return failed(FRAMESHM_INVALID_ARGUMENT, "spin_us is negative");
    auto consumer =
        frameshm::Consumer::open({.feed = options->feed,
                                  .openTimeout = std::chrono::milliseconds(options->open_timeout_ms),
                                  .spin = std::chrono::microseconds(options->spin_us),
                                  .pin = options->pin,
                                  .delivery = static_cast<frameshm::Delivery>(options->delivery)});
    if (!consumer) return failed(consumer.error());
    *out = new frameshm_consumer{std::move(*consumer)};
    return FRAMESHM_OK;
  });
}

void frameshm_consumer_destroy(frameshm_consumer* consumer) { delete consumer; }

frameshm_status frameshm_consumer_wait_frame(frameshm_consumer* c, int64_t timeoutUs, frameshm_frame** out) {
  return giveFrame(c, out, [&](frameshm::Consumer& consumer) {
    return consumer.waitFrame(std::chrono::microseconds(timeoutUs < 0 ? 0 : timeoutUs));
  });
}

frameshm_status frameshm_consumer_try_frame(frameshm_consumer* c, frameshm_frame** out) {
  return giveFrame(c, out, [](frameshm::Consumer& consumer) { return consumer.tryFrame(); });
}

frameshm_status frameshm_consumer_read_into(frameshm_consumer* c, void* buffer, size_t size, int64_t timeoutUs,
                                            frameshm_frame_meta* meta, uint64_t* number, uint64_t* bytes) {
  return guarded([&] {
    if (c == nullptr || buffer == nullptr) {
      return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_consumer_read_into: consumer or buffer is NULL");
    }
    auto info = c->consumer.readInto({static_cast<std::byte*>(buffer), size},
                                     std::chrono::microseconds(timeoutUs < 0 ? 0 : timeoutUs));
    if (!info) return failed(info.error());
    toC(info->meta, meta);
    set(number, info->number);
    set(bytes, info->bytes);
    return FRAMESHM_OK;
  });
}

const frameshm_format* frameshm_consumer_format(const frameshm_consumer* c) { return handle(c->consumer.format()); }

void frameshm_consumer_stats(const frameshm_consumer* c, frameshm_reader_stats* stats) {
  const auto s = c->consumer.stats();
  *stats = {s.framesRead, s.framesDropped, s.framesTorn, s.generations};
}

uint64_t frameshm_consumer_generation(const frameshm_consumer* c) { return c->consumer.generation(); }

// ---- Frames ----

const void* frameshm_frame_data(const frameshm_frame* f, size_t* size) {
  set(size, f->frame.data().size());
  return f->frame.data().data();
}

const void* frameshm_frame_plane(const frameshm_frame* f, uint32_t plane) {
  return plane < f->frame.format().planeCount ? f->frame.plane(plane) : nullptr;
}

const frameshm_format* frameshm_frame_format(const frameshm_frame* f) { return handle(f->frame.format()); }
void frameshm_frame_meta_get(const frameshm_frame* f, frameshm_frame_meta* meta) { toC(f->frame.meta(), meta); }
uint64_t frameshm_frame_number(const frameshm_frame* f) { return f->frame.number(); }
uint64_t frameshm_frame_dropped_before(const frameshm_frame* f) { return f->frame.droppedBefore(); }
int64_t frameshm_frame_publish_ns(const frameshm_frame* f) { return f->frame.publishNs(); }
bool frameshm_frame_intact(frameshm_frame* f) { return f->frame.intact(); }
void frameshm_frame_release(frameshm_frame* f) { delete f; }

frameshm_status frameshm_frame_metadata(const frameshm_frame* f, frameshm_metadata** out) {
  return guarded([&] {
    if (f == nullptr || out == nullptr) return failed(FRAMESHM_INVALID_ARGUMENT, "frame or out is NULL");
    *out = nullptr;
    auto metadata = f->frame.metadata();
    if (!metadata) return failed(metadata.error());
    *out = new frameshm_metadata{std::move(*metadata)};
    return FRAMESHM_OK;
  });
}

// ---- Metadata ----

frameshm_status frameshm_metadata_create(frameshm_metadata** out) {
  return guarded([&] {
    if (out == nullptr) return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_metadata_create: out is NULL");
    *out = new frameshm_metadata{};
    return FRAMESHM_OK;
  });
}

void frameshm_metadata_destroy(frameshm_metadata* m) {
  delete m;
}

frameshm_status frameshm_metadata_set_int(frameshm_metadata* m, const char* key, int64_t value) {
  return setEntry(m, key, [&](frameshm::Metadata& md, std::string_view k) { return md.setInt(k, value); });
}
frameshm_status frameshm_metadata_set_double(frameshm_metadata* m, const char* key, double value) {
  return setEntry(m, key, [&](frameshm::Metadata& md, std::string_view k) { return md.setDouble(k, value); });
}
frameshm_status frameshm_metadata_set_string(frameshm_metadata* m, const char* key, const char* value) {
  if (value == nullptr)
    return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_metadata_set_string: value is NULL");
  return setEntry(m, key, [&](frameshm::Metadata& md, std::string_view k) { return md.setString(k, value); });
}
frameshm_status frameshm_metadata_set_bytes(frameshm_metadata* m, const char* key, const void* value,
                                            size_t size) {
  if (value == nullptr && size != 0)
    return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_metadata_set_bytes: value is NULL");
  return setEntry(m, key, [&](frameshm::Metadata& md, std::string_view k) {
    return md.setBytes(k, {static_cast<const std::byte*>(value), size});
  });
}
frameshm_status frameshm_metadata_set_timestamp(frameshm_metadata* m, const char* key, int64_t ns,
                                                int64_t durationNs) {
  return setEntry(m, key, [&](frameshm::Metadata& md, std::string_view k) {
    return md.setTimestamp(k, {.ns = ns, .durationNs = durationNs});
  });
}

size_t frameshm_metadata_count(const frameshm_metadata* m) {
  return metadataOf(m).size();
}

frameshm_status frameshm_metadata_entry(const frameshm_metadata* m, size_t index, const char** key,
                                        frameshm_meta_type* type, const void** value, size_t* size) {
  if (m == nullptr || index >= m->metadata.size()) {
    return failed(FRAMESHM_INVALID_ARGUMENT, "frameshm_metadata_entry: no such entry");
  }
  const auto& entry = m->metadata.entries()[index];
  set(key, entry.key.c_str());
  set(type, static_cast<frameshm_meta_type>(entry.type));
  set(value, static_cast<const void*>(entry.value.data()));
  set(size, entry.value.size());
  return FRAMESHM_OK;
}

frameshm_status frameshm_metadata_get_int(const frameshm_metadata* m, const char* key, int64_t* value) {
  return guarded([&] {
    const frameshm::MetaEntry* entry = nullptr;
    if (auto status = findEntry(m, key, frameshm::MetaType::Int, &entry); status != FRAMESHM_OK)
      return status;
    set(value, *entry->asInt());
    return FRAMESHM_OK;
  });
}
frameshm_status frameshm_metadata_get_double(const frameshm_metadata* m, const char* key, double* value) {
  return guarded([&] {
    const frameshm::MetaEntry* entry = nullptr;
    if (auto status = findEntry(m, key, frameshm::MetaType::Double, &entry); status != FRAMESHM_OK)
      return status;
    set(value, *entry->asDouble());
    return FRAMESHM_OK;
  });
}
frameshm_status frameshm_metadata_get_timestamp(const frameshm_metadata* m, const char* key, int64_t* ns,
                                                int64_t* durationNs) {
  return guarded([&] {
    const frameshm::MetaEntry* entry = nullptr;
    if (auto status = findEntry(m, key, frameshm::MetaType::Timestamp, &entry); status != FRAMESHM_OK)
      return status;
    const auto t = *entry->asTimestamp();
    set(ns, t.ns);
    set(durationNs, t.durationNs);
    return FRAMESHM_OK;
  });
}

}  // extern "C"
