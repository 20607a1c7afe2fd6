"""Orientation stages: line crops -> the clockwise rotation (0/90/180/270) that makes each one readable."""
from __future__ import annotations

import numpy as np

from pipeline.registry import register


@register("orient", "none")
class NoOrientation:
    """Every line is read as detected (upright, horizontal)."""

    def __call__(self, crops: list[np.ndarray]) -> list[int]:
        return [0] * len(crops)
