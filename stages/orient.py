"""Orientation stages: line crops -> the clockwise rotation (0/90/180/270) that makes each one readable.

A readable crop that is tall (a vertical Chinese column, characters upright) is read as a column by the Pipeline;
a stage says whether it finds vertical columns and whether the Pipeline should also turn whole pages with its
`vertical` and `page` attributes (absent: False).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.geometry import COLUMN_RATIO
from pipeline.registry import register
from pipeline.resources import onnx_session, resolve_path

ANGLES = (0, 90, 180, 270)
HEIGHT, WIDTH = 32, 128  # classifier input: gray, text height 32, a window of 128 columns
MAX_WINDOWS = 3


def to_windows(crop: np.ndarray, max_windows: int = MAX_WINDOWS) -> tuple[np.ndarray, bool]:
    """A crop -> (float32 [n, 1, 32, 128] windows, turned). A tall crop is first turned 90 degrees clockwise
    (`turned`), so the classifier always sees a wide strip; the strip is resized to height 32, standardized around
    its median (the background) and cut into up to `max_windows` evenly spaced windows (narrow ones centred, padded
    with the background)."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    turned = gray.shape[0] > gray.shape[1]
    if turned:
        gray = np.rot90(gray, k=-1)
    h, w = gray.shape
    new_w = max(1, int(round(w * HEIGHT / max(h, 1))))
    img = cv2.resize(np.ascontiguousarray(gray), (new_w, HEIGHT),
                     interpolation=cv2.INTER_AREA if h > HEIGHT else cv2.INTER_LINEAR).astype(np.float32)
    img = (img - np.median(img)) / max(float(img.std()), 8.0)
    if new_w <= WIDTH:
        out = np.zeros((1, 1, HEIGHT, WIDTH), np.float32)
        x0 = (WIDTH - new_w) // 2
        out[0, 0, :, x0 : x0 + new_w] = img
        return out, turned
    n = min(max_windows, math.ceil(new_w / WIDTH))
    starts = np.linspace(0, new_w - WIDTH, n).round().astype(int)
    return np.stack([img[None, :, s : s + WIDTH] for s in starts]), turned


def crop_angle(turned: bool, label: int) -> int:
    """The clockwise rotation of the original crop, from the class predicted on its (possibly turned) strip."""
    return (ANGLES[label] + (90 if turned else 0)) % 360


@register("orient", "none")
class NoOrientation:
    """Every line is read as detected (upright, horizontal)."""

    def __call__(self, crops: list[np.ndarray]) -> list[int]:
        return [0] * len(crops)


@register("orient", "cnn")
class CNNOrientation:
    """A tiny CNN (ONNX) that tells which way a crop's characters are up: 0/90/180/270 degrees. A wide crop is a
    line, upright or upside down; a tall crop whose characters are upright is a vertical column (angle 0 or 180),
    one whose characters lie on their side is a turned line (90 or 270). A square crop (one character) is never a
    column, and a wide one is never a column lying on its side (only 0 or 180). `line_margin` (log-probability) is
    what a wide crop's half turn must win by over reading it as it lies (the Pipeline has the recognizer check it
    too); `margin`, what any other crop's turn must win by: 180 over the other readings; 90 or 270 over 0 for a
    squarish crop (a tall one is as likely a column as a line on its side). `page`: the Pipeline also turns each
    page upright before reading it (see Pipeline._turn_page); `vertical`: tall upright crops are read as columns."""

    def __init__(self, weights: str = "models/weights/orient.onnx", page: bool = True, vertical: bool = True,
                 margin: float = 6.0, line_margin: float = 3.0, batch_size: int = 64, threads: int = 2) -> None:
        for key, value in (("page", page), ("vertical", vertical)):
            if not isinstance(value, bool):
                raise ValueError(f"orient.{key}: expected true or false, got {value!r}")
        for key, value in (("margin", margin), ("line_margin", line_margin)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"orient.{key}: {value!r} must be a number >= 0")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"orient.batch_size: {batch_size!r} must be an integer >= 1")
        self.page, self.vertical, self.batch_size = page, vertical, batch_size
        self.margin, self.line_margin = float(margin), float(line_margin)
        path = resolve_path(weights, "orient.weights")
        self.session = onnx_session(path, threads)

    def __call__(self, crops: list[np.ndarray]) -> list[int]:
        prepared = [to_windows(c) for c in crops]
        if not prepared:
            return []
        windows = np.concatenate([w for w, _ in prepared])
        log_probs = np.concatenate([
            self.session.run(None, {"x": windows[i : i + self.batch_size]})[0]
            for i in range(0, len(windows), self.batch_size)
        ])
        angles, start = [], 0
        for crop, (win, turned) in zip(crops, prepared):
            strip = log_probs[start : start + len(win)].sum(axis=0)
            start += len(win)
            score = {crop_angle(turned, i): float(v) for i, v in enumerate(strip)}
            h, w = crop.shape[:2]
            line = w >= COLUMN_RATIO * h
            score[180] -= self.line_margin if line else self.margin  # upside down only when the classifier is sure
            if line:  # a wide crop is a line, never a column on its side
                score[90] = score[270] = -math.inf
            elif h < COLUMN_RATIO * w:  # squarish: turned only when the classifier is sure
                score[90] -= self.margin
                score[270] -= self.margin
            angles.append(max(score, key=score.get))
        return angles
