// SPDX-License-Identifier: LGPL-2.1-or-later
// gstframeshmsink.h — frameshmsink, the element that publishes a pipeline's
// raw video as a frameshm feed.
//
// Each buffer becomes one frame of the feed named by `feed`, with its PTS,
// duration, flags and capture time (CLOCK_MONOTONIC). The sink never waits
// for a reader. A caps change starts a new generation of the feed, EOS ends
// it. Upstream elements that take the sink's buffer pool write straight into
// a slot; other buffers are copied in.
//
//   gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=BGRx ! frameshmsink feed=cam0
#pragma once

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_FRAMESHM_SINK (gst_frameshm_sink_get_type())
G_DECLARE_FINAL_TYPE(GstFrameshmSink, gst_frameshm_sink, GST, FRAMESHM_SINK, GstBaseSink)

// The C++ side of the element (producer, negotiated format, counters),
// created in _init and deleted in finalize.
struct GstFrameshmSinkState;

struct _GstFrameshmSink {
  GstBaseSink parent;

  // Properties, guarded by the object lock.
  gchar* feed;
  guint slots;
  guint mode;
  gchar* backend;  // "memfd", "posix" or "sysv"
  gboolean replace;
  gboolean offer_slots;
  guint metadata_bytes;
  gchar* socket_dir;  // null: FRAMESHM_SOCKET_DIR or the abstract name
  gboolean sync_set;  // the user set basesink's "sync": it is not chosen from upstream

  GstFrameshmSinkState* state;
};

GST_ELEMENT_REGISTER_DECLARE(frameshmsink);

G_END_DECLS
