"""Synthetic line rendering (needs the `train` extra and the Debian fonts; skipped without them): every kind of text
renders at the model height with visible ink, colours keep enough contrast, plate numbers look registered."""
import random
import re

import numpy as np
import pytest

pytest.importorskip("fontTools")
from models.charset import build_charset  # noqa: E402
from models.orient_synth import render_column, upright_crop  # noqa: E402
from models.synth import CORPORA, LineRenderer, TextSampler, discover_fonts  # noqa: E402


@pytest.fixture(scope="module")
def sampler_renderer():
    if not CORPORA.is_dir():
        pytest.skip(f"no corpora at {CORPORA}")
    fonts = discover_fonts()
    if not any(f.cjk for f in fonts):
        pytest.skip("no CJK fonts installed (see README: Training)")
    return TextSampler(build_charset()), LineRenderer(fonts)


def test_plate_numbers_follow_the_registration_format(sampler_renderer):
    sampler, _ = sampler_renderer
    rng = random.Random(0)
    pattern = re.compile(f"^[{TextSampler.PROVINCES}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{5,6}}$")
    assert all(pattern.match(sampler.sample(rng, "plate")) for _ in range(200))


def test_colours_keep_text_readable():
    rng = random.Random(1)
    pairs = [LineRenderer.colors(rng) for _ in range(5000)]
    assert all(0 <= bg <= 255 and 0 <= fg <= 255 and abs(bg - fg) >= 45 for bg, fg in pairs)
    assert sum(fg > bg for bg, fg in pairs) > 1000  # light on dark (signs, plates) is common


def test_every_kind_renders_at_model_height_with_ink(sampler_renderer):
    sampler, renderer = sampler_renderer
    rng = random.Random(2)
    for kind in sorted(set(TextSampler.KINDS)):  # sorted: the same draws on every run
        images = []
        for _ in range(12):
            text = sampler.sample(rng, kind)
            image = renderer.render_plate(text, rng) if kind == "plate" else renderer.render(text, rng, receipt=kind == "receipt")
            images.append((text, image))
        assert sum(image is None for _, image in images) <= 1, kind  # None: looks that left nothing readable
        for text, image in [(t, i) for t, i in images if i is not None]:
            assert image.dtype == np.uint8
            assert image.shape[0] == 32 and image.shape[1] >= 8, (kind, text, image.shape)
            assert int(image.max()) - int(image.min()) >= 30, (kind, text)  # ink stands out from the paper


def test_receipt_lines_read_like_receipts(sampler_renderer):
    sampler, _ = sampler_renderer
    rng = random.Random(4)
    lines = [sampler.sample(rng, "receipt") for _ in range(300)]
    assert all(set(line) <= sampler.allowed for line in lines)
    assert sum(any(c.isdigit() for c in line) for line in lines) > 0.6 * len(lines)  # amounts, dates, numbers
    letters = [c for line in lines for c in line if c.isalpha()]
    assert sum(c.isupper() for c in letters) > 0.6 * len(letters)  # till printers print capitals
    assert not any(ord(c) > 0x2E80 for line in lines for c in line)  # no Chinese on an English receipt
    headings = [line for line in lines if re.search(r"\b(QTY|ITEM|PRICE|AMOUNT|AMT|DESC)", line.upper())]
    assert len(headings) > 0.04 * len(lines)  # column headings and item counts, in capitals and as set
    assert any(re.search(r"@ ?\d+%", line) for line in lines)  # tax-summary rows
    assert any(re.search(r"\d \*S$", line) for line in lines)  # an item's amount and its tax mark
    assert any(re.search(r"\w ?& ?\w", line) for line in lines)  # "CASH & CARRY", "NO 1&3"



def test_formulas_mix_operators_spaced_and_tight(sampler_renderer):
    sampler, _ = sampler_renderer
    rng = random.Random(5)
    lines = [sampler.sample(rng, "formula") for _ in range(300)]
    assert all(set(line) <= sampler.allowed for line in lines)  # every symbol is a recognizer class
    assert all(any(c in "=≤≥<>≠≈±→∈∫∑+-×÷·/" for c in line) for line in lines)
    assert sum(" = " in line for line in lines) > 30 and sum(re.search(r"\w=\w", line) is not None for line in lines) > 10
    assert sum(bool(re.search("[a-z]{3,} ", line)) for line in lines) > 30  # some inside a sentence
    assert not any(ord(c) > 0x2E80 for line in lines for c in line)

def test_monospaced_faces_are_told_apart():
    mono = {f.family: f.mono for f in discover_fonts()}
    known = {"DejaVu Sans Mono": True, "Liberation Mono": True, "DejaVu Sans": False, "Liberation Serif": False}
    present = {family: is_mono for family, is_mono in known.items() if family in mono}
    if len(set(present.values())) < 2:
        pytest.skip("needs the DejaVu or Liberation fonts, mono and proportional (models/install_fonts.sh)")
    assert {family: mono[family] for family in present} == present


def test_dot_matrix_keeps_ink_only_on_dots():
    alpha = np.zeros((96, 300), np.float32)
    alpha[30:60, 20:280] = 1.0
    dotted = LineRenderer._dot_matrix(alpha, 32, random.Random(3))
    assert 0.2 < dotted[30:60, 20:280].mean() < 0.9 and dotted[alpha == 0].max() == 0


def test_thin_print_wears_strokes_down_without_erasing_them():
    alpha = np.zeros((96, 300), np.float32)
    for x in range(20, 280, 20):  # vertical strokes 5 px wide, as a 40 px font draws them
        alpha[30:60, x : x + 5] = 1.0
    for seed in range(5):
        thin = LineRenderer._thin(alpha, 40, random.Random(seed))
        assert thin[alpha == 0].max() == 0  # no ink added
        assert 0.25 * alpha.sum() <= thin.sum() < alpha.sum()  # thinner, never gone
        assert (thin[30:60].sum(axis=0) > 0).sum() < (alpha[30:60].sum(axis=0) > 0).sum()


@pytest.mark.parametrize("fg", [30, 230])
def test_sign_letters_get_an_outline_shadow_or_sides_set_off_from_the_ink(fg):
    alpha = np.zeros((96, 300), np.float32)
    alpha[30:60, 20:280:20] = 1.0  # strokes 1 px wide
    base = np.full(alpha.shape, 255.0 - fg, np.float32)  # paper or board set off from the letters
    shades = []
    for seed in range(8):
        painted, behind = LineRenderer._sign(base, alpha, 40, fg, random.Random(seed))
        assert (behind >= alpha).all() and behind.sum() > 1.1 * alpha.sum()  # the effect reaches past the ink
        changed = np.abs(painted - base) > 1
        assert not changed[:, 290:].any() and not changed[:15].any()  # near the letters only
        shades += list(painted[changed & (alpha == 0)])
    assert len(shades) > 1000 and np.abs(np.array(shades) - fg).min() > 20  # painted, never in the ink's gray


def test_coloured_lines_gray_to_readable_ink_over_a_patterned_background():
    alpha = np.zeros((96, 300), np.float32)
    alpha[30:60, 20:280:20] = 1.0
    light, dark, patterned = 0, 0, 0
    for seed in range(40):
        coloured = LineRenderer._in_colour(alpha, np.zeros_like(alpha), random.Random(seed))
        if coloured is None:
            continue
        gray, paper = coloured
        assert gray.shape == alpha.shape and gray.dtype == np.uint8
        ink = float(np.median(gray[alpha > 0.5]))
        assert abs(ink - paper) >= 20  # readable once grayed
        light += ink > paper
        dark += ink < paper
        blocks = gray[:24, :296].reshape(3, 8, 37, 8).mean(axis=(1, 3))  # 8x8 means above the ink: noise averages out
        patterned += float(blocks.std()) > 3  # gradient, stripes or shapes, not a flat fill
    assert light >= 5 and dark >= 5 and patterned >= 20


def _bars(bg: int = 230, fg: int = 40) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A canvas with a straight "line" of vertical bars (strokes 4 px wide, 24 px high) and its ink box."""
    img = np.full((96, 400), bg, np.uint8)
    for x in range(20, 380, 12):
        img[36:60, x : x + 4] = fg
    return img, (36, 60, 20, 380)


def test_bent_lines_curve_within_their_grown_box():
    img, box = _bars()
    for seed in range(5):
        bent, (top, bottom) = LineRenderer._bend(img, box, 24, 230, random.Random(seed))
        rows, cols = np.nonzero(bent < 135)
        assert top <= rows.min() and rows.max() < bottom  # the box holds the bent ink
        centres = [rows[cols == x].mean() for x in range(21, 380, 12)]
        assert max(centres) - min(centres) > 2.0  # the line bends: its middle rises and falls along it
        assert abs((bent < 135).sum() - (img < 135).sum()) < 0.1 * (img < 135).sum()  # ink moved, not lost


@pytest.mark.parametrize("bg, fg", [(230, 40), (30, 200)])
def test_bilevel_scans_keep_the_strokes_and_their_polarity(bg, fg):
    img, _ = _bars(bg, fg)
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    for seed in range(5):
        scan = LineRenderer._bilevel(noisy, random.Random(seed))
        assert set(np.unique(scan)) <= {0, 255}
        ink = scan == (0 if fg < bg else 255)
        assert ink[img == fg].mean() > 0.5  # most of every stroke survives
        assert ink[img == bg].mean() < 0.05  # the paper stays paper


@pytest.mark.parametrize("effects", [[], [(3.0, 4.0, (90, 90, 90), 0)], [(0, 0, (90, 90, 90), 3)]])
def test_page_boxes_hug_the_ink_with_its_outline_or_shadow(sampler_renderer, effects):
    from PIL import Image, ImageDraw

    from models.synth_page import PageRenderer, _Segment

    sampler, renderer = sampler_renderer
    face = next(f for f in renderer.fonts if not f.cjk and set("TOTAL 12.00") <= f.chars)
    pages = PageRenderer(sampler, renderer.fonts, 400, 120)
    img = Image.new("RGB", (400, 120), (255, 255, 255))
    seg = _Segment(20, 30, "TOTAL 12.00", face, 40, (0, 0, 0), effects=effects)
    quad = pages._draw(ImageDraw.Draw(img), seg)
    ys, xs = np.nonzero(np.asarray(img).min(axis=2) < 200)
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    assert x0 <= xs.min() and y0 <= ys.min() and x1 >= xs.max() and y1 >= ys.max()  # all the ink is inside
    slack = 0.2 * 40  # the 8% margin, and the last glyph's side bearing
    assert xs.min() - x0 <= slack and ys.min() - y0 <= slack and x1 - xs.max() <= slack and y1 - ys.max() <= slack


def test_orientation_lines_are_never_rules_of_symbols():
    """A rule of symbols ("-----") reads the same both ways up, so the orientation data draws another line."""
    class Texts:
        def __init__(self):
            self.texts = iter(["-----", "*=*=*", "TOTAL 5.00"])

        def sample(self, rng, kind=None):
            return next(self.texts)

    class Renderer:
        def render(self, text, rng):
            return text

    assert upright_crop("line", Renderer(), Texts(), random.Random(0)).upper() == "TOTAL 5.00"


def test_a_columns_twin_row_has_its_cells_and_colours(sampler_renderer):
    _, renderer = sampler_renderer
    for seed in range(4):
        column = render_column(renderer, "中华人民共和国", random.Random(seed))
        row = render_column(renderer, "中华人民共和国", random.Random(seed), across=True)
        assert column.shape[0] > 3 * column.shape[1] and row.shape[1] > 3 * row.shape[0]
        assert abs(column.shape[0] - row.shape[1]) <= 0.1 * column.shape[0]  # the same cells, laid the other way
        assert abs(float(np.median(column)) - float(np.median(row))) <= 3  # the same background
