// SPDX-License-Identifier: LGPL-2.1-or-later
// gstframeshmmeta.h — a frame's user metadata on GStreamer buffers, and the
// delivery policy of frameshmsrc.
//
// frameshmsink writes into each frame what the buffer carries: the entries of
// its FrameshmMeta (a GstCustomMeta the plugin registers, holding a
// GstStructure named "frameshm/metadata" whose fields are the entries: int64,
// double, string or GBytes values) and, as timestamp entries keyed by their
// reference caps, every GstReferenceTimestampMeta (timestamp/x-ptp,
// timestamp/x-unix, ...). frameshmsrc turns them back into the same metas on
// the buffers it pushes, so they go on downstream (encoders and payloaders
// copy both). Applications reach FrameshmMeta through GStreamer's own API:
//
//   GstCustomMeta* meta = gst_buffer_get_custom_meta(buffer, "FrameshmMeta");
//   gint64 exposure;
//   if (meta) gst_structure_get_int64(gst_custom_meta_get_structure(meta), "exposure-us", &exposure);
//
// The two element files call in here from a few lines only: render publishes
// through publishWithMetadata, create attaches with attachMetadata, and the
// source's class_init installs the delivery property.
#pragma once

#include <gst/gst.h>

#include <cstdint>

#include "frameshm/consumer.hpp"
#include "frameshm/error.hpp"
#include "frameshm/metadata.hpp"
#include "frameshm/producer.hpp"

namespace frameshm::gst {

// The name of the custom meta and of its structure.
inline constexpr const char* kFrameshmMetaName = "FrameshmMeta";
inline constexpr const char* kFrameshmMetaStructure = "frameshm/metadata";

// Registers FrameshmMeta once per process (a no-op if another copy of this
// code registered it already) and returns its info.
const GstMetaInfo* frameshmMetaInfo();

// The entries `buffer` carries: its FrameshmMeta fields (other field types
// are serialised as strings) and its reference timestamps.
// Errors: InvalidArgument (a key frameshm cannot carry, e.g. over 255 bytes).
[[nodiscard]] Result<Metadata> metadataOf(GstBuffer* buffer);

// Sets `buffer`'s metadata on `slot` and publishes it.
// Errors: as WriteSlot::setMetadata (then the slot is abandoned) and Producer::publish.
[[nodiscard]] Result<std::uint64_t> publishWithMetadata(Producer& producer, WriteSlot&& slot,
                                                        const FrameMeta& meta, GstBuffer* buffer);

// Adds the frame's metadata to `buffer`: timestamp entries as
// GstReferenceTimestampMeta, the others as one FrameshmMeta. Metadata the
// reader refused (Corrupt) is reported as an element warning and left out.
void attachMetadata(GstElement* element, GstBuffer* buffer, const Result<Metadata>& metadata);

// Installs frameshmsrc's "delivery" property (latest or sequential), handled
// here in front of the class's own set/get_property.
void installDeliveryProperty(GObjectClass* objectClass);
// The delivery an instance was given (Latest by default).
[[nodiscard]] Delivery deliveryOf(GObject* object);

}  // namespace frameshm::gst
