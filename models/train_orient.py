"""Train the line orientation classifier from a recipe, then export it to ONNX with its model card.

    python -m models.train_orient configs/train/orient.yaml [--threads 1]           # resumable: run again to go on
    python -m models.train_orient configs/train/orient.yaml --export models/weights/orient.onnx [--metrics M.json]

Crops are rendered on the fly with the training fonts (models/orient_synth.py); validation uses the held-out fonts
and held-out corpus lines. The checkpoint (run_dir/last.pt) holds model, optimizer and step; run_dir/log.jsonl the
learning curve. A recipe with `init: <checkpoint>` starts from that checkpoint's weights and step (with a fresh
optimizer), e.g. the shipped weights rebuilt by models.from_onnx.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from models.charset import build_charset
from models.orient_net import OrientNet
from models.orient_synth import KINDS, TURNS, turn_crop, turned_sample, upright_crop
from models.recipe import load_recipe
from models.synth import LineRenderer, TextSampler, discover_fonts
from stages.orient import ANGLES, HEIGHT, WIDTH, to_windows


def window(crop: np.ndarray, angle: int, rng: random.Random) -> tuple[np.ndarray, int]:
    """One random classifier window of a crop and its class (on the strip the classifier sees)."""
    windows, turned = to_windows(crop, max_windows=8)
    label = ANGLES.index((angle - (90 if turned else 0)) % 360)
    return windows[rng.randrange(len(windows))], label


class Crops(IterableDataset):
    """Endless batches of (windows [B,1,32,128], classes [B]): each rendered crop in all four turns."""

    def __init__(self, batch_size: int, seed: int) -> None:
        self.batch_size, self.seed = batch_size, seed

    def __iter__(self):
        info = get_worker_info()
        rng = random.Random(self.seed * 1000 + (info.id if info else 0))
        sampler, renderer = TextSampler(build_charset()), LineRenderer(discover_fonts())
        kinds, weights = list(KINDS), list(KINDS.values())
        while True:
            xs, ys = [], []
            while len(xs) < self.batch_size:
                kind = rng.choices(kinds, weights=weights)[0]
                img = upright_crop(kind, renderer, sampler, rng)
                if img is None or min(img.shape) < 4:
                    continue
                for turn in ANGLES:  # every turn of each rendered crop: 4 samples per rendering
                    x, y = window(*turn_crop(img, turn, kind, rng), rng)
                    xs.append(x)
                    ys.append(y)
            yield torch.from_numpy(np.stack(xs[: self.batch_size])), torch.tensor(ys[: self.batch_size])


def validation_set(n: int, seed: int = 11) -> list[tuple[np.ndarray, int, str]]:
    """Fixed held-out crops (held-out fonts and text), every kind in turn."""
    rng = random.Random(seed)
    sampler, renderer = TextSampler(build_charset(), held_out=True), LineRenderer(discover_fonts(held_out=True))
    out: list[tuple[np.ndarray, int, str]] = []
    while len(out) < n:
        sample = turned_sample(renderer, sampler, rng, kind=list(KINDS)[len(out) % len(KINDS)])
        if sample:
            out.append(sample)
    return out


@torch.no_grad()
def predict(model: OrientNet, crops: list[np.ndarray]) -> list[int]:
    """Clockwise angles, exactly as the ONNX stage computes them (windows summed)."""
    from stages.orient import crop_angle

    model.eval()
    out = []
    for crop in crops:
        windows, turned = to_windows(crop)
        out.append(crop_angle(turned, int(model(torch.from_numpy(windows)).sum(0).argmax())))
    model.train()
    return out


def accuracy(model: OrientNet, samples: list[tuple[np.ndarray, int, str]]) -> dict[str, float]:
    preds = predict(model, [s[0] for s in samples])
    result = {"all": float(np.mean([p == s[1] for p, s in zip(preds, samples)]))}
    for kind in KINDS:
        hits = [p == s[1] for p, s in zip(preds, samples) if s[2] == kind]
        result[kind] = float(np.mean(hits)) if hits else float("nan")
    return {k: round(v, 4) for k, v in result.items()}


def export(ckpt_path: Path, out: Path, metrics: dict | None = None) -> None:
    import onnxruntime as ort

    ckpt = torch.load(ckpt_path, weights_only=False)
    recipe = ckpt["recipe"]
    model = OrientNet(tuple(recipe["channels"]), recipe["hidden"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    x = torch.randn(2, 1, HEIGHT, WIDTH)
    torch.onnx.export(model, (x,), str(out), input_names=["x"], output_names=["log_probs"],
                      dynamic_axes={"x": {0: "batch"}, "log_probs": {0: "batch"}}, opset_version=17, dynamo=False)
    x2 = torch.randn(5, 1, HEIGHT, WIDTH)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"x": x2.numpy()})[0]
    with torch.no_grad():
        diff = float(np.abs(got - model(x2).numpy()).max())
    if diff > 1e-3:
        raise RuntimeError(f"exported graph differs from the torch model by {diff}")
    log = [json.loads(line) for line in (ckpt_path.parent / "log.jsonl").read_text().splitlines()]
    state = ckpt["state"]
    card = {
        "name": out.stem,
        "architecture": "4 conv blocks (3x3 conv, BN, ReLU, 2x2 max-pool) + mean over width + MLP -> 4 classes",
        "input": f"gray window {HEIGHT}x{WIDTH}, text height 32, standardized around the median; tall crops turned "
                 "90 degrees clockwise first; up to 3 windows per crop, log-probs summed",
        "output": "log-probs of the clockwise turn (0/90/180/270) that makes the window's characters upright",
        "parameters": sum(p.numel() for p in model.parameters()),
        "recipe": recipe,
        "training": {"steps": state["step"], "samples": state["samples"], "hours": round(state["seconds"] / 3600, 2),
                     "threads": 1},
        "data": {"kinds": KINDS, "turns": {str(k): v for k, v in TURNS.items()},
                 "renderer": "models/synth.py LineRenderer and TextSampler (training fonts and corpus lines); "
                             "vertical columns, paragraph strips and low-contrast crops from models/orient_synth.py",
                 "fonts": sorted({f.family for f in discover_fonts()}),
                 "held_out_fonts": sorted({f.family for f in discover_fonts(held_out=True)})},
        "metrics": {"validation_four_way": next((r["val"] for r in reversed(log) if "val" in r), {}),
                    **(metrics or {})},
        "learning_curve": ckpt.get("learning_curve", []) + [r for r in log if "val" in r],
        "max_abs_diff_onnx_vs_torch": diff,
        "date": datetime.date.today().isoformat(),
    }
    out.with_suffix(".card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1), encoding="utf-8")


def train(cfg: dict) -> None:
    torch.manual_seed(cfg["seed"])
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    model = OrientNet(tuple(cfg["channels"]), cfg["hidden"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=1e-4)
    state = {"step": 0, "samples": 0, "seconds": 0.0}
    ckpt_path = run_dir / "last.pt"
    earlier: list[dict] = []  # the learning curve of the runs before a rebuilt shipped model (models.from_onnx)
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        state, earlier = ckpt["state"], ckpt.get("learning_curve", [])
        print(f"resumed: {state}", flush=True)
    elif "init" in cfg:  # another run's weights and count of steps, with a fresh optimizer
        ckpt = torch.load(cfg["init"], weights_only=False)
        model.load_state_dict(ckpt["model"])
        state, earlier = ckpt["state"], ckpt.get("learning_curve", [])
        print(f"initialised from {cfg['init']}: {state}", flush=True)
    val_path = run_dir / "val.pt"
    if not val_path.exists():
        torch.save(validation_set(cfg["val_crops"]), val_path)
    val = torch.load(val_path, weights_only=False)

    def save() -> None:
        tmp = run_dir / "last.pt.tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state, "recipe": cfg,
                    "learning_curve": earlier}, tmp)
        tmp.replace(ckpt_path)

    log = (run_dir / "log.jsonl").open("a")
    loader = DataLoader(Crops(cfg["batch_size"], cfg["seed"] + state["step"]), batch_size=None, num_workers=1)
    t0, loss_sum, hits, seen = time.time(), 0.0, 0, 0
    for x, y in loader:
        if state["step"] >= cfg["steps"]:
            break
        lr = cfg["lr"] * min(1.0, (state["step"] + 1) / cfg["warmup"]) * 0.5 * (1 + math.cos(math.pi * state["step"] / cfg["steps"]))
        for group in opt.param_groups:
            group["lr"] = lr
        log_probs = model(x)
        loss = torch.nn.functional.nll_loss(log_probs, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        state["step"] += 1
        state["samples"] += len(y)
        loss_sum += loss.item() * len(y)
        hits += int((log_probs.argmax(1) == y).sum())
        seen += len(y)
        step = state["step"]
        if step % cfg["log_every"] == 0 or step == cfg["steps"]:
            now = time.time()
            state["seconds"] += now - t0
            t0 = now
            record = {"step": step, "samples": state["samples"], "hours": round(state["seconds"] / 3600, 3),
                      "loss": round(loss_sum / seen, 4), "train_acc": round(hits / seen, 4), "lr": round(lr, 6)}
            loss_sum, hits, seen = 0.0, 0, 0
            if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
                record["val"] = accuracy(model, val)
                t0 = time.time()
            print(json.dumps(record), flush=True)
            log.write(json.dumps(record) + "\n")
            log.flush()
            save()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--export", type=Path, help="write the run's last checkpoint as ONNX (+ .card.json) here")
    ap.add_argument("--metrics", type=Path, help="with --export: JSON of measured metrics for the model card")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_recipe(args.recipe)
    if args.export:
        export(Path(cfg["run_dir"]) / "last.pt", args.export, json.loads(args.metrics.read_text()) if args.metrics else None)
    else:
        train(cfg)


if __name__ == "__main__":
    main()
