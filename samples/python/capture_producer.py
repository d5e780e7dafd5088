#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Publishes what cv2.VideoCapture reads (a camera, a file, a GStreamer
pipeline) as a BGR feed.

    samples/python/capture_producer.py cam0 --source 0            # /dev/video0
    samples/python/capture_producer.py cam0 --source clip.mp4 --frames 100

OpenCV decodes into its own array; write() copies it into a slot, the one
copy of the pipeline. The feed's size is the source's.
"""
import argparse
import sys
import time

import cv2

import frameshm


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("feed")
    parser.add_argument("--source", default="0", help="camera index, file or GStreamer pipeline (default 0)")
    parser.add_argument("--frames", type=int, default=0, help="stop after N frames (0: until the source ends)")
    args = parser.parse_args()
    capture = cv2.VideoCapture(int(args.source) if args.source.isdigit() else args.source)
    ok, image = capture.read()
    if not ok:
        print(f"capture_producer: cannot read from '{args.source}' (no such camera or file?)", file=sys.stderr)
        return 2
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    height, width = image.shape[:2]
    published = 0
    try:
        with frameshm.Producer(args.feed, format="BGR", width=width, height=height, fps=fps) as feed:
            while ok:
                feed.write(image, capture_ns=time.monotonic_ns())
                published += 1
                if published == args.frames:
                    break
                ok, image = capture.read()
    except frameshm.Error as error:
        print(f"capture_producer: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print(f"published {published} frames of {width}x{height} at {fps:g} fps", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
