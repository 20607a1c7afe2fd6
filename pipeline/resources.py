"""Locating files named in a config (weights, charsets, language models) and opening ONNX weights."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def resolve_path(value: str | Path, key: str) -> Path:
    """A relative path is looked up in the working directory, then in the lineocr source tree."""
    path = Path(value).expanduser()
    for candidate in ([path] if path.is_absolute() else [Path.cwd() / path, ROOT / path]):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{key}: file not found: {value}")


def onnx_session(path: Path, threads: int):
    """An onnxruntime CPU session for a stage: `threads` intra-op threads, one inter-op thread (pinned, so that
    stages and processes sharing a machine do not fight over its cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
