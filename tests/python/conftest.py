# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures for the frameshm module's tests: unique feed names whose segments
are removed however a test ends, the C++ checksum reader, and the programs."""
import itertools
import os
import subprocess
import zlib

import pytest

_counter = itertools.count()


def plane_crc(planes):
    """CRC-32 chained over every plane's pixel rows, as frameshm_py_checksums computes it."""
    crc = 0
    for plane in planes:
        crc = zlib.crc32(plane.tobytes(), crc)  # tobytes() walks the rows, skipping padding
    return crc


@pytest.fixture
def feed():
    name = f"t-py-{os.getpid()}-{next(_counter)}"
    yield name
    try:
        os.remove(f"/dev/shm/frameshm.{name}")
    except FileNotFoundError:
        pass


def _tool(variable):
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"{variable} is not set (run through ctest)")
    return path


@pytest.fixture
def checksum_reader():
    """Starts the C++ reader on a feed: returns a function giving its Popen."""
    started = []

    def start(name, frames):
        process = subprocess.Popen([_tool("FRAMESHM_TEST_CHECKSUMS"), name, str(frames)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def meta_producer():
    """The C++ producer of frames whose pixels and metadata both carry their number."""
    return _tool("FRAMESHM_TEST_META_PRODUCER")


@pytest.fixture
def producer_program():
    return _tool("FRAMESHM_TEST_PRODUCER")


def read_checksums(process, timeout=30):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return {int(n): int(c) for n, c in (line.split() for line in out.splitlines())}
