#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what is missing, builds frameshm's check presets (CMakePresets.json)
# into build/PRESET and runs the whole test suite: plain (Release, warnings as
# errors, every test), ASan+UBSan (every test), TSan (the library's own tests:
# OpenCV and GStreamer are not built with TSan), then the fuzzer for a bounded
# time. Fails if any test fails or a frameshm segment is left behind.
#
#   scripts/test.sh                 everything (what CI runs)
#   FRAMESHM_FUZZ_SECONDS=600 scripts/test.sh   fuzz for longer
#   FRAMESHM_SOAK_SECONDS=600 scripts/test.sh   soak for longer
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build
fuzz_seconds=${FRAMESHM_FUZZ_SECONDS:-60}
jobs=$(nproc)
export FRAMESHM_SOAK_SECONDS=${FRAMESHM_SOAK_SECONDS:-60}

"$root/scripts/install-deps.sh"

# Segments that exist before we start are someone else's: only new ones count.
before=$(ls /dev/shm | grep '^frameshm\.' || true)

step() { printf '\n=== %s ===\n' "$*"; }
# Every stage runs even when an earlier one failed, so that one run shows
# every problem; the script fails at the end if any stage did.
failed=()
run_ctest() {  # run_ctest NAME PRESET [ctest args...]: the preset's tests, with its environment
  local name=$1 preset=$2
  shift 2
  (cd "$root" && ctest --preset "$preset" -j"$jobs" "$@") || failed+=("$name")
}

# GStreamer remembers every plugin it has seen in a registry; each pass gets
# its own, inside its build folder, so that no test run leaves our plugin in
# the user's registry. A registry also remembers plugins that failed to load,
# so none is reused: every registry in that build folder (the pass's own and
# the ones the plugin tests keep) starts afresh.
registry() {  # registry PRESET PASS
  [ -d "$out/$1" ] && find "$out/$1" -name '*gst-registry.bin' -delete
  export GST_REGISTRY="$out/$1/$2.gst-registry.bin"
}

step "plain build (Release, warnings as errors)"
"$root/scripts/build.sh" plain || failed+=("plain build")
step "plain: every test"
registry plain plain
run_ctest "plain tests" plain

step "ASan+UBSan build"
"$root/scripts/build.sh" asan || failed+=("ASan+UBSan build")
step "ASan+UBSan: every test but the GStreamer plugin's and the Python module's"
# Leaks in third-party libraries (GTK, D-Bus, GStreamer's one-time
# allocations) are suppressed by library name (tests/lsan.supp, named by
# the preset); leaks in ours never are.
registry asan asan
run_ctest "ASan+UBSan tests" asan
step "ASan+UBSan: the GStreamer plugin's and the Python module's tests"
# gst-launch-1.0, gst-inspect-1.0, GStreamer's plugin scanner and python3 are
# not instrumented but load our instrumented plugin and module: the runtime must come first,
# and libstdc++ with it (python3 is not C++: without it ASan cannot find the real
# __cxa_throw, and the module's first exception aborts the interpreter).
# Preloaded into them, LeakSanitizer would report every system plugin they
# load (OpenNI2 drivers...), so this pass checks memory errors, not leaks.
registry asan asan-plugin
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so.6)" \
  run_ctest "ASan+UBSan plugin tests" asan-plugin

step "TSan build (library, its tests)"
"$root/scripts/build.sh" tsan || failed+=("TSan build")
step "TSan: library, multi-process and hardening tests"
# The preset sets die_after_fork=0: tests fork children that use the library
# beside a producer's socket thread; TSan would otherwise refuse any thread
# such a child starts (tests that fork readers fork them before any thread).
registry tsan tsan
run_ctest "TSan tests" tsan

step "fuzz build (clang-16, libFuzzer + ASan)"
"$root/scripts/build.sh" fuzz || failed+=("fuzz build")
step "fuzz: segment validation and the reader path, ${fuzz_seconds} s"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp "$root"/tests/fuzz/corpus/* "$corpus"/
"$out/fuzz/tests/fuzz/segment_fuzz" -max_total_time="$fuzz_seconds" -print_final_stats=1 \
  -artifact_prefix="$out/fuzz/" "$corpus" || failed+=("fuzzing")
step "fuzz: the socket handshake's parsers, ${fuzz_seconds} s"
"$out/fuzz/tests/fuzz/handshake_fuzz" -max_total_time="$fuzz_seconds" -print_final_stats=1 \
  -artifact_prefix="$out/fuzz/handshake-" || failed+=("handshake fuzzing")

step "leftovers in /dev/shm"
after=$(ls /dev/shm | grep '^frameshm\.' || true)
left=$(comm -13 <(echo "$before" | sort) <(echo "$after" | sort) | grep . || true)
if [ -n "$left" ]; then
  echo "the tests left segments behind in /dev/shm:" >&2
  echo "$left" >&2
  failed+=("leftovers in /dev/shm")
else
  echo "none"
fi

if [ ${#failed[@]} -gt 0 ]; then
  step "FAILED: ${failed[*]}"
  exit 1
fi
step "all tests passed"
