"""The learned DB detector: post-processing on synthetic probability maps, the shipped ONNX model on the committed
fixture pages (tests/fixtures), config validation and the training targets."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from shapely.geometry import Polygon

from pipeline import registry
from pipeline.geometry import order_quad, quad_size, rectify, split_fields, trim_to_ink
from pipeline.imageio import load_pages
from pipeline.registry import ConfigError
from stages.detect import DBDetector, _of_text_size, _order_quads, _reading_order, db_boxes

FIXTURES = Path(__file__).parent / "fixtures"
WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights" / "db_lite.onnx"


def bars(shape: tuple[int, int], rects: list[tuple[int, int, int, int]], value: float = 0.9) -> np.ndarray:
    prob = np.zeros(shape, np.float32)
    for x0, y0, x1, y1 in rects:
        prob[y0:y1, x0:x1] = value
    return prob


def iou(a: Polygon, b: Polygon) -> float:
    return a.intersection(b).area / a.union(b).area


@pytest.fixture(scope="module")
def detector() -> DBDetector:
    return DBDetector(threads=1)


# ------------------------------------------------------------------------------------------ post-processing


def test_two_separated_bars_give_two_boxes():
    found = db_boxes(bars((200, 400), [(20, 40, 380, 50), (20, 120, 200, 130)]))
    assert len(found) == 2
    tops = sorted(q[:, 1].min() for q, _ in found)
    assert tops[0] < 40 and 50 < tops[1] < 120
    for quad, score in found:
        assert score == pytest.approx(0.9)
        assert np.allclose(order_quad(quad), quad)


def test_long_line_is_not_split():
    found = db_boxes(bars((100, 1200), [(10, 45, 1190, 52)]))
    assert len(found) == 1
    xs = found[0][0][:, 0]
    assert xs.min() < 10 and xs.max() > 1190


def test_unclip_grows_the_kernel_by_the_db_offset():
    w, h = 300, 10
    (kernel, _), = db_boxes(bars((100, 400), [(50, 45, 50 + w, 45 + h)]), unclip_ratio=0.0, min_size=1)
    (grown, _), = db_boxes(bars((100, 400), [(50, 45, 50 + w, 45 + h)]), unclip_ratio=1.5)
    d = w * h * 1.5 / (2 * (w + h))  # area x ratio / perimeter
    assert Polygon(grown).contains(Polygon(kernel))
    assert np.ptp(grown[:, 1]) == pytest.approx(np.ptp(kernel[:, 1]) + 2 * d, abs=1.5)
    assert np.ptp(grown[:, 0]) == pytest.approx(np.ptp(kernel[:, 0]) + 2 * d, abs=1.5)


def test_a_short_box_grows_by_its_own_ratio_and_a_line_does_not():
    """One character's kernel is grown by `unclip_ratio_short`; a line's by `unclip_ratio` whatever the other."""
    square, line = bars((100, 400), [(50, 40, 70, 60)]), bars((100, 400), [(50, 45, 350, 55)])
    (kernel, _), = db_boxes(square, unclip_ratio=0.0, min_size=1)
    (short, _), = db_boxes(square, unclip_ratio=1.5, unclip_ratio_short=1.0)
    (wide, _), = db_boxes(square, unclip_ratio=1.5)
    side = np.ptp(kernel[:, 0])  # D = area x ratio / perimeter = side x ratio / 4
    assert np.ptp(short[:, 0]) == pytest.approx(side + 2 * side * 1.0 / 4, abs=0.5)
    assert np.ptp(wide[:, 0]) == pytest.approx(side + 2 * side * 1.5 / 4, abs=0.5)
    (a, _), = db_boxes(line, unclip_ratio=1.5, unclip_ratio_short=1.0)
    (b, _), = db_boxes(line, unclip_ratio=1.5)
    assert np.allclose(a, b)


@pytest.mark.parametrize("lines, snapped", [(5, True), (4, False)])
def test_a_slanted_short_box_is_boxed_at_the_pages_line_angle(lines, snapped):
    """A slanted "1" (its kernel a short stroke 30 degrees from upright) among a page's lines is boxed upright like
    them, not as a diamond along the stroke; with fewer than SNAP_MIN_LINES lines (a photo) it keeps its own angle."""
    prob = bars((400, 500), [(20, 20 + 40 * k, 480, 32 + 40 * k) for k in range(lines)])
    corners = cv2.boxPoints(((302, 326), (5, 9), 30))
    cv2.fillPoly(prob, [corners.round().astype(np.int32)], 0.9)
    stroke = Polygon(corners)
    found = db_boxes(prob, unclip_ratio=1.5, unclip_ratio_short=1.0)
    assert len(found) == lines + 1
    quad = next(q for q, _ in found if Polygon(q).intersects(stroke))
    width, height = quad_size(order_quad(quad))
    assert max(width, height) <= 1.5 * min(width, height)  # a short box
    edges = np.diff(np.vstack([quad, quad[:1]]), axis=0)
    upright = np.all(np.isclose(edges, 0, atol=1e-3).any(axis=1))  # every side horizontal or vertical
    assert upright == snapped
    assert Polygon(quad).buffer(1).contains(stroke)  # the stroke inside its box


def test_unsure_regions_are_boxed_too_without_a_say_in_the_line_angle():
    """With `unsure_thresh`, a region scored under `box_thresh` comes back with its score, and the boxes scored
    `box_thresh` or more are the same as without it: a weak fifth line does not snap a slanted stroke among four."""
    prob = bars((400, 500), [(20, 20 + 40 * k, 480, 32 + 40 * k) for k in range(4)])
    prob += bars((400, 500), [(20, 180, 480, 192)], value=0.5)
    cv2.fillPoly(prob, [cv2.boxPoints(((302, 326), (5, 9), 30)).round().astype(np.int32)], 0.9)
    sure = db_boxes(prob, unclip_ratio=1.5, unclip_ratio_short=1.0)
    both = db_boxes(prob, unclip_ratio=1.5, unclip_ratio_short=1.0, unsure_thresh=0.4)
    assert len(sure) == 5 and sorted(score for _, score in both)[0] == pytest.approx(0.5) and len(both) == 6
    strong = [(q, score) for q, score in both if score >= 0.6]
    assert all(np.allclose(a, b) for (a, _), (b, _) in zip(sure, strong))
    none_weak = db_boxes(prob, unclip_ratio=1.5, unclip_ratio_short=1.0, unsure_thresh=0.6)
    assert len(none_weak) == 5 and all(np.allclose(a, b) for (a, _), (b, _) in zip(sure, none_weak))


def test_unsure_boxes_are_kept_as_thick_as_characters_of_the_page():
    """Among lines 10 px thick, unsure boxes 2 px thick (a speck) and 50 px (a logo) go, one 15 px thick stays; a
    sure box stays whatever its size, and with no sure box no unsure one stays."""
    def box(x: float, thickness: float, length: float) -> np.ndarray:
        return np.array([[x, 0], [x + length, 0], [x + length, thickness], [x, thickness]], np.float64)

    quads = np.stack([box(0, 10, 200), box(0, 10, 180), box(0, 50, 60), box(0, 2, 2), box(0, 15, 12), box(0, 50, 50)])
    unsure = np.array([False, False, False, True, True, True])
    assert _of_text_size(quads, unsure).tolist() == [True, True, True, False, True, False]
    assert not _of_text_size(quads[3:], unsure[3:]).any()


def test_unsure_boxes_do_not_change_the_sure_boxes_reading_order():
    """Two columns of six lines read column by column; an unsure box bridging the gap between them (it would make
    the page one block read row by row) is placed after the sure box it follows, and the columns stay as they were."""
    def box(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)

    lines = [box(x, 30 * row, x + 200, 30 * row + 20) for x in (0, 300) for row in range(6)]
    quads = np.stack(lines + [box(190, 60, 310, 80)])
    unsure = np.array([False] * 12 + [True])
    order = _reading_order(quads, unsure)
    assert [i for i in order if i < 12] == list(range(12))
    assert sorted(order) == list(range(13))


def test_weak_and_tiny_regions_are_dropped():
    prob = bars((100, 300), [(10, 10, 200, 20)], value=0.4) + bars((100, 300), [(10, 60, 12, 62)], value=0.9)
    assert db_boxes(prob, thresh=0.3, box_thresh=0.6) == []
    assert len(db_boxes(prob, thresh=0.3, box_thresh=0.35)) == 1


def test_rotated_region_gives_a_rotated_quad():
    prob = np.zeros((300, 300), np.float32)
    rect = ((150, 150), (200, 12), 20.0)
    cv2.fillPoly(prob, [np.round(cv2.boxPoints(rect)).astype(np.int32)], 0.9)
    (quad, _), = db_boxes(prob)
    top = quad[1] - quad[0]
    assert np.degrees(np.arctan2(top[1], top[0])) == pytest.approx(20.0, abs=2.0)


def test_quads_ordered_like_order_quad():
    rng = np.random.default_rng(0)
    rects = [((rng.uniform(50, 150), rng.uniform(50, 150)), (rng.uniform(4, 200), rng.uniform(4, 200)),
              rng.uniform(-89, 89)) for _ in range(200)]
    quads = np.stack([cv2.boxPoints(r) for r in rects])
    ordered = _order_quads(quads[:, ::-1].copy())
    for quad, got in zip(quads, ordered):
        assert np.allclose(order_quad(quad), got, atol=1e-4)


# ------------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize("key,value", [("thresh", 1.5), ("box_thresh", -0.1), ("unclip_ratio", "big"),
                                       ("unclip_ratio_short", -1.0), ("max_side", 16), ("min_side", 2.5), ("min_size", True),
                                       ("trim", "yes"), ("unsure_thresh", 1.2)])
def test_bad_parameters_are_config_errors(key, value):
    with pytest.raises(ConfigError, match=rf"{key}"):
        registry.build("detect", {"type": "db", key: value})


def test_unknown_key_and_missing_weights():
    with pytest.raises(ConfigError, match="detect.unclip: unknown parameter"):
        registry.build("detect", {"type": "db", "unclip": 2.0})
    with pytest.raises(ConfigError, match="detect.weights: file not found: nowhere/db.onnx"):
        registry.build("detect", {"type": "db", "weights": "nowhere/db.onnx"})


def test_input_size_limits(detector):
    assert detector._size(3000, 1000, detector._scale(3000, 1000)) == (1280, 416)
    assert detector._size(100, 200, detector._scale(100, 200)) == (256, 512)
    h, w = detector._size(1234, 567, detector._scale(1234, 567))
    assert h % 32 == 0 and w % 32 == 0 and max(h, w) <= 1280


# ------------------------------------------------------------------------------------------------- model


def test_onnx_takes_any_multiple_of_32(detector):
    for h, w in ((64, 96), (320, 224)):
        prob = detector.session.run(None, {"image": np.zeros((1, 3, h, w), np.float32)})[0]
        assert prob.shape == (1, 1, h, w) and 0.0 <= prob.min() and prob.max() <= 1.0


def test_fixture_page_lines_found(detector):
    page = load_pages(FIXTURES / "page_zh_en.png")[0]
    truth = [Polygon(t["points"]) for t in json.loads((FIXTURES / "page_zh_en.json").read_text())["lines"]]
    polys = detector(page)
    matched = [max((iou(p, t) for p in polys), default=0.0) for t in truth]
    assert sum(m >= 0.5 for m in matched) >= len(truth) - 1, matched
    assert len(polys) <= len(truth) + 1
    for p in polys:
        pts = np.asarray(p.exterior.coords)[:-1]
        assert len(pts) == 4 and np.allclose(order_quad(pts), pts, atol=1e-3)
        assert pts[:, 0].min() >= 0 and pts[:, 0].max() <= page.shape[1] and pts[:, 1].max() <= page.shape[0]
    tops = [min(y for _, y in p.exterior.coords) for p in polys]
    assert tops == sorted(tops), "one column: reading order is top to bottom"


def test_lone_quantities_scored_low_are_proposed_as_unsure_boxes(detector):
    """On receipt rows in a small monospaced face the detector scores some lone quantities under `box_thresh`:
    `propose` gives them as unsure boxes among the sure ones (no sure box holds those quantities), and a call gives
    the sure ones alone; at `unsure_thresh` = `box_thresh` the sure boxes are the same, in the same order, and none
    is unsure."""
    page = cv2.imread(str(FIXTURES / "receipt_rows.png"))
    quantities = [Polygon.from_bounds(*row["box"]).buffer(2)
                  for row in json.loads((FIXTURES / "receipt_rows.json").read_text())["rows"]]
    boxes, unsure = detector.propose(page)
    sure = [box for box, maybe in zip(boxes, unsure) if not maybe]
    assert [b.wkt for b in detector(page)] == [b.wkt for b in sure]
    weak = [box for box, maybe in zip(boxes, unsure) if maybe]
    assert len(weak) >= 2 and all(any(box.intersects(q) for q in quantities) for box in weak)
    assert not any(box.intersects(q) for box in sure for q in quantities if any(w.intersects(q) for w in weak))
    at_box_thresh = DBDetector(threads=1, unsure_thresh=0.6).propose(page)
    assert [b.wkt for b in at_box_thresh[0]] == [b.wkt for b in sure] and not any(at_box_thresh[1])


def test_a_short_field_box_is_trimmed_to_its_ink():
    """The first 2.5 line heights of each labelled line (labels hug the ink) as a short field, its box stretched 1.2
    line heights to the left: the left end comes back to within a third of a line height of the label's, the right
    end (inside the text) stays; a whole line's box, a tall box and a box over blank paper are left alone."""
    page = load_pages(FIXTURES / "page_zh_en.png")[0]
    for line in json.loads((FIXTURES / "page_zh_en.json").read_text())["lines"]:
        label = order_quad(np.asarray(line["points"], np.float64))
        width, height = quad_size(label)
        along = (label[1] - label[0]) / width
        field = np.array([label[0], label[0] + along * 2.5 * height, label[3] + along * 2.5 * height, label[3]])
        stretched = field + np.array([-along, 0 * along, 0 * along, -along]) * 1.2 * height
        trimmed = trim_to_ink(page, stretched)
        assert np.abs(trimmed - field).max() < height / 3, line["text"]
        whole = label + np.array([-along, along, along, -along]) * 2 * height
        assert np.array_equal(trim_to_ink(page, whole), whole)
    column = np.array([[10, 10], [40, 10], [40, 200], [10, 200]], np.float64)
    blank = np.array([[0, 0], [100, 0], [100, 40], [0, 40]], np.float64)
    assert np.array_equal(trim_to_ink(page, column), column)
    assert np.array_equal(trim_to_ink(np.full_like(page, 255), blank), blank)


def test_a_row_of_fields_set_apart_is_cut_between_them():
    """A labelled line of the fixture page twice in one row, 2.5 heights apart, with a dot further on: the row's box
    is cut once, in the gap (the dot is no field of its own); 0.6 heights apart they stay one box, and so does every
    labelled line of the page (word spaces are no gaps), and a row whose first field ends in a full stop (the blank
    after a mark is no gap)."""
    page = load_pages(FIXTURES / "page_zh_en.png")[0]
    lines = json.loads((FIXTURES / "page_zh_en.json").read_text())["lines"]
    labels = [order_quad(np.asarray(t["points"], np.float64)) for t in lines]
    for label in labels:
        assert len(split_fields(page, label, 1.2)) == 1
    assert lines[5]["text"].endswith("元") and lines[2]["text"].endswith(".")
    field, sentence = rectify(page, labels[5], height=40), rectify(page, labels[2], height=40)

    def row(first: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
        blank = np.full((40, gap, 3), 255, np.uint8)
        strip = np.hstack([first, blank, field, blank, blank])
        strip[18:22, -gap - 4:-gap] = 0  # a dot
        h, w = strip.shape[:2]
        return strip, np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)

    strip, quad = row(field, 100)
    pieces = split_fields(strip, quad, 1.2)
    assert len(pieces) == 2
    cut = pieces[0][1][0]
    assert field.shape[1] < cut < field.shape[1] + 100 and np.allclose(pieces[1][0], pieces[0][1])
    assert np.allclose(pieces[0][0], quad[0]) and np.allclose(pieces[1][2], quad[2])
    for strip, quad in (row(field, 24), row(sentence, 100)):
        assert len(split_fields(strip, quad, 1.2)) == 1


def test_trimmed_boxes_lie_inside_untrimmed_ones(detector):
    for name in ("page_zh_en.png", "small_text_page.jpg", "two_columns.png"):
        page = load_pages(FIXTURES / name)[0]
        trimmed, untrimmed = detector(page), DBDetector(trim=False, threads=1)(page)
        assert len(trimmed) == len(untrimmed), name
        assert all(wide.buffer(0.5).contains(box) for box, wide in zip(trimmed, untrimmed)), name


def test_small_text_page_is_detected_again_enlarged(detector):
    """A low-resolution screenshot (lines about 10 px high): the first pass finds short boxes, the second pass on
    the page enlarged towards `text_height` finds the lines the first missed."""
    page = load_pages(FIXTURES / "small_text_page.jpg")[0]
    truth = [Polygon(t["points"]) for t in json.loads((FIXTURES / "small_text_page.json").read_text())["lines"]]

    def recall(polys: list[Polygon]) -> float:
        return sum(max((iou(p, t) for p in polys), default=0.0) >= 0.5 for t in truth) / len(truth)

    one_pass = DBDetector(threads=1, text_height=0)
    assert recall(detector(page)) >= 0.9
    assert recall(detector(page)) > recall(one_pass(page))


def test_two_columns_read_column_by_column(detector):
    page = load_pages(FIXTURES / "two_columns.png")[0]
    lines = json.loads((FIXTURES / "two_columns.json").read_text())["lines"]
    polys = detector(page)
    columns = [lines[max(range(len(lines)), key=lambda i: iou(p, Polygon(lines[i]["points"])))]["column"]
               for p in polys]
    assert len(polys) >= len(lines) - 1
    assert columns == sorted(columns), "the left column is read before the right one"


def test_gray_and_small_inputs(detector):
    page = load_pages(FIXTURES / "page_zh_en.png")[0]
    gray = cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    assert len(detector(gray)) == len(detector(page))
    assert detector(np.zeros((3, 3, 3), np.uint8)) == []
    assert detector(np.full((64, 64, 3), 255, np.uint8)) == []


# ------------------------------------------------------------------------------------------------ targets


def test_training_targets_shrink_and_border():
    pytest.importorskip("torch")
    from models.dbnet import THRESH_MAX, THRESH_MIN, db_targets

    quad = np.float32([[20, 20], [220, 20], [220, 50], [20, 50]])
    prob, mask, thresh, tmask = db_targets((80, 260), [quad, quad + [0, 0]], [False, False])
    ys, xs = np.nonzero(prob)
    d = 200 * 30 * (1 - 0.4 ** 2) / 460
    assert ys.min() == pytest.approx(20 + d, abs=1.5) and xs.max() == pytest.approx(220 - d, abs=1.5)
    assert thresh.min() >= THRESH_MIN - 1e-6 and thresh.max() <= THRESH_MAX + 1e-6
    assert thresh[20, 120] == pytest.approx(THRESH_MAX, abs=0.02) and tmask[5, 5] == 0
    _, mask, _, _ = db_targets((80, 260), [quad], [True])
    assert mask[35, 120] == 0 and mask[5, 5] == 1
