// SPDX-License-Identifier: LGPL-2.1-or-later
#include "gstframeshmmeta.h"

#include <string>

GST_DEBUG_CATEGORY_STATIC(gst_frameshm_meta_debug);
#define GST_CAT_DEFAULT gst_frameshm_meta_debug

namespace frameshm::gst {
namespace {

// Above any PROP_ of the element it is installed on.
constexpr guint kDeliveryPropertyId = 0x4000;

GType deliveryType() {
  static GType type = 0;
  if (g_once_init_enter(&type)) {
    static const GEnumValue values[] = {
        {static_cast<gint>(Delivery::Latest), "The newest frame, older ones skipped", "latest"},
        {static_cast<gint>(Delivery::Sequential),
         "Every frame in order while the feed's slots hold it; past that, skip ahead and count the loss",
         "sequential"},
        {0, nullptr, nullptr}};
    // Another copy of this code (a test linking it beside the plugin) may have registered it.
    const GType known = g_type_from_name("GstFrameshmSrcDelivery");
    g_once_init_leave(&type, known ? known : g_enum_register_static("GstFrameshmSrcDelivery", values));
  }
  return type;
}

GQuark deliveryQuark() {
  return g_quark_from_static_string("frameshm-delivery");
}

GObjectSetPropertyFunc parentSet = nullptr;
GObjectGetPropertyFunc parentGet = nullptr;

void setProperty(GObject* object, guint id, const GValue* value, GParamSpec* spec) {
  if (id != kDeliveryPropertyId) return parentSet(object, id, value, spec);
  // Stored as value + 1, so that "never set" (null) reads as the default.
  g_object_set_qdata(object, deliveryQuark(), GINT_TO_POINTER(g_value_get_enum(value) + 1));
}

void getProperty(GObject* object, guint id, GValue* value, GParamSpec* spec) {
  if (id != kDeliveryPropertyId) return parentGet(object, id, value, spec);
  g_value_set_enum(value, static_cast<gint>(deliveryOf(object)));
}

// A structure field as an entry.
Result<void> addField(Metadata& m, const char* key, const GValue* value) {
  const GType type = G_VALUE_TYPE(value);
  if (type == G_TYPE_INT64) return m.setInt(key, g_value_get_int64(value));
  if (type == G_TYPE_INT) return m.setInt(key, g_value_get_int(value));
  if (type == G_TYPE_UINT) return m.setInt(key, g_value_get_uint(value));
  if (type == G_TYPE_BOOLEAN) return m.setInt(key, g_value_get_boolean(value) ? 1 : 0);
  if (type == G_TYPE_DOUBLE) return m.setDouble(key, g_value_get_double(value));
  if (type == G_TYPE_FLOAT) return m.setDouble(key, g_value_get_float(value));
  if (type == G_TYPE_STRING)
    return m.setString(key, g_value_get_string(value) ? g_value_get_string(value) : "");
  if (type == G_TYPE_BYTES) {
    gsize size = 0;
    const auto* data = static_cast<const std::byte*>(
        g_bytes_get_data(static_cast<GBytes*>(g_value_get_boxed(value)), &size));
    return m.setBytes(key, {data, size});
  }
  gchar* text = gst_value_serialize(value);  // anything else: as GStreamer writes it
  auto set = m.setString(key, text ? text : "");
  g_free(text);
  return set;
}

}  // namespace

const GstMetaInfo* frameshmMetaInfo() {
  static const GstMetaInfo* info = nullptr;
  if (g_once_init_enter(&info)) {
    GST_DEBUG_CATEGORY_INIT(gst_frameshm_meta_debug, "frameshmmeta", 0, "frameshm per-frame metadata");
    const GstMetaInfo* known = gst_meta_get_info(kFrameshmMetaName);
    // No tags: encoders and payloaders copy it, like GstReferenceTimestampMeta.
    static const gchar* noTags[] = {nullptr};
    if (!known) known = gst_meta_register_custom(kFrameshmMetaName, noTags, nullptr, nullptr, nullptr);
    g_once_init_leave(&info, known);
  }
  return info;
}

Result<Metadata> metadataOf(GstBuffer* buffer) {
  Metadata m;
  frameshmMetaInfo();
  if (GstCustomMeta* custom = gst_buffer_get_custom_meta(buffer, kFrameshmMetaName)) {
    const GstStructure* s = gst_custom_meta_get_structure(custom);
    for (gint i = 0; i < gst_structure_n_fields(s); ++i) {
      const gchar* key = gst_structure_nth_field_name(s, static_cast<guint>(i));
      if (auto set = addField(m, key, gst_structure_get_value(s, key)); !set)
        return std::unexpected(set.error());
    }
  }
  gpointer state = nullptr;
  while (GstMeta* meta =
             gst_buffer_iterate_meta_filtered(buffer, &state, GST_REFERENCE_TIMESTAMP_META_API_TYPE)) {
    const auto* ts = reinterpret_cast<GstReferenceTimestampMeta*>(meta);
    gchar* caps = gst_caps_to_string(ts->reference);
    auto set = m.setTimestamp(
        caps,
        {.ns = static_cast<std::int64_t>(ts->timestamp),
         .durationNs = GST_CLOCK_TIME_IS_VALID(ts->duration) ? static_cast<std::int64_t>(ts->duration) : -1});
    g_free(caps);
    if (!set) return std::unexpected(set.error());
  }
  return m;
}

Result<std::uint64_t> publishWithMetadata(Producer& producer, WriteSlot&& slot, const FrameMeta& meta,
                                          GstBuffer* buffer) {
  WriteSlot owned = std::move(slot);  // abandoned if anything below fails
  auto metadata = metadataOf(buffer);
  if (!metadata) return std::unexpected(metadata.error());
  // The slot is never empty here: the one way setMetadata fails is metadata
  // larger than the feed's, which the sink's metadata-bytes sets.
  if (auto set = owned.setMetadata(*metadata); !set)
    return fail(set.error().code, set.error().message + ": raise frameshmsink's metadata-bytes");
  return producer.publish(std::move(owned), meta);
}

void attachMetadata(GstElement* element, GstBuffer* buffer, const Result<Metadata>& metadata) {
  if (!metadata) {
    GST_ELEMENT_WARNING(element, STREAM, DECODE, ("%s", metadata.error().message.c_str()),
                        ("the frame's metadata was left out"));
    return;
  }
  GstStructure* entries = nullptr;
  for (const MetaEntry& e : metadata->entries()) {
    if (e.type == MetaType::Timestamp) {
      GstCaps* reference = gst_caps_from_string(e.key.c_str());
      if (!reference) {
        GST_WARNING_OBJECT(element, "timestamp entry '%s' is not a caps string: left out", e.key.c_str());
        continue;
      }
      const MetaTimestamp t = *e.asTimestamp();
      gst_buffer_add_reference_timestamp_meta(
          buffer, reference, static_cast<GstClockTime>(t.ns),
          t.durationNs >= 0 ? static_cast<GstClockTime>(t.durationNs) : GST_CLOCK_TIME_NONE);
      gst_caps_unref(reference);
      continue;
    }
    if (!entries) {
      frameshmMetaInfo();
      entries = gst_custom_meta_get_structure(gst_buffer_add_custom_meta(buffer, kFrameshmMetaName));
    }
    switch (e.type) {
      case MetaType::Int:
        gst_structure_set(entries, e.key.c_str(), G_TYPE_INT64, static_cast<gint64>(*e.asInt()), nullptr);
        break;
      case MetaType::Double:
        gst_structure_set(entries, e.key.c_str(), G_TYPE_DOUBLE, *e.asDouble(), nullptr);
        break;
      case MetaType::String:
        gst_structure_set(entries, e.key.c_str(), G_TYPE_STRING, std::string(e.asString()).c_str(), nullptr);
        break;
      default: {
        GBytes* bytes = g_bytes_new(e.value.data(), e.value.size());
        gst_structure_set(entries, e.key.c_str(), G_TYPE_BYTES, bytes, nullptr);
        g_bytes_unref(bytes);
        break;
      }
    }
  }
}

void installDeliveryProperty(GObjectClass* objectClass) {
  frameshmMetaInfo();  // registered with the element, before any buffer needs it
  parentSet = objectClass->set_property;
  parentGet = objectClass->get_property;
  objectClass->set_property = setProperty;
  objectClass->get_property = getProperty;
  g_object_class_install_property(
      objectClass, kDeliveryPropertyId,
      g_param_spec_enum(
          "delivery", "Delivery",
          "Which frame comes next: latest (the newest, older ones skipped) or sequential (every "
          "frame in order while the feed's slots hold it, for recorders); applies when the "
          "source attaches",
          deliveryType(), static_cast<gint>(Delivery::Latest),
          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  gst_type_mark_as_plugin_api(deliveryType(), static_cast<GstPluginAPIFlags>(0));
}

Delivery deliveryOf(GObject* object) {
  const gint stored = GPOINTER_TO_INT(g_object_get_qdata(object, deliveryQuark()));
  return stored == 0 ? Delivery::Latest : static_cast<Delivery>(stored - 1);
}

}  // namespace frameshm::gst
