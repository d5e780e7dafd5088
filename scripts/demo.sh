#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job on its built-in default: installs what is missing, builds, then
# runs the pattern producer (640x480 BGR at 30 fps, 10 s) feeding two
# consumers in their own processes, one keeping up and one taking 100 ms per
# frame, and prints what each of them measured. The slow one does not slow
# the producer or the other consumer.
#
#   scripts/demo.sh [--seconds N] [--fps R] [--width W --height H] [--format F]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/release
seconds=10 fps=30 width=640 height=480 format=BGR
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --fps) fps=$2; shift 2 ;;
    --width) width=$2; shift 2 ;;
    --height) height=$2; shift 2 ;;
    --format) format=$2; shift 2 ;;
    -h|--help) sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

"$root/scripts/install-deps.sh"
# The user's Release build (CMakePresets.json "release"), just the two programs.
"$root/scripts/build.sh" release --target frameshm-producer frameshm-consumer >/dev/null

feed="demo-$$"
logs=$(mktemp -d)
producer_pid=""
cleanup() {
  [ -n "$producer_pid" ] && kill "$producer_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f "/dev/shm/frameshm.$feed"
  rm -rf "$logs"
}
trap cleanup EXIT INT TERM

frames=$((seconds * fps))
echo "frameshm demo: pattern producer -> feed '$feed' ($format ${width}x${height} @ ${fps} fps, $frames frames)"
"$build/producer/frameshm-producer" --feed "$feed" --format "$format" --width "$width" --height "$height" \
  --fps "$fps" --frames "$frames" 2>"$logs/producer" &
producer_pid=$!
consumer_pids=()
for name in normal slow; do
  extra=()
  [ "$name" = slow ] && extra=(--slow-ms 100)
  "$build/consumer/frameshm-consumer" --feed "$feed" --verify --exit-on-end --stats-json "${extra[@]}" \
    >"$logs/$name.json" 2>"$logs/$name.log" &
  consumer_pids+=($!)
done
echo "consumer 1 keeps up; consumer 2 takes 100 ms per frame. Running for $seconds s..."
status=0
wait "$producer_pid" || { echo "demo: the producer failed:" >&2; cat "$logs/producer" >&2; status=1; }
producer_pid=""
for i in 0 1; do
  wait "${consumer_pids[$i]}" || { echo "demo: consumer $((i + 1)) failed" >&2; status=1; }
done

echo
echo "producer:   $(tail -n 1 "$logs/producer")"
echo "consumer 1: $(tail -n 1 "$logs/normal.log")"
echo "consumer 2: $(tail -n 1 "$logs/slow.log")"
echo
echo "figures (JSON, one line per consumer):"
cat "$logs/normal.json" "$logs/slow.json"
exit "$status"
