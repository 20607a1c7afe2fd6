"""Score a reader on an evaluation manifest (../shared/DESIGN.md, "Evaluation sets and metrics").

Manifests are JSONL with paths relative to the manifest: crops `{"image", "text"}` or pages
`{"image", "lines": [{"points", "text", "ignore"?}]}`. Ground-truth lines with `"ignore": true` or text "###" are
don't-care regions: they are dropped, and so is every predicted line lying mostly (over half its area) inside
them. An image whose read raises counts as an empty prediction and is listed under "failed".
`evaluate_boxes` scores recognition alone on a page manifest: its ground-truth lines cut out and read as crops.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import shapely
from shapely.geometry import Polygon

from . import metrics
from .document import Document
from .geometry import rectify
from .imageio import InputError, load_pages


def load_manifest(manifest: Path) -> list[dict]:
    """The manifest's rows; raises ValueError naming the line for malformed JSON or a row without "image"."""
    rows = []
    for n, raw in enumerate(Path(manifest).read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{manifest}:{n}: not JSON ({exc})") from None
        if not isinstance(row, dict) or "image" not in row:
            raise ValueError(f"{manifest}:{n}: a row needs an \"image\" key")
        rows.append(row)
    return rows


def _set_name(manifest: Path) -> str:
    return manifest.parent.name if manifest.stem == "manifest" else f"{manifest.parent.name}/{manifest.stem}"


def _polygon(points: list) -> Polygon:
    return Polygon(points) if len(points) >= 3 else Polygon()


def _ignored(line: dict) -> bool:
    return bool(line.get("ignore")) or line.get("text") == "###"


def _fold(text: str, case_insensitive: bool) -> str:
    return text.casefold() if case_insensitive else text


def _no_space(text: str) -> str:
    return "".join(metrics.normalize_text(text).split())


def evaluate_manifest(manifest: Path, read: Callable[[Path], Document], case_insensitive: bool = False) -> dict:
    """Read every image of `manifest` with `read` and return the set's metrics as one JSON-ready dict.

    crops: {"set", "kind": "crops", "items", "cer", "cer_no_space", "line_accuracy", "chars", "ms_per_image",
    "failed"}; the prediction is the document's text with its lines joined by a space.
    pages: {"set", "kind": "pages", "items", "detection": {precision, recall, hmean, tp, pred, truth},
    "end_to_end_cer", "bag_of_tokens_f1", "bag_of_tokens": {precision, recall, tp, pred, truth}, "ms_per_page",
    "failed"}, micro-averaged over pages. Timings average the reads that succeeded.
    """
    manifest = Path(manifest)
    rows = load_manifest(manifest)
    kinds = {"pages" if "lines" in row else "crops" for row in rows}
    if len(kinds) != 1:
        raise ValueError(f"{manifest}: " + ("no rows" if not kinds else "mixes crop rows and page rows"))
    kind = kinds.pop()
    failed: list[dict] = []
    times: list[float] = []
    docs: list[Document | None] = []
    for row in rows:
        start = time.perf_counter()
        try:
            doc = read(manifest.parent / row["image"])
        except Exception as exc:  # noqa: BLE001 - a bad image is a result, not a crash
            failed.append({"image": row["image"], "error": f"{type(exc).__name__}: {exc}"})
            docs.append(None)
            continue
        times.append((time.perf_counter() - start) * 1000)
        docs.append(doc)
    ms = round(sum(times) / len(times), 1) if times else 0.0
    result = {"set": _set_name(manifest), "kind": kind, "items": len(rows), "case_insensitive": case_insensitive}
    if kind == "crops":
        truths = [_fold(str(row.get("text", "")), case_insensitive) for row in rows]
        preds = [_fold(" ".join(doc.text.split("\n")), case_insensitive) if doc else "" for doc in docs]
        result.update(_line_scores(preds, truths), ms_per_image=ms)
    else:
        det = {"tp": 0, "pred": 0, "truth": 0}
        bot = {"tp": 0, "pred": 0, "truth": 0}
        errors = chars = 0
        for row, doc in zip(rows, docs):
            truth = [(_polygon(line["points"]), _fold(line.get("text", ""), case_insensitive))
                     for line in row["lines"] if not _ignored(line)]
            care = [_polygon(line["points"]) for line in row["lines"] if _ignored(line)]
            pred = [(line.polygon, _fold(line.text, case_insensitive))
                    for page in (doc.pages if doc else []) for line in page.lines]
            pred = _drop_dont_care(pred, care)
            for key, value in metrics.detection_scores([p for p, _ in pred], [t for t, _ in truth]).items():
                if key in det:
                    det[key] += value
            e, c = metrics.end_to_end_cer(pred, truth)
            errors, chars = errors + e, chars + c
            for key, value in metrics.bag_of_tokens_f1("\n".join(t for _, t in pred),
                                                       "\n".join(t for _, t in truth)).items():
                bot[key] += value
        d, b = metrics.prf(**det), metrics.prf(**bot)
        result.update(detection={k: round(v, 4) for k, v in d.items()} | det,
                      end_to_end_cer=round(errors / max(chars, 1), 4), bag_of_tokens_f1=round(b["hmean"], 4),
                      bag_of_tokens={"precision": round(b["precision"], 4), "recall": round(b["recall"], 4)} | bot,
                      ms_per_page=ms)
    result["failed"] = failed
    return result


def evaluate_boxes(manifest: Path, read_crops: Callable[[list[np.ndarray]], list[str]],
                   case_insensitive: bool = False) -> dict:
    """Recognition alone on a page manifest: each ground-truth line (don't-care ones skipped) cut out along its
    polygon (`rectify`, as the Pipeline cuts detected lines) and read with `read_crops` (crops -> texts), a page's
    lines together. {"set", "kind": "boxes", "items" (lines), "cer", "cer_no_space", "line_accuracy", "chars",
    "ms_per_line", "failed"}; the lines of a page that cannot be loaded count as read empty."""
    manifest = Path(manifest)
    truths, preds, failed, seconds = [], [], [], 0.0
    for row in load_manifest(manifest):
        lines = [line for line in row.get("lines", []) if not _ignored(line)]
        texts = [_fold(line.get("text", ""), case_insensitive) for line in lines]
        truths += texts
        try:
            image = load_pages(manifest.parent / row["image"], name=row["image"])[0]
        except InputError as exc:
            failed.append({"image": row["image"], "error": str(exc)})
            preds += [""] * len(lines)
            continue
        start = time.perf_counter()
        read = read_crops([rectify(image, np.asarray(line["points"], np.float32)) for line in lines]) if lines else []
        seconds += time.perf_counter() - start
        preds += [_fold(text, case_insensitive) for text in read]
    return {"set": _set_name(manifest), "kind": "boxes", "items": len(truths), "case_insensitive": case_insensitive,
            **_line_scores(preds, truths), "ms_per_line": round(1000 * seconds / max(1, len(truths)), 2),
            "failed": failed}


def _line_scores(preds: list[str], truths: list[str]) -> dict:
    """CER with and without white space, line accuracy and character count of lines read one by one."""
    scores = metrics.cer(preds, truths)
    no_space = metrics.cer([_no_space(p) for p in preds], [_no_space(t) for t in truths])
    return {"cer": round(scores["cer"], 4), "cer_no_space": round(no_space["cer"], 4),
            "line_accuracy": round(scores["line_accuracy"], 4), "chars": scores["chars"]}


def _drop_dont_care(pred: list[tuple[Polygon, str]], care: list[Polygon]) -> list[tuple[Polygon, str]]:
    """Predicted lines whose area lies over half inside an ignored ground-truth region are removed."""
    if not care or not pred:
        return pred
    region = shapely.union_all([g if g.is_valid else g.buffer(0) for g in care])
    kept = []
    for poly, text in pred:
        poly = poly if poly.is_valid else poly.buffer(0)
        if poly.area <= 0 or poly.intersection(region).area <= 0.5 * poly.area:
            kept.append((poly, text))
    return kept
