"""Synthetic text lines: corpus and generated text rendered with Debian fonts, then degraded like real scans.

Fonts and corpus lines are split into a training part and a held-out part (by font family and by line hash), so
validation measures unseen fonts and unseen text.
"""
from __future__ import annotations

import collections
import functools
import glob
import hashlib
import random
import string
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.charset import normalize_label

FONT_GLOBS = (
    "/usr/share/fonts/opentype/noto/Noto*CJK-*.ttc",
    "/usr/share/fonts/truetype/wqy/*.ttc",
    "/usr/share/fonts/truetype/arphic/*.ttc",
    "/usr/share/fonts/truetype/lxgw-wenkai/*.ttf",
    "/usr/share/fonts/truetype/cwtex/*.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVu[SM]*.ttf",
    "/usr/share/fonts/truetype/liberation2/*.ttf",
    "/usr/share/fonts/truetype/freefont/*.ttf",
)
# Families never used for training: validation on them measures unseen-font accuracy.
HELD_OUT_FAMILIES = ("AR PL UMing CN", "FreeSerif", "FreeSans", "LXGW WenKai Mono")
# From multi-face collections keep only the simplified-Chinese faces (and the non-CJK ones).
SKIP_FACE_WORDS = (" JP", " KR", " TC", " HK", " TW")
CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpora"


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int
    family: str
    style: str
    chars: frozenset

    @property
    def cjk(self) -> bool:
        return "中" in self.chars


def discover_fonts(held_out: bool = False) -> list[FontFace]:
    """Installed font faces usable for rendering; `held_out` picks the validation families instead."""
    from fontTools.ttLib import TTCollection, TTFont

    faces = []
    for pattern in FONT_GLOBS:
        for path in sorted(glob.glob(pattern)):
            fonts = TTCollection(path).fonts if path.endswith(".ttc") else [TTFont(path)]
            for index, font in enumerate(fonts):
                family = font["name"].getDebugName(1) or Path(path).stem
                style = font["name"].getDebugName(2) or ""
                if any(w in family for w in SKIP_FACE_WORDS):
                    continue
                if (family in HELD_OUT_FAMILIES) != held_out:
                    continue
                cmap = font.getBestCmap() or {}
                faces.append(FontFace(path, index, family, style, frozenset(chr(c) for c in cmap)))
    return faces


@functools.lru_cache(maxsize=512)
def _pil_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


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

    KINDS = ("zh", "zh", "zh", "en", "en", "mixed", "numeric", "random")

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
        if style < 0.15:
            text = text.upper()
        elif style < 0.2:
            text = text.lower()
        return text[: rng.randint(4, 48)] if len(text) > 48 else text

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

    def render(self, text: str, rng: random.Random, clean: bool = False) -> np.ndarray | None:
        candidates = self.fonts_for(text)
        if not candidates:
            return None
        face = rng.choice(candidates)
        size = rng.randint(22, 44) if not clean else 32
        font = _pil_font(face.path, face.index, size)
        spacing = 0 if clean or rng.random() < 0.8 else rng.uniform(0.02, 0.35) * size
        bg, fg = (255, 0) if clean else self._colors(rng)
        width = int(font.getlength(text) + spacing * len(text) + size * 2)
        canvas = Image.new("L", (width, size * 2), color=bg)
        draw = ImageDraw.Draw(canvas)
        if spacing:
            x = size / 2
            for ch in text:
                draw.text((x, size / 2), ch, font=font, fill=fg)
                x += font.getlength(ch) + spacing
        else:
            draw.text((size / 2, size / 2), text, font=font, fill=fg)
        img = np.asarray(canvas)
        ink = np.abs(img.astype(np.int16) - bg) > 40
        rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
        if len(rows) == 0:
            return None
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        ink_h = max(bottom - top, size * 0.5)
        if clean:
            m = int(0.15 * ink_h)
            y0, y1, x0, x1 = top - m, bottom + m, left - m, right + m
        else:
            y0 = top - int(rng.uniform(0.0, 0.3) * ink_h)
            y1 = bottom + int(rng.uniform(0.0, 0.3) * ink_h)
            x0 = left - int(rng.uniform(0.0, 0.6) * ink_h)
            x1 = right + int(rng.uniform(0.0, 0.6) * ink_h)
        pad = int(ink_h)
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=bg)
        img = img[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
        if not clean:
            img = self._degrade(img, rng, bg)
        h, w = img.shape
        new_w = max(4, int(round(w * self.height / h)))
        interp = cv2.INTER_AREA if h > self.height else cv2.INTER_CUBIC
        return cv2.resize(img, (new_w, self.height), interpolation=interp)

    @staticmethod
    def _colors(rng: random.Random) -> tuple[int, int]:
        bg, fg = rng.randint(150, 255), rng.randint(0, 100)
        return (fg, bg) if rng.random() < 0.1 else (bg, fg)

    def _degrade(self, img: np.ndarray, rng: random.Random, bg: int) -> np.ndarray:
        h, w = img.shape
        if rng.random() < 0.3:  # background gradient / texture
            grad = np.linspace(rng.uniform(-40, 40), rng.uniform(-40, 40), w, dtype=np.float32)[None, :]
            tex = cv2.GaussianBlur(np.random.default_rng(rng.getrandbits(32)).normal(0, 25, (h, w)).astype(np.float32), (0, 0), rng.uniform(1, 4))
            img = np.clip(img.astype(np.float32) + grad + tex, 0, 255).astype(np.uint8)
        if rng.random() < 0.3:  # rotation / shear / perspective
            src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
            j = h * 0.08
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
        bg, fg = self._colors(rng)
        canvas = Image.new("L", (size * 2, size * 2), color=bg)
        ImageDraw.Draw(canvas).text((size, size), ch, font=font, fill=fg, anchor="mm")
        off = size // 2
        dx, dy = rng.randint(-2, 2), rng.randint(-2, 2)
        img = np.asarray(canvas)[off + dy : off + dy + size, off + dx : off + dx + size].copy()
        if rng.random() < 0.5:
            img = self._degrade(img, rng, bg)
        return img
