#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sends a frameshm feed to another machine as RTP over UDP (receive it there
# with receive-udp.sh).
#
#   FEED=cam0 HOST=192.168.1.20 PORT=5000 samples/gst/send-udp.sh
#
# CODEC  jpeg (default: JPEG, small and robust) or raw (RFC 4175 raw video:
#        no encoder, but WIDTH and HEIGHT must be given to both ends and the
#        network must carry the full bit rate)
FEED=${FEED:-cam0}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-5000}
case ${CODEC:-jpeg} in
  jpeg)
    exec gst-launch-1.0 frameshmsrc feed="$FEED" ! videoconvert ! video/x-raw,format=I420 ! jpegenc ! \
      rtpjpegpay ! udpsink host="$HOST" port="$PORT" ;;
  raw)
    exec gst-launch-1.0 frameshmsrc feed="$FEED" ! videoconvert ! videoscale ! \
      "video/x-raw,format=UYVY,width=${WIDTH:?WIDTH is needed for CODEC=raw},height=${HEIGHT:?HEIGHT is needed for CODEC=raw}" ! \
      rtpvrawpay ! udpsink host="$HOST" port="$PORT" ;;
  *)
    echo "send-udp.sh: CODEC must be jpeg or raw, not '$CODEC'" >&2
    exit 2 ;;
esac
