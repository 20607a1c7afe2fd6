"""CRNN recognizer: preprocessing, batching invariance, width cap split/merge, greedy decoding with a charset mask."""
import cv2
import numpy as np
import pytest

from stages.decode import GreedyDecoder
from stages.recognize import CRNNRecognizer, merge_pieces, pad_lines, split_wide, to_line_image

PAGE = "examples/sample_page.png"


@pytest.fixture(scope="module")
def recognizer():
    return CRNNRecognizer(threads=1)


def _line_crops():
    page = cv2.imread(PAGE)
    # three printed lines of the sample page, of different widths
    return [page[52:104, 55:590], page[225:260, 55:560], page[520:556, 55:640]]


def test_preprocessing_keeps_aspect_and_pads_to_stride():
    crop = np.full((64, 301, 3), 255, np.uint8)
    line = to_line_image(crop)
    assert line.shape == (32, 150) and line.dtype == np.uint8
    x, widths = pad_lines([line, np.zeros((32, 41), np.uint8)], stride=4)
    assert x.shape == (2, 1, 32, 152) and widths.tolist() == [152, 44]
    assert x.max() <= 1.0 and x[0, 0, 0, 151] == 1.0  # edge-extended to the multiple of 4, in 0..1
    x, widths = pad_lines([line, np.zeros((32, 41), np.uint8)], stride=8)
    assert x.shape == (2, 1, 32, 152) and widths.tolist() == [152, 48] and x[1, 0, 0, 47] == 0.0


def test_a_line_reads_the_same_alone_and_batched_with_wider_lines(recognizer):
    crops = _line_crops()
    batched = recognizer(crops)
    for crop, lp in zip(crops, batched):
        alone = recognizer([crop])[0]
        assert alone.shape == lp.shape
        np.testing.assert_allclose(alone, lp, atol=1e-4)
    assert batched[0].shape[1] == len(recognizer.charset) + 1


@pytest.mark.parametrize("stride, width", [(4, 1000), (8, 1000), (8, 1004)])
def test_split_and_merge_keep_every_frame_once(stride, width):
    image = np.zeros((32, width), np.uint8)
    pieces = split_wide(image, max_width=256, overlap=64, stride=stride)
    assert pieces[0][0] == 0 and width - 256 - stride < pieces[-1][0] <= width - 256
    assert all(p.shape[1] == 256 and s % stride == 0 for s, p in pieces[:-1])
    assert pieces[-1][0] % stride == 0 and pieces[-1][0] + pieces[-1][1].shape[1] == width
    # each piece's "log-probs" encode the global frame index: the merge must give every frame exactly once, in order
    n = [-(-p.shape[1] // stride) for _, p in pieces]  # the recognizer pads each piece to a multiple of the stride
    frames = [(s, np.arange(s // stride, s // stride + k)[:, None]) for (s, _), k in zip(pieces, n)]
    merged = merge_pieces(frames, stride)
    assert merged[:, 0].tolist() == list(range(-(-width // stride)))


def test_wide_line_read_in_pieces_matches_the_whole(recognizer):
    crop = cv2.imread(PAGE)[470:500, 55:650]
    whole = recognizer([crop])[0]
    capped = CRNNRecognizer(max_width=400, overlap=96, threads=1)([crop])[0]
    assert capped.shape == whole.shape
    decoder = GreedyDecoder(recognizer.charset)
    assert decoder([capped])[0][0] == decoder([whole])[0][0]


def test_greedy_collapses_repeats_and_masks_disallowed_classes():
    charset = list("0123456789OIl")
    idx = {c: i + 1 for i, c in enumerate(charset)}
    frames = ["O", "O", "", "1", "1", "", "1", "", "l"]
    lp = np.full((len(frames), len(charset) + 1), np.log(1e-4), np.float32)
    for t, ch in enumerate(frames):
        lp[t, idx[ch] if ch else 0] = np.log(0.9)
    lp[0, idx["0"]] = lp[1, idx["0"]] = np.log(0.09)  # the digit is the runner-up under "O"
    lp[8, idx["1"]] = np.log(0.05)
    text, conf = GreedyDecoder(charset)([lp])[0]
    assert text == "O11l" and conf == pytest.approx(0.9, abs=1e-5)
    digits, _ = GreedyDecoder(charset, allowed_chars="0123456789")([lp])[0]
    assert digits == "0111"  # O masked -> 0, l masked -> 1 (the model's own runner-up), never dropped silently


def test_a_reading_under_min_confidence_loses_its_text_and_keeps_its_confidence():
    charset = list("ab")
    sure = np.log(np.array([[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.05, 0.05, 0.9]], np.float32))
    unsure = np.log(np.array([[0.3, 0.4, 0.3], [0.9, 0.05, 0.05], [0.3, 0.3, 0.4]], np.float32))
    assert GreedyDecoder(charset)([sure, unsure]) == [("ab", pytest.approx(0.9)), ("ab", pytest.approx(0.4))]
    assert GreedyDecoder(charset, min_confidence=0.5)([sure, unsure]) == [("ab", pytest.approx(0.9)),
                                                                          ("", pytest.approx(0.4))]
    for key in ("min_confidence", "photo_min_confidence", "latin_pages"):
        with pytest.raises(ValueError, match=key):
            GreedyDecoder(charset, **{key: 1.5})
