#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Configures and builds one of CMakePresets.json's presets into build/PRESET,
# keeping the configure log inside that folder:
#   scripts/build.sh PRESET [cmake --build arguments, e.g. --target frameshm-producer]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
preset=${1:?usage: scripts/build.sh PRESET [cmake --build arguments]}
shift
dir="$root/build/$preset"
mkdir -p "$dir"
cmake --preset "$preset" -S "$root" >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log" >&2; exit 1; }
cmake --build --preset "$preset" -j"$(nproc)" "$@"
