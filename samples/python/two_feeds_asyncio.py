#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reads two feeds at once in one asyncio program, printing each frame.

    samples/python/two_feeds_asyncio.py cam0 cam1 [--frames N]

Each wait runs in the default executor: frameshm releases the GIL while it
waits, so both feeds and the event loop run side by side.
"""
import argparse
import asyncio
import sys

import frameshm


async def watch(name, frames):
    loop = asyncio.get_running_loop()
    consumer = await loop.run_in_executor(None, lambda: frameshm.Consumer(name, timeout=5))
    count = 0
    with consumer:
        while count < frames or frames == 0:
            try:
                frame = await loop.run_in_executor(None, consumer.wait_frame, 1.0)
            except (frameshm.FeedEnded, frameshm.ProducerGone):
                break
            except frameshm.Timeout:
                continue
            mean = float(frame.planes[0].mean())
            if frame.intact():
                count += 1
                print(f"{name}: frame {frame.number} mean {mean:.1f}", flush=True)
    return count


async def run(args):
    counts = await asyncio.gather(*(watch(name, args.frames) for name in args.feeds))
    for name, count in zip(args.feeds, counts):
        print(f"{name}: {count} frames", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("feeds", nargs=2)
    parser.add_argument("--frames", type=int, default=0, help="frames per feed (0: until the feeds end)")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except frameshm.Error as error:
        print(f"two_feeds_asyncio: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
