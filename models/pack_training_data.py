"""Pack what training renders from, the fonts and the text corpora, into one tar.xz for a machine that has neither
(a lent GPU machine, a cloud box without Debian's font packages):

    python -m models.pack_training_data training_data.tar.xz [--skip WORD]...
    # on the other machine, in the checkout:
    mkdir -p data && tar xJf training_data.tar.xz -C data
    LINEOCR_FONTS=data/fonts LINEOCR_CORPORA=data/corpora python -m models.train_crnn RECIPE --workers 14

Every font file that `discover_fonts` reads (training and held-out families) is cut down to the recognizer's charset
(models.charset), keeping its outlines, hinting, metrics and layout features, so that it renders the pixels of the
installed file (but for the odd glyph whose hinting program subsetting changes: β of DejaVu Sans Mono at 20 px), and
dropping the faces that `discover_fonts` skips (the Japanese, Korean and traditional-Chinese faces of a collection).
`--skip WORD` leaves out font files whose name holds WORD, to fit a size limit.
"""
from __future__ import annotations

import argparse
import tarfile
import tempfile
from pathlib import Path

from models import synth
from models.charset import build_charset


def subset_font(path: Path, out: Path, chars: str) -> int:
    """Write `path` cut down to `chars` (its kept faces, for a collection) to `out`; returns the faces kept."""
    from fontTools import subset
    from fontTools.ttLib import TTCollection, TTFont

    options = subset.Options()  # hinting kept: the same pixels as the installed file
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    collection = path.suffix == ".ttc"
    faces = TTCollection(str(path)).fonts if collection else [TTFont(str(path))]
    kept = [f for f in faces if not any(w in (f["name"].getDebugName(1) or "") for w in synth.SKIP_FACE_WORDS)]
    for face in kept:
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=chars)
        subsetter.subset(face)
    out.parent.mkdir(parents=True, exist_ok=True)
    if collection:
        packed = TTCollection()
        packed.fonts = kept
        packed.save(str(out))
    else:
        kept[0].save(str(out))
    return len(kept)


def pack(out: Path, skip: tuple[str, ...] = (), corpora: Path | None = None) -> None:
    """Write `out` (tar.xz) holding fonts/ (FONT_ROOT's layout, subset) and corpora/ (the corpora's .txt files)."""
    corpora = corpora or synth.CORPORA
    texts = sorted(corpora.glob("*.txt"))
    if not texts:
        raise FileNotFoundError(f"no corpus files (*.txt) in {corpora}")
    files = [Path(p) for p in synth.font_files(skip)]
    if not files:
        raise FileNotFoundError(f"no fonts under {synth.FONT_ROOT} (see models/install_fonts.sh)")
    chars = "".join(build_charset())
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(out, "w:xz") as tar:
        for path in files:
            dst = Path(tmp) / "fonts" / path.relative_to(synth.FONT_ROOT)
            faces = subset_font(path, dst, chars)
            print(f"{dst.stat().st_size / 1e6:6.2f} MB  {faces} face(s)  {path}", flush=True)
        tar.add(Path(tmp) / "fonts", arcname="fonts")
        for text in texts:
            tar.add(text, arcname=f"corpora/{text.name}")
    print(f"{out}: {len(files)} font files, {len(texts)} corpus files, {out.stat().st_size / 1e6:.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--skip", action="append", default=[], help="leave out font files whose name holds this")
    args = ap.parse_args()
    pack(args.out, tuple(args.skip))


if __name__ == "__main__":
    main()
