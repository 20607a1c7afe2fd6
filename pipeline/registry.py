"""Stage registry: implementations registered by kind and name, built from config with validated parameters."""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

KINDS = ("detect", "orient", "recognize", "decode")
_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}


class ConfigError(ValueError):
    """A config that cannot be built: names the key, the bad value and what is allowed."""


def register(kind: str, name: str) -> Callable[[type], type]:
    """Class decorator: `@register("detect", "contour")` makes `detect: {type: contour}` build that class."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown stage kind {kind!r}; kinds are {', '.join(KINDS)}")

    def wrap(cls: type) -> type:
        _REGISTRY[kind][name] = cls
        return cls

    return wrap


def registered(kind: str) -> list[str]:
    _load_builtin_stages()
    return sorted(_REGISTRY[kind])


def _load_builtin_stages() -> None:
    for kind in KINDS:
        importlib.import_module(f"stages.{kind}")


def resolve(kind: str, type_name: str) -> type:
    """A registered name, or an import path `package.module:Class`."""
    if not isinstance(type_name, str) or not type_name:
        raise ConfigError(f"{kind}.type: expected a stage name, got {type_name!r}; known: {', '.join(registered(kind))}")
    if ":" in type_name:
        module_name, _, attr = type_name.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{kind}.type: cannot import {type_name!r} ({exc})") from None
    _load_builtin_stages()
    if type_name not in _REGISTRY[kind]:
        raise ConfigError(
            f"{kind}.type: unknown {kind} stage {type_name!r}; known: {', '.join(sorted(_REGISTRY[kind]))}, "
            "or an import path 'package.module:Class'"
        )
    return _REGISTRY[kind][type_name]


def build(kind: str, params: dict[str, Any], **context: Any) -> Any:
    """Instantiate a stage from its config section; parameters are checked against the constructor's signature.

    `context` offers shared settings (e.g. `threads`) that a stage receives only if its constructor asks for them.
    """
    params = dict(params)
    cls = resolve(kind, params.pop("type", None))
    sig = inspect.signature(cls)
    accepted = {n for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(params) - accepted)
    if unknown:
        allowed = ", ".join(sorted(accepted - set(context))) or "none"
        raise ConfigError(f"{kind}.{unknown[0]}: unknown parameter for {kind} type {cls.__name__}; allowed: {allowed}")
    kwargs = {k: v for k, v in context.items() if k in accepted}
    kwargs.update(params)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError, FileNotFoundError) as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(f"{kind}.") else f"{kind}: {message}") from None
