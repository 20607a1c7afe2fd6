"""Metrics on hand-computed cases, and evaluate_manifest on a tiny manifest with a fake reader."""
from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from shapely.geometry import Polygon

from pipeline.document import Document, Line, Page
from pipeline.evaluate import evaluate_boxes, evaluate_manifest
from pipeline.metrics import (bag_of_tokens_f1, cer, detection_scores, edit_distance, end_to_end_cer,
                              match_polygons, normalize_text, prf, tokens)


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def slow_edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_normalize_text():
    assert normalize_text("  Ａ１\u3000b \t\nc ") == "A1 b c"


@pytest.mark.parametrize("a,b,d", [("", "", 0), ("abc", "", 3), ("", "汉字", 2), ("abc", "abd", 1),
                                   ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("发票号码", "发漂号", 2)])
def test_edit_distance_cases(a, b, d):
    assert edit_distance(a, b) == edit_distance(b, a) == d


def test_edit_distance_matches_dynamic_programming():
    rng = random.Random(7)
    for _ in range(300):
        a = "".join(rng.choice("ab发 ") for _ in range(rng.randint(0, 15)))
        b = "".join(rng.choice("ab发 ") for _ in range(rng.randint(0, 15)))
        assert edit_distance(a, b) == slow_edit_distance(a, b), (a, b)
    a, b = "x" * 70 + "abcab" * 20, "abcba" * 20 + "y" * 65  # longer than one machine word
    assert edit_distance(a, b) == slow_edit_distance(a, b)


def test_cer():
    assert cer(["abd"], ["abc"]) == {"cer": pytest.approx(1 / 3), "line_accuracy": 0.0, "errors": 1, "chars": 3,
                                     "lines": 1}
    out = cer(["abd", "Ｘ  y", ""], ["abc", "X y", "zz"])  # NFKC + space folding make line 2 exact
    assert (out["errors"], out["chars"], out["lines"]) == (3, 8, 3)
    assert out["cer"] == pytest.approx(3 / 8) and out["line_accuracy"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        cer(["a"], [])


def test_match_polygons_one_to_one_greedy():
    truth = [rect(0, 0, 10, 10), rect(20, 0, 30, 10)]
    # pred 0 overlaps truth 0 with IoU 0.8, pred 1 with IoU 0.9: the better one wins, pred 0 stays unmatched
    pred = [rect(0, 0, 8, 10), rect(0, 0, 9, 10), rect(20, 0, 30, 10), rect(50, 50, 60, 60)]
    assert match_polygons(pred, truth) == [(1, 0), (2, 1)]
    assert match_polygons([rect(0, 0, 4, 10)], truth) == []          # IoU 0.4 < 0.5
    assert match_polygons([rect(0, 0, 4, 10)], truth, iou=0.4) == [(0, 0)]
    assert match_polygons([], truth) == [] and match_polygons(pred, []) == []


def test_match_polygons_repairs_invalid():
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # self-intersecting
    assert not bowtie.is_valid
    assert match_polygons([bowtie], [rect(0, 0, 10, 10)], iou=0.1) in ([(0, 0)], [])  # no exception
    assert match_polygons([Polygon()], [rect(0, 0, 1, 1)]) == []


def test_detection_scores():
    truth = [rect(0, 0, 10, 10), rect(20, 0, 30, 10), rect(40, 0, 50, 10)]
    pred = [rect(0, 0, 10, 10), rect(21, 0, 30, 10)]
    s = detection_scores(pred, truth)
    assert (s["tp"], s["pred"], s["truth"]) == (2, 2, 3)
    assert s["precision"] == 1.0 and s["recall"] == pytest.approx(2 / 3) and s["hmean"] == pytest.approx(0.8)
    assert prf(0, 0, 0) == {"precision": 1.0, "recall": 1.0, "hmean": 1.0}
    assert prf(0, 3, 0)["hmean"] == 0.0


def test_end_to_end_cer_counts_misses_and_insertions():
    truth = [(rect(0, 0, 10, 10), "abc"), (rect(20, 0, 30, 10), "de"), (rect(40, 0, 50, 10), "###x")]
    pred = [(rect(0, 0, 10, 10), "abd"),        # matched: 1 substitution
            (rect(40, 0, 50, 10), "###x"),       # matched exactly
            (rect(90, 0, 99, 10), "zzzz")]       # unmatched: 4 insertions; truth "de" unmatched: 2 deletions
    assert end_to_end_cer(pred, truth) == (1 + 2 + 4, 3 + 2 + 4)
    assert end_to_end_cer([], truth) == (9, 9)
    assert end_to_end_cer(pred, []) == (11, 0)


def test_tokens():
    assert tokens("发票号码：No. 20260217") == ["发", "票", "号", "码", "no", "20260217"]
    assert tokens("TOTAL (RM) 3.99, ｶﾀｶﾅ_x") == ["total", "rm", "3", "99", "カ", "タ", "カ", "ナ", "x"]
    assert tokens("酱鸭JIANG YA传奇") == ["酱", "鸭", "jiang", "ya", "传", "奇"]
    assert tokens(" ,.;!? ") == []


def test_bag_of_tokens_f1_mixed_chinese_english():
    truth = "酱鸭传奇\nJIANG YA"
    pred = "ya jiang 酱鸭 传说 传"  # order-free; 传 twice in pred but once in truth
    counts = bag_of_tokens_f1(pred, truth)
    # truth: 酱 鸭 传 奇 jiang ya (6); pred: ya jiang 酱 鸭 传 说 传 (7); common: ya jiang 酱 鸭 传 (5)
    assert counts == {"tp": 5, "pred": 7, "truth": 6}
    assert prf(**counts)["hmean"] == pytest.approx(2 * 5 / (7 + 6))


# --- evaluate_manifest -----------------------------------------------------------------------------------------

def write_image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((20, 40, 3), 255, np.uint8))


def write_manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def fake_reader(answers: dict[str, list[tuple[Polygon, str]]]):
    """A `read` that checks the image exists and decodes, then returns canned lines keyed by file name."""
    def read(path: Path) -> Document:
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"cannot read {path.name}")
        lines = [Line(polygon=poly, text=text, confidence=0.9) for poly, text in answers[path.name]]
        return Document(source=str(path), pages=[Page(0, image.shape[1], image.shape[0], lines)])
    return read


def test_evaluate_crops(tmp_path):
    root = tmp_path / "myset"
    for name in ("a.png", "b.png", "c.png"):
        write_image(root / "images" / name)
    (root / "images" / "broken.png").write_bytes(b"not an image")
    manifest = write_manifest(root / "manifest.jsonl", [
        {"image": "images/a.png", "text": "abc"},
        {"image": "images/b.png", "text": "HELLO WORLD"},
        {"image": "images/broken.png", "text": "xy"},
        {"image": "images/c.png", "text": "AB"},
    ])
    box = Polygon([(0, 0), (40, 0), (40, 20), (0, 20)])
    read = fake_reader({"a.png": [(box, "abd")], "b.png": [(box, "hello"), (box, "world")], "c.png": [(box, "A B")]})

    out = evaluate_manifest(manifest, read)
    assert (out["set"], out["kind"], out["items"]) == ("myset", "crops", 4)
    assert out["failed"] == [{"image": "images/broken.png", "error": "ValueError: cannot read broken.png"}]
    # errors: abd/abc 1, "hello world"/"HELLO WORLD" 10, ""/"xy" 2, "A B"/"AB" 1 over 3 + 11 + 2 + 2 chars
    assert out["chars"] == 18 and out["cer"] == round(14 / 18, 4) and out["line_accuracy"] == 0.0
    assert out["cer_no_space"] == round((1 + 10 + 2 + 0) / 17, 4)
    assert out["ms_per_image"] >= 0 and json.loads(json.dumps(out)) == out

    folded = evaluate_manifest(manifest, read, case_insensitive=True)
    assert folded["cer"] == round(4 / 18, 4) and folded["line_accuracy"] == 0.25
    assert folded["cer_no_space"] == round(3 / 17, 4)


def test_evaluate_pages(tmp_path):
    write_image(tmp_path / "p1.jpg")
    write_image(tmp_path / "p2.jpg")
    pts = [[0, 0], [10, 0], [10, 10], [0, 10]]
    manifest = write_manifest(tmp_path / "receipts.jsonl", [
        {"image": "p1.jpg", "lines": [
            {"points": pts, "text": "TOTAL 3.99"},
            {"points": [[20, 0], [30, 0], [30, 10], [20, 10]], "text": "发票"},
            {"points": [[50, 0], [60, 0], [60, 10], [50, 10]], "text": "###"},
            {"points": [[70, 0], [80, 0], [80, 10], [70, 10]], "text": "smudge", "ignore": True}]},
        {"image": "p2.jpg", "lines": [{"points": pts, "text": "X"}]},
        {"image": "missing.jpg", "lines": [{"points": pts, "text": "ab"}]},
    ])
    read = fake_reader({
        "p1.jpg": [(rect(0, 0, 10, 10), "total 3.99"),    # exact when case-insensitive
                   (rect(50, 0, 60, 10), "junk"),        # inside a don't-care region: dropped
                   (rect(71, 0, 80, 10), "junk"),        # likewise
                   (rect(90, 0, 99, 10), "q")],          # a false positive: 1 insertion
        "p2.jpg": [(rect(0, 0, 10, 10), "X")],
    })
    out = evaluate_manifest(manifest, read, case_insensitive=True)
    assert (out["set"], out["kind"], out["items"]) == (f"{tmp_path.name}/receipts", "pages", 3)
    assert [f["image"] for f in out["failed"]] == ["missing.jpg"]
    det = out["detection"]
    assert (det["tp"], det["pred"], det["truth"]) == (2, 3, 4)
    assert det["precision"] == round(2 / 3, 4) and det["recall"] == 0.5 and det["hmean"] == round(4 / 7, 4)
    # errors: 发票 missed 2, "q" inserted 1, missing page "ab" 2; truth chars 10 + 2 + 1 + 2
    assert out["end_to_end_cer"] == round(5 / 15, 4)
    # tokens: truth total 3 99 发 票 x ab (7); pred total 3 99 q x (5); common total 3 99 x (4)
    assert {k: out["bag_of_tokens"][k] for k in ("tp", "pred", "truth")} == {"tp": 4, "pred": 5, "truth": 7}
    assert out["bag_of_tokens_f1"] == round(2 * 4 / 12, 4)
    assert out["ms_per_page"] >= 0 and json.loads(json.dumps(out)) == out


def test_evaluate_boxes_reads_each_ground_truth_line_alone(tmp_path):
    page = np.full((40, 120, 3), 255, np.uint8)
    page[5:15, 10:50] = 0  # a dark 40 x 10 line, then a gray 20 x 20 one
    page[20:40, 60:80] = 128
    cv2.imwrite(str(tmp_path / "p.png"), page)
    manifest = write_manifest(tmp_path / "boxes.jsonl", [
        {"image": "p.png", "lines": [
            {"points": [[10, 5], [50, 5], [50, 15], [10, 15]], "text": "TOTAL 3.99"},
            {"points": [[60, 20], [80, 20], [80, 40], [60, 40]], "text": "发票"},
            {"points": [[0, 0], [5, 0], [5, 5], [0, 5]], "text": "###"}]},
        {"image": "missing.png", "lines": [{"points": [[0, 0], [9, 0], [9, 9], [0, 9]], "text": "ab"}]},
    ])
    seen = []

    def read_crops(crops):
        seen.extend((c.shape[:2], int(c.mean())) for c in crops)
        return ["total 3.99", "发"][: len(crops)]

    out = evaluate_boxes(manifest, read_crops, case_insensitive=True)
    assert seen == [((10, 40), 0), ((20, 20), 128)]  # each line cut out alone; the don't-care one never read
    assert (out["kind"], out["items"]) == ("boxes", 3) and [f["image"] for f in out["failed"]] == ["missing.png"]
    # errors: 票 missed 1, the missing page's "ab" 2; truth chars 10 + 2 + 2
    assert out["cer"] == round(3 / 14, 4) and out["line_accuracy"] == round(1 / 3, 4)
    assert out["cer_no_space"] == round(3 / 13, 4) and json.loads(json.dumps(out)) == out


def test_evaluate_rejects_bad_manifest(tmp_path):
    with pytest.raises(ValueError, match="no rows"):
        evaluate_manifest(write_manifest(tmp_path / "empty.jsonl", []), fake_reader({}))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"image": "a.png", "text": "x"}\n{oops\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        evaluate_manifest(bad, fake_reader({}))
