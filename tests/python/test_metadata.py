# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-frame user metadata and delivery policies from Python."""
import subprocess

import numpy as np
import pytest

import frameshm


def test_metadata_of_every_type_round_trips_with_its_frame(feed):
    entries = {"exposure-us": 8000, "gain-db": 3.5, "camera": "cam-17", "blob": b"\x00\x01\xff",
               "timestamp/x-ptp": frameshm.Timestamp(1_700_000_000_123_456_789, duration_ns=16_666_667),
               "flag": True}
    with frameshm.Producer(feed, format="GRAY8", width=16, height=16) as producer, \
            frameshm.Consumer(feed) as consumer:
        producer.write(np.zeros((16, 16), np.uint8), metadata=entries)
        got = consumer.wait_frame(1).metadata
        assert got == {**entries, "flag": 1}
        assert got["timestamp/x-ptp"].ns == 1_700_000_000_123_456_789
        slot = producer.acquire()
        producer.publish(slot, metadata={"n": slot.number})
        frame = consumer.wait_frame(1)
        assert frame.metadata == {"n": frame.number}
        producer.write(np.zeros((16, 16), np.uint8))
        assert consumer.read(1).metadata == {}  # a copy carries it too; none set here


def test_metadata_that_does_not_fit_or_has_a_bad_value_is_refused(feed):
    with frameshm.Producer(feed, format="GRAY8", width=16, height=16, metadata_bytes=64) as producer:
        with pytest.raises(frameshm.InvalidArgument, match="does not fit the feed's 64 bytes"):
            producer.write(np.zeros((16, 16), np.uint8), metadata={"k": "x" * 100})
        with pytest.raises(TypeError, match="must be int, float, str, bytes or frameshm.Timestamp"):
            producer.write(np.zeros((16, 16), np.uint8), metadata={"k": [1, 2]})
        with pytest.raises(frameshm.InvalidArgument, match="must not be empty"):
            producer.write(np.zeros((16, 16), np.uint8), metadata={"": 1})
        slot = producer.acquire()
        with pytest.raises(frameshm.InvalidArgument):
            producer.publish(slot, metadata={"k": "x" * 100})
        assert producer.frames_published == 0


def test_a_sequential_consumer_gets_every_frame_in_order_and_a_latest_one_the_newest(feed):
    with frameshm.Producer(feed, format="GRAY8", width=16, height=16, slots=5) as producer, \
            frameshm.Consumer(feed, delivery="sequential") as recorder, frameshm.Consumer(feed) as viewer:
        producer.write(np.zeros((16, 16), np.uint8))
        assert recorder.wait_frame(1).number == 1
        for _ in range(3):  # 3 = slots - 2: none lost
            producer.write(np.zeros((16, 16), np.uint8))
        assert [recorder.wait_frame(1).number for _ in range(3)] == [2, 3, 4]
        assert viewer.wait_frame(1).number == 4
        assert recorder.stats["frames_dropped"] == 0
    with pytest.raises(ValueError, match="'latest' or 'sequential'"):
        frameshm.Consumer(feed, delivery="every")


def test_metadata_from_a_cpp_producer_always_belongs_to_the_pixels_python_reads(feed, meta_producer):
    frames = 200_000
    process = subprocess.Popen([meta_producer, feed, str(frames)], stderr=subprocess.PIPE, text=True)
    try:
        consumer = frameshm.Consumer(feed, timeout=10)
        intact = mismatches = 0
        for frame in consumer:
            pixels = frame.array
            low, high = int(pixels.min()), int(pixels.max())
            metadata = frame.metadata
            if not frame.intact():
                continue
            intact += 1
            n = frame.number
            if low != high or low != n % 251 or metadata != {"n": n, "pad": "p" * (n % 7)}:
                mismatches += 1
        consumer.close()
        assert process.wait(timeout=60) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert intact > 0
    assert mismatches == 0
