# SPDX-License-Identifier: LGPL-2.1-or-later
"""The module's behaviour: zero copy shown, torn frames reported, every
documented exception, waits that Ctrl-C interrupts, help that explains."""
import os
import pydoc
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import frameshm


def mapping_of(address):
    """The /proc/self/maps line of the mapping that holds `address`."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            span = line.split()[0]
            start, end = (int(x, 16) for x in span.split("-"))
            if start <= address < end:
                return line
    return ""


def test_a_frame_array_is_a_read_only_view_of_the_feed_itself(feed):
    with frameshm.Producer(feed, format="BGR", width=64, height=48) as producer, \
            frameshm.Consumer(feed) as consumer:
        producer.write(np.full((48, 64, 3), 9, np.uint8))
        frame = consumer.wait_frame(1)
        array = frame.array
        address = array.__array_interface__["data"][0]
        assert feed in mapping_of(address), "the array does not point into the feed's mapping"
        assert not array.flags.writeable and not array.flags.owndata
        with pytest.raises(ValueError):
            array[0, 0, 0] = 1
        assert array.shape == (48, 64, 3) and array.dtype == np.uint8
        assert (array == 9).all() and frame.intact()


def test_a_slot_array_writes_straight_into_the_feed(feed):
    with frameshm.Producer(feed, format="GRAY8", width=32, height=8) as producer, \
            frameshm.Consumer(feed) as consumer:
        slot = producer.acquire()
        assert feed in mapping_of(slot.array.__array_interface__["data"][0])
        slot.array[:] = np.arange(32, dtype=np.uint8)
        producer.publish(slot, pts=123, capture_ns=456)
        frame = consumer.wait_frame(1)
        assert (frame.array[3] == np.arange(32)).all()
        assert frame.pts == 123 and frame.capture_ns == 456 and frame.number == 1
        with pytest.raises(frameshm.InvalidState):
            producer.publish(slot)


def test_a_frame_overwritten_while_held_is_reported_torn(feed):
    with frameshm.Producer(feed, format="GRAY8", width=16, height=16, slots=3) as producer, \
            frameshm.Consumer(feed, pin=False) as consumer:
        producer.write(np.zeros((16, 16), np.uint8))
        frame = consumer.wait_frame(1)
        assert frame.intact()
        for value in range(1, 8):
            producer.write(np.full((16, 16), value, np.uint8))
        assert not frame.intact()
        assert consumer.stats["frames_torn"] == 1
        copy = consumer.read(1)
        assert copy.is_copy and copy.intact() and (copy.array == 7).all()
        assert copy.number == 8 and copy.dropped_before == 6


def test_iteration_gives_every_frame_until_the_feed_ends(feed):
    producer = frameshm.Producer(feed, format="RGB", width=8, height=8, slots=8)
    consumer = frameshm.Consumer(feed)
    numbers = []
    for value in range(1, 6):
        producer.write(np.full((8, 8, 3), value, np.uint8))
        numbers.append(next(consumer).number)
    producer.write(np.full((8, 8, 3), 6, np.uint8))
    producer.close()
    numbers += [frame.number for frame in consumer]  # the last frame, then the end
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert consumer.stats["frames_read"] == 6 and consumer.stats["frames_dropped"] == 0


def test_planar_formats_give_one_array_per_plane(feed):
    with frameshm.Producer(feed, format="NV12", width=64, height=32) as producer, frameshm.Consumer(feed) as consumer:
        producer.write(np.ones((48, 64), np.uint8))
        frame = consumer.wait_frame(1)
        y, uv = frame.planes
        assert y.shape == (32, 64) and uv.shape == (16, 32, 2)
        assert frame.array.shape == (48, 64)
        assert frame.format["pixel_format"] == "NV12" and frame.format["rate"] == (30, 1)


def test_a_missing_feed_raises_not_found_and_a_wait_raises_timeout(feed):
    with pytest.raises(frameshm.NotFound, match=feed):
        frameshm.Consumer(feed)
    started = time.monotonic()
    with pytest.raises(frameshm.Timeout, match="did not appear"):
        frameshm.Consumer(feed, timeout=0.2)
    assert time.monotonic() - started >= 0.2
    with frameshm.Producer(feed, format="BGR", width=8, height=8), frameshm.Consumer(feed) as consumer:
        with pytest.raises(frameshm.Timeout):
            consumer.wait_frame(0.05)
        assert consumer.try_frame() is None
    assert issubclass(frameshm.Timeout, frameshm.Error) and issubclass(frameshm.Timeout, TimeoutError)


def test_a_wrong_shape_or_dtype_raises_value_error_and_nothing_is_published(feed):
    with frameshm.Producer(feed, format="BGR", width=64, height=48) as producer:
        with pytest.raises(ValueError, match=r"shape \(48, 64\).*takes \(48, 64, 3\)"):
            producer.write(np.zeros((48, 64), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            producer.write(np.zeros((48, 64, 3), np.float32))
        producer.write(np.zeros((48, 64, 3), np.uint8)[:, :, :])
        producer.write(np.zeros((48, 128, 3), np.uint8)[:, ::2, :])  # strided columns: copied right
        assert producer.frames_published == 2


def test_bad_arguments_raise_the_library_errors(feed):
    with pytest.raises(frameshm.InvalidFeedName):
        frameshm.Consumer("no/slash")
    with pytest.raises(frameshm.UnsupportedFormat, match="one of"):
        frameshm.Producer(feed, format="P010", width=8, height=8)
    with pytest.raises(frameshm.UnsupportedFormat):
        frameshm.Producer(feed, format="BGR", width=0, height=8)
    with pytest.raises(ValueError, match="fps"):
        frameshm.Producer(feed, format="BGR", width=8, height=8, fps=-1)
    with frameshm.Producer(feed, format="BGR", width=8, height=8):
        with pytest.raises(frameshm.AlreadyProduced):
            frameshm.Producer(feed, format="BGR", width=8, height=8)
    assert not os.path.exists(f"/dev/shm/frameshm.{feed}")


def test_a_closed_producer_ends_the_feed_once_and_closed_objects_say_so(feed):
    producer = frameshm.Producer(feed, format="BGR", width=8, height=8)
    consumer = frameshm.Consumer(feed)
    producer.close()
    with pytest.raises(frameshm.FeedEnded, match="ended"):
        consumer.wait_frame(1)
    with pytest.raises(frameshm.InvalidState, match="closed"):
        producer.write(np.zeros((8, 8, 3), np.uint8))
    consumer.close()
    with pytest.raises(frameshm.InvalidState, match="closed"):
        consumer.wait_frame(0)


def test_ctrl_c_interrupts_a_wait(feed):
    program = textwrap.dedent(f"""
        import frameshm, sys
        producer = frameshm.Producer("{feed}", format="BGR", width=8, height=8)
        consumer = frameshm.Consumer("{feed}")
        print("waiting", flush=True)
        try:
            consumer.wait_frame(None)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(0)
    """)
    child = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "waiting"
        time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert "interrupted" in out and child.returncode == 0


def test_help_explains_the_classes():
    text = pydoc.render_doc(frameshm.Consumer, renderer=pydoc.plaintext)
    assert "timeout" in text and "wait_frame" in text and "intact" in pydoc.render_doc(frameshm.Frame)


def test_a_slot_array_stays_usable_after_its_producer_closed(feed):
    producer = frameshm.Producer(feed, format="GRAY8", width=16, height=16)
    slot = producer.acquire()
    array = slot.array
    producer.close()
    array[:] = 1  # the memory is still mapped: no crash, nothing published
    with pytest.raises(frameshm.InvalidState):
        producer.publish(slot)
    del slot, array
    assert not os.path.exists(f"/dev/shm/frameshm.{feed}")
