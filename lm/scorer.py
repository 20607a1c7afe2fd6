"""kenlm scoring of pyctcdecode's word chunks as LM tokens (see lm.tokens), with a hotword boost."""
from __future__ import annotations

import bisect
import functools
import math
import re
from pathlib import Path
from typing import NamedTuple, Sequence

import kenlm
import numpy as np
from pyctcdecode.language_model import AbstractLanguageModel

from lm.tokens import cjk, english_word, lm_tokens

LN10 = math.log(10)
_TRAILING_LETTERS = re.compile(r"[A-Za-z]+$")
Matches = tuple[tuple[int, int], ...]  # hotword matches in progress: (hotword index, tokens matched)


class ChunkState(NamedTuple):
    """The LM state after a prefix: kenlm's context, tokens of completed hotwords, hotword matches in progress."""

    kenlm: kenlm.State
    hot_done: int
    hot_active: Matches


@functools.lru_cache(maxsize=4)
def load_model(path: Path) -> kenlm.Model:
    """The kenlm model of an ARPA file, loaded once per process (decoders rebuilt with other options share it)."""
    config = kenlm.Config()
    config.arpa_complain = kenlm.ARPALoadComplain.NONE
    config.show_progress = False
    return kenlm.Model(str(path), config)


@functools.lru_cache(maxsize=4)
def arpa_unigrams(path: Path) -> tuple[str, ...]:
    """The unigrams listed in an ARPA file (read once per process)."""
    words = []
    with open(path, encoding="utf-8") as f:
        if f.readline().strip() != "\\data\\":
            raise ValueError(f"decode.lm: {path} is not an ARPA file")
        for line in f:
            if line.startswith("\\1-grams:"):
                break
        for line in f:
            if not line.strip():
                break
            words.append(line.split("\t")[1].rstrip("\n"))
    return tuple(words)


@functools.lru_cache(maxsize=4)
def letter_log10p(path: Path) -> float:
    """log10 probability per letter of the LM's English words: sum of P(w) log10 P(w) / sum of P(w) len(w)."""
    model, null = load_model(path), kenlm.State()
    model.NullContextWrite(null)
    words = [w for w in arpa_unigrams(path) if english_word(w)]
    if not words:
        return 0.0
    log10p = np.array([model.BaseScore(null, w, kenlm.State()) for w in words])
    p = 10.0 ** log10p
    return float((p * log10p).sum() / (p * np.array([len(w) for w in words])).sum())


class ChunkLM(AbstractLanguageModel):
    """Scores each pyctcdecode word (a chunk) as its LM tokens, in natural-log units: the sum over its tokens of
    weight * (ln P_LM(token | context) - ln P_LM(token), + unk_offset for an unknown English word), where the
    weight is `alpha_cjk` for a CJK token (a hanzi or CJK punctuation, see lm.tokens.cjk) and `alpha` for any other
    (English words, digits, Latin punctuation and symbols), + beta per character + hotword_weight per token of a
    hotword match (a match in progress is credited as it grows and taken back if it breaks off or the line ends).
    Chinese text is where a character n-gram model knows most; letters and digits are also codes, plates and
    amounts, whose characters the context predicts little beyond their format, so they get a weight of their own.

    The LM term is how much more likely the context makes each token than it is on its own: it favours what the
    context predicts and disfavours what it rules out, but, unlike ln P_LM alone, it does not charge every
    character for being rare, so the search needs no bonus to keep from dropping characters, and a bonus that
    makes up for that charge on average also buys characters written over rules and noise. <unk> stands for
    every unknown word at once, so `unk_offset` shares its probability out among them; hotword tokens count as
    known. A partial chunk whose trailing letters begin no known word is charged the unknown-word offset at once,
    so such beams fall behind early."""

    def __init__(
        self,
        path: Path,
        alpha: float,
        alpha_cjk: float,
        beta: float,
        unk_offset: float,
        hotwords: Sequence[str] = (),
        hotword_weight: float = 0.0,
    ) -> None:
        self.model = load_model(path)
        self.alpha, self.alpha_cjk, self.beta = alpha, alpha_cjk, beta
        self.unk_offset, self.hotword_weight = unk_offset, hotword_weight
        self.hotwords = [tuple(lm_tokens(h)) for h in hotwords]
        self.hotwords = [h for h in self.hotwords if h]
        self._hot_starts: dict[str, list[int]] = {}
        for i, h in enumerate(self.hotwords):
            self._hot_starts.setdefault(h[0], []).append(i)
        unigrams = arpa_unigrams(path)
        self._hot_tokens = {t for h in self.hotwords for t in h}
        self._english = sorted({w for w in (*unigrams, *self._hot_tokens) if english_word(w)})
        self._unk_cost = alpha * unk_offset
        self._base: dict[str, float] = {}  # token -> its context-free log10 probability (see _base_log10p)
        self._letter_log10p = letter_log10p(path)

    @property
    def order(self) -> int:
        return self.model.order

    def _null(self) -> kenlm.State:
        state = kenlm.State()
        self.model.NullContextWrite(state)
        return state

    def get_start_state(self) -> ChunkState:
        return ChunkState(self._null(), 0, ())

    def _known_prefix(self, letters: str) -> bool:
        i = bisect.bisect_left(self._english, letters)
        return i < len(self._english) and self._english[i].startswith(letters)

    def score_partial_token(self, partial_token: str) -> float:
        letters = _TRAILING_LETTERS.search(partial_token)
        return self._unk_cost if letters and not self._known_prefix(letters.group().lower()) else 0.0

    def _hot_bonus(self, done: int, active: Matches, final: bool) -> float:
        return self.hotword_weight * (done + (0 if final else max((k for _, k in active), default=0)))

    def score(self, prev_state: ChunkState, word: str, is_last_word: bool = False) -> tuple[float, ChunkState]:
        state, done, active = prev_state
        lm = 0.0
        tokens = lm_tokens(word)
        for tok in tokens:
            out = kenlm.State()
            gain = LN10 * (self.model.BaseScore(state, tok, out) - self._base_log10p(tok))
            if cjk(tok):
                lm += self.alpha_cjk * gain
            else:
                unknown = english_word(tok) and tok not in self.model and tok not in self._hot_tokens
                lm += self.alpha * (gain + self.unk_offset * unknown)
            state = out
            if self.hotwords:
                done, active = self._advance(done, active, tok)
        new = ChunkState(state, done, active)
        hot = self._hot_bonus(done, active, is_last_word) - self._hot_bonus(*prev_state[1:], False)
        chars = sum(len(tok) if english_word(tok) else 1 for tok in tokens)  # per character, not per token: the
        # bonus must not favour reading a word as several tokens ("T0TAL": t, <digit>, tal) over one ("TOTAL")
        return lm + self.beta * chars + hot, new

    def _base_log10p(self, tok: str) -> float:
        """A token's context-free log10 probability: a known English word's is its length times the average
        letter's, so that reading a word as several tokens ("T0TAL": t, <digit>, tal) gains nothing from the
        baseline; any other token's (a hanzi, digit, symbol, or <unk> for an unknown word) is its unigram's."""
        if tok not in self._base:
            known_word = english_word(tok) and tok in self.model
            self._base[tok] = (len(tok) * self._letter_log10p if known_word
                               else self.model.BaseScore(self._null(), tok, kenlm.State()))
        return self._base[tok]

    def _advance(self, done: int, active: Matches, tok: str) -> tuple[int, Matches]:
        grown = []
        for h, k in (*active, *((h, 0) for h in self._hot_starts.get(tok, ()))):
            if self.hotwords[h][k] == tok:
                if k + 1 == len(self.hotwords[h]):
                    done += k + 1
                else:
                    grown.append((h, k + 1))
        return done, tuple(grown)
