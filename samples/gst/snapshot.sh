#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Saves the next frame of a frameshm feed as a PNG.
#
#   FEED=cam0 OUT=snapshot.png samples/gst/snapshot.sh
FEED=${FEED:-cam0}
exec gst-launch-1.0 -q frameshmsrc feed="$FEED" num-buffers=1 ! videoconvert ! pngenc ! \
  filesink location="${OUT:-snapshot.png}"
