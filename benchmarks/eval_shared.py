"""Score lineocr on every shared evaluation set and print a Markdown table (and the full JSON with --json).

    python benchmarks/eval_shared.py [--config configs/default.yaml] [--set KEY=VALUE]... [--data ../shared/data]

Crop sets are read with `detect.type=whole` (each crop is one line); page sets with the full pipeline, and again
as "boxes": their ground-truth lines cut out and read as crops (recognition alone, without detection's errors;
a page's lines together and, as the Pipeline reads them, amid lines when most of them are wide).
SROIE labels are upper case, so SROIE is compared case-insensitively (DESIGN.md / the data README).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pipeline.evaluate import evaluate_boxes, evaluate_manifest
from pipeline.geometry import LINE_ASPECT
from pipeline.pipeline import Pipeline

SETS = [  # (manifest relative to the data folder, case-insensitive)
    ("sroie_dev/manifest.jsonl", True),
    ("en_crops/manifest.jsonl", False),
    ("en_crops/wildreceipt_fullpage_manifest.jsonl", False),
    ("zh_rects_sample/crops/manifest.jsonl", False),
    ("zh_rects_sample/manifest.jsonl", False),
    ("zh_plates_ccpd/manifest.jsonl", False),
    ("zh_plates_ccpd/fullimage_manifest.jsonl", False),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/default.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--json", type=Path, help="also write every set's full metrics here")
    args = ap.parse_args()
    pages = Pipeline.from_config(args.config, args.set)
    crops = Pipeline.from_config(args.config, ["detect.type=whole", *args.set])

    def read_lines(lines: list) -> list[str]:
        # one page's lines, read with the page's context as the Pipeline reads them (a page of lines or not)
        of_lines = bool(lines) and float(np.median([c.shape[1] / c.shape[0] for c in lines])) >= LINE_ASPECT
        return [text for text, *_ in crops.read_crops(lines, amid_lines=[of_lines] * len(lines))]

    results = []
    for rel, folded in SETS:
        manifest = args.data / rel
        first = json.loads(manifest.read_text(encoding="utf-8").splitlines()[0])
        reader = crops if "lines" not in first else pages
        results.append(evaluate_manifest(manifest, reader, case_insensitive=folded) | {"manifest": rel})
        if "lines" in first:
            results.append(evaluate_boxes(manifest, read_lines, case_insensitive=folded) | {"manifest": rel})
    print("| set | kind | items | CER | CER (no spaces) | line acc. | det. P / R / hmean | end-to-end CER | BoT F1 | ms per image (line) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["kind"] in ("crops", "boxes"):
            ms = f"{r['ms_per_image']:.0f}" if r["kind"] == "crops" else f"({r['ms_per_line']:.1f})"
            row = [f"{r['cer']:.1%}", f"{r['cer_no_space']:.1%}", f"{r['line_accuracy']:.1%}", "", "", "", ms]
        else:
            d = r["detection"]
            row = ["", "", "", f"{d['precision']:.3f} / {d['recall']:.3f} / {d['hmean']:.3f}",
                   f"{r['end_to_end_cer']:.1%}", f"{r['bag_of_tokens_f1']:.3f}", f"{r['ms_per_page']:.0f}"]
        print("| " + " | ".join([r["manifest"], r["kind"], str(r["items"]), *row]) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
