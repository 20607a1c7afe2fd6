"""Output formats: each writer turns a Document into a string; `FORMATS` maps a format name to (writer, extension).

hOCR and TSV follow Tesseract's output so existing tools read them. lineocr has no blocks or paragraphs, so each
page holds one block (`ocr_carea`, TSV level 2) with one paragraph (`ocr_par`, level 3) spanning its lines. Word
boxes are estimates: the line's box cut along its longer side in proportion to character offsets; a word's
confidence is its line's.
"""
from __future__ import annotations

import html
import math
import re
import unicodedata
from itertools import accumulate
from typing import Callable, Iterator

from .document import Document, Line, Page

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive, as Tesseract)

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_JSONL_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def to_text(doc: Document) -> str:
    """Plain text: all lines in reading order, one per line."""
    return doc.text + "\n"


def to_json(doc: Document) -> str:
    """The JSON object of DESIGN.md, indented."""
    return doc.to_json(indent=2) + "\n"


def to_jsonl(doc: Document) -> str:
    """The same object on one line (Unicode line separators escaped so that no reader splits it)."""
    return doc.to_json(indent=None).translate(_JSONL_BREAKS) + "\n"


def line_box(line: Line, page: Page) -> Box:
    """Axis-aligned integer bounds of the line's polygon, clipped to the page when its size is known."""
    x0, y0, x1, y1 = line.polygon.bounds
    box = [math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)]
    if page.width > 0 and page.height > 0:
        box = [min(max(v, 0), limit) for v, limit in zip(box, (page.width, page.height) * 2)]
    return box[0], box[1], box[2], box[3]


def words(line: Line, box: Box) -> Iterator[tuple[str, Box]]:
    """The line's words (split on white space) with boxes estimated from their character offsets, counting
    full-width (CJK) characters as two."""
    text = line.text
    offsets = [0, *accumulate(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)]
    left, top, right, bottom = box
    horizontal = right - left >= bottom - top
    start, size = (left, right - left) if horizontal else (top, bottom - top)
    for match in re.finditer(r"\S+", text):
        a, b = offsets[match.start()] / offsets[-1], offsets[match.end()] / offsets[-1]
        if line.angle in (90, 180):  # read right to left (180) or bottom to top (90) in the image
            a, b = 1 - b, 1 - a
        lo, hi = start + math.floor(a * size), start + math.ceil(b * size)
        yield match.group(), ((lo, top, hi, bottom) if horizontal else (left, lo, right, hi))


def _conf(line: Line) -> int:
    return int(round(min(max(float(line.confidence), 0.0), 1.0) * 100))


def _union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _bbox(box: Box) -> str:
    return "bbox {} {} {} {}".format(*box)


def _esc(text: str) -> str:
    return html.escape(_NOT_XML.sub("", text), quote=True)


_HOCR_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>{title}</title>
  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
  <meta name="ocr-system" content="lineocr"/>
  <meta name="ocr-capabilities" content="ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf"/>
 </head>
 <body>
"""


def to_hocr(doc: Document) -> str:
    """hOCR 1.2 as Tesseract writes it (XHTML; page/carea/par/line/word with bbox, x_wconf on words)."""
    out = [_HOCR_HEAD.format(title=_esc(doc.source))]
    for n, page in enumerate(doc.pages, 1):
        title = f'image "{doc.source}"; bbox 0 0 {page.width} {page.height}; ppageno {page.page}'
        out.append(f'  <div class="ocr_page" id="page_{n}" title="{_esc(title)}">\n')
        boxes = [line_box(line, page) for line in page.lines]
        if boxes:
            area = _bbox(_union(boxes))
            out.append(f'   <div class="ocr_carea" id="block_{n}_1" title="{area}">\n'
                       f'    <p class="ocr_par" id="par_{n}_1" title="{area}">\n')
            word_id = 0
            for k, (line, box) in enumerate(zip(page.lines, boxes), 1):
                angle = f"; textangle {line.angle}" if line.angle else ""
                out.append(f'     <span class="ocr_line" id="line_{n}_{k}" title="{_bbox(box)}{angle}">')
                for word, wbox in words(line, box):
                    word_id += 1
                    out.append(f'\n      <span class="ocrx_word" id="word_{n}_{word_id}" '
                               f'title="{_bbox(wbox)}; x_wconf {_conf(line)}">{_esc(word)}</span>')
                out.append("\n     </span>\n")
            out.append("    </p>\n   </div>\n")
        out.append("  </div>\n")
    out.append(" </body>\n</html>\n")
    return "".join(out)


TSV_COLUMNS = ("level", "page_num", "block_num", "par_num", "line_num", "word_num",
               "left", "top", "width", "height", "conf", "text")


def to_tsv(doc: Document) -> str:
    """Tesseract's TSV: levels 1 page, 2 block, 3 paragraph, 4 line, 5 word; conf -1 except on words (0..100)."""
    rows: list[tuple] = []

    def row(level: int, ids: tuple[int, int, int, int, int], box: Box, conf: int = -1, text: str = "") -> None:
        left, top, right, bottom = box
        clean = " ".join(text.replace("\t", " ").splitlines())
        rows.append((level, *ids, left, top, right - left, bottom - top, conf, clean))

    for n, page in enumerate(doc.pages, 1):
        row(1, (n, 0, 0, 0, 0), (0, 0, page.width, page.height))
        boxes = [line_box(line, page) for line in page.lines]
        if not boxes:
            continue
        row(2, (n, 1, 0, 0, 0), _union(boxes))
        row(3, (n, 1, 1, 0, 0), _union(boxes))
        for k, (line, box) in enumerate(zip(page.lines, boxes), 1):
            row(4, (n, 1, 1, k, 0), box)
            for w, (word, wbox) in enumerate(words(line, box), 1):
                row(5, (n, 1, 1, k, w), wbox, _conf(line), word)
    return "".join("\t".join(map(str, r)) + "\n" for r in [TSV_COLUMNS, *rows])


FORMATS: dict[str, tuple[Callable[[Document], str], str]] = {
    "text": (to_text, ".txt"),
    "json": (to_json, ".json"),
    "jsonl": (to_jsonl, ".jsonl"),
    "hocr": (to_hocr, ".hocr"),
    "tsv": (to_tsv, ".tsv"),
}
