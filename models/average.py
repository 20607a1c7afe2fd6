"""Average the weights of recognizer runs fine-tuned from the same checkpoint (a "model soup"):

    python -m models.average runs/crnn_zh_en_ft6/last.pt runs/crnn_zh_en_ft7/last.pt --out runs/crnn_zh_en_avg67/last.pt

Runs that start from the same weights and train on different draws or looks stay in one basin, so the mean of their
weights (batch-norm statistics included) is a model of its own, often better than each. `--init-weight W` mixes in
the weights they started from: W times those plus 1 - W times the runs' mean (an interpolation between the start and
the fine-tuned mean, as WiSE-FT does; 0.5 is the mean of the two generations). The result is a checkpoint that
`models.export_onnx` exports like any other: its recipe names the common `init` (the card's chain of runs goes on
from there), lists the averaged runs' recipes under `average` and, when set, the `init_weight`; its training state
adds up their steps, lines and seconds past the common start.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from models.crnn import ARCHITECTURE_KEYS


def average(checkpoints: list[Path], init_weight: float = 0.0) -> dict:
    """The checkpoint whose weights are the mean of these runs' (same init, same architecture and charset), mixed
    with the weights they started from by `init_weight` (0 to under 1)."""
    runs = [torch.load(path, map_location="cpu", weights_only=False) for path in checkpoints]
    if len(runs) < 2:
        raise ValueError("models.average: give at least two checkpoints")
    if not 0 <= init_weight < 1:
        raise ValueError(f"models.average: --init-weight must be at least 0 and under 1, got {init_weight}")
    first = runs[0]
    if "init" not in first["recipe"]:
        raise ValueError(f"models.average: {checkpoints[0]} names no `init`; only runs fine-tuned from the same "
                         "checkpoint can be averaged")
    for path, run in zip(checkpoints[1:], runs[1:]):
        for key in ("init", *ARCHITECTURE_KEYS):
            if run["recipe"].get(key) != first["recipe"].get(key):
                raise ValueError(f"models.average: {path} differs from {checkpoints[0]} in its recipe's {key!r}")
        if run["charset"] != first["charset"]:
            raise ValueError(f"models.average: {path} has another charset than {checkpoints[0]}")
    initial = torch.load(first["recipe"]["init"], map_location="cpu", weights_only=False)
    model = {}
    for name, tensor in first["model"].items():
        if tensor.is_floating_point():
            mean = sum(run["model"][name] for run in runs) / len(runs)
            model[name] = init_weight * initial["model"][name] + (1 - init_weight) * mean if init_weight else mean
        else:  # counters (batch-norm's num_batches_tracked)
            model[name] = max(run["model"][name] for run in runs)
    start = initial["state"]
    state = {"phase": "lines", "step": sum(run["state"]["step"] for run in runs)}
    for key in ("samples", "seconds"):
        state[key] = start[key] + sum(run["state"][key] - start[key] for run in runs)
    recipe = {key: first["recipe"][key] for key in ("init", *ARCHITECTURE_KEYS) if key in first["recipe"]}
    recipe["average"] = [run["recipe"] for run in runs]
    if init_weight:
        recipe["init_weight"] = init_weight
    return {"model": model, "state": state, "charset": first["charset"], "recipe": recipe}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--init-weight", type=float, default=0.0,
                        help="share of the weights the runs started from (0: the runs' mean alone)")
    args = parser.parse_args()
    averaged = average(args.checkpoints, args.init_weight)
    averaged["recipe"]["run_dir"] = str(args.out.parent)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(averaged, args.out)
    print(f"{args.out}: mean of {len(args.checkpoints)} runs, {averaged['state']}")


if __name__ == "__main__":
    main()
