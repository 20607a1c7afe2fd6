"""The n-gram builder (modified Kneser-Ney, pruning, ARPA) checked through kenlm, the LM tokens, the shipped LM."""
import itertools
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import kenlm
import numpy as np
import pytest

from lm.arpa import build_arpa, discounts
from lm.scorer import arpa_unigrams, load_model
from lm.tokens import BPE_MARK, DIGIT, SPACE, ctc_labels, label_text, lm_tokens
from models.charset import load_charset

ROOT = Path(__file__).resolve().parents[1]


def _sentences(texts):
    return [(t.split(), 1) for t in texts]


def _prob(model, context, word):
    state = kenlm.State()
    if context and context[0] == "<s>":
        model.BeginSentenceWrite(state)
        context = context[1:]
    else:
        model.NullContextWrite(state)
    for w in context:
        out = kenlm.State()
        model.BaseScore(state, w, out)
        state = out
    return 10 ** model.BaseScore(state, word, kenlm.State())


def _contexts(model, words, order):
    """Every context up to order-1 words, with and without a leading <s>."""
    for k in range(order):
        for ctx in itertools.product(words, repeat=k):
            yield ctx
            if k < order - 1:
                yield ("<s>", *ctx)


def test_discounts_follow_chen_and_goodman():
    counts = [1] * 10 + [2] * 4 + [3] * 3 + [4] * 2 + [9]
    y = 10 / (10 + 2 * 4)
    assert discounts(np.array(counts))[1:] == pytest.approx([1 - 2 * y * 4 / 10, 2 - 3 * y * 3 / 4, 3 - 4 * y * 2 / 3])
    assert discounts(np.array([1, 1, 2, 3]))[1:] == pytest.approx([2 / 4] * 3)  # no n4: one discount, n1/(n1+2n2)


def test_bigram_probabilities_match_a_hand_computation(tmp_path):
    path = tmp_path / "tiny.arpa"
    build_arpa(_sentences(["a b", "a b", "a c", "b a"]), path, order=2, prune=[0, 0])
    model = load_model(path)
    # bigram counts: <s> a 3, a b 2, b </s> 2, and five seen once (a c, c </s>, <s> b, b a, a </s>); n1=5, n2=2,
    # n3=1, n4=0, so one discount D = 5 / (5 + 2*2) = 5/9 for every count.
    # unigram continuation counts: a 2 (<s>, b), b 2 (a, <s>), c 1 (a), </s> 3 (b, c, a); n1=1, n2=2, n3=1, n4=0,
    # so D = 1 / (1 + 2*2) = 0.2; total 8; leftover 4 * 0.2 / 8 = 0.1 spread over 5 words (<unk> included).
    p_a = (2 - 0.2) / 8 + 0.1 / 5
    p_c = (1 - 0.2) / 8 + 0.1 / 5
    assert _prob(model, (), "a") == pytest.approx(0.245, abs=1e-5) == pytest.approx(p_a)
    assert _prob(model, (), "</s>") == pytest.approx((3 - 0.2) / 8 + 0.02, rel=1e-5)
    assert _prob(model, (), "<unk>") == pytest.approx(0.02, rel=1e-5)
    d = 5 / 9
    # after a: a b 2, a c 1, a </s> 1 -> total 4, gamma = 3 d / 4
    assert _prob(model, ("a",), "b") == pytest.approx((2 - d) / 4 + 3 * d / 4 * p_a, rel=1e-5)
    # after <s>: <s> a 3, <s> b 1 -> total 4, gamma = 2 d / 4
    assert _prob(model, ("<s>",), "a") == pytest.approx((3 - d) / 4 + 2 * d / 4 * p_a, rel=1e-5)
    # c never follows b: b's backoff times the unigram, b's gamma = 2 d / 3
    assert _prob(model, ("b",), "c") == pytest.approx(2 * d / 3 * p_c, rel=1e-5)


def _reference_kneser_ney(sentences, order):
    """Straightforward interpolated modified Kneser-Ney over dicts, to check the array implementation."""
    raw = [Counter() for _ in range(order + 1)]
    for words, _ in sentences:
        seq = ["<s>", *words, "</s>"]
        for n in range(1, order + 1):
            for i in range(len(seq) - n + 1):
                raw[n][tuple(seq[i : i + n])] += 1
    adjusted = [Counter() for _ in range(order + 1)]
    adjusted[order] = raw[order]
    for n in range(1, order):
        for gram in raw[n + 1]:
            adjusted[n][gram[1:]] += 1  # distinct words before it
        adjusted[n].update({gram: c for gram, c in raw[n].items() if gram[0] == "<s>"})
    adjusted[1].pop(("<s>",))
    vocab = [w for (w,) in raw[1] if w != "<s>"] + ["<unk>"]
    disc = {n: discounts(np.array(list(adjusted[n].values()))) for n in range(1, order + 1)}
    stats = defaultdict(lambda: [0.0, 0.0])  # context -> [total, discounted mass]
    for n in range(1, order + 1):
        for gram, a in adjusted[n].items():
            stats[gram[:-1]][0] += a
            stats[gram[:-1]][1] += disc[n][min(int(a), 3)]

    def prob(context, word):
        if not context:
            total, mass = stats[()]
            a = adjusted[1].get((word,), 0)
            return (a - disc[1][min(int(a), 3)] if a else 0) / total + mass / total / len(vocab)
        lower = prob(context[1:], word)
        total, mass = stats.get(context, (0, 0))
        if not total:
            return lower
        a = adjusted[len(context) + 1].get((*context, word), 0)
        return (a - disc[len(context) + 1][min(int(a), 3)] if a else 0) / total + mass / total * lower

    return vocab, prob


def test_trigram_model_matches_a_reference_implementation_everywhere(tmp_path):
    rng = random.Random(3)
    texts = [" ".join(rng.choice("aabbbcdde") for _ in range(rng.randint(1, 8))) for _ in range(60)]
    sentences = _sentences(texts)
    path = tmp_path / "tri.arpa"
    build_arpa(sentences, path, order=3, prune=[0, 0, 0])
    model = load_model(path)
    vocab, reference = _reference_kneser_ney(sentences, 3)
    for ctx in _contexts(model, "abcde", 3):
        for word in vocab:
            assert _prob(model, ctx, word) == pytest.approx(reference(ctx, word), rel=5e-5), (ctx, word)


@pytest.mark.parametrize(
    "order,prune,boundaries", [(3, [0, 2, 3], True), (4, [0, 1, 2, 2], True), (4, [0, 2, 2, 3], False)]
)
def test_pruned_models_still_sum_to_one_in_every_context(tmp_path, order, prune, boundaries):
    rng = random.Random(order)
    texts = [" ".join(rng.choice("aaabbcdefg") for _ in range(rng.randint(1, 10))) for _ in range(80)]
    full, pruned = tmp_path / "full.arpa", tmp_path / "pruned.arpa"
    build_arpa(_sentences(texts), full, order, [0] * order)
    stats = build_arpa(_sentences(texts), pruned, order, prune, boundaries=boundaries)
    assert stats["ngrams"][0] == stats["ngrams_before_pruning"][0]
    for kept, before, threshold in zip(stats["ngrams"][1:], stats["ngrams_before_pruning"][1:], prune[1:]):
        assert kept < before if threshold > 1 or not boundaries else kept == before
    model, unpruned = load_model(pruned), load_model(full)
    vocab = [w for w in arpa_unigrams(pruned) if w != "<s>"]
    assert {"</s>", "<unk>"} <= set(vocab)
    for ctx in _contexts(model, "abcdefg", order):
        assert sum(_prob(model, ctx, w) for w in vocab) == pytest.approx(1.0, abs=1e-4), ctx
    # kept n-grams keep their unpruned probability; boundary n-grams are gone when asked
    text = pruned.read_text()
    for line in text.split("\\2-grams:")[1].splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            words = parts[1].split()
            assert boundaries or not {"<s>", "</s>"} & set(words)
            assert 10 ** float(parts[0]) == pytest.approx(_prob(unpruned, tuple(words[:-1]), words[-1]), rel=1e-4)


def test_prune_thresholds_must_not_decrease(tmp_path):
    with pytest.raises(ValueError, match="non-decreasing"):
        build_arpa(_sentences(["a b c"]), tmp_path / "x.arpa", 3, [0, 3, 2])


def test_lm_tokens_keep_english_words_whole_and_split_everything_else():
    assert lm_tokens("发票号码：No. 2026年 Ship-to") == [
        "发", "票", "号", "码", "：", "no", ".", DIGIT, DIGIT, DIGIT, DIGIT, "年", "ship", "-", "to"
    ]
    assert lm_tokens("使用Python编程") == ["使", "用", "python", "编", "程"]
    assert lm_tokens(f"a{SPACE}b  c") == ["a", "b", "c"]


def test_ctc_labels_make_letters_continue_and_everything_else_start_a_word():
    charset = load_charset(ROOT / "models/weights/crnn_zh_en.charset.json")
    labels = ctc_labels(charset)
    assert labels[0] == "" and len(labels) == len(charset) + 1 and len(set(labels)) == len(labels)
    assert not any(" " in lab for lab in labels)
    index = {c: i + 1 for i, c in enumerate(charset)}
    assert labels[index["a"]] == "a" and labels[index["Z"]] == "Z"
    assert labels[index["中"]] == BPE_MARK + "中" and labels[index["7"]] == BPE_MARK + "7"
    assert labels[index[" "]] == BPE_MARK + SPACE
    assert label_text(f"使 用Python 编 程 {SPACE}v 2") == "使用Python编程 v2"
    with pytest.raises(ValueError):
        ctc_labels(["a", SPACE])


def test_shipped_lm_fits_its_card():
    arpa = ROOT / "lm/zh_en.arpa"
    card = json.loads((ROOT / "lm/zh_en.card.json").read_text(encoding="utf-8"))
    assert arpa.stat().st_size <= 50 * 2**20 and card["size_bytes"] == arpa.stat().st_size
    with open(arpa, encoding="utf-8") as f:
        header = [next(f) for _ in range(card["order"] + 1)]
    assert [int(line.split("=")[1]) for line in header[1:]] == card["ngrams"]
    assert 4 <= card["order"] <= 6


def test_shipped_lm_knows_the_generated_formats():
    """Generated lines are in the corpus mix (lm.build_lm --generated): after a licence plate's province character
    the LM expects a letter more than a digit, each against its context-free probability."""
    model = load_model(ROOT / "lm/zh_en.arpa")

    def gain(province, token):
        return np.log10(_prob(model, (province,), token) / _prob(model, (), token))

    for province in "粤京苏":
        assert gain(province, "b") > gain(province, DIGIT) + 0.3


def test_tuning_prefers_settings_never_worse_than_greedy_on_any_kind_of_text():
    from lm.tune import rank

    greedy = {"cer": 0.20, "zh": 0.18, "plate": 0.20}
    helps_all = {"cer": 0.19, "zh": 0.17, "plate": 0.20}
    better_overall = {"cer": 0.17, "zh": 0.12, "plate": 0.25}  # lower CER, but worse on plates
    worse_still = {"cer": 0.16, "zh": 0.10, "plate": 0.30}
    kinds = ["zh", "plate"]
    ranked = sorted([worse_still, better_overall, helps_all], key=lambda r: rank(r, greedy, kinds))
    assert ranked == [helps_all, better_overall, worse_still]
    # random characters are reported, not held to greedy: the LM knows nothing of them
    greedy["random"], helps_all["random"] = 0.70, 0.70
    noisier = {"cer": 0.18, "zh": 0.15, "plate": 0.20, "random": 0.71}
    assert rank(noisier, greedy, [*kinds, "random"]) == (0.0, 0.18) < rank(helps_all, greedy, [*kinds, "random"])
    # junk crops have no text: what is written on them counts in the total CER, not as a kind that must not lose
    greedy["junk"], helps_all["junk"], more_on_junk = 0.2, 0.3, {"cer": 0.18, "zh": 0.16, "plate": 0.2, "junk": 0.3}
    assert rank(more_on_junk, greedy, [*kinds, "junk"]) == (0.0, 0.18) < rank(helps_all, greedy, [*kinds, "junk"])
