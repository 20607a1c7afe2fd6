"""Benchmarks: the scenario-suite builder writes valid manifests whose boxes hold the rendered text, and the runner
scores and compares systems correctly on hand-made answers (no Tesseract or rapidocr needed)."""
from __future__ import annotations

import importlib.util
import json
import math
import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks import report, systems
from benchmarks.run_benchmarks import BenchSet, score
from pipeline.document import Document, Line, Page
from shapely.geometry import box

FONTS = ("/usr/share/fonts/truetype/freefont/FreeSans.ttf",
         "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKaiMono-Regular.ttf")


def _held_out_faces():
    from fontTools.ttLib import TTFont

    from models.synth import HELD_OUT_FAMILIES, FontFace

    faces = []
    for path in FONTS:
        font = TTFont(path, lazy=True)
        family = font["name"].getDebugName(1)
        assert family in HELD_OUT_FAMILIES
        faces.append(FontFace(path, 0, family, "Regular", frozenset(chr(c) for c in font.getBestCmap())))
    return faces


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from models.synth import CORPORA

    needs = ("selenium", "fontTools")
    if not (shutil.which("chromedriver") and all(importlib.util.find_spec(m) for m in needs)
            and all(Path(p).is_file() for p in FONTS) and CORPORA.is_dir()):
        pytest.skip("needs chromedriver, selenium, fontTools, the held-out fonts and ../shared/data/corpora")
    from benchmarks.build_suites import CHARSET, Browser, Scenes, build_scenario
    from models.charset import load_charset
    from models.synth import TextSampler

    out = tmp_path_factory.mktemp("suites")
    scenes = Scenes(_held_out_faces(), TextSampler(load_charset(CHARSET), held_out=True))
    browser = Browser(scenes.font_face_css())
    try:
        build_scenario(browser, scenes, "clean_print", out, pages=1, crops=2, seed=1)
    finally:
        browser.close()
    return out


def _rows(manifest: Path) -> list[dict]:
    return [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]


def test_pages_have_boxes_around_all_the_ink(built):
    rows = _rows(built / "clean_print" / "pages" / "manifest.jsonl")
    assert len(rows) == 1 and set(rows[0]) == {"image", "lines"} and len(rows[0]["lines"]) >= 3
    gray = cv2.imread(str(built / "clean_print" / "pages" / rows[0]["image"]), cv2.IMREAD_GRAYSCALE)
    ink = gray < 128
    covered = np.zeros_like(ink)
    for line in rows[0]["lines"]:
        assert set(line) == {"points", "text"} and line["text"].strip() == line["text"] != ""
        pts = np.array(line["points"])
        assert pts.shape == (4, 2) and (pts >= -1).all() and (pts[:, 0] <= gray.shape[1] + 1).all()
        mask = np.zeros_like(gray)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
        assert ink[mask > 0].mean() > 0.02, f"no ink inside the box of {line['text']!r}"
        covered |= cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0
    assert ink[~covered].sum() < 0.01 * ink.sum(), "text outside every box"


def test_rotated_pages_carry_their_boxes():
    from benchmarks.build_suites import _rotate

    img = np.full((60, 100), 255, np.uint8)
    img[10:20, 30:80] = 0  # a "line" from (30, 10) to (80, 20)
    img[10:12, 30:32] = 100  # a mark at its top-left corner
    pts = np.array([[[30, 10], [80, 10], [80, 20], [30, 20]]], dtype=float)
    shapes = set()
    for seed in range(12):
        out, moved = _rotate(img, pts, random.Random(seed))
        shapes.add(out.shape)
        ys, xs = np.nonzero(out < 128)
        assert np.allclose(moved[0].min(0), [xs.min(), ys.min()])
        assert np.allclose(moved[0].max(0), [xs.max() + 1, ys.max() + 1])
        my, mx = np.nonzero(out == 100)
        # the first point stays the text's top-left corner, next to the mark (centre 1.4 px away)
        assert np.hypot(mx.mean() + 0.5 - moved[0][0][0], my.mean() + 0.5 - moved[0][0][1]) < 1.5
    assert shapes == {(60, 100), (100, 60)}


def test_crops_are_lines_of_ink(built):
    rows = _rows(built / "clean_print" / "crops" / "manifest.jsonl")
    assert len(rows) == 2 and all(set(r) == {"image", "text"} and r["text"] for r in rows)
    for row in rows:
        gray = cv2.imread(str(built / "clean_print" / "crops" / row["image"]), cv2.IMREAD_GRAYSCALE)
        assert gray.shape[1] > gray.shape[0] and (gray < 128).mean() > 0.02


def _doc(*lines: tuple[list, str]) -> dict:
    return Document("x", [Page(0, 100, 100, [Line(box(*b), t) for b, t in lines])]).to_dict()


def test_score_crops_counts_failures_as_empty_and_times_successes():
    bench = BenchSet("tiny", Path("/nowhere/manifest.jsonl"), "crops", False,
                     [{"image": "a.png", "text": "abd"}, {"image": "b.png", "text": "xy"}], "scenario")
    answers = [{"doc": _doc(([0, 0, 9, 9], "abc")), "ms": 10.0, "cpu_ms": 4.0},
               {"error": "RuntimeError: boom", "ms": 30.0, "cpu_ms": 2.0}]
    r = score(bench, answers)
    assert (r["cer"], r["line_accuracy"], r["chars"]) == (0.6, 0.0, 5)  # 1 substitution + 2 deletions over 5
    assert len(r["failed"]) == 1 and r["ms_per_item"] == 10.0 and r["cpu_ms_per_item"] == 4.0
    assert r["lines_per_s"] == 50.0 and r["set"] == "tiny" and r["truth_lines"] == 2


def test_score_pages_case_insensitive_with_detection_and_insertions():
    row = {"image": "p.png", "lines": [{"points": [[0, 0], [50, 0], [50, 10], [0, 10]], "text": "TOTAL 12"},
                                       {"points": [[0, 20], [50, 20], [50, 30], [0, 30]], "text": "CASH"},
                                       {"points": [[0, 40], [50, 40], [50, 50], [0, 50]], "text": "###"}]}
    bench = BenchSet("receipts", Path("/nowhere/manifest.jsonl"), "pages", True, [row], "shared")
    answer = {"doc": _doc(([0, 0, 50, 10], "total 13"), ([60, 60, 90, 70], "xyz"), ([0, 40, 50, 50], "zzz")),
              "ms": 200.0, "cpu_ms": 100.0}
    r = score(bench, [answer])
    assert r["detection"]["precision"] == 0.5 and r["detection"]["recall"] == 0.5  # the ### line is don't-care
    assert r["end_to_end_cer"] == round((1 + 4 + 3) / 12, 4)  # "12"->"13", "CASH" missed, "xyz" inserted
    assert r["truth_lines"] == 2 and r["lines_per_s"] == 10.0


def test_ratios_and_geometric_means():
    def res(name, kind, err, ms):
        key = "cer" if kind == "crops" else "end_to_end_cer"
        return {"set": name, "kind": kind, key: err, "ms_per_item": ms}
    results = {"lineocr-default": [res("a", "crops", 0.1, 10), res("b", "pages", 0.4, 400)],
               "tesseract": [res("a", "crops", 0.2, 40), res("b", "pages", 0.1, 100)]}
    pair = report.ratios(results)[("lineocr-default", "tesseract")]
    assert pair["sets"]["a"] == {"error": 0.5, "speed": 4.0}
    assert pair["sets"]["b"] == {"error": 4.0, "speed": 0.25}
    assert math.isclose(pair["geo_error"], math.sqrt(2)) and math.isclose(pair["geo_speed"], 1.0)


def test_tesseract_tsv_becomes_lines_without_spaces_between_hanzi():
    tsv = systems.TSV_HEADER + "\n".join("\t".join(map(str, r)) for r in [
        (1, 1, 0, 0, 0, 0, 0, 0, 200, 40, -1, ""),
        (4, 1, 1, 1, 1, 0, 5, 5, 150, 20, -1, ""),
        (5, 1, 1, 1, 1, 1, 5, 5, 20, 20, 90, "电话"), (5, 1, 1, 1, 1, 2, 30, 5, 20, 20, 80, "号"),
        (5, 1, 1, 1, 1, 3, 60, 5, 40, 20, 70, "No."), (5, 1, 1, 1, 1, 4, 100, 5, 40, 20, 60, "123"),
        (4, 1, 1, 1, 2, 0, 5, 30, 10, 5, -1, "")])  # a line without words is dropped
    page = systems._from_tsv(tsv, Path("x.png")).pages[0]
    assert (page.width, page.height, len(page.lines)) == (200, 40, 1)
    assert page.lines[0].text == "电话号 No. 123" and page.lines[0].points[0] == [5, 5]
    assert math.isclose(page.lines[0].confidence, 0.75)


def test_a_report_written_elsewhere_leaves_the_committed_one_alone(tmp_path):
    committed = report.REPORT.read_bytes()
    results = json.loads((report.ROOT / "benchmarks" / "results" / "latest.json").read_text(encoding="utf-8"))
    report.write(results, folder=tmp_path)
    assert (tmp_path / "report.md").read_text(encoding="utf-8").startswith("# lineocr benchmarks")
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["accuracy_vs_speed.png", "cer_per_scenario.png"]
    assert report.REPORT.read_bytes() == committed
