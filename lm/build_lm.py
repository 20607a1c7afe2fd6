"""Build the shipped language model: `python -m lm.build_lm --order 4 --prune 1 3 4 --out lm/zh_en.arpa`.

Text: the training split of ../shared/data/corpora (the lines models.synth holds out for evaluation are skipped),
cleaned as the recognizer's labels are (normalize_label, charset only); `--generated` lines of each of the
recognizer's generated kinds (numbers, receipt fields, plates: formats the corpora lack); word lists from the PyPI
packages wordfreq (English and Chinese, weighted by Zipf frequency) and jieba (its dictionary's words) when they are
installed; and every charset character once, so no recognizable character is <unk>. Each line, word or character is
one sentence of LM tokens (lm.tokens); English words outside the vocabulary (the wordfreq list plus corpus words seen
at least `--min-en-count` times) become <unk>. N-grams holding <s> or </s> are pruned: the decoder never scores line
boundaries (lm.tokens). The model card (corpus mix, order, pruning, sizes) goes beside the ARPA.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import random
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Iterator

from lm.arpa import UNK, build_arpa
from lm.scorer import load_model
from lm.tokens import english_word, lm_tokens
from models.charset import build_charset, normalize_label
from models.synth import CORPORA, TextSampler, _held_out_text, _read_records

GENERATED = ("numeric", "receipt", "plate")  # TextSampler kinds whose formats the corpora do not hold
Sentence = tuple[list[str], int]
Lines = dict[str, list[str]]
WordLists = dict[str, list[tuple[str, int]]]


def corpus_lines(corpora: Path, allowed: set[str]) -> Lines:
    """Cleaned training-split records per corpus file."""
    lines = {}
    for path in sorted(corpora.glob("*.txt")):
        records = (r for r in _read_records(path) if not _held_out_text(r))
        cleaned = ("".join(c for c in normalize_label(r) if c in allowed).strip() for r in records)
        lines[path.name] = [t for t in cleaned if t]
    return lines


def generated_lines(charset: list[str], per_kind: int, corpora: Path, seed: int = 0) -> Lines:
    """`per_kind` lines of each GENERATED kind drawn by models.synth.TextSampler from the training split: numbers,
    dates, amounts, codes, receipt fields and licence plates, as the recognizer is trained on them."""
    sampler, rng = TextSampler(charset, corpora=corpora), random.Random(seed)
    return {f"generated_{kind}": [sampler.sample(rng, kind) for _ in range(per_kind)] for kind in GENERATED}


def word_lists(allowed: set[str], n_en: int, n_zh: int) -> tuple[WordLists, dict[str, str]]:
    """(word, weight) lists from wordfreq and jieba, those packages' versions; empty where not installed."""
    lists: WordLists = {}
    versions = {}
    try:
        import wordfreq

        for lang, n in (("en", n_en), ("zh", n_zh)):
            words = [normalize_label(w) for w in wordfreq.top_n_list(lang, n)]
            lists[f"wordfreq_{lang}"] = [
                (w, max(1, round(wordfreq.zipf_frequency(w, lang) - 2))) for w in words if w and set(w) <= allowed
            ]
        versions["wordfreq"] = metadata.version("wordfreq")
    except ImportError:
        pass
    try:
        import jieba

        dictionary = (Path(jieba.__file__).parent / "dict.txt").read_text("utf-8")
        entries = (line.split(" ") for line in dictionary.splitlines())
        lists["jieba_dict"] = [
            (w, 1) for w, freq, *_ in entries if len(w) > 1 and int(freq) >= 5 and set(w) <= allowed
        ]
        versions["jieba"] = metadata.version("jieba")
    except ImportError:
        pass
    return lists, versions


def english_vocabulary(lines: Lines, lists: WordLists, min_count: int) -> tuple[set[str], int]:
    """The English words the LM knows, and how many distinct corpus words are left to <unk>."""
    counts = collections.Counter(
        t for texts in lines.values() for text in texts for t in lm_tokens(text) if english_word(t)
    )
    vocab = {w for w, c in counts.items() if c >= min_count}
    vocab.update(t for w, _ in lists.get("wordfreq_en", []) for t in lm_tokens(w) if english_word(t))
    return vocab, len(counts.keys() - vocab)


def sentences(lines: Lines, lists: WordLists, charset: list[str], vocab: set[str]) -> Iterator[Sentence]:
    """(LM tokens, weight) for every corpus line, word-list entry and charset character."""
    def tokens(text: str) -> list[str]:
        return [t if not english_word(t) or t in vocab else UNK for t in lm_tokens(text)]

    for texts in lines.values():
        for text in texts:
            yield tokens(text), 1
    for entries in lists.values():
        for word, weight in entries:
            yield tokens(word), weight
    for ch in charset:
        if ch.strip() and not english_word(ch):
            yield tokens(ch), 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--order", type=int, default=4, choices=range(2, 7), metavar="N")
    parser.add_argument("--prune", type=int, nargs="+", default=None, metavar="MIN_COUNT",
                        help="minimum raw count per order from order 2 on, non-decreasing "
                             "(default: 1 3 4 5 6, cut to the order)")
    parser.add_argument("--out", default="lm/zh_en.arpa")
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("--en-words", type=int, default=50000, help="English words taken from wordfreq")
    parser.add_argument("--zh-words", type=int, default=50000, help="Chinese words taken from wordfreq")
    parser.add_argument("--generated", type=int, default=20000, metavar="N",
                        help=f"lines of each generated kind ({', '.join(GENERATED)}) added to the corpus")
    parser.add_argument("--min-en-count", type=int, default=2,
                        help="corpus English words seen this often join the vocabulary")
    args = parser.parse_args(argv)
    prune = args.prune or [1, 3, 4, 5, 6][: args.order - 1]
    if len(prune) != args.order - 1:
        parser.error(f"--prune: give {args.order - 1} thresholds (orders 2..{args.order})")

    charset = build_charset()
    allowed = set(charset)
    lines = corpus_lines(args.corpora, allowed)
    if args.generated:
        lines.update(generated_lines(charset, args.generated, args.corpora))
    lists, versions = word_lists(allowed, args.en_words, args.zh_words)
    vocab, unk_types = english_vocabulary(lines, lists, args.min_en_count)
    start = time.time()
    stats = build_arpa(sentences(lines, lists, charset, vocab), args.out, args.order, [0, *prune], boundaries=False)
    built = time.time() - start
    start = time.time()
    load_model(Path(args.out))
    card = {
        "file": Path(args.out).name,
        "format": "ARPA, log10, interpolated modified Kneser-Ney (lm/arpa.py), kenlm-loadable",
        "command": "python -m lm.build_lm " + " ".join(sys.argv[1:] if argv is None else argv),
        "tokens": "lm/tokens.py: lower-cased English words, <digit> per digit, every other non-space character alone; "
                  "no sentence boundaries at decoding",
        "order": args.order,
        "prune_min_counts_from_order_2": prune,
        "pruned_boundary_ngrams": "every n-gram of order >= 2 holding <s> or </s>",
        "corpus": {name: {"lines": len(t), "characters": sum(map(len, t))} for name, t in lines.items()},
        "corpus_split": "training lines only: models.synth._held_out_text lines skipped; generated_* lines drawn by "
                        "models.synth.TextSampler from the training split (seed 0)",
        "word_lists": {name: len(entries) for name, entries in lists.items()},
        "word_list_packages": versions,
        "english_vocabulary": len(vocab),
        "unk_types": unk_types,
        "suggested_unk_offset": round(-math.log(max(unk_types, 1)), 2),
        **stats,
        "size_bytes": Path(args.out).stat().st_size,
        "build_seconds": round(built, 1),
        "load_seconds": round(time.time() - start, 2),
    }
    card_path = Path(args.out).with_name(Path(args.out).name.removesuffix(".arpa") + ".card.json")
    card_path.write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(card, ensure_ascii=False))


if __name__ == "__main__":
    main()
