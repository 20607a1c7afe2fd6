"""Locating files named in a config (weights, charsets, language models)."""
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
