#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python module's figures: does a Python consumer cost what the C++ one
does (no hidden copy), and does write() copy as fast as numpy?

    PYTHONPATH=build/plain/python /usr/bin/python3 bench/python_bench.py \\
        --build build/plain [--seconds 5] [--json out.json]

1. A frameshm-producer pattern feed at 1080p60 and 4K30 (BGR), read at the
   same time by three readers: frameshm-consumer (the C++ consumer program,
   default options), a bare C++ API loop (tests/python's
   frameshm_py_checksums in its "count" mode) and a Python reader, each
   taking every frame and checking intact(), the Python one also making its
   numpy array. CPU (user + system) per frame: the loops measure themselves
   (getrusage) from their first frame to their last; frameshm-consumer's is
   its whole run (wait4) less its start-up, measured in the same run.
2. Producer.write() of a 1080p BGR frame against numpy's own copy of the same
   array into a preallocated one (np.copyto), best of several rounds; and
   against numpy copying into three frame buffers in turn, as write() fills
   the feed's three slots in turn (a copy whose destination is no longer in
   the cache), which separates the cost of the memory from frameshm's own.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import frameshm

PYTHON_READER = r"""
import resource, sys, frameshm
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
frames, first = 0, None
with frameshm.Consumer(sys.argv[1], timeout=10) as feed:
    for frame in feed:
        if first is None:
            first = cpu()
        frame.array
        frames += frame.intact()
        if frames == int(sys.argv[2]):
            break
    print(frames, feed.stats["frames_dropped"], cpu() - first)
"""


def wait4_cpu(process):
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def program_startup_cpu(build):
    """frameshm-consumer started and refusing a bad feed name at once (best of three)."""
    runs = []
    for _ in range(3):
        process = subprocess.Popen([f"{build}/consumer/frameshm-consumer", "--feed", "bad/name"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs.append(wait4_cpu(process))
    return min(runs)


def consumer_cpu(build, width, height, fps, seconds, startup):
    feed = f"bench-py-{os.getpid()}-{width}"
    frames = int(fps * seconds)
    program = subprocess.Popen([f"{build}/consumer/frameshm-consumer", "--feed", feed, "--timeout", "10",
                                "--exit-on-end", "--stats-json"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    cpp = subprocess.Popen([reader_path(build), feed, str(frames), "count"], stdout=subprocess.PIPE, text=True)
    py = subprocess.Popen([sys.executable, "-c", PYTHON_READER, feed, str(frames)], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)  # both attached before the first frame
    producer = subprocess.run([f"{build}/producer/frameshm-producer", "--feed", feed, "--format", "BGR",
                               "--width", str(width), "--height", str(height), "--fps", str(fps),
                               "--frames", str(frames)], capture_output=True, text=True)
    if producer.returncode != 0:
        sys.exit(f"python_bench: the producer failed: {producer.stderr}")
    program_cpu = wait4_cpu(program) - startup
    program_stats = json.loads(program.stdout.read().strip().splitlines()[-1])
    cpp_frames, cpp_dropped, cpp_cpu = (float(x) for x in cpp.communicate(timeout=30)[0].split())
    py_frames, py_dropped, py_cpu = (float(x) for x in py.communicate(timeout=30)[0].split())
    return {
        "size": f"{width}x{height}", "fps": fps, "frames": frames,
        "cpp_program": {"frames": program_stats["frames"], "dropped": program_stats["dropped"],
                        "cpu_us_per_frame": program_cpu / max(program_stats["frames"], 1) * 1e6},
        "cpp": {"frames": int(cpp_frames), "dropped": int(cpp_dropped), "cpu_us_per_frame": cpp_cpu / max(cpp_frames, 1) * 1e6},
        "python": {"frames": int(py_frames), "dropped": int(py_dropped), "cpu_us_per_frame": py_cpu / max(py_frames, 1) * 1e6},
    }


def reader_path(build):
    return f"{build}/tests/python/frameshm_py_checksums"


def write_vs_copy(rounds=7, frames=100):
    feed = f"bench-py-write-{os.getpid()}"
    image = np.random.default_rng(1).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    target = np.empty_like(image)
    rotating = [np.empty_like(image) for _ in range(3)]
    best_write = best_copy = best_rotating = float("inf")
    with frameshm.Producer(feed, format="BGR", width=1920, height=1080, fps=0) as producer:
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(frames):
                producer.write(image)
            best_write = min(best_write, (time.perf_counter() - start) / frames)
            start = time.perf_counter()
            for _ in range(frames):
                np.copyto(target, image)
            best_copy = min(best_copy, (time.perf_counter() - start) / frames)
            start = time.perf_counter()
            for i in range(frames):
                np.copyto(rotating[i % 3], image)
            best_rotating = min(best_rotating, (time.perf_counter() - start) / frames)
    return {"write_us": best_write * 1e6, "numpy_copy_us": best_copy * 1e6,
            "numpy_copy_3_buffers_us": best_rotating * 1e6, "ratio_copy_over_write": best_copy / best_write,
            "ratio_copy_3_buffers_over_write": best_rotating / best_write}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build/plain")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    startup = program_startup_cpu(args.build)
    results = {"load_average": os.getloadavg()[0], "consumer_program_startup_cpu_ms": startup * 1e3,
               "consumers": []}
    for width, height, fps in ((1920, 1080, 60), (3840, 2160, 30)):
        row = consumer_cpu(args.build, width, height, fps, args.seconds, startup)
        python = row["python"]["cpu_us_per_frame"]
        row["ratio_python_over_cpp_program"] = python / row["cpp_program"]["cpu_us_per_frame"]
        row["ratio_python_over_cpp_loop"] = python / row["cpp"]["cpu_us_per_frame"]
        results["consumers"].append(row)
        print(f"{row['size']}@{fps}, CPU per frame (frames received of {row['frames']}):")
        for key, name in (("cpp_program", "frameshm-consumer"), ("cpp", "C++ API loop"), ("python", "Python")):
            print(f"  {name:18} {row[key]['cpu_us_per_frame']:6.0f} us ({row[key]['frames']})")
        print(f"  Python / frameshm-consumer {row['ratio_python_over_cpp_program']:.2f}, "
              f"Python / C++ loop {row['ratio_python_over_cpp_loop']:.2f}")
    results["write_1080p"] = write_vs_copy()
    w = results["write_1080p"]
    print(f"1080p BGR: write() {w['write_us']:.0f} us; numpy copy {w['numpy_copy_us']:.0f} us "
          f"(copy/write {w['ratio_copy_over_write']:.2f}), into 3 buffers in turn {w['numpy_copy_3_buffers_us']:.0f} us "
          f"(copy/write {w['ratio_copy_3_buffers_over_write']:.2f})")
    print(f"(load average {results['load_average']:.2f} at the start)")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
