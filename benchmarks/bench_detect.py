"""Detection speed: median milliseconds per page of the configured detector on SROIE receipts, and peak memory.

    python benchmarks/bench_detect.py [--config configs/default.yaml] [--set KEY=VALUE]... [--pages 24] [--manifest M]

Only the detect stage is built and timed (each image is decoded before its timing; the first page warms up and
is not counted); onnxruntime and OpenCV use `runtime.threads` threads. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import load_config  # noqa: E402
from pipeline.evaluate import load_manifest  # noqa: E402
from pipeline.imageio import load_pages  # noqa: E402
from pipeline.registry import build  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/default.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--manifest", type=Path, default=DATA / "sroie_dev" / "manifest.jsonl")
    ap.add_argument("--pages", type=int, default=24)
    args = ap.parse_args()
    config = load_config(args.config, args.set)
    threads = config["runtime"]["threads"]
    cv2.setNumThreads(threads)
    detector = build("detect", config["detect"], threads=threads)
    rows = load_manifest(args.manifest)[: args.pages + 1]
    times, lines = [], 0
    for n, row in enumerate(rows):
        image = load_pages(args.manifest.parent / row["image"])[0]
        if n == 0:
            detector(image)
            continue
        start = time.perf_counter()
        lines += len(detector(image))
        times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({
        "detector": config["detect"]["type"], "config": args.config, "sets": args.set, "threads": threads,
        "pages": len(times), "median_ms": round(statistics.median(times), 1),
        "mean_ms": round(statistics.mean(times), 1),
        "max_ms": round(max(times), 1), "lines_per_page": round(lines / max(1, len(times)), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
