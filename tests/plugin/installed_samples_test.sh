#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs the build into a temporary prefix and runs the samples/gst recipes
# against the installed plugin only (GST_PLUGIN_PATH at the installed plugin
# directory, a fresh registry), as a user of an installed frameshm would.
# Usage: installed_samples_test.sh <build dir> <samples/gst directory>
set -eu
# In a sanitizer build the plugin is instrumented and GStreamer's programs
# are not: they get the runtime preloaded (scripts/test.sh names it), without
# leak checks of GStreamer's own one-time allocations. Empty otherwise.
asan=""
if [ -n "${FRAMESHM_ASAN_PRELOAD:-}" ]; then
  asan="env LD_PRELOAD=$FRAMESHM_ASAN_PRELOAD ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0"
fi
build=$1
samples=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
plugin=$(find "$work/prefix" -name libgstframeshm.so)
[ -n "$plugin" ] || { echo "FAIL: cmake --install did not install libgstframeshm.so"; exit 1; }
GST_PLUGIN_PATH=$(dirname "$plugin")
GST_REGISTRY=$work/registry.bin
export GST_PLUGIN_PATH GST_REGISTRY
$asan gst-inspect-1.0 frameshm | grep -q "Filename *$plugin" || { echo "FAIL: GStreamer does not load $plugin"; exit 1; }
exec "$here/samples_test.sh" "$samples"
