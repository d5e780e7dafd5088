#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reads two feeds at once in one asyncio program, printing each frame.

    samples/python/two_feeds_asyncio.py cam0 cam1 [--frames N]

No thread per feed: each consumer is opened with pollable=True, and the event
loop watches its fileno() (loop.add_reader). When the descriptor becomes
readable, try_frame() is called until it returns None. While a feed has no
producer nothing wakes its descriptor, so each feed also looks every 250 ms.
"""
import argparse
import asyncio
import sys

import frameshm


async def watch(name, frames):
    loop = asyncio.get_running_loop()
    # Opening may wait up to 5 s for the feed to appear: not on the loop's thread.
    consumer = await loop.run_in_executor(None, lambda: frameshm.Consumer(name, timeout=5, pollable=True))
    readable = asyncio.Event()
    count = 0
    with consumer:
        descriptor = consumer.fileno()
        loop.add_reader(descriptor, readable.set)
        try:
            while count < frames or frames == 0:
                try:
                    await asyncio.wait_for(readable.wait(), timeout=0.25)
                except asyncio.TimeoutError:
                    pass
                readable.clear()
                try:
                    while (frame := consumer.try_frame()) is not None:
                        mean = float(frame.planes[0].mean())
                        if frame.intact():
                            count += 1
                            print(f"{name}: frame {frame.number} mean {mean:.1f}", flush=True)
                            if count == frames:
                                break
                except (frameshm.FeedEnded, frameshm.ProducerGone):
                    break
        finally:
            loop.remove_reader(descriptor)
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
