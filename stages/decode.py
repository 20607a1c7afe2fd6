"""Decoding stages: CTC log-probs [frames, classes] per line -> (text, confidence)."""
from __future__ import annotations

import numpy as np

from lm.tokens import ctc_labels, label_text
from pipeline.metrics import CJK_LETTER
from pipeline.registry import register


def allowed_mask(charset: list[str], allowed_chars: str | None) -> np.ndarray | None:
    """Boolean mask over classes (blank first) keeping the blank and the allowed characters; None keeps all."""
    if allowed_chars is None:
        return None
    if not isinstance(allowed_chars, str) or not allowed_chars:
        raise ValueError(f"decode.allowed_chars: expected a non-empty string of characters or null, got {allowed_chars!r}")
    unknown = sorted(set(allowed_chars) - set(charset))
    if unknown:
        raise ValueError(f"decode.allowed_chars: {''.join(unknown)!r} not in the recognizer's charset")
    wanted = set(allowed_chars)
    return np.array([True] + [c in wanted for c in charset])


CJK_SURE = 0.9  # a CJK letter read with this peak probability or more is kept on a page of Latin print


def without_cjk(charset: list[str], mask: np.ndarray | None) -> np.ndarray:
    """`mask` (or all classes) less the CJK letters (hanzi, kana, hangul): a Latin page's second reading."""
    cjk = np.array([False] + [CJK_LETTER.fullmatch(c) is not None for c in charset])
    return ~cjk if mask is None else mask & ~cjk


def unsure_cjk(lp: np.ndarray, mask: np.ndarray | None, latin: np.ndarray) -> bool:
    """Whether every frame whose best class (in `mask`, None: all) is a CJK letter (outside `latin`) has it under
    CJK_SURE: the recognizer was unsure of each CJK letter it read (on English receipts a smudged A or a row of
    asterisks is read as 合 or 米 under 0.9; printed hanzi mostly at 0.9 or more)."""
    best = (lp if mask is None else np.where(mask, lp, -np.inf)).argmax(axis=1)
    rows = np.flatnonzero(~latin[best])
    return bool((lp[rows, best[rows]] < np.log(CJK_SURE)).all())


FULL_WIDTH_PUNCTUATION = {"，": ",", "。": ".", "；": ";", "：": ":", "？": "?", "！": "!", "（": "(", "）": ")", "％": "%",
                          "～": "~"}


def punctuation_table(latin_punctuation: bool, allowed_chars: str | None) -> dict[int, str]:
    """`str.translate` table from full-width punctuation to its ASCII form (only to forms `allowed_chars` allows);
    empty when `latin_punctuation` is off."""
    if not check_flag(latin_punctuation, "latin_punctuation"):
        return {}
    return {ord(wide): ascii_ for wide, ascii_ in FULL_WIDTH_PUNCTUATION.items()
            if allowed_chars is None or ascii_ in allowed_chars}


def in_latin_punctuation(text: str, table: dict[int, str]) -> str:
    """A line without CJK letters (hanzi, kana, hangul) with its full-width punctuation in ASCII: the recognizer
    reads a colon or bracket of English print as its full-width form at times ("Total：" on SROIE receipts); lines
    with CJK letters keep their marks as read."""
    return text if not table or CJK_LETTER.search(text) else text.translate(table)


def check_confidence(value: float, key: str) -> float:
    """A confidence threshold (`decode.<key>`) validated: a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"decode.{key}: expected a number in [0, 1], got {value!r}")
    return float(value)


def check_flag(value: bool, key: str) -> bool:
    """A switch (`decode.<key>`) validated: true or false."""
    if not isinstance(value, bool):
        raise ValueError(f"decode.{key}: expected true or false, got {value!r}")
    return value


def drop_unsure(reading: tuple[str, float], min_confidence: float) -> tuple[str, float]:
    """A reading whose confidence is under `min_confidence` loses its text (the Pipeline leaves out lines without
    text: detections that are not text, or text too unsure to report); its confidence is kept."""
    text, confidence = reading
    return (text if confidence >= min_confidence else "", confidence)


class _Decoder:
    """What the decode stages share: each line decoded over `classes` (the allowed ones), or again over
    `latin_classes` (those less the CJK letters), in the form each stage's `_decode` takes."""

    mask: np.ndarray | None
    latin_mask: np.ndarray
    classes: np.ndarray | None
    latin_classes: np.ndarray
    min_confidence: float

    def __call__(self, log_probs: list[np.ndarray]) -> list[tuple[str, float]]:
        return [drop_unsure(self._decode(lp, self.classes), self.min_confidence) for lp in log_probs]

    def latin(self, log_probs: list[np.ndarray]) -> list[tuple[str, float] | None]:
        """Each line read again without CJK letters (the Pipeline asks on a page read almost wholly in Latin
        print), or None where the recognizer read a CJK letter surely (`unsure_cjk`)."""
        return [drop_unsure(self._decode(lp, self.latin_classes), self.min_confidence)
                if unsure_cjk(lp, self.mask, self.latin_mask) else None for lp in log_probs]

    def _decode(self, lp: np.ndarray, classes: np.ndarray | None) -> tuple[str, float]:
        raise NotImplementedError


@register("decode", "greedy")
class GreedyDecoder(_Decoder):
    """Best class per frame, repeats collapsed, blanks dropped. Classes outside `allowed_chars` are masked out
    (the model's next best allowed class wins), never mapped to look-alikes. Confidence is the mean over emitted
    characters of their peak probability; a line under `min_confidence` is read as "" (`drop_unsure`), and the
    Pipeline leaves out a box of a photo read under `photo_min_confidence` (Pipeline._read). With
    `latin_punctuation` a line without CJK letters gets ASCII punctuation (`in_latin_punctuation`); with
    `latin_pages` the Pipeline has unsure CJK letters on a page of Latin print read again without them (`latin`)."""

    def __init__(self, charset: list[str], allowed_chars: str | None = None, min_confidence: float = 0.0,
                 photo_min_confidence: float = 0.6, latin_punctuation: bool = True, latin_pages: bool = True) -> None:
        self.charset = charset
        self.mask = allowed_mask(charset, allowed_chars)
        self.latin_mask = without_cjk(charset, self.mask)
        self.min_confidence = check_confidence(min_confidence, "min_confidence")
        self.photo_min_confidence = check_confidence(photo_min_confidence, "photo_min_confidence")
        self.punctuation = punctuation_table(latin_punctuation, allowed_chars)
        self.latin_pages = check_flag(latin_pages, "latin_pages")
        self.classes, self.latin_classes = self.mask, self.latin_mask

    def _decode(self, lp: np.ndarray, mask: np.ndarray | None) -> tuple[str, float]:
        if mask is not None:
            lp = np.where(mask, lp, -np.inf)
        best = lp.argmax(axis=1)
        peak = np.exp(lp[np.arange(len(best)), best])
        chars, probs = [], []
        prev = 0
        for t, k in enumerate(best):
            if k != 0 and k != prev:
                chars.append(self.charset[k - 1])
                probs.append(peak[t])
            elif k != 0 and probs:
                probs[-1] = max(probs[-1], peak[t])
            prev = k
        text = in_latin_punctuation(" ".join("".join(chars).split()), self.punctuation)
        return text, float(np.mean(probs)) if probs else 0.0


def _log_normalize(lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows renormalized to log-probabilities, and the log of what each row summed to."""
    top = lp.max(axis=1, keepdims=True)
    z = top + np.log(np.exp(lp - top).sum(axis=1, keepdims=True))
    return lp - z, z[:, 0]


def search_matrix(lp: np.ndarray, token_min_logp: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Shrink one line's log-probs (normalized per frame) to what the beam search can use, ranking beams alike.

    Runs of frames where only the blank can be taken (it is the best class, no other reaches `token_min_logp`)
    keep their first frame; classes never tried (below `token_min_logp` and never a frame's best) are dropped and
    the rest renormalized, which adds the same amount to every beam in a frame. Returns the matrix, the classes
    kept (blank first) and what to add to a beam's score to get its log-prob under `lp`."""
    best = lp.argmax(axis=1)
    blank_only = (best == 0) & (lp[:, 1:].max(axis=1, initial=-np.inf) < token_min_logp)
    drop = blank_only.copy()
    drop[0] = False
    drop[1:] &= blank_only[:-1]
    offset = float(lp[drop, 0].sum())
    lp, best = lp[~drop], best[~drop]
    used = (lp >= token_min_logp).any(axis=0)
    used[best] = True
    used[0] = True
    classes = np.flatnonzero(used)
    sub, z = _log_normalize(lp[:, classes])
    return sub, classes, offset + float(z.sum())


@register("decode", "beam_lm")
class BeamLMDecoder(_Decoder):
    """CTC beam search (pyctcdecode) with the character/word n-gram LM of lm/ (kenlm), loaded once.

    The LM's tokens and the labels pyctcdecode sees are defined in lm.tokens: each hanzi, digit, punctuation mark
    or symbol is a token, an English word is one token, and spaces are kept as the recognizer emits them.
    `alpha_cjk` weights the natural log of each hanzi's (or other CJK character's) LM probability over its
    context-free probability and `alpha` that of every other token: English words, digits, symbols (lm.scorer),
    `beta` is a bonus per character, `unk_offset` is added to the LM log-probability of each unknown English word
    (<unk> covers them all; -ln 6623 = -8.8 would share its probability among the distinct unknown words of the LM's
    text corpora, but a misread letter makes unknown words far more often than print does, "aty" for "Qty", so the
    default, tuned with alpha on held-out lines by `lm.tune`, is larger: -16), `beam_width`, `beam_prune_logp` (drop
    beams this far below the best) and `token_min_logp` (classes below it are not tried unless best in their frame)
    bound the search. `hotwords` (strings, any script) gain `hotword_weight` per matched LM token. Classes outside
    `allowed_chars` are removed before the search.

    A line whose every frame is best read as the blank (greedy would read nothing) decodes to "": the LM chooses
    among what the recognizer saw and never writes text over an empty or non-text crop.

    Confidence: exp of the best text's acoustic log-probability (summed over its CTC paths in the beam, LM
    excluded, under all the recognizer's classes, masked ones too) divided by its length + 1, i.e. a per-character
    geometric mean, in 0..1 and lower for lines whose text the recognizer was unsure of; 0 for an empty text. A line
    under `min_confidence` is read as "" (`drop_unsure`), and the Pipeline leaves out a box of a photo read under
    `photo_min_confidence` (Pipeline._read; lower than greedy's, as this confidence is). With `latin_punctuation` a
    line without CJK letters gets ASCII punctuation (`in_latin_punctuation`); with `latin_pages` the Pipeline has
    unsure CJK letters on a page of Latin print read again without them (`latin`)."""

    def __init__(
        self,
        charset: list[str],
        lm: str = "lm/zh_en.arpa",
        alpha: float = 0.3,
        alpha_cjk: float = 0.6,
        beta: float = -0.25,
        unk_offset: float = -16.0,
        beam_width: int = 16,
        beam_prune_logp: float = -10.0,
        token_min_logp: float = -5.0,
        hotwords: list[str] | None = None,
        hotword_weight: float = 3.0,
        allowed_chars: str | None = None,
        min_confidence: float = 0.0,
        photo_min_confidence: float = 0.4,
        latin_punctuation: bool = True,
        latin_pages: bool = True,
    ) -> None:
        from lm.scorer import ChunkLM
        from pipeline.resources import resolve_path

        for key, value in (("alpha", alpha), ("alpha_cjk", alpha_cjk), ("hotword_weight", hotword_weight)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"decode.{key}: expected a number >= 0, got {value!r}")
        for key, value in (("beam_prune_logp", beam_prune_logp), ("token_min_logp", token_min_logp)):
            if not isinstance(value, (int, float)) or value >= 0:
                raise ValueError(f"decode.{key}: expected a negative number (a log-probability), got {value!r}")
        if not isinstance(beta, (int, float)):
            raise ValueError(f"decode.beta: expected a number, got {beta!r}")
        if not isinstance(unk_offset, (int, float)) or unk_offset > 0:
            raise ValueError(f"decode.unk_offset: expected a number <= 0, got {unk_offset!r}")
        if not isinstance(beam_width, int) or beam_width < 1:
            raise ValueError(f"decode.beam_width: expected an integer >= 1, got {beam_width!r}")
        if hotwords is not None and (not isinstance(hotwords, list) or not all(isinstance(h, str) for h in hotwords)):
            raise ValueError(f"decode.hotwords: expected a list of strings or null, got {hotwords!r}")
        self.min_confidence = check_confidence(min_confidence, "min_confidence")
        self.photo_min_confidence = check_confidence(photo_min_confidence, "photo_min_confidence")
        self.punctuation = punctuation_table(latin_punctuation, allowed_chars)
        self.latin_pages = check_flag(latin_pages, "latin_pages")
        self.mask = allowed_mask(charset, allowed_chars)
        self.classes = None if self.mask is None else np.flatnonzero(self.mask)  # as column indices
        self.latin_mask = without_cjk(charset, self.mask)
        self.latin_classes = np.flatnonzero(self.latin_mask)
        path = resolve_path(lm, "decode.lm")
        self.scorer = ChunkLM(path, float(alpha), float(alpha_cjk), float(beta), float(unk_offset), hotwords or [],
                              float(hotword_weight))
        self.labels = ctc_labels(charset)
        self.beam_width = beam_width
        self.beam_prune_logp, self.token_min_logp = float(beam_prune_logp), float(token_min_logp)

    def _beams(self, lp: np.ndarray, beam_width: int, columns: np.ndarray | None) -> list[tuple[str, float, float]]:
        """(text, acoustic log-prob, combined score) per beam, best first, searched over the classes in `columns`
        (None: all); the acoustic log-prob is under all of `lp`'s classes, as greedy's peak probabilities are."""
        from pyctcdecode.alphabet import Alphabet
        from pyctcdecode.decoder import BeamSearchDecoderCTC

        labels, kept = self.labels, 0.0
        if columns is not None:
            lp, z = _log_normalize(lp[:, columns])
            labels, kept = [labels[i] for i in columns], float(z.sum())
        sub, classes, offset = search_matrix(lp, self.token_min_logp)
        offset += kept
        decoder = BeamSearchDecoderCTC(Alphabet([labels[c] for c in classes], is_bpe=True), self.scorer)
        try:
            beams = decoder.decode_beams(
                sub, beam_width=beam_width, beam_prune_logp=self.beam_prune_logp, token_min_logp=self.token_min_logp
            )
        finally:
            decoder.cleanup()  # pyctcdecode keeps each decoder's LM in a class-level registry
        return [(in_latin_punctuation(label_text(text), self.punctuation), acoustic + offset, combined)
                for text, _, _, acoustic, combined in beams]

    def _decode(self, lp: np.ndarray, columns: np.ndarray | None) -> tuple[str, float]:
        best = lp.argmax(axis=1) if columns is None else columns[lp[:, columns].argmax(axis=1)]
        if not best.any():  # the blank wins every frame: the recognizer saw no text, the LM must not invent some
            return "", 0.0
        text, acoustic, _ = self._beams(lp, self.beam_width, columns)[0]
        return text, float(min(1.0, np.exp(acoustic / (len(text) + 1)))) if text else 0.0

    def nbest(self, log_probs: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Up to n distinct texts for one line, best first, each with its share of the combined (acoustic + LM)
        beam score among them (softmax; the shares sum to 1)."""
        if len(log_probs) == 0:
            return [("", 1.0)]
        beams = self._beams(log_probs, max(self.beam_width, n), self.classes)
        scores: dict[str, float] = {}
        for text, _, combined in beams:
            scores[text] = np.logaddexp(scores[text], combined) if text in scores else combined
        top = sorted(scores.items(), key=lambda item: -item[1])[:n]
        values = np.array([s for _, s in top])
        shares = np.exp(values - np.logaddexp.reduce(values))
        return [(text, float(p)) for (text, _), p in zip(top, shares)]
