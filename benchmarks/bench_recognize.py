#!/usr/bin/env python3
"""Recognizer speed and int8 quantization check, on held-out synthetic lines (lm/tune.py's lines and renderer).

    python benchmarks/bench_recognize.py [--weights W] [--threads 2] [--per-kind 60] [--repeat 20]

Prints one JSON object per model (the shipped fp32 ONNX and, unless --no-int8, its onnxruntime dynamic int8
quantization): size on disk, lines/s for batches of 32 lines 320 px wide, median ms for one 320 px line, and
greedy CER on the held-out lines (the quantization rule: ship int8 only if it costs < 0.2 CER points).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lm.tune import KINDS, synthetic_lines  # noqa: E402
from models.charset import load_charset  # noqa: E402
from pipeline.metrics import cer  # noqa: E402
from stages.decode import GreedyDecoder  # noqa: E402
from stages.recognize import CRNNRecognizer, pad_lines  # noqa: E402

WIDTH = 320


def fixed_width(image: np.ndarray, width: int = WIDTH) -> np.ndarray:
    """A line image tiled or cut to exactly `width` px (the benchmark's batch shape)."""
    reps = -(-width // image.shape[1])
    return np.tile(image, (1, reps))[:, :width]


def median_seconds(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(weights: Path, charset_path: Path, lines: list[tuple[str, str, np.ndarray]], threads: int, repeat: int) -> dict:
    recognizer = CRNNRecognizer(str(weights), charset=str(charset_path), threads=threads, batch_size=32)
    session = recognizer.session
    batch = pad_lines([fixed_width(im) for _, _, im in lines[:32]], recognizer.stride)
    single = pad_lines([fixed_width(lines[0][2])], recognizer.stride)
    batch_s = median_seconds(lambda: session.run(None, {"x": batch[0], "widths": batch[1]}), repeat)
    single_s = median_seconds(lambda: session.run(None, {"x": single[0], "widths": single[1]}), repeat * 5)
    decoder = GreedyDecoder(recognizer.charset)
    texts = [text for text, _ in decoder(recognizer([im for _, _, im in lines]))]
    per_kind = {
        kind: round(cer([p for p, (k, _, _) in zip(texts, lines) if k == kind], [t for k, t, _ in lines if k == kind])["cer"], 4)
        for kind in KINDS
    }
    return {
        "model": weights.name, "mb": round(weights.stat().st_size / 2**20, 2), "threads": threads,
        "lines_per_s_batch32x320": round(32 / batch_s, 1), "ms_single_line_320": round(1000 * single_s, 2),
        "cer_greedy": round(cer(texts, [t for _, t, _ in lines])["cer"], 4), "cer_by_kind": per_kind,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "models/weights/crnn_zh_en.onnx")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-kind", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-int8", action="store_true")
    args = parser.parse_args()
    charset_path = args.weights.with_suffix(".charset.json")
    lines = synthetic_lines(load_charset(charset_path), list(KINDS), args.per_kind, args.seed)
    print(json.dumps(measure(args.weights, charset_path, lines, args.threads, args.repeat)), flush=True)
    if not args.no_int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory() as tmp:
            int8 = Path(tmp) / "crnn_int8.onnx"
            quantize_dynamic(str(args.weights), str(int8), weight_type=QuantType.QInt8)
            print(json.dumps(measure(int8, charset_path, lines, args.threads, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
