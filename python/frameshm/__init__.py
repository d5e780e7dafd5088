# SPDX-License-Identifier: LGPL-2.1-or-later
"""frameshm: video frames between processes through shared memory.

A producer publishes frames into a named feed; any number of consumers read
them in place, as numpy arrays over the shared memory (no copy), never slowing
the producer or each other.

    import frameshm
    with frameshm.Consumer("cam0", timeout=5) as feed:
        for frame in feed:
            print(frame.number, frame.array.mean(), frame.intact())

Errors are frameshm.Error subclasses (NotFound, PermissionDenied, Timeout,
FeedEnded, ProducerGone, ...) whose message says what is wrong and what to do.
"""
# numpy before the compiled module: pybind11 finds numpy lazily, and when the
# program itself had not imported numpy, every frame's first array paid about
# 0.5 ms for it (measured: 500 us against 5 us per frame at 320x240).
import numpy  # noqa: F401

from ._frameshm import *  # noqa: F401,F403
from ._frameshm import (  # noqa: F401
    AbiMismatch, AlreadyProduced, Consumer, Corrupt, Error, FeedEnded, Frame, InvalidArgument, InvalidFeedName,
    InvalidState, NoFrame, NotFound, PermissionDenied, Producer, ProducerGone, ReadersFull, SystemCallError,
    TakenOver, Timeout, Timestamp, UnsupportedFormat, WriteSlot, pixel_formats)

__all__ = [
    "AbiMismatch", "AlreadyProduced", "Consumer", "Corrupt", "Error", "FeedEnded", "Frame", "InvalidArgument",
    "InvalidFeedName", "InvalidState", "NoFrame", "NotFound", "PermissionDenied", "Producer", "ProducerGone",
    "ReadersFull", "SystemCallError", "TakenOver", "Timeout", "Timestamp", "UnsupportedFormat", "WriteSlot",
    "pixel_formats",
]
