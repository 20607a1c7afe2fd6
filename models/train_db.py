"""Train the DB text detector on synthetic pages (models/synth_page.py), resumably.

    python -m models.train_db configs/train/db.yaml [--threads 1]

The checkpoint run_dir/last.pt (model, optimizer, step, samples, seconds) is written every `checkpoint_minutes`,
with a validation on held-out synthetic pages (held-out font families and corpus lines); the best one by detection
hmean is also kept as run_dir/best.pt. run_dir/log.jsonl gets one JSON object per log step and per validation.
Run the command again to continue where it stopped. A recipe with `init: runs/<other>/last.pt` starts from
another run's weights (a fine-tuning run on new page looks) with a fresh optimizer and schedule, counting samples
and hours on from that run's.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from shapely.geometry import Polygon
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from models.charset import load_charset
from models.dbnet import DBLoss, DBNet, db_targets
from models.recipe import load_recipe
from models.synth import TextSampler, discover_fonts
from models.synth_page import PageRenderer
from pipeline import metrics
from stages.detect import db_boxes

CHARSET = Path(__file__).resolve().parent / "weights" / "crnn_zh_en.charset.json"


def make_renderer(size: int, held_out: bool = False) -> PageRenderer:
    charset = load_charset(CHARSET)
    return PageRenderer(TextSampler(charset, held_out=held_out), discover_fonts(held_out=held_out), size, size)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0


class SyntheticPages(IterableDataset):
    """Endless (image, prob, mask, thresh, thresh_mask) samples; each worker draws from its own seed."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed

    def __iter__(self):
        info = get_worker_info()
        rng = random.Random(self.seed * 1000 + (info.id if info else 0))
        renderer = make_renderer(self.size)
        while True:
            page = renderer.render(rng)
            targets = db_targets(page.image.shape[:2], page.polygons, page.ignore)
            yield (to_tensor(page.image), *(torch.from_numpy(t) for t in targets))


def validation_pages(n: int, seed: int = 12345) -> list:
    renderer = make_renderer(512, held_out=True)
    rng = random.Random(seed)
    return [renderer.render(rng) for _ in range(n)]


@torch.no_grad()
def validate(model: DBNet, pages: list) -> dict:
    model.eval()
    det = {"tp": 0, "pred": 0, "truth": 0}
    for page in pages:
        prob = model(to_tensor(page.image)[None])[0, 0].numpy()
        pred = [Polygon(q) for q, _ in db_boxes(prob)]
        truth = [Polygon(p) for p, ign in zip(page.polygons, page.ignore) if not ign]
        care = [Polygon(p).buffer(0) for p, ign in zip(page.polygons, page.ignore) if ign]
        pred = [p for p in pred if not any(p.intersection(c).area > 0.5 * p.area for c in care)]
        for key, value in metrics.detection_scores(pred, truth).items():
            if key in det:
                det[key] += value
    model.train()
    return {k: round(v, 4) for k, v in metrics.prf(**det).items()} | det


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    recipe = load_recipe(args.recipe)
    torch.set_num_threads(args.threads)
    run = Path(recipe["run_dir"])
    run.mkdir(parents=True, exist_ok=True)
    m = recipe["model"]
    model = DBNet(tuple(m["channels"]), tuple(m["depth"]), m["neck"])
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    state = {"step": 0, "samples": 0, "seconds": 0.0, "best_hmean": -1.0}
    if (run / "last.pt").exists():
        ckpt = torch.load(run / "last.pt", weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        print(f"resumed at step {state['step']}")
    elif "init" in recipe:  # another run's weights, continuing its count of samples and hours
        ckpt = torch.load(recipe["init"], weights_only=False)
        model.load_state_dict(ckpt["model"])
        state |= {"samples": ckpt["state"]["samples"], "seconds": ckpt["state"]["seconds"]}
        print(f"initialised from {recipe['init']}: {state}")
    total, warmup = recipe["steps"], recipe["warmup"]

    def lr_at(step: int) -> float:
        if step < warmup:
            return recipe["lr"] * (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total - warmup))
        return recipe["lr"] * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))

    loader = DataLoader(SyntheticPages(recipe["size"], recipe["seed"] + state["step"]), batch_size=recipe["batch_size"],
                        num_workers=recipe["workers"], persistent_workers=recipe["workers"] > 0)
    val = validation_pages(recipe["val_pages"])
    criterion = DBLoss()
    log = (run / "log.jsonl").open("a")

    def checkpoint() -> None:
        result = validate(model, val)
        entry = {"step": state["step"], "samples": state["samples"], "hours": round(state["seconds"] / 3600, 3),
                 "val": result}
        ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state, "recipe": recipe}
        if result["hmean"] > state["best_hmean"]:
            state["best_hmean"] = result["hmean"]
            torch.save(ckpt | {"val": result}, run / "best.pt")
            entry["best"] = True
        torch.save(ckpt, run / "last.tmp")
        (run / "last.tmp").replace(run / "last.pt")
        log.write(json.dumps(entry) + "\n")
        log.flush()
        print(json.dumps(entry), flush=True)

    model.train()
    last_ckpt = time.time()
    t0 = time.time()
    sums: dict[str, float] = {}
    count = 0
    for image, prob, mask, thresh, tmask in loader:
        if state["step"] >= total:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(state["step"])
        loss, parts = criterion(model(image), prob, mask, thresh, tmask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        state["step"] += 1
        state["samples"] += len(image)
        now = time.time()
        state["seconds"] += now - t0
        t0 = now
        for k, v in (parts | {"loss": loss.item()}).items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        if state["step"] % recipe["log_every"] == 0:
            entry = {"step": state["step"], "samples": state["samples"], "lr": round(lr_at(state["step"]), 6),
                     "hours": round(state["seconds"] / 3600, 3)}
            entry |= {k: round(v / count, 4) for k, v in sums.items()}
            log.write(json.dumps(entry) + "\n")
            log.flush()
            print(json.dumps(entry), flush=True)
            sums, count = {}, 0
        if now - last_ckpt > 60 * recipe["checkpoint_minutes"]:
            checkpoint()
            last_ckpt = time.time()
            t0 = time.time()
    checkpoint()


if __name__ == "__main__":
    main()
