"""Train the CRNN recognizer from a recipe (configs/train/*.yaml): glyph pre-training, then CTC on text lines.

    python -m models.train_crnn configs/train/crnn_zh_en.yaml [--threads 1]

A recipe with `init: runs/<other>/last.pt` and no `glyph` section fine-tunes another run's weights on lines.
`lines.kinds` lists the text kinds drawn (TextSampler.KINDS when absent; repeat a kind to draw it more often);
`lines.columns` is the share of Chinese lines rendered as vertical columns and re-laid into a row, as the Pipeline
reads them (0.15 when absent).
`lines.max_hours` (optional) caps a run's own training time: the learning rate's cosine follows whichever of
steps and hours is further along, and the run stops at either (a fixed lease of a GPU machine, say).
Runs on the GPU when one is there (`--device`), rendering lines in `--workers` processes (one CPU core each).
Resumable: the checkpoint (run_dir/last.pt) holds the model, optimizer, phase and step; the log (run_dir/log.jsonl)
records samples seen, hours and CER per validation set, which the model card takes as its learning curve.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from models.charset import build_charset
from models.crnn import CRNN, GlyphClassifier
from models.orient_synth import render_column
from models.recipe import load_recipe
from models.synth import LineRenderer, TextSampler, discover_fonts
from pipeline.geometry import relay_column
from pipeline.metrics import edit_distance, normalize_text
from stages.decode import GreedyDecoder
from stages.recognize import pad_lines, to_line_image

REAL_SETS = {
    "en_crops": "../shared/data/en_crops/manifest.jsonl",
    "zh_rects_crops": "../shared/data/zh_rects_sample/crops/manifest.jsonl",
    "zh_plates_ccpd": "../shared/data/zh_plates_ccpd/manifest.jsonl",
}


def ctc_frames_needed(text: str) -> int:
    """The fewest frames CTC can align `text` to: one per character, plus a blank between equal neighbours."""
    return len(text) + sum(a == b for a, b in zip(text, text[1:]))


def pad_batch(images: list[np.ndarray], stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gray uint8 lines of height 32 -> float [B,1,32,W] and widths, exactly as inference pads them."""
    x, widths = pad_lines(images, stride)
    return torch.from_numpy(x), torch.from_numpy(widths)


VAL_KINDS = ("zh", "en", "mixed", "numeric", "plate", "receipt", "formula")  # held-out lines are logged per kind


class LineBatches(IterableDataset):
    """Endless batches of rendered lines, grouped by width so little of each batch is padding."""

    def __init__(self, charset: list[str], batch_size: int, max_width: int, seed: int, kinds: tuple[str, ...],
                 columns: float, stride: int, pool: int = 8) -> None:
        self.charset, self.batch_size, self.max_width, self.seed, self.pool = charset, batch_size, max_width, seed, pool
        self.stride = stride
        self.kinds, self.columns = kinds, columns
        self.index = {c: i + 1 for i, c in enumerate(charset)}

    def __iter__(self):
        info = get_worker_info()
        rng = random.Random(self.seed * 1000 + (info.id if info else 0))
        sampler, renderer = TextSampler(self.charset), LineRenderer(discover_fonts())
        while True:
            items = []
            while len(items) < self.batch_size * self.pool:
                kind = rng.choice(self.kinds)
                text = sampler.sample(rng, kind)
                if kind == "zh" and rng.random() < self.columns:
                    text = text.replace(" ", "")
                    column = render_column(renderer, text, rng)
                    img = None if column is None else renderer.to_height(relay_column(column))
                elif kind == "plate" and rng.random() < 0.8:
                    img = renderer.render_plate(text, rng)
                else:
                    img = renderer.render(text, rng, receipt=kind == "receipt")
                too_dense = img is not None and img.shape[1] // self.stride < ctc_frames_needed(text)
                if img is None or img.shape[1] > self.max_width or too_dense:
                    continue
                items.append((img, [self.index[c] for c in text]))
            items.sort(key=lambda it: it[0].shape[1])
            chunks = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
            rng.shuffle(chunks)
            for chunk in chunks:
                x, widths = pad_batch([im for im, _ in chunk], self.stride)
                targets = torch.tensor([t for _, lab in chunk for t in lab])
                lengths = torch.tensor([len(lab) for _, lab in chunk])
                yield x, widths, targets, lengths


class GlyphBatches(IterableDataset):
    """Endless batches of single 32x32 characters labelled with their charset class."""

    def __init__(self, charset: list[str], batch_size: int, seed: int, classes: int) -> None:
        self.charset, self.batch_size, self.seed, self.classes = charset, batch_size, seed, classes

    def __iter__(self):
        info = get_worker_info()
        rng = random.Random(self.seed * 1000 + 500 + (info.id if info else 0))
        renderer = LineRenderer(discover_fonts())
        frequent = TextSampler(self.charset).frequent_chars(self.classes)
        index = {c: i + 1 for i, c in enumerate(self.charset)}
        classes = [(index[c], c) for c in frequent if c != " "]
        while True:
            imgs, labels = [], []
            while len(imgs) < self.batch_size:
                label, ch = rng.choice(classes)
                img = renderer.render_glyph(ch, rng)
                if img is not None:
                    imgs.append(img)
                    labels.append(label)
            x = torch.from_numpy(np.stack(imgs)[:, None].astype(np.float32) / 255.0)
            yield x, torch.tensor(labels)


def held_out_lines(charset: list[str], n: int, seed: int = 7) -> list[tuple[np.ndarray, str, str]]:
    """Fixed validation lines: held-out fonts and held-out corpus lines, per text kind."""
    rng = random.Random(seed)
    sampler, renderer = TextSampler(charset, held_out=True), LineRenderer(discover_fonts(held_out=True))
    out = []
    while len(out) < n:
        kind = VAL_KINDS[len(out) % len(VAL_KINDS)]
        text = sampler.sample(rng, kind)
        clean = rng.random() < 0.5
        img = renderer.render_plate(text, rng) if kind == "plate" else renderer.render(text, rng, clean, kind == "receipt")
        if img is not None and img.shape[1] <= 800:
            out.append((img, text, kind))
    return out


def real_crops(charset: list[str]) -> dict[str, list[tuple[np.ndarray, str]]]:
    """The shared real crops (for logging accuracy only, never trained on)."""
    import cv2

    sets = {}
    root = Path(__file__).resolve().parents[1]
    for name, rel in REAL_SETS.items():
        manifest = (root / rel).resolve()
        if not manifest.exists():
            continue
        items = []
        for row in map(json.loads, manifest.read_text(encoding="utf-8").splitlines()):
            img = cv2.imread(str(manifest.parent / row["image"]), cv2.IMREAD_GRAYSCALE)
            items.append((to_line_image(img), row["text"]))
        sets[name] = items
    return sets


def progress(lines: dict, step: int, seconds: float) -> float:
    """How far along a run is, 0 to 1: `step` of `lines.steps` or `seconds` of `lines.max_hours`, whichever is
    further (the learning rate's cosine follows it; the run ends at 1)."""
    return min(1.0, max(step / lines["steps"], seconds / (lines.get("max_hours", math.inf) * 3600)))


@torch.no_grad()
def evaluate(model: CRNN, lines: list[tuple[np.ndarray, str]], charset: list[str], batch: int = 32) -> float:
    model.eval()
    device = next(model.parameters()).device
    decoder = GreedyDecoder(charset)
    errors = total = 0
    order = sorted(range(len(lines)), key=lambda i: lines[i][0].shape[1])
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        x, widths = pad_batch([lines[i][0] for i in idx], model.stride)
        log_probs = model(x.to(device), widths.to(device)).cpu().numpy()
        preds = [text for text, _ in decoder([lp[: w // model.stride] for lp, w in zip(log_probs, widths.tolist())])]
        for i, pred in zip(idx, preds):
            truth = normalize_text(lines[i][1])
            errors += edit_distance(normalize_text(pred), truth)
            total += len(truth)
    model.train()
    return errors / max(1, total)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="processes rendering training lines (one core each)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    cv2.setNumThreads(1)  # before any OpenCV call: each rendering worker uses one core (a forked pool can hang)
    cfg = load_recipe(args.recipe)
    torch.set_num_threads(args.threads)
    torch.manual_seed(cfg.get("seed", 0))
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    charset = build_charset()
    model = CRNN.from_recipe(cfg, len(charset) + 1).to(device)
    glyph = GlyphClassifier(model.cnn, len(charset) + 1).to(device)
    state = {"phase": "glyph", "step": 0, "samples": 0, "seconds": 0.0}
    ckpt_path = run_dir / "last.pt"
    resumed = ckpt_path.exists()
    if resumed or "init" in cfg:  # "init": fine-tune from another run's weights, continuing its learning curve
        ckpt = torch.load(ckpt_path if resumed else cfg["init"], weights_only=False, map_location=device)
        model.load_state_dict(ckpt["model"])
        if "glyph_head" in ckpt:  # absent from averaged runs (models.average), which fine-tune on lines only
            glyph.head.load_state_dict(ckpt["glyph_head"])
        state = ckpt["state"] if resumed else {**ckpt["state"], "phase": "lines", "step": 0, "run_seconds": 0.0}
        print(f"{'resumed' if resumed else 'initialised from ' + cfg['init']}: {state}", flush=True)
    trained = glyph if state["phase"] == "glyph" else model
    opt = torch.optim.AdamW(trained.parameters(), lr=cfg[state["phase"]]["lr"], weight_decay=1e-4)
    if resumed:
        opt.load_state_dict(ckpt["opt"])
    log = (run_dir / "log.jsonl").open("a")

    def save() -> None:
        tmp = run_dir / "last.pt.tmp"
        torch.save(
            {"model": model.state_dict(), "glyph_head": glyph.head.state_dict(), "opt": opt.state_dict(),
             "state": state, "charset": charset, "recipe": cfg},
            tmp,
        )
        tmp.replace(ckpt_path)

    if state["phase"] == "glyph":
        g = cfg["glyph"]
        loader = DataLoader(GlyphBatches(charset, g["batch_size"], cfg.get("seed", 0) + state["step"], g["classes"]),
                            batch_size=None, num_workers=args.workers)
        loss_fn = torch.nn.CrossEntropyLoss()
        t0, correct, seen = time.time(), 0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            lr = g["lr"] * min(1.0, (state["step"] + 1) / 200)
            for group in opt.param_groups:
                group["lr"] = lr
            logits = glyph(x)
            loss = loss_fn(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            state["step"] += 1
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            if state["step"] % 100 == 0:
                state["seconds"] += time.time() - t0
                t0 = time.time()
                rec = {"phase": "glyph", "step": state["step"], "loss": round(loss.item(), 4),
                       "train_acc": round(correct / seen, 4), "hours": round(state["seconds"] / 3600, 3)}
                print(json.dumps(rec), flush=True)
                log.write(json.dumps(rec) + "\n")
                log.flush()
                correct = seen = 0
                save()
            if state["step"] >= g["steps"]:
                break
        torch.save({"cnn": model.cnn.state_dict(), "glyph_head": glyph.head.state_dict()}, run_dir / "glyph.pt")
        model.init_head_from_glyphs(glyph.head)
        state.update(phase="lines", step=0)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg["lines"]["lr"], weight_decay=1e-4)
        save()

    c = cfg["lines"]
    kinds = tuple(c.get("kinds", TextSampler.KINDS))
    unknown = sorted(set(kinds) - set(TextSampler.KINDS))
    if unknown:
        raise ValueError(f"{args.recipe}: lines.kinds {unknown} unknown; kinds are {sorted(set(TextSampler.KINDS))}")
    val_synth = held_out_lines(charset, c["val_lines"])
    val_real = real_crops(charset)
    loader = DataLoader(
        LineBatches(charset, c["batch_size"], c["max_width"], cfg.get("seed", 0) + state["step"], kinds,
                    c.get("columns", 0.15), model.stride),
        batch_size=None, num_workers=args.workers, prefetch_factor=4,
        pin_memory=device.type == "cuda",
    )
    ctc = torch.nn.CTCLoss(zero_infinity=True)
    run_start = time.time() - state.get("run_seconds", 0.0)
    t0 = time.time()
    model.train()
    for x, widths, targets, lengths in loader:
        warm = min(1.0, (state["step"] + 1) / c["warmup"])
        cosine = 0.5 * (1 + math.cos(math.pi * progress(c, state["step"], time.time() - run_start)))
        lr = c["lr"] * warm * (cosine * 0.95 + 0.05)
        for group in opt.param_groups:
            group["lr"] = lr
        x, widths = x.to(device, non_blocking=True), widths.to(device)
        log_probs = model(x, widths)
        loss = ctc(log_probs.transpose(0, 1), targets.to(device), widths // model.stride, lengths.to(device))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        state["step"] += 1
        state["samples"] += len(lengths)
        done = progress(c, state["step"], time.time() - run_start) >= 1.0
        if state["step"] % c["log_every"] == 0 or done:
            state["seconds"] += time.time() - t0
            state["run_seconds"] = time.time() - run_start
            t0 = time.time()
            rec = {"phase": "lines", "step": state["step"], "samples": state["samples"], "loss": round(loss.item(), 4),
                   "lr": round(lr, 6), "hours": round(state["seconds"] / 3600, 3)}
            if state["step"] % c["eval_every"] == 0 or done:
                for kind in VAL_KINDS:
                    rec[f"cer_synth_{kind}"] = round(evaluate(model, [(im, t) for im, t, k in val_synth if k == kind], charset), 4)
                for name, items in val_real.items():
                    rec[f"cer_{name}"] = round(evaluate(model, items, charset), 4)
                t0 = time.time()
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            save()
        if done:
            break
    save()


if __name__ == "__main__":
    main()
