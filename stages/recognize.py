"""Recognition stages: line crops -> CTC log-probs [frames, classes] per line."""
from __future__ import annotations

import math

import cv2
import numpy as np

from models.charset import load_charset
from pipeline.registry import register
from pipeline.resources import onnx_session, resolve_path

HEIGHT = 32
MIN_WIDTH = 4  # px: the narrowest line image
DEFAULT_STRIDE = 4  # input pixels per output frame of a graph whose metadata does not say (lineocr's first CRNNs)


def to_line_image(crop: np.ndarray, height: int = HEIGHT) -> np.ndarray:
    """The seed article's preprocessing: grayscale, aspect-preserving resize to `height` (never squashed)."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    h, w = gray.shape
    new_w = max(MIN_WIDTH, int(round(w * height / h)))
    interp = cv2.INTER_AREA if h > height else cv2.INTER_CUBIC
    return cv2.resize(gray, (new_w, height), interpolation=interp)


def pad_lines(images: list[np.ndarray], stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Gray uint8 lines of equal height -> float32 [B, 1, H, W] scaled to 0..1 and int64 widths.

    Each line is first edge-extended to a multiple of the network's `stride` (the same alone or batched), then zero
    padded to the widest; the network masks everything past a line's width, so padding does not change its output.
    """
    widths = [int(math.ceil(im.shape[1] / stride) * stride) for im in images]
    batch = np.zeros((len(images), 1, images[0].shape[0], max(widths)), np.float32)
    for i, im in enumerate(images):
        batch[i, 0, :, : im.shape[1]] = im / 255.0
        batch[i, 0, :, im.shape[1] : widths[i]] = im[:, -1:] / 255.0
    return batch, np.asarray(widths, np.int64)


def split_wide(image: np.ndarray, max_width: int, overlap: int, stride: int) -> list[tuple[int, np.ndarray]]:
    """Pieces (start x, image) of max_width px (the last one up to stride - 1 px more, to end where the line ends), each
    overlapping the next by at least `overlap` px; starts are multiples of the stride."""
    w = image.shape[1]
    if w <= max_width:
        return [(0, image)]
    step = max_width - overlap
    starts = [s - s % stride for s in [*range(0, w - max_width, step), w - max_width]]
    return [(s, image[:, s : s + max_width] if s != starts[-1] else image[:, s:]) for s in starts]


def merge_pieces(pieces: list[tuple[int, np.ndarray]], stride: int) -> np.ndarray:
    """Join per-piece log-probs (start x, [frames, classes]) into one line. Neighbouring pieces are cut at the
    middle of their overlap, so each frame comes from the piece where it has the most context and no character
    is lost or doubled."""
    if len(pieces) == 1:
        return pieces[0][1]
    ends = [start // stride + lp.shape[0] for start, lp in pieces]
    cuts = [0] + [(pieces[i + 1][0] // stride + ends[i]) // 2 for i in range(len(pieces) - 1)] + [ends[-1]]
    return np.concatenate(
        [lp[cuts[i] - start // stride : cuts[i + 1] - start // stride] for i, (start, lp) in enumerate(pieces)]
    )


@register("recognize", "crnn")
class CRNNRecognizer:
    """CRNN (CNN + BiLSTM + CTC) run by onnxruntime on width-sorted batches; lines wider than `max_width` (after
    resizing to the model height) are read in overlapping pieces and merged."""

    def __init__(
        self,
        weights: str = "models/weights/crnn_zh_en.onnx",
        charset: str | None = None,
        height: int = HEIGHT,
        max_width: int = 1200,
        overlap: int = 96,
        batch_size: int = 16,
        threads: int = 2,
    ) -> None:
        path = resolve_path(weights, "recognize.weights")
        charset_path = resolve_path(charset, "recognize.charset") if charset else path.with_suffix(".charset.json")
        if not charset_path.exists():
            raise FileNotFoundError(f"recognize.charset: file not found: {charset_path}")
        if height != HEIGHT:
            raise ValueError(f"recognize.height: {height} is not supported; the CRNN reads lines of height {HEIGHT}")
        if batch_size < 1:
            raise ValueError(f"recognize.batch_size: {batch_size} must be >= 1")
        self.charset = load_charset(charset_path)
        self.max_width, self.overlap, self.batch_size = max_width, overlap, batch_size
        self.session = onnx_session(path, threads)
        self.stride = int(self.session.get_modelmeta().custom_metadata_map.get("stride", DEFAULT_STRIDE))
        if max_width < 4 * overlap or max_width % self.stride:
            raise ValueError(f"recognize.max_width: {max_width} must be a multiple of {self.stride} (the model's "
                             f"stride) and >= 4 x overlap ({overlap})")
        classes = self.session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self.charset) + 1:
            raise ValueError(f"recognize.charset: {charset_path} has {len(self.charset)} characters but the model "
                             f"outputs {classes} classes (expected characters + 1 blank)")

    def __call__(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        lines = [to_line_image(c) for c in crops]
        pieces = [split_wide(im, self.max_width, self.overlap, self.stride) for im in lines]
        flat = [(i, j, img) for i, ps in enumerate(pieces) for j, (_, img) in enumerate(ps)]
        flat.sort(key=lambda item: item[2].shape[1])
        outputs: dict[tuple[int, int], np.ndarray] = {}
        for b in range(0, len(flat), self.batch_size):
            chunk = flat[b : b + self.batch_size]
            x, widths = pad_lines([img for _, _, img in chunk], self.stride)
            log_probs = self.session.run(None, {"x": x, "widths": widths})[0]
            for (i, j, _), lp, w in zip(chunk, log_probs, widths):
                outputs[i, j] = lp[: w // self.stride]
        return [
            merge_pieces([(start, outputs[i, j]) for j, (start, _) in enumerate(ps)], self.stride)
            for i, ps in enumerate(pieces)
        ]
