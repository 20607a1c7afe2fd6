"""Per-request config overrides, limited to keys that are safe to take from a client.

Safe means: no file paths, no import paths (a stage `type` must be a registered name), nothing that raises the
cost of a request beyond the server's limits (no `max_side`, `max_width`, `batch_size`, `runtime.*`), and
nothing that needs the recognizer loaded again: only the detect and decode stages are rebuilt, and the
recognizer's ONNX session is shared with the server's pipeline. The last few variants are kept, so a client that
sends the same options each time (say, digits only) does not rebuild a decoder that loads a language model.
"""
from __future__ import annotations

import copy
import json
import threading
from collections import OrderedDict
from typing import Any

from pipeline.pipeline import Pipeline
from pipeline.registry import ConfigError, build, registered
from pipeline.service.errors import ApiError

SAFE_KEYS = (
    "detect.type", "detect.thresh", "detect.box_thresh", "detect.unclip_ratio", "detect.unclip_ratio_short",
    "detect.text_height", "detect.split_gap", "detect.trim", "detect.unsure_thresh",  # db
    "detect.min_height", "detect.max_height_ratio", "detect.gap_ratio", "detect.pad_ratio", "detect.deskew",
    "detect.binarize",  # contour
    "decode.type", "decode.allowed_chars", "decode.min_confidence", "decode.photo_min_confidence",
    "decode.latin_punctuation", "decode.latin_pages",
)
MAX_VALUE_CHARS = 10_000


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options in a canonical form; unknown keys and values of the wrong shape are refused (400)."""
    checked = {}
    for key, value in options.items():
        if key not in SAFE_KEYS:
            raise ApiError(400, "invalid_option",
                           f"option {key!r} cannot be set per request; allowed: {', '.join(SAFE_KEYS)}")
        if isinstance(value, (dict, list)) or (isinstance(value, str) and len(value) > MAX_VALUE_CHARS):
            raise ApiError(400, "invalid_option", f"option {key}: expected a number, true/false or a short string")
        if key.endswith(".type"):
            kind = key.split(".", 1)[0]
            if value not in registered(kind):
                raise ApiError(400, "invalid_option",
                               f"option {key}: {value!r} is not allowed; allowed: {', '.join(registered(kind))}")
        checked[key] = value
    return dict(sorted(checked.items()))


def derive(base: Pipeline, options: dict[str, Any]) -> Pipeline:
    """A pipeline like `base` with its detect/decode stages rebuilt from `options` (checked ones); a stage whose
    type changes starts from that type's defaults. Bad values raise ApiError (400)."""
    config = copy.deepcopy(base.config)
    kinds = sorted({key.split(".", 1)[0] for key in options})
    for kind in kinds:
        params = {key.split(".", 1)[1]: value for key, value in options.items() if key.startswith(f"{kind}.")}
        same_type = params.get("type", config[kind]["type"]) == config[kind]["type"]
        config[kind] = {**(config[kind] if same_type else {}), **params}
    derived = copy.copy(base)
    derived.config = config
    try:
        for kind in kinds:
            extra = {"charset": base.recognize.charset} if kind == "decode" else {}
            setattr(derived, kind, build(kind, config[kind], threads=config["runtime"]["threads"], **extra))
    except ConfigError as exc:
        raise ApiError(400, "invalid_option", f"options {json.dumps(options, ensure_ascii=False)}: {exc}") from None
    return derived


class Variants:
    """Pipelines derived from `base` for per-request options; the `size` most recently used are kept."""

    def __init__(self, base: Pipeline, size: int = 4) -> None:
        self.base, self.size = base, size
        self.cache: OrderedDict[str, Pipeline] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, options: dict[str, Any]) -> Pipeline:
        if not options:
            return self.base
        key = json.dumps(options, sort_keys=True, ensure_ascii=False)
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        pipeline = derive(self.base, options)
        with self.lock:
            self.cache[key] = pipeline
            while len(self.cache) > self.size:
                self.cache.popitem(last=False)
        return pipeline
