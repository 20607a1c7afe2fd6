#!/usr/bin/env python3
"""Pages per second: the local engine (`--workers N`, a process pool) against the Ray engine (N actors), same inputs.

    python benchmarks/bench_ray.py [--pages 30] [--workers 2] [--config configs/default.yaml] [--address ADDR]

Inputs: copies of examples/sample_page.png and SROIE receipts from ../shared/data/sroie_dev (evaluation images,
used here for speed only), half each. Both engines run with one onnxruntime thread per process and write JSONL
to a temporary folder; each timing includes starting the workers and loading the models in them (not starting Ray
itself: a cluster is already up). Prints the figures and whether both engines wrote the same rows.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ray  # noqa: E402

from pipeline import ray_engine  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.writers import to_jsonl  # noqa: E402
from run_pipeline import read_all  # noqa: E402

SROIE = ROOT.parent / "shared" / "data" / "sroie_dev" / "images"


def make_inputs(folder: Path, pages: int) -> list[str]:
    receipts = sorted(SROIE.glob("*.jpg"))[: pages - pages // 2]
    for i in range(pages // 2):
        shutil.copy(ROOT / "examples" / "sample_page.png", folder / f"sample_{i:03d}.png")
    for path in receipts:
        shutil.copy(path, folder / path.name)
    return sorted(str(p) for p in folder.iterdir())


def rows(lines: list[str]) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "timings_ms"} for line in lines]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--config", default=None)
    ap.add_argument("--address", help="a running Ray cluster (default: a local one with --workers CPUs)")
    args = ap.parse_args()
    config = load_config(args.config, ["runtime.threads=1"])
    tmp = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    (tmp / "in").mkdir()
    paths = make_inputs(tmp / "in", args.pages)
    print(f"{len(paths)} pages, {args.workers} workers x 1 thread, config {args.config or 'configs/default.yaml'}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)

    start = time.perf_counter()
    local = [to_jsonl(doc) for doc in read_all(config, paths, args.workers)]
    local_s = time.perf_counter() - start

    ray.init(address=args.address, num_cpus=None if args.address else args.workers, include_dashboard=False)
    start = time.perf_counter()
    errors = ray_engine.run(paths, str(tmp / "shards"), config, workers=args.workers, batch_size=args.batch_size)
    ray_s = time.perf_counter() - start
    shards = sorted((tmp / "shards").glob("part-*.jsonl"))
    ray_rows = [line for p in shards for line in p.read_text(encoding="utf-8").splitlines(keepends=True)]
    ray.shutdown()

    for name, seconds in (("local --workers", local_s), ("ray actors", ray_s)):
        print(f"{name} {args.workers}: {seconds:.1f} s, {len(paths) / seconds:.2f} pages/s")
    print(f"same rows: {rows(local) == rows(ray_rows)}; errors: {errors}; load average {os.getloadavg()[0]:.1f} at end")
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
