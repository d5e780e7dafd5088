#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Publishes a camera as a frameshm feed that any number of local programs read.
#
#   FEED=cam0 DEVICE=/dev/video0 samples/gst/camera-to-feed.sh
#
# FEED     the feed name (default cam0)
# DEVICE   the V4L2 device (default /dev/video0)
# SOURCE   a whole source instead of the camera, e.g. SOURCE="videotestsrc is-live=true"
# FORMAT   the pixel format published (default BGRx; any frameshm format)
# Extra arguments go to frameshmsink, e.g. slots=5 mode=0660.
# Ctrl-C ends the feed cleanly (-e: EOS first), so readers see it end.
# A camera is live, so frameshmsink publishes each frame as it arrives (it
# waits for the clock only behind a source that is not live, such as a file).
FEED=${FEED:-cam0}
SOURCE=${SOURCE:-v4l2src device=${DEVICE:-/dev/video0}}
# $SOURCE is split into words on purpose: it is a pipeline fragment.
# shellcheck disable=SC2086
exec gst-launch-1.0 -e $SOURCE ! videoconvert ! "video/x-raw,format=${FORMAT:-BGRx}" ! \
  frameshmsink feed="$FEED" "$@"
