"""Config loading: YAML file or dict, `--set key=value` strings and keyword overrides, validated at load."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

import yaml

from pipeline.registry import KINDS, ConfigError
from pipeline.resources import ROOT

DEFAULT_CONFIG = ROOT / "configs" / "default.yaml"
RUNTIME_DEFAULTS: dict[str, Any] = {"threads": 2, "max_pixels": 50_000_000, "pdf_dpi": 200}
SECTIONS = (*KINDS, "runtime")


def _merge(base: dict, extra: dict, where: str = "") -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, f"{where}{key}.")
        else:
            base[key] = copy.deepcopy(value)
    return base


def parse_set(item: str) -> dict:
    """'decode.beam_width=32' -> {'decode': {'beam_width': 32}} (the value is read as YAML)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. decode.type=greedy")
    parts = key.strip().split(".")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML ({exc})") from None
    if isinstance(value, int) and not isinstance(value, bool) and str(value) != raw.strip():
        value = raw.strip()  # YAML 1.1 reads "0123" as octal 83: a digit string with a leading zero stays a string
    for part in reversed(parts):
        value = {part: value}
    return value


def load_config(
    source: str | Path | dict | None = None, sets: Iterable[str] = (), **overrides: Any
) -> dict[str, dict[str, Any]]:
    """The merged, checked config: file (or dict; default.yaml when None), then `sets`, then keyword overrides
    such as `decode={"beam_width": 32}`. Overriding a stage's `type` drops the file's other keys for that stage."""
    if source is None:
        source = DEFAULT_CONFIG
    if isinstance(source, dict):
        config = copy.deepcopy(source)
    else:
        path = Path(source)
        if not path.is_file() and not path.is_absolute() and (ROOT / path).is_file():
            path = ROOT / path
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {source}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: a config is a mapping of sections ({', '.join(SECTIONS)})")
    changes: dict = {}
    for item in sets:
        _merge(changes, parse_set(item))
    _merge(changes, overrides)
    for section, value in changes.items():
        # a new stage type starts its section afresh: the old type's parameters would not fit it
        if isinstance(value, dict) and "type" in value and isinstance(config.get(section), dict) \
                and value["type"] != config[section].get("type"):
            config[section] = {}
    _merge(config, changes)
    return validate(config)


def validate(config: dict) -> dict[str, dict[str, Any]]:
    """Check sections and runtime values; stage parameters are checked when the stages are built."""
    for section, value in config.items():
        if section not in SECTIONS:
            raise ConfigError(f"{section}: unknown config section; allowed: {', '.join(SECTIONS)}")
        if not isinstance(value, dict):
            raise ConfigError(f"{section}: expected a mapping, got {value!r}")
    for kind in KINDS:
        if kind not in config or "type" not in config[kind]:
            raise ConfigError(f"{kind}.type: missing; every config names a type for {', '.join(KINDS)}")
    runtime = {**RUNTIME_DEFAULTS, **config.get("runtime", {})}
    for key, value in runtime.items():
        if key not in RUNTIME_DEFAULTS:
            raise ConfigError(f"runtime.{key}: unknown key; allowed: {', '.join(RUNTIME_DEFAULTS)}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"runtime.{key}: expected a positive integer, got {value!r}")
    config["runtime"] = runtime
    return config
