#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs frameshm from BUILD_DIR into a temporary prefix, then builds and
# runs a project outside the tree against it: with find_package(frameshm),
# and with pkg-config's frameshm.pc. FLAGS: compiler flags the library was
# built with that its users need too (a sanitizer).
#   install_test.sh BUILD_DIR [FLAGS]
set -euo pipefail
build=$1
flags=${2:-}
source_dir=$(cd "$(dirname "$0")" && pwd)/consumer_project
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
echo "install: find_package and pkg-config both work"
