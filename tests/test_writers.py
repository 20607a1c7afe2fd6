"""Output formats: text, JSON/JSONL (DESIGN.md keys), hOCR and TSV (Tesseract's conventions)."""
from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from shapely.geometry import Polygon

from pipeline.document import Document, Line, Page
from pipeline.writers import FORMATS, TSV_COLUMNS, to_hocr, to_json, to_jsonl, to_text, to_tsv

XHTML = "{http://www.w3.org/1999/xhtml}"


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


@pytest.fixture
def doc() -> Document:
    lines = [
        Line(polygon=rect(10, 20, 110, 40), text="Total: <5 & 6>", confidence=0.915),
        Line(polygon=Polygon([(200.4, 50), (300, 52.5), (299, 80), (199, 78)]), text="发票号码", confidence=0.5),
    ]
    return Document(source='scan "1".png', pages=[Page(page=0, width=400, height=300, lines=lines)],
                    timings_ms={"detect": 12.34, "total": 50.0})


def hocr_classes(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter() if el.get("class") == cls]


def test_formats_table():
    assert set(FORMATS) == {"text", "json", "jsonl", "hocr", "tsv"}
    assert FORMATS["hocr"] == (to_hocr, ".hocr") and FORMATS["tsv"][0] is to_tsv
    for writer, ext in FORMATS.values():
        assert callable(writer) and ext.startswith(".")


def test_text(doc):
    assert to_text(doc) == "Total: <5 & 6>\n发票号码\n"


def test_json_round_trip(doc):
    data = json.loads(to_json(doc))
    assert set(data) == {"source", "pages", "text", "timings_ms"}
    page = data["pages"][0]
    assert {k: page[k] for k in ("page", "width", "height", "rotation")} == {"page": 0, "width": 400, "height": 300,
                                                                             "rotation": 0}
    assert set(page["lines"][0]) == {"text", "confidence", "points", "angle", "vertical"}
    assert page["lines"][0]["points"] == [[10, 20], [110, 20], [110, 40], [10, 40]]
    assert page["lines"][1]["text"] == "发票号码"
    assert data["text"] == doc.text and data["timings_ms"]["detect"] == 12.3
    assert "\n  " in to_json(doc)


def test_jsonl_is_one_line(doc):
    doc.pages[0].lines[0].text = "a\u2028b\nc"
    out = to_jsonl(doc)
    assert out.endswith("\n") and len(out.splitlines()) == 1
    assert json.loads(out) == json.loads(to_json(doc))


def test_hocr(doc):
    out = to_hocr(doc)
    root = ET.fromstring(out.encode("utf-8"))  # well-formed XHTML
    assert root.tag == XHTML + "html"
    metas = {m.get("name"): m.get("content") for m in root.iter(XHTML + "meta")}
    assert metas["ocr-system"] == "lineocr" and "ocrx_word" in metas["ocr-capabilities"]

    [page] = hocr_classes(root, "ocr_page")
    assert page.get("title") == 'image "scan "1".png"; bbox 0 0 400 300; ppageno 0'
    [carea] = hocr_classes(root, "ocr_carea")
    [par] = hocr_classes(root, "ocr_par")
    assert carea.get("title") == par.get("title") == "bbox 10 20 300 80"

    lines = hocr_classes(root, "ocr_line")
    assert [el.get("title") for el in lines] == ["bbox 10 20 110 40", "bbox 199 50 300 80"]
    first = [(w.text, w.get("title")) for w in lines[0] if w.get("class") == "ocrx_word"]
    assert [text for text, _ in first] == ["Total:", "<5", "&", "6>"]
    assert all(title.endswith("; x_wconf 92") for _, title in first)
    # word boxes lie inside the line box, left to right
    boxes = [[int(v) for v in title.split(";")[0].split()[1:]] for _, title in first]
    assert boxes[0][0] == 10 and boxes[-1][2] == 110 and all(b[1] == 20 and b[3] == 40 for b in boxes)
    assert all(a[2] <= b[0] for a, b in zip(boxes, boxes[1:]))
    cjk = [w for w in lines[1] if w.get("class") == "ocrx_word"]
    assert [(w.text, w.get("title")) for w in cjk] == [("发票号码", "bbox 199 50 300 80; x_wconf 50")]
    assert "&lt;5" in out and "&amp;" in out
    assert len({el.get("id") for el in root.iter() if el.get("id")}) == len([el for el in root.iter() if el.get("id")])


def test_hocr_empty_page_and_clipping():
    line = Line(polygon=rect(-5, -3, 50, 500), text="x", confidence=1.0)
    doc = Document(source="a.png", pages=[Page(0, 40, 100, [line]), Page(1, 10, 10)])
    root = ET.fromstring(to_hocr(doc))
    pages = hocr_classes(root, "ocr_page")
    assert [p.get("id") for p in pages] == ["page_1", "page_2"] and "ppageno 1" in pages[1].get("title")
    assert [el.get("title") for el in hocr_classes(root, "ocr_line")] == ["bbox 0 0 40 100"]
    assert [el.get("title") for el in hocr_classes(root, "ocrx_word")] == ["bbox 0 0 40 100; x_wconf 100"]


def test_tsv(doc):
    doc.pages[0].lines[0].text = "Total:\t9"
    rows = list(csv.reader(io.StringIO(to_tsv(doc)), delimiter="\t", quoting=csv.QUOTE_NONE))
    assert tuple(rows[0]) == TSV_COLUMNS == ("level", "page_num", "block_num", "par_num", "line_num", "word_num",
                                             "left", "top", "width", "height", "conf", "text")
    body = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert all(len(r) == 12 for r in rows)
    assert [r["level"] for r in body] == ["1", "2", "3", "4", "5", "5", "4", "5"]
    assert {r["page_num"] for r in body} == {"1"}
    page = body[0]
    assert (page["left"], page["top"], page["width"], page["height"], page["conf"], page["text"]) == \
        ("0", "0", "400", "300", "-1", "")
    line1 = body[3]
    assert (line1["line_num"], line1["left"], line1["top"], line1["width"], line1["height"]) == ("1", "10", "20", "100",
                                                                                                "20")
    assert all(r["conf"] == "-1" and r["text"] == "" for r in body if r["level"] != "5")
    words = [r for r in body if r["level"] == "5"]
    assert [(r["line_num"], r["word_num"], r["conf"], r["text"]) for r in words] == \
        [("1", "1", "92", "Total:"), ("1", "2", "92", "9"), ("2", "1", "50", "发票号码")]
    assert (words[2]["left"], words[2]["top"], words[2]["width"], words[2]["height"]) == ("199", "50", "101", "30")


def test_tsv_pages_are_one_based():
    doc = Document(source="a.pdf", pages=[Page(0, 10, 10), Page(1, 20, 20, [Line(rect(1, 1, 5, 5), "hi", 0.3)])])
    rows = [line.split("\t") for line in to_tsv(doc).splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows] == [("1", "1"), ("1", "2"), ("2", "2"), ("3", "2"), ("4", "2"), ("5", "2")]
    assert rows[-1][-2:] == ["30", "hi"]
