"""The recognizer's character set: GB2312 hanzi, printable ASCII, CJK punctuation, Greek and math signs."""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

CJK_PUNCTUATION = "，。、；：？！“”‘’（）《》〈〉【】「」『』—…·￥％～"
SYMBOLS = "±×÷≤≥≠≈√∑∏∫∞∈∂∆πµ°℃‰§№€£¥©®™•★☆○●□■△▲◆※→←↑↓①②③④⑤⑥⑦⑧⑨⑩"
GREEK = "".join(chr(c) for c in range(0x391, 0x3AA) if c != 0x3A2) + "".join(
    chr(c) for c in range(0x3B1, 0x3CA)
)


def gb2312_hanzi() -> list[str]:
    """The 6,763 hanzi of GB2312 (rows 16-87), in code order."""
    chars = []
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def build_charset() -> list[str]:
    """All recognizable characters (index 0 of the model's output is the CTC blank, not listed here)."""
    chars: list[str] = [chr(c) for c in range(0x20, 0x7F)]
    for group in (CJK_PUNCTUATION, SYMBOLS, GREEK, "".join(gb2312_hanzi())):
        chars.extend(group)
    seen: set[str] = set()
    return [c for c in chars if not (c in seen or seen.add(c))]


def normalize_label(text: str) -> str:
    """Map full-width ASCII letters/digits/space to ASCII (as recognised), keep CJK punctuation as it is."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\u3000":
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E and ch not in CJK_PUNCTUATION:
            out.append(chr(code - 0xFEE0))
        else:
            out.append(unicodedata.normalize("NFC", ch))
    return " ".join("".join(out).split())


def save_charset(chars: list[str], path: str | Path) -> None:
    Path(path).write_text(json.dumps({"blank": 0, "chars": chars}, ensure_ascii=False), encoding="utf-8")


def load_charset(path: str | Path) -> list[str]:
    """Read a charset file: JSON {"blank": 0, "chars": [...]}; class i+1 is chars[i]."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("blank", 0) != 0:
        raise ValueError(f"{path}: only blank index 0 is supported")
    return list(data["chars"])
