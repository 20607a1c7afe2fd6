"""The language model's tokens, shared by the builder and the `beam_lm` decoder so both see exactly the same units.

A text line becomes LM tokens as follows:
- a run of ASCII letters is one token, lower-cased: an English word ("Invoice" -> "invoice"); words outside the
  LM's vocabulary are kenlm's <unk>, whose probability is learned from the corpus words left out of the vocabulary;
- every ASCII digit is the token <digit>: the LM judges where digits go (0 vs O, 1 vs l, "2026年") but never prefers
  one number to another (the decoder scores a token's probability in context over its probability alone, so a
  digit's tenth share of <digit> cancels out);
- every other character that is not white space is its own token: each hanzi, CJK or ASCII punctuation mark,
  symbol and Greek letter;
- white space only separates tokens: "abc def" is two words and "abcdef" one, but the LM does not score spaces
  between hanzi, digits or punctuation; the recognizer decides those.
Lines are scored without <s> and </s>: a line read from a page is often a fragment of a sentence.

pyctcdecode scores its "words" only where one ends, so the decoder hands it labels built for its BPE mode (see
`ctc_labels`): ASCII letters continue the current pyctcdecode word and every other character starts one, marked
with "▁"; the space becomes SPACE, a visible stand-in, so the output keeps the spaces the recognizer read. Each
pyctcdecode word is then a chunk of at most one non-letter character followed by letters ("中", "文abc", "␣quick",
".com"), a run of letters never spans two chunks, and a chunk is scored as soon as the next one starts; the
decoder's scorer splits each chunk with `lm_tokens` and scores the resulting tokens in order. An English word is
thus scored once it is complete; while it grows, only whether its letters still begin a known word is checked.
"""
from __future__ import annotations

import re

DIGIT = "<digit>"
SPACE = "\u2423"  # "␣": the space inside pyctcdecode labels, which may not contain " "
BPE_MARK = "\u2581"  # "▁": pyctcdecode's word-start mark
_TOKEN = re.compile(r"[A-Za-z]+|\S")


def lm_tokens(text: str) -> list[str]:
    """The LM tokens of a line (SPACE counts as white space)."""
    tokens = []
    for match in _TOKEN.finditer(text.replace(SPACE, " ")):
        tok = match.group()
        if tok.isascii() and tok.isalpha():
            tokens.append(tok.lower())
        else:
            tokens.append(DIGIT if tok in "0123456789" else tok)
    return tokens


def english_word(token: str) -> bool:
    return token.isascii() and token.isalpha()


def cjk(token: str) -> bool:
    """A hanzi or other CJK character (CJK punctuation, kana, full-width forms): code points from U+2E80 on."""
    return len(token) == 1 and token >= "\u2e80"


def ctc_labels(charset: list[str]) -> list[str]:
    """pyctcdecode labels for the recognizer's classes: "" for the blank (class 0), then one per character."""
    if SPACE in charset or BPE_MARK in charset:
        raise ValueError(f"the charset may not contain {SPACE!r} or {BPE_MARK!r}: the decoder uses them as markers")
    labels = [""]
    for ch in charset:
        if english_word(ch):
            labels.append(ch)
        else:
            labels.append(BPE_MARK + (SPACE if ch == " " else ch))
    return labels


def label_text(decoded: str) -> str:
    """pyctcdecode's output (chunks joined by spaces, SPACE for real spaces) back to normal text."""
    return " ".join(decoded.replace(" ", "").replace(SPACE, " ").split())
