#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs frameshm from BUILD_DIR into a temporary prefix, then builds and
# runs a project outside the tree against it: with find_package(frameshm),
# and with pkg-config's frameshm.pc; with COMPONENTS "opencv" (the build had
# OpenCV), also with find_package(frameshm COMPONENTS opencv). FLAGS: compiler
# flags the library was built with that its users need too (a sanitizer).
#   install_test.sh BUILD_DIR [FLAGS] [COMPONENTS]
set -euo pipefail
build=$1
flags=${2:-}
components=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$here/consumer_project
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
# Nothing may go outside the prefix (a plugin directory given as an absolute path would).
outside=$(grep -v "^$work/prefix/" "$build/install_manifest.txt" || true)
if [ -n "$outside" ]; then
  echo "cmake --install wrote outside its prefix:" >&2
  echo "$outside" >&2
  exit 1
fi
test -f "$work/prefix/include/frameshm/feed.hpp"
test ! -e "$work/prefix/include/frameshm/layout.hpp"  # private since issue 11
test -f "$work/prefix/lib/cmake/frameshm/frameshmConfig.cmake"
test -f "$work/prefix/lib/pkgconfig/frameshm.pc"

cmake -S "$source_dir" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_FLAGS="$flags" >/dev/null
cmake --build "$work/cmake" >/dev/null
test "$("$work/cmake/uses_frameshm")" = ok

export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
c++ $flags -o "$work/uses_frameshm_pc" "$source_dir/main.cpp" $(pkg-config --cflags --libs frameshm)
test "$("$work/uses_frameshm_pc")" = ok

if [ "$components" = opencv ]; then
  test -f "$work/prefix/include/frameshm/opencv.hpp"
  test -f "$work/prefix/lib/cmake/frameshm/frameshm-opencv.cmake"
  cmake -S "$here/opencv_project" -B "$work/cmake-opencv" -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DCMAKE_CXX_FLAGS="$flags" >/dev/null
  cmake --build "$work/cmake-opencv" >/dev/null
  test "$("$work/cmake-opencv/uses_frameshm_opencv")" = ok
fi
# A component the package does not have is an error of find_package, not a silent success.
mkdir -p "$work/missing"
cat >"$work/missing/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(asks_for_a_missing_component LANGUAGES CXX)
find_package(frameshm 0.1 REQUIRED COMPONENTS nosuchcomponent)
CMAKE
if cmake -S "$work/missing" -B "$work/cmake-missing" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null 2>&1; then
  echo "find_package(frameshm COMPONENTS nosuchcomponent) succeeded" >&2
  exit 1
fi

# The C API from a C-only project: CMake's frameshm::c and frameshm-c.pc.
test -f "$work/prefix/include/frameshm/frameshm.h"
cmake -S "$here/c_project" -B "$work/c-cmake" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_FLAGS="$flags" >/dev/null
cmake --build "$work/c-cmake" >/dev/null
test "$("$work/c-cmake/uses_frameshm_c")" = ok
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror $flags -o "$work/uses_frameshm_c_pc" "$here/c_project/main.c" $(pkg-config --cflags --libs frameshm-c)
test "$("$work/uses_frameshm_c_pc")" = ok

# The Python module, where it was built: importable from the installed site
# directory (not in a sanitizer build: python3 itself is not instrumented).
module=$(grep '/frameshm/_frameshm[^/]*\.so$' "$build/install_manifest.txt" || true)
if [ -n "$module" ] && [ -z "$flags" ]; then
  python=$(sed -n 's/^FRAMESHM_PYTHON:INTERNAL=//p' "$build/CMakeCache.txt")
  site=$(dirname "$(dirname "$module")")
  out=$(cd "$work" && PYTHONPATH="$site" "$python" -c 'import frameshm; print(frameshm.__file__, len(frameshm.pixel_formats()))')
  case $out in
    "$site"/frameshm/__init__.py\ 10) ;;
    *) echo "the installed Python module does not import from $site: $out" >&2; exit 1 ;;
  esac
fi
echo "install: find_package${components:+ (with $components)} and pkg-config work, for C++ and for C; the Python module imports"
