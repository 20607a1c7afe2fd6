"""The Pipeline: load -> detect -> rectify -> orient -> recognize -> decode -> Document."""
from __future__ import annotations

import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from shapely.geometry import Polygon

from pipeline.config import load_config
from pipeline.document import Document, Line, Page
from pipeline.geometry import (LINE_ASPECT, count_lines, is_column, join_column_pieces, may_be_upright_characters,
                               median_aspect, order_quad, polygon_quad, quad_size, rectify, relay_column,
                               relay_sideways, turn, unturn_points)
from pipeline.imageio import InputError, load_pages
from pipeline.metrics import CJK_LETTER
from pipeline.registry import build

Source = Any  # a path, bytes, a numpy array or a PIL image
PAGE_SAMPLE = 12  # lines voting on a page's orientation
PAGE_FIRST = 4  # the longest lines, which end the vote when (all but one at most) they agree
PAGE_VOTE_SPAN = 8.0  # a voting line (or column) shows the orient stage at most this many line heights, its middle
PAGE_MIN_LINES = 3  # fewer lines (e.g. one crop read whole) are left to the orient stage alone
UNSURE_MIN_CONFIDENCE = 0.9  # an unsure box is kept when read with this confidence, with a letter or digit in it
SIDEWAYS_MARGIN = 0.05  # a column's reading with Latin turned upright must be this much more confident to be kept
LATIN_RUN = re.compile(r"[A-Za-z0-9]+")
SPECKS = re.compile(r"[\s.,'\"`·、。，‘’“”]*")  # dots, commas and quote marks alone: specks and smudges, not print
PHOTO_MAX_LINES = 4  # a page of at most this many lines or columns is a photo: no unsure boxes; clutter if boxed more
LATIN_PAGE_MAX_CJK = 0.05  # a page whose letters are at most this share CJK is Latin print (`Pipeline._read_latin`)

Proposal = tuple[list[Polygon], list[bool]]  # a page's boxes in reading order, and whether each is unsure


def _sure(proposal: Proposal) -> list[Polygon]:
    return [box for box, unsure in zip(*proposal) if not unsure]


def is_print(text: str) -> bool:
    """Whether a reading is print: not empty, and not dots, commas and quote marks alone (a box on a speck or a
    smudge reads as ".", "," or "、"; a lone full stop is never a line of print)."""
    return not SPECKS.fullmatch(text)


def reads_clearly(text: str, confidence: float, min_confidence: float = UNSURE_MIN_CONFIDENCE) -> bool:
    """Whether a doubtful box's reading keeps it: a letter or digit (of any script) read with `min_confidence` or
    more. An unsure box asks UNSURE_MIN_CONFIDENCE (strays on a page, specks and bits of rules, read as marks or
    unsurely); a box of a photo, the decode stage's `photo_min_confidence` (bits of a car or a wall)."""
    return confidence >= min_confidence and any(c.isalnum() for c in text)


def cjk_share(texts: list[str]) -> float:
    """The share of CJK letters among the letters of these texts (1 with no letters)."""
    letters = sum(c.isalpha() for text in texts for c in text)
    return sum(len(CJK_LETTER.findall(text)) for text in texts) / letters if letters else 1.0


def source_name(source: Source, index: int | None = None) -> str:
    """A path's own name; other inputs are named by their type, and by their position among many (`<bytes #2>`)."""
    if isinstance(source, (str, Path)):
        return str(source)
    return f"<{type(source).__name__}>" if index is None else f"<{type(source).__name__} #{index}>"


def _longest(polygons: list[Polygon]) -> list[Polygon]:
    """The PAGE_SAMPLE longest lines (by perimeter, which turning a page keeps), longest first."""
    return sorted(polygons, key=lambda p: -p.length)[:PAGE_SAMPLE]


def _poll(polygons: list[Polygon], ballots: Callable[[list[Polygon]], list[list[tuple[Any, float]]]]
          ) -> defaultdict[Any, float]:
    """Weighted votes for the sides the longest lines are on (`_longest`); `ballots(part)` gives each line's (side,
    weight) votes, none for no opinion. The PAGE_FIRST longest vote first and settle it alone when they agree: one
    side only, and at most one of them without an opinion (the others are then never cut out)."""
    lines = _longest(polygons)
    votes: defaultdict[Any, float] = defaultdict(float)
    for part in (lines[:PAGE_FIRST], lines[PAGE_FIRST:]):
        cast = ballots(part) if part else []
        for crop_votes in cast:
            for side, weight in crop_votes:
                votes[side] += weight
        if sum(1 for v in cast if v) >= len(part) - 1 and len(votes) == 1:
            break
    return votes


def _middle(polygon: Polygon, span: float) -> tuple[np.ndarray, float]:
    """(quad, length): the middle of a line's (or a column's) quadrilateral, at most `span` times as long as it is
    thick, and the whole line's length in thicknesses."""
    quad = polygon_quad(polygon)
    width, height = quad_size(quad)
    length = max(width, height) / max(min(width, height), 1.0)
    if length <= span:
        return quad, length
    a, b = (1 - span / length) / 2, (1 + span / length) / 2
    tl, tr, br, bl = quad
    if width >= height:
        return np.float32([tl + (tr - tl) * a, tl + (tr - tl) * b, bl + (br - bl) * b, bl + (br - bl) * a]), length
    return np.float32([tl + (bl - tl) * a, tr + (br - tr) * a, tr + (br - tr) * b, tl + (bl - tl) * b]), length


def _voters(image: np.ndarray, lines: list[Polygon]) -> tuple[list[np.ndarray], list[float]]:
    """What the orient stage sees of each voting line (`_middle`, cut from `image`) and its vote's weight: its length
    in line heights, at most 8."""
    middles = [_middle(p, PAGE_VOTE_SPAN) for p in lines]
    return [rectify(image, quad) for quad, _ in middles], [min(8.0, length) for _, length in middles]


def _latin_run(text: str) -> int:
    """The length of the longest run of ASCII letters and digits in a text."""
    return max((len(run) for run in LATIN_RUN.findall(text)), default=0)


def _keeps_sideways(current: tuple[str, float], sideways: tuple[str, float]) -> bool:
    """Whether a column's reading with a run of its cells turned upright (`relay_sideways`) replaces its reading
    ((text, confidence) each): only when it reads a Latin word or number of at least two characters, longer than
    any the current reading has, with confidence SIDEWAYS_MARGIN higher (narrow hanzi turned on their side, or a
    noisy column's bits, read as confident letters and symbols at times)."""
    run = _latin_run(sideways[0])
    return run >= 2 and run > _latin_run(current[0]) and sideways[1] >= current[1] + SIDEWAYS_MARGIN


def _keeps_second(first: tuple[str, float], first_column: bool, second: tuple[str, float], second_column: bool
                  ) -> bool:
    """Whether a crop's second reading replaces its first ((text, confidence) each; `*_column`: read re-laid as a
    column). A column against a line: the column only with a CJK letter in it and more confidence, or over a line
    read as nothing (re-laying is for Chinese columns: a lone 1, 0 or colon re-laid reads as confident bits of
    strokes); otherwise the more confident reading."""
    if first_column != second_column:
        column, line = (second, first) if second_column else (first, second)
        column_wins = not line[0] or (CJK_LETTER.search(column[0]) is not None and column[1] > line[1])
        return column_wins == second_column
    return second[1] > first[1]


class Pipeline:
    """Holds one predictor per stage kind, built once from a config; call it on an input to get a Document."""

    def __init__(self, config: dict[str, dict[str, Any]]) -> None:
        self.config = config
        threads = config["runtime"]["threads"]
        self.detect = build("detect", config["detect"], threads=threads)
        self.orient = build("orient", config["orient"], threads=threads)
        self.page_orient = bool(getattr(self.orient, "page", False))
        self.vertical = bool(getattr(self.orient, "vertical", False))
        self.recognize = build("recognize", config["recognize"], threads=threads)
        self.decode = build("decode", config["decode"], threads=threads, charset=self.recognize.charset)

    @classmethod
    def from_config(cls, source: str | Path | dict | None = None, sets: Iterable[str] = (), **overrides: Any) -> "Pipeline":
        """`Pipeline.from_config("configs/default.yaml", decode={"type": "greedy"})`; `sets` takes
        command-line style "key=value" strings."""
        return cls(load_config(source, sets, **overrides))

    def __call__(self, source: Source, name: str | None = None) -> Document:
        """Read one input; raises InputError when it cannot be loaded."""
        doc = self._read([(name or source_name(source), source)])[0]
        if doc.error:
            raise InputError(doc.error)
        return doc

    def map(self, sources: Iterable[Source], batch_pages: int = 8) -> Iterator[Document]:
        """Read many inputs in order, recognizing lines of up to `batch_pages` pages together. An input that
        cannot be read yields a Document with `error` set and no pages; the others are unaffected. Inputs that are
        not paths are named by their position (`<bytes #1>`: the second input)."""
        batch: list[tuple[str, Source]] = []
        for index, source in enumerate(sources):
            batch.append((source_name(source, index), source))
            if len(batch) >= batch_pages:
                yield from self._read(batch)
                batch = []
        if batch:
            yield from self._read(batch)

    def _read(self, named: list[tuple[str, Source]]) -> list[Document]:
        runtime = self.config["runtime"]
        docs, pages = [], []  # pages: (doc, page, image)
        for name, source in named:
            doc = Document(source=name)
            docs.append(doc)
            t0 = time.perf_counter()
            try:
                images = load_pages(source, name=name, max_pixels=runtime["max_pixels"], pdf_dpi=runtime["pdf_dpi"])
            except InputError as exc:
                doc.error = str(exc)
                continue
            doc.timings_ms["load"] = (time.perf_counter() - t0) * 1000
            for index, image in enumerate(images):
                page = Page(page=index, width=image.shape[1], height=image.shape[0])
                doc.pages.append(page)
                pages.append((doc, page, image))

        lines, crops, owners, amid = [], [], [], []
        for doc, page, image in pages:
            t0 = time.perf_counter()
            proposal, page_ms = self._propose(image), 0.0
            if self.page_orient and len(_sure(proposal)) >= PAGE_MIN_LINES:
                page.rotation, image, proposal, page_ms = self._turn_page(image, proposal)
                doc.timings_ms["orient"] = doc.timings_ms.get("orient", 0.0) + page_ms
            sure = _sure(proposal)
            of_lines = median_aspect(sure) >= LINE_ASPECT
            photo = count_lines(sure) <= PHOTO_MAX_LINES
            if photo:  # unsure boxes: a document's lone fields; on a photo, clutter
                proposal = (sure, [False] * len(sure))
            clutter = photo and len(sure) > 1  # boxes on a car, a shelf, a wall: kept when read surely enough
            for polygon, unsure in zip(*proposal):
                crops.append(rectify(image, polygon))
                amid.append(of_lines)
                if page.rotation:
                    polygon = Polygon(unturn_points(polygon.exterior.coords[:-1], page.rotation, page.width, page.height))
                lines.append((page, Line(polygon=polygon), unsure, clutter))
                owners.append(doc)
            doc.timings_ms["detect"] = doc.timings_ms.get("detect", 0.0) + (time.perf_counter() - t0) * 1000 - page_ms

        if crops:
            def clock(stage: str, ms: float) -> None:
                self._share_time(stage, ms, owners, docs)

            read = self.read_crops(crops, clock, amid)
            photo_min = getattr(self.decode, "photo_min_confidence", 0.0)
            rows = []  # kept lines read as rows: (page, line, crop, angle)
            for (page, line, unsure, clutter), crop, (text, conf, angle, column) in zip(lines, crops, read):
                if is_print(text) and (not unsure or reads_clearly(text, conf)) and (
                        not clutter or reads_clearly(text, conf, photo_min)):
                    line.text, line.confidence, line.vertical = text, conf, column
                    line.angle = (page.rotation + int(angle)) % 360
                    page.lines.append(line)
                    if not column:
                        rows.append((page, line, crop, angle))
            if getattr(self.decode, "latin_pages", False):
                self._read_latin(rows, clock)
        for doc in docs:
            if not doc.error:
                for stage in ("detect", "orient", "recognize", "decode"):
                    doc.timings_ms.setdefault(stage, 0.0)
                doc.timings_ms["total"] = sum(doc.timings_ms.values())
        return docs

    def read_crops(self, crops: list[np.ndarray], clock: Callable[[str, float], None] | None = None,
                   amid_lines: Sequence[bool] | None = None) -> list[tuple[str, float, int, bool]]:
        """Line crops -> (text, confidence, angle, vertical) for each: turned the way the orient stage says, read
        as a column (re-laid into a row) when tall, recognized and decoded together. Four kinds of crop are read a
        second way and the likelier reading kept (`_keeps_second`): a tall crop that may be a few upright characters
        (`may_be_upright_characters`), also as it is; a tall crop the orient stage turned on its side (a line lying
        on its side, or a column it mistook for one), also as an upright column; a crop taller than wide but short
        of a column (two stacked characters in a loose box, or one letter), also re-laid as a column; a crop the
        orient stage turned upside down, also as it lies (the recognizer confirms the classifier's turn). A column
        with runs of narrow cells (Latin set sideways) is also read with each run turned upright (`relay_sideways`),
        kept by `_keeps_sideways`.
        `amid_lines` tells, for each crop, whether it was cut from a page of lines (upright, most of its lines
        wide): there a tall crop that may be a few upright characters is never turned on its side, and a short one
        is also read as it is. `clock(stage, ms)` is told the time each stage took."""
        def timed(stage: str, fn, *args):
            t0 = time.perf_counter()
            out = fn(*args)
            if clock:
                clock(stage, (time.perf_counter() - t0) * 1000)
            return out

        amid = list(amid_lines) if amid_lines is not None else [False] * len(crops)
        angles = list(timed("orient", self.orient, crops))
        angles = [0 if a in (90, 270) and m and is_column(c) and may_be_upright_characters(c, m) else a
                  for c, a, m in zip(crops, angles, amid)]
        turned = [turn(c, a) for c, a in zip(crops, angles)]
        vertical = [self.vertical and is_column(c) for c in turned]
        # second readings: (crop index, image to read, vertical and angle if that reading is kept)
        second = [(i, turned[i], False, angles[i]) for i, v in enumerate(vertical)
                  if v and may_be_upright_characters(turned[i], amid[i])]
        second += [(i, relay_column(c), True, 0) for i, (c, a) in enumerate(zip(crops, angles))
                   if self.vertical and a in (90, 270) and is_column(c)]
        second += [(i, relay_column(c), True, angles[i]) for i, (c, v) in enumerate(zip(turned, vertical))
                   if self.vertical and not v and c.shape[0] > c.shape[1]]
        second += [(i, relay_column(crops[i]) if vertical[i] else crops[i], vertical[i], 0)
                   for i, a in enumerate(angles) if a == 180]
        relaid = {i: relay_sideways(c) for i, (c, v) in enumerate(zip(turned, vertical)) if v}
        sideways = [(i, row, angles[i]) for i, (_, rows) in relaid.items() for row in rows]
        reads = [relaid[i][0] if v else c for i, (c, v) in enumerate(zip(turned, vertical))]
        reads += [image for _, image, _, _ in second]
        log_probs = timed("recognize", self.recognize, reads + [row for _, row, _ in sideways])
        results = list(timed("decode", self.decode, log_probs))
        for (i, _, column, angle), other in zip(second, results[len(crops):]):
            if _keeps_second(results[i], vertical[i], other, column):
                results[i], vertical[i], angles[i] = other, column, angle
        for (i, _, angle), other in zip(sideways, results[len(reads):]):
            if vertical[i] and angles[i] == angle and _keeps_sideways(results[i], other):
                results[i] = other
        return [(text, conf, int(angle), column) for (text, conf), angle, column in zip(results, angles, vertical)]

    def _read_latin(self, rows: list[tuple[Page, Line, np.ndarray, int]], clock: Callable[[str, float], None]
                    ) -> None:
        """On a page read almost wholly in Latin print (CJK letters at most LATIN_PAGE_MAX_CJK of its letters), a
        line holding CJK letters the recognizer was unsure of is read again without CJK letters (the decode stage's
        `latin`): on English receipts a smudged letter or a row of asterisks reads as a hanzi ("合mount(RM)",
        "**本书*本本**"). A line then read as nothing, or as specks (`is_print`), is left out."""
        shares = {id(page): cjk_share([line.text for line in page.lines]) for page, *_ in rows}
        todo = [row for row in rows if shares[id(row[0])] <= LATIN_PAGE_MAX_CJK and CJK_LETTER.search(row[1].text)]
        if not todo:
            return
        t0 = time.perf_counter()
        log_probs = self.recognize([turn(crop, angle) for _, _, crop, angle in todo])
        t1 = time.perf_counter()
        readings = self.decode.latin(log_probs)
        clock("recognize", (t1 - t0) * 1000)
        clock("decode", (time.perf_counter() - t1) * 1000)
        for (page, line, *_), reading in zip(todo, readings):
            if reading is None:
                continue
            if is_print(reading[0]):
                line.text, line.confidence = reading
            else:
                page.lines = [kept for kept in page.lines if kept is not line]

    def _propose(self, image: np.ndarray) -> Proposal:
        """The detect stage's boxes, with the unsure ones among them where the stage proposes some (a `propose`
        method, as `db` has): on a page of more than PHOTO_MAX_LINES lines those are read and kept only when they
        read clearly (`reads_clearly`); elsewhere they are left out."""
        propose = getattr(self.detect, "propose", None)
        if propose is not None:
            return propose(image)
        boxes = self.detect(image)
        return boxes, [False] * len(boxes)

    def _turn_page(self, image: np.ndarray, proposal: Proposal) -> tuple[int, np.ndarray, Proposal, float]:
        """Turn a page upright: (clockwise turn 0/90/180/270, the turned image, its boxes (`_propose`), ms spent on
        orientation, detection on the turned page excluded). The page's sure boxes are its lines.

        Lines found on a page lying on its side are bits of lines (median aspect below LINE_ASPECT): the page is
        then detected again turned 90 degrees and, if its lines look more like lines, the orient stage reads the
        longest of them as cut from the page as it lies (`_sideways`). Mostly upright columns (and the stage reads
        columns): the page stays as it is and those columns, their pieces joined (`join_column_pieces`), are its
        lines, right to left. Lines on their side that all lie the same way: the page is turned that way.
        Otherwise it is turned 90 degrees and, like any other page, the orient stage votes over its longest lines,
        each weighted by its length in line heights: upright or upside down (`_poll`: the longest settle it alone
        when they agree)."""
        t0, detect_ms = time.perf_counter(), 0.0
        base, turned, polygons = 0, image, _sure(proposal)
        if median_aspect(polygons) < LINE_ASPECT:
            t1 = time.perf_counter()
            sideways = turn(image, 90)
            found_proposal = self._propose(sideways)
            found = _sure(found_proposal)
            detect_ms += (time.perf_counter() - t1) * 1000
            if median_aspect(found) > median_aspect(polygons):
                h, w = image.shape[:2]

                def unturned(lines: list[Polygon]) -> list[Polygon]:
                    return [Polygon(order_quad(unturn_points(p.exterior.coords[:-1], 90, w, h))) for p in lines]

                votes = self._sideways(image, unturned(_longest(found)))
                if self.vertical and votes[0] + votes[180] > votes[90] + votes[270]:
                    columns = sorted(join_column_pieces(unturned(found)), key=lambda p: -p.bounds[2])
                    return 0, image, (columns, [False] * len(columns)), (time.perf_counter() - t0) * 1000 - detect_ms
                base, turned, proposal, polygons = 90, sideways, found_proposal, found
                if votes[270] and not votes[90]:  # every line lying on its side is read once turned 270 degrees
                    base = 270
                    t1 = time.perf_counter()
                    turned = turn(image, base)
                    proposal = self._propose(turned)
                    polygons = _sure(proposal)
                    detect_ms += (time.perf_counter() - t1) * 1000
                if votes[90] + votes[270] and not (votes[90] and votes[270]):
                    return base, turned, proposal, (time.perf_counter() - t0) * 1000 - detect_ms

        def ballots(part: list[Polygon]) -> list[list[tuple[int, float]]]:
            # a line votes upside down if it is read so as it lies, upright if it is read so once turned: the same
            # evidence either way, whatever margin the stage asks before it turns a line
            crops, weights = _voters(turned, part)
            angles = self.orient(crops + [turn(c, 180) for c in crops])
            return [[(180, weight)] * (as_is == 180) + [(0, weight)] * (flipped == 180)
                    for weight, as_is, flipped in zip(weights, angles, angles[len(crops):])]

        votes = _poll(polygons, ballots)
        if votes[180] > votes[0]:
            base = (base + 180) % 360
            t1 = time.perf_counter()
            turned = turn(image, base)
            proposal = self._propose(turned)
            detect_ms += (time.perf_counter() - t1) * 1000
        return base, turned, proposal, (time.perf_counter() - t0) * 1000 - detect_ms

    def _sideways(self, image: np.ndarray, polygons: list[Polygon]) -> defaultdict[int, float]:
        """The orient stage's angles for the longest of these tall regions, cut from the page as it lies, weighted
        by length (`_poll`): 0 or 180 for vertical columns of upright characters, 90 or 270 for lines lying on
        their side (the clockwise turn that makes them upright)."""
        def ballots(part: list[Polygon]) -> list[list[tuple[int, float]]]:
            crops, weights = _voters(image, part)
            return [[(angle, weight)] for weight, angle in zip(weights, self.orient(crops))]

        return _poll(polygons, ballots)

    @staticmethod
    def _share_time(stage: str, ms: float, owners: list[Document], docs: list[Document]) -> None:
        """A batched stage's time, split among documents by their share of the lines."""
        counts: dict[int, int] = defaultdict(int)
        for doc in owners:
            counts[id(doc)] += 1
        for doc in docs:
            if counts[id(doc)]:
                doc.timings_ms[stage] = doc.timings_ms.get(stage, 0.0) + ms * counts[id(doc)] / len(owners)
