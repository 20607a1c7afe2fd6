"""beam_lm decoding on synthetic CTC log-prob matrices: the LM fixes what greedy misreads, tokens reach kenlm as the
LM was built, masks, hotwords, confidence, n-best, and the search shortcuts change nothing."""
from pathlib import Path

import numpy as np
import pytest
from pyctcdecode.alphabet import Alphabet
from pyctcdecode.decoder import BeamSearchDecoderCTC

from lm.tokens import BPE_MARK, SPACE, ctc_labels, label_text, lm_tokens
from models.charset import load_charset
from pipeline.registry import ConfigError, build
from stages.decode import BeamLMDecoder, GreedyDecoder, search_matrix

CHARSET = load_charset(Path(__file__).resolve().parents[1] / "models/weights/crnn_zh_en.charset.json")
INDEX = {c: i + 1 for i, c in enumerate(CHARSET)}


def line(steps: list, floor: float = -14.0, frames: int = 3) -> np.ndarray:
    """Log-probs for one line: per step (a character, or {character: probability}) one emitting frame, where the
    blank takes what is left, then frames-1 blank frames."""
    rows = []
    for step in steps:
        probs = {step: 0.995} if isinstance(step, str) else step
        row = np.full(len(CHARSET) + 1, floor)
        for ch, p in probs.items():
            row[INDEX[ch]] = np.log(p)
        row[0] = np.log(max(1 - sum(probs.values()), 1e-6))
        rows.append(row)
        blank = np.full(len(CHARSET) + 1, floor)
        blank[0] = 0.0
        rows.extend([blank] * (frames - 1))
    lp = np.array(rows)
    return lp - np.log(np.exp(lp).sum(axis=1, keepdims=True))


@pytest.fixture(scope="module")
def decoder():
    return BeamLMDecoder(CHARSET, alpha=0.1, alpha_cjk=0.1)  # fixed LM weights: these cases test the search, not the
    # tuned defaults


@pytest.mark.parametrize(
    "text", ["上海市明光科技有限公司 采购订单", "Ship to: 88 Zhangjiang Road, Floor 5", "发票号码：No. 20260217", "使用Python编程 v2.0"]
)
def test_clean_lines_read_as_written_with_their_spaces(decoder, text):
    lp = line(list(text))
    (out, conf), = decoder([lp])
    assert out == text == GreedyDecoder(CHARSET)([lp])[0][0]
    assert 0.9 < conf <= 1.0
    assert BPE_MARK not in out and SPACE not in out


@pytest.mark.parametrize("steps,greedy,fixed", [
    (["中", "华", "人", {"民": 0.4, "尼": 0.55}, "共", "和", "国"], "中华人尼共和国", "中华人民共和国"),
    (list("The qui") + [{"c": 0.4, "e": 0.55}] + list("k brown fox"), "The quiek brown fox", "The quick brown fox"),
    (list("我们今天") + [{"去": 0.45, "云": 0.5}] + list("公园"), "我们今天云公园", "我们今天去公园"),
    (list("TOTAL ") + [{"0": 0.4, "O": 0.55}, "9"], "TOTAL O9", "TOTAL 09"),
])
def test_the_lm_fixes_a_similar_character_that_greedy_misreads(decoder, steps, greedy, fixed):
    lp = line(steps)
    assert GreedyDecoder(CHARSET)([lp])[0][0] == greedy
    assert decoder([lp])[0][0] == fixed


def test_hanzi_and_other_tokens_take_their_own_lm_weight():
    """`alpha_cjk` weighs the LM on hanzi and `alpha` on everything else: each fix needs its own weight."""
    zh = line(["中", "华", "人", {"民": 0.4, "尼": 0.55}, "共", "和", "国"])
    en = line(list("The qui") + [{"c": 0.4, "e": 0.55}] + list("k brown fox"))
    def read(alpha: float, alpha_cjk: float) -> list[str]:
        return [text for text, _ in BeamLMDecoder(CHARSET, alpha=alpha, alpha_cjk=alpha_cjk)([zh, en])]

    assert read(alpha=0.0, alpha_cjk=0.3) == ["中华人民共和国", "The quiek brown fox"]
    assert read(alpha=0.3, alpha_cjk=0.0) == ["中华人尼共和国", "The quick brown fox"]


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_the_bonus_does_not_favour_a_digit_inside_a_word(beta):
    """The bonus is per character: "T0TAL" (tokens t, <digit>, tal) earns no more of it than "TOTAL" (one word)."""
    lp = line(["T", {"O": 0.55, "0": 0.4}, "T", "A", "L"])
    assert BeamLMDecoder(CHARSET, beta=beta)([lp])[0][0] == "TOTAL"


def test_the_lm_sees_exactly_the_tokens_it_was_built_from(decoder, monkeypatch):
    text = "日期：2026年3月 Ship-to 上海Zhangjiang路 No.5"
    lm_class = type(decoder.scorer)
    start, score, scored = lm_class.get_start_state, lm_class.score, []

    def recording_start(self):
        state = start(self)
        scored.append((None, "", state))
        return state

    def recording_score(self, state, word, is_last_word=False):
        result = score(self, state, word, is_last_word)
        scored.append((state, word, result[1]))
        return result

    monkeypatch.setattr(lm_class, "get_start_state", recording_start)
    monkeypatch.setattr(lm_class, "score", recording_score)
    assert decoder([line(list(text))])[0][0] == text
    # the pyctcdecode words of the text: a new one at every label marked as a word start
    labels = ctc_labels(CHARSET)
    words = [""]
    for ch in text:
        label = labels[INDEX[ch]]
        words.extend([label[1:]] if label.startswith(BPE_MARK) else [])
        words[-1] += "" if label.startswith(BPE_MARK) else label
    words = [w for w in words if w]
    assert words[:3] == ["日", "期", "："] and f"{SPACE}Ship" in words and "海Zhangjiang" in words
    # they were scored in this order, each from the state the previous one left
    states = [s for prev, _, s in scored if prev is None]
    for word in words:
        states = [new for prev, w, new in scored if w == word and any(prev is s for s in states)]
        assert states, word
    assert [t for w in words for t in lm_tokens(w)] == lm_tokens(text)


def test_a_rare_character_read_clearly_is_kept_without_a_bonus():
    """The LM weighs a token's probability in its context against its context-free probability, so a rare
    character (嵘: log10 P = -5.4 on its own) that the recognizer reads over the blank is not dropped for its
    rarity, even with no per-character bonus."""
    decoder = BeamLMDecoder(CHARSET, alpha=0.3, alpha_cjk=0.3, beta=0.0)
    for text in ("嵘", "王嵘", "姓名：嵘"):
        assert decoder([line([*text[:-1], {"嵘": 0.6}])])[0][0] == text


def test_a_misread_letter_that_makes_an_unknown_word_yields_to_the_known_word():
    """SROIE's small "Qty" reads as "aty" (Q 0.2 beside a 0.75): at the tuned defaults an unknown English word is
    charged enough (unk_offset) that the beam reads the known word, where the charge of -ln 6623 (the default before
    2026-12-07) kept "aty"; an unknown word read clearly, a name or a code, stays as read."""
    qty = line([{"a": 0.75, "Q": 0.2}, "t", "y"])
    assert GreedyDecoder(CHARSET)([qty])[0][0] == "aty"
    assert BeamLMDecoder(CHARSET)([qty])[0][0] == "Qty"
    assert BeamLMDecoder(CHARSET, alpha=0.2, unk_offset=-8.8)([qty])[0][0] == "aty"
    for text in ("Ref: Xqzvbk", "Jln Tampoi"):
        assert BeamLMDecoder(CHARSET)([line(list(text))])[0][0] == text


@pytest.mark.parametrize("text,read", [
    ("Total：12.50（RM）！", "Total:12.50(RM)!"),  # an English line read with full-width marks
    ("发票号码：No. 20260217（副本）", "发票号码：No. 20260217（副本）"),  # a line with hanzi keeps its marks
])
def test_lines_without_cjk_letters_get_ascii_punctuation(decoder, text, read):
    lp = line(list(text))
    assert decoder([lp])[0][0] == GreedyDecoder(CHARSET)([lp])[0][0] == read
    assert decoder.nbest(lp, 3)[0][0] == read
    assert GreedyDecoder(CHARSET, latin_punctuation=False)([lp])[0][0] == text
    digits = line(list("12：50"))  # only into forms allowed_chars allows
    assert GreedyDecoder(CHARSET, allowed_chars="0123456789：")([digits])[0][0] == "12：50"
    assert GreedyDecoder(CHARSET, allowed_chars="0123456789：:")([digits])[0][0] == "12:50"


def test_no_text_is_invented_where_greedy_reads_nothing(decoder):
    faint = line([{"中": 0.4}, {"国": 0.4}, {"人": 0.4}])
    assert GreedyDecoder(CHARSET)([faint])[0][0] == ""
    assert BeamLMDecoder(CHARSET, beta=4.0)([faint]) == [("", 0.0)]
    one_seen = line([{"中": 0.4}, "国", {"人": 0.4}])
    assert BeamLMDecoder(CHARSET, beta=4.0)([one_seen])[0][0] == "中国人"  # with some text seen, the LM fills in


def test_allowed_chars_make_other_classes_impossible():
    digits = BeamLMDecoder(CHARSET, allowed_chars="0123456789.")
    lp = line([{"中": 0.9, "1": 0.09}, {"O": 0.9, "0": 0.09}, ".", "5"])
    text, _ = digits([lp])[0]
    assert text == "10.5" == GreedyDecoder(CHARSET, allowed_chars="0123456789.")([lp])[0][0]
    assert all(t == "10.5" or set(t) <= set("0123456789.") for t, _ in digits.nbest(lp, 5))
    with pytest.raises(ValueError, match="allowed_chars"):
        BeamLMDecoder(CHARSET, allowed_chars="0123\u2423")


def test_a_latin_page_reads_unsure_cjk_letters_again_without_them(decoder):
    """`latin` (asked by the Pipeline on a page of Latin print): a hanzi read at 0.6 where an A was printed yields to
    the A; a hanzi read at 0.95 is kept (None: no second reading); with allowed_chars the mask still holds."""
    smudged = line([{"合": 0.8, "A": 0.15}] + list("mount(RM)"))
    clear = line(list("Chan ") + [{"陈": 0.95, "A": 0.04}])
    for stage in (decoder, GreedyDecoder(CHARSET)):
        (first, sure), = stage([smudged])
        assert first == "合mount(RM)"
        (text, conf), kept = stage.latin([smudged, clear])
        assert (text, kept) == ("Amount(RM)", None) and 0 < conf < sure  # A's own probability, not renormalized
    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ()合陈"
    assert GreedyDecoder(CHARSET, allowed_chars=upper).latin([smudged])[0][0] == "A(RM)"
    text, _ = BeamLMDecoder(CHARSET, allowed_chars=upper).latin([smudged])[0]
    assert text and set(text) <= set(upper) - set("合陈")


def test_hotwords_boost_a_user_phrase(decoder):
    lp = line(list("联系人：") + [{"张": 0.48, "章": 0.48}, "明", "远"])
    for name in ("张明远", "章明远"):
        assert BeamLMDecoder(CHARSET, hotwords=[name], hotword_weight=4.0)([lp])[0][0] == "联系人：" + name


def test_confidence_is_lower_for_a_less_certain_line(decoder):
    clean = line(list("中华人民共和国"))
    unsure = line(["中", {"华": 0.5, "毕": 0.3}, "人", {"民": 0.4, "尼": 0.35}, "共", "和", {"国": 0.6, "图": 0.3}])
    c_clean, c_unsure = decoder([clean])[0][1], decoder([unsure])[0][1]
    assert 0.0 < c_unsure < c_clean <= 1.0
    assert decoder([np.zeros((0, len(CHARSET) + 1))]) == [("", 0.0)]
    blank = np.log(np.full((5, len(CHARSET) + 1), 1e-9))
    blank[:, 0] = 0.0
    assert decoder([blank]) == [("", 0.0)]


def test_nbest_gives_distinct_texts_with_shares_that_sum_to_one(decoder):
    lp = line(list("我们") + [{"今": 0.5, "令": 0.45}, "天", {"去": 0.5, "云": 0.45}, "公", {"园": 0.5, "圆": 0.45}])
    best = decoder.nbest(lp, 3)
    texts = [t for t, _ in best]
    assert len(best) == 3 and len(set(texts)) == 3 and texts[0] == "我们今天去公园"
    assert texts[0] == decoder([lp])[0][0]
    shares = [s for _, s in best]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1.0)


def test_shrinking_the_matrix_keeps_the_search_result(decoder):
    lp = line(list("Ship ") + [{"t": 0.5, "l": 0.4}, "o", ":"] + list("上海") + [{"市": 0.5, "币": 0.45}], frames=4)
    sub, classes, offset = search_matrix(lp, decoder.token_min_logp)
    assert classes[0] == 0 and len(classes) < 20 and len(sub) < len(lp)
    full = BeamSearchDecoderCTC(Alphabet(ctc_labels(CHARSET), is_bpe=True), decoder.scorer)
    try:
        expected = full.decode_beams(lp, beam_width=decoder.beam_width, token_min_logp=decoder.token_min_logp,
                                     beam_prune_logp=decoder.beam_prune_logp)
    finally:
        full.cleanup()
    got = decoder._beams(lp, decoder.beam_width, decoder.classes)
    assert [label_text(b[0]) for b in expected[:5]] == [b[0] for b in got[:5]]
    assert got[0][1] == pytest.approx(expected[0][3], abs=1e-4)  # acoustic log-prob under the full matrix


def test_built_from_config_with_checked_values():
    stage = build("decode", {"type": "beam_lm", "beam_width": 8, "alpha": 0.4}, charset=CHARSET, threads=1)
    assert isinstance(stage, BeamLMDecoder) and stage.beam_width == 8
    bad = [("beam_width", 0), ("alpha", -1), ("alpha_cjk", "high"), ("token_min_logp", 2), ("hotwords", "abc"),
           ("lm", "nope.arpa"), ("min_confidence", 1.5), ("photo_min_confidence", -0.1),
           ("latin_punctuation", "yes"), ("latin_pages", 1)]
    for key, value in bad:
        with pytest.raises(ConfigError, match=key):
            build("decode", {"type": "beam_lm", key: value}, charset=CHARSET)
