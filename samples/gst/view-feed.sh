#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Shows a frameshm feed on screen. No caps to type: they come from the feed.
#
#   FEED=cam0 samples/gst/view-feed.sh
#
# FEED   the feed name (default cam0)
# SINK   the video sink (default autovideosink; fakesink for a headless check)
# Extra arguments go to frameshmsrc, e.g. on-end=wait timeout=-1.
FEED=${FEED:-cam0}
# shellcheck disable=SC2086
exec gst-launch-1.0 frameshmsrc feed="$FEED" "$@" ! videoconvert ! ${SINK:-autovideosink}
