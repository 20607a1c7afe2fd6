"""The OCR systems the benchmark compares, each as a reader `path -> Document` for line crops or full pages.

- `lineocr-default`, `lineocr-fast`: configs/default.yaml and configs/fast.yaml (`detect.type=whole` for crops);
- `tesseract`: Tesseract 5 with `chi_sim+eng` (Debian's traineddata), `--psm 7` (one line) for crops and the
  default page segmentation (3) for pages, read as TSV. Through its C API (tesserocr, one engine kept loaded, as
  for the others) where tesserocr is installed, else through the command line (what pytesseract runs: a new
  process per image, whose time then includes loading the model, about a second here);
- `rapidocr`: PP-OCRv6 small (detection + recognition) and the PP-OCR angle classifier as ONNX, shipped inside the
  rapidocr wheel; crops are read by the recognizer alone.

Threads are pinned alike: lineocr `runtime.threads`, onnxruntime intra-op threads for rapidocr, `OMP_THREAD_LIMIT`
for Tesseract (set by the caller in the environment, with `OMP_NUM_THREADS`).
"""
from __future__ import annotations

import csv
import glob
import importlib.util
import io
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from shapely.geometry import Polygon, box

from pipeline.document import Document, Line, Page

ROOT = Path(__file__).resolve().parents[1]
LINEOCR = {"lineocr-default": "configs/default.yaml", "lineocr-fast": "configs/fast.yaml"}
REFERENCES = ("tesseract", "rapidocr")
SYSTEMS = (*LINEOCR, *REFERENCES)
TESSERACT_LANGS = "chi_sim+eng"
TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
Reader = Callable[[Path], Document]

_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def tessdata() -> Path | None:
    """The folder holding Tesseract's traineddata files (TESSDATA_PREFIX, else Debian's), None without them."""
    for folder in (os.environ.get("TESSDATA_PREFIX"), *sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"))):
        if folder and all((Path(folder) / f"{lang}.traineddata").is_file() for lang in TESSERACT_LANGS.split("+")):
            return Path(folder)
    return None


def _tesserocr() -> bool:
    return importlib.util.find_spec("tesserocr") is not None


def available(system: str) -> bool:
    """Whether `system` can run here (the references are optional: see benchmarks/install_references.sh)."""
    if system == "tesseract":
        return tessdata() is not None and (_tesserocr() or shutil.which("tesseract") is not None)
    if system == "rapidocr":
        return importlib.util.find_spec("rapidocr") is not None
    return system in LINEOCR


def version(system: str) -> str:
    from importlib.metadata import version as dist_version

    if system == "tesseract":
        if _tesserocr():
            import tesserocr
            return (f"{tesserocr.tesseract_version().splitlines()[0]} through tesserocr {dist_version('tesserocr')}, "
                    f"traineddata {TESSERACT_LANGS} from {tessdata()}")
        cli = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        return f"{cli} (command line)"
    if system == "rapidocr":
        return (f"rapidocr {dist_version('rapidocr')} (PP-OCRv6 small det + rec, "
                f"onnxruntime {dist_version('onnxruntime')})")
    return f"lineocr {LINEOCR[system]} (onnxruntime {dist_version('onnxruntime')})"


def make_reader(system: str, kind: str, threads: int) -> Reader:
    """A reader for `kind` ("crops" or "pages") with `threads` compute threads."""
    if system in LINEOCR:
        from pipeline.pipeline import Pipeline

        sets = [f"runtime.threads={threads}"] + (["detect.type=whole"] if kind == "crops" else [])
        ocr = Pipeline.from_config(ROOT / LINEOCR[system], sets)
        return lambda path: ocr(path)
    if system == "tesseract":
        return _tesseract_api(kind) if _tesserocr() else lambda path: _tesseract_cli(path, kind)
    if system == "rapidocr":
        return _rapidocr(kind, threads)
    raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")


def join_words(words: list[str]) -> str:
    """Words of one line joined by spaces, except between two CJK characters (Tesseract's chi_sim splits every
    hanzi into its own word; Chinese text has no spaces)."""
    out = ""
    for word in words:
        if out and not (_CJK.match(out[-1]) and _CJK.match(word[0])):
            out += " "
        out += word
    return out


def _tesseract_api(kind: str) -> Reader:
    from tesserocr import PSM, PyTessBaseAPI

    psm = PSM.SINGLE_LINE if kind == "crops" else PSM.AUTO
    api = PyTessBaseAPI(path=str(tessdata()), lang=TESSERACT_LANGS, psm=psm)

    def read(path: Path) -> Document:
        api.SetImageFile(str(path))
        return _from_tsv(TSV_HEADER + api.GetTSVText(0), path)
    return read


def _tesseract_cli(path: Path, kind: str) -> Document:
    psm = ["--psm", "7"] if kind == "crops" else []
    run = subprocess.run(["tesseract", str(path), "stdout", "--tessdata-dir", str(tessdata()), "-l", TESSERACT_LANGS,
                          *psm, "tsv"], capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"tesseract failed: {run.stderr.strip()[-300:]}")
    return _from_tsv(run.stdout, path)


def _from_tsv(tsv: str, path: Path) -> Document:
    """A Document from Tesseract's TSV: one line per level-4 row holding words, its box as the line polygon."""
    lines: dict[tuple, dict] = {}
    width = height = 0
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        key = (row["block_num"], row["par_num"], row["line_num"])
        x, y, w, h = (int(row[k]) for k in ("left", "top", "width", "height"))
        if row["level"] == "1":
            width, height = w, h
        elif row["level"] == "4":
            lines[key] = {"box": box(x, y, x + w, y + h), "words": [], "conf": []}
        elif row["level"] == "5" and (row.get("text") or "").strip() and key in lines:
            lines[key]["words"].append(row["text"].strip())
            lines[key]["conf"].append(float(row["conf"]) / 100)
    page = Page(0, width, height, [
        Line(_clockwise(v["box"]), join_words(v["words"]), sum(v["conf"]) / len(v["conf"]))
        for v in lines.values() if v["words"]])
    return Document(str(path), [page])


def rapidocr_engine(threads: int):
    """rapidocr's engine (PP-OCR models, onnxruntime) quiet and pinned to `threads` intra-op threads."""
    from rapidocr import RapidOCR

    return RapidOCR(params={"Global.log_level": "error",
                            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                            "EngineConfig.onnxruntime.inter_op_num_threads": 1})


def _rapidocr(kind: str, threads: int) -> Reader:
    engine = rapidocr_engine(threads)

    def read(path: Path) -> Document:
        if kind == "crops":
            result = engine(str(path), use_det=False, use_cls=False, use_rec=True)
            h, w = result.img.shape[:2] if getattr(result, "img", None) is not None else (0, 0)
            lines = [Line(box(0, 0, w, h), text, float(score)) for text, score in zip(result.txts, result.scores)]
        else:
            result = engine(str(path))
            lines = [Line(Polygon(points.tolist()), text, float(score))
                     for points, text, score in zip(result.boxes if result.boxes is not None else [],
                                                    result.txts or (), result.scores or ())]
        return Document(str(path), [Page(0, 0, 0, lines)])
    return read


def _clockwise(poly: Polygon) -> Polygon:
    """An axis-aligned box as top-left, top-right, bottom-right, bottom-left."""
    x0, y0, x1, y1 = poly.bounds
    return Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
