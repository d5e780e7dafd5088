#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Draws frameshm-bench's charts from the JSON of a run (frameshm-bench --json).

    /usr/bin/python3 bench/plot.py docs/bench/bench.json docs/bench

One PNG per scenario: grouped bars with their values printed on them, a
legend, a log scale where figures span decades (latency), and a dashed line
for the reference measured in the same run. Needs matplotlib (Debian's
python3-matplotlib). Prints "wrote <path>" for each chart; exit code 2 if the
JSON cannot be read.
"""
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

NAN = float("nan")
SIZES = ["640x480", "1080p", "4K"]


def charts(fig):
    """(file, title, unit, series, groups [(label, values)], log, reference, reference label) per chart."""
    out = []
    groups = [(f"{s} {pf}", [fig("throughput", f"{s}.{pf}.{k}") for k in
                             ("readerMBps", "producerMBps", "memcpyMBps", "checksumMBps")])
              for s in SIZES for pf in ("I420", "BGR")]
    out.append(("throughput.png", "1. Throughput: producer -> 1 reader, verified", "MB/s",
                ["frameshm delivered+verified", "frameshm published", "memcpy (1 core)", "stamp check (1 core)"],
                groups, False, NAN, ""))
    groups = []
    for s in SIZES:
        copy_us, copy_mbps, memcpy_mbps = (fig("publish", f"{s}.{k}") for k in ("copyUs", "copyMBps", "memcpyMBps"))
        # memcpy time per frame from its bandwidth and the frame size the copy figure implies.
        groups.append((s, [copy_us, copy_us * copy_mbps / memcpy_mbps, fig("publish", f"{s}.inPlaceUs")]))
    out.append(("publish.png", "Publish cost per frame, I420 (issue 2)", "us per frame",
                ["copy-publish (write)", "memcpy same size", "in-place acquire+publish"], groups, True, NAN, ""))
    groups = [(f"{n} reader" + ("s" if n > 1 else ""),
               [fig("fanout", f"{n}r.{k}") for k in ("minReaderFps", "producerCpuUs", "producerCpuUsTakeOnly")])
              for n in (1, 2, 4, 8)]
    out.append(("fanout.png", "2. Fan-out at 1080p60 I420, producer copies each frame", "frames/s, us per frame",
                ["slowest reader fps", "producer CPU us/frame (readers verify)",
                 "producer CPU us/frame (readers skip pixels)"], groups, False, NAN, ""))
    groups = [("frameshmsink/src" if who == "frameshmgst" else who,
               [fig("slowreader", f"{who}.{k}", "ratio") * 100 for k in ("normalFps", "producerFps", "slowFps")])
              for who in ("frameshm", "frameshmgst", "shmsink")]
    out.append(("slowreader.png", "3. Beside a 100 ms/frame reader, 1080p60", "% of source rate",
                ["normal reader", "producer", "slow reader"], groups, False, NAN, ""))

    def percentiles(id_):
        return [fig("latency", f"{id_}.{p}") for p in ("p50", "p99", "max")]

    groups = [("floor 60Hz", percentiles("floor")), ("floor after-4K-copy", percentiles("floorAfterCopy"))]
    for s in SIZES + ["4K30"]:
        if s == "4K30":
            groups.append(("floor 30Hz", percentiles("floor30")))
        groups += [(f"{'4K@30' if s == '4K30' else s} {mode}", percentiles(f"{s}.{mode}.publishToWake"))
                   for mode in ("block", "spin", "poll")]
    out.append(("latency.png", "4. Publish -> wake of a reader in another process, I420, 60 Hz unless @30", "us",
                ["p50", "p99", "max"], groups, True, fig("latency", "floor.p50"),
                "semaphore floor p50, 60 Hz (same run)"))
    groups = [(s, [fig("gstreamer", f"{who}.{s}.{how}.p50") for who in ("shm", "frameshm") for how in
                   ("copy", "inplace")]) for s in SIZES]
    out.append(("gstreamer.png", "5. Through GStreamer: appsrc -> appsink latency p50", "us",
                ["shmsink copy", "shmsink in place", "frameshm copy", "frameshm in place"], groups, True,
                fig("gstreamer", "sameProcess.p50"), "appsrc ! queue ! appsink, same process"))
    groups = [(f"{n} readers", [fig("scale", f"readers{n}.publishUs"), fig("scale", f"readers{n}.cpuUs"),
                                fig("scale", f"bareWake{n}.cpuUs")])
              for n in (1, 2, 4, 8, 16, 32, 64)]
    groups += [(f"{n} slots", [fig("scale", f"slots{n}.publishUs"), NAN, NAN]) for n in (3, 4, 8, 16)]
    out.append(("scale.png", "6. Scale: producer per-frame cost (1080p I420, in place, 60 fps)", "us per frame",
                ["publish call", "producer CPU", "bare futex wake of as many processes: CPU"], groups, False,
                NAN, ""))
    groups = [(f"{n} readers", [fig("scale", f"readers{n}.segmentBytes") * 1e-6]) for n in (1, 8, 32)]
    groups += [(f"{n} slots", [fig("scale", f"slots{n}.segmentBytes") * 1e-6]) for n in (3, 4, 8, 16)]
    out.append(("memory.png", "6. Scale: segment size (1080p I420)", "MB", ["segment size"], groups, False, NAN, ""))
    return out


def label(value):
    """3 significant digits; thousands as 18.7k, so neighbouring labels do not collide."""
    if abs(value) >= 10000:
        return f"{value / 1000:.1f}k"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def draw(path, title, unit, series, groups, log, reference, reference_label):
    width = max(8.0, 0.35 * len(series) * len(groups) + 2)
    figure, axes = plt.subplots(figsize=(min(width, 22), 5.2), dpi=110)
    bar = 0.8 / len(series)
    for i, name in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * bar for g in range(len(groups))]
        values = [values[i] for _, values in groups]
        finite = [(x, v) for x, v in zip(xs, values) if math.isfinite(v) and (v > 0 or not log)]
        if not finite:
            continue
        bars = axes.bar([x for x, _ in finite], [v for _, v in finite], bar * 0.92, label=name)
        axes.bar_label(bars, labels=[label(v) for _, v in finite], fontsize=7, padding=1)
    if math.isfinite(reference) and reference > 0:
        axes.axhline(reference, color="#c00000", linestyle="--", linewidth=1.2,
                     label=f"{reference_label}: {label(reference)} {unit}")
    axes.set_xticks(range(len(groups)), [g.replace(" ", "\n", 1) for g, _ in groups], fontsize=8)
    axes.set_ylabel(unit + (" (log scale)" if log else ""))
    if log:
        axes.set_yscale("log")
        # 1, 2, 5, 10, 20, 50...: plain numbers a reader can read values from.
        axes.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axes.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.set_xlim(-0.6, len(groups) - 0.4)
    axes.margins(y=0.12)
    axes.set_title(title, loc="left", fontweight="bold")
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    entries = len(series) + (1 if math.isfinite(reference) else 0)
    axes.legend(fontsize=8, frameon=False, ncol=min(entries, 4), loc="upper left", bbox_to_anchor=(0, -0.14))
    figure.savefig(path, bbox_inches="tight", pad_inches=0.15)
    plt.close(figure)


def main(argv):
    if len(argv) != 3:
        print("usage: plot.py BENCH_JSON OUTPUT_DIR", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            scenarios = json.load(f)["scenarios"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"plot.py: {argv[1]} is not a JSON file written by frameshm-bench --json ({error})", file=sys.stderr)
        return 2

    def fig(scenario, id_, field="value"):
        for figure in scenarios.get(scenario, {}).get("figures", []):
            if figure.get("id") == id_:
                value = figure.get(field)
                return float(value) if isinstance(value, (int, float)) else NAN
        return NAN

    os.makedirs(argv[2], exist_ok=True)
    for file, *chart in charts(fig):
        if not any(math.isfinite(v) for _, values in chart[3] for v in values):
            continue
        path = os.path.join(argv[2], file)
        draw(path, *chart)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
