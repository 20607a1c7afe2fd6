#!/usr/bin/env python3
"""Decoding speed: median ms per line, greedy vs beam_lm, on the recognizer's log-probs for held-out synthetic lines
(the same lines and cache as lm/tune.py), plus the LM's load time (kenlm alone and the whole beam_lm stage).

    OMP_NUM_THREADS=1 python benchmarks/bench_decode.py [--weights W] [--per-kind 40] [--config configs/default.yaml]

beam_lm takes its parameters from the config's decode section when that is beam_lm, else its defaults.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lm.scorer import load_model  # noqa: E402
from lm.tune import KINDS, recognized_lines  # noqa: E402
from models.charset import load_charset  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.resources import resolve_path  # noqa: E402
from stages.decode import BeamLMDecoder, GreedyDecoder  # noqa: E402


def median_ms(decoder, log_probs) -> float:
    times = []
    for lp in log_probs:
        start = time.perf_counter()
        decoder([lp])
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 2)


def timed(make, repeat: int = 3) -> tuple[float, object]:
    """Median seconds of `repeat` calls, and the last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = make()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "models/weights/crnn_zh_en.onnx")
    parser.add_argument("--per-kind", type=int, default=40)
    parser.add_argument("--config", default=str(ROOT / "configs/default.yaml"))
    parser.add_argument("--cache", type=Path, default=ROOT / "runs/bench_decode_cache.npz")
    args = parser.parse_args()

    decode = load_config(args.config)["decode"]
    params = {k: v for k, v in decode.items() if k != "type"} if decode["type"] == "beam_lm" else {}
    charset = load_charset(args.weights.with_suffix(".charset.json"))
    kinds, texts, log_probs = recognized_lines(args.weights, list(KINDS), args.per_kind, 1, args.cache)
    cold_s, _ = timed(lambda: BeamLMDecoder(charset, **params), repeat=1)  # the first build loads the LM
    stage_s, beam = timed(lambda: BeamLMDecoder(charset, **params))  # later builds share the loaded LM
    lm_path = resolve_path(params.get("lm", "lm/zh_en.arpa"), "decode.lm")
    kenlm_s, _ = timed(lambda: load_model.__wrapped__(lm_path))  # kenlm alone, past load_model's cache
    report = {
        "lines": len(log_probs),
        "frames_median": int(statistics.median(len(lp) for lp in log_probs)),
        "lm_load_s": {"kenlm": kenlm_s, "beam_lm_stage_first": cold_s, "beam_lm_stage_rebuilt": stage_s},
        "ms_per_line_median": {
            "greedy": median_ms(GreedyDecoder(charset), log_probs), "beam_lm": median_ms(beam, log_probs)
        },
        "beam_lm_params": params or "defaults",
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
