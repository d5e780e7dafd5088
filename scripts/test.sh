#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what is missing, builds frameshm three ways and runs the whole test
# suite: plain (every test), ASan+UBSan (every test), TSan (the library's own
# tests: OpenCV and GStreamer are not built with TSan), then the fuzzer for a
# bounded time. Fails if any test fails or a frameshm segment is left behind.
#
#   scripts/test.sh                 everything (what CI runs)
#   FRAMESHM_FUZZ_SECONDS=600 scripts/test.sh   fuzz for longer
#   FRAMESHM_SOAK_SECONDS=600 scripts/test.sh   soak for longer
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FRAMESHM_BUILD_ROOT:-$root/build}
fuzz_seconds=${FRAMESHM_FUZZ_SECONDS:-60}
jobs=$(nproc)
export FRAMESHM_SOAK_SECONDS=${FRAMESHM_SOAK_SECONDS:-60}

"$root/scripts/install-deps.sh"
mkdir -p "$out"

# Segments that exist before we start are someone else's: only new ones count.
before=$(ls /dev/shm | grep '^frameshm\.' || true)

step() { printf '\n=== %s ===\n' "$*"; }
# Every stage runs even when an earlier one failed, so that one run shows
# every problem; the script fails at the end if any stage did.
failed=()
run_ctest() {  # run_ctest NAME BUILD_DIR [ctest args...]
  local name=$1 dir=$2
  shift 2
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600 "$@" || failed+=("$name")
}

# GStreamer remembers every plugin it has seen in a registry; each build gets
# its own, so that no test run leaves our plugin in the user's registry.
# A registry also remembers plugins that failed to load, so none is reused.
registry() {
  export GST_REGISTRY="$out/$1.gst-registry.bin"
  rm -f "$GST_REGISTRY"
  find "$out" -name 'gst-registry.bin' -delete
}

step "plain build"
"$root/scripts/build.sh" "$out/plain"
step "plain: every test"
registry plain
run_ctest "plain tests" "$out/plain"

step "ASan+UBSan build"
"$root/scripts/build.sh" "$out/asan" -DFRAMESHM_SANITIZE=address,undefined
# Leaks in third-party libraries (GTK, D-Bus, GStreamer's one-time
# allocations) are suppressed by library name; leaks in ours never are.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions="$root/tests/lsan.supp"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
step "ASan+UBSan: every test but the GStreamer plugin's"
registry asan
run_ctest "ASan+UBSan tests" "$out/asan" -LE plugin
step "ASan+UBSan: the GStreamer plugin's tests"
# gst-launch-1.0, gst-inspect-1.0 and GStreamer's plugin scanner are not
# instrumented but load our instrumented plugin: the runtime must come first.
# Preloaded into them, LeakSanitizer would report every system plugin they
# load (OpenNI2 drivers...), so this pass checks memory errors, not leaks.
registry asan-plugin
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
  run_ctest "ASan+UBSan plugin tests" "$out/asan" -L plugin
unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS

step "TSan build (library, its tests)"
"$root/scripts/build.sh" "$out/tsan" -DFRAMESHM_SANITIZE=thread \
  -DFRAMESHM_BUILD_PROGRAMS=OFF -DFRAMESHM_BUILD_PLUGIN=OFF -DFRAMESHM_BUILD_BENCH=OFF
step "TSan: library, multi-process and hardening tests"
registry tsan
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run_ctest "TSan tests" "$out/tsan"

step "fuzz build (clang-16, libFuzzer + ASan)"
"$root/scripts/build.sh" "$out/fuzz" -DFRAMESHM_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_C_COMPILER=clang-16 \
  -DFRAMESHM_BUILD_PROGRAMS=OFF -DFRAMESHM_BUILD_PLUGIN=OFF -DFRAMESHM_BUILD_BENCH=OFF -DFRAMESHM_BUILD_TESTS=OFF
step "fuzz: segment validation and the reader path, ${fuzz_seconds} s"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp "$root"/tests/fuzz/corpus/* "$corpus"/
"$out/fuzz/tests/fuzz/segment_fuzz" -max_total_time="$fuzz_seconds" -print_final_stats=1 \
  -artifact_prefix="$out/fuzz/" "$corpus" || failed+=("fuzzing")

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
