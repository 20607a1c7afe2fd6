"""Text-line detection and rectification on real rendered pages (tests/fixtures, made by make_fixtures.py)."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw
from shapely.geometry import Polygon, box

from pipeline import registry
from pipeline.geometry import order_quad, rectify
from pipeline.imageio import load_pages
from stages.detect import ContourDetector, WholeImageDetector

cv2.setNumThreads(1)  # the test machine is shared; one core is what the timing target is about

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
mf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mf)


def load(name: str) -> np.ndarray:
    return load_pages(FIXTURES / name)[0]


def truth(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["lines"]


def iou(a: Polygon, b: Polygon) -> float:
    return a.intersection(b).area / a.union(b).area


def match(polys: list[Polygon], gt_points: list) -> list[tuple[int, float]]:
    """Greedy one-to-one matching by IoU: for each truth line (pred index, IoU), pred -1 when unmatched."""
    gts = [Polygon(p) for p in gt_points]
    pairs = sorted(((iou(p, g), pi, gi) for pi, p in enumerate(polys) for gi, g in enumerate(gts)), reverse=True)
    result = [(-1, 0.0)] * len(gts)
    used_p, used_g = set(), set()
    for score, pi, gi in pairs:
        if score >= 0.5 and pi not in used_p and gi not in used_g:
            used_p.add(pi)
            used_g.add(gi)
            result[gi] = (pi, score)
    return result


def assert_lines_found(polys, gt_points, in_order=True):
    matched = match(polys, gt_points)
    missing = [i for i, (p, _) in enumerate(matched) if p < 0]
    assert not missing, f"truth lines not found: {missing}; got {len(polys)} polygons"
    assert len(polys) == len(gt_points), f"{len(polys) - len(gt_points)} extra polygons"
    if in_order:
        assert [p for p, _ in matched] == list(range(len(gt_points)))
    return matched


def ink_box(points, pad_ratio: float = mf.PAD_RATIO) -> Polygon:
    """The unpadded ink box of an axis-aligned truth line."""
    (x0, y0), (x1, y1) = points[0], points[2]
    h = (y1 - y0) / (1 + 2 * pad_ratio)
    pad = pad_ratio * h
    return box(x0 + pad, y0 + pad, x1 - pad, y1 - pad)


def check_quads(polys, width, height):
    for p in polys:
        pts = np.asarray(p.exterior.coords)[:-1]
        assert len(pts) == 4
        assert np.allclose(order_quad(pts), pts, atol=1e-3), "not clockwise from the top-left"
        assert pts[:, 0].min() >= 0 and pts[:, 1].min() >= 0
        assert pts[:, 0].max() <= width and pts[:, 1].max() <= height


# --------------------------------------------------------------------------------------------- registry


def test_detectors_registered():
    assert registry._REGISTRY["detect"]["contour"] is ContourDetector
    assert registry._REGISTRY["detect"]["whole"] is WholeImageDetector


def test_whole_image_detector():
    polys = WholeImageDetector()(np.zeros((32, 300, 3), np.uint8))
    assert len(polys) == 1
    assert list(polys[0].exterior.coords)[:4] == [(0, 0), (300, 0), (300, 32), (0, 32)]


@pytest.mark.parametrize("key,value", [
    ("min_height", 0), ("min_height", 2.5), ("max_height_ratio", 0), ("max_height_ratio", 1.5),
    ("gap_ratio", -1), ("pad_ratio", "wide"), ("deskew", "yes"), ("max_skew", 90), ("max_side", 10),
    ("binarize", "sauvola"),
])
def test_parameters_validated(key, value):
    with pytest.raises(ValueError, match=rf"^{key}: "):
        ContourDetector(**{key: value})


# ------------------------------------------------------------------------------------------------ pages


def test_page_lines_found_in_order():
    page = load("page_zh_en.png")
    gt = truth("page_zh_en.json")
    polys = ContourDetector()(page)
    matched = assert_lines_found(polys, [t["points"] for t in gt])
    assert min(score for _, score in matched) > 0.75
    check_quads(polys, page.shape[1], page.shape[0])
    # no ink cut off: every line's polygon holds its whole ink box, with the multi-part characters (川 小 心 三)
    # and the trailing punctuation (。，.) included
    for poly, t in zip(polys, gt):
        assert poly.buffer(1.0).contains(ink_box(t["points"])), t["text"]


def test_two_columns_read_column_by_column():
    gt = truth("two_columns.json")
    polys = ContourDetector()(load("two_columns.png"))
    assert [t["column"] for t in gt] == [0] * 6 + [1] * 6
    assert_lines_found(polys, [t["points"] for t in gt], in_order=True)


def test_title_spanning_columns_comes_first():
    width, height, size = 1000, 520, 28
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    expected = []
    title = "双栏排版的标题 A Title Spanning Both Columns"
    mf.draw_text(draw, 120, 70, title, 34)
    expected.append(mf.padded_points(mf.ink_box(width, height, 120, 70, title, 34)))
    for left, lines in ((50, mf.LEFT_COLUMN[:4]), (560, mf.RIGHT_COLUMN[:4])):
        for i, text in enumerate(lines):
            baseline = 170 + i * 85
            mf.draw_text(draw, left, baseline, text, size)
            expected.append(mf.padded_points(mf.ink_box(width, height, left, baseline, text, size)))
    polys = ContourDetector()(np.asarray(img)[..., ::-1].copy())
    assert_lines_found(polys, expected, in_order=True)


def test_form_fields_side_by_side_are_read_across():
    """Short items with wide gaps between them (form fields, receipt amounts) are rows, not columns."""
    width, height, size = 900, 420, 28
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    expected = []
    rows = [("发票号码：", "No. 20260217"), ("Total Sales:", "45.00"), ("合计 Total:", "¥ 47.70"), ("Change:", "0.00")]
    for i, (key, value) in enumerate(rows):
        baseline = 80 + i * 90
        for left, text in ((60, key), (560, value)):
            mf.draw_text(draw, left, baseline, text, size)
            expected.append(mf.padded_points(mf.ink_box(width, height, left, baseline, text, size)))
    polys = ContourDetector()(np.asarray(img)[..., ::-1].copy())
    assert_lines_found(polys, expected, in_order=True)


def skewed_truth() -> list[np.ndarray]:
    info = json.loads((FIXTURES / "skewed.json").read_text())
    m = np.asarray(info["matrix"])
    return [np.asarray(t["points"]) @ m[:, :2].T + m[:, 2] for t in truth("page_zh_en.json")]


def test_skewed_page_lines_follow_the_skew():
    page = load("skewed.png")
    gt = skewed_truth()
    polys = ContourDetector()(page)
    matched = assert_lines_found(polys, gt)
    # an axis-aligned box around a 4-degree line would score well below this
    assert min(score for _, score in matched) > 0.7
    check_quads(polys, page.shape[1], page.shape[0])
    for poly in polys:
        tl, tr = np.asarray(poly.exterior.coords)[:2]
        assert math.degrees(math.atan2(tl[1] - tr[1], tr[0] - tl[0])) == pytest.approx(mf.SKEW_DEG, abs=0.3)


def test_skewed_page_without_deskew_gives_upright_boxes():
    polys = ContourDetector(deskew=False)(load("skewed.png"))
    assert polys
    for poly in polys:
        pts = np.asarray(poly.exterior.coords)[:-1]
        assert pts[0][1] == pts[1][1] and pts[0][0] == pts[3][0]


@pytest.mark.parametrize("angle", [-2.0, 1.0])
def test_small_skews_either_way(angle):
    page = load("page_zh_en.png")
    m, w, h = mf.skew_matrix(page.shape[1], page.shape[0], angle)
    turned = cv2.warpAffine(page, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    gt = [np.asarray(t["points"]) @ m[:, :2].T + m[:, 2] for t in truth("page_zh_en.json")]
    matched = assert_lines_found(ContourDetector()(turned), gt)
    assert min(score for _, score in matched) > 0.75


def test_light_text_on_dark_page():
    page = 255 - load("page_zh_en.png")
    assert_lines_found(ContourDetector()(page), [t["points"] for t in truth("page_zh_en.json")])


@pytest.mark.parametrize("binarize", ["adaptive", "otsu"])
def test_low_contrast_noisy_page(binarize):
    page = load("page_zh_en.png").astype(np.float32)
    rng = np.random.default_rng(7)
    noisy = np.clip(page * 0.45 + 120 + rng.normal(0, 6, page.shape), 0, 255).astype(np.uint8)
    assert_lines_found(ContourDetector(binarize=binarize)(noisy), [t["points"] for t in truth("page_zh_en.json")])


def test_uneven_lighting_needs_adaptive():
    page = load("page_zh_en.png").astype(np.float32)
    shade = np.linspace(0.45, 1.0, page.shape[1], dtype=np.float32)[None, :, None]  # dark on the left
    rng = np.random.default_rng(3)
    shaded = np.clip((page * 0.6 + 100) * shade + rng.normal(0, 5, page.shape), 0, 255).astype(np.uint8)
    assert_lines_found(ContourDetector()(shaded), [t["points"] for t in truth("page_zh_en.json")])


def test_large_page_analysed_downscaled_coordinates_in_original():
    page = cv2.resize(load("page_zh_en.png"), None, fx=2.5, fy=2.5, interpolation=cv2.INTER_LINEAR)
    gt = [np.asarray(t["points"]) * 2.5 for t in truth("page_zh_en.json")]
    polys = ContourDetector(max_side=1200)(page)
    matched = assert_lines_found(polys, gt)
    assert min(score for _, score in matched) > 0.75
    check_quads(polys, page.shape[1], page.shape[0])


def test_gray_and_bgra_inputs():
    page = load("page_zh_en.png")
    gt = [t["points"] for t in truth("page_zh_en.json")]
    assert_lines_found(ContourDetector()(page[..., 0].copy()), gt)
    assert_lines_found(ContourDetector()(cv2.cvtColor(page, cv2.COLOR_BGR2BGRA)), gt)


def test_table_rules_frames_and_specks_are_not_lines():
    width, height = 1000, 700
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    expected = []
    for i, text in enumerate(mf.PAGE_LINES[:5]):
        baseline = 110 + i * 95
        mf.draw_text(draw, 80, baseline, text, 30)
        expected.append(mf.padded_points(mf.ink_box(width, height, 80, baseline, text, 30)))
        draw.line([(40, baseline + 30), (960, baseline + 30)], fill=(0, 0, 0), width=2)  # table rule under each row
    draw.rectangle([30, 30, 970, 600], outline=(0, 0, 0), width=3)  # frame around everything
    draw.line([(900, 40), (900, 590)], fill=(0, 0, 0), width=2)  # a column rule
    rng = np.random.default_rng(5)
    arr = np.asarray(img).copy()
    for x, y in rng.integers([0, 620], [1000, 700], size=(40, 2)):  # dust specks below the frame
        arr[y:y + 2, x:x + 2] = 0
    assert_lines_found(ContourDetector()(arr[..., ::-1].copy()), expected)


@pytest.mark.parametrize("text", ["川 小 心 三 二 八 。", "川 小 心 三 二 。", "i j ä ü: 小心二三，iii."])
def test_multi_part_characters_and_punctuation_stay_in_one_line(text):
    img = Image.new("RGB", (700, 110), (255, 255, 255))
    mf.draw_text(ImageDraw.Draw(img), 20, 75, text, 48)
    ink = mf.ink_box(700, 110, 20, 75, text, 48)
    polys = ContourDetector(max_height_ratio=1.0)(np.asarray(img).copy())
    assert len(polys) == 1
    assert polys[0].buffer(1.0).contains(box(*ink))


def test_blank_and_tiny_images():
    det = ContourDetector()
    assert det(np.full((300, 400, 3), 255, np.uint8)) == []
    assert det(np.full((300, 400, 3), 30, np.uint8)) == []
    rng = np.random.default_rng(0)
    assert det(np.clip(rng.normal(240, 2, (300, 400, 3)), 0, 255).astype(np.uint8)) == []
    assert det(np.zeros((2, 2, 3), np.uint8)) == []


# ---------------------------------------------------------------------------------------------- geometry


def test_order_quad():
    expected = np.array([[10, 10], [110, 10], [110, 40], [10, 40]], np.float32)
    for perm in ([2, 0, 3, 1], [3, 2, 1, 0], [1, 3, 0, 2]):
        assert np.array_equal(order_quad(expected[perm]), expected)
    # a rectangle turned 30 degrees counter-clockwise: the top-left is still where its top edge starts
    c, s = math.cos(math.radians(-30)), math.sin(math.radians(-30))
    rot = np.array([[c, -s], [s, c]])
    turned = expected @ rot.T
    assert np.allclose(order_quad(turned[[2, 1, 3, 0]]), turned, atol=1e-4)
    # a tall rectangle keeps its short edge on top
    tall = np.array([[0, 0], [20, 0], [20, 100], [0, 100]], np.float32)
    assert np.array_equal(order_quad(tall[[1, 2, 3, 0]]), tall)


def _ink_box(gray: np.ndarray) -> np.ndarray:
    """The gray image cropped to the bounds of its dark pixels (so padding does not shift the comparison)."""
    rows, cols = np.flatnonzero((gray < 128).any(axis=1)), np.flatnonzero((gray < 128).any(axis=0))
    return gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def test_rectify_gives_upright_strips_of_the_right_aspect():
    page = load("skewed.png")
    gt = skewed_truth()
    polys = ContourDetector()(page)
    gray_page = load("page_zh_en.png")[..., 0]
    for poly, t_pts, t in zip(polys, gt, truth("page_zh_en.json")):
        strip = rectify(page, poly)
        h, w = strip.shape[:2]
        assert strip.dtype == np.uint8 and strip.ndim == 3
        tw = np.hypot(*(t_pts[1] - t_pts[0]))
        th = np.hypot(*(t_pts[3] - t_pts[0]))
        assert w / h == pytest.approx(tw / th, rel=0.2)
        # upright: the ink is as high at the strip's left end as at its right end (a 4-degree tilt over the
        # line's length would put them ~0.07 x width apart)
        ink = strip[..., 0] < 128
        cols = np.flatnonzero(ink.any(axis=0))
        left = ink[:, cols[0]:cols[0] + w // 4]
        right = ink[:, cols[-1] - w // 4:cols[-1]]
        rows = np.arange(h)[:, None]
        cy_left = (rows * left).sum() / left.sum()
        cy_right = (rows * right).sum() / right.sum()
        assert abs(cy_left - cy_right) < 0.2 * h, t["text"]
        # and it is the same text as on the straight page: compare with that line's own crop
        (x0, y0), (x1, y1) = np.asarray(t["points"])[0], np.asarray(t["points"])[2]
        straight = _ink_box(gray_page[int(y0):int(y1), int(x0):int(x1)])
        resized = cv2.resize(_ink_box(strip[..., 0]), (straight.shape[1], straight.shape[0]), interpolation=cv2.INTER_AREA)
        corr = np.corrcoef(resized.ravel().astype(float), straight.ravel().astype(float))[0, 1]
        assert corr > 0.5, t["text"]


def test_rectify_tall_quads_stay_tall_and_other_polygons():
    img = np.full((300, 300, 3), 255, np.uint8)
    tall = Polygon([(100, 50), (140, 50), (140, 250), (100, 250)])
    assert rectify(img, tall).shape == (200, 40, 3)
    wide = Polygon([(20, 20), (220, 20), (220, 60), (20, 60)])
    assert rectify(img, wide).shape == (40, 200, 3)
    assert rectify(img, wide, height=20).shape == (20, 100, 3)
    hexagon = Polygon([(20, 100), (120, 90), (220, 100), (220, 130), (120, 140), (20, 130)])
    h, w = rectify(img, hexagon).shape[:2]
    assert w > 150 and 25 <= h <= 60
