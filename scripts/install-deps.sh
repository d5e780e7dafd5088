#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what frameshm needs from Debian 12's archive, and nothing that is
# already there. Run as root, or as a user who may sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-tools
  libopencv-dev libcli11-dev catch2 nlohmann-json3-dev
  # frameshm-rtsp: gst-rtsp-server, x264enc (plugins-ugly), ffmpeg/ffprobe as independent clients
  libgstrtspserver-1.0-dev gstreamer1.0-rtsp gstreamer1.0-plugins-ugly gstreamer1.0-libav ffmpeg
  openssl  # (its tests make a TLS certificate)
  # Python bindings, their tests and samples, the bench's charts; the Qt sample
  pybind11-dev python3-dev python3-numpy zlib1g-dev python3-pytest python3-opencv python3-matplotlib qtbase5-dev
  # tests: a virtual display and screenshots, another user, the fuzzer
  xvfb xauth x11-apps imagemagick util-linux clang-16 libclang-rt-16-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 2; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
