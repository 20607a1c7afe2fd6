"""`--engine ray` on a local Ray instance (2 CPUs): the same rows as the local engine, failures per input, exit codes."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "examples" / "sample_page.png"
FIXTURES = ROOT / "tests" / "fixtures"
FAST, SETS = "configs/fast.yaml", ["runtime.threads=1"]  # fast.yaml: no LM to load, so actors start sooner
CLI_CONFIG = ["--config", FAST, "--set", *SETS]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")  # Ray copying its own context


@pytest.fixture(scope="module")
def ray_instance():
    """The engine uses an initialized Ray as it is (the command line's --address is only read when it starts one)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder with pages in a subfolder, a two-page PDF, a corrupt image and a file that is not an image."""
    src = tmp_path_factory.mktemp("ray") / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(PAGE, src / "a.png")
    shutil.copy(FIXTURES / "page_zh_en.png", src / "sub" / "b.png")
    shutil.copy(FIXTURES / "two_columns.png", src / "c.png")
    shutil.copy(FIXTURES / "doc.pdf", src / "d.pdf")
    shutil.copy(FIXTURES / "corrupt.png", src / "e.png")
    (src / "notes.txt").write_text("not an image")
    return src


@pytest.fixture(scope="module")
def local_rows(inputs, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("local") / "local.jsonl"
    assert run_pipeline.main([str(inputs), "--format", "jsonl", "--output", str(out), *CLI_CONFIG]) == 1
    return rows(out.read_text(encoding="utf-8"))


def rows(text: str) -> list[dict]:
    """JSONL rows without their timings (the only field that differs from run to run)."""
    return [{k: v for k, v in json.loads(line).items() if k != "timings_ms"} for line in text.splitlines()]


def test_shards_hold_the_local_rows_in_order_and_failures_are_reported(ray_instance, inputs, local_rows, tmp_path):
    from pipeline import ray_engine

    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "part-00007.jsonl").write_text("stale shard of an earlier run\n")
    errors = ray_engine.run([str(inputs)], str(shards), FAST, SETS, workers=2, batch_size=2, rows_per_shard=2)
    assert errors == [f"{inputs / 'e.png'}: truncated image file"]
    parts = sorted(shards.glob("part-*.jsonl"))
    assert len(parts) >= 2  # about rows_per_shard rows each
    assert rows("".join(p.read_text(encoding="utf-8") for p in parts)) == local_rows
    assert [r["source"] for r in local_rows] == [str(inputs / n) for n in ("a.png", "c.png", "d.pdf", "sub/b.png")]
    assert [len(r["pages"]) for r in local_rows] == [1, 1, 2, 1] and all(r["text"] for r in local_rows)


def test_cli_writes_the_local_rows_to_stdout_and_names_each_failure(ray_instance, inputs, local_rows, capsys):
    missing = inputs / "missing.png"
    assert run_pipeline.main([str(inputs), str(missing), "--engine", "ray", "--workers", "1", *CLI_CONFIG]) == 1
    out, err = capsys.readouterr()
    assert f"error: {missing}: no such file or directory" in err
    assert f"error: {inputs / 'e.png'}: truncated image file" in err
    assert rows(out) == local_rows


def test_cli_output_jsonl_is_one_file_like_the_local_engine(ray_instance, inputs, local_rows, tmp_path):
    out = tmp_path / "all.jsonl"
    args = [str(inputs / "a.png"), str(inputs / "sub"), "--engine", "ray", "--format", "jsonl", "--output", str(out)]
    assert run_pipeline.main([*args, *CLI_CONFIG]) == 0
    assert rows(out.read_text(encoding="utf-8")) == [local_rows[0], local_rows[3]]


def test_bad_config_exits_2_before_ray_starts(capsys):
    pytest.importorskip("ray")
    assert run_pipeline.main([str(PAGE), "--engine", "ray", "--set", "decode.type=nope"]) == 2
    assert "error: decode.type: unknown decode stage 'nope'" in capsys.readouterr().err


def test_other_formats_are_bad_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        run_pipeline.main([str(PAGE), "--engine", "ray", "--format", "hocr"])
    assert exit_.value.code == 2 and "--engine ray writes --format jsonl only" in capsys.readouterr().err


def test_without_ray_the_error_names_the_extra():
    code = ("import sys; sys.modules['ray'] = None; import run_pipeline; "
            f"sys.exit(run_pipeline.main([{str(PAGE)!r}, '--engine', 'ray']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--engine ray needs the ray extra: pip install -e '.[ray]'" in proc.stderr
