"""The Python API end to end on real pages: inputs of every kind, batching across pages, failures kept apart."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from shapely.geometry import Polygon

from pipeline import InputError, Pipeline
from pipeline.geometry import rectify
from pipeline.metrics import CJK_LETTER, detection_scores, end_to_end_cer

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "examples" / "sample_page.png"


@pytest.fixture(scope="module")
def ocr():
    return Pipeline.from_config("configs/default.yaml", runtime={"threads": 1})


def _truth(manifest: Path):
    from shapely.geometry import Polygon

    row = json.loads(manifest.read_text(encoding="utf-8").splitlines()[0])
    return [(Polygon(line["points"]), line["text"]) for line in row["lines"]]


def test_sample_page_is_read_with_low_cer(ocr):
    doc = ocr(str(PAGE))
    lines = doc.pages[0].lines
    errors, chars = end_to_end_cer([(l.polygon, l.text) for l in lines], _truth(ROOT / "examples" / "sample_page.jsonl"))
    assert errors / chars < 0.03, doc.text
    assert all(0.0 < l.confidence <= 1.0 for l in lines)


def test_every_input_kind_gives_the_same_document(ocr):
    data = PAGE.read_bytes()
    bgr = cv2.imread(str(PAGE))
    texts = [
        ocr(str(PAGE)).text,
        ocr(PAGE).text,
        ocr(data).text,
        ocr(bgr).text,
        ocr(Image.open(PAGE)).text,
        ocr(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)).text,
    ]
    assert texts[0] and all(t == texts[0] for t in texts)


def test_map_batches_pages_and_keeps_failures_apart(ocr, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(PAGE.read_bytes()[:3000])
    single = ocr(str(PAGE))
    docs = list(ocr.map([str(PAGE), str(bad), str(ROOT / "tests" / "fixtures" / "doc.pdf")]))
    assert [d.source for d in docs] == [str(PAGE), str(bad), str(ROOT / "tests" / "fixtures" / "doc.pdf")]
    assert docs[0].text == single.text  # batching with other pages changes nothing
    assert docs[1].error and "broken.png" in docs[1].error and not docs[1].pages
    assert len(docs[2].pages) == 2 and all(p.lines for p in docs[2].pages)
    with pytest.raises(InputError, match="broken.png"):
        ocr(str(bad))


def test_map_names_inputs_that_are_not_paths_by_their_position(ocr):
    good = PAGE.read_bytes()
    docs = list(ocr.map([good, good[:3000], cv2.imread(str(PAGE))]))
    assert [d.source for d in docs] == ["<bytes #0>", "<bytes #1>", "<ndarray #2>"]
    assert docs[1].error.startswith("<bytes #1>: ") and not docs[0].error and docs[0].text == docs[2].text


def test_polygons_are_in_original_image_coordinates(ocr):
    bgr = cv2.imread(str(PAGE))
    framed = cv2.copyMakeBorder(bgr, 100, 0, 200, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    plain, shifted = ocr(bgr).pages[0].lines, ocr(framed).pages[0].lines
    assert len(plain) == len(shifted)
    for a, b in zip(plain, shifted):  # the framed page is resized differently for detection: boxes move a little
        moved = Polygon(np.array(b.points) - [200, 100])
        assert moved.intersection(a.polygon).area / moved.union(a.polygon).area > 0.8, (a.points, b.points)


def test_min_confidence_leaves_out_exactly_the_unsure_lines(ocr):
    page = ROOT / "tests" / "fixtures" / "small_text_page.jpg"  # small screenshot text: some lines read unsure
    every = [(line.text, line.confidence) for line in ocr(str(page)).pages[0].lines]
    threshold = float(np.median(sorted({conf for _, conf in every})))
    sure = Pipeline.from_config("configs/default.yaml", decode={"min_confidence": threshold}, runtime={"threads": 1})
    kept = [(line.text, line.confidence) for line in sure(str(page)).pages[0].lines]
    assert 0 < len(kept) < len(every)
    assert kept == [(text, conf) for text, conf in every if conf >= threshold]


def test_allowed_chars_override_restricts_the_output():
    digits = Pipeline.from_config("configs/digits.yaml", runtime={"threads": 1})
    text = digits(str(PAGE)).text
    assert text and set(text) <= set("0123456789.,:;-+/%()#$ \n")


def test_lone_quantities_scored_low_are_read_and_kept(ocr):
    """The detector's unsure boxes over the receipt rows' lone quantities read clearly and are kept: every row's
    quantity is read where it is printed; without unsure boxes (`unsure_thresh` = `box_thresh`) some are lost."""
    page = ROOT / "tests" / "fixtures" / "receipt_rows.png"
    rows = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))["rows"]

    def quantities(doc) -> list[str]:
        lines = doc.pages[0].lines
        return ["".join(l.text for l in lines if l.polygon.contains(Polygon.from_bounds(*row["box"]).centroid))
                for row in rows]

    assert quantities(ocr(str(page))) == [row["quantity"] for row in rows]
    sure_only = Pipeline.from_config("configs/default.yaml", detect={"unsure_thresh": 0.6}, runtime={"threads": 1})
    assert quantities(sure_only(str(page))).count("") >= 2


def test_a_page_of_columns_is_no_photo():
    """A page set in vertical columns has no wide lines, yet it is a page of text, not a photo: every column is
    reported, those read less surely than `photo_min_confidence` (0.9 here) included."""
    fixture = ROOT / "tests" / "fixtures" / "vertical_page.png"
    ocr = Pipeline.from_config("configs/default.yaml", decode={"photo_min_confidence": 0.9}, runtime={"threads": 1})
    page = ocr(str(fixture)).pages[0]
    truth = [Polygon(l["points"]) for l in json.loads(fixture.with_suffix(".json").read_text())["lines"]]
    assert detection_scores([line.polygon for line in page.lines], truth)["recall"] == 1.0
    assert min(line.confidence for line in page.lines) < 0.9


class _Proposing:
    """A detect stage proposing fixed boxes, some of them unsure."""

    def __init__(self, boxes: list[Polygon], unsure: list[bool]) -> None:
        self.boxes, self.unsure = boxes, unsure

    def __call__(self, image: np.ndarray) -> list[Polygon]:
        return [box for box, maybe in zip(self.boxes, self.unsure) if not maybe]

    def propose(self, image: np.ndarray) -> tuple[list[Polygon], list[bool]]:
        return self.boxes, self.unsure


def test_an_unsure_box_is_kept_only_when_it_reads_a_letter_or_digit_clearly():
    """Among the receipt rows' lines, a rule of dashes and a quantity proposed unsure: the quantity is kept, the rule
    is not, though it is read as something when proposed sure; with no lines around them (a photo's clutter) neither
    is read."""
    fixture = ROOT / "tests" / "fixtures" / "receipt_rows.png"
    page = cv2.imread(str(fixture))
    ruled = cv2.copyMakeBorder(page, 0, 40, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    for x in range(20, 300, 12):
        cv2.line(ruled, (x, page.shape[0] + 15), (x + 6, page.shape[0] + 15), (20, 20, 20), 1)
    rule = Polygon.from_bounds(14, page.shape[0] + 8, 306, page.shape[0] + 22)
    quantity = Polygon.from_bounds(*json.loads(fixture.with_suffix(".json").read_text())["rows"][1]["box"])
    quantity = quantity.buffer(3, join_style="mitre")
    ocr = Pipeline.from_config("configs/default.yaml", runtime={"threads": 1})
    lines = [box for box in ocr.detect(page) if not box.intersects(quantity)]

    def read(unsure: list[bool], with_lines: bool = True) -> list[str]:
        boxes = (lines if with_lines else []) + [quantity, rule]
        ocr.detect = _Proposing(boxes, [False] * len(lines) * with_lines + unsure)
        return [l.text for l in ocr(ruled).pages[0].lines if not any(l.polygon.equals(b) for b in lines)]

    assert read([True, True]) == ["2"]
    kept = read([True, False])
    assert kept[0] == "2" and len(kept) == 2 and kept[1].strip()
    assert read([True, True], with_lines=False) == []


def test_a_box_read_as_a_speck_is_left_out():
    """A box on a speck beside a receipt's rows reads as a full stop: no line of print, so it is left out; the rows
    are kept."""
    page = cv2.imread(str(ROOT / "tests" / "fixtures" / "receipt_rows.png"))
    cv2.circle(page, (200, 60), 1, (30, 30, 30), -1)
    speck = Polygon.from_bounds(196, 48.8, 204, 62.8)
    ocr = Pipeline.from_config("configs/default.yaml", runtime={"threads": 1})
    lines = ocr.detect(page)
    assert ocr.read_crops([rectify(page, speck)])[0][0] == "."
    ocr.detect = _Proposing(lines + [speck], [False] * (len(lines) + 1))
    found = ocr(page).pages[0].lines
    assert len(found) == len(lines) and not any(line.polygon.equals(speck) for line in found)


def test_a_photo_keeps_only_the_boxes_read_surely_enough():
    """Slivers cut across printed lines, as a detector boxes bits of a car or a wall, read as junk under the
    decoder's `photo_min_confidence`, and a rule of dashes reads surely but as marks: beside two lines (a photo: at
    most four lines, several boxes) they are left out and the lines kept; among the page's eight lines, or boxed alone (a crop
    read whole), they are kept; so are the slivers with `photo_min_confidence` 0."""
    fixture = ROOT / "tests" / "fixtures" / "page_zh_en.png"
    page = cv2.imread(str(fixture))
    ruled = cv2.copyMakeBorder(page, 0, 40, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    y = page.shape[0] + 15
    for x in range(50, 600, 14):
        cv2.line(ruled, (x, y), (x + 8, y), (20, 20, 20), 2)
    rule = Polygon.from_bounds(44, y - 9, 606, y + 9)
    lines = [Polygon(l["points"]) for l in json.loads(fixture.with_suffix(".json").read_text())["lines"]]
    slivers = []
    for line in lines[2:4]:
        x0, y0, x1, y1 = line.bounds
        slivers.append(Polygon.from_bounds(x0, y0, x1, y0 + 0.35 * (y1 - y0)))

    def read(boxes: list[Polygon], **decode) -> list[str]:
        ocr = Pipeline.from_config("configs/default.yaml", decode=decode, runtime={"threads": 1})
        ocr.detect = _Proposing(boxes, [False] * len(boxes))
        found = ocr(ruled).pages[0].lines
        return [next((l.text for l in found if l.polygon.equals(box)), None) for box in boxes]

    photo = read(lines[:2] + slivers[:1] + [rule])  # 4 lines: at most PHOTO_MAX_LINES
    assert photo[:2] == ["光学字符识别 OCR 工具包 lineocr", "四川省成都市：小心地滑，注意安全。"]
    assert photo[2:] == [None, None]
    assert read(lines[:2] + slivers)[2:] == [None, None]
    assert all(read(lines + slivers + [rule])[-3:])
    assert all(read(slivers[:1]))
    assert all(read(lines[:2] + slivers, photo_min_confidence=0.0))


@pytest.mark.parametrize("config", ["configs/default.yaml", "configs/fast.yaml"])
def test_a_page_of_latin_print_reads_unsure_hanzi_again_without_them(config):
    """An English receipt page (CJK letters under 5% of its letters): the heading "Amt" whose A a box smudges reads
    as a hanzi and "mt" with `latin_pages` off, and without the hanzi with it on ("Amt" with the LM); the shop
    name's clear hanzi (read at 0.9 or more) are kept; every other line reads the same. A page of mixed print (12%
    of its letters CJK, a few read unsurely at low resolution) reads the same either way."""
    fixture = ROOT / "tests" / "fixtures" / "latin_page.png"
    truth = json.loads(fixture.with_suffix(".json").read_text(encoding="utf-8"))

    def read(latin_pages: bool, image: Path = fixture) -> list[str]:
        ocr = Pipeline.from_config(config, decode={"latin_pages": latin_pages}, runtime={"threads": 1})
        return [line.text for line in ocr(str(image)).pages[0].lines]

    off, on = read(False), read(True)
    assert CJK_LETTER.fullmatch(off[-1][0]) and off[-1][1:] == "mt"
    assert not CJK_LETTER.search(on[-1]) and on[-1].endswith("mt")
    assert on[-1] == truth["smudged"] or config.endswith("fast.yaml")
    assert on[0] == off[0] == truth["name"] and on[:-1] == off[:-1]
    mixed = ROOT / "tests" / "fixtures" / "small_text_page.jpg"
    assert read(True, mixed) == read(False, mixed)
