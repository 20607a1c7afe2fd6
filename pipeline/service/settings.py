"""Service settings: the pipeline config plus limits, from the command line and the environment.

Environment (as in the seed article's docker-compose): `DEVICE` (only `cpu`: lineocr ships onnxruntime's CPU
provider), `MAX_IMAGE_WIDTH` (-> `recognize.max_width`), `MAX_IMAGE_PIXELS` (-> `runtime.max_pixels`),
`MAX_BODY_MB`, `WORKERS`, `MAX_QUEUE`. The config keys from the environment come before `--set`, so an explicit
`--set` wins.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from pipeline.config import load_config
from pipeline.registry import ConfigError

DEVICES = ("cpu",)


def _number(name: str, raw: str, cast: Callable[[str], Any], low: float) -> Any:
    try:
        value = cast(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if not value >= low:
        raise ConfigError(f"{name}={raw!r}: must be >= {low}")
    return value


@dataclass(frozen=True)
class Settings:
    """`config`/`sets` as for the command line; `workers` OCR threads (0: CPU cores // runtime.threads);
    `max_queue` requests allowed to wait for a worker (more get 503); body, side and time limits per request."""

    config: str | Path | dict | None = None
    sets: tuple[str, ...] = ()
    device: str = "cpu"
    workers: int = 0
    max_queue: int = 16
    max_body_bytes: int = 20 * 2**20
    max_side: int = 20_000
    body_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.device.strip().lower() not in DEVICES:
            raise ConfigError(f"DEVICE={self.device!r}: not supported; lineocr runs onnxruntime on the CPU "
                              f"(allowed: {', '.join(DEVICES)})")
        for name, where, low in (("workers", "WORKERS / --workers", 0), ("max_queue", "MAX_QUEUE", 0),
                                 ("max_body_bytes", "MAX_BODY_MB", 1), ("max_side", "max_side", 1)):
            if getattr(self, name) < low:
                raise ConfigError(f"{where}: {getattr(self, name)!r} is out of range; must be >= {low}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, sets: tuple[str, ...] | list[str] = (),
                 **fields: Any) -> "Settings":
        """Settings from `environ` (default: os.environ), then `sets` and `fields` (e.g. `workers=2`)."""
        env = os.environ if environ is None else environ
        env_sets = []
        if env.get("MAX_IMAGE_WIDTH"):
            env_sets.append(f"recognize.max_width={_number('MAX_IMAGE_WIDTH', env['MAX_IMAGE_WIDTH'], int, 1)}")
        if env.get("MAX_IMAGE_PIXELS"):
            env_sets.append(f"runtime.max_pixels={_number('MAX_IMAGE_PIXELS', env['MAX_IMAGE_PIXELS'], int, 1)}")
        values: dict[str, Any] = {}
        if env.get("DEVICE"):
            values["device"] = env["DEVICE"]
        if env.get("MAX_BODY_MB"):
            values["max_body_bytes"] = int(_number("MAX_BODY_MB", env["MAX_BODY_MB"], float, 0.001) * 2**20)
        if env.get("WORKERS"):
            values["workers"] = _number("WORKERS", env["WORKERS"], int, 0)
        if env.get("MAX_QUEUE"):
            values["max_queue"] = _number("MAX_QUEUE", env["MAX_QUEUE"], int, 0)
        values.update(fields)
        return cls(sets=(*env_sets, *sets), **values)

    def pipeline_config(self) -> dict[str, dict[str, Any]]:
        """The checked pipeline config (raises ConfigError naming the bad key)."""
        return load_config(self.config, self.sets)

    def worker_count(self, threads: int) -> int:
        return self.workers or max(1, (os.cpu_count() or 1) // threads)
