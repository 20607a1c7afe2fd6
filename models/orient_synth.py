"""Synthetic crops for the orientation classifier, built on models/synth.py's renderer and text sampler.

Upright crops of several kinds (lines, short words and numbers, single characters, vertical Chinese columns, slices
of multi-line blocks as a detector cuts them on a sideways page, low-contrast scene-like text) are turned by a
random multiple of 90 degrees; the label is the clockwise turn that makes them readable again.
"""
from __future__ import annotations

import random

import cv2
import numpy as np
from PIL import Image, ImageDraw

from models.synth import LineRenderer, TextSampler

KINDS = {"line": 0.34, "short": 0.14, "char": 0.12, "column": 0.24, "block": 0.08, "scene": 0.08}
TURNS = {0: 0.4, 180: 0.3, 90: 0.15, 270: 0.15}  # clockwise turn applied to the upright crop


def hanzi_text(sampler: TextSampler, rng: random.Random, lo: int, hi: int) -> str:
    """A run of lo..hi hanzi from the corpus (digits kept now and then), for columns."""
    while True:
        text = "".join(c for c in sampler.sample(rng, "zh") if "\u4e00" <= c <= "\u9fff" or c.isdigit())
        if len(text) >= lo:
            start = rng.randint(0, len(text) - lo)
            return text[start : start + rng.randint(lo, hi)]


def render_column(renderer: LineRenderer, text: str, rng: random.Random, clean: bool = False,
                  across: bool = False) -> np.ndarray | None:
    """A vertical column: characters upright, top to bottom, one per cell of about the font size. `across` lays the
    same cells left to right: from `rng` in the same state, the column's twin row (same font, spacing and colours,
    degraded alike relative to the text's direction)."""
    picked = renderer.pick_font(text, rng, clean)
    if picked is None:
        return None
    size, font, _ = picked
    pitch = size * (1.05 if clean else rng.uniform(0.95, 1.5))
    bg, fg = (255, 0) if clean else renderer.colors(rng)
    length = int(pitch * len(text) + 2 * size)
    canvas = Image.new("L", (length, size * 3) if across else (size * 3, length), color=bg)
    draw = ImageDraw.Draw(canvas)
    for i, ch in enumerate(text):
        centre, cell = 1.5 * size, size + pitch * (i + 0.5)
        draw.text((cell, centre) if across else (centre, cell), ch, font=font, fill=fg, anchor="mm")
    img = np.array(canvas).T if across else np.array(canvas)  # cells run down axis 0 either way
    ink = np.abs(img.astype(np.int16) - bg) > 40
    rows = np.flatnonzero(ink.any(1))
    if len(rows) == 0:
        return None
    margin = (lambda: 0.15 * size) if clean else (lambda: rng.uniform(0.0, 0.4) * size)
    y0, y1 = int(rows[0] - margin()), int(rows[-1] + 1 + margin())
    x0, x1 = int(size - margin()), int(2 * size + margin())  # the cell's width, not the ink's (narrow glyphs)
    img = np.ascontiguousarray(img[max(0, y0) : y1, max(0, x0) : x1])
    img = img if clean else renderer.degrade(img, rng, bg)  # along the text either way (warp, rules, gradient)
    return np.ascontiguousarray(img.T) if across else img


def _block(renderer: LineRenderer, sampler: TextSampler, rng: random.Random) -> np.ndarray | None:
    """2-4 clean lines stacked like a paragraph, then degraded."""
    lines = [renderer.render(sampler.sample(rng, rng.choice(["zh", "en", "mixed"])), rng, clean=True)
             for _ in range(rng.randint(2, 4))]
    lines = [im for im in lines if im is not None]
    if len(lines) < 2:
        return None
    width = max(im.shape[1] for im in lines)
    img = np.vstack([cv2.copyMakeBorder(im, 0, 0, 0, width - im.shape[1], cv2.BORDER_CONSTANT, value=255) for im in lines])
    return renderer.degrade(img, rng, 255)


def _low_contrast(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Scene-like: faint text, uneven light, blur."""
    f = img.astype(np.float32)
    f = f.mean() + (f - f.mean()) * rng.uniform(0.12, 0.5)
    h, w = f.shape
    f += np.linspace(rng.uniform(-50, 50), rng.uniform(-50, 50), w, dtype=np.float32)[None, :]
    f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 1.5))
    return np.clip(f, 0, 255).astype(np.uint8)


def upright_crop(kind: str, renderer: LineRenderer, sampler: TextSampler, rng: random.Random) -> np.ndarray | None:
    """One upright crop of the given kind (gray uint8), or None when nothing could be rendered."""
    if kind == "line":
        text = sampler.sample(rng)
        while not any(c.isalnum() for c in text):  # a rule of symbols ("-----") reads the same both ways up
            text = sampler.sample(rng)
        return renderer.render(text.upper() if text.isascii() and rng.random() < 0.35 else text, rng)  # receipts
    if kind == "short":
        text = sampler.sample(rng, rng.choice(["zh", "en", "numeric", "random"])).strip()
        return renderer.render(text[: rng.randint(1, 4)].strip() or text, rng)
    if kind == "char":
        pool = sampler.hanzi if rng.random() < 0.7 else "ABCDEFGHJKLMNPQRTUVWXYabdefghkmnpqrty0123456789"
        return renderer.render(rng.choice(pool), rng)
    if kind == "column":
        return render_column(renderer, hanzi_text(sampler, rng, 2, 10), rng)
    if kind == "block":
        return _block(renderer, sampler, rng)
    img = upright_crop(rng.choice(["line", "short", "column"]), renderer, sampler, rng)
    return None if img is None else _low_contrast(img, rng)


def turn_crop(img: np.ndarray, turn: int, kind: str, rng: random.Random) -> tuple[np.ndarray, int]:
    """(the upright crop turned `turn` degrees clockwise, the clockwise angle that makes it readable again)."""
    img = np.ascontiguousarray(np.rot90(img, k=-(turn // 90)))
    if kind == "block":  # a strip across the turned block, as a detector may cut a sideways paragraph
        h = img.shape[0]
        strip = int(rng.uniform(0.6, 1.4) * 32)
        if h > strip:
            y = rng.randint(0, h - strip)
            img = img[y : y + strip]
    return img, (360 - turn) % 360


def turned_sample(renderer: LineRenderer, sampler: TextSampler, rng: random.Random,
                  kind: str | None = None) -> tuple[np.ndarray, int, str] | None:
    """(crop, clockwise angle that makes it readable, kind): an upright crop turned at random."""
    kind = kind or rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    img = upright_crop(kind, renderer, sampler, rng)
    if img is None or min(img.shape) < 4:
        return None
    turn = rng.choices(list(TURNS), weights=list(TURNS.values()))[0]
    return (*turn_crop(img, turn, kind, rng), kind)
