// SPDX-License-Identifier: LGPL-2.1-or-later
#include "gstframeshmpool.h"

#include <span>

GST_DEBUG_CATEGORY_STATIC(gst_frameshm_slot_pool_debug);
#define GST_CAT_DEFAULT gst_frameshm_slot_pool_debug

namespace {

using frameshm::gst::SlotBox;

// What a slot-wrapping GstMemory carries, to return its slot when freed.
struct Lease {
  std::shared_ptr<SlotBox> box;
  std::uint64_t id;
};

void returnLease(gpointer data) {
  std::unique_ptr<Lease> lease(static_cast<Lease*>(data));
  SlotBox& box = *lease->box;
  std::lock_guard lock(box.mutex);
  if (box.leaseId == lease->id) {
    box.lent = frameshm::WriteSlot{};  // never published: readers never see it
    box.leaseId = 0;
  }
  --box.liveLeases;
  box.returned.notify_all();
  if (box.orphaned && box.liveLeases == 0) box.producer.reset();
}

}  // namespace

G_BEGIN_DECLS
#define GST_TYPE_FRAMESHM_SLOT_POOL (gst_frameshm_slot_pool_get_type())
G_DECLARE_FINAL_TYPE(GstFrameshmSlotPool, gst_frameshm_slot_pool, GST, FRAMESHM_SLOT_POOL, GstBufferPool)
G_END_DECLS

struct _GstFrameshmSlotPool {
  GstBufferPool parent;
  std::shared_ptr<SlotBox>* box;  // GObject runs no C++ constructors: set by newSlotPool
  gsize frameSize;
};

G_DEFINE_TYPE_WITH_CODE(GstFrameshmSlotPool, gst_frameshm_slot_pool, GST_TYPE_BUFFER_POOL,
                        GST_DEBUG_CATEGORY_INIT(gst_frameshm_slot_pool_debug, "frameshmslotpool", 0,
                                                "frameshmsink's pool of slot buffers"))

namespace {

// A fresh buffer per acquire: a slot when one can be lent, otherwise plain
// memory that render() copies (only one slot may be out per producer).
GstFlowReturn slotPoolAcquire(GstBufferPool* pool, GstBuffer** buffer, GstBufferPoolAcquireParams*) {
  auto* self = GST_FRAMESHM_SLOT_POOL(pool);
  const std::shared_ptr<SlotBox>& box = *self->box;
  {
    std::lock_guard lock(box->mutex);
    if (box->producer && !box->orphaned && !box->lent &&
        box->producer->format().frameSize == self->frameSize) {
      if (auto slot = box->producer->acquire()) {
        const std::span<std::byte> data = slot->data();
        auto* lease = new Lease{box, box->nextLeaseId++};
        box->lent = std::move(*slot);
        box->leaseId = lease->id;
        ++box->liveLeases;
        *buffer = gst_buffer_new();
        gst_buffer_append_memory(
            *buffer, gst_memory_new_wrapped(static_cast<GstMemoryFlags>(0), data.data(), data.size(), 0,
                                            data.size(), lease, returnLease));
        return GST_FLOW_OK;
      } else {
        GST_LOG_OBJECT(pool, "no slot to lend: %s", slot.error().message.c_str());
      }
    }
  }
  *buffer = gst_buffer_new_allocate(nullptr, self->frameSize, nullptr);
  return *buffer ? GST_FLOW_OK : GST_FLOW_ERROR;
}

// Buffers are never recycled: the next acquire lends whichever slot is free.
void slotPoolRelease(GstBufferPool*, GstBuffer* buffer) {
  gst_buffer_unref(buffer);
}

}  // namespace

static void gst_frameshm_slot_pool_finalize(GObject* object) {
  delete GST_FRAMESHM_SLOT_POOL(object)->box;
  G_OBJECT_CLASS(gst_frameshm_slot_pool_parent_class)->finalize(object);
}

static void gst_frameshm_slot_pool_class_init(GstFrameshmSlotPoolClass* klass) {
  G_OBJECT_CLASS(klass)->finalize = gst_frameshm_slot_pool_finalize;
  GstBufferPoolClass* poolClass = GST_BUFFER_POOL_CLASS(klass);
  poolClass->acquire_buffer = slotPoolAcquire;
  poolClass->release_buffer = slotPoolRelease;
}

static void gst_frameshm_slot_pool_init(GstFrameshmSlotPool* self) {
  self->box = nullptr;
  self->frameSize = 0;
}

namespace frameshm::gst {

GstBufferPool* newSlotPool(const std::shared_ptr<SlotBox>& box, GstCaps* caps, gsize frameSize) {
  auto* pool = GST_FRAMESHM_SLOT_POOL(g_object_new(GST_TYPE_FRAMESHM_SLOT_POOL, nullptr));
  gst_object_ref_sink(pool);
  pool->box = new std::shared_ptr<SlotBox>(box);
  pool->frameSize = frameSize;
  GstStructure* config = gst_buffer_pool_get_config(GST_BUFFER_POOL(pool));
  gst_buffer_pool_config_set_params(config, caps, static_cast<guint>(frameSize), 0, 1);
  if (!gst_buffer_pool_set_config(GST_BUFFER_POOL(pool), config)) {
    gst_object_unref(pool);
    return nullptr;
  }
  return GST_BUFFER_POOL(pool);
}

std::optional<frameshm::WriteSlot> takeLentSlot(SlotBox& box, GstBuffer* buffer) {
  if (box.leaseId == 0 || gst_buffer_n_memory(buffer) != 1) return std::nullopt;
  GstMapInfo map;
  GstMemory* memory = gst_buffer_peek_memory(buffer, 0);
  if (!gst_memory_map(memory, &map, GST_MAP_READ)) return std::nullopt;
  const bool wrapsLent = reinterpret_cast<std::byte*>(map.data) == box.lent.data().data();
  gst_memory_unmap(memory, &map);
  if (!wrapsLent) return std::nullopt;
  box.leaseId = 0;
  box.returned.notify_all();
  return std::move(box.lent);
}

}  // namespace frameshm::gst
