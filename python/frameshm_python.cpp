// SPDX-License-Identifier: LGPL-2.1-or-later
// The Python module `frameshm` (its compiled part, frameshm._frameshm): a thin
// pybind11 layer over the C++ API. Frames come out as numpy arrays that view
// the shared memory itself, read-only; a slot to write comes out as writable
// arrays over the slot. Waits release the GIL and wake for Ctrl-C.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frameshm/consumer.hpp"
#include "frameshm/error.hpp"
#include "frameshm/feed.hpp"
#include "frameshm/format.hpp"
#include "frameshm/metadata.hpp"
#include "frameshm/producer.hpp"

namespace py = pybind11;
using namespace std::chrono_literals;

namespace {

// ---- Errors: one Python exception class per ErrorCode, under frameshm.Error ----

std::map<frameshm::ErrorCode, py::object>& exceptionClasses() {
  static std::map<frameshm::ErrorCode, py::object> classes;
  return classes;
}

[[noreturn]] void raise(const frameshm::Error& error) {
  PyErr_SetString(exceptionClasses().at(error.code).ptr(), error.message.c_str());
  throw py::error_already_set();
}

template <class T>
T unwrap(frameshm::Result<T>&& result) {
  if (!result) raise(result.error());
  return std::move(*result);
}

void unwrap(frameshm::Result<void>&& result) {
  if (!result) raise(result.error());
}

// ---- Times: Python speaks seconds ----

std::chrono::microseconds toMicroseconds(double seconds, const char* what) {
  if (!(seconds >= 0)) throw py::value_error(std::string(what) + " must be a number of seconds >= 0");
  return std::chrono::microseconds(static_cast<std::int64_t>(std::min(seconds, 1e9) * 1e6));
}

// Runs `attempt(slice)` with the GIL released, in slices of at most 50 ms,
// until it gives something other than Timeout or `timeout` has passed
// (forever if nullopt); Python signal handlers (Ctrl-C) run between slices.
template <class Attempt>
auto waitInSlices(std::optional<std::chrono::microseconds> timeout, Attempt&& attempt) {
  constexpr std::chrono::microseconds kSlice = 50ms;
  const auto deadline = std::chrono::steady_clock::now() + timeout.value_or(0us);
  while (true) {
    auto slice = kSlice;
    if (timeout) {
      const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
      slice = std::clamp(left, 0us, kSlice);
    }
    auto result = [&] {
      py::gil_scoped_release released;
      return attempt(slice);
    }();
    const bool timedOut = !result && result.error().code == frameshm::ErrorCode::Timeout;
    if (!timedOut || (timeout && std::chrono::steady_clock::now() >= deadline)) return result;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  }
}

// ---- numpy views of a frame's planes ----

// The array shape of plane `p` for the format: (rows, columns[, channels]).
struct PlaneShape {
  std::vector<py::ssize_t> shape;
  std::vector<py::ssize_t> strides;
};

PlaneShape planeShape(const frameshm::FrameFormat& f, std::uint32_t p) {
  using frameshm::PixelFormat;
  const auto rows = static_cast<py::ssize_t>(f.planeHeight(p));
  const auto stride = static_cast<py::ssize_t>(f.planes[p].stride);
  const auto columns = [&](py::ssize_t channels) {
    return static_cast<py::ssize_t>(f.rowBytes(p)) / channels;
  };
  switch (f.pixelFormat) {
    case PixelFormat::Gray8:
    case PixelFormat::I420:
      return {{rows, columns(1)}, {stride, 1}};
    case PixelFormat::Nv12:
      if (p == 0) return {{rows, columns(1)}, {stride, 1}};
      return {{rows, columns(2), 2}, {stride, 2, 1}};
    case PixelFormat::Yuy2:
    case PixelFormat::Uyvy:
      return {{rows, columns(2), 2}, {stride, 2, 1}};
    case PixelFormat::Rgb:
    case PixelFormat::Bgr:
      return {{rows, columns(3), 3}, {stride, 3, 1}};
    case PixelFormat::Rgba:
    case PixelFormat::Bgra:
    case PixelFormat::Bgrx:
      return {{rows, columns(4), 4}, {stride, 4, 1}};
  }
  return {};
}

// Whether the whole frame is one (rows, width) uint8 image, planes stacked
// without gaps, as OpenCV takes I420 and NV12 (cv2.COLOR_YUV2BGR_I420).
// That needs rows without padding, planes back to back, and a frame size that
// is a whole number of luma rows (even sizes whose width is a multiple of 8).
bool stacksAsOneImage(const frameshm::FrameFormat& f) {
  std::uint64_t expected = 0;
  for (std::uint32_t p = 0; p < f.planeCount; ++p) {
    if (f.planes[p].offset != expected || f.planes[p].stride != f.rowBytes(p)) return false;
    expected += std::uint64_t{f.planes[p].stride} * f.planeHeight(p);
  }
  return expected == f.frameSize && f.frameSize % f.planes[0].stride == 0;
}

py::array makeArray(std::byte* base, std::vector<py::ssize_t> shape, std::vector<py::ssize_t> strides,
                    const py::object& owner, bool writable) {
  py::array array(py::dtype::of<std::uint8_t>(), std::move(shape), std::move(strides), base, owner);
  if (!writable) py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return array;
}

std::vector<py::array> planeArrays(std::byte* base, const frameshm::FrameFormat& f, const py::object& owner,
                                   bool writable) {
  std::vector<py::array> planes;
  for (std::uint32_t p = 0; p < f.planeCount; ++p) {
    auto [shape, strides] = planeShape(f, p);
    planes.push_back(makeArray(base + f.planes[p].offset, std::move(shape), std::move(strides), owner, writable));
  }
  return planes;
}

// The frame as one array: a packed format's only plane, or the stacked
// (height * 3 / 2, width) image of I420 and NV12.
py::array frameArray(std::byte* base, const frameshm::FrameFormat& f, const py::object& owner, bool writable) {
  if (f.planeCount == 1) return planeArrays(base, f, owner, writable).front();
  if (!stacksAsOneImage(f)) {
    throw py::value_error(frameshm::describe(f) +
                          " has padded or separated planes and is not one image: use .planes");
  }
  const auto stride = static_cast<py::ssize_t>(f.planes[0].stride);
  return makeArray(base, {static_cast<py::ssize_t>(f.frameSize) / stride, stride}, {stride, 1}, owner, writable);
}

// ---- Python-side objects ----

py::dict formatDict(const frameshm::FrameFormat& f) {
  py::list planes;
  for (std::uint32_t p = 0; p < f.planeCount; ++p) {
    planes.append(py::make_tuple(f.planes[p].stride, f.planes[p].offset, f.planeHeight(p)));
  }
  py::dict d;
  d["pixel_format"] = std::string(frameshm::toString(f.pixelFormat));
  d["width"] = f.width;
  d["height"] = f.height;
  d["frame_size"] = f.frameSize;
  d["rate"] = py::make_tuple(f.rate.num, f.rate.den);
  d["planes"] = planes;
  return d;
}

py::dict metaDict(const frameshm::FrameMeta& m) {
  py::dict d;
  d["capture_ns"] = m.captureNs;
  d["pts"] = m.pts;
  d["duration"] = m.duration;
  d["flags"] = m.flags;
  return d;
}

// ---- User metadata: a dict of str to int, float, str, bytes or Timestamp ----

frameshm::Metadata toMetadata(const py::object& object) {
  frameshm::Metadata m;
  if (object.is_none()) return m;
  if (!py::isinstance<py::dict>(object)) throw py::type_error("metadata must be a dict of str to values");
  for (const auto& [k, v] : py::reinterpret_borrow<py::dict>(object)) {
    if (!py::isinstance<py::str>(k)) throw py::type_error("metadata keys must be str");
    const auto key = k.cast<std::string>();
    frameshm::Result<void> set;
    if (py::isinstance<py::bool_>(v) || py::isinstance<py::int_>(v)) {
      set = m.setInt(key, v.cast<std::int64_t>());
    } else if (py::isinstance<py::float_>(v)) {
      set = m.setDouble(key, v.cast<double>());
    } else if (py::isinstance<py::str>(v)) {
      set = m.setString(key, v.cast<std::string>());
    } else if (py::isinstance<frameshm::MetaTimestamp>(v)) {
      set = m.setTimestamp(key, v.cast<frameshm::MetaTimestamp>());
    } else if (py::isinstance<py::bytes>(v) || py::isinstance<py::bytearray>(v) ||
               py::isinstance<py::memoryview>(v)) {
      PyObject* copied = PyBytes_FromObject(v.ptr());
      if (copied == nullptr) throw py::error_already_set();
      const auto bytes = py::reinterpret_steal<py::bytes>(copied).cast<std::string>();
      set = m.setBytes(key, std::as_bytes(std::span(bytes.data(), bytes.size())));
    } else {
      throw py::type_error("metadata value of '" + key +
                           "' must be int, float, str, bytes or frameshm.Timestamp, not " +
                           std::string(py::str(v.get_type().attr("__name__"))));
    }
    unwrap(std::move(set));
  }
  return m;
}

py::dict toDict(const frameshm::Metadata& m) {
  py::dict d;
  for (const auto& e : m.entries()) {
    const auto* bytes = reinterpret_cast<const char*>(e.value.data());
    switch (e.type) {
      case frameshm::MetaType::Int:
        d[py::str(e.key)] = *e.asInt();
        break;
      case frameshm::MetaType::Double:
        d[py::str(e.key)] = *e.asDouble();
        break;
      case frameshm::MetaType::Timestamp:
        d[py::str(e.key)] = py::cast(*e.asTimestamp());
        break;
      case frameshm::MetaType::String:
        d[py::str(e.key)] = py::reinterpret_steal<py::object>(
            PyUnicode_DecodeUTF8(bytes, static_cast<py::ssize_t>(e.value.size()), "replace"));
        break;
      case frameshm::MetaType::Bytes:
        d[py::str(e.key)] = py::bytes(bytes, e.value.size());
        break;
    }
  }
  return d;
}

frameshm::Delivery toDelivery(const std::string& name) {
  if (name == "latest") return frameshm::Delivery::Latest;
  if (name == "sequential") return frameshm::Delivery::Sequential;
  throw py::value_error("delivery must be 'latest' or 'sequential', not '" + name + "'");
}

// A frame: a view into the feed (from wait_frame/try_frame) or a confirmed
// copy (from read). Its arrays keep what they view alive: the view's
// frameshm::Frame (its mapping and pin) lives as long as the frame object or
// any array made from it.
class PyFrame {
 public:
  explicit PyFrame(frameshm::Frame frame) : view_(std::make_shared<frameshm::Frame>(std::move(frame))) {
    const auto& f = *view_;
    format_ = f.format();
    info_ = {f.meta(), f.number(), f.publishNs(), f.droppedBefore(), f.generation(), f.data().size(), {}};
    metadata_ = f.metadata();
  }
  PyFrame(std::shared_ptr<std::vector<std::byte>> copy, const frameshm::FrameFormat& format,
          const frameshm::FrameInfo& info)
      : copy_(std::move(copy)),
        format_(format),
        info_(info),
        metadata_(frameshm::Metadata::decode(info.metadata)) {}

  py::array array() { return frameArray(base(), format_, owner(), false); }
  std::vector<py::array> planes() { return planeArrays(base(), format_, owner(), false); }
  py::array bytes() {
    return makeArray(base(), {static_cast<py::ssize_t>(info_.bytes)}, {1}, owner(), false);
  }
  bool intact() {
    if (copy_) return true;
    if (!view_) throw py::value_error("the frame was released");
    return view_->intact();
  }
  void release() { view_.reset(); }
  [[nodiscard]] const frameshm::FrameFormat& format() const { return format_; }
  [[nodiscard]] const frameshm::FrameInfo& info() const { return info_; }
  [[nodiscard]] bool isCopy() const { return copy_ != nullptr; }
  py::dict metadata() {
    if (!metadata_) raise(metadata_.error());
    return toDict(*metadata_);
  }

 private:
  std::byte* base() {
    if (copy_) return copy_->data();
    if (!view_) throw py::value_error("the frame was released: its arrays are gone with it");
    // Read-only arrays are made over it; numpy's API takes a non-const pointer.
    return const_cast<std::byte*>(view_->data().data());
  }
  py::object owner() {
    if (copy_) return py::capsule(new std::shared_ptr<std::vector<std::byte>>(copy_), [](void* p) {
      delete static_cast<std::shared_ptr<std::vector<std::byte>>*>(p);
    });
    return py::capsule(new std::shared_ptr<frameshm::Frame>(view_),
                       [](void* p) { delete static_cast<std::shared_ptr<frameshm::Frame>*>(p); });
  }

  std::shared_ptr<frameshm::Frame> view_;
  std::shared_ptr<std::vector<std::byte>> copy_;
  frameshm::FrameFormat format_{};
  frameshm::FrameInfo info_{};
  frameshm::Result<frameshm::Metadata> metadata_;  // copied with the frame, validated
};

class PyConsumer {
 public:
  PyConsumer(const std::string& feed, std::optional<double> timeout, double spin, bool pin, bool pollable,
             const std::string& delivery) {
    frameshm::ConsumerOptions options{.feed = feed,
                                      .spin = toMicroseconds(spin, "spin"),
                                      .pin = pin,
                                      .pollable = pollable,
                                      .delivery = toDelivery(delivery)};
    // open() itself waits without slices; Ctrl-C is honoured between short opens.
    const std::optional<std::chrono::microseconds> limit =
        timeout ? std::optional(toMicroseconds(*timeout, "timeout")) : std::nullopt;
    auto opened = waitInSlices(limit, [&](std::chrono::microseconds slice) {
      options.openTimeout = std::chrono::duration_cast<std::chrono::milliseconds>(slice);
      auto result = frameshm::Consumer::open(options);
      // A missing feed within a wait is "not yet": keep waiting like the C++ openTimeout does.
      if (!result && result.error().code == frameshm::ErrorCode::NotFound && limit != std::chrono::microseconds(0)) {
        return frameshm::Result<frameshm::Consumer>(
            std::unexpected(frameshm::Error{frameshm::ErrorCode::Timeout, result.error().message}));
      }
      return result;
    });
    if (!opened && opened.error().code == frameshm::ErrorCode::Timeout && timeout) {
      raise({frameshm::ErrorCode::Timeout,
             "feed '" + feed + "' did not appear within " + py::str("{:g}").format(*timeout).cast<std::string>() +
                 " s (is its producer running?)"});
    }
    consumer_.emplace(unwrap(std::move(opened)));
  }

  PyFrame waitFrame(std::optional<double> timeout) {
    const std::optional<std::chrono::microseconds> limit =
        timeout ? std::optional(toMicroseconds(*timeout, "timeout")) : std::nullopt;
    auto& consumer = get();  // may raise: not inside the GIL-free wait
    auto frame = waitInSlices(limit, [&](std::chrono::microseconds slice) { return consumer.waitFrame(slice); });
    return PyFrame(unwrap(std::move(frame)));
  }

  std::optional<PyFrame> tryFrame() {
    auto frame = get().tryFrame();
    if (!frame && frame.error().code == frameshm::ErrorCode::NoFrame) return std::nullopt;
    return PyFrame(unwrap(std::move(frame)));
  }

  PyFrame read(std::optional<double> timeout) {
    const std::optional<std::chrono::microseconds> limit =
        timeout ? std::optional(toMicroseconds(*timeout, "timeout")) : std::nullopt;
    auto& consumer = get();
    auto buffer = std::make_shared<std::vector<std::byte>>(consumer.format().frameSize);
    auto info = waitInSlices(limit, [&](std::chrono::microseconds slice) {
      // A new generation may have grown the frame.
      if (buffer->size() < consumer.format().frameSize) buffer->resize(consumer.format().frameSize);
      return consumer.readInto(*buffer, slice);
    });
    const auto got = unwrap(std::move(info));
    return PyFrame(std::move(buffer), consumer.format(), got);
  }

  // Iteration: every next frame until the feed ends or its producer dies.
  PyFrame next() {
    auto& consumer = get();
    auto frame = waitInSlices(std::nullopt, [&](std::chrono::microseconds slice) { return consumer.waitFrame(slice); });
    if (!frame && (frame.error().code == frameshm::ErrorCode::FeedEnded ||
                   frame.error().code == frameshm::ErrorCode::ProducerGone)) {
      throw py::stop_iteration();
    }
    return PyFrame(unwrap(std::move(frame)));
  }

  py::dict stats() {
    const auto s = get().stats();
    py::dict d;
    d["frames_read"] = s.framesRead;
    d["frames_dropped"] = s.framesDropped;
    d["frames_torn"] = s.framesTorn;
    d["generations"] = s.generations;
    d["frame_rate"] = get().frameRate();
    return d;
  }

  int fileno() {
    const int fd = get().pollFd();
    if (fd < 0) {
      raise({frameshm::ErrorCode::InvalidState,
             "feed '" + get().feed() + "' was opened without pollable=True: it has no descriptor to wait on"});
    }
    return fd;
  }

  void close() { consumer_.reset(); }
  frameshm::Consumer& get() {
    if (!consumer_) raise({frameshm::ErrorCode::InvalidState, "the consumer is closed"});
    return *consumer_;
  }

 private:
  std::optional<frameshm::Consumer> consumer_;
};

// A slot being filled in place: writable arrays over the shared memory. The
// slot and every array made from it share ownership of the Producer, whose
// mapping they view: a closed producer has ended its feed, but its memory
// stays mapped until the last of them is gone.
struct SlotState {
  std::shared_ptr<frameshm::Producer> producer;  // destroyed after the slot
  frameshm::WriteSlot slot;
};

class PyWriteSlot {
 public:
  PyWriteSlot(std::shared_ptr<frameshm::Producer> producer, frameshm::WriteSlot slot)
      : state_(std::make_shared<SlotState>(SlotState{std::move(producer), std::move(slot)})),
        format_(state_->producer->format()) {}
  py::array array() { return frameArray(base(), format_, owner(), true); }
  std::vector<py::array> planes() { return planeArrays(base(), format_, owner(), true); }
  [[nodiscard]] std::uint64_t number() const { return state_->slot ? state_->slot.frameNumber() : 0; }
  // The slot, to publish; it is this object's no longer.
  frameshm::WriteSlot take() {
    if (!state_->slot) raise({frameshm::ErrorCode::InvalidState, "the slot was already published or abandoned"});
    return std::move(state_->slot);
  }
  void abandon() { state_->slot = {}; }
  [[nodiscard]] const SlotState& state() const { return *state_; }

 private:
  std::byte* base() {
    if (!state_->slot) throw py::value_error("the slot was already published or abandoned");
    return state_->slot.data().data();
  }
  py::object owner() {
    return py::capsule(new std::shared_ptr<SlotState>(state_),
                       [](void* p) { delete static_cast<std::shared_ptr<SlotState>*>(p); });
  }
  std::shared_ptr<SlotState> state_;
  frameshm::FrameFormat format_;
};

// A frame rate in frames per second as a fraction, the way GStreamer writes
// it: 30 as 30/1, 29.97 as 30000/1001, 12.5 as 25/2; 0 is "unknown".
frameshm::Rate toRate(double fps) {
  if (!(fps >= 0) || fps > 1000) throw py::value_error("fps must be between 0 (unknown) and 1000");
  if (fps == 0) return {0, 1};
  const double ntsc = fps * 1001.0 / 1000.0;
  if (std::abs(ntsc - std::round(ntsc)) < 1e-3 && std::abs(fps - std::round(fps)) > 1e-3) {
    return {static_cast<std::uint32_t>(std::lround(ntsc)) * 1000, 1001};
  }
  const auto milli = static_cast<std::uint32_t>(std::lround(fps * 1000));
  const auto common = std::gcd(milli, 1000u);
  return {milli / common, 1000 / common};
}

frameshm::FrameMeta makeMeta(std::int64_t pts, std::int64_t captureNs, std::int64_t duration, std::uint32_t flags) {
  return {.captureNs = captureNs, .pts = pts, .duration = duration, .flags = flags};
}

class PyProducer {
 public:
  PyProducer(const std::string& feed, const std::string& formatName, std::uint32_t width,
             std::uint32_t height, double fps, std::uint32_t slots, std::uint32_t maxReaders,
             std::uint32_t mode, bool replace, const std::string& caps, const std::string& backendName,
             std::uint32_t metadataBytes) {
    const auto pixelFormat = frameshm::parsePixelFormat(formatName);
    if (!pixelFormat) {
      std::string known;
      for (const auto f : frameshm::allPixelFormats()) known += std::string(known.empty() ? "" : ", ") + std::string(frameshm::toString(f));
      raise({frameshm::ErrorCode::UnsupportedFormat, "unknown pixel format '" + formatName + "' (one of " + known + ")"});
    }
    const auto format = unwrap(frameshm::makeFormat(*pixelFormat, width, height, toRate(fps)));
    const auto backend = frameshm::backendFromString(backendName);
    if (!backend) {
      raise({frameshm::ErrorCode::InvalidArgument, "unknown backend '" + backendName + "' (memfd, posix or sysv)"});
    }
    producer_ = std::make_shared<frameshm::Producer>(
        unwrap(frameshm::Producer::create({.feed = feed,
                                           .format = format,
                                           .slots = slots,
                                           .maxReaders = maxReaders,
                                           .mode = static_cast<mode_t>(mode),
                                           .replace = replace,
                                           .caps = caps,
                                           .backend = *backend,
                                           .metadataBytes = metadataBytes})));
  }

  PyWriteSlot acquire() { return PyWriteSlot(producer_, unwrap(get().acquire())); }

  std::uint64_t publish(PyWriteSlot& slot, std::int64_t pts, std::int64_t captureNs, std::int64_t duration,
                        std::uint32_t flags, const py::object& metadata) {
    auto& producer = get();
    if (slot.state().producer.get() != &producer) {
      raise({frameshm::ErrorCode::InvalidArgument, "the slot belongs to another producer"});
    }
    const auto entries = toMetadata(metadata);  // before take(): a bad value leaves the slot as it was
    auto taken = slot.take();
    unwrap(taken.setMetadata(entries));
    return unwrap(producer.publish(std::move(taken), makeMeta(pts, captureNs, duration, flags)));
  }

  // Copies `frame` in: its shape and dtype must be those of a slot's .array.
  std::uint64_t write(const py::array& frame, std::int64_t pts, std::int64_t captureNs, std::int64_t duration,
                      std::uint32_t flags, const py::object& metadata) {
    auto& producer = get();
    const auto entries = toMetadata(metadata);
    const auto& f = producer.format();
    if (frame.dtype().kind() != 'u' || frame.itemsize() != 1) {
      throw py::value_error("frame must be a uint8 array, got dtype " + std::string(py::str(frame.dtype())));
    }
    // The expected shape is that of the slot's own array.
    const auto slotShape = [&] {
      if (f.planeCount == 1) return planeShape(f, 0).shape;
      if (!stacksAsOneImage(f)) {
        throw py::value_error(frameshm::describe(f) + " has padded planes: fill acquire().planes instead of write()");
      }
      return std::vector<py::ssize_t>{static_cast<py::ssize_t>(f.frameSize / f.planes[0].stride),
                                      static_cast<py::ssize_t>(f.planes[0].stride)};
    }();
    std::vector<py::ssize_t> shape(frame.shape(), frame.shape() + frame.ndim());
    if (shape != slotShape) {
      const auto text = [](const std::vector<py::ssize_t>& s) {
        std::string out = "(";
        for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
        return out + (s.size() == 1 ? ",)" : ")");
      };
      throw py::value_error("frame has shape " + text(shape) + ", feed '" + producer.feed() + "' (" +
                            frameshm::describe(f) + ") takes " + text(slotShape));
    }
    // Rows must be contiguous inside; numpy makes a copy only when they are not.
    py::array rows = frame;
    const bool rowsContiguous = [&] {
      py::ssize_t expect = 1;
      for (auto d = frame.ndim() - 1; d >= 1; --d) {
        if (frame.strides(d) != expect) return false;
        expect *= frame.shape(d);
      }
      return true;
    }();
    if (!rowsContiguous) rows = py::array::ensure(frame, py::array::c_style);
    const auto rowBytes = static_cast<std::size_t>(rows.size() / std::max<py::ssize_t>(rows.shape(0), 1));
    const auto* src = static_cast<const std::byte*>(rows.data());
    const auto srcStride = static_cast<std::size_t>(rows.strides(0));
    auto slot = unwrap(producer.acquire());
    unwrap(slot.setMetadata(entries));
    const std::size_t dstStride = f.planes[0].stride;
    {
      py::gil_scoped_release released;
      std::byte* dst = slot.data().data();
      const auto height = static_cast<std::size_t>(rows.shape(0));
      if (srcStride == rowBytes && dstStride == rowBytes) {
        std::memcpy(dst, src, rowBytes * height);
      } else {
        for (std::size_t y = 0; y < height; ++y) std::memcpy(dst + y * dstStride, src + y * srcStride, rowBytes);
      }
    }
    return unwrap(producer.publish(std::move(slot), makeMeta(pts, captureNs, duration, flags)));
  }

  // Ends the feed now; the producer's memory goes with the last slot array.
  void close() {
    if (producer_) producer_->end();
    producer_.reset();
  }
  frameshm::Producer& get() {
    if (!producer_) raise({frameshm::ErrorCode::InvalidState, "the producer is closed"});
    return *producer_;
  }

 private:
  std::shared_ptr<frameshm::Producer> producer_;
};

void registerExceptions(py::module_& m) {
  using frameshm::ErrorCode;
  static py::exception<void> base(m, "Error");
  base.doc() = "Base class of every error frameshm raises; str(e) says what is wrong and what to do.";
  const struct {
    ErrorCode code;
    const char* name;
    PyObject* alsoA;  // a built-in class the error is also an instance of, or nullptr
  } classes[] = {
      {ErrorCode::InvalidArgument, "InvalidArgument", PyExc_ValueError},
      {ErrorCode::InvalidFeedName, "InvalidFeedName", PyExc_ValueError},
      {ErrorCode::UnsupportedFormat, "UnsupportedFormat", PyExc_ValueError},
      {ErrorCode::NotFound, "NotFound", nullptr},
      {ErrorCode::PermissionDenied, "PermissionDenied", PyExc_PermissionError},
      {ErrorCode::AlreadyProduced, "AlreadyProduced", nullptr},
      {ErrorCode::AbiMismatch, "AbiMismatch", nullptr},
      {ErrorCode::Corrupt, "Corrupt", nullptr},
      {ErrorCode::Timeout, "Timeout", PyExc_TimeoutError},
      {ErrorCode::NoFrame, "NoFrame", nullptr},
      {ErrorCode::ProducerGone, "ProducerGone", nullptr},
      {ErrorCode::FeedEnded, "FeedEnded", nullptr},
      {ErrorCode::TakenOver, "TakenOver", nullptr},
      {ErrorCode::ReadersFull, "ReadersFull", nullptr},
      {ErrorCode::InvalidState, "InvalidState", nullptr},
      {ErrorCode::SystemError, "SystemCallError", PyExc_OSError},
  };
  for (const auto& c : classes) {
    py::object bases = c.alsoA ? py::object(py::make_tuple(base, py::handle(c.alsoA))) : py::object(base);
    py::object cls = py::reinterpret_steal<py::object>(
        PyErr_NewException((std::string("frameshm.") + c.name).c_str(), bases.ptr(), nullptr));
    m.attr(c.name) = cls;
    exceptionClasses()[c.code] = cls;
  }
}

}  // namespace

PYBIND11_MODULE(_frameshm, m) {
  m.doc() = "frameshm: video frames between processes through shared memory, as numpy arrays without a copy.";
  registerExceptions(m);

  m.def(
      "pixel_formats", [] {
        std::vector<std::string> names;
        for (const auto f : frameshm::allPixelFormats()) names.emplace_back(frameshm::toString(f));
        return names;
      },
      "The pixel formats a feed can carry, by GStreamer's names.");

  py::class_<frameshm::MetaTimestamp>(m, "Timestamp", R"(A time on a named clock, for Frame.metadata.

The metadata key names the clock as GStreamer reference-timestamp caps, e.g.
{"timestamp/x-ptp": frameshm.Timestamp(ptp_ns)}; frameshmsrc turns such an
entry into a GstReferenceTimestampMeta.)")
      .def(py::init([](std::int64_t ns, std::int64_t durationNs) {
             return frameshm::MetaTimestamp{ns, durationNs};
           }),
           py::arg("ns"), py::arg("duration_ns") = -1)
      .def_readwrite("ns", &frameshm::MetaTimestamp::ns)
      .def_readwrite("duration_ns", &frameshm::MetaTimestamp::durationNs)
      .def("__eq__",
           [](const frameshm::MetaTimestamp& a, const frameshm::MetaTimestamp& b) { return a == b; })
      .def("__repr__", [](const frameshm::MetaTimestamp& t) {
        return "frameshm.Timestamp(" + std::to_string(t.ns) +
               ", duration_ns=" + std::to_string(t.durationNs) + ")";
      });

  py::class_<PyFrame>(m, "Frame", R"(One frame of a feed.

From wait_frame()/try_frame()/iteration it is a read-only view of the shared
memory itself (no copy): read .array or .planes, then call .intact() to learn
whether the producer overwrote the slot meanwhile. From read() it is a private
copy the library already confirmed intact. The frame (its mapping, and its pin
when the consumer pins) lives while the Frame or any of its arrays does.)")
      .def_property_readonly("array", &PyFrame::array,
                             "The frame as one read-only uint8 array: (height, width, channels) for packed "
                             "formats, (height, width) for GRAY8, the stacked (height * 3 / 2, width) image "
                             "OpenCV takes for I420 and NV12.")
      .def_property_readonly("planes", &PyFrame::planes,
                             "Read-only arrays, one per plane: I420 Y, U, V (rows, columns); NV12 Y and UV "
                             "(rows, columns, 2); YUY2/UYVY (height, width, 2); packed formats one array.")
      .def_property_readonly("data", &PyFrame::bytes,
                             "Every byte of the frame (padding included) as one read-only 1-D uint8 array.")
      .def("intact", &PyFrame::intact,
           "True if the producer has not touched the slot since the frame was taken, so everything read "
           "from it so far belongs to this frame.")
      .def("release", &PyFrame::release, "Lets go of the frame (arrays made from it keep it until they go).")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyFrame& self, py::args) { self.release(); })
      .def_property_readonly(
          "number", [](const PyFrame& f) { return f.info().number; }, "Frame number, from 1.")
      .def_property_readonly(
          "dropped_before", [](const PyFrame& f) { return f.info().droppedBefore; },
          "Frames of the feed this consumer missed just before this one.")
      .def_property_readonly("generation", [](const PyFrame& f) { return f.info().generation; })
      .def_property_readonly(
          "publish_ns", [](const PyFrame& f) { return f.info().publishNs; },
          "CLOCK_MONOTONIC when it was published, ns.")
      .def_property_readonly(
          "pts", [](const PyFrame& f) { return f.info().meta.pts; }, "Presentation time, ns, or -1.")
      .def_property_readonly(
          "capture_ns", [](const PyFrame& f) { return f.info().meta.captureNs; },
          "CLOCK_MONOTONIC at capture, ns, or -1.")
      .def_property_readonly(
          "meta", [](const PyFrame& f) { return metaDict(f.info().meta); },
          "capture_ns, pts, duration and flags, as a dict.")
      .def_property_readonly(
          "format", [](const PyFrame& f) { return formatDict(f.format()); },
          "pixel_format, width, height, frame_size, rate and planes (stride, offset, rows).")
      .def_property_readonly("is_copy", &PyFrame::isCopy)
      .def_property_readonly(
          "metadata", &PyFrame::metadata,
          "The producer's metadata for this frame, a dict (str to int, float, str, bytes or "
          "Timestamp); copied with the frame and validated. Raises Corrupt if it is malformed.");

  py::class_<PyConsumer>(m, "Consumer", R"(Reads a feed by name.

    with frameshm.Consumer("cam0", timeout=5) as feed:
        for frame in feed:                  # every new frame until the feed ends
            brightness = frame.array.mean()  # read in place, no copy
            if frame.intact():               # not overwritten meanwhile
                print(frame.number, brightness)

timeout: seconds to wait for the feed to appear (None: forever; 0: not at all).
spin: seconds to spin around a frame's expected arrival before blocking.
pin: keep each frame's slot from the producer while the frame lives.
delivery: "latest" (default: the newest frame, older ones skipped) or
"sequential" (every frame in order while the ring holds it; past that it
skips ahead and counts the lost frames in stats["frames_dropped"]).
pollable: give the consumer a descriptor (fileno()) for selectors, asyncio,
  Qt or GLib loops; it costs the producer one write per frame for this
  reader only.)")
      .def(py::init<const std::string&, std::optional<double>, double, bool, bool, const std::string&>(),
           py::arg("feed"), py::arg("timeout") = 0.0, py::arg("spin") = 0.0, py::arg("pin") = false,
           py::arg("pollable") = false, py::arg("delivery") = "latest")
      .def("fileno", &PyConsumer::fileno,
           "With pollable=True, a descriptor that becomes readable when a frame is published or the feed "
           "changes state; then call try_frame() until it returns None. Never read or close it. While no "
           "producer is attached nothing makes it readable: also call try_frame() now and then.")
      .def("wait_frame", &PyConsumer::waitFrame, py::arg("timeout") = 1.0,
           "The next frame newer than the last one, waiting up to timeout seconds (None: forever). Raises "
           "Timeout, FeedEnded or ProducerGone (once, then waits for the feed to come back).")
      .def("try_frame", &PyConsumer::tryFrame,
           "The newest frame if it is newer than the last one, else None.")
      .def("read", &PyConsumer::read, py::arg("timeout") = 1.0,
           "Like wait_frame, but returns a private copy that is confirmed intact.")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", &PyConsumer::next)
      .def("close", &PyConsumer::close, "Leaves the feed.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyConsumer& self, py::args) { self.close(); })
      .def_property_readonly("stats", &PyConsumer::stats,
                             "frames_read, frames_dropped, frames_torn, generations and frame_rate.")
      .def_property_readonly("format", [](PyConsumer& c) { return formatDict(c.get().format()); })
      .def_property_readonly("caps", [](PyConsumer& c) { return c.get().caps(); })
      .def_property_readonly("feed", [](PyConsumer& c) { return c.get().feed(); })
      .def_property_readonly("generation", [](PyConsumer& c) { return c.get().generation(); });

  py::class_<PyWriteSlot>(m, "WriteSlot", "A slot being filled in place; publish it with Producer.publish.")
      .def_property_readonly("array", &PyWriteSlot::array, "The slot as one writable uint8 array (shapes as Frame.array).")
      .def_property_readonly("planes", &PyWriteSlot::planes, "Writable arrays, one per plane (as Frame.planes).")
      .def_property_readonly("number", &PyWriteSlot::number, "The frame number it will be published as.")
      .def("abandon", &PyWriteSlot::abandon, "Gives the slot up unpublished; readers never see it.");

  py::class_<PyProducer>(m, "Producer", R"(Publishes frames into a named feed.

    with frameshm.Producer("cam0", format="BGR", width=640, height=480, fps=30) as feed:
        feed.write(image)                  # copies a (480, 640, 3) uint8 array in
        slot = feed.acquire()              # or fill a slot in place, no copy
        slot.array[:] = 0
        feed.publish(slot)

The producer never waits for a consumer. Closing it (or leaving the with
block) ends the feed. backend: "memfd" (default: sealed, nothing on disk),
"posix" (/dev/shm/frameshm.<feed>) or "sysv" (a System V segment).)")
      .def(py::init<const std::string&, const std::string&, std::uint32_t, std::uint32_t, double,
                    std::uint32_t, std::uint32_t, std::uint32_t, bool, const std::string&, const std::string&,
                    std::uint32_t>(),
           py::arg("feed"), py::kw_only(), py::arg("format") = "BGR", py::arg("width") = 640,
           py::arg("height") = 480, py::arg("fps") = 30.0, py::arg("slots") = 3, py::arg("max_readers") = 16,
           py::arg("mode") = 0600, py::arg("replace") = false, py::arg("caps") = "",
           py::arg("backend") = "memfd", py::arg("metadata_bytes") = 4096)
      .def("acquire", &PyProducer::acquire, "A slot to fill in place (one at a time).")
      .def("publish", &PyProducer::publish, py::arg("slot"), py::kw_only(), py::arg("pts") = -1,
           py::arg("capture_ns") = -1, py::arg("duration") = -1, py::arg("flags") = 0,
           py::arg("metadata") = py::none(),
           "Publishes an acquired slot with its metadata (a dict, see Frame.metadata); returns its frame "
           "number. "
           "Raises InvalidArgument if the metadata does not fit metadata_bytes.")
      .def("write", &PyProducer::write, py::arg("frame"), py::kw_only(), py::arg("pts") = -1,
           py::arg("capture_ns") = -1, py::arg("duration") = -1, py::arg("flags") = 0,
           py::arg("metadata") = py::none(),
           "Copies a uint8 array of the slot's shape in and publishes it; returns its frame number. "
           "Raises ValueError for another shape or dtype.")
      .def("close", &PyProducer::close, "Ends the feed.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyProducer& self, py::args) { self.close(); })
      .def_property_readonly("format", [](PyProducer& p) { return formatDict(p.get().format()); })
      .def_property_readonly("feed", [](PyProducer& p) { return p.get().feed(); })
      .def_property_readonly("reader_count", [](PyProducer& p) { return p.get().readerCount(); })
      .def_property_readonly("frames_published",
                             [](PyProducer& p) { return p.get().stats().framesPublished; });
}
