// SPDX-License-Identifier: LGPL-2.1-or-later
#include "gstframeshmpool.h"

#include <atomic>
#include <span>
#include <vector>

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

// Plain buffers kept for reuse while the one slot a producer lends is out.
struct PlainBuffers {
  std::mutex mutex;
  std::vector<GstBuffer*> free;
  // Plain buffers handed out and not yet back. No slot is lent while one
  // is out: it may still be queued on its way to the sink, and a slot lent
  // now would reach the sink after it, with no other slot to copy it into.
  std::atomic<std::uint32_t> out{0};
};

struct _GstFrameshmSlotPool {
  GstBufferPool parent;
  std::shared_ptr<SlotBox>* box;  // GObject runs no C++ constructors: set by newSlotPool
  PlainBuffers* plain;            // likewise
  gsize frameSize;
};

G_DEFINE_TYPE_WITH_CODE(GstFrameshmSlotPool, gst_frameshm_slot_pool, GST_TYPE_BUFFER_POOL,
                        GST_DEBUG_CATEGORY_INIT(gst_frameshm_slot_pool_debug, "frameshmslotpool", 0,
                                                "frameshmsink's pool of slot buffers"))

namespace {

// Marks the buffers that wrap a slot.
GQuark slotQuark() {
  static const GQuark quark = g_quark_from_static_string("frameshm-slot-buffer");
  return quark;
}

// A fresh buffer per acquire: a slot when one can be lent, otherwise plain
// memory that render() copies (only one slot may be out per producer).
GstFlowReturn slotPoolAcquire(GstBufferPool* pool, GstBuffer** buffer, GstBufferPoolAcquireParams*) {
  auto* self = GST_FRAMESHM_SLOT_POOL(pool);
  const std::shared_ptr<SlotBox>& box = *self->box;
  {
    std::lock_guard lock(box->mutex);
    if (box->producer && !box->orphaned && !box->lent && self->plain->out.load() == 0 &&
        box->producer->format().frameSize == self->frameSize) {
      if (auto slot = box->producer->acquire()) {
        const std::span<std::byte> data = slot->data();
        auto* lease = new Lease{box, box->nextLeaseId++};
        box->lent = std::move(*slot);
        box->leaseId = lease->id;
        ++box->liveLeases;
        *buffer = gst_buffer_new();
        gst_mini_object_set_qdata(GST_MINI_OBJECT(*buffer), slotQuark(), GINT_TO_POINTER(1), nullptr);
        gst_buffer_append_memory(
            *buffer, gst_memory_new_wrapped(static_cast<GstMemoryFlags>(0), data.data(), data.size(), 0,
                                            data.size(), lease, returnLease));
        return GST_FLOW_OK;
      } else {
        GST_LOG_OBJECT(pool, "no slot to lend: %s", slot.error().message.c_str());
      }
    }
  }
  {
    std::lock_guard lock(self->plain->mutex);
    if (!self->plain->free.empty()) {
      *buffer = self->plain->free.back();
      self->plain->free.pop_back();
      ++self->plain->out;
      return GST_FLOW_OK;
    }
  }
  *buffer = gst_buffer_new_allocate(nullptr, self->frameSize, nullptr);
  if (!*buffer) return GST_FLOW_ERROR;
  ++self->plain->out;
  return GST_FLOW_OK;
}

// Slot buffers are never recycled: the next acquire lends whichever slot is
// free. Plain ones are, a few of them: a fresh frame-sized allocation is
// new memory, and the copy out of it would page-fault it in every time (at
// 4K that made each frame written while the slot was out cost milliseconds).
constexpr std::size_t kPlainKept = 2;

void slotPoolRelease(GstBufferPool* pool, GstBuffer* buffer) {
  auto* self = GST_FRAMESHM_SLOT_POOL(pool);
  if (gst_mini_object_get_qdata(GST_MINI_OBJECT(buffer), slotQuark())) {
    gst_buffer_unref(buffer);
    return;
  }
  --self->plain->out;
  const bool reusable = gst_buffer_n_memory(buffer) == 1 &&
                        !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_TAG_MEMORY) &&
                        gst_buffer_get_size(buffer) == self->frameSize;
  if (reusable) {
    std::lock_guard lock(self->plain->mutex);
    if (self->plain->free.size() < kPlainKept) {
      self->plain->free.push_back(buffer);
      return;
    }
  }
  gst_buffer_unref(buffer);
}

}  // namespace

static void gst_frameshm_slot_pool_finalize(GObject* object) {
  auto* self = GST_FRAMESHM_SLOT_POOL(object);
  for (GstBuffer* buffer : self->plain->free) gst_buffer_unref(buffer);
  delete self->plain;
  delete self->box;
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
  self->plain = new PlainBuffers();
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
