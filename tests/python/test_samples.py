# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python samples in samples/python do what their docstrings say."""
import os
import shutil
import subprocess
import sys

import cv2
import pytest

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "samples", "python")


def sample(name, *args, timeout=60, wrapper=()):
    return subprocess.run([*wrapper, sys.executable, os.path.join(SAMPLES, name), *args], capture_output=True,
                          text=True, timeout=timeout)


def start_pattern(producer_program, feed, frames, fmt="I420"):
    return subprocess.Popen([producer_program, "--feed", feed, "--format", fmt, "--width", "320", "--height", "240",
                             "--fps", "60", "--frames", str(frames)], stderr=subprocess.PIPE, text=True)


def test_analyse_prints_the_brightness_of_each_frame(feed, producer_program):
    producer = start_pattern(producer_program, feed, 120)
    try:
        result = sample("analyse.py", feed, "--frames", "30")
    finally:
        producer.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("mean brightness") == 30 and "analysed 30 frames" in result.stdout


def test_analyse_says_what_is_wrong_when_the_feed_is_missing(feed):
    result = sample("analyse.py", feed, "--timeout", "0")
    assert result.returncode == 1 and f"feed '{feed}' does not exist" in result.stderr


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg makes the test clip")
def test_capture_producer_publishes_a_video_file(feed, tmp_path):
    clip = tmp_path / "clip.avi"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30",
                    "-frames:v", "90", "-c:v", "mjpeg", str(clip)], check=True, timeout=60)
    reader = subprocess.Popen([sys.executable, os.path.join(SAMPLES, "analyse.py"), feed, "--frames", "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result = sample("capture_producer.py", feed, "--source", str(clip))
    out, err = reader.communicate(timeout=60)
    assert result.returncode == 0, result.stderr
    assert "published 90 frames of 160x120" in result.stdout
    assert reader.returncode == 0 and "analysed" in out, err


def test_capture_producer_refuses_a_source_it_cannot_read(feed, tmp_path):
    result = sample("capture_producer.py", feed, "--source", str(tmp_path / "missing.mp4"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_the_asyncio_sample_reads_two_feeds_at_once(feed, producer_program):
    other = feed + "-b"
    producers = [start_pattern(producer_program, name, 200, fmt) for name, fmt in ((feed, "BGR"), (other, "NV12"))]
    try:
        result = sample("two_feeds_asyncio.py", feed, other, "--frames", "15")
    finally:
        for producer in producers:
            producer.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    assert f"{feed}: 15 frames" in result.stdout and f"{other}: 15 frames" in result.stdout


@pytest.mark.skipif(not shutil.which("xvfb-run"), reason="needs Xvfb")
def test_the_viewer_shows_frames_in_a_window(feed, producer_program, tmp_path):
    producer = start_pattern(producer_program, feed, 300, "YUY2")
    snapshot = tmp_path / "shown.png"
    try:
        result = sample("viewer.py", feed, "--frames", "20", "--snapshot", str(snapshot),
                        wrapper=("xvfb-run", "-a"))
    finally:
        producer.kill()
        producer.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    assert "showed 20 frames" in result.stdout
    image = cv2.imread(str(snapshot))
    assert image is not None and image.shape == (240, 320, 3) and image.std() > 10
