"""The Pipeline: load -> detect -> rectify -> orient -> recognize -> decode -> Document."""
from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from pipeline.config import load_config
from pipeline.document import Document, Line, Page
from pipeline.geometry import rectify
from pipeline.imageio import InputError, load_pages
from pipeline.registry import build

Source = Any  # a path, bytes, a numpy array or a PIL image


def source_name(source: Source) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return f"<{type(source).__name__}>"


class Pipeline:
    """Holds one predictor per stage kind, built once from a config; call it on an input to get a Document."""

    def __init__(self, config: dict[str, dict[str, Any]]) -> None:
        self.config = config
        threads = config["runtime"]["threads"]
        self.detect = build("detect", config["detect"], threads=threads)
        self.orient = build("orient", config["orient"], threads=threads)
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
        cannot be read yields a Document with `error` set and no pages; the others are unaffected."""
        batch: list[tuple[str, Source]] = []
        for source in sources:
            batch.append((source_name(source), source))
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

        lines, crops, owners = [], [], []
        for doc, page, image in pages:
            t0 = time.perf_counter()
            for polygon in self.detect(image):
                lines.append((page, Line(polygon=polygon)))
                crops.append(rectify(image, polygon))
                owners.append(doc)
            doc.timings_ms["detect"] = doc.timings_ms.get("detect", 0.0) + (time.perf_counter() - t0) * 1000

        def timed(stage: str, fn, *args):
            t0 = time.perf_counter()
            out = fn(*args)
            self._share_time(stage, (time.perf_counter() - t0) * 1000, owners, docs)
            return out

        if crops:
            angles = timed("orient", self.orient, crops)
            crops = [np.ascontiguousarray(np.rot90(c, k=-(a // 90))) if a else c for c, a in zip(crops, angles)]
            log_probs = timed("recognize", self.recognize, crops)
            results = timed("decode", self.decode, log_probs)
            for (page, line), angle, (text, conf) in zip(lines, angles, results):
                if text.strip():
                    line.text, line.confidence, line.angle, line.vertical = text, conf, int(angle), angle in (90, 270)
                    page.lines.append(line)
        for doc in docs:
            if not doc.error:
                for stage in ("detect", "orient", "recognize", "decode"):
                    doc.timings_ms.setdefault(stage, 0.0)
                doc.timings_ms["total"] = sum(doc.timings_ms.values())
        return docs

    @staticmethod
    def _share_time(stage: str, ms: float, owners: list[Document], docs: list[Document]) -> None:
        """A batched stage's time, split among documents by their share of the lines."""
        counts: dict[int, int] = defaultdict(int)
        for doc in owners:
            counts[id(doc)] += 1
        for doc in docs:
            if counts[id(doc)]:
                doc.timings_ms[stage] = doc.timings_ms.get(stage, 0.0) + ms * counts[id(doc)] / len(owners)
