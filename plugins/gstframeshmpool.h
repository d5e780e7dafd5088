// SPDX-License-Identifier: LGPL-2.1-or-later
// gstframeshmpool.h — the buffer pool frameshmsink proposes upstream, whose
// buffers are the feed's own slots, so that upstream writes frames in place.
//
// The producer lives in a SlotBox shared by the sink and by every buffer that
// wraps a slot: a buffer that outlives the element (or a stop) still gives
// its slot back to a live producer, never to unmapped memory. A producer
// lends one slot at a time; while it is out, the pool hands out plain memory
// that the sink copies.
//
//   auto box = std::make_shared<frameshm::gst::SlotBox>();
//   GstBufferPool* pool = frameshm::gst::newSlotPool(box, caps, format.frameSize);
//   gst_query_add_allocation_pool(query, pool, format.frameSize, 0, 1);
//   ...  // in render, with box->mutex held:
//   if (auto slot = frameshm::gst::takeLentSlot(*box, buffer)) box->producer->publish(std::move(*slot),
//   meta);
#pragma once

#include <gst/gst.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "frameshm/producer.hpp"

namespace frameshm::gst {

// The producer and the slot lent to upstream; every field is guarded by `mutex`.
struct SlotBox {
  std::mutex mutex;
  std::condition_variable returned;  // notified when a slot-wrapping memory is freed or its slot published
  std::optional<frameshm::Producer> producer;
  // Declared after the producer: destroyed (abandoned) before it.
  frameshm::WriteSlot lent;
  std::uint64_t leaseId = 0;  // the lease `lent` belongs to; 0: nothing lent
  // Slot-wrapping memories still alive, published or not: each points into
  // the current segment, which must stay mapped until they are freed.
  std::uint32_t liveLeases = 0;
  std::uint64_t nextLeaseId = 1;
  // The element has let go of this box: the producer ended the feed and is
  // destroyed when the last lent slot comes back.
  bool orphaned = false;
};

// A pool whose buffers wrap a slot of box's producer when one can be lent,
// plain memory otherwise; never recycled. Null if GStreamer refuses its config.
GstBufferPool* newSlotPool(const std::shared_ptr<SlotBox>& box, GstCaps* caps, gsize frameSize);

// The lent slot, if `buffer` is the pool buffer that wraps it (taken out of
// the box, to publish); nothing otherwise. Call with box.mutex held.
std::optional<frameshm::WriteSlot> takeLentSlot(SlotBox& box, GstBuffer* buffer);

}  // namespace frameshm::gst
