"""Interpolated modified Kneser-Ney n-gram estimation with count pruning, written as ARPA for kenlm.

The estimate follows Chen & Goodman (1998) as lmplz does:
- adjusted counts: raw counts at the highest order and for n-grams starting with <s>; otherwise the number of
  distinct words seen before the n-gram (continuation counts);
- three discounts per order from the counts-of-counts n1..n4 of the adjusted counts: Y = n1 / (n1 + 2 n2),
  D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3; where some n_k is 0 or a D_k falls outside (0, k]
  (tiny corpora), one discount Y clamped to [0.1, 0.9] (0.5 without n1 or n2) serves every count;
- P(w | h) = (a(hw) - D(a(hw))) / a(h.) + gamma(h) P(w | h'), gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / a(h.),
  where h' drops the oldest word; unigrams interpolate with the uniform distribution over the vocabulary
  (<s> excluded, <unk> included).
Pruning drops n-grams (order >= 2) whose raw count is below the order's threshold; thresholds never decrease with
the order, so every kept n-gram keeps its prefix and suffix. Kept n-grams keep their interpolated probability and
each context's backoff weight is recomputed so that its distribution sums to one:
b(h) = (1 - sum_kept P(w | h)) / (1 - sum_kept P(w | h')).

Internally an n-gram is a row of its order's table, keyed by (index of its prefix in the order below) x V + last
word; tables are sorted, so keys give the lexicographic order and suffixes are found by binary search.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


@dataclass
class Order:
    """One order's n-grams, sorted lexicographically."""

    prefix: np.ndarray  # index of the (n-1)-gram prefix in the order below (order 1: -1)
    last: np.ndarray  # word id
    suffix: np.ndarray  # index of the (n-1)-gram suffix in the order below (order 1: -1)
    first: np.ndarray  # word id of the first word
    count: np.ndarray  # raw (weighted) count
    adjusted: np.ndarray | None = None
    prob: np.ndarray | None = None  # interpolated probability
    keep: np.ndarray | None = None
    backoff: np.ndarray | None = None  # as a context of the order above (1 when it has no kept extension)


def count_ngrams(sentences: Iterable[tuple[Sequence[str], int]], order: int) -> tuple[list[str], list[Order]]:
    """Count n-grams up to `order` in (tokens, weight) sentences, each wrapped in <s> ... </s>."""
    vocab: dict[str, int] = {BOS: 0, EOS: 1, UNK: 2}
    ids: list[int] = []
    depth: list[int] = []
    weights: list[int] = []
    for tokens, weight in sentences:
        seq = [0, *(vocab.setdefault(t, len(vocab)) for t in tokens), 1]
        ids.extend(seq)
        depth.extend(range(len(seq)))
        weights.extend([weight] * len(seq))
    words = list(vocab)
    v = len(words)
    tok = np.asarray(ids, np.int64)
    pos_depth = np.asarray(depth, np.int64)
    pos_weight = np.asarray(weights, np.int64)
    none = np.full(v, -1, np.int64)
    tables = [Order(none, np.arange(v), none, np.arange(v), np.bincount(tok, pos_weight, v).astype(np.int64))]
    at = tok  # index, per position, of the n-gram of the current order ending there
    for n in range(2, order + 1):
        pos = np.flatnonzero(pos_depth >= n - 1)
        keys, inverse = np.unique(at[pos - 1] * v + tok[pos], return_inverse=True)
        prefix, last = keys // v, keys % v
        below = tables[-1]
        if n == 2:
            suffix = last.copy()
        else:
            suffix_keys = below.suffix[prefix] * v + last
            suffix = np.searchsorted(below.prefix * v + below.last, suffix_keys)
        count = np.bincount(inverse, pos_weight[pos], len(keys)).astype(np.int64)
        tables.append(Order(prefix, last, suffix, below.first[prefix], count))
        at = np.full(len(tok), -1, np.int64)
        at[pos] = inverse
    return words, tables


def discounts(adjusted: np.ndarray) -> np.ndarray:
    """[0, D1, D2, D3+] from the counts-of-counts of one order's adjusted counts."""
    n = [int(np.count_nonzero(adjusted == k)) for k in range(1, 5)]
    if min(n) > 0:
        y = n[0] / (n[0] + 2 * n[1])
        d = [1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]]
        if all(0 < dk <= k for k, dk in enumerate(d, 1)):
            return np.array([0.0, *d])
    y = min(max(n[0] / (n[0] + 2 * n[1]), 0.1), 0.9) if n[0] and n[1] else 0.5
    return np.array([0.0, y, y, y])


def estimate(words: list[str], tables: list[Order], prune: Sequence[int], boundaries: bool = True) -> list[np.ndarray]:
    """Fill adjusted counts, interpolated probabilities, kept rows and backoffs; returns each order's discounts.
    `boundaries=False` also prunes every n-gram (order >= 2) holding <s> or </s>, for a model always queried
    without them."""
    if len(prune) != len(tables) or any(b < a for a, b in zip(prune[1:], prune[2:])):
        raise ValueError(f"prune: need {len(tables)} thresholds (the first, for unigrams, unused), non-decreasing")
    top = len(tables) - 1
    for n, t in enumerate(tables):
        if n == top:
            t.adjusted = t.count.astype(np.float64)
        else:
            above = tables[n + 1]
            t.adjusted = np.bincount(above.suffix, minlength=len(t.count)).astype(np.float64)
            t.adjusted[t.first == 0] = t.count[t.first == 0]
    uni = tables[0]
    uni.adjusted[0] = 0.0  # <s> is never predicted
    disc_all = []
    for n, t in enumerate(tables):
        disc = discounts(t.adjusted[t.adjusted > 0] if n else t.adjusted[1:])
        disc_all.append(disc)
        d = disc[np.minimum(t.adjusted, 3).astype(np.int64)]
        if n == 0:
            total = t.adjusted[1:].sum()
            mass = d[1:].sum() / total
            t.prob = (t.adjusted - d) / total + mass / (len(words) - 1)
            t.prob[0] = 0.0
        else:
            ctx = len(tables[n - 1].count)
            total = np.bincount(t.prefix, t.adjusted, ctx)
            mass = np.bincount(t.prefix, d, ctx)
            gamma = np.divide(mass, total, out=np.zeros(ctx), where=total > 0)
            t.prob = (t.adjusted - d) / total[t.prefix] + gamma[t.prefix] * tables[n - 1].prob[t.suffix]
        t.keep = np.ones(len(t.count), bool) if n == 0 else t.count >= prune[n]
        if n and not boundaries:
            t.keep &= (t.first != 0) & (t.last != 1)
    for n in range(top):
        lower, upper = tables[n], tables[n + 1]
        k = upper.keep
        ctx = len(lower.count)
        seen = np.bincount(upper.prefix[k], upper.prob[k], ctx)
        seen_lower = np.bincount(upper.prefix[k], lower.prob[upper.suffix[k]], ctx)
        num, den = 1.0 - seen, 1.0 - seen_lower
        lower.backoff = np.where((den > 1e-12) & (num > 0), num / np.maximum(den, 1e-12), 1.0)
    return disc_all


def write_arpa(path: str | Path, words: list[str], tables: list[Order]) -> list[int]:
    """Write the kept n-grams as ARPA (log10); returns the number of n-grams per order."""
    sizes = [int(t.keep.sum()) for t in tables]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\\data\\\n" + "".join(f"ngram {n}={s}\n" for n, s in enumerate(sizes, 1)) + "\n")
        names = list(words)
        for n, t in enumerate(tables):
            rows = np.flatnonzero(t.keep)
            if n:
                kept_index = (np.cumsum(tables[n - 1].keep) - 1)[t.prefix[rows]].tolist()
                names = [names[p] + " " + words[w] for p, w in zip(kept_index, t.last[rows].tolist())]
            with np.errstate(divide="ignore"):
                logp = np.where(t.prob[rows] > 0, np.log10(np.maximum(t.prob[rows], 1e-300)), -99.0)
            f.write(f"\\{n + 1}-grams:\n")
            if t.backoff is None:
                f.writelines(f"{p:.6g}\t{name}\n" for p, name in zip(logp, names))
            else:
                logb = np.log10(t.backoff[rows])
                f.writelines(
                    f"{p:.6g}\t{name}\t{b:.6g}\n" if b else f"{p:.6g}\t{name}\n"
                    for p, name, b in zip(logp, names, logb)
                )
            f.write("\n")
        f.write("\\end\\\n")
    return sizes


def build_arpa(
    sentences: Iterable[tuple[Sequence[str], int]],
    path: str | Path,
    order: int,
    prune: Sequence[int],
    boundaries: bool = True,
) -> dict:
    """Count, estimate, prune and write; returns statistics for a model card."""
    words, tables = count_ngrams(sentences, order)
    disc = estimate(words, tables, prune, boundaries)
    sizes = write_arpa(path, words, tables)
    return {
        "vocabulary": len(words),
        "ngrams_before_pruning": [len(t.count) for t in tables],
        "ngrams": sizes,
        "discounts": [[round(float(x), 4) for x in d[1:]] for d in disc],
    }
