"""Synthetic text lines: corpus and generated text rendered with Debian fonts, then degraded like real scans.

Fonts and corpus lines are split into a training part and a held-out part (by font family and by line hash), so
validation measures unseen fonts and unseen text.
"""
from __future__ import annotations

import collections
import colorsys
import functools
import glob
import hashlib
import logging
import math
import os
import random
import string
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.charset import normalize_label

# Where the Debian fonts are (models/install_fonts.sh), or LINEOCR_FONTS: a copy of that tree elsewhere, such as the
# one `python -m models.pack_training_data` makes for a machine without them.
FONT_ROOT = Path(os.environ.get("LINEOCR_FONTS", "/usr/share/fonts"))
FONT_GLOBS = (  # under FONT_ROOT
    "opentype/noto/Noto*CJK-*.ttc",
    "truetype/wqy/*.ttc",
    "truetype/arphic/*.ttc",
    "truetype/lxgw-wenkai/*.ttf",
    "truetype/cwtex/*.ttf",
    "truetype/dejavu/DejaVu[SM]*.ttf",
    "truetype/liberation2/*.ttf",
    "truetype/freefont/*.ttf",
    "truetype/droid/DroidSansFallbackFull.ttf",
    "opentype/urw-base35/*.otf",
    "truetype/roboto/unhinted/*.ttf",
    "truetype/open-sans/*.ttf",
    "truetype/lato/*.ttf",
    "truetype/hack/*.ttf",
    "truetype/inconsolata/*.otf",
    "opentype/comic-neue/*.otf",
    "truetype/fifthhorseman/*.ttf",
    "opentype/ocr-b/*.otf",
    "truetype/jetbrains-mono/*.ttf",
    "truetype/firacode/*.ttf",
    "opentype/courier-prime/*.otf",
    "truetype/noto/Noto*Mono-*.ttf",
    "truetype/agave/*.ttf",
)
# Symbol and dingbat faces map letters to pictures; hairline faces vanish at 32 px.
SKIP_FILE_WORDS = ("D050000L", "StandardSymbols", "Thin", "Hairline", "ExtraLight")
# Families never used for training: validation on them measures unseen-font accuracy.
HELD_OUT_FAMILIES = ("AR PL UMing CN", "FreeSerif", "FreeSans", "LXGW WenKai Mono")
# From multi-face collections keep only the simplified-Chinese faces (and the non-CJK ones).
SKIP_FACE_WORDS = (" JP", " KR", " TC", " HK", " TW")
# The text corpora (../shared/data/corpora beside the checkout), or LINEOCR_CORPORA.
CORPORA = Path(os.environ.get("LINEOCR_CORPORA", Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora"))


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int
    family: str
    style: str
    chars: frozenset
    mono: bool = False  # Latin letters and digits all one width (typewriter, receipt and code faces)

    @property
    def cjk(self) -> bool:
        return "中" in self.chars


def font_files(skip: tuple[str, ...] = ()) -> list[str]:
    """The font files under FONT_ROOT that rendering reads, less those whose name holds a word of `skip`."""
    words = SKIP_FILE_WORDS + tuple(skip)
    return [
        path for pattern in FONT_GLOBS for path in sorted(glob.glob(str(FONT_ROOT / pattern)))
        if not any(w in Path(path).name for w in words)
    ]


def discover_fonts(held_out: bool = False) -> list[FontFace]:
    """Installed font faces usable for rendering; `held_out` picks the validation families instead."""
    from fontTools.ttLib import TTCollection, TTFont

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # some faces carry odd metrics for unused glyphs
    faces = []
    for path in font_files():
        fonts = TTCollection(path).fonts if path.endswith(".ttc") else [TTFont(path)]
        for index, font in enumerate(fonts):
            family = font["name"].getDebugName(1) or Path(path).stem
            style = font["name"].getDebugName(2) or ""
            if any(w in family for w in SKIP_FACE_WORDS):
                continue
            if (family in HELD_OUT_FAMILIES) != held_out:
                continue
            cmap = font.getBestCmap() or {}
            widths = {font["hmtx"][cmap[ord(c)]][0] for c in "iMW0." if ord(c) in cmap}
            faces.append(FontFace(path, index, family, style, frozenset(chr(c) for c in cmap), len(widths) == 1))
    return faces


@functools.lru_cache(maxsize=512)
def _pil_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


Effect = tuple[float, float, tuple[int, int, int], int]  # (dx, dy, colour, stroke width) of a copy drawn behind text


def letter_effects(rng: random.Random, size: int, color: tuple[int, int, int]) -> list[Effect]:
    """An outline, a drop shadow or the extruded sides of 3-D shop-sign letters, in a colour set off from the
    letters' own: (dx, dy, colour, stroke width) copies of the text drawn behind it, farthest first."""
    other = tuple(int(v * rng.uniform(0.2, 0.6)) if sum(color) > 384 else min(255, v + rng.randint(80, 200))
                  for v in color)
    kind = rng.random()
    if kind < 0.35:
        return [(0, 0, other, max(1, int(size * rng.uniform(0.03, 0.08))))]
    dx, dy = rng.uniform(-0.08, 0.08) * size, rng.uniform(0.03, 0.1) * size
    if kind < 0.7:
        return [(dx, dy, other, 0)]
    steps = max(2, int(max(abs(dx), abs(dy))))
    return [(dx * k / steps, dy * k / steps, other, 0) for k in range(steps, 0, -1)]


def _held_out_text(line: str) -> bool:
    return hashlib.md5(line.encode("utf-8")).digest()[0] < 13  # about 5% of lines


def _read_records(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="ignore")
    return [" ".join(r.split()) for r in text.replace("\n%\n", "\n").splitlines() if r.strip() and r.strip() != "%"]


def _chinese_amount(value: int) -> str:
    """An amount in capital Chinese numerals as written on invoices: 4380 -> 肆仟叁佰捌拾元整."""
    digits, units = "零壹贰叁肆伍陆柒捌玖", ["", "拾", "佰", "仟"]

    def group(n: int) -> str:
        out, zero = "", False
        for i, d in enumerate(f"{n:04d}"):
            if d == "0":
                zero = bool(out)
            else:
                out += ("零" if zero else "") + digits[int(d)] + units[3 - i]
                zero = False
        return out

    high, low = divmod(value, 10000)
    text = (group(high) + "万" if high else "") + (("零" if high and low < 1000 and low else "") + group(low))
    return text + "元整"


class TextSampler:
    """Draws line texts: Chinese corpus snippets, English snippets, mixed lines, generated numbers/dates/codes,
    and uniform random characters so every class is seen."""

    KINDS = ("zh", "zh", "zh", "en", "en", "en", "receipt", "mixed", "numeric", "formula", "random", "plate")
    PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
    TOTALS = ("TOTAL", "SUBTOTAL", "SUB TOTAL", "GRAND TOTAL", "NET TOTAL", "TOTAL INCL. GST", "CASH", "CHANGE",
              "CHANGE DUE", "TAX", "GST 6%", "SST 10%", "VAT 20%", "SERVICE CHARGE 10%", "ROUNDING ADJ", "DISCOUNT",
              "TOTAL QTY", "AMOUNT DUE", "BALANCE", "VISA", "MASTERCARD", "TIP", "Total", "Subtotal", "Cash")
    FIELDS = ("INVOICE NO", "INV NO", "RECEIPT #", "BILL NO", "ORDER", "TABLE", "CASHIER", "TERMINAL", "GST ID",
              "GST REG NO", "TAX ID", "VAT NO", "CO REG", "COMPANY REG NO.", "DOC NO", "REF", "Member No", "Pax")
    COMPANY = ("SDN BHD", "SDN. BHD.", "(M) SDN BHD", "PTE LTD", "LTD", "INC", "LLC", "CO.", "ENTERPRISE",
               "TRADING", "RESTAURANT", "MART", "STORE", "HARDWARE", "PHARMACY", "CAFE", "BAKERY", "GMBH")
    STREETS = ("ROAD", "STREET", "AVENUE", "JALAN", "LORONG", "BLVD", "DRIVE", "LANE", "ST", "RD", "AVE", "TAMAN")
    COLUMNS = ("QTY", "Qty", "ITEM", "Item", "DESCRIPTION", "Description", "DESC", "PRICE", "Price", "UNIT PRICE",
               "U/P", "U.PRICE", "AMOUNT", "Amount", "AMT", "Amt", "TOTAL", "Total", "DISC", "Disc", "TAX", "Tax",
               "CODE", "UOM", "S/N", "NO.", "PCS", "Amount(RM)", "Price(RM)", "Tax(RM)", "AMT($)", "EXT")
    TITLES = ("TAX INVOICE", "Tax Invoice", "CASH BILL", "CASH SALES", "OFFICIAL RECEIPT", "SALES RECEIPT",
              "SIMPLIFIED TAX INVOICE", "INVOICE", "RECEIPT", "GST SUMMARY", "TAX SUMMARY", "CUSTOMER COPY",
              "MERCHANT COPY", "DUPLICATE", "REPRINT")
    FOOTERS = ("THANK YOU", "Thank You", "THANK YOU, PLEASE COME AGAIN", "Thank you. Please come again.",
               "GOODS SOLD ARE NOT RETURNABLE", "NO REFUND", "NO EXCHANGE", "NO REFUND OR EXCHANGE",
               "PRICES INCLUSIVE OF TAX", "PRICE INCLUSIVE OF GST", "KEEP THIS RECEIPT", "HAVE A NICE DAY",
               "PLEASE KEEP YOUR RECEIPT", "EXCHANGE WITHIN 7 DAYS", "SERVED BY", "Served by", "CASHIER", "COUNTER")
    TAX_MARKS = (" SR", " ZR", " S", " Z", " *S", " *Z", " *", " T", " E", "S", "*", " X")  # after an item's amount
    BANNERS = TITLES + FOOTERS  # lines set alone, or framed: "*** THANK YOU ***"
    COUNTS = ("ITEM(S)", "Item(s)", "QTY(S)", "Qty(s)", "TOTAL ITEMS", "No. of Items", "Total Qty", "TOTAL QTY",
              "PAX", "ITEM COUNT")

    def __init__(self, charset: list[str], held_out: bool = False, corpora: Path = CORPORA) -> None:
        self.charset = charset
        self.allowed = set(charset)
        self.hanzi = [c for c in charset if "\u4e00" <= c <= "\u9fff"]
        zh, en = [], []
        for path in sorted(corpora.glob("*.txt")):
            if path.name == "README.md":
                continue
            records = [r for r in _read_records(path) if _held_out_text(r) == held_out]
            (en if path.name.startswith("en_") else zh).extend(records)
        self.zh = [self._clean(r) for r in zh]
        self.zh = [r for r in self.zh if len(r) >= 2]
        self.en_words = [w for r in en for w in self._clean(r).split(" ") if w]
        self.en_plain = [w for w in (w.strip(string.punctuation) for w in self.en_words) if w.isalpha()]
        if not self.zh or not self.en_words:
            raise FileNotFoundError(f"TextSampler: no Chinese and English corpus text (zh_*.txt, en_*.txt) in {corpora}")

    def frequent_chars(self, n: int) -> list[str]:
        """The n most frequent characters of the corpora (all of ASCII's letters and digits included)."""
        counts = collections.Counter(c for line in self.zh for c in line)
        counts.update(c for w in self.en_words[:200000] for c in w)
        ranked = [c for c, _ in counts.most_common() if c != " "]
        basics = [c for c in string.ascii_letters + string.digits if c in self.allowed]
        return list(dict.fromkeys(basics + ranked))[:n]

    def _clean(self, text: str) -> str:
        return "".join(c for c in normalize_label(text) if c in self.allowed).strip()

    def sample(self, rng: random.Random, kind: str | None = None) -> str:
        kind = kind or rng.choice(self.KINDS)
        text = self._clean(getattr(self, "_" + kind)(rng))
        return text or self._random(rng)

    def _zh(self, rng: random.Random) -> str:
        line = rng.choice(self.zh)
        n = rng.randint(1, 18)
        start = rng.randint(0, max(0, len(line) - n))
        text = line[start : start + n]
        if len(text) > 3 and rng.random() < 0.1:  # a gap inside a line, as in titles and form fields
            cut = rng.randint(1, len(text) - 1)
            text = text[:cut] + " " + text[cut:]
        return text

    def _en(self, rng: random.Random) -> str:
        n_words = rng.randint(1, 7)
        start = rng.randint(0, len(self.en_words) - n_words)
        words = self.en_words[start : start + n_words]
        style = rng.random()
        text = " ".join(words)
        if style < 0.3:  # receipts and signs are often set in capitals
            text = text.upper()
        elif style < 0.4:
            text = text.title()
        elif style < 0.45:
            text = text.lower()
        return text[: rng.randint(4, 48)] if len(text) > 48 else text

    def _receipt(self, rng: random.Random) -> str:
        """A line of a receipt or invoice, mostly in capitals as till printers set them: items with quantities and
        prices (with item codes and tax marks), totals, company names ("CASH & CARRY"), addresses, phone, tax and
        invoice numbers, dates, e-mail, column headings, titles and closing messages, item counts, tax-summary rows,
        rules of symbols."""
        r = rng.randint

        def words(lo: int, hi: int) -> str:
            n = r(lo, hi)
            start = r(0, len(self.en_plain) - n)
            return " ".join(self.en_plain[start : start + n])

        def money() -> str:
            return f"{r(0, 999)}.{r(0, 99):02d}"

        def code() -> str:
            return "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(r(3, 12)))

        def framed() -> str:  # "*** THANK YOU ***"
            mark, gap = rng.choice("*=-#~") * r(1, 6), rng.choice(["", " "])
            return f"{mark}{gap}{rng.choice(self.BANNERS)}{gap}{mark}"

        currency = rng.choice(["RM", "$", "USD", "SGD", "€", "£", "¥", ""])
        choices = [
            lambda: f"{words(1, 4)} {money()}",
            lambda: f"{r(1, 12)} x {money()}" + rng.choice(["", f" {money()}"]),
            lambda: f"{r(1, 12)} {words(1, 3)} {money()} {money()}",
            lambda: f"{code()} {words(1, 3)}",
            lambda: f"{rng.choice(self.TOTALS)}{rng.choice([' ', ': ', ' : ', f' ({currency}) '])}{currency}{money()}",
            lambda: f"{words(1, 3)} {rng.choice(self.COMPANY)}" + rng.choice(["", f" ({r(1000, 999999)}-{code()[0]})"]),
            lambda: f"{rng.choice(self.FIELDS)}{rng.choice([': ', ' : ', ' ', '#'])}{code()}",
            lambda: f"NO {r(1, 300)}{rng.choice(['', '-' + str(r(1, 9)), ', ' + code()[:3]])}, {words(1, 2)} "
                    f"{rng.choice(self.STREETS)} {r(1, 30)},",
            lambda: f"{r(10000, 99999)} {words(1, 2)}" + rng.choice(["", f", {words(1, 1)}"]),
            lambda: f"{rng.choice(['TEL', 'Tel', 'FAX', 'PHONE'])}{rng.choice([': ', ' : ', ' '])}"
                    f"{rng.choice(['', '+60 ', '(', '1-'])}{r(1, 999):02d}{rng.choice(['-', ') ', ' '])}{r(100, 9999)} {r(1000, 9999)}",
            lambda: f"{r(1, 28):02d}/{r(1, 12):02d}/{r(2010, 2030)} {r(0, 23):02d}:{r(0, 59):02d}"
                    + rng.choice(["", f":{r(0, 59):02d}", " AM", " PM"]),
            lambda: f"{words(1, 1)}{rng.choice(['@gmail.com', '@yahoo.com', '.com.my', '.com'])}",
            lambda: words(2, 7),
            lambda: (" " * r(1, 3)).join(rng.sample(self.COLUMNS, r(2, 5))),  # column headings
            lambda: rng.choice(self.BANNERS),
            lambda: f"{rng.choice(self.COUNTS)}{rng.choice([': ', ' : ', ' ', ':'])}{r(1, 40)}",
            lambda: f"{rng.choice(['SR', 'ZR', 'S', 'Z', 'E', 'T'])}{rng.choice([' ', ' = ', ':'])}"
                    f"{rng.choice(['GST', 'SST', 'VAT', 'TAX'])} @{rng.choice([0, 5, 6, 7, 8, 10, 20])}%"
                    + rng.choice(["", f" {money()} {money()}"]),  # tax summary rows
            lambda: f"{r(1, 24)} {rng.choice(['@', 'X', 'x'])} {rng.choice([currency + ' ', ''])}{money()}",
            lambda: f"{code()} {words(1, 3)} {r(1, 12)} {money()}{rng.choice(self.TAX_MARKS)}",  # item code, tax mark
            lambda: f"{words(1, 2)}{rng.choice(['&', ' & '])}{words(1, 2)}"
                    + rng.choice(["", f" {rng.choice(self.COMPANY)}"]),  # "CASH & CARRY"
            lambda: f"NO {r(1, 99)}{rng.choice(['&', ' & '])}{r(1, 99)}, {words(1, 2)} {rng.choice(self.STREETS)}",
            lambda: rng.choice("*=-#~.") * r(6, 40),  # a rule of symbols between a receipt's parts
            framed,
        ]
        text = rng.choice(choices)()
        return text.upper() if rng.random() < 0.75 else text

    def _mixed(self, rng: random.Random) -> str:
        parts = [self._zh(rng)[:8], rng.choice([self._numeric(rng), rng.choice(self.en_words)])]
        rng.shuffle(parts)
        return rng.choice(["", " ", "：", ":"]).join(parts)

    def _numeric(self, rng: random.Random) -> str:
        r = rng.randint
        choices = [
            lambda: f"{r(1990, 2035)}-{r(1, 12):02d}-{r(1, 28):02d}",
            lambda: f"{r(1, 28):02d}/{r(1, 12):02d}/{r(1990, 2035)}",
            lambda: f"{r(1990, 2035)}年{r(1, 12)}月{r(1, 28)}日",
            lambda: f"{rng.choice(['RM', '$', '￥', '¥', 'USD ', '€', ''])}{r(0, 99999)}.{r(0, 99):02d}",
            lambda: f"{r(0, 999)},{r(0, 999):03d}.{r(0, 99):02d}",
            lambda: f"{rng.choice(['TEL', 'Tel:', '电话：', 'Fax'])} {r(10, 99):02d}-{r(1000000, 99999999)}",
            lambda: "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(r(4, 14))),
            lambda: f"{r(1, 999)} x {r(1, 99)}.{r(0, 99):02d} = {r(1, 9999)}.{r(0, 99):02d}",
            lambda: f"{r(0, 23):02d}:{r(0, 59):02d}:{r(0, 59):02d}",
            lambda: f"{r(1, 100)}%",
            lambda: f"No. {r(100000, 99999999)}",
            lambda: f"{rng.choice('xyzabn')}{rng.choice('+-×÷=≤≥≠≈')}{r(0, 99)}{rng.choice(['', '°', 'π', '√2', '‰'])}",
            lambda: f"{rng.choice('αβγδλμσθπΩΔΣ')} = {r(0, 9)}.{r(0, 999)} ± {r(0, 9)}.{r(0, 99)}",
            lambda: rng.choice(["人民币", "合计：", "金额（大写）", ""]) + _chinese_amount(r(1, 999999)),
        ]
        return rng.choice(choices)()

    def _formula(self, rng: random.Random) -> str:
        """A formula as set in English technical text: terms joined by operators, set membership and intervals,
        limits, integrals, sums, functions and Greek letters; operators spaced or set tight, sometimes after words."""
        r = rng.randint
        sp = " " if rng.random() < 0.7 else ""

        def var() -> str:
            return rng.choice([rng.choice("abcdfhkmnpqrstuvwxyz"), rng.choice("αβγδεθλμπρστφωΔΣΩ"),
                               f"{rng.choice('xyzant')}{r(0, 9)}"])

        def num() -> str:
            return rng.choice([str(r(0, 99)), f"{r(0, 99)}.{r(0, 999)}", str(r(100, 99999)), f"{r(1, 9)}/{r(2, 9)}"])

        def term() -> str:
            return rng.choice([
                var, num, var, lambda: f"{num()}{var()}",
                lambda: f"{rng.choice(['sin', 'cos', 'tan', 'log', 'ln', 'exp', 'f', 'g'])}({var()})",
                lambda: f"({var()}{sp}{rng.choice('+-')}{sp}{num()})", lambda: f"√{rng.choice([num(), var()])}",
                lambda: f"|{var()}|", lambda: f"{var()}^{r(2, 4)}", lambda: f"{var()}/{var()}",
            ])()

        def expr(n: int) -> str:
            return f"{sp}{rng.choice('+-×÷·/')}{sp}".join(term() for _ in range(n))

        rel = f"{sp}{rng.choice(['=', '=', '≤', '≥', '<', '>', '≠', '≈', '±', '→'])}{sp}"
        left, right = rng.choice("[("), rng.choice("])")
        text = rng.choice([
            lambda: f"{expr(r(1, 3))}{rel}{expr(r(1, 2))}",
            lambda: f"{var()} ∈ {left}{num()}, {rng.choice([num(), '∞'])}{right}",
            lambda: f"lim {var()}→{rng.choice(['∞', '0', num()])} {expr(r(1, 2))}{rel}{num()}",
            lambda: f"∫ {expr(r(1, 2))} d{rng.choice('xtuθ')}{rel}{expr(1)}",
            lambda: f"∑ {expr(r(1, 2))}{rel}{num()}",
            lambda: f"{var()}{rel}{num()} ± {num()}{rng.choice(['', ' kg', ' m/s', ' cm', '%', '°', ' Hz'])}",
            lambda: f"{num()}{sp}×{sp}{num()}{sp}÷{sp}{num()}{sp}={sp}{var()}",
        ])()
        if rng.random() < 0.35:  # a formula inside a sentence
            n = r(1, 5)
            start = r(0, len(self.en_words) - n)
            words = " ".join(self.en_words[start : start + n])
            text = rng.choice([f"{words} {text}", f"{text}, {words}", f"{words}: {text}"])
        return text

    def _plate(self, rng: random.Random) -> str:
        """A Chinese licence plate number as registered (the plate's separator dot is decoration, not text)."""
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        tail = "".join(rng.choice(letters + "0123456789" * 2) for _ in range(rng.choice([5, 5, 5, 6])))
        return rng.choice(self.PROVINCES) + rng.choice(letters) + tail

    def _random(self, rng: random.Random) -> str:
        n = rng.randint(1, 12)
        pool = self.hanzi if rng.random() < 0.8 else self.charset
        return "".join(rng.choice(pool) for _ in range(n))


class LineRenderer:
    """Renders a text line with a random covering font and degradations; returns a uint8 gray image of height 32."""

    def __init__(self, fonts: list[FontFace], height: int = 32) -> None:
        self.fonts = fonts
        self.height = height

    def fonts_for(self, text: str) -> list[FontFace]:
        needed = set(text) - {" "}
        return [f for f in self.fonts if needed <= f.chars]

    def pick_font(
        self, text: str, rng: random.Random, clean: bool = False, mono: bool = False
    ) -> tuple[int, ImageFont.FreeTypeFont, FontFace] | None:
        """(size, font, face): a random font covering the text (monospaced when `mono` and one covers it), 22-44 px
        (32 when `clean`); None when none covers it."""
        candidates = self.fonts_for(text)
        if mono:
            candidates = [f for f in candidates if f.mono] or candidates
        if not candidates:
            return None
        face = rng.choice(candidates)
        size = 32 if clean else rng.randint(22, 44)
        return size, _pil_font(face.path, face.index, size), face

    def render(self, text: str, rng: random.Random, clean: bool = False, receipt: bool = False) -> np.ndarray | None:
        """The line in a random covering font; unless `clean`, with the look of real crops: light-on-dark and
        low-contrast colours, bold, letter spacing, handwriting-like jitter, clutter and neighbouring lines in the
        background, shop-sign letters (outlined, shadowed or 3-D), coloured text over coloured patterns grayed,
        dot-matrix, faded or worn-thin thermal print, slanted or bent lines, tight crops, condensed or expanded
        shapes. A `receipt` line is more often monospaced, letter-spaced, dot-matrix, faded, thin or bent, as till
        printers print and curled paper shows them.
        None when no font covers the text or nothing readable is left (gray levels' spread under 5)."""
        picked = self.pick_font(text, rng, clean, mono=receipt and rng.random() < 0.6)
        if picked is None:
            return None
        size, font, face = picked
        bg, fg = (255, 0) if clean else self.colors(rng)

        def chance(p: float, on_receipt: float | None = None) -> bool:
            return not clean and rng.random() < (on_receipt if receipt and on_receipt is not None else p)

        spacing = rng.uniform(0.02, 0.35) * size if chance(0.2, 0.35) else 0.0
        jitter = rng.uniform(0.02, 0.07) * size if chance(0.1) else 0.0
        stroke = (2 if size >= 36 and not face.cjk else 1) if chance(0.12) else 0  # fake bold; 2 px only where strokes are few
        width = int(font.getlength(text) + (spacing + 2 * stroke) * len(text) + size * 2)
        height = size * 3
        ink = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(ink)
        if spacing or jitter:
            x = size / 2
            for ch in text:
                draw.text((x, size + rng.uniform(-jitter, jitter)), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
                x += font.getlength(ch) + spacing + stroke
        else:
            draw.text((size / 2, size), text, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        alpha = np.asarray(ink).astype(np.float32) / 255.0
        rows, cols = np.flatnonzero((alpha > 0.16).any(1)), np.flatnonzero((alpha > 0.16).any(0))
        if len(rows) == 0:
            return None
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        ink_h = max(bottom - top, size * 0.5)
        if chance(0.07, 0.25):
            alpha = self._dot_matrix(alpha, size, rng)
        elif chance(0.06, 0.2):
            alpha = self._thin(alpha, size, rng)
        if chance(0.1, 0.25):  # faded thermal print, never fainter than 35 gray levels from the paper
            alpha *= self._smooth_field(alpha.shape, rng, min(1.0, max(0.3, 35 / abs(bg - fg))), 1.0)
        back = Image.new("L", (width, height), color=bg)
        if chance(0.15):
            self._clutter(ImageDraw.Draw(back), width, height, bg, fg, rng)
        neighbours: list[float] = []
        if chance(0.3):  # parts of the lines above and below, as in tight page layouts
            gap = rng.uniform(1.0, 1.35) * ink_h
            neighbours = rng.sample([-gap, gap], rng.randint(1, 2))
            for dy in neighbours:
                other = "".join(rng.sample(text, len(text)))
                ImageDraw.Draw(back).text((size / 2 + rng.uniform(-size, size), size + dy), other, font=font, fill=fg)
        base = np.asarray(back).astype(np.float32)
        coloured = self._in_colour(alpha, np.abs(base - bg) / max(abs(fg - bg), 1), rng) if chance(0.12, 0.0) else None
        if coloured is not None:  # coloured text on a coloured background, then grayed as the pipeline grays it
            img, bg = coloured
        else:
            if chance(0.12, 0.0):  # shop-sign letters: outlined, shadowed or 3-D
                base, behind = self._sign(base, alpha, size, fg, rng)
                rows, cols = np.flatnonzero((behind > 0.16).any(1)), np.flatnonzero((behind > 0.16).any(0))
                top, bottom = min(top, rows[0]), max(bottom, rows[-1] + 1)
                left, right = min(left, cols[0]), max(right, cols[-1] + 1)
            img = np.clip(base * (1 - alpha) + fg * alpha, 0, 255).astype(np.uint8)
        if chance(0.15):  # a slanted line cut out by its upright box, as on photographed receipts
            img, (top, bottom, left, right) = self._slant(img, (top, bottom, left, right), ink_h, bg, rng)
        if chance(0.1, 0.25):  # a line bent with curled paper, neighbours and all
            img, (top, bottom) = self._bend(img, (top, bottom, left, right), ink_h, bg, rng)
        if clean:
            m = int(0.15 * ink_h)
            y0, y1, x0, x1 = top - m, bottom + m, left - m, right + m
        elif chance(0.15):  # tight crop that cuts into the ink
            y0, y1 = top + int(rng.uniform(0, 0.1) * (bottom - top)), bottom - int(rng.uniform(0, 0.1) * (bottom - top))
            x0, x1 = left - int(rng.uniform(-0.03, 0.2) * ink_h), right + int(rng.uniform(-0.03, 0.2) * ink_h)
        else:
            y0 = top - int(rng.uniform(0.0, 0.4) * ink_h)
            y1 = bottom + int(rng.uniform(0.0, 0.4) * ink_h)
            x0 = left - int(rng.uniform(0.0, 0.6) * ink_h)
            x1 = right + int(rng.uniform(0.0, 0.6) * ink_h)
            for dy in neighbours:  # a loose box reaching well into a neighbouring line (receipt photos)
                if rng.random() < 0.5:
                    reach = int(rng.uniform(0.4, 0.9) * ink_h)
                    y0, y1 = (top - reach, y1) if dy < 0 else (y0, bottom + reach)
        pad = int(ink_h)
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=bg)
        img = img[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
        if not clean:
            img = self.degrade(img, rng, bg)
        line = self.to_height(img, rng.uniform(0.65, 1.35) if chance(0.3) else 1.0)
        return line if float(line.std()) >= 5 else None  # looks piled on a faint line can leave nothing to read

    def render_junk(self, text: str, rng: random.Random) -> np.ndarray | None:
        """What a detector finds that is no line of text, as a gray crop of height 32: the top or bottom sliver of
        `text` rendered as a line (the edge of a neighbouring line), or shapes and rules on a plain or textured
        background."""
        if rng.random() < 0.5:
            line = self.render(text, rng)
            if line is None:
                return None
            h = line.shape[0]
            cut = max(2, int(h * rng.uniform(0.15, 0.35)))
            sliver = line[:cut] if rng.random() < 0.5 else line[h - cut :]
            return cv2.resize(sliver, (sliver.shape[1], self.height), interpolation=cv2.INTER_LINEAR)
        width, (bg, fg) = rng.randint(40, 400), self.colors(rng)
        back = Image.new("L", (width, self.height), bg)
        self._clutter(ImageDraw.Draw(back), width, self.height, bg, fg, rng)
        return self.degrade(np.asarray(back).copy(), rng, bg)

    def render_plate(self, text: str, rng: random.Random) -> np.ndarray | None:
        """A licence plate: condensed characters in fixed cells, a separator dot after the second, a border."""
        candidates = self.fonts_for(text)
        if not candidates:
            return None
        face = rng.choice(candidates)
        size = rng.randint(28, 44)
        font = _pil_font(face.path, face.index, size)
        bg, fg = (rng.randint(40, 120), rng.randint(190, 255)) if rng.random() < 0.7 else (rng.randint(150, 230), rng.randint(0, 70))
        cell_w, cell_h = int(size * rng.uniform(0.5, 0.65)), int(size * 0.95)
        gap, sep, margin = int(size * rng.uniform(0.08, 0.16)), int(size * rng.uniform(0.3, 0.5)), size // 4
        width = 2 * margin + len(text) * cell_w + (len(text) - 1) * gap + sep
        height = cell_h + 2 * margin
        img = np.full((height, width), bg, np.float32)
        x = margin
        for i, ch in enumerate(text):
            glyph = Image.new("L", (size * 2, size * 2), 0)
            ImageDraw.Draw(glyph).text((size, size), ch, font=font, fill=255, anchor="mm")
            a = np.asarray(glyph)
            rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
            if len(rows):
                a = cv2.resize(a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], (cell_w, cell_h), interpolation=cv2.INTER_AREA)
                cell = img[margin : margin + cell_h, x : x + cell_w]
                img[margin : margin + cell_h, x : x + cell_w] = cell * (1 - a / 255.0) + fg * a / 255.0
            x += cell_w + gap
            if i == 1:
                cv2.circle(img, (x + sep // 2 - gap // 2, height // 2), max(1, size // 16), fg, -1)
                x += sep
        if rng.random() < 0.7:
            t = rng.randint(1, 2)
            cv2.rectangle(img, (t, t), (width - 1 - t, height - 1 - t), fg, t)
        img = img.astype(np.uint8)
        if rng.random() < 0.6:
            img, bg = self._photographed(img, rng)
        else:
            top, bottom, left, right = (max(0, int(rng.uniform(-0.05, 0.3) * margin)) for _ in range(4))
            img = img[top : height - bottom, left : width - right]
        return self.to_height(self.degrade(img, rng, bg), 1.0)

    @staticmethod
    def _photographed(plate: np.ndarray, rng: random.Random) -> tuple[np.ndarray, int]:
        """A plate as cut from a photo: skewed and sheared (one end lower, the top shifted sideways) on a car-body
        background, cut out by its upright box with a margin of 0-25% of its height on each side, as a detector's
        box around a tilted plate is. Returns the crop and its background's gray level."""
        h, w = plate.shape
        dy, dx = rng.uniform(-0.35, 0.35) * h, rng.uniform(-0.25, 0.25) * h
        pad = int(h + abs(dy) + abs(dx))
        quad = np.float32([[pad + dx, pad], [pad + w + dx, pad + dy], [pad + w, pad + h + dy], [pad, pad + h]])
        quad += np.float32([[rng.uniform(-0.05, 0.05) * h for _ in range(2)] for _ in range(4)])
        size = (w + 2 * pad, h + 2 * pad)
        m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), quad)
        warped = cv2.warpPerspective(plate.astype(np.float32), m, size)
        alpha = cv2.warpPerspective(np.ones_like(plate, np.float32), m, size)
        bg = rng.randint(0, 255)
        back = bg + np.linspace(rng.uniform(-40, 40), rng.uniform(-40, 40), size[0], dtype=np.float32)[None, :]
        img = np.clip(back * (1 - alpha) + warped * alpha, 0, 255).astype(np.uint8)
        (x0, y0), (x1, y1) = quad.min(0), quad.max(0)
        mx0, mx1, my0, my1 = (rng.uniform(0, 0.25) * h for _ in range(4))
        return img[int(y0 - my0) : int(y1 + my1) + 1, int(x0 - mx0) : int(x1 + mx1) + 1], bg

    def to_height(self, img: np.ndarray, stretch: float = 1.0) -> np.ndarray:
        """A gray crop resized to the renderer's height, its width scaled by `stretch` beyond the aspect ratio."""
        h, w = img.shape
        new_w = max(4, int(round(w * stretch * self.height / h)))
        interp = cv2.INTER_AREA if h > self.height else cv2.INTER_CUBIC
        return cv2.resize(img, (new_w, self.height), interpolation=interp)

    @staticmethod
    def colors(rng: random.Random) -> tuple[int, int]:
        """(background, ink) grays: dark on light, light on dark (signs, plates) or low contrast (colour photos)."""
        r = rng.random()
        if r < 0.65:
            return rng.randint(150, 255), rng.randint(0, 100)
        if r < 0.85:
            return rng.randint(0, 110), rng.randint(160, 255)
        bg = rng.randint(30, 225)
        d = rng.uniform(45, 110)
        return bg, int(bg + d if bg + d <= 255 and (bg - d < 0 or rng.random() < 0.5) else bg - d)

    @staticmethod
    def _in_colour(alpha: np.ndarray, others: np.ndarray, rng: random.Random) -> tuple[np.ndarray, int] | None:
        """The ink `alpha` (and `others`: neighbouring lines and clutter, 0-1) in a colour of any hue, near white or
        near black, over a coloured background (a two-hue gradient, stripes or translucent shapes), sometimes with a
        soft shadow, converted to gray with the luma weights the pipeline uses: (gray crop, its background's median
        gray). Colours of different hues can gray to close levels; None when ink and background end up under 20
        gray levels apart (unreadable in gray)."""
        h, w = alpha.shape
        nrng = np.random.default_rng(rng.getrandbits(32))

        def colour(lo: float, hi: float) -> np.ndarray:
            r, g, b = colorsys.hls_to_rgb(rng.random(), rng.uniform(lo, hi), rng.uniform(0.3, 0.9))
            return np.float32([r, g, b]) * 255

        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0, math.pi)
        along = xx * math.cos(angle) + yy * math.sin(angle)
        c0, c1 = colour(0.25, 0.85), colour(0.25, 0.85)
        style = rng.choice(("gradient", "stripes", "shapes"))
        if style == "gradient":
            t = (along - along.min()) / max(float(np.ptp(along)), 1.0)
        elif style == "stripes":
            period = rng.uniform(8, 40)
            t = cv2.GaussianBlur((along % period < period * rng.uniform(0.3, 0.7)).astype(np.float32), (0, 0), 0.8)
        else:
            t = np.zeros((h, w), np.float32)
        back = c0 * (1 - t[..., None]) + c1 * t[..., None]
        if style == "shapes":
            for _ in range(rng.randint(3, 8)):
                mask = np.zeros((h, w), np.uint8)
                x0, y0 = rng.randint(0, w), rng.randint(0, h)
                axes = (rng.randint(5, max(6, w // 3)), rng.randint(5, 2 * h))
                if rng.random() < 0.5:
                    cv2.rectangle(mask, (x0, y0), (x0 + axes[0], y0 + axes[1]), 1, -1)
                else:
                    cv2.ellipse(mask, (x0, y0), axes, 0, 0, 360, 1, -1)
                a = mask[..., None].astype(np.float32) * rng.uniform(0.3, 0.7)
                back = back * (1 - a) + colour(0.2, 0.9) * a
        back += nrng.normal(0, 6, (h, w, 1)).astype(np.float32)
        light = float(back.mean()) < 128 if rng.random() < 0.7 else rng.random() < 0.5
        ink = colour(0.88, 1.0) if light else colour(0.0, 0.18)
        if rng.random() < 0.4:
            shift = np.float32([[1, 0, rng.randint(1, 3)], [0, 1, rng.randint(1, 3)]])
            shadow = cv2.GaussianBlur(cv2.warpAffine(alpha, shift, (w, h)), (0, 0), 1.0)[..., None]
            back = back * (1 - shadow) + colour(*((0.0, 0.1) if light else (0.9, 1.0))) * shadow  # opposite the ink
        a = np.maximum(alpha, others)[..., None]
        rgb = np.clip(back * (1 - a) + ink * a, 0, 255).astype(np.uint8)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        paper = float(np.median(cv2.cvtColor(np.clip(back, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)))
        strokes = gray[alpha > 0.5]
        if strokes.size == 0 or abs(float(np.median(strokes)) - paper) < 20:
            return None
        return gray, int(paper)

    @staticmethod
    def _smooth_field(shape: tuple[int, int], rng: random.Random, low: float, high: float) -> np.ndarray:
        h, w = shape
        coarse = np.random.default_rng(rng.getrandbits(32)).uniform(low, high, (max(2, h // 16), max(2, w // 16)))
        return cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC).clip(low, high)

    @staticmethod
    def _thin(alpha: np.ndarray, size: int, rng: random.Random) -> np.ndarray:
        """Strokes worn thin and broken, as a cheap thermal printer prints them: the ink eroded (unless that would
        leave almost none) and cut by small gaps."""
        k = max(2, round(size * rng.uniform(0.03, 0.06)))
        thin = cv2.erode(alpha, np.ones((k, k), np.uint8))
        if thin.sum() < 0.25 * alpha.sum():
            thin = alpha
        gaps = np.random.default_rng(rng.getrandbits(32)).random(alpha.shape) < rng.uniform(0.0, 0.05)
        gaps = cv2.dilate(gaps.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1)))
        return thin * (1 - gaps).astype(np.float32)

    @staticmethod
    def _sign(
        base: np.ndarray, alpha: np.ndarray, size: int, fg: int, rng: random.Random
    ) -> tuple[np.ndarray, np.ndarray]:
        """`letter_effects` behind the ink `alpha` (drawn in gray `fg`), painted on `base`: the new base and the
        effects' own mask (with the ink's, for the crop box)."""
        h, w = alpha.shape
        behind = alpha.copy()
        for dx, dy, (shade, *_), stroke in letter_effects(rng, size, (fg, fg, fg)):
            layer = alpha
            if stroke:
                disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * stroke + 1, 2 * stroke + 1))
                layer = cv2.dilate(alpha, disc)
            layer = cv2.warpAffine(layer, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h))
            base = base * (1 - layer) + shade * layer
            behind = np.maximum(behind, layer)
        return base, behind

    @staticmethod
    def _dot_matrix(alpha: np.ndarray, size: int, rng: random.Random) -> np.ndarray:
        """Ink kept only on a grid of round dots, like a dot-matrix or low-end thermal printer."""
        pitch = max(2, int(size / rng.uniform(7, 11)))
        grid = np.zeros(alpha.shape, np.uint8)
        grid[::pitch, ::pitch] = 1
        r = max(1, int(pitch * rng.uniform(0.35, 0.6)))
        dots = cv2.dilate(grid, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        return alpha * dots

    @staticmethod
    def _clutter(draw: ImageDraw.ImageDraw, width: int, height: int, bg: int, fg: int, rng: random.Random) -> None:
        """Shapes behind the text: boxes, bands, circles and strokes in grays between background and ink."""
        for _ in range(rng.randint(1, 5)):
            shade = int(bg + (fg - bg) * rng.uniform(0.15, 0.5))
            x0, y0 = rng.randint(0, width), rng.randint(0, height)
            x1, y1 = x0 + rng.randint(5, width), y0 + rng.randint(5, height)
            shape = rng.choice(("rect", "ellipse", "line"))
            if shape == "rect":
                draw.rectangle((x0, y0, x1, y1), fill=shade)
            elif shape == "ellipse":
                draw.ellipse((x0, y0, x1, y1), outline=shade, width=rng.randint(1, 4))
            else:
                draw.line((x0, y0, x1, y1), fill=shade, width=rng.randint(1, 3))

    @staticmethod
    def _slant(img: np.ndarray, box: tuple[int, int, int, int], ink_h: float, bg: int,
               rng: random.Random) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """The canvas turned by a small angle about the line's centre (at most what keeps the line's upright box
        within three ink heights), and that box: (top, bottom, left, right)."""
        top, bottom, left, right = box
        limit = min(math.radians(6.0), math.atan(2.0 * ink_h / max(right - left, 1)))
        angle = math.degrees(rng.uniform(0.3, 1.0) * limit) * rng.choice([-1, 1])
        centre = ((left + right) / 2, (top + bottom) / 2)
        m = cv2.getRotationMatrix2D(centre, angle, 1.0)
        img = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR, borderValue=bg)
        corners = np.float32([[left, top, 1], [right, top, 1], [right, bottom, 1], [left, bottom, 1]]) @ m.T
        (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
        h, w = img.shape[:2]
        return img, (max(0, int(y0)), min(h, math.ceil(y1)), max(0, int(x0)), min(w, math.ceil(x1)))

    @staticmethod
    def _bend(img: np.ndarray, box: tuple[int, int, int, int], ink_h: float, bg: int,
              rng: random.Random) -> tuple[np.ndarray, tuple[int, int]]:
        """The canvas bent along a gentle wave (a crest or two across the line, up to 0.35 ink heights deep), and
        the line's box's new top and bottom, grown to hold the bent ink."""
        top, bottom, left, right = box
        h, w = img.shape
        depth = rng.uniform(0.1, 0.35) * ink_h
        period = rng.uniform(1.0, 3.0) * max(right - left, 1)
        xs = np.arange(w, dtype=np.float32)
        shift = depth * np.sin(2 * np.pi * (xs - left) / period + rng.uniform(0, 2 * np.pi))
        map_x = np.broadcast_to(xs, (h, w)).astype(np.float32)
        map_y = (np.arange(h, dtype=np.float32)[:, None] - shift[None, :]).astype(np.float32)
        img = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=bg)
        span = shift[left:right]
        return img, (max(0, int(top + span.min())), min(h, math.ceil(bottom + span.max())))

    @staticmethod
    def _bilevel(img: np.ndarray, rng: random.Random) -> np.ndarray:
        """The crop as a bilevel scan: at a lower resolution, each pixel black or white against the mean of its
        surroundings less an offset (15-45% of the contrast: a small one bloats bold strokes, a large one breaks thin
        ones; local, so a shaded background does not turn black), enlarged back pixel by pixel."""
        h, w = img.shape
        f = rng.uniform(0.45, 1.0)
        small = cv2.resize(img, (max(2, int(w * f)), max(2, int(h * f))), interpolation=cv2.INTER_AREA)
        small = small.astype(np.float32)
        lo, hi = np.percentile(small, (5, 95))
        light_ink = np.median(small) < (lo + hi) / 2
        if light_ink:
            small = 255 - small
        k = 2 * small.shape[0] + 1
        dark = small < cv2.blur(small, (k, k)) - rng.uniform(0.15, 0.45) * max(hi - lo, 1.0)
        binary = np.where(dark != light_ink, 0, 255).astype(np.uint8)
        return cv2.resize(binary, (w, h), interpolation=cv2.INTER_NEAREST)

    def degrade(self, img: np.ndarray, rng: random.Random, bg: int) -> np.ndarray:
        """A gray crop on background `bg` with, each by chance, a texture, a perspective warp, a rule, low
        resolution, blur, noise, a bilevel scan's thresholding and JPEG artefacts."""
        h, w = img.shape
        if rng.random() < 0.3:  # background gradient / texture
            grad = np.linspace(rng.uniform(-40, 40), rng.uniform(-40, 40), w, dtype=np.float32)[None, :]
            tex = cv2.GaussianBlur(np.random.default_rng(rng.getrandbits(32)).normal(0, 25, (h, w)).astype(np.float32), (0, 0), rng.uniform(1, 4))
            img = np.clip(img.astype(np.float32) + grad + tex, 0, 255).astype(np.uint8)
        if rng.random() < 0.3:  # rotation / shear / perspective
            src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
            j = h * rng.uniform(0.03, 0.15)
            dst = src + np.float32([[rng.uniform(-j, j), rng.uniform(-j, j)] for _ in range(4)])
            m = cv2.getPerspectiveTransform(src, dst)
            img = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        if rng.random() < 0.15:  # table rule or underline
            y = rng.choice([rng.randint(0, 2), h - rng.randint(1, 3)])
            cv2.line(img, (0, y), (w, y), int(255 - bg if bg > 127 else 255), rng.randint(1, 2))
        if rng.random() < 0.3:  # low resolution
            f = rng.uniform(0.35, 0.8)
            small = cv2.resize(img, (max(2, int(w * f)), max(2, int(h * f))), interpolation=cv2.INTER_AREA)
            img = cv2.resize(small, (w, h), interpolation=rng.choice([cv2.INTER_LINEAR, cv2.INTER_NEAREST]))
        if rng.random() < 0.3:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.3))
        if rng.random() < 0.3:
            noise = np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(3, 18), img.shape)
            img = np.clip(img + noise, 0, 255).astype(np.uint8)
        if rng.random() < 0.1:  # bilevel scan (fax, cheap receipt scanners): thresholded, strokes broken or bloated
            img = self._bilevel(img, rng)
        if rng.random() < 0.25:
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(20, 80)])
            img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        return img

    def render_glyph(self, ch: str, rng: random.Random, size: int = 32) -> np.ndarray | None:
        """One character centred in a size x size box (for CNN pre-training)."""
        candidates = self.fonts_for(ch)
        if not candidates:
            return None
        face = rng.choice(candidates)
        font = _pil_font(face.path, face.index, rng.randint(int(size * 0.75), int(size * 1.0)))
        bg, fg = self.colors(rng)
        canvas = Image.new("L", (size * 2, size * 2), color=bg)
        ImageDraw.Draw(canvas).text((size, size), ch, font=font, fill=fg, anchor="mm")
        off = size // 2
        dx, dy = rng.randint(-2, 2), rng.randint(-2, 2)
        img = np.asarray(canvas)[off + dy : off + dy + size, off + dx : off + dx + size].copy()
        if rng.random() < 0.5:
            img = self.degrade(img, rng, bg)
        return img
