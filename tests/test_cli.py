"""The command line on real files: formats, folders, PDFs, failures among good inputs, exit codes."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "examples" / "sample_page.png"
FIXTURES = ROOT / "tests" / "fixtures"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), *args, "--set", "runtime.threads=1"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_json_to_stdout_follows_the_design_shape():
    proc = run(str(PAGE), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["source"] == str(PAGE)
    page = doc["pages"][0]
    assert (page["width"], page["height"], page["rotation"]) == (1000, 720, 0)
    assert len(page["lines"]) >= 8
    for line in page["lines"]:
        assert set(line) == {"text", "confidence", "points", "angle", "vertical"}
        assert 0 <= line["confidence"] <= 1 and len(line["points"]) == 4
        assert all(0 <= x <= 1000 and 0 <= y <= 720 for x, y in line["points"])
    assert doc["text"] == "\n".join(line["text"] for line in page["lines"])
    assert set(doc["timings_ms"]) == {"load", "detect", "orient", "recognize", "decode", "total"}
    assert proc.stderr == ""  # no progress bar for a single input


def test_corrupt_input_among_good_ones_exits_1_and_writes_the_others(tmp_path):
    out = tmp_path / "out.jsonl"
    corrupt = FIXTURES / "corrupt.png"
    proc = run(str(PAGE), str(corrupt), str(FIXTURES / "page_zh_en.png"), "--format", "jsonl", "--output", str(out))
    assert proc.returncode == 1
    assert str(corrupt) in proc.stderr and "truncated" in proc.stderr.lower()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["source"] for r in rows] == [str(PAGE), str(FIXTURES / "page_zh_en.png")]
    assert all(r["pages"][0]["lines"] for r in rows)


def test_folder_is_walked_recursively_and_each_input_gets_a_file(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(PAGE, src / "a.png")
    shutil.copy(FIXTURES / "page_zh_en.png", src / "sub" / "b.png")
    (src / "notes.txt").write_text("not an image")
    for fmt, ext in (("hocr", ".hocr"), ("tsv", ".tsv"), ("text", ".txt")):
        out = tmp_path / fmt
        proc = run(str(src), "--format", fmt, "--output", str(out))
        assert proc.returncode == 0, proc.stderr
        assert sorted(p.name for p in out.iterdir()) == [f"a{ext}", f"b{ext}"]
    assert "ocr_line" in (tmp_path / "hocr" / "a.hocr").read_text(encoding="utf-8")
    assert (tmp_path / "tsv" / "b.tsv").read_text(encoding="utf-8").startswith("level\tpage_num")


def test_pdf_pages_are_all_read(tmp_path):
    proc = run(str(FIXTURES / "doc.pdf"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    pages = json.loads(proc.stdout)["pages"]
    assert [p["page"] for p in pages] == [0, 1]
    assert all(p["lines"] for p in pages)


@pytest.mark.parametrize(
    "override, message",
    [
        ("decode.type=beam_search_xl", "decode.type: unknown decode stage 'beam_search_xl'; known:"),
        ("recognize.weights=models/weights/missing.onnx", "recognize.weights: file not found: models/weights/missing.onnx"),
        ("detect.min_heigth=4", "detect.min_heigth: unknown parameter"),
    ],
)
def test_bad_config_exits_2_with_a_message_naming_the_key(override, message):
    proc = run(str(PAGE), "--set", override)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("option", [["--batch-size", "4"], ["--address", "10.0.0.1:6379"]])
def test_ray_options_without_the_ray_engine_are_usage_errors(option):
    proc = run(str(PAGE), *option)
    assert proc.returncode == 2 and "apply to --engine ray only" in proc.stderr


def test_missing_input_is_named_and_others_still_read(tmp_path):
    proc = run(str(tmp_path / "nope.png"), str(PAGE))
    assert proc.returncode == 1
    assert "nope.png" in proc.stderr
    assert proc.stdout.strip() and "==> " not in proc.stdout  # one input read: its text, no header


def test_workers_give_the_same_output_as_one_process(tmp_path):
    inputs = [str(PAGE), str(FIXTURES / "page_zh_en.png"), str(FIXTURES / "two_columns.png")]
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.jsonl"
        proc = run(*inputs, "--format", "jsonl", "--output", str(out), "--workers", workers)
        assert proc.returncode == 0, proc.stderr
        assert "3/3" in proc.stderr  # the progress bar, on stderr, for more than one input
        outputs.append([{k: v for k, v in json.loads(l).items() if k != "timings_ms"} for l in out.read_text().splitlines()])
    assert outputs[0] == outputs[1] and len(outputs[0]) == 3
