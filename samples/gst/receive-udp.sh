#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Receives what send-udp.sh sends and publishes it as a local frameshm feed.
#
#   FEED=remote-cam0 PORT=5000 samples/gst/receive-udp.sh
#
# CODEC  jpeg (default) or raw, as on the sending side (raw needs WIDTH and HEIGHT)
# Ctrl-C ends the feed cleanly.
FEED=${FEED:-remote}
PORT=${PORT:-5000}
case ${CODEC:-jpeg} in
  jpeg)
    exec gst-launch-1.0 -e udpsrc port="$PORT" \
      caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26" ! \
      rtpjitterbuffer latency=50 ! rtpjpegdepay ! jpegdec ! videoconvert ! frameshmsink feed="$FEED" ;;
  raw)
    exec gst-launch-1.0 -e udpsrc port="$PORT" buffer-size=8388608 \
      caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=RAW,sampling=YCbCr-4:2:2,depth=(string)8,width=(string)${WIDTH:?WIDTH is needed for CODEC=raw},height=(string)${HEIGHT:?HEIGHT is needed for CODEC=raw},colorimetry=(string)BT601-5,payload=96" ! \
      rtpjitterbuffer latency=50 ! rtpvrawdepay ! videoconvert ! frameshmsink feed="$FEED" ;;
  *)
    echo "receive-udp.sh: CODEC must be jpeg or raw, not '$CODEC'" >&2
    exit 2 ;;
esac
