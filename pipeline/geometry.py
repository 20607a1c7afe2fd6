"""Polygon helpers: ordering quadrilaterals, warping a text-line polygon to an upright strip and trimming its ends to
its ink; turning pages by quarter turns (and their points back) and re-laying a vertical column as a row."""
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


TRIM_PAD = 0.2  # trim_to_ink: line heights of background kept beyond the ink at each end
TRIM_INK = 0.02  # trim_to_ink: a pixel column holds ink when this share of its pixels (at least one) is ink
TRIM_MAX_INK = 0.4  # trim_to_ink: a strip with more ink than this is not split into text and background cleanly
TRIM_MAX_ASPECT = 4.0  # trim_to_ink: longer boxes (lines of text) keep their ends, which the DB offset fits well


def _strip_ink(image: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """A line quad's ink, cut out as an upright strip, and the strip's pixel columns holding ink (TRIM_INK of their
    pixels); None when no column does or the ink is not clearly a minority of the strip's pixels (TRIM_MAX_INK: text
    over a background of two tones, which Otsu's threshold splits between them)."""
    ink = _ink(rectify(image, quad))
    columns = np.flatnonzero(ink.sum(axis=0) >= max(1.0, TRIM_INK * ink.shape[0]))
    if not len(columns) or ink.mean() > TRIM_MAX_INK:
        return None
    return ink, columns


def trim_to_ink(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """A short line quad (ordered; a field of a few characters) with its two ends moved in to the ink it holds,
    TRIM_PAD line heights beyond it (a learned detector's box of a short field reaches about a line height past its
    first and last characters). A quad taller than wide or over TRIM_MAX_ASPECT times as wide, one without ink, one
    whose ink is not clearly a minority of its pixels (text over a background of two tones, which Otsu's threshold
    splits between them) or one the trim would not shorten is returned as it is."""
    quad = order_quad(quad)
    width, height = quad_size(quad)
    if width < height or height < 4 or width > TRIM_MAX_ASPECT * height or (found := _strip_ink(image, quad)) is None:
        return quad
    ink, columns = found
    strip_w = ink.shape[1]
    start = max(0.0, columns[0] - TRIM_PAD * height) / strip_w
    end = min(float(strip_w), columns[-1] + 1 + TRIM_PAD * height) / strip_w
    if end - start >= 1.0 - 1.0 / strip_w:
        return quad
    tl, tr, br, bl = quad
    return np.array([tl + (tr - tl) * start, tl + (tr - tl) * end, bl + (br - bl) * end, bl + (br - bl) * start])


SPLIT_MIN_ASPECT = 2.0  # split_fields: shorter boxes are left whole
SPLIT_MIN_PIECE = 0.5  # split_fields: each piece holds ink at least this many ink heights long
SPLIT_MARK = 0.35  # split_fields: no cut right after ink at most this many ink heights wide (：, a comma, ), a 1)


def split_fields(image: np.ndarray, quad: np.ndarray, gap: float) -> list[np.ndarray]:
    """A line quad (ordered) cut in the middle of each run of inkless pixel columns at least `gap` times its ink's
    height wide: the fields of a receipt's row (a label and its value, the columns of an item line) set well apart,
    which the detector boxes as one line. No cut is made right after a narrow piece of ink (SPLIT_MARK: a colon, a
    comma or a bracket; full-width ones, ：，）, leave most of their em blank after the ink), nor where a piece on
    either side would hold ink shorter than SPLIT_MIN_PIECE ink heights (a stray mark is not a field). A quad shorter
    than SPLIT_MIN_ASPECT times its height, one without ink or one whose ink is not clearly a minority of its pixels
    (as `trim_to_ink`) is returned whole, in a list of one."""
    quad = order_quad(quad)
    width, height = quad_size(quad)
    if width < SPLIT_MIN_ASPECT * height or height < 4 or (found := _strip_ink(image, quad)) is None:
        return [quad]
    ink, columns = found
    if len(columns) < 2:
        return [quad]
    per_row = ink.sum(axis=1)
    rows = np.flatnonzero(per_row >= max(1.0, 0.02 * per_row.max()))
    ink_h = rows[-1] + 1 - rows[0]
    breaks = np.flatnonzero(np.diff(columns) > 1)  # runs of ink columns: [starts[k], ends[k])
    starts, ends = np.r_[columns[0], columns[breaks + 1]], np.r_[columns[breaks] + 1, columns[-1] + 1]
    gaps = [(ends[k], starts[k + 1]) for k in range(len(breaks))
            if starts[k + 1] - ends[k] >= gap * ink_h and ends[k] - starts[k] > SPLIT_MARK * ink_h]
    cuts, start = [], starts[0]
    for k, (a, b) in enumerate(gaps):
        end = gaps[k + 1][0] if k + 1 < len(gaps) else ends[-1]
        if a - start >= SPLIT_MIN_PIECE * ink_h and end - b >= SPLIT_MIN_PIECE * ink_h:
            cuts.append((a + b) / 2 / ink.shape[1])
            start = b
    if not cuts:
        return [quad]
    tl, tr, br, bl = quad
    ends_at = [0.0, *cuts, 1.0]
    return [np.array([tl + (tr - tl) * s, tl + (tr - tl) * e, bl + (br - bl) * e, bl + (br - bl) * s])
            for s, e in zip(ends_at, ends_at[1:])]


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


def turn(image: np.ndarray, angle: int) -> np.ndarray:
    """The image turned clockwise by a multiple of 90 degrees."""
    return np.ascontiguousarray(np.rot90(image, k=-(angle // 90))) if angle % 360 else image


def unturn_points(points: np.ndarray, angle: int, width: int, height: int) -> np.ndarray:
    """Points on an image turned clockwise by `angle` (by `turn`) -> the same points on the original image of
    size width x height (pixel-edge coordinates: the turned image's corner (0, 0) maps to an original corner)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = p[:, 0], p[:, 1]
    angle %= 360
    if angle == 90:  # original (x, y) -> turned (height - y, x)
        return np.stack([y, height - x], axis=1)
    if angle == 180:
        return np.stack([width - x, height - y], axis=1)
    if angle == 270:  # original (x, y) -> turned (y, width - x)
        return np.stack([width - y, x], axis=1)
    return p


LINE_ASPECT = 3.0  # a line of text is at least this many times as long as high (a page of lines: its median)


def _aspects(polygons: list[Polygon]) -> np.ndarray:
    """Width / height of each polygon's bounding box."""
    x0, y0, x1, y1 = np.array([p.bounds for p in polygons]).reshape(-1, 4).T
    return (x1 - x0) / np.maximum(y1 - y0, 1e-6)


def median_aspect(polygons: list[Polygon]) -> float:
    """Median width / height of the polygons' bounding boxes (text lines are wide: about 3 or more on a page read
    the right way up, under 2 when the page lies on its side and the detector finds bits of lines)."""
    return float(np.median(_aspects(polygons))) if polygons else 0.0


def count_lines(polygons: list[Polygon]) -> int:
    """How many of the polygons are lines or columns: bounding boxes at least LINE_ASPECT times as long as thick,
    either way."""
    aspects = _aspects(polygons)
    return int(np.count_nonzero((aspects >= LINE_ASPECT) | (aspects <= 1 / LINE_ASPECT)))


COLUMN_RATIO = 1.5  # a readable crop at least this many times taller than wide is a vertical column
MARK_SIZE = 0.3  # relay_column: a cell whose ink is at most this share of the column's width each way is a mark
SHORT_COLUMN = 3.0  # amid a page's lines, a tall crop shorter than this many widths may be a few upright characters
COLUMN_GAP = 1.0  # join_column_pieces: the widest gap, in column widths, between two pieces of one column


Region = tuple[Polygon, float, float, tuple[float, float, float, float]]  # polygon, width, length, bounds


def join_column_pieces(columns: list[Polygon]) -> list[Polygon]:
    """Regions of a page set in vertical columns with the pieces of each column joined into one: a detector splits a
    column where punctuation (set in a corner of its cell) or a space leaves a gap. Two regions are pieces of one
    column (`_one_column`) when the narrower is at least 0.6 times as wide as the other and their minimum-area
    rectangle together is no wider than the wider one plus half the narrower (they share at least half its width,
    along the column's own axis, so that a page photographed aslant keeps its columns apart) and no longer than both
    plus COLUMN_GAP times the wider one's width (columns stacked in tiers are set further apart); they become that
    rectangle."""
    regions = [_region(p) for p in columns]
    i = 0
    while i < len(regions):
        for j in range(len(regions)):
            joined = _one_column(regions[i], regions[j]) if j != i else None
            if joined is not None:
                break
        else:
            i += 1
            continue
        keep, drop = min(i, j), max(i, j)
        regions[keep] = _region(joined)
        del regions[drop]
        i = keep  # the joined column is compared with every other region again
    return [region[0] for region in regions]


def _region(polygon: Polygon) -> Region:
    """A region with the short and long sides of its quadrilateral (`polygon_quad`) and its bounds."""
    w, h = quad_size(polygon_quad(polygon))
    return polygon, min(w, h), max(w, h), polygon.bounds


def _one_column(a: Region, b: Region) -> Polygon | None:
    """Two regions joined into one column (their minimum-area rectangle), or None when they are not pieces of one
    column (see join_column_pieces)."""
    narrow, wide = sorted((a[1], b[1]))
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a[3], b[3]
    reach = COLUMN_GAP * wide
    if narrow < 0.6 * wide or max(ax0, bx0) - min(ax1, bx1) > reach or max(ay0, by0) - min(ay1, by1) > reach:
        return None
    rect = a[0].union(b[0]).minimum_rotated_rectangle
    if rect.geom_type != "Polygon":  # degenerate regions (a point or a segment)
        return None
    both = Polygon(order_quad(rect.exterior.coords[:-1]))
    _, width, length, _ = _region(both)
    if width > wide + 0.5 * narrow or length > a[2] + b[2] + reach:
        return None
    return both


def is_column(crop: np.ndarray) -> bool:
    """Whether a crop turned the right way up is a vertical column (a single character's square crop is not)."""
    return crop.shape[0] >= COLUMN_RATIO * crop.shape[1]


def may_be_upright_characters(column: np.ndarray, amid_lines: bool = False) -> bool:
    """Whether a tall crop may be one or a few characters set upright in a line rather than a column: its ink one
    piece less than 2.5 times the crop's width tall (one tall letter, B in condensed receipt print; a single stroke,
    1, l or I, whose ink is far narrower than the crop; or a few touching characters of a column), or, amid a page's
    lines (`amid_lines`), the crop shorter than SHORT_COLUMN times its width (a lone colon or 0 of a receipt's
    column); only reading it both ways tells which."""
    if amid_lines and column.shape[0] < SHORT_COLUMN * column.shape[1]:
        return True
    cells = _column_cells(_ink(column), split=False)
    return len(cells) == 1 and cells[0][1] - cells[0][0] < 2.5 * column.shape[1]


def _ink(crop: np.ndarray) -> np.ndarray:
    """The crop's ink mask (Otsu; the minority side is ink, so light text on dark works too)."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return binary == 0 if (binary == 0).mean() < 0.5 else binary > 0


def _character_size(ink: np.ndarray) -> float:
    """A column's character size: its ink's width, within 0.6 to 1 times the crop's; the ink's width spans the pixel
    columns holding at least 2% of the inkiest one's ink (stray specks of a noisy background do not widen it)."""
    w = ink.shape[1]
    per_column = ink.sum(0)
    cols = np.flatnonzero(per_column > 0.02 * per_column.max())
    return float(np.clip(cols[-1] + 1 - cols[0] if len(cols) else w, 0.6 * w, w))


def _column_cells(ink: np.ndarray, split: bool = True) -> list[tuple[int, int]]:
    """Row spans (y0, y1) of the characters of a vertical column, from its ink mask [h, w].

    Rows without ink separate pieces; a thin piece touching the top or bottom edge is a neighbour's ink cut by the box
    and is dropped (a 一 clear of the edge is a character); a piece joins the one above while the result is no taller
    than about one character (the ink's width: 二, 旦 and 三 are several pieces), unless it lies much nearer the
    piece below and makes a character with it; then, with `split`, pieces taller than 1.5 characters (touching
    characters, or text on a busy background) are cut into equal parts at the lightest rows near the even cuts."""
    h = ink.shape[0]
    size = _character_size(ink)
    profile = np.convolve(ink.sum(1).astype(np.float64), np.ones(3) / 3, mode="same")
    filled = profile > 0.02 * size
    edges = np.flatnonzero(np.diff(np.r_[0, filled.astype(np.int8), 0]))
    pieces = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
    if len(pieces) > 1 and pieces[-1][1] >= h - 1 and pieces[-1][1] - pieces[-1][0] < 0.2 * size:
        pieces.pop()
    if len(pieces) > 1 and pieces[0][0] <= 1 and pieces[0][1] - pieces[0][0] < 0.2 * size:
        pieces.pop(0)
    if not pieces:
        return [(0, h)]
    cells = [pieces[0]]
    for (y0, y1), after in zip(pieces[1:], pieces[2:] + [None]):
        joins = y1 - cells[-1][0] <= 1.2 * size
        if joins and after and after[0] - y1 < 0.5 * (y0 - cells[-1][1]) and after[1] - y0 <= 1.2 * size:
            joins = False  # much nearer the next piece, with which it makes a character (三 after 一, 六's dot)
        if joins:
            cells[-1] = (cells[-1][0], y1)
        else:
            cells.append((y0, y1))
    if not split:
        return cells
    out = []
    for y0, y1 in cells:
        n = int(round((y1 - y0) / size))
        if n < 2 or (y1 - y0) < 1.5 * size:
            out.append((y0, y1))
            continue
        step, reach = (y1 - y0) / n, int((y1 - y0) / n * 0.3)
        cuts = [y0]
        for k in range(1, n):
            c = int(y0 + k * step)
            lo, hi = max(cuts[-1] + 1, c - reach), min(y1 - 1, c + reach + 1)
            cuts.append(lo + int(np.argmin(profile[lo:hi])) if hi > lo else c)
        out.extend(zip(cuts, cuts[1:] + [y1]))
    return out


SIDEWAYS_WIDTH = 0.82  # relay_sideways: a cell with ink at most this share of the character size wide may be Latin


def _sideways_runs(inks: list[tuple[np.ndarray, np.ndarray]], marks: list[bool], size: float
                   ) -> list[tuple[int, int]]:
    """Cell index ranges [i, j) of a column that may hold Latin letters or digits set sideways (turned clockwise,
    as vertical text sets them): consecutive cells whose ink is at most SIDEWAYS_WIDTH of the character size wide,
    marks among them (the full stop of 12.9) included, each range starting and ending on a letter-sized cell."""
    narrow = [len(cols) > 0 and not mark and cols[-1] + 1 - cols[0] <= SIDEWAYS_WIDTH * size
              for (_, cols), mark in zip(inks, marks)]
    runs, start = [], None
    for k, (is_narrow, mark) in enumerate(zip(narrow + [False], marks + [False])):
        if is_narrow and start is None:
            start = k
        elif start is not None and not is_narrow and not mark:
            end = k
            while not narrow[end - 1]:
                end -= 1
            runs.append((start, end))
            start = None
    return runs


def _relay(crop: np.ndarray, sideways: bool) -> list[np.ndarray]:
    """`relay_column`'s row; with `sideways`, then one row for each run of cells that may be Latin set sideways
    (`_sideways_runs`), that run cut out whole and turned upright (90 degrees counter-clockwise) in its place."""
    ink = _ink(crop)
    cells = _column_cells(ink)
    h, w = ink.shape
    bounds = [0] + [(a[1] + b[0]) // 2 for a, b in zip(cells, cells[1:])] + [h]
    side = max(w, max(b - a for a, b in zip(bounds, bounds[1:])))
    border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
    fill = np.median(border, axis=0)
    margin = int(round(0.12 * side))
    spans = list(zip(bounds, bounds[1:]))
    inks = [(np.flatnonzero(ink[y0:y1].any(1)), np.flatnonzero(ink[y0:y1].any(0))) for y0, y1 in spans]
    marks = [len(rows) > 0 and max(rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]) <= MARK_SIZE * w
             for rows, cols in inks]
    runs = [None] + (_sideways_runs(inks, marks, _character_size(ink)) if sideways else [])

    def placed(image: np.ndarray, top: int) -> np.ndarray:
        piece = np.empty((side, image.shape[1]) + crop.shape[2:], crop.dtype)
        piece[:] = fill
        piece[top : top + image.shape[0]] = image
        return piece

    laid = []  # each cell as relay_column lays it
    for (y0, y1), (rows, cols), mark in zip(spans, inks, marks):
        x0, x1 = (max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin)) if len(cols) else (0, w)
        top = (side - (y1 - y0)) // 2
        if mark and not all(marks):
            y0, y1 = y0 + rows[0], y0 + rows[-1] + 1
            top = max(0, side - margin - (y1 - y0))
        laid.append(placed(crop[y0:y1, x0:x1], top))
    out = []
    for run in runs:
        pieces = laid
        if run:  # Latin set sideways: the ink's columns across the run, turned upright
            i, j = run
            cols = np.concatenate([inks[m][1] for m in range(i, j)])
            x0, x1 = max(0, cols.min() - margin), min(w, cols.max() + 1 + margin)
            upright = np.rot90(crop[spans[i][0] : spans[j - 1][1], x0:x1])
            pieces = laid[:i] + [placed(upright, (side - upright.shape[0]) // 2)] + laid[j:]
        out.append(np.ascontiguousarray(np.hstack(pieces)))
    return out


def relay_column(crop: np.ndarray) -> np.ndarray:
    """A vertical column (characters upright, read top to bottom) laid out as a horizontal line: the column is cut
    into character cells (`_column_cells`) at the middle of the gaps between them, each cell keeps its ink's width
    plus a margin (narrow digits do not leave gaps that read as spaces), is centred vertically on the height of the
    column's width (or the tallest cell), and the cells are put side by side, left to right. A mark (ink within
    MARK_SIZE of the column's width each way: ，。、 set in the top corner of their cells, as columns set them) is
    moved to the foot of the row, where rows set it, unless every cell is a mark (a lone colon)."""
    return _relay(crop, sideways=False)[0]


def relay_sideways(crop: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The column's `relay_column` row, and the column re-laid so once for each run of narrow cells
    (`_sideways_runs`: Latin words and numbers that vertical text sets turned clockwise, "Intel", "12.9"), with that
    run turned upright whole instead of cut into cells (none when the column has no such run), in one pass. Narrow
    hanzi (目, 了) make runs too: the Pipeline reads every row and keeps the likeliest."""
    row, *turned = _relay(crop, sideways=True)
    return row, turned
