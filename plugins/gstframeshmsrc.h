// SPDX-License-Identifier: LGPL-2.1-or-later
// gstframeshmsrc.h — frameshmsrc, the live source that reads a frameshm feed
// into a pipeline.
//
// The caps come from the feed itself (no caps to repeat by hand), the
// timestamps from the producer's capture times, and the frames, where it is
// safe, straight from the shared memory without a copy. The source follows
// the producer through restarts and caps changes and turns the feed's clean
// end into EOS.
//
//   gst-launch-1.0 frameshmsrc feed=cam0 ! videoconvert ! autovideosink
#pragma once

#include <gst/base/gstpushsrc.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_FRAMESHM_SRC (gst_frameshm_src_get_type())
G_DECLARE_FINAL_TYPE(GstFrameshmSrc, gst_frameshm_src, GST, FRAMESHM_SRC, GstPushSrc)

// What the source does when the producer ends the feed cleanly.
typedef enum {
  GST_FRAMESHM_SRC_ON_END_EOS,   // post EOS
  GST_FRAMESHM_SRC_ON_END_WAIT,  // wait for the next producer of the feed
} GstFrameshmSrcOnEnd;

#define GST_TYPE_FRAMESHM_SRC_ON_END (gst_frameshm_src_on_end_get_type())
GType gst_frameshm_src_on_end_get_type(void);

// The C++ side of the element (consumer, negotiated caps, buffer pool,
// counters), created in _init and deleted in finalize.
struct GstFrameshmSrcState;

struct _GstFrameshmSrc {
  GstPushSrc parent;

  // Properties, guarded by the object lock.
  gchar* feed;
  gint timeout;
  gboolean is_live;
  GstFrameshmSrcOnEnd on_end;
  gboolean zero_copy;
  guint spin;         // microseconds
  gchar* socket_dir;  // null: FRAMESHM_SOCKET_DIR or the abstract name

  GstFrameshmSrcState* state;
};

GST_ELEMENT_REGISTER_DECLARE(frameshmsrc);

G_END_DECLS
