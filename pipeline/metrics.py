"""Metrics of ../shared/DESIGN.md: CER, line accuracy, detection P/R/hmean, end-to-end CER, bag-of-tokens F1.

Every text comparison goes through `normalize_text` first. Ground-truth lines flagged `"ignore": true` or with
text "###" are "don't care" regions: the *caller* drops them before calling these functions (see
`pipeline.evaluate`, which also drops predictions lying mostly inside them).
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter

import numpy as np
import shapely
from shapely.geometry import Polygon


def normalize_text(text: str) -> str:
    """Unicode NFKC and runs of white space folded to one space."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (unit costs).

    Bit-parallel (Myers 1999 / Hyyrö 2001): one pass over `b` with Python integers as bit vectors over `a`,
    after stripping the common prefix and suffix.
    """
    if a == b:
        return 0
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end = 0
    while end < len(a) - start and end < len(b) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    a, b = a[start:len(a) - end], b[start:len(b) - end]
    if not a or not b:
        return len(a) + len(b)
    peq: dict[str, int] = {}
    for i, ch in enumerate(a):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    m = len(a)
    full, last = (1 << m) - 1, 1 << (m - 1)
    pv, mv, score = full, 0, m
    for ch in b:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & full
        mh = pv & xh
        if ph & last:
            score += 1
        elif mh & last:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv
    return score


def _ratio(num: float, den: float) -> float:
    """num / den, with den taken as at least 1 (so an empty reference never divides by zero)."""
    return num / max(den, 1)


def cer(preds: list[str], truths: list[str]) -> dict:
    """Character error rate and line accuracy of predicted texts against ground truth, pair by pair.

    Both sides are normalized. Returns {"cer": total edit distance / total truth characters (the denominator is
    taken as at least 1), "line_accuracy": share of exact matches, "errors", "chars", "lines"}.
    """
    if len(preds) != len(truths):
        raise ValueError(f"{len(preds)} predictions for {len(truths)} ground-truth texts")
    errors = chars = exact = 0
    for pred, truth in zip(preds, truths):
        p, t = normalize_text(pred), normalize_text(truth)
        errors += edit_distance(p, t)
        chars += len(t)
        exact += p == t
    return {"cer": _ratio(errors, chars), "line_accuracy": exact / len(truths) if truths else 0.0,
            "errors": errors, "chars": chars, "lines": len(truths)}


def _valid(poly: Polygon) -> Polygon:
    return poly if poly.is_valid else poly.buffer(0)


def match_polygons(pred: list[Polygon], truth: list[Polygon], iou: float = 0.5) -> list[tuple[int, int]]:
    """One-to-one greedy matching: pairs with IoU >= `iou`, highest IoU first (ties: lower indices first).

    Invalid polygons are repaired with buffer(0); empty or zero-area ones never match.
    Returns (pred index, truth index) pairs sorted by truth index.
    """
    if not pred or not truth:
        return []
    p = np.array([_valid(g) for g in pred], dtype=object)
    t = np.array([_valid(g) for g in truth], dtype=object)
    pi, ti = shapely.STRtree(t).query(p, predicate="intersects")
    if not len(pi):
        return []
    inter = shapely.area(shapely.intersection(p[pi], t[ti]))
    union = shapely.area(p[pi]) + shapely.area(t[ti]) - inter
    ious = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    order = np.lexsort((pi, ti, -ious))
    used_p: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for k in order:
        if ious[k] < iou:
            break
        a, b = int(pi[k]), int(ti[k])
        if a not in used_p and b not in used_t:
            used_p.add(a)
            used_t.add(b)
            pairs.append((a, b))
    return sorted(pairs, key=lambda pair: pair[1])


def prf(tp: int, pred: int, truth: int) -> dict:
    """Precision, recall and their harmonic mean from counts; nothing predicted and nothing to find scores 1."""
    precision = tp / pred if pred else float(truth == 0)
    recall = tp / truth if truth else float(pred == 0)
    hmean = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "hmean": hmean}


def detection_scores(pred: list[Polygon], truth: list[Polygon], iou: float = 0.5) -> dict:
    """Detection {"precision", "recall", "hmean", "tp", "pred", "truth"} from `match_polygons`."""
    tp = len(match_polygons(pred, truth, iou))
    return {**prf(tp, len(pred), len(truth)), "tp": tp, "pred": len(pred), "truth": len(truth)}


def end_to_end_cer(pred_lines: list[tuple[Polygon, str]], truth_lines: list[tuple[Polygon, str]],
                   iou: float = 0.5) -> tuple[int, int]:
    """(errors, truth characters) for one page; CER = errors / characters, summed over pages by the caller.

    Lines are matched with `match_polygons`; each truth line is compared with its matched prediction ("" if
    none) and every unmatched predicted line counts all its characters as insertions. Texts are normalized.
    """
    pairs = dict((t, p) for p, t in match_polygons([g for g, _ in pred_lines], [g for g, _ in truth_lines], iou))
    errors = chars = 0
    for k, (_, text) in enumerate(truth_lines):
        truth = normalize_text(text)
        pred = normalize_text(pred_lines[pairs[k]][1]) if k in pairs else ""
        errors += edit_distance(pred, truth)
        chars += len(truth)
    matched = set(pairs.values())
    errors += sum(len(normalize_text(text)) for k, (_, text) in enumerate(pred_lines) if k not in matched)
    return errors, chars


# Han ideographs, kana, Hangul syllables, CJK radicals (a regex character class; CJK punctuation left out)
CJK_LETTERS = ("\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3040-\u30fa\u30fc-\u30ff\u3100-\u312f"
               "\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f")
CJK_LETTER = re.compile(f"[{CJK_LETTERS}]")
_TOKEN = re.compile(rf"[{CJK_LETTERS}]|(?:(?![{CJK_LETTERS}])[^\W_])+")


def tokens(text: str) -> list[str]:
    """Tokens for bag-of-tokens F1, after `normalize_text` and case folding.

    - every CJK character (Han ideographs, kana, Hangul syllables, CJK radicals) is one token;
    - a maximal run of other letters and digits (Unicode alphanumerics) is one token: "No.20260217" -> "no",
      "20260217"; "3.99" -> "3", "99";
    - everything else (white space, punctuation, symbols, "_") separates tokens and is dropped.

    >>> tokens("发票号码：No. 2026")
    ['发', '票', '号', '码', 'no', '2026']
    """
    return _TOKEN.findall(normalize_text(text).casefold())


def bag_of_tokens_f1(pred_text: str, truth_text: str) -> dict:
    """Multiset token counts {"tp", "pred", "truth"} for one page; sum them over pages, then `prf` gives F1."""
    pred, truth = Counter(tokens(pred_text)), Counter(tokens(truth_text))
    return {"tp": sum((pred & truth).values()), "pred": sum(pred.values()), "truth": sum(truth.values())}
