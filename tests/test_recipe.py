"""Training recipes: `base:` chains merge section by section; a missing or looping base is named; every recipe under
configs/train resolves to a whole recipe of its own run."""
from pathlib import Path

import pytest

from models.recipe import load_recipe

RECIPES = sorted((Path(__file__).resolve().parents[1] / "configs" / "train").glob("*.yaml"))


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_recipe_takes_its_bases_keys_and_merges_their_sections(tmp_path):
    _write(tmp_path, "root.yaml", "run_dir: runs/root\nseed: 1\nchannels: [8, 16]\n"
                                  "lines: {lr: 0.001, steps: 100, kinds: [zh, en]}\n")
    _write(tmp_path, "sub/mid.yaml", "base: ../root.yaml\nrun_dir: runs/mid\nlines: {lr: 0.0005}\n")
    leaf = _write(tmp_path, "sub/leaf.yaml", "base: mid.yaml\nrun_dir: runs/leaf\nseed: 3\nchannels: [4]\n"
                                             "lines: {kinds: [en]}\n")
    assert load_recipe(leaf) == {"run_dir": "runs/leaf", "seed": 3, "channels": [4],
                                 "lines": {"lr": 0.0005, "steps": 100, "kinds": ["en"]}}


def test_a_missing_or_looping_base_is_named(tmp_path):
    orphan = _write(tmp_path, "orphan.yaml", "base: gone.yaml\nseed: 1\n")
    with pytest.raises(FileNotFoundError, match=r"gone\.yaml \(the base of .*orphan\.yaml\): no such recipe"):
        load_recipe(orphan)
    _write(tmp_path, "a.yaml", "base: b.yaml\nseed: 1\n")
    _write(tmp_path, "b.yaml", "base: a.yaml\nseed: 2\n")
    with pytest.raises(ValueError, match=r"a\.yaml: recipes name each other as base in a loop"):
        load_recipe(tmp_path / "a.yaml")


def test_every_training_recipe_resolves_to_a_whole_recipe_of_its_own_run():
    resolved = {path.name: load_recipe(path) for path in RECIPES}
    assert len(resolved) > 40
    run_dirs = [recipe["run_dir"] for recipe in resolved.values()]
    assert len(set(run_dirs)) == len(run_dirs)  # two recipes never write into one run
    for name, recipe in resolved.items():
        assert "base" not in recipe and recipe.get("seed") is not None, name
        if name.startswith("crnn"):
            assert {"hidden", "channels", "lines"} <= set(recipe) and "lr" in recipe["lines"], name
    assert any("base:" in path.read_text() for path in RECIPES)
