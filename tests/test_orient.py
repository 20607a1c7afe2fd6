"""Orientation on real images: upside-down lines, square characters, vertical columns and sideways pages."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from shapely.affinity import rotate
from shapely.geometry import Polygon, box

from pipeline import Pipeline, metrics
from pipeline.geometry import join_column_pieces, relay_column, turn, unturn_points
from pipeline.registry import build
from tests.fixtures.make_orient_fixtures import (CHAR_TEXT, COLON_TEXT, COLUMN_TEXT, EIGHT_TEXT, LETTER_TEXT, STROKE_TEXT,
                                                 STROKES_TEXT)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LINE = cv2.imread(str(FIXTURES / "orient_line.png"))
COLUMN = cv2.imread(str(FIXTURES / "orient_column.png"))
STROKES = cv2.imread(str(FIXTURES / "orient_strokes.png"))
CHAR = cv2.imread(str(FIXTURES / "orient_char.png"))
LETTER = cv2.imread(str(FIXTURES / "orient_letter.png"))
STROKE = cv2.imread(str(FIXTURES / "orient_stroke.png"))
COLON = cv2.imread(str(FIXTURES / "orient_colon.png"))
EIGHT = cv2.imread(str(FIXTURES / "orient_eight.png"))
PAGE = cv2.imread(str(FIXTURES / "page_zh_en.png"))


@pytest.fixture(scope="module")
def reader():
    """One crop is one line (no detection), greedy decoding."""
    return Pipeline.from_config("configs/line.yaml", orient={"type": "cnn"}, runtime={"threads": 1})


@pytest.fixture(scope="module")
def ocr():
    return Pipeline.from_config("configs/fast.yaml", orient={"type": "cnn", "page": True}, runtime={"threads": 1})


def test_upside_down_and_sideways_lines_are_turned_back(reader):
    crops = [LINE, turn(LINE, 180), turn(LINE, 90), turn(LINE, 270)]
    assert reader.orient(crops) == [0, 180, 270, 90]
    upright = reader(LINE).pages[0].lines[0]
    flipped = reader(turn(LINE, 180)).pages[0].lines[0]
    assert (upright.angle, flipped.angle) == (0, 180)
    assert flipped.text == upright.text and "20260217" in upright.text


def test_line_margin_decides_a_lines_half_turn_and_margin_every_other_crops():
    crops = [turn(LINE, 180), turn(COLUMN, 180)]

    def angles(margin: float, line_margin: float) -> list[int]:
        return build("orient", {"type": "cnn", "margin": margin, "line_margin": line_margin}, threads=1)(crops)

    assert angles(6.0, 6.0) == [180, 180]
    line, column = angles(1e9, 0.0)
    assert line == 180 and column != 180
    assert angles(0.0, 1e9) == [0, 180]


def test_a_square_character_is_not_a_column(reader):
    line = reader(CHAR).pages[0].lines[0]
    assert (line.text, line.angle, line.vertical) == (CHAR_TEXT, 0, False)


def test_a_tall_single_letter_is_not_cut_into_a_column(reader):
    assert LETTER.shape[0] >= 1.5 * LETTER.shape[1]  # as tall as a column: receipt print, crop tight at the sides
    line = reader(LETTER).pages[0].lines[0]
    assert (line.text, line.vertical) == (LETTER_TEXT, False)


def test_a_single_stroke_on_a_tall_tight_crop_is_also_read_as_it_is(reader):
    """A lone "1", "l" or "I" boxed tight (SROIE's quantity column): its ink is far narrower than the crop, so
    the crop is also read as it is, not only re-laid as a column (which read it "nl")."""
    assert STROKE.shape[0] >= 1.5 * STROKE.shape[1]
    line = reader(STROKE).pages[0].lines[0]
    assert (line.text, line.vertical) == (STROKE_TEXT, False)


def test_amid_a_pages_lines_a_lone_colon_or_digit_on_a_tall_crop_is_read_upright(reader):
    """On a receipt a lone ":" or "8" boxed apart is a tall crop: alone it may be a column (the colon's dots re-laid
    read ".."), or a line on its side (the 8 was turned and read "Qo"); amid a page's lines it is read as it is."""
    assert min(COLON.shape[0] / COLON.shape[1], EIGHT.shape[0] / EIGHT.shape[1]) >= 1.5
    read = reader.read_crops([COLON, EIGHT], amid_lines=[True, True])
    assert [(text, angle, column) for text, _, angle, column in read] == [(COLON_TEXT, 0, False), (EIGHT_TEXT, 0, False)]


def test_the_pipeline_tells_which_crops_come_from_a_page_of_lines(ocr, monkeypatch):
    told = []
    read_crops = Pipeline.read_crops

    def spy(self, crops, clock=None, amid_lines=None):
        told.append(list(amid_lines))
        return read_crops(self, crops, clock, amid_lines)

    monkeypatch.setattr(Pipeline, "read_crops", spy)
    ocr(PAGE)
    ocr(cv2.imread(str(FIXTURES / "vertical_page.png")))
    assert told[0] and all(told[0])
    assert told[1] and not any(told[1])


def test_a_column_reading_is_kept_over_a_line_reading_only_with_a_cjk_letter_and_more_confidence():
    from pipeline.pipeline import _keeps_second

    line, column = ("1", 0.9), ("4.3", 0.95)
    assert not _keeps_second(line, False, column, True)  # bits of strokes, however confident
    assert _keeps_second(column, True, line, False)
    assert _keeps_second(("的", 0.9), False, ("明的", 0.95), True)
    assert not _keeps_second(("的", 0.99), False, ("明的", 0.95), True)
    assert _keeps_second(("", 0.0), False, ("64", 0.5), True)  # over a line read as nothing
    assert _keeps_second(("ab", 0.5), False, ("ab", 0.6), False)  # two lines (or two columns): the more confident


def test_a_column_read_with_latin_turned_upright_is_kept_only_for_a_latin_word_read_more_surely():
    from pipeline.pipeline import _keeps_sideways

    assert _keeps_sideways(("它是与应平台", 0.6), ("它是Intel平台", 0.8))
    assert not _keeps_sideways(("它是与应平台", 0.6), ("它是Intel平台", 0.62))  # not surely enough
    assert not _keeps_sideways(("目日了月", 0.6), ("目m月", 0.9))  # narrow hanzi turned, read as a lone letter
    assert not _keeps_sideways(("人乘运", 0.3), ("人乘“环太?", 0.9))  # no Latin word
    assert not _keeps_sideways(("表12.9.用户", 0.6), ("表12.用户", 0.9))  # no longer Latin run than before


def test_a_vertical_column_is_read_top_to_bottom(reader):
    line = reader(COLUMN).pages[0].lines[0]
    assert (line.text, line.angle, line.vertical) == (COLUMN_TEXT, 0, True)
    flipped = reader(turn(COLUMN, 180)).pages[0].lines[0]
    assert (flipped.text, flipped.angle, flipped.vertical) == (COLUMN_TEXT, 180, True)


def test_a_column_taken_for_a_line_on_its_side_is_still_read_as_a_column(reader, monkeypatch):
    """When the orient stage turns a tall crop on its side, the crop is also read as an upright column and the more
    confident reading wins: a column stays a column, a line lying on its side is still read as a line."""
    sideways_line = turn(LINE, 90)
    monkeypatch.setattr(reader, "orient", lambda crops: [90 if c is COLUMN else 270 for c in crops])
    read = reader.read_crops([COLUMN, sideways_line])
    (column, _, column_angle, as_column), (line, _, line_angle, line_as_column) = read
    assert (column, column_angle, as_column) == (COLUMN_TEXT, 0, True)
    assert (line_angle, line_as_column) == (270, False) and "20260217" in line


def test_an_upright_line_taken_for_upside_down_is_read_as_it_lies(reader, monkeypatch):
    """When the orient stage turns a crop 180 degrees, the crop is also read as it lies and the more confident
    reading wins: an upright line (or column) the classifier got wrong is read upright, and one that is really
    upside down is still turned."""
    monkeypatch.setattr(reader, "orient", lambda crops: [180] * len(crops))
    read = reader.read_crops([LINE, turn(LINE, 180), COLUMN])
    (line, _, line_angle, _), (flipped, _, flipped_angle, _), (column, _, column_angle, as_column) = read
    assert line_angle == 0 and "20260217" in line
    assert (flipped, flipped_angle) == (line, 180)
    assert (column, column_angle, as_column) == (COLUMN_TEXT, 0, True)


def test_two_characters_stacked_in_a_loose_box_are_read_as_a_column(reader):
    """A crop taller than wide but short of a column's ratio is also read re-laid; the column reading wins here."""
    two = cv2.copyMakeBorder(COLUMN[:104], 0, 0, 14, 14, cv2.BORDER_CONSTANT, value=(255, 255, 255))  # 欢迎, loose
    assert two.shape[1] < two.shape[0] < 1.5 * two.shape[1]
    text, _, angle, vertical = reader.read_crops([two])[0]
    assert (text, angle, vertical) == (COLUMN_TEXT[:2], 0, True)


def test_a_column_of_characters_in_separate_strokes_is_read_whole(reader):
    """一 clear of the crop's edges is a character, not a neighbour's sliver, and 三 after 一 stays one character."""
    text, _, angle, vertical = reader.read_crops([STROKES])[0]
    assert ("".join(text.split()), angle, vertical) == (STROKES_TEXT, 0, True)  # a space after 一 is no matter


def test_a_neighbours_ink_cut_by_the_columns_box_is_left_out(reader):
    ink_rows = np.flatnonzero((CHAR < 128).any(axis=(1, 2)))
    cut = np.vstack([CHAR[ink_rows[-1] - 4 : ink_rows[-1] + 1], COLUMN])  # the foot of 请 on the top edge
    text, _, angle, vertical = reader.read_crops([cut])[0]
    assert (text, angle, vertical) == (COLUMN_TEXT, 0, True)


def test_a_column_on_a_speckled_background_is_still_cut_into_its_characters(reader):
    """Stray specks across a loose box do not count as the characters' width (which would join them in pairs)."""
    pad = COLUMN.shape[1] // 5
    specked = cv2.copyMakeBorder(COLUMN, 0, 0, pad, pad, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    specked[np.random.default_rng(0).random(specked.shape[:2]) < 0.003] = 60
    text, _, angle, vertical = reader.read_crops([specked])[0]
    assert (text, angle, vertical) == (COLUMN_TEXT, 0, True)


def test_relay_puts_each_character_of_a_column_in_a_row():
    row, side = relay_column(COLUMN), COLUMN.shape[1]
    assert row.shape[0] == side and 0.8 * len(COLUMN_TEXT) * side <= row.shape[1] <= len(COLUMN_TEXT) * side


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_unturn_points_inverts_turn(angle):
    image = np.zeros((50, 80), np.uint8)
    image[10, 30] = 255
    ys, xs = np.nonzero(turn(image, angle))
    corners = unturn_points([[xs[0], ys[0]], [xs[0] + 1, ys[0] + 1]], angle, 80, 50)
    assert np.allclose(corners.min(0), [30, 10]) and np.allclose(corners.max(0), [31, 11])


def test_a_sideways_page_is_turned_and_mapped_back(ocr):
    upright = ocr(PAGE).pages[0]
    sideways = ocr(turn(PAGE, 270)).pages[0]  # needs 90 degrees clockwise to be read
    assert upright.rotation == 0 and sideways.rotation == 90
    assert (sideways.width, sideways.height) == (PAGE.shape[0], PAGE.shape[1])
    assert [l.text for l in sideways.lines] == [l.text for l in upright.lines]
    for a, b in zip(upright.lines, sideways.lines):
        assert b.angle == 90
        # the upright page's box, turned 270 degrees clockwise with the page: (x, y) -> (y, width - x)
        expected = np.array([[y, PAGE.shape[1] - x] for x, y in a.points])
        assert np.allclose(np.sort(expected, axis=0), np.sort(np.array(b.points), axis=0), atol=3)
    other_way = ocr(turn(PAGE, 90)).pages[0]  # lying the other way: turned 270 degrees, without a second vote
    assert other_way.rotation == 270 and [l.text for l in other_way.lines] == [l.text for l in upright.lines]


def test_a_page_of_vertical_columns_is_read_as_columns(ocr):
    """Vertical columns look like a page on its side (tall boxes); the page stays as it is, its columns are read
    top to bottom and listed right to left."""
    page = ocr(cv2.imread(str(FIXTURES / "vertical_page.png"))).pages[0]
    truth = json.loads((FIXTURES / "vertical_page.json").read_text(encoding="utf-8"))["lines"]
    assert page.rotation == 0
    assert sum(line.vertical for line in page.lines) >= 0.8 * len(truth)
    rights = [max(x for x, _ in line.points) for line in page.lines]
    assert rights == sorted(rights, reverse=True)
    for line in page.lines:  # clockwise from the column's top-left
        (x0, y0), (x1, _), (_, y2), _ = line.points
        assert x0 < x1 and y0 < y2
    found = metrics.prf(**metrics.bag_of_tokens_f1("\n".join(l.text for l in page.lines),
                                                   "\n".join(t["text"] for t in truth)))
    assert found["hmean"] >= 0.6, found


def test_a_column_the_detector_splits_where_punctuation_leaves_a_gap_is_read_whole(ocr):
    """On a page set in columns the detector cuts two columns where a comma, set in its cell's top corner, leaves a
    gap ("外观漂亮，" / "白色和"); their pieces are joined into one line each."""
    page = ocr(cv2.imread(str(FIXTURES / "vertical_page.png"))).pages[0]
    truth = json.loads((FIXTURES / "vertical_page.json").read_text(encoding="utf-8"))["lines"]
    found = metrics.detection_scores([Polygon(line.points) for line in page.lines],
                                     [Polygon(t["points"]) for t in truth])
    assert found["precision"] == found["recall"] == 1.0, found
    assert any("外观漂亮" in line.text and line.text.endswith("白色和") for line in page.lines)


def test_latin_set_sideways_in_a_column_is_read_upright(ocr):
    """Vertical text sets Latin words and numbers turned clockwise inside a column ("它是Intel平台", "表 12.9."); cut
    into cells they read as hanzi ("它是与应平台"); turned upright whole they read as they are."""
    texts = [line.text for line in ocr(cv2.imread(str(FIXTURES / "vertical_page.png"))).pages[0].lines]
    assert any(text.startswith("它是Intel平台") for text in texts), texts
    assert any("12.9.用户界面" in text for text in texts), texts


def test_a_columns_commas_are_read_once_moved_to_the_rows_foot(reader):
    """A vertical column sets "，" and "。" in the top right corner of their cells; re-laid as a row they are moved
    to its foot, where a row sets them (at the cell's top the comma read as nothing or as a quote mark)."""
    truth = json.loads((FIXTURES / "column_marks.json").read_text(encoding="utf-8"))["text"]
    assert reader(cv2.imread(str(FIXTURES / "column_marks.png"))).pages[0].lines[0].text == truth


def test_pieces_of_one_column_are_joined_and_columns_in_tiers_are_not():
    above, below = box(100, 0, 130, 200), box(101, 215, 129, 330)  # a gap of half the column's width
    tier = box(100, 380, 130, 500)  # 50 px further down: the next tier
    beside = box(60, 0, 90, 300)  # the next column
    joined = join_column_pieces([above, below, tier, beside])
    assert len(joined) == 3
    assert any(p.bounds == (100, 0, 130, 330) for p in joined)
    # a page photographed aslant: neighbouring columns' bounding boxes overlap, their own axes do not
    aslant = [rotate(box(100 + 40 * k, 0, 130 + 40 * k, 600), 8, origin=(300, 300)) for k in range(4)]
    assert len(join_column_pieces(aslant)) == 4
    pieces = [rotate(p, 8, origin=(300, 300)) for p in (box(100, 0, 130, 280), box(101, 295, 129, 600))]
    assert len(join_column_pieces(pieces)) == 1


def test_the_longest_lines_settle_the_page_vote_when_they_agree():
    from pipeline.pipeline import PAGE_FIRST, _poll

    lines = [box(0, 0, 10 * (20 - i), 10) for i in range(12)]  # longest first

    def ask(sides):
        asked = []

        def ballots(part):
            asked.append(len(part))
            return [[(side, 1.0)] if side is not None else [] for side in sides[sum(asked) - len(part) : sum(asked)]]
        return asked, ballots

    asked, ballots = ask([0] * 12)
    assert _poll(lines, ballots) == {0: PAGE_FIRST} and asked == [PAGE_FIRST]
    asked, ballots = ask([0, None, 0, 0] + [180] * 8)  # one of the first without an opinion: still settled
    assert _poll(lines, ballots) == {0: 3} and asked == [PAGE_FIRST]
    asked, ballots = ask([0, 180, 0, 0] + [180] * 8)  # they disagree: every line votes
    assert _poll(lines, ballots) == {0: 3, 180: 9} and asked == [PAGE_FIRST, 12 - PAGE_FIRST]
    asked, ballots = ask([0, None, None, 0] + [0] * 8)  # two without an opinion: the rest are asked
    assert _poll(lines, ballots) == {0: 10} and asked == [PAGE_FIRST, 12 - PAGE_FIRST]


def test_a_voting_line_shows_only_its_middle():
    from pipeline.pipeline import _middle

    from shapely.geometry import Polygon

    line = Polygon([(100, 50), (500, 50), (500, 70), (100, 70)])  # 20 line heights
    quad, length = _middle(line, 8.0)
    assert length == pytest.approx(20.0)
    assert np.allclose(quad, [[220, 50], [380, 50], [380, 70], [220, 70]])  # 8 heights, centred
    slanted = Polygon([(0, 40), (400, 0), (402, 20), (2, 60)])
    quad, _ = _middle(slanted, 8.0)
    assert np.allclose(quad.mean(0), [201, 30], atol=0.5) and np.hypot(*(quad[1] - quad[0])) == pytest.approx(160, rel=0.02)
    column = Polygon([(50, 0), (70, 0), (70, 400), (50, 400)])  # a column: its middle 8 widths, top to bottom
    quad, length = _middle(column, 8.0)
    assert length == pytest.approx(20.0) and np.allclose(quad, [[50, 120], [70, 120], [70, 280], [50, 280]])
    short = Polygon([(0, 0), (100, 0), (100, 20), (0, 20)])
    assert np.allclose(_middle(short, 8.0)[0], [[0, 0], [100, 0], [100, 20], [0, 20]])  # short lines are shown whole
