// SPDX-License-Identifier: LGPL-2.1-or-later
// The frameshm plugin: registers frameshmsink and frameshmsrc.
#include <gst/gst.h>

#include "gstframeshmsink.h"
#include "gstframeshmsrc.h"

static gboolean plugin_init(GstPlugin* plugin) {
  gboolean ok = FALSE;
  ok |= GST_ELEMENT_REGISTER(frameshmsink, plugin);
  ok |= GST_ELEMENT_REGISTER(frameshmsrc, plugin);
  return ok;
}

GST_PLUGIN_DEFINE(
    GST_VERSION_MAJOR, GST_VERSION_MINOR, frameshm,
    "Shared-memory video transport: publish raw video to any number of local readers without copies",
    plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
