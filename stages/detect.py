"""Text-line detectors: image (BGR uint8) -> list of shapely quadrilaterals in the image's pixel coordinates,
clockwise from the top-left, in reading order."""
from __future__ import annotations

import math

import cv2
import numpy as np
from shapely.geometry import Polygon

from pipeline.geometry import LINE_ASPECT, rotation_matrix, split_fields, trim_to_ink
from pipeline.registry import register
from pipeline.resources import onnx_session, resolve_path

# Closing (pixels, analysis scale) that joins the dots of dot-matrix or broken print before components are
# measured; applied only to pages whose components are mostly lower than min_height.
_FRAGMENT_CLOSE = 7


def _check_image(image: np.ndarray) -> np.ndarray:
    """Gray uint8 view of a detector input (BGR, BGRA or gray; deep images scaled by their maximum)."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"detect: expected a numpy image, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"detect: expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.dtype != np.uint8:
        img = image.astype(np.float32)
        hi = float(img.max()) if img.size else 0.0
        img = img * (255.0 / hi) if hi > 255.0 else (img * 255.0 if 0 < hi <= 1.0 and image.dtype.kind == "f" else img)
        image = np.clip(img, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return image
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def _quad(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


@register("detect", "whole")
class WholeImageDetector:
    """The input is one text line: the whole image is its polygon."""

    def __call__(self, image: np.ndarray) -> list[Polygon]:
        h, w = image.shape[:2]
        if h == 0 or w == 0:
            return []
        return [_quad(0.0, 0.0, float(w), float(h))]


@register("detect", "contour")
class ContourDetector:
    """Classical text-line detection for scanned and printed pages (no model).

    binarize (adaptive or Otsu, either polarity) -> connected components, dropping noise specks, table rules and
    huge blobs -> skew from the projection profile of component centres, page turned upright -> glyph parts joined
    by a short horizontal closing -> pieces merged into lines when they overlap vertically and their gap is below
    `gap_ratio` x their height; small pieces (punctuation, dots, strokes of 二/心) attached to their line -> reading
    order by XY-cut (columns left to right, top to bottom inside a column) -> boxes padded by `pad_ratio` x line
    height and mapped back to the original image.

    Parameters (config keys; lengths in pixels of the original image):
      min_height        lines (and text components) lower than this are ignored.
      max_height_ratio  components taller than this share of the page height are ignored (pictures, frames);
                        set to 1.0 for inputs that are a few large lines.
      gap_ratio         horizontal gap, in line heights, below which two pieces belong to the same line.
      pad_ratio         padding around a line's ink, in line heights.
      deskew            estimate and correct page skew (polygons follow the skew in the original image).
      max_skew          largest skew searched, in degrees.
      max_side          pages whose longer side exceeds this are analysed downscaled (coordinates mapped back).
      binarize          "adaptive" (uneven lighting) or "otsu" (one global threshold).
    """

    def __init__(self, min_height: int = 6, max_height_ratio: float = 0.3, gap_ratio: float = 1.2,
                 pad_ratio: float = 0.15, deskew: bool = True, max_skew: float = 10.0, max_side: int = 2400,
                 binarize: str = "adaptive"):
        def number(name, value, lo, hi, integer=False, lo_open=False):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
                kind = "an integer" if integer else "a number"
                raise ValueError(f"{name}: expected {kind}, got {value!r}")
            if not math.isfinite(value) or value < lo or (lo_open and value == lo) or value > hi:
                left = "(" if lo_open else "["
                raise ValueError(f"{name}: {value!r} is out of range; allowed {left}{lo}, {hi}]")
            return value

        self.min_height = number("min_height", min_height, 1, 10_000, integer=True)
        self.max_height_ratio = float(number("max_height_ratio", max_height_ratio, 0.0, 1.0, lo_open=True))
        self.gap_ratio = float(number("gap_ratio", gap_ratio, 0.0, 20.0))
        self.pad_ratio = float(number("pad_ratio", pad_ratio, 0.0, 2.0))
        if not isinstance(deskew, bool):
            raise ValueError(f"deskew: expected true or false, got {deskew!r}")
        self.deskew = deskew
        self.max_skew = float(number("max_skew", max_skew, 0.0, 45.0))
        self.max_side = number("max_side", max_side, 64, 100_000, integer=True)
        if binarize not in ("adaptive", "otsu"):
            raise ValueError(f"binarize: {binarize!r} is not allowed; allowed: adaptive, otsu")
        self.binarize = binarize

    # ------------------------------------------------------------------------------------------------ call

    def __call__(self, image: np.ndarray) -> list[Polygon]:
        gray = _check_image(image)
        H, W = gray.shape
        if H < 4 or W < 4:
            return []
        scale = min(1.0, self.max_side / max(H, W))
        if scale < 1.0:
            gray = cv2.resize(gray, (max(1, round(W * scale)), max(1, round(H * scale))), interpolation=cv2.INTER_AREA)
        ha, wa = gray.shape
        fx, fy = W / wa, H / ha
        min_h = max(2.0, self.min_height * min(wa / W, ha / H))

        ink = self._binarize(gray)
        if ink is None:
            return []
        ink, hc, centers = self._clean(ink, min_h)
        if ink is None:
            return []

        inverse = None
        if self.deskew and self.max_skew > 0 and len(centers[0]) >= 3:
            angle = _estimate_skew(*centers, hc, self.max_skew)
            if angle != 0.0:
                m, wr, hr = rotation_matrix(angle, wa, ha)
                ink = cv2.warpAffine(ink, m, (wr, hr), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=0)
                inverse = cv2.invertAffineTransform(m)

        boxes = self._lines(ink, hc, min_h)
        if len(boxes) == 0:
            return []
        line_h = float(np.median(boxes[:, 3] - boxes[:, 1]))
        order = _xy_cut_order(boxes, max(1.0, 0.5 * line_h), 5.0 * line_h)
        boxes = boxes[order]

        pad = self.pad_ratio * (boxes[:, 3] - boxes[:, 1])
        x0, y0 = boxes[:, 0] - pad, boxes[:, 1] - pad
        x1, y1 = boxes[:, 2] + pad, boxes[:, 3] + pad
        corners = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1),
                            np.stack([x0, y1], 1)], axis=1)  # n x 4 x 2, clockwise from top-left
        if inverse is not None:
            corners = corners @ inverse[:, :2].T + inverse[:, 2]
        corners[..., 0] = np.clip(corners[..., 0] * fx, 0, W)
        corners[..., 1] = np.clip(corners[..., 1] * fy, 0, H)
        corners = np.round(corners, 2)
        return [Polygon(q.tolist()) for q in corners]

    # ------------------------------------------------------------------------------------------ binarize

    def _binarize(self, gray: np.ndarray) -> np.ndarray | None:
        """Ink as 255 on 0, whatever the polarity; None for a blank page."""
        hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel().astype(np.float64)
        t, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        t = int(t)
        levels = np.arange(256, dtype=np.float64)
        n_dark, n_light = hist[: t + 1].sum(), hist[t + 1:].sum()
        if n_dark == 0 or n_light == 0:
            return None
        mean_dark = (hist[: t + 1] * levels[: t + 1]).sum() / n_dark
        mean_light = (hist[t + 1:] * levels[t + 1:]).sum() / n_light
        if n_dark > n_light:  # the background is the dark class: light text on a dark page
            gray = cv2.bitwise_not(gray)
            t = 255 - t - 1
            mean_dark, mean_light = 255.0 - mean_light, 255.0 - mean_dark
            hist = hist[::-1]
        contrast = mean_light - mean_dark
        if contrast < 8.0:
            return None
        if self.binarize == "otsu":
            _, ink = cv2.threshold(gray, t, 255, cv2.THRESH_BINARY_INV)
            return ink
        paper = hist[t + 1:]
        spread = math.sqrt(float((paper * (levels[t + 1:] - mean_light) ** 2).sum() / paper.sum()))
        block = max(15, (min(gray.shape) // 25) | 1)
        c = max(5.0, 0.2 * contrast)
        ink = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, c)
        # The local threshold also fires on paper grain and texture: keep only pixels darker than halfway
        # between the global threshold and the paper, or darker than the paper by 4 of its standard deviations
        # (faint print on a page whose black parts, e.g. a dark scan edge, pull the global threshold down).
        level = max(t + 0.5 * (mean_light - t), mean_light - 4.0 * spread)
        _, dark = cv2.threshold(gray, level, 255, cv2.THRESH_BINARY_INV)
        return cv2.bitwise_and(ink, dark)

    # --------------------------------------------------------------------------------------------- clean

    def _clean(self, ink: np.ndarray, min_h: float):
        """Drop specks, rules, frames and huge blobs; estimate the text height; centres of text components."""
        n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8, ltype=cv2.CV_32S)
        if n <= 1:
            return None, 0.0, None
        visible = stats[1:, 4] >= 4
        if visible.sum() >= 50 and np.mean(stats[1:, 3][visible] < min_h) > 0.5:
            # Mostly fragments lower than text: dot-matrix or faint, broken print. Join the dots first.
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_FRAGMENT_CLOSE, _FRAGMENT_CLOSE))
            ink = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, kernel)
            n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8, ltype=cv2.CV_32S)
        x, y, w, h, area = (stats[1:, i].astype(np.float64) for i in range(5))
        page_h, page_w = ink.shape
        noise = area < max(2.0, 0.1 * min_h * min_h)
        huge = h > self.max_height_ratio * page_h
        text_like = ~noise & ~huge & (h >= min_h)
        if not text_like.any():
            return None, 0.0, None
        hc = float(np.percentile(h[text_like], 85))
        thin = max(2.0, 0.3 * hc)
        hrule = ((h <= thin) & (w >= 4.0 * hc)) | ((h <= 0.5 * hc) & (w >= 6.0 * hc))
        vrule = ((w <= thin) & (h >= 3.0 * hc)) | ((w <= 0.5 * hc) & (h >= 5.0 * hc))
        big = (w > 5.0 * hc) & (h > 5.0 * hc)  # pictures, frames, table grids
        sparse = (w > 3.0 * hc) & (h > 3.0 * hc) & (area < 0.1 * w * h)
        wide = (w > 0.5 * page_w) & (h > 1.5 * hc)  # no single glyph is half a page wide: borders, bars
        # scanner shadows and torn paper along the image border: long, thin or big pieces touching it
        border = (x <= 0) | (y <= 0) | (x + w >= page_w) | (y + h >= page_h)
        border &= (w <= 0.25 * h) | (h <= 0.25 * w) | (h > 1.5 * hc)
        remove = noise | huge | hrule | vrule | big | sparse | wide | border
        if remove.any():
            lut = np.full(n, 255, dtype=np.uint8)
            lut[0] = 0
            lut[1:][remove] = 0
            ink = lut[labels]
        keep = ~remove & (h >= min_h) & (h <= 3.0 * hc)
        if not keep.any():
            keep = ~remove
            if not keep.any():
                return None, 0.0, None
        centers = (x[keep] + w[keep] / 2.0, y[keep] + h[keep] / 2.0, w[keep], h[keep])
        return ink, hc, centers

    # --------------------------------------------------------------------------------------------- lines

    def _lines(self, ink: np.ndarray, hc: float, min_h: float) -> np.ndarray:
        """Line boxes (x0, y0, x1, y1) in the (upright) analysis frame."""
        k = max(3, int(round(0.6 * hc)))
        smeared = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1)))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(smeared, connectivity=8, ltype=cv2.CV_32S)
        if n <= 1:
            return np.zeros((0, 4))
        st = stats[1:].astype(np.float64)
        boxes = np.stack([st[:, 0], st[:, 1], st[:, 0] + st[:, 2], st[:, 1] + st[:, 3]], axis=1)
        heights = boxes[:, 3] - boxes[:, 1]
        real = heights >= min_h
        if not real.any():
            return np.zeros((0, 4))
        h_typ = _weighted_median(heights[real], (boxes[real, 2] - boxes[real, 0]))

        # Pieces much taller than a line are usually two lines joined by touching ink: split them by the vertical
        # clusters of their components.
        tall = np.flatnonzero(heights > 1.8 * h_typ)
        if len(tall):
            parts, keep = [], np.ones(len(boxes), dtype=bool)
            for i in tall:
                split = _split_tall(ink, labels, i + 1, boxes[i], h_typ, min_h)
                if split is not None:
                    keep[i] = False
                    parts.extend(split)
                elif _ink_fill(ink, labels, i + 1, boxes[i]) < 0.12:
                    keep[i] = False  # frames, boxes and drawings: too little ink for text this size
            if parts:
                boxes = np.concatenate([boxes[keep], np.asarray(parts, dtype=np.float64)])
            else:
                boxes = boxes[keep]

        # dashed or dotted rules and underscores: long runs much lower than a line
        heights, widths = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
        boxes = boxes[~((heights <= 0.35 * h_typ) & (widths >= 3.0 * h_typ))]
        boxes = _merge_pieces(boxes, self.gap_ratio)
        boxes = _attach_small(boxes, self.gap_ratio, h_typ)
        heights = boxes[:, 3] - boxes[:, 1]
        widths = boxes[:, 2] - boxes[:, 0]
        keep = (heights >= min_h) & (widths >= 0.5 * min_h)
        # lone specks and marks: much lower than the page's lines and not long enough to be small print
        keep &= ((heights >= 0.5 * h_typ) | (widths >= 2.0 * h_typ)) & (heights >= 0.35 * h_typ)
        return boxes[keep]


# ------------------------------------------------------------------------------------------------ helpers


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _estimate_skew(cx: np.ndarray, cy: np.ndarray, weights: np.ndarray, heights: np.ndarray, hc: float,
                   max_skew: float) -> float:
    """Skew angle in degrees (positive: lines run down to the right); 0.0 when the page is straight.

    Coarse: the angle maximising the sharpness of the profile of component centres projected across the lines.
    Fine: in that frame, centres are grouped into line segments (split at column gaps) and a straight line is
    fitted to the centres of each segment's commonest component height (so that Chinese characters and Latin
    x-height letters, whose centres sit at different heights, do not tilt the fit); the weighted median of the
    segments' slopes corrects the coarse angle.
    """
    bin_size = max(1.0, hc / 4.0)
    span = max(float(cx.max() - cx.min()), 1.0)
    step = min(1.0, max(0.05, math.degrees(math.atan(bin_size / span))))
    weights = weights.astype(np.float64)

    def score(angle: float) -> float:
        a = math.radians(angle)
        yp = cy * math.cos(a) - cx * math.sin(a)
        idx = ((yp - yp.min()) / bin_size).astype(np.int64)
        s = np.bincount(idx, weights=weights)
        return float(np.dot(s, s))

    coarse = np.arange(-max_skew, max_skew + 1e-9, step)
    coarse = np.append(coarse, 0.0)
    scores = [score(a) for a in coarse]
    best = float(coarse[int(np.argmax(scores))])
    fine = np.arange(best - step, best + step + 1e-9, step / 5.0)
    best = float(fine[int(np.argmax([score(a) for a in fine]))])
    best = _refine_skew(cx, cy, weights, heights, hc, best)
    return 0.0 if abs(best) < 0.15 else best


def _refine_skew(cx: np.ndarray, cy: np.ndarray, weights: np.ndarray, heights: np.ndarray, hc: float,
                 angle: float, max_segments: int = 24) -> float:
    a = math.radians(angle)
    xp = cx * math.cos(a) + cy * math.sin(a)
    yp = cy * math.cos(a) - cx * math.sin(a)
    order = np.argsort(yp, kind="stable")
    breaks = np.flatnonzero(np.diff(yp[order]) > 0.35 * hc) + 1
    segments = []
    for band in np.split(order, breaks):
        if len(band) < 6:
            continue
        band = band[np.argsort(xp[band], kind="stable")]
        for seg in np.split(band, np.flatnonzero(np.diff(xp[band]) > 2.0 * hc) + 1):
            extent = float(xp[seg[-1]] - xp[seg[0]]) if len(seg) else 0.0
            if len(seg) >= 6 and extent >= 6.0 * hc:
                segments.append((extent * math.sqrt(len(seg)), seg))
    segments.sort(key=lambda item: -item[0])
    slopes, strengths = [], []
    for _, seg in segments[:max_segments]:  # the longest lines say enough
        hs = heights[seg]
        mode = _height_mode(hs)
        seg = seg[np.abs(hs - mode) <= max(1.5, 0.12 * mode)]
        if len(seg) < 6:
            continue
        x, y, w = xp[seg], yp[seg], weights[seg]
        extent = float(x.max() - x.min())
        if extent < 6.0 * hc:
            continue
        slope = None
        for _ in range(2):  # fit, drop outliers (punctuation, quotes), refit
            sw = w.sum()
            xm, ym = (x * w).sum() / sw, (y * w).sum() / sw
            dx, dy = x - xm, y - ym
            var = (w * dx * dx).sum()
            if var <= 0:
                break
            slope = (w * dx * dy).sum() / var
            resid = np.abs(dy - slope * dx)
            inl = resid <= max(2.0, 2.5 * float(np.median(resid)))
            if inl.all() or inl.sum() < 6:
                break
            x, y, w = x[inl], y[inl], w[inl]
        if slope is not None:
            slopes.append(math.degrees(math.atan(slope)))
            strengths.append(extent * math.sqrt(len(x)))
    if not slopes:  # no line long enough to measure: better straight than a guess
        return 0.0
    return angle + _weighted_median(np.asarray(slopes), np.asarray(strengths))


def _height_mode(heights: np.ndarray) -> float:
    """The most common height, allowing +-12% (the centre of the densest such window)."""
    hs = np.sort(heights)
    hi = np.searchsorted(hs, hs * 1.24 + 1.0, side="right")
    best = int(np.argmax(hi - np.arange(len(hs))))
    return float(np.median(hs[best:hi[best]]))


def _ink_fill(ink: np.ndarray, labels: np.ndarray, label: int, box: np.ndarray) -> float:
    x0, y0, x1, y1 = (int(v) for v in box)
    inside = labels[y0:y1, x0:x1] == label
    return float(np.count_nonzero(inside & (ink[y0:y1, x0:x1] > 0))) / max(1, (x1 - x0) * (y1 - y0))


def _split_tall(ink: np.ndarray, labels: np.ndarray, label: int, box: np.ndarray, h_typ: float, min_h: float):
    """Split one smeared piece into lines by the vertical clusters of its line-sized components; None to keep it.

    A piece whose ink is mostly in components taller than a line is big text (or a drawing) and stays whole.
    Components much taller than a line (ink touching across lines, brackets, ticks) do not form clusters: each
    part gets the slice of a narrow one that lies in its band; wide ones (stamps, arcs) are left out.
    """
    x0, y0, x1, y1 = (int(v) for v in box)
    mask = (labels[y0:y1, x0:x1] == label).astype(np.uint8) & (ink[y0:y1, x0:x1] > 0).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_32S)
    if n <= 2:
        return None
    st = stats[1:].astype(np.float64)
    cx0, cy0, cw, ch = st[:, 0], st[:, 1], st[:, 2], st[:, 3]
    cy1 = cy0 + ch
    centers = cy0 + ch / 2.0
    sized = ch >= max(min_h, 0.3 * h_typ)
    line_sized = sized & (ch <= 1.4 * h_typ)
    if cw[line_sized].sum() < 0.5 * cw[sized].sum():
        return None
    seeds = np.flatnonzero(line_sized)
    if len(seeds) < 2:
        return None
    order = seeds[np.argsort(centers[seeds])]
    cuts = np.flatnonzero(np.diff(centers[order]) > 0.45 * h_typ)
    if not len(cuts):
        return None
    groups = np.split(order, cuts + 1)
    # a cluster must hold a line's worth of ink; thinner ones (stray marks) join their neighbours
    groups = [g for g in groups if cw[g].sum() >= 0.8 * h_typ]
    if len(groups) < 2:
        return None
    height = float(y1 - y0)
    bounds = [0.0] + [(centers[a[-1]] + centers[b[0]]) / 2.0 for a, b in zip(groups, groups[1:])] + [height]
    bridge = ch > 1.4 * h_typ
    narrow = cw <= 2.0 * h_typ
    home = np.searchsorted(np.asarray(bounds[1:-1]), centers)  # the band each centre falls in
    parts = []
    for c in range(len(bounds) - 1):
        b0, b1 = bounds[c], bounds[c + 1]
        overlap = np.minimum(cy1, b1) - np.maximum(cy0, b0)
        members = (~bridge & (home == c)) | (bridge & narrow & (overlap >= 0.25 * h_typ))
        if not members.any():
            continue
        top = np.where(bridge, np.maximum(cy0, b0), cy0)[members].min()
        bottom = np.where(bridge, np.minimum(cy1, b1), cy1)[members].max()
        parts.append((x0 + cx0[members].min(), y0 + top, x0 + (cx0[members] + cw[members]).max(), y0 + bottom))
    if len(parts) < 2:
        return None
    return parts


def _union_find(n: int, pairs_i: np.ndarray, pairs_j: np.ndarray) -> np.ndarray:
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(pairs_i.tolist(), pairs_j.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.asarray([find(a) for a in range(n)], dtype=np.int64)


def _group_boxes(boxes: np.ndarray, roots: np.ndarray) -> np.ndarray:
    _, inv = np.unique(roots, return_inverse=True)
    m = inv.max() + 1
    out = np.empty((m, 4))
    out[:, 0] = np.full(m, np.inf)
    out[:, 1] = np.full(m, np.inf)
    out[:, 2] = np.full(m, -np.inf)
    out[:, 3] = np.full(m, -np.inf)
    np.minimum.at(out[:, 0], inv, boxes[:, 0])
    np.minimum.at(out[:, 1], inv, boxes[:, 1])
    np.maximum.at(out[:, 2], inv, boxes[:, 2])
    np.maximum.at(out[:, 3], inv, boxes[:, 3])
    return out


def _candidate_pairs(boxes: np.ndarray, reach: np.ndarray):
    """All pairs (i, j), i != j, whose vertical centres are within reach[i] of each other (sorted-window search)."""
    yc = (boxes[:, 1] + boxes[:, 3]) / 2.0
    order = np.argsort(yc, kind="stable")
    ys = yc[order]
    lo = np.searchsorted(ys, yc - reach, side="left")
    hi = np.searchsorted(ys, yc + reach, side="right")
    counts = hi - lo
    total = int(counts.sum())
    ii = np.repeat(np.arange(len(boxes)), counts)
    starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    jj = order[np.arange(total) + starts]
    keep = ii != jj
    return ii[keep], jj[keep]


def _merge_pieces(boxes: np.ndarray, gap_ratio: float) -> np.ndarray:
    """Join pieces of one line: vertical overlap of at least half of either height, horizontal gap below gap_ratio
    x the taller one's height."""
    if len(boxes) < 2:
        return boxes
    h = boxes[:, 3] - boxes[:, 1]
    ii, jj = _candidate_pairs(boxes, 1.25 * h)
    if not len(ii):
        return boxes
    hmax = np.maximum(h[ii], h[jj])
    overlap = np.minimum(boxes[ii, 3], boxes[jj, 3]) - np.maximum(boxes[ii, 1], boxes[jj, 1])
    gap = np.maximum(boxes[jj, 0] - boxes[ii, 2], boxes[ii, 0] - boxes[jj, 2])
    # overlap measured against both heights: a piece spanning two lines (a tick, a bracket, touching ink) overlaps
    # each of them by less than half its own height, so it cannot chain them together
    ok = (overlap >= 0.5 * hmax) & (gap <= gap_ratio * hmax)
    if not ok.any():
        return boxes
    return _group_boxes(boxes, _union_find(len(boxes), ii[ok], jj[ok]))


def _attach_small(boxes: np.ndarray, gap_ratio: float, h_typ: float) -> np.ndarray:
    """Attach pieces much lower than a neighbouring line (punctuation, i-dots, accents, strokes of 二 or 心)
    lying within that line's band to it."""
    if len(boxes) < 2:
        return boxes
    h = boxes[:, 3] - boxes[:, 1]
    # candidates: line i (big) and piece j (small) whose centre lies within one line height of i's centre
    line, small = _candidate_pairs(boxes, h + 1.0)
    if not len(line):
        return boxes
    w = boxes[:, 2] - boxes[:, 0]
    # narrow pieces (dots, commas, accents), wider ones lying within the line's extent or of some height (strokes
    # of 二 and 三 joined across characters); not thin dashed or dotted rules running past it
    inside = np.minimum(boxes[small, 2], boxes[line, 2]) - np.maximum(boxes[small, 0], boxes[line, 0])
    ok = (h[small] < 0.6 * h[line]) & (h[small] < 0.6 * h_typ) & (h[line] <= 3.0 * h_typ)
    ok &= (w[small] <= 1.5 * h[line]) | (inside >= 0.8 * w[small]) | (h[small] >= 0.25 * h[line])
    band0 = boxes[line, 1] - 0.5 * h[line]
    band1 = boxes[line, 3] + 0.5 * h[line]
    ok &= (boxes[small, 1] >= band0) & (boxes[small, 3] <= band1)
    gap = np.maximum(boxes[line, 0] - boxes[small, 2], boxes[small, 0] - boxes[line, 2])
    ok &= gap <= gap_ratio * h[line]
    if not ok.any():
        return boxes
    small, line, gap = small[ok], line[ok], gap[ok]
    # each small piece joins its best line: nearest vertically (centre to centre), then horizontally
    dy = np.abs((boxes[small, 1] + boxes[small, 3]) - (boxes[line, 1] + boxes[line, 3])) / 2.0
    cost = dy / h[line] + 0.1 * np.maximum(gap, 0) / h[line]
    order = np.lexsort((cost, small))
    first = np.ones(len(order), dtype=bool)
    first[1:] = small[order][1:] != small[order][:-1]
    small, line = small[order][first], line[order][first]
    return _group_boxes(boxes, _union_find(len(boxes), small, line))


def _xy_cut_order(boxes: np.ndarray, min_col_gap: float, min_col_width: float) -> np.ndarray:
    """Reading order by a recursive XY-cut.

    A region splits at its vertical white gaps wider than `min_col_gap` (columns, left to right) when every part
    holds text lines (median width at least `min_col_width`); short items side by side (form fields, table cells,
    receipt amounts) are not columns and are read across. Otherwise the region splits at its widest horizontal
    gap (top part first). What cannot be cut is read row by row, left to right.
    """
    out: list[int] = []
    stack = [np.arange(len(boxes))]
    while stack:
        idx = stack.pop()
        if len(idx) == 1:
            out.append(int(idx[0]))
            continue
        b = boxes[idx]
        groups = _split_at_gaps(b[:, 0], b[:, 2], min_col_gap, widest_only=False)
        if groups is not None and min(float(np.median(b[g, 2] - b[g, 0])) for g in groups) < min_col_width:
            groups = None
        if groups is None:
            groups = _split_at_gaps(b[:, 1], b[:, 3], 0.0, widest_only=True)
        if groups is None:
            out.extend(idx[_rows_order(b)].tolist())
            continue
        stack.extend(idx[g] for g in reversed(groups))
    return np.asarray(out, dtype=np.int64)


def _rows_order(b: np.ndarray) -> list[int]:
    """Boxes grouped into rows (top to bottom) by vertical overlap, each row left to right."""
    centers = (b[:, 1] + b[:, 3]) / 2.0
    rows: list[list[int]] = []
    for i in np.argsort(centers, kind="stable").tolist():
        if rows:
            first = rows[-1][0]
            overlap = min(b[i, 3], b[first, 3]) - max(b[i, 1], b[first, 1])
            if overlap >= 0.5 * min(b[i, 3] - b[i, 1], b[first, 3] - b[first, 1]):
                rows[-1].append(i)
                continue
        rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda j: b[j, 0])]


def _split_at_gaps(start: np.ndarray, end: np.ndarray, min_gap: float, widest_only: bool):
    """Index groups of intervals separated by gaps wider than min_gap along one axis, in increasing order."""
    order = np.argsort(start, kind="stable")
    s, e = start[order], end[order]
    reach = np.maximum.accumulate(e)
    gaps = s[1:] - reach[:-1]
    cut = gaps > min_gap
    if not cut.any():
        return None
    if widest_only:
        widest = gaps.max()
        first = int(np.flatnonzero(gaps >= widest - 1e-9)[0])
        cut = np.zeros_like(cut)
        cut[first] = True
    positions = np.flatnonzero(cut) + 1
    return np.split(order, positions)


# ------------------------------------------------------------------------------------------------ db


SHORT_ASPECT = 1.5  # db_boxes: a box no longer than this times its height holds one character or a few
SNAP_MIN_LINES = 5  # db_boxes: lines that set the page's angle for its short boxes (fewer: a photo, left as found)
UNSURE_SIZE = (0.3, 3.0)  # DBDetector: an unsure box's thickness, in the page's median sure box thickness


def db_boxes(prob: np.ndarray, thresh: float = 0.3, box_thresh: float = 0.6, unclip_ratio: float = 1.5,
             min_size: float = 3.0, max_candidates: int = 1000,
             unclip_ratio_short: float | None = None, unsure_thresh: float | None = None
             ) -> list[tuple[np.ndarray, float]]:
    """DB post-processing: a probability map [H, W] -> (quad 4 x 2 clockwise from top-left, score) pairs.

    Pixels above `thresh` form the shrunk text kernels; each connected region's minimum-area rectangle is scored by
    the mean probability over the region (kept when >= `box_thresh`), grown back by the DB offset
    D = area x unclip_ratio / perimeter (shapely buffer with mitred corners) and boxed again; a grown box no longer
    than SHORT_ASPECT times its height (a single character, a short number) is grown from its kernel again by
    `unclip_ratio_short` when given, from its region's bounding rectangle at the page's line angle (the
    length-weighted median angle of the boxes at least LINE_ASPECT times as long as high) when there are
    SNAP_MIN_LINES such lines: a narrow region's minimum-area rectangle may lie at any angle (a slanted "1" boxed as
    a diamond, cut out and read turned). Boxes whose shorter side is below `min_size` (before growing) or
    `min_size + 2` (after) are dropped; at most `max_candidates` regions, the largest first, are considered.
    With `unsure_thresh`, regions scored from it up to `box_thresh` are boxed too (at most `max_candidates` more),
    without a say in the line angle: the boxes scored `box_thresh` or more are the same with them or without.
    """
    bitmap = (prob > thresh).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bitmap, connectivity=8, ltype=cv2.CV_32S)
    if n <= 1:
        return []
    scores = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=n) / np.maximum(stats[:, 4], 1)
    big_enough = (np.maximum(stats[:, 2], stats[:, 3]) >= min_size) & (np.arange(n) > 0)
    groups = [scores >= box_thresh]
    if unsure_thresh is not None and unsure_thresh < box_thresh:
        groups.append((scores >= unsure_thresh) & (scores < box_thresh))
    candidates = np.concatenate([c[np.argsort(-stats[c, 4], kind="stable")][:max_candidates]
                                 for c in (np.flatnonzero(g & big_enough) for g in groups)])
    h, w = prob.shape
    out = []
    short_outlines: dict[int, np.ndarray] = {}  # index in `out` -> the short box's region outline
    for i in sorted(candidates.tolist()):
        x, y, bw, bh = stats[i, :4]
        region = (labels[y:y + bh, x:x + bw] == i).astype(np.uint8)
        outline = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
        points = (np.concatenate(outline).reshape(-1, 2) + (x, y)).astype(np.float32)
        rect = cv2.minAreaRect(points)
        # pixel centres span one pixel less than the region they cover
        rect = (rect[0], (rect[1][0] + 1, rect[1][1] + 1), rect[2])
        if min(rect[1]) < min_size:
            continue
        kernel = Polygon(cv2.boxPoints(rect))
        grown = kernel.buffer(kernel.area * unclip_ratio / kernel.length, join_style="mitre")
        if grown.is_empty or grown.geom_type != "Polygon":
            continue
        rect = cv2.minAreaRect(np.asarray(grown.exterior.coords, np.float32))
        if unclip_ratio_short is not None and max(rect[1]) <= SHORT_ASPECT * min(rect[1]):
            grown = kernel.buffer(kernel.area * unclip_ratio_short / kernel.length, join_style="mitre")
            rect = cv2.minAreaRect(np.asarray(grown.exterior.coords, np.float32))
            short_outlines[len(out)] = points
        if min(rect[1]) < min_size + 2:
            short_outlines.pop(len(out), None)
            continue
        out.append((cv2.boxPoints(rect), float(scores[i])))
    if not out:
        return []
    angle = _line_angle([q for q, score in out if score >= box_thresh]) if short_outlines else None
    if angle is not None:
        for k, points in short_outlines.items():
            kernel = _rectangle_at(points, angle)
            grown = kernel.buffer(kernel.area * unclip_ratio_short / kernel.length, join_style="mitre")
            out[k] = (cv2.boxPoints(cv2.minAreaRect(np.asarray(grown.exterior.coords, np.float32))), out[k][1])
    quads = _order_quads(np.stack([q for q, _ in out]))
    quads[..., 0] = np.clip(quads[..., 0], 0, w)
    quads[..., 1] = np.clip(quads[..., 1], 0, h)
    return [(q, score) for q, (_, score) in zip(quads, out)]


def _line_angle(quads: list[np.ndarray]) -> float | None:
    """The page's line angle in radians (-pi/2 to pi/2, image axes): the median, weighted by length, of the long
    sides of the boxes at least LINE_ASPECT times as long as high; None with fewer than SNAP_MIN_LINES of them."""
    angles, lengths = [], []
    for q in quads:
        a, b = q[1] - q[0], q[2] - q[1]
        long, short = (a, b) if np.hypot(*a) >= np.hypot(*b) else (b, a)
        if np.hypot(*long) >= LINE_ASPECT * np.hypot(*short):
            angles.append((math.atan2(long[1], long[0]) + math.pi / 2) % math.pi - math.pi / 2)
            lengths.append(float(np.hypot(*long)))
    if len(angles) < SNAP_MIN_LINES:
        return None
    return _weighted_median(np.asarray(angles), np.asarray(lengths))


def _rectangle_at(points: np.ndarray, angle: float) -> Polygon:
    """The smallest rectangle with sides at `angle` (radians) holding the pixels whose centres are `points`."""
    c, s = math.cos(angle), math.sin(angle)
    along = np.array([[c, s], [-s, c]])  # image -> the rectangle's axes
    p = points.astype(np.float64) @ along.T
    (x0, y0), (x1, y1) = p.min(axis=0) - 0.5, p.max(axis=0) + 0.5
    return Polygon(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) @ along)


def _order_quads(quads: np.ndarray) -> np.ndarray:
    """`order_quad` for many rectangles at once (n x 4 x 2): clockwise on screen, starting at the corner whose
    outgoing edge points most nearly to the right."""
    center = quads.mean(axis=1, keepdims=True)
    angles = np.arctan2(quads[..., 1] - center[..., 1], quads[..., 0] - center[..., 0])
    quads = np.take_along_axis(quads, np.argsort(angles, axis=1, kind="stable")[..., None], axis=1)
    edges = np.roll(quads, -1, axis=1) - quads
    rightness = edges[..., 0] / np.maximum(np.hypot(edges[..., 0], edges[..., 1]), 1e-12)
    start = np.argmax(rightness, axis=1)
    index = (np.arange(4)[None, :] + start[:, None]) % 4
    return np.take_along_axis(quads, index[..., None], axis=1).astype(np.float32)


def _of_text_size(quads: np.ndarray, unsure: np.ndarray) -> np.ndarray:
    """Which boxes to keep: the sure ones, and the unsure ones as thick as characters of the page's text (their
    shorter side UNSURE_SIZE times the sure boxes' median: no specks, logos or photos)."""
    thickness = np.minimum(np.linalg.norm(quads[:, 1] - quads[:, 0], axis=1),
                           np.linalg.norm(quads[:, 3] - quads[:, 0], axis=1))
    if unsure.all():
        return ~unsure
    lo, hi = np.array(UNSURE_SIZE) * np.median(thickness[~unsure])
    return ~unsure | ((thickness >= lo) & (thickness <= hi))


def _reading_order(quads: np.ndarray, unsure: np.ndarray) -> list[int]:
    """Reading order (`_xy_cut_order`, line height the sure boxes' median; at least one box is sure) of the sure
    boxes among themselves, each unsure box placed right after the sure box it follows when all are ordered together
    (so the sure boxes' order does not depend on the unsure ones)."""
    bounds = np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1)
    ruler = bounds[~unsure]
    line_h = float(np.median(np.minimum(ruler[:, 3] - ruler[:, 1], ruler[:, 2] - ruler[:, 0])))
    gap, wide = max(1.0, 0.5 * line_h), 5.0 * line_h
    sure = np.flatnonzero(~unsure)
    after: dict[int, list[int]] = {-1: []}  # sure box (-1: the page's start) -> the unsure boxes after it
    last = -1
    for i in _xy_cut_order(bounds, gap, wide):
        if unsure[i]:
            after[last].append(i)
        else:
            last = i
            after[i] = []
    order = list(after[-1])
    for i in sure[_xy_cut_order(bounds[sure], gap, wide)]:
        order += [i] + after[i]
    return order


@register("detect", "db")
class DBDetector:
    """Learned text-line detection (differentiable binarization, models/dbnet.py) run by onnxruntime.

    The page is resized so that its longer side is at most `max_side` (and its shorter side at least `min_side`),
    each side rounded to a multiple of 32; the network's probability map is turned into boxes by `db_boxes`
    (`thresh`, `box_thresh`, `unclip_ratio`, `unclip_ratio_short`, `min_size` in pixels of the resized page), mapped
    back to the original image and put in reading order (columns left to right, rows top to bottom). Small text (screenshots): when the
    median box found is under `text_height` pixels high in the network's input, the page is detected again enlarged
    so that it reaches `text_height` (never past `max_side`; only when that enlarges it 1.2 times or more); 0 turns
    this off. `split_gap`: a box is cut at each inkless gap at least this many times its ink's height wide (the
    fields of a receipt's row set well apart, `pipeline.geometry.split_fields`); 0 turns this off. `trim`: the two
    ends of a short field's box are moved in to the ink it holds, where the grown kernel reaches past its first and
    last characters (`pipeline.geometry.trim_to_ink`; lines keep their ends). `unsure_thresh`: regions scored at
    least this but under `box_thresh` are also proposed, as unsure boxes (`propose`), which the Pipeline keeps only
    when they read clearly (a receipt's lone quantity "1" scores about 0.5); at `box_thresh` or above, none are.
    """

    def __init__(self, weights: str = "models/weights/db_lite.onnx", max_side: int = 1280, min_side: int = 256,
                 thresh: float = 0.3, box_thresh: float = 0.6, unclip_ratio: float = 1.5,
                 unclip_ratio_short: float = 1.0, min_size: float = 3.0, text_height: float = 24.0,
                 split_gap: float = 1.2, trim: bool = True, unsure_thresh: float = 0.4, threads: int = 2) -> None:
        for name, value, lo, hi in (("thresh", thresh, 0.0, 1.0), ("box_thresh", box_thresh, 0.0, 1.0),
                                    ("unsure_thresh", unsure_thresh, 0.0, 1.0),
                                    ("unclip_ratio", unclip_ratio, 0.0, 10.0),
                                    ("unclip_ratio_short", unclip_ratio_short, 0.0, 10.0),
                                    ("min_size", min_size, 0.0, 1000.0), ("text_height", text_height, 0.0, 1000.0),
                                    ("split_gap", split_gap, 0.0, 100.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ValueError(f"{name}: {value!r} is out of range; allowed [{lo}, {hi}]")
        for name, value in (("max_side", max_side), ("min_side", min_side)):
            if isinstance(value, bool) or not isinstance(value, int) or not 32 <= value <= 10_000:
                raise ValueError(f"{name}: {value!r} is out of range; allowed an integer in [32, 10000]")
        if min_side > max_side:
            raise ValueError(f"min_side: {min_side} is larger than max_side ({max_side})")
        if not isinstance(trim, bool):
            raise ValueError(f"trim: expected true or false, got {trim!r}")
        path = resolve_path(weights, "detect.weights")
        self.max_side, self.min_side = max_side, min_side
        self.thresh, self.box_thresh, self.unclip_ratio, self.min_size = thresh, box_thresh, unclip_ratio, min_size
        self.unclip_ratio_short = unclip_ratio_short
        self.text_height, self.split_gap, self.trim = float(text_height), float(split_gap), trim
        self.unsure_thresh = float(unsure_thresh)
        self.session = onnx_session(path, threads)
        self.input = self.session.get_inputs()[0].name

    def _scale(self, h: int, w: int) -> float:
        """The page's resize factor: down to max_side, up towards min_side."""
        scale = min(1.0, self.max_side / max(h, w))
        if min(h, w) * scale < self.min_side:
            scale = min(self.min_side / min(h, w), self.max_side / max(h, w))
        return scale

    @staticmethod
    def _size(h: int, w: int, scale: float) -> tuple[int, int]:
        """Network input size (h, w) for a resize factor: multiples of 32."""
        return (max(32, int(round(h * scale / 32)) * 32), max(32, int(round(w * scale / 32)) * 32))

    def _boxes(self, bgr: np.ndarray, scale: float) -> tuple[list[tuple[np.ndarray, float]], int, int]:
        """(db_boxes of the page resized by `scale`, network input h, w)."""
        H, W = bgr.shape[:2]
        h, w = self._size(H, W, scale)
        x = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA if h < H else cv2.INTER_LINEAR)
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        prob = self.session.run(None, {self.input: x})[0][0, 0]
        return db_boxes(prob, self.thresh, self.box_thresh, self.unclip_ratio, self.min_size,
                        unclip_ratio_short=self.unclip_ratio_short, unsure_thresh=self.unsure_thresh), h, w

    def __call__(self, image: np.ndarray) -> list[Polygon]:
        boxes, unsure = self.propose(image)
        return [box for box, maybe in zip(boxes, unsure) if not maybe]

    def propose(self, image: np.ndarray) -> tuple[list[Polygon], list[bool]]:
        """The page's boxes in reading order, the unsure ones (scored from `unsure_thresh` to `box_thresh`) among
        them, and for each box whether it is unsure."""
        gray = _check_image(image)  # validates the input; colour is kept when there is some
        H, W = gray.shape
        if H < 4 or W < 4:
            return [], []
        if image.ndim == 3 and image.shape[2] >= 3 and image.dtype == np.uint8:
            bgr = image[..., :3]
        else:
            bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        scale = self._scale(H, W)
        found, h, w = self._boxes(bgr, scale)
        sure = [q for q, score in found if score >= self.box_thresh]
        if sure and self.text_height:
            text = float(np.median([min(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[3] - q[0])) for q in sure]))
            larger = min(scale * self.text_height / max(text, 1.0), self.max_side / max(H, W))
            if text < self.text_height and larger > 1.2 * scale:
                found, h, w = self._boxes(bgr, larger)
        if not found:
            return [], []
        pieces = []  # (quad in the original image, unsure)
        for q, score in found:
            quad = q.astype(np.float64) * (W / w, H / h)
            quad = np.clip(quad, 0, (W, H))
            for piece in split_fields(gray, quad, self.split_gap) if self.split_gap else [quad]:
                pieces.append((trim_to_ink(gray, piece) if self.trim else piece, score < self.box_thresh))
        quads = np.stack([q for q, _ in pieces])
        unsure = np.array([maybe for _, maybe in pieces])
        keep = _of_text_size(quads, unsure)
        quads, unsure = quads[keep], unsure[keep]
        if not len(quads):
            return [], []
        order = _reading_order(quads, unsure)
        return [Polygon(np.round(quads[i], 2).tolist()) for i in order], [bool(unsure[i]) for i in order]
