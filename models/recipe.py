"""Training recipes (configs/train/*.yaml) for models.train_crnn, train_orient and train_db.

A recipe may start from another one: `base: <file>` (relative to the recipe's own folder) takes every key of that
recipe, and the recipe gives only what differs. Sections (mappings such as `lines:`) merge key by key; any other
value replaces the base's. A base may have a base of its own. The whole recipe a file stands for:

    python -m models.recipe configs/train/orient8.yaml
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml


def load_recipe(path: str | Path) -> dict:
    """The recipe at `path` with its bases merged in (the result has no `base` key)."""
    return _load(Path(path), ())


def _load(path: Path, seen: tuple[Path, ...]) -> dict:
    if path.resolve() in seen:
        chain = " -> ".join(str(p) for p in (*seen, path.resolve()))
        raise ValueError(f"{path}: recipes name each other as base in a loop: {chain}")
    if not path.is_file():
        named_by = f" (the base of {seen[-1]})" if seen else ""
        raise FileNotFoundError(f"{path}{named_by}: no such recipe")
    recipe = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(recipe, dict):
        raise ValueError(f"{path}: a recipe is a mapping of keys to values, got {type(recipe).__name__}")
    base = recipe.pop("base", None)
    if base is None:
        return recipe
    if not isinstance(base, str):
        raise ValueError(f"{path}: base: expected a recipe file name, got {base!r}")
    return _merge(_load(path.parent / base, (*seen, path.resolve())), recipe)


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for name in sys.argv[1:]:
        recipe = yaml.safe_dump(load_recipe(name), sort_keys=False, allow_unicode=True, default_flow_style=None)
        print(f"# {name}\n{recipe}", end="")
