"""Packing the fonts and corpora for a machine without them (needs the `train` extra and the DejaVu fonts; skipped
without them): a packed font holds the charset's characters, renders the same pixels as the installed file, and the
training code finds the unpacked copy through LINEOCR_FONTS and LINEOCR_CORPORA."""
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("fontTools")
from models import synth  # noqa: E402
from models.charset import build_charset  # noqa: E402
from models.pack_training_data import pack  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GLOBS = ("truetype/dejavu/DejaVuSans.ttf", "truetype/dejavu/DejaVuSansMono.ttf")


def _draw(path: str, size: int) -> np.ndarray:
    image = Image.new("L", (16 * size, 2 * size), 0)
    ImageDraw.Draw(image).text((4, 4), "Receipt TOTAL 9.40 (x≤y) α", font=synth._pil_font(path, 0, size), fill=255)
    return np.asarray(image)


def test_packed_fonts_hold_the_charset_and_render_as_installed(tmp_path, monkeypatch):
    if not all((synth.FONT_ROOT / g).is_file() for g in GLOBS):
        pytest.skip("needs the DejaVu fonts (models/install_fonts.sh)")
    monkeypatch.setattr(synth, "FONT_GLOBS", GLOBS)
    corpora = tmp_path / "corpora"
    corpora.mkdir()
    (corpora / "zh_news.txt").write_text("今天天气很好\n%\n中文识别测试\n", encoding="utf-8")
    (corpora / "en_news.txt").write_text("The quick brown fox\n%\nHello world\n", encoding="utf-8")
    (corpora / "README.md").write_text("sources", encoding="utf-8")
    pack(tmp_path / "data.tar.xz", corpora=corpora)
    with tarfile.open(tmp_path / "data.tar.xz") as tar:
        tar.extractall(tmp_path / "data")
    assert sorted(p.name for p in (tmp_path / "data" / "corpora").iterdir()) == ["en_news.txt", "zh_news.txt"]

    installed = synth.discover_fonts()
    monkeypatch.setattr(synth, "FONT_ROOT", tmp_path / "data" / "fonts")
    packed = synth.discover_fonts()
    assert [(f.family, f.style, f.mono) for f in packed] == [(f.family, f.style, f.mono) for f in installed]
    charset = set(build_charset())
    for before, after in zip(installed, packed):
        assert before.chars & charset <= after.chars <= before.chars and "Ж" in before.chars - after.chars
        assert os.path.getsize(after.path) < os.path.getsize(before.path)
        for size in (12, 20, 32):
            assert np.array_equal(_draw(after.path, size), _draw(before.path, size))


def test_fonts_and_corpora_are_found_where_the_environment_says():
    env = {**os.environ, "LINEOCR_FONTS": "/data/fonts", "LINEOCR_CORPORA": "/data/corpora"}
    code = "from models.synth import FONT_ROOT, CORPORA; print(FONT_ROOT, CORPORA)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["/data/fonts", "/data/corpora"]
