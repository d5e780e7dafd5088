# SPDX-License-Identifier: LGPL-2.1-or-later
"""Frames cross between Python and C++ (the library, frameshm-producer,
frameshmsink) in every pixel format with the same bytes on both sides."""
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

import frameshm
from conftest import plane_crc, read_checksums

FORMATS = frameshm.pixel_formats()


def wait_for_reader(producer, readers=1, seconds=10):
    deadline = time.monotonic() + seconds
    while producer.reader_count < readers:
        assert time.monotonic() < deadline, "the reader never attached"
        time.sleep(0.01)


@pytest.mark.parametrize("pixel_format", FORMATS)
@pytest.mark.parametrize("size", [(64, 48), (66, 30)], ids=["64x48", "66x30"])
def test_a_python_producer_feeds_the_cpp_consumer_the_same_pixels(feed, checksum_reader, pixel_format, size):
    width, height = size
    frames = 24
    reader = checksum_reader(feed, frames)
    rng = np.random.default_rng(7)
    sent = {}
    with frameshm.Producer(feed, format=pixel_format, width=width, height=height, fps=60, slots=6) as producer:
        wait_for_reader(producer)
        for i in range(frames):
            slot = producer.acquire()
            for plane in slot.planes:
                plane[...] = rng.integers(0, 256, plane.shape, dtype=np.uint8)
            crc = plane_crc(slot.planes)
            if i % 2 == 1:
                # The same pixels once more through write(), when the frame is one array.
                try:
                    image = slot.array.copy()
                except ValueError:
                    image = None
                if image is not None:
                    slot.abandon()
                    number = producer.write(image, pts=i)
                    sent[number] = plane_crc(frameshm_planes_of(producer, image))
                    continue
            number = producer.publish(slot, pts=i)
            sent[number] = crc
            time.sleep(0.005)
    received = read_checksums(reader)
    assert received, "the C++ reader got no frame"
    for number, crc in received.items():
        assert crc == sent[number], f"frame {number} differs"


def frameshm_planes_of(producer, image):
    """The planes of an image written with write(), as the consumer sees them."""
    fmt = producer.format
    if len(fmt["planes"]) == 1:
        return [image]
    flat = image.reshape(-1)
    planes = []
    for stride, offset, rows in fmt["planes"]:
        planes.append(flat[offset:offset + stride * rows])
    return planes


def python_reads(name, frames):
    got = {}
    with frameshm.Consumer(name, timeout=10, pin=True) as consumer:
        while len(got) < frames:
            try:
                frame = consumer.wait_frame(5)
            except frameshm.FeedEnded:
                break
            crc = plane_crc(frame.planes)
            if frame.intact():
                got[frame.number] = crc
            frame.release()
    return got


def compare(python, cpp):
    common = set(python) & set(cpp)
    assert len(common) >= 5, f"too few frames both read: python {len(python)}, C++ {len(cpp)}"
    for number in common:
        assert python[number] == cpp[number], f"frame {number} differs"


@pytest.mark.parametrize("pixel_format", FORMATS)
def test_frames_of_frameshm_producer_reach_python_as_the_cpp_consumer_sees_them(feed, checksum_reader,
                                                                                producer_program, pixel_format):
    reader = checksum_reader(feed, 40)
    producer = subprocess.Popen([producer_program, "--feed", feed, "--format", pixel_format, "--width", "66",
                                 "--height", "50", "--fps", "60", "--frames", "60", "--slots", "6"],
                                stderr=subprocess.PIPE, text=True)
    try:
        got = python_reads(feed, 40)
    finally:
        _, err = producer.communicate(timeout=30)
    assert producer.returncode == 0, err
    compare(got, read_checksums(reader))


@pytest.mark.skipif(not os.environ.get("GST_PLUGIN_PATH") or not shutil.which("gst-launch-1.0"),
                    reason="the GStreamer plugin is not built")
@pytest.mark.parametrize("pixel_format", FORMATS)
def test_frames_of_frameshmsink_reach_python_as_the_cpp_consumer_sees_them(feed, checksum_reader, pixel_format):
    reader = checksum_reader(feed, 40)
    pipeline = subprocess.Popen(
        ["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=60", "pattern=ball", "!",
         f"video/x-raw,format={pixel_format},width=66,height=50,framerate=60/1", "!",
         "frameshmsink", f"feed={feed}", "slots=6"], stderr=subprocess.PIPE, text=True)
    try:
        got = python_reads(feed, 40)
    finally:
        _, err = pipeline.communicate(timeout=60)
    assert pipeline.returncode == 0, err
    compare(got, read_checksums(reader))
