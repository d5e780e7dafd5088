#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the gst-launch recipes of samples/gst end to end, with videotestsrc for
# the camera, fakesink for the display and UDP on loopback:
#   camera-to-feed → view-feed, snapshot; send-udp → receive-udp (another
#   feed) → snapshot, for both codecs. Each recipe must exit 0, the PNGs must
#   be real images, and no segment may be left behind.
# Usage: samples_test.sh <samples/gst directory>
set -u
# In a sanitizer build the plugin is instrumented and GStreamer's programs
# are not: they get the runtime preloaded (scripts/test.sh names it), without
# leak checks of GStreamer's own one-time allocations. Empty otherwise.
asan=""
if [ -n "${FRAMESHM_ASAN_PRELOAD:-}" ]; then
  asan="env LD_PRELOAD=$FRAMESHM_ASAN_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0"
fi
samples=$1
tmp=$(mktemp -d)
cam=t-sample-cam-$$
remote=t-sample-udp-$$
pids=""
cleanup() {
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
  rm -f "/dev/shm/frameshm.$cam" "/dev/shm/frameshm.$remote"
  rm -rf "$tmp"
}
trap cleanup EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }

# Runs a command with a deadline; its exit code, 137 when killed at the deadline.
run() { timeout -s KILL 60 "$@"; }

# Stops a gst-launch -e process with Ctrl-C and checks it exits 0.
interrupt() { # pid what
  kill -INT "$1"
  wait "$1"
  code=$?
  [ "$code" -eq 0 ] || fail "$2 exited $code after Ctrl-C"
}

png_size() { identify -format '%wx%h' "$1" 2>/dev/null; }

FEED=$cam SOURCE="videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1" \
  $asan "$samples/camera-to-feed.sh" >"$tmp/camera.log" 2>&1 &
camera=$!
pids="$pids $camera"

FEED=$cam SINK="fakesink num-buffers=30" run $asan "$samples/view-feed.sh" timeout=10000 >"$tmp/view.log" 2>&1 ||
  { fail "view-feed.sh"; cat "$tmp/view.log"; }

FEED=$cam OUT="$tmp/cam.png" run $asan "$samples/snapshot.sh" >"$tmp/snap.log" 2>&1 ||
  { fail "snapshot.sh"; cat "$tmp/snap.log"; }
[ "$(png_size "$tmp/cam.png")" = "320x240" ] || fail "snapshot of the camera feed is not a 320x240 PNG"

port=$((20000 + $$ % 20000))
for codec in jpeg raw; do
  port=$((port + 2))
  CODEC=$codec FEED=$remote PORT=$port WIDTH=320 HEIGHT=240 $asan "$samples/receive-udp.sh" >"$tmp/recv-$codec.log" 2>&1 &
  receiver=$!
  pids="$pids $receiver"
  sleep 1
  CODEC=$codec FEED=$cam HOST=127.0.0.1 PORT=$port WIDTH=320 HEIGHT=240 $asan "$samples/send-udp.sh" \
    >"$tmp/send-$codec.log" 2>&1 &
  sender=$!
  pids="$pids $sender"
  FEED=$remote OUT="$tmp/remote-$codec.png" run $asan "$samples/snapshot.sh" >"$tmp/snap-$codec.log" 2>&1 ||
    { fail "snapshot of the $codec UDP feed"; cat "$tmp/snap-$codec.log" "$tmp/recv-$codec.log" "$tmp/send-$codec.log"; }
  [ "$(png_size "$tmp/remote-$codec.png")" = "320x240" ] || fail "snapshot of the $codec UDP feed is not a 320x240 PNG"
  kill -INT "$sender"
  wait "$sender"
  interrupt "$receiver" "receive-udp.sh ($codec)"
  [ -e "/dev/shm/frameshm.$remote" ] && fail "receive-udp.sh ($codec) left its segment behind"
done

interrupt "$camera" "camera-to-feed.sh"
[ -e "/dev/shm/frameshm.$cam" ] && fail "camera-to-feed.sh left its segment behind"
grep -q ERROR "$tmp/camera.log" && { fail "camera-to-feed.sh reported an error"; cat "$tmp/camera.log"; }
pids=""
exit $status
