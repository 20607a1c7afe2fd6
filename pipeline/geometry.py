"""Polygon helpers: ordering quadrilaterals and warping a text-line polygon to an upright strip."""
from __future__ import annotations

import math

import cv2
import numpy as np
from shapely.geometry import Polygon


def order_quad(points) -> np.ndarray:
    """Four points as a 4x2 float32 array ordered clockwise on screen (y down) from the top-left.

    The start is chosen so that the first edge (top-left -> top-right) points most nearly to the right, which is
    the quad's top edge for any rotation below 45 degrees; a tall quad keeps its short edge on top (it is not
    turned on its side). More than four points are reduced to their minimum-area rectangle first.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) > 1 and np.allclose(pts[0], pts[-1]) and len(pts) == 5:
        pts = pts[:-1]  # closed ring
    if len(pts) != 4:
        if len(pts) < 3:
            raise ValueError(f"order_quad needs 4 points, got {len(pts)}")
        pts = cv2.boxPoints(cv2.minAreaRect(pts.astype(np.float32))).astype(np.float64)
    center = pts.mean(axis=0)
    # Clockwise on screen (y grows downwards) is increasing atan2(dy, dx).
    angles = np.arctan2(pts[:, 1] - center[1], pts[:, 0] - center[0])
    pts = pts[np.argsort(angles, kind="stable")]
    edges = np.roll(pts, -1, axis=0) - pts
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    rightness = np.where(lengths > 0, edges[:, 0] / np.maximum(lengths, 1e-12), -2.0)
    best = np.flatnonzero(rightness >= rightness.max() - 1e-9)
    if len(best) > 1:  # exact 45 degrees or degenerate: the one nearest the top-left corner of the plane
        best = best[np.argmin(pts[best, 0] + pts[best, 1])]
    else:
        best = best[0]
    return np.roll(pts, -int(best), axis=0).astype(np.float32)


def polygon_quad(polygon: Polygon) -> np.ndarray:
    """The polygon's own four corners if it is a quadrilateral, else its minimum rotated rectangle; ordered."""
    if polygon.is_empty:
        raise ValueError("empty polygon")
    simple = polygon.simplify(0)
    coords = np.asarray(simple.exterior.coords, dtype=np.float64)[:-1]
    if len(coords) != 4:
        rect = polygon.minimum_rotated_rectangle
        if rect.geom_type != "Polygon":  # a point or a segment: give it a 1-pixel thickness
            x0, y0, x1, y1 = polygon.bounds
            rect = Polygon([(x0, y0), (max(x1, x0 + 1), y0), (max(x1, x0 + 1), max(y1, y0 + 1)), (x0, max(y1, y0 + 1))])
        coords = np.asarray(rect.exterior.coords, dtype=np.float64)[:-1]
    return order_quad(coords)


def quad_size(quad: np.ndarray) -> tuple[float, float]:
    """(width, height) of an ordered quad: the longer of its top/bottom and of its left/right edges."""
    tl, tr, br, bl = np.asarray(quad, dtype=np.float64)
    width = max(np.hypot(*(tr - tl)), np.hypot(*(br - bl)))
    height = max(np.hypot(*(bl - tl)), np.hypot(*(br - tr)))
    return float(width), float(height)


def rectify(image: np.ndarray, polygon: Polygon | np.ndarray, height: int | None = None,
            max_width: int | None = None, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Warp a text-line polygon to an upright strip along its top edge (the text direction).

    The polygon's quadrilateral (its own corners, or its minimum rotated rectangle) is mapped with a perspective
    transform: top-left -> (0, 0), top-right -> (w, 0), ... where w and h come from the quad's edge lengths, so
    the aspect ratio is kept. `height` rescales the strip to that height (width in proportion, capped at
    `max_width`). Tall crops stay tall: turning vertical text is the orient stage's business. Pixels outside the
    image repeat the border.
    """
    if isinstance(polygon, Polygon):
        quad = polygon_quad(polygon)
    else:
        quad = order_quad(polygon)
    width, tall = quad_size(quad)
    out_w = max(1, int(round(width)))
    out_h = max(1, int(round(tall)))
    if height is not None:
        if height <= 0:
            raise ValueError(f"height must be > 0, got {height}")
        out_w = max(1, int(round(out_w * height / out_h)))
        out_h = int(height)
    if max_width is not None and out_w > max_width:
        out_w = int(max_width)
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(image, matrix, (out_w, out_h), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)


def quad_to_polygon(quad) -> Polygon:
    return Polygon([(float(x), float(y)) for x, y in np.asarray(quad).reshape(-1, 2)])


def rotation_matrix(angle_deg: float, width: int, height: int) -> tuple[np.ndarray, int, int]:
    """Affine 2x3 matrix turning an image by `angle_deg` (counter-clockwise on screen) about its centre, with the
    canvas grown to hold the whole result; returns (matrix, new_width, new_height)."""
    a = math.radians(angle_deg)
    cos, sin = abs(math.cos(a)), abs(math.sin(a))
    new_w = int(math.ceil(width * cos + height * sin))
    new_h = int(math.ceil(width * sin + height * cos))
    m = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), angle_deg, 1.0)
    m[0, 2] += new_w / 2.0 - width / 2.0
    m[1, 2] += new_h / 2.0 - height / 2.0
    return m, new_w, new_h
