#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shows a feed in an OpenCV window (q or Esc quits).

    samples/python/viewer.py cam0 [--frames N] [--snapshot last.png]

Frames of any pixel format are converted to BGR for cv2.imshow; the
conversion reads the shared memory directly (no copy before it).
"""
import argparse
import sys

import cv2

import frameshm

TO_BGR = {
    "GRAY8": cv2.COLOR_GRAY2BGR, "RGB": cv2.COLOR_RGB2BGR, "RGBA": cv2.COLOR_RGBA2BGR,
    "BGRA": cv2.COLOR_BGRA2BGR, "BGRx": cv2.COLOR_BGRA2BGR, "I420": cv2.COLOR_YUV2BGR_I420,
    "NV12": cv2.COLOR_YUV2BGR_NV12, "YUY2": cv2.COLOR_YUV2BGR_YUY2, "UYVY": cv2.COLOR_YUV2BGR_UYVY,
}


def to_bgr(frame):
    code = TO_BGR.get(frame.format["pixel_format"])
    return frame.array.copy() if code is None else cv2.cvtColor(frame.array, code)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("feed")
    parser.add_argument("--frames", type=int, default=0, help="stop after N frames (0: until closed)")
    parser.add_argument("--snapshot", help="write the last frame shown to this PNG file")
    args = parser.parse_args()
    shown = 0
    image = None
    try:
        with frameshm.Consumer(args.feed, timeout=5) as feed:
            for frame in feed:
                image = to_bgr(frame)
                if not frame.intact():
                    continue
                cv2.imshow(f"frameshm: {args.feed}", image)
                shown += 1
                if cv2.waitKey(1) in (ord("q"), 27) or shown == args.frames:
                    break
    except frameshm.Error as error:
        print(f"viewer: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    if args.snapshot and image is not None:
        cv2.imwrite(args.snapshot, image)
    print(f"showed {shown} frames", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
