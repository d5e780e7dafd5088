#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# gst-inspect-1.0 shows the plugin and both elements with full metadata,
# every property with its blurb and default, and prints no warnings.
# Run by CTest with GST_PLUGIN_PATH and GST_REGISTRY set to the build tree.
set -u
# In a sanitizer build the plugin is instrumented and GStreamer's programs
# are not: they get the runtime preloaded (scripts/test.sh names it), without
# leak checks of GStreamer's own one-time allocations. Empty otherwise.
asan=""
if [ -n "${FRAMESHM_ASAN_PRELOAD:-}" ]; then
  asan="env LD_PRELOAD=$FRAMESHM_ASAN_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }

for what in frameshm frameshmsink frameshmsrc; do
  if ! $asan gst-inspect-1.0 "$what" >"$tmp/$what.out" 2>"$tmp/$what.err"; then
    fail "gst-inspect-1.0 $what exited with $?"
    cat "$tmp/$what.err"
  fi
  if grep -Eiq 'warn|critical|error' "$tmp/$what.err"; then
    fail "gst-inspect-1.0 $what printed warnings:"
    cat "$tmp/$what.err"
  fi
done

grep -q 'frameshmsink: frameshm video sink' "$tmp/frameshm.out" || fail "plugin does not list frameshmsink"
grep -q 'frameshmsrc: frameshm video source' "$tmp/frameshm.out" || fail "plugin does not list frameshmsrc"
grep -q 'License *LGPL' "$tmp/frameshm.out" || fail "plugin licence missing"

for element in frameshmsink frameshmsrc; do
  for field in Long-name Klass Description Author Example; do
    grep -Eq "^  $field +[^ ]" "$tmp/$element.out" || fail "$element has no $field"
  done
  grep -q 'Example *gst-launch-1.0 ' "$tmp/$element.out" || fail "$element example is not a gst-launch line"
done

# Our own properties, each with a blurb line (" : text") and, if writable, a default.
check_property() { # element property
  grep -Eq "^  $2 +: [A-Z]" "$tmp/$1.out" || fail "$1 property $2 missing or without blurb"
  awk -v p="$2" '$1 == p { found = 1; next } found && /Default:/ { ok = 1; exit } found && /^  [a-z]/ { exit }
                 END { exit ok ? 0 : 1 }' "$tmp/$1.out" || fail "$1 property $2 shows no default"
}
for p in feed slots mode replace offer-slots socket-dir metadata-bytes backend readers frames-published frames-in-place frames-dropped; do
  check_property frameshmsink "$p"
done
for p in feed timeout is-live on-end zero-copy spin delivery socket-dir do-timestamp frames-read frames-dropped frames-torn frames-copied \
         generations; do
  check_property frameshmsrc "$p"
done
# The counters in one read-only structure, as rtpjitterbuffer's stats.
for element in frameshmsink frameshmsrc; do
  grep -Eq "^  stats +: [A-Z]" "$tmp/$element.out" || fail "$element property stats missing or without blurb"
  grep -A2 -E "^  stats +:" "$tmp/$element.out" | grep -q 'Boxed pointer of type "GstStructure"' ||
    fail "$element stats is not a GstStructure"
done
grep -q '(0): eos' "$tmp/frameshmsrc.out" || fail "on-end does not list eos"
grep -q '(1): wait' "$tmp/frameshmsrc.out" || fail "on-end does not list wait"

exit $status
