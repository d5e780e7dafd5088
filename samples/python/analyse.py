#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints the mean brightness of every frame of a feed, read in place.

    samples/python/analyse.py cam0 [--frames N]

The frame's array is a read-only numpy view of the shared memory: computing
its mean copies nothing. intact() tells whether the producer overwrote the
slot while we read it; such a result is thrown away.
"""
import argparse
import sys

import frameshm


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("feed")
    parser.add_argument("--frames", type=int, default=0, help="stop after N frames (0: until the feed ends)")
    parser.add_argument("--timeout", type=float, default=5, help="seconds to wait for the feed to appear")
    args = parser.parse_args()
    try:
        with frameshm.Consumer(args.feed, timeout=args.timeout) as feed:
            count = 0
            for frame in feed:
                luma = frame.planes[0]  # Y for YUV formats; the packed image otherwise
                brightness = float(luma.mean())
                if not frame.intact():
                    continue  # overwritten while we read it: the figure would mix two frames
                count += 1
                print(f"frame {frame.number}: mean brightness {brightness:.1f}"
                      f" ({frame.dropped_before} dropped before)", flush=True)
                if count == args.frames:
                    break
            print(f"analysed {count} frames; {feed.stats['frames_dropped']} dropped", flush=True)
    except frameshm.Error as error:
        print(f"analyse: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
