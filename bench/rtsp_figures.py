#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""rtsp_figures.py: frameshm-rtsp's figures (issue 13), measured on loopback.

1. Capture -> decoded frame at an ffmpeg and a GStreamer rtspsrc client,
   1280x720 I420 at 30 fps, H.264 (x264enc tune=zerolatency). The producer
   (the Python binding) takes CLOCK_MONOTONIC just before it fills a frame,
   passes it as the frame's capture time and also draws it into the picture
   as a 64-bit barcode: bit i is the 16x32 luma block at x = 16 i, y = 0,
   black or white, aligned to macroblocks so that the encoder keeps it. Each
   client decodes the stream and hands the top 1024x32 strip, as gray, to
   this script on a pipe (ffmpeg: -vf crop, -flush_packets 1; rtspsrc:
   decodebin ! videocrop ! fdsink); the script reads the bits back and takes
   CLOCK_MONOTONIC again as the strip arrives: latency = arrival - capture
   (one machine, one clock). p50 and p95 over every frame read.
2. The server's CPU for one feed with 1 and with 8 clients (ffmpeg receiving
   every packet, -c copy to null, each its own process, so that decoding
   does not take the CPU from the server): utime + stime of frameshm-rtsp
   from /proc/<pid>/stat over the same window, and per frame it encoded then.

    bench/rtsp_figures.py --build build/plain [--seconds 10] [--json]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np

WIDTH, HEIGHT, FPS = 1280, 720, 30
BITS, BLOCK_W, BLOCK_H = 64, 16, 32
STRIP_W, STRIP_H = BITS * BLOCK_W, BLOCK_H


def monotonic_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class StampingProducer(threading.Thread):
    """Publishes 720p30 I420 frames of a moving gradient, each stamped with its capture time."""

    def __init__(self, frameshm, feed):
        super().__init__(daemon=True)
        self.producer = frameshm.Producer(feed, format="I420", width=WIDTH, height=HEIGHT, fps=FPS, slots=4)
        x = np.arange(WIDTH, dtype=np.uint16)
        y = np.arange(HEIGHT, dtype=np.uint16)[:, None]
        self.backgrounds = []
        for shift in range(0, 256, 8):  # 32 pictures of a gradient that moves
            frame = np.full((HEIGHT * 3 // 2, WIDTH), 128, np.uint8)
            frame[:HEIGHT] = ((x + y + shift * 4) % 220 + 16).astype(np.uint8)
            self.backgrounds.append(frame)
        self.stop = threading.Event()

    def run(self):
        start = time.monotonic()
        n = 0
        while not self.stop.is_set():
            delay = start + n / FPS - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            slot = self.producer.acquire()
            captured = monotonic_ns()
            picture = slot.array
            np.copyto(picture, self.backgrounds[n % len(self.backgrounds)])
            for bit in range(BITS):
                value = 235 if (captured >> bit) & 1 else 16
                picture[:BLOCK_H, bit * BLOCK_W:(bit + 1) * BLOCK_W] = value
            self.producer.publish(slot, capture_ns=captured)
            n += 1
        self.producer.close()


def read_stamp(strip):
    """The capture time in a 32x1024 gray strip, from the centres of its blocks."""
    value = 0
    for bit in range(BITS):
        block = strip[8:24, bit * BLOCK_W + 4:bit * BLOCK_W + 12]
        if block.mean() > 128:
            value |= 1 << bit
    return value


def measure_latency(command, seconds):
    """Latencies in ms of the strips `command` writes to its stdout, for `seconds` after the first."""
    client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    latencies, unreadable = [], 0
    deadline = None
    size = STRIP_W * STRIP_H
    try:
        while deadline is None or time.monotonic() < deadline:
            data = client.stdout.read(size)
            arrived = monotonic_ns()
            if len(data) < size:
                break
            if deadline is None:
                deadline = time.monotonic() + seconds
            stamp = read_stamp(np.frombuffer(data, np.uint8).reshape(STRIP_H, STRIP_W))
            latency = (arrived - stamp) / 1e6
            if 0 <= latency < 10000:
                latencies.append(latency)
            else:
                unreadable += 1
    finally:
        client.kill()
        client.wait()
    return latencies, unreadable


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, binary, feed, env):
        self.process = subprocess.Popen([binary, "--port", "0", "--feed", feed, "--stats-interval", "1"],
                                        stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        self.port = None
        for line in self.process.stderr:
            match = re.search(r"listening on rtsp://[^:]+:(\d+)/", line)
            if match:
                self.port = int(match.group(1))
                break
        if self.port is None:
            sys.exit("rtsp_figures: frameshm-rtsp did not start")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.lines.append((time.monotonic(), line))

    def encoded_fps(self, since, until):
        rates = [float(m.group(1)) for at, line in self.lines if since <= at <= until
                 for m in [re.search(r"([0-9.]+) fps", line)] if m]
        return sum(rates) / len(rates) if rates else 0.0

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build/plain", help="build directory (frameshm-rtsp, the plugin, python/)")
    parser.add_argument("--seconds", type=float, default=10, help="length of each measurement")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(build, "python"))
    import frameshm

    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(build, "plugins"),
               GST_REGISTRY=os.path.join(build, "gst-registry.bin"))
    feed = f"rtsp-figures-{os.getpid()}"
    producer = StampingProducer(frameshm, feed)
    producer.start()
    server = Server(os.path.join(build, "rtsp", "frameshm-rtsp"), feed, env)
    url = f"rtsp://127.0.0.1:{server.port}/{feed}"
    figures = {"feed": f"{WIDTH}x{HEIGHT} I420 {FPS} fps, H.264 x264enc tune=zerolatency 2000 kbit/s"}
    try:
        time.sleep(1)
        ffmpeg = ["ffmpeg", "-nostdin", "-v", "error", "-fflags", "nobuffer", "-flags", "low_delay"]
        strip = ["-an", "-vf", f"crop={STRIP_W}:{STRIP_H}:0:0,format=gray", "-f", "rawvideo", "-flush_packets", "1",
                 "pipe:1"]
        clients = {
            "ffmpeg (TCP)": ffmpeg + ["-rtsp_transport", "tcp", "-i", url] + strip,
            "ffmpeg (UDP)": ffmpeg + ["-rtsp_transport", "udp", "-i", url] + strip,
            "ffmpeg (UDP, one decoding thread)": ffmpeg + ["-threads", "1", "-rtsp_transport", "udp", "-i", url] + strip,
            "rtspsrc latency=0 ! decodebin": [
                "gst-launch-1.0", "-q", "rtspsrc", f"location={url}", "latency=0", "!", "decodebin", "!", "videocrop",
                f"right={WIDTH - STRIP_W}", f"bottom={HEIGHT - STRIP_H}", "!", "videoconvert", "!",
                "video/x-raw,format=GRAY8", "!", "fdsink", "fd=1", "sync=false"],
        }
        latency = {}
        for name, command in clients.items():
            values, unreadable = measure_latency(command, args.seconds)
            if not values:
                latency[name] = {"frames": 0, "unreadable": unreadable}
                continue
            latency[name] = {"frames": len(values), "unreadable": unreadable,
                             "p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1)}
            time.sleep(1)
        figures["latency"] = latency

        cpu = {}
        for count in (1, 8):
            viewers = [subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-an", "-c", "copy", "-f", "null", "-"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
                       for _ in range(count)]
            time.sleep(4)  # every client set up and playing
            wall0, cpu0 = time.monotonic(), cpu_seconds(server.process.pid)
            time.sleep(args.seconds)
            wall1, cpu1 = time.monotonic(), cpu_seconds(server.process.pid)
            alive = sum(viewer.poll() is None for viewer in viewers)
            for viewer in viewers:
                viewer.kill()
                viewer.wait()
            percent = 100 * (cpu1 - cpu0) / (wall1 - wall0)
            fps = server.encoded_fps(wall0, wall1)
            cpu[count] = {"cpu_percent": round(percent, 1), "encoded_fps": round(fps, 1), "clients_alive": alive,
                          "cpu_ms_per_frame": round(10 * percent / fps, 2) if fps > 0 else None}
            time.sleep(2)
        figures["server_cpu"] = cpu
        figures["cpu_ratio_8_to_1"] = round(cpu[8]["cpu_percent"] / cpu[1]["cpu_percent"], 2)
        if cpu[1]["cpu_ms_per_frame"] and cpu[8]["cpu_ms_per_frame"]:
            figures["cpu_per_frame_ratio_8_to_1"] = round(cpu[8]["cpu_ms_per_frame"] / cpu[1]["cpu_ms_per_frame"], 2)
    finally:
        server.stop()
        producer.stop.set()
        producer.join()

    if args.json:
        print(json.dumps(figures))
        return
    print(f"feed: {figures['feed']}")
    for name, value in figures["latency"].items():
        print(f"capture -> decoded at {name}: p50 {value.get('p50_ms')} ms, p95 {value.get('p95_ms')} ms "
              f"({value['frames']} frames, {value['unreadable']} unreadable)")
    for count, value in figures["server_cpu"].items():
        print(f"server CPU, {count} client(s): {value['cpu_percent']} % of a core, "
              f"{value['cpu_ms_per_frame']} ms per frame (encoding {value['encoded_fps']} fps, "
              f"{value['clients_alive']} clients playing)")
    print(f"ratio 8 clients / 1 client: {figures['cpu_ratio_8_to_1']} "
          f"(per encoded frame: {figures.get('cpu_per_frame_ratio_8_to_1')})")


if __name__ == "__main__":
    main()
