"""Synthetic pages with one quadrilateral per printed text segment, for training the DB text detector.

A page is a document (paragraphs in one or two columns, titles, tables and forms), a receipt (narrow paper,
monospace capitals, amounts right-aligned, thermal or dot-matrix print) or a scene (signs and text over photo-like
backgrounds, some vertical Chinese columns), then warped (rotation, perspective) and degraded (stamps, shadows,
blur, noise, JPEG). Boxes follow the SROIE convention: words joined by single spaces share a box; a wider gap
(a label and its value, an item and its price, table cells, columns) starts a new one. A box spans the line's
ink with a small margin (8% of the font size), as annotators draw them.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw

from models.synth import Effect, FontFace, TextSampler, _pil_font, letter_effects


@dataclass
class Page:
    image: np.ndarray  # H x W x 3 uint8 BGR
    polygons: list[np.ndarray] = field(default_factory=list)  # 4 x 2 float32, clockwise from top-left
    ignore: list[bool] = field(default_factory=list)  # too small or cut: neither text nor background


@dataclass
class _Segment:
    x: float
    y: float  # top of the line box
    text: str
    face: FontFace
    size: int
    color: tuple[int, int, int]
    vertical: bool = False
    label: bool = True  # False for printed rules ("-----") that annotators do not box
    effects: list[Effect] = field(default_factory=list)  # drawn first: outlines, shadows, the sides of 3-D letters


class PageRenderer:
    """`render(rng)` draws one random page of `width` x `height` pixels."""

    KINDS = ("document", "document", "receipt", "receipt", "receipt", "scene", "scene", "form")

    def __init__(self, sampler: TextSampler, fonts: list[FontFace], width: int = 512, height: int = 512) -> None:
        self.sampler, self.width, self.height = sampler, width, height
        self.latin = [f for f in fonts if not f.cjk and set("ABCabc0123:.,") <= f.chars]
        self.cjk = [f for f in fonts if f.cjk]
        self.mono = [f for f in self.latin if f.mono] or self.latin

    # ------------------------------------------------------------------------------------------ public

    def render(self, rng: random.Random, kind: str | None = None) -> Page:
        kind = kind or rng.choice(self.KINDS)
        bg, segments, canvas, rules, ink = getattr(self, "_" + kind)(rng)
        img = canvas if canvas is not None else Image.new("RGB", (self.width, self.height), bg)
        draw = ImageDraw.Draw(img)
        for rule in rules:
            draw.line(rule, fill=ink, width=rng.randint(1, 2))
        polys, ignore = [], []
        for seg in segments:
            quad = self._draw(draw, seg)
            if quad is None or not seg.label:
                continue
            polys.append(quad)
            inside = quad[:, 0].min() >= 0 and quad[:, 1].min() >= 0 and quad[:, 0].max() <= self.width \
                and quad[:, 1].max() <= self.height
            ignore.append(bool(min(quad[2] - quad[0]) < 6 or not inside))
        image = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
        page = Page(image, polys, ignore)
        if rng.random() < 0.25:
            self._stamp(page.image, rng)
        self._warp(page, rng)
        page.image = self._degrade(page.image, rng)
        return page

    # ------------------------------------------------------------------------------------------ text

    def _face(self, rng: random.Random, text: str, mono: bool = False) -> FontFace | None:
        pool = self.mono if mono else (self.cjk if any(ord(c) > 0x2E80 for c in text) else self.latin + self.cjk[:3])
        need = set(text) - {" "}
        ok = [f for f in pool if need <= f.chars] or [f for f in self.cjk + self.latin if need <= f.chars]
        return rng.choice(ok) if ok else None

    def _text(self, rng: random.Random, kinds: tuple[str, ...], upper: bool = False) -> str:
        text = self.sampler.sample(rng, rng.choice(kinds)).strip()
        return " ".join(text.upper().split() if upper else text.split())

    def _fit(self, text: str, face: FontFace, size: int, width: float) -> str:
        """The longest prefix of `text` that fits `width` pixels."""
        font = _pil_font(face.path, face.index, size)
        if font.getlength(text) <= width:
            return text
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if font.getlength(text[:mid]) <= width else (lo, mid - 1)
        return text[:lo].rstrip()

    def _width(self, seg: _Segment) -> float:
        font = _pil_font(seg.face.path, seg.face.index, seg.size)
        return seg.size * len(seg.text) if seg.vertical else font.getlength(seg.text)

    def _draw(self, draw: ImageDraw.ImageDraw, seg: _Segment) -> np.ndarray | None:
        """Draw a segment; its box (4 x 2), possibly reaching past the page, or None when nothing was drawn."""
        if not seg.text.strip():
            return None
        font = _pil_font(seg.face.path, seg.face.index, seg.size)
        if seg.vertical:
            boxes = []
            for i, ch in enumerate(seg.text):
                cx, cy = seg.x + seg.size / 2, seg.y + (i + 0.5) * seg.size
                draw.text((cx, cy), ch, font=font, fill=seg.color, anchor="mm")
                boxes.append(draw.textbbox((cx, cy), ch, font=font, anchor="mm"))
            b = np.asarray(boxes, np.float32)
            x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        else:
            for dx, dy, color, stroke in seg.effects:
                draw.text((seg.x + dx, seg.y + dy), seg.text, font=font, fill=color, anchor="la",
                          stroke_width=stroke, stroke_fill=color)
            draw.text((seg.x, seg.y), seg.text, font=font, fill=seg.color, anchor="la")
            b = np.asarray([draw.textbbox((seg.x + dx, seg.y + dy), seg.text, font=font, anchor="la",
                                          stroke_width=stroke) for dx, dy, _, stroke in [(0, 0, 0, 0), *seg.effects]])
            x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        pad = 0.08 * seg.size
        x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
        return np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])

    # ------------------------------------------------------------------------------------------ layouts

    def _ink(self, rng: random.Random, bg: tuple[int, int, int]) -> tuple[int, int, int]:
        light = sum(bg) > 3 * 128
        v = rng.randint(0, 90) if light else rng.randint(170, 255)
        if rng.random() < 0.2:  # blue or red ink
            c = [v, v, v]
            c[rng.choice((0, 2))] = min(255, v + rng.randint(60, 160)) if light else v
            return tuple(c)
        return (v, v, v)

    @staticmethod
    def _paper(rng: random.Random) -> tuple[int, int, int]:
        v = rng.randint(200, 255)
        tint = rng.randint(-12, 12)
        return (v, v, max(0, min(255, v - abs(tint))))

    def _document(self, rng: random.Random):
        bg = self._paper(rng)
        ink = self._ink(rng, bg)
        zh = rng.random() < 0.5
        kinds = ("zh", "zh", "mixed") if zh else ("en", "en", "numeric")
        size = rng.randint(10, 30)
        face = self._face(rng, "中文" if zh else "Ab")
        segs: list[_Segment] = []
        rules: list[tuple[float, float, float, float]] = []
        margin = rng.randint(0, 40)
        ncol = 1 if rng.random() < 0.6 else 2
        col_gap = rng.uniform(1.5, 4) * size
        col_w = (self.width - 2 * margin - (ncol - 1) * col_gap) / ncol
        for c in range(ncol):
            x0 = margin + c * (col_w + col_gap)
            y = rng.uniform(-0.5, 2) * size
            while y < self.height:
                if rng.random() < 0.12:  # a title, a rule or a table
                    choice = rng.random()
                    if choice < 0.4:
                        ts = int(size * rng.uniform(1.2, 2.2))
                        text = self._text(rng, kinds)
                        f = self._face(rng, text) or face
                        text = self._fit(text, f, ts, col_w)
                        seg = _Segment(0, y, text, f, ts, ink)
                        w = self._width(seg)
                        seg.x = x0 + rng.choice([0, (col_w - w) / 2])
                        segs.append(seg)
                        y += ts * rng.uniform(1.4, 2.0)
                    elif choice < 0.6:
                        rules.append((x0, y + size * 0.4, x0 + col_w, y + size * 0.4))
                        y += size * 0.8
                    else:
                        y = self._table(rng, segs, rules, x0, y, col_w, size, face, ink)
                    continue
                text = " ".join(self._text(rng, kinds) for _ in range(6))
                f = self._face(rng, text) or face
                if f is None:
                    break
                indent = size * 2 if rng.random() < 0.2 else 0
                width = col_w - indent if rng.random() < 0.8 else col_w * rng.uniform(0.2, 0.9)
                text = self._fit(text, f, size, width)
                segs.append(_Segment(x0 + indent, y, text, f, size, ink))
                y += size * rng.uniform(1.25, 1.9) + (size if rng.random() < 0.1 else 0)
        return bg, segs, None, rules, ink

    def _table(self, rng, segs, rules, x0, y, width, size, face, ink) -> float:
        """A grid of cells (one box each), with or without rules; returns the y below it."""
        with_rules = rng.random() < 0.6
        ncol, nrow = rng.randint(2, 5), rng.randint(2, 6)
        row_h = size * rng.uniform(1.6, 2.4)
        cell_w = width / ncol
        for r in range(nrow):
            for c in range(ncol):
                text = self._text(rng, ("numeric", "en", "zh", "mixed"))
                f = self._face(rng, text) or face
                if f is None:
                    continue
                text = self._fit(text, f, size, cell_w - size)
                seg = _Segment(0, y + r * row_h + (row_h - size * 1.2) / 2, text, f, size, ink)
                w = self._width(seg)
                seg.x = x0 + c * cell_w + rng.choice([size * 0.4, (cell_w - w) / 2, cell_w - w - size * 0.4])
                segs.append(seg)
        if with_rules:
            for r in range(nrow + 1):
                rules.append((x0, y + r * row_h, x0 + width, y + r * row_h))
            for c in range(ncol + 1):
                rules.append((x0 + c * cell_w, y, x0 + c * cell_w, y + nrow * row_h))
        return y + nrow * row_h + size

    def _form(self, rng: random.Random):
        """Label : value pairs and key-value rows, some underlined, as in invoices and forms."""
        bg = self._paper(rng)
        ink = self._ink(rng, bg)
        size = rng.randint(10, 28)
        zh = rng.random() < 0.5
        segs = []
        y = rng.uniform(0, 2) * size
        while y < self.height:
            x = rng.uniform(0, 3) * size
            while x < self.width:
                label = self._text(rng, ("zh",) if zh else ("en",))[: rng.randint(2, 12)]
                label += rng.choice([":", "：", "", " :"])
                value = self._text(rng, ("numeric", "mixed", "en", "zh"))
                f = self._face(rng, label + value)
                if f is None:
                    break
                joined = rng.random() < 0.4  # "Date: 2020-01-01" printed as one segment
                parts = [label + " " + value] if joined else [label, value]
                for part in parts:
                    seg = _Segment(x, y, part.strip(), f, size, ink)
                    segs.append(seg)
                    x += self._width(seg) + rng.uniform(1.5, 5) * size
            y += size * rng.uniform(1.5, 2.6)
        return bg, segs, None, [], ink

    def _receipt(self, rng: random.Random):
        """A narrow receipt on a table: centred header, item rows with right-aligned amounts, totals."""
        table = tuple(rng.randint(20, 200) for _ in range(3))
        paper = self._paper(rng)
        size = rng.randint(8, 26)
        mono = rng.random() < 0.7
        face = self._face(rng, "ABC0123:.", mono=mono)
        ink = self._ink(rng, paper)
        if rng.random() < 0.4:  # faded thermal print
            ink = tuple(int(v + (p - v) * rng.uniform(0.3, 0.6)) for v, p in zip(ink, paper))
        full = rng.random() < 0.5
        width = self.width if full else int(self.width * rng.uniform(0.5, 0.95))
        left = 0 if full else rng.randint(0, self.width - width)
        img = Image.new("RGB", (self.width, self.height), table if not full else paper)
        ImageDraw.Draw(img).rectangle((left, 0, left + width, self.height), fill=paper)
        char_w = _pil_font(face.path, face.index, size).getlength("0")
        inner0, inner1 = left + rng.uniform(0.5, 2) * char_w, left + width - rng.uniform(0.5, 2) * char_w
        segs = []
        y = rng.uniform(-0.5, 2) * size
        upper = rng.random() < 0.85
        while y < self.height:
            r = rng.random()
            line: list[tuple[str, str]] = []  # (text, align)
            if r < 0.2:
                line = [(self._text(rng, ("en", "numeric"), upper), "center")]
            elif r < 0.55:
                amount = f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"
                line = [(self._text(rng, ("en",), upper)[: rng.randint(4, 24)], "left"),
                        (self._text(rng, ("numeric",)) if rng.random() < 0.3 else amount, "right")]
                if rng.random() < 0.4:
                    line.insert(1, (str(rng.randint(1, 20)), "mid"))
            elif r < 0.75:
                key = self._text(rng, ("en",), upper)[: rng.randint(3, 16)]
                line = [(key + rng.choice([" :", ":", ""]), "left"),
                        (self._text(rng, ("numeric",), upper), rng.choice(["mid", "right"]))]
            elif r < 0.82:  # table header or item row: short fields a few characters apart
                line = [(self._text(rng, ("en", "numeric"), upper).split(" ")[0][: rng.randint(2, 10)], "flow")
                        for _ in range(rng.randint(3, 6))]
            elif r < 0.88:  # figures a few characters apart: quantity, unit price, amount, tax code; date and time
                line = [(text, "flow") for text in self._figures(rng)]
            elif r < 0.93:
                line = [(rng.choice("-=*.") * 60, "rule")]
            else:
                line = [(self._text(rng, ("en", "numeric", "mixed"), upper), "left")]
            for text, align in line:
                f = face if self._face_ok(face, text) else self._face(rng, text, mono=mono)
                if f is None or not text:
                    continue
                avail = inner1 - inner0
                text = self._fit(text, f, size, avail if align in ("rule", "center", "left") else avail * 0.45)
                seg = _Segment(inner0, y, text, f, size, ink, label=align != "rule")
                w = self._width(seg)
                row_end = segs[-1].x + self._width(segs[-1]) if segs and segs[-1].y == y else inner0
                seg.x = {"left": inner0, "rule": inner0, "center": (inner0 + inner1 - w) / 2,
                         "right": inner1 - w, "mid": inner0 + avail * rng.uniform(0.45, 0.6) - w / 2,
                         "flow": row_end + rng.uniform(1.2, 4.0) * char_w if row_end > inner0 else inner0}[align]
                if seg.x + w > inner1 or (segs and segs[-1].y == y and row_end + 1.1 * char_w > seg.x):
                    continue  # would run into its left neighbour: one segment per gap
                segs.append(seg)
            y += size * rng.uniform(1.0, 1.7)
        return paper, segs, img, [], ink

    @staticmethod
    def _figures(rng: random.Random) -> list[str]:
        """Short fields printed a few characters apart on one receipt row, each boxed on its own."""
        r = rng.randint
        if rng.random() < 0.3:
            return [f"{r(1, 28):02d}/{r(1, 12):02d}/{r(10, 30)}", f"{r(0, 23):02d}:{r(0, 59):02d}", str(r(100, 99999))]
        fields = [f"{r(1, 20)} X" if rng.random() < 0.5 else str(r(1, 20)), f"{r(0, 99)}.{r(0, 99):02d}",
                  f"{r(0, 999)}.{r(0, 99):02d}", rng.choice(["SR", "ZR", "S", "Z", "T", "E", "TX"])]
        start = r(0, 2)
        return fields[start : r(start + 2, 4)]

    @staticmethod
    def _face_ok(face: FontFace | None, text: str) -> bool:
        return face is not None and (set(text) - {" "}) <= face.chars

    def _scene(self, rng: random.Random):
        """Signs and labels over a photo-like background: shop signs with large letters (outlined, shadowed or
        3-D), small print beside them, some vertical Chinese columns."""
        img = Image.fromarray(cv2.cvtColor(self._background(rng), cv2.COLOR_BGR2RGB))
        draw = ImageDraw.Draw(img)
        segs, taken = [], []
        for _ in range(rng.randint(2, 12)):
            zh = rng.random() < 0.6
            text = self._text(rng, ("zh",) if zh else ("en", "numeric", "mixed"))[: rng.randint(2, 14)]
            f = self._face(rng, text)
            if f is None:
                continue
            size = rng.randint(14, 64) if rng.random() < 0.6 else rng.randint(64, int(0.45 * self.height))
            vertical = zh and rng.random() < 0.2 and " " not in text
            seg = _Segment(0, 0, text, f, size, (0, 0, 0), vertical=vertical)
            if size > 64:
                seg.text = self._fit(text, f, size, self.width - 8)
            w = self._width(seg)
            bw, bh = (size * 1.1, w) if vertical else (w, size * 1.3)
            if bw > self.width - 4 or bh > self.height - 4:
                continue
            seg.x, seg.y = rng.uniform(2, self.width - bw - 2), rng.uniform(2, self.height - bh - 2)
            box = (seg.x - size * 0.4, seg.y - size * 0.3, seg.x + bw + size * 0.4, seg.y + bh + size * 0.3)
            if any(box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3] for t in taken):
                continue
            taken.append(box)
            plate = tuple(rng.randint(0, 255) for _ in range(3))
            if rng.random() < 0.6:  # a sign board behind the text
                draw.rectangle(box, fill=plate)
                seg.color = self._ink(rng, plate) if rng.random() < 0.5 else tuple(255 - v for v in plate)
            else:
                local = np.asarray(img)[int(seg.y):int(seg.y + bh), int(seg.x):int(seg.x + bw)]
                mean = local.reshape(-1, 3).mean(0) if local.size else np.full(3, 128.0)
                v = rng.randint(0, 60) if mean.mean() > 128 else rng.randint(200, 255)
                seg.color = (v, v, v)
            if not vertical and rng.random() < 0.5:
                seg.effects = letter_effects(rng, size, seg.color)
            segs.append(seg)
        return None, segs, img, [], (0, 0, 0)

    def _background(self, rng: random.Random) -> np.ndarray:
        """Photo-like clutter: smooth colour fields, shapes, stripes and fine texture."""
        g = np.random.default_rng(rng.getrandbits(32))
        h, w = self.height, self.width
        coarse = g.uniform(0, 255, (rng.randint(2, 6), rng.randint(2, 6), 3)).astype(np.float32)
        img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        for _ in range(rng.randint(3, 15)):
            color = tuple(float(v) for v in g.uniform(0, 255, 3))
            x, y = int(g.integers(0, w)), int(g.integers(0, h))
            shape = rng.random()
            if shape < 0.4:
                corner = (x + int(g.integers(10, w)), y + int(g.integers(10, h)))
                cv2.rectangle(img, (x, y), corner, color, -1 if rng.random() < 0.7 else rng.randint(1, 6))
            elif shape < 0.7:
                axes = (int(g.integers(5, w // 2)), int(g.integers(5, h // 2)))
                cv2.ellipse(img, (x, y), axes, float(g.uniform(0, 180)), 0, 360, color,
                            -1 if rng.random() < 0.5 else rng.randint(1, 6))
            else:
                cv2.line(img, (x, y), (int(g.integers(0, w)), int(g.integers(0, h))), color, rng.randint(1, 8))
        tex = cv2.GaussianBlur(g.normal(0, rng.uniform(5, 30), (h, w)).astype(np.float32), (0, 0), rng.uniform(0.5, 3))
        return np.clip(img + tex[..., None], 0, 255).astype(np.uint8)

    # ------------------------------------------------------------------------------------------ effects

    def _stamp(self, img: np.ndarray, rng: random.Random) -> None:
        """A red or blue seal (ring, star, arcs) over the page, partly transparent: not text to detect."""
        h, w = img.shape[:2]
        layer = img.copy()
        color = (40, 40, 220) if rng.random() < 0.8 else (200, 60, 40)
        c = (rng.randint(0, w), rng.randint(0, h))
        r = rng.randint(20, max(21, min(h, w) // 4))
        cv2.circle(layer, c, r, color, rng.randint(2, 5))
        if rng.random() < 0.5:
            cv2.circle(layer, c, int(r * 0.85), color, 1)
        pts = np.array([[c[0] + r * 0.35 * np.cos(a), c[1] + r * 0.35 * np.sin(a)]
                        for a in np.linspace(-np.pi / 2, 3.5 * np.pi, 6)], np.int32)
        cv2.fillPoly(layer, [pts], color)
        alpha = rng.uniform(0.4, 0.9)
        cv2.addWeighted(layer, alpha, img, 1 - alpha, 0, dst=img)

    def _warp(self, page: Page, rng: random.Random) -> None:
        """Rotation (mostly small) or perspective; boxes follow, parts leaving the page become don't-care."""
        r = rng.random()
        if r < 0.45:
            return
        h, w = page.image.shape[:2]
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        if r < 0.8:
            angle = rng.gauss(0, 3) if rng.random() < 0.8 else rng.uniform(-30, 30)
            m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, rng.uniform(0.85, 1.1))
            m = np.vstack([m, [0, 0, 1]]).astype(np.float32)
        else:
            j = 0.08 * min(w, h)
            dst = src + np.float32([[rng.uniform(-j, j), rng.uniform(-j, j)] for _ in range(4)])
            m = cv2.getPerspectiveTransform(src, dst)
        border = tuple(int(v) for v in page.image[0, 0])
        if rng.random() < 0.5:
            border = tuple(rng.randint(0, 255) for _ in range(3))
        page.image = cv2.warpPerspective(page.image, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=border)
        for i, quad in enumerate(page.polygons):
            q = cv2.perspectiveTransform(quad[None], m)[0]
            page.polygons[i] = q
            if q[:, 0].min() < 0 or q[:, 1].min() < 0 or q[:, 0].max() > w or q[:, 1].max() > h:
                page.ignore[i] = True

    def _degrade(self, img: np.ndarray, rng: random.Random) -> np.ndarray:
        g = np.random.default_rng(rng.getrandbits(32))
        h, w = img.shape[:2]
        if rng.random() < 0.3:  # uneven light / shadow
            shade = cv2.resize(g.uniform(0.5, 1.15, (3, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
            img = np.clip(img * shade[..., None], 0, 255).astype(np.uint8)
        if rng.random() < 0.2:  # dot-matrix / thermal: ink broken into dots
            dark = img.min(axis=2) < 128
            pitch = rng.randint(2, 3)
            grid = np.zeros((h, w), bool)
            grid[::pitch, ::pitch] = True
            grid = cv2.dilate(grid.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool) if pitch == 3 else grid
            paper = np.median(img[~dark], axis=0) if (~dark).any() else np.full(3, 255.0)
            img = np.where((dark & ~grid)[..., None], paper.astype(np.uint8), img)
        if rng.random() < 0.15:
            img = 255 - img
        if rng.random() < 0.35:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
        if rng.random() < 0.2:  # low resolution
            f = rng.uniform(0.5, 0.85)
            small = cv2.resize(img, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
            img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.4:
            img = np.clip(img + g.normal(0, rng.uniform(2, 15), img.shape), 0, 255).astype(np.uint8)
        if rng.random() < 0.4:
            _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(25, 90)])
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if rng.random() < 0.2:
            gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            img = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        return img
