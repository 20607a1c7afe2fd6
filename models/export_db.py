"""Export a trained DB detector checkpoint to ONNX with its model card.

    python -m models.export_db runs/db/best.pt models/weights/db_lite.onnx [--metrics metrics.json]

The graph takes `image` float32 [B, 3, H, W] (BGR, 0..1, H and W multiples of 32, both dynamic) and gives `prob`
float32 [B, 1, H, W], the text probability map; it is checked against the torch model at a second size before
anything is written.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import torch

from models.dbnet import SHRINK_RATIO, DBNet
from models.export_onnx import earlier_curve, export_command, training_runs
from models.synth import discover_fonts


def load_model(checkpoint: Path) -> tuple[DBNet, dict]:
    ckpt = torch.load(checkpoint, weights_only=False)
    m = ckpt["recipe"]["model"]
    model = DBNet(tuple(m["channels"]), tuple(m["depth"]), m["neck"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def export(checkpoint: Path, out: Path, metrics: dict | None = None) -> None:
    model, ckpt = load_model(checkpoint)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, torch.rand(1, 3, 256, 320), str(out), input_names=["image"], output_names=["prob"],
                      dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                    "prob": {0: "batch", 2: "height", 3: "width"}},
                      opset_version=17, dynamo=False)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, 416, 192)
    got = sess.run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    diff = float(np.abs(got - want).max())
    if got.shape != want.shape or diff > 1e-3:
        raise RuntimeError(f"exported graph differs from the torch model ({got.shape} vs {want.shape}, {diff})")
    state, recipe = ckpt["state"], ckpt["recipe"]
    runs = training_runs(checkpoint)
    card = {
        "name": out.stem,
        "architecture": "DBNet-lite: depthwise-separable backbone (strides 2-32), FPN-lite fused at 1/4, "
                        "transposed-conv heads to full resolution (the probability map is exported; the threshold "
                        "map serves training only)",
        "input": "BGR image, values 0..1, H and W multiples of 32; output: text probability [B, 1, H, W]",
        "parameters": sum(p.numel() for p in model.parameters()),
        "shrink_ratio": SHRINK_RATIO,
        "postprocess": "stages/detect.py db_boxes: thresh 0.3, box_thresh 0.6, unclip_ratio 1.5",
        "recipe": recipe,
        "training": {"steps": state["step"], "samples": state["samples"], "hours": round(state["seconds"] / 3600, 2),
                     "checkpoint": str(checkpoint), "runs": [str(path) for path, _ in runs]},
        "data": "synthetic pages only (models/synth_page.py): documents, forms and tables, receipts, scenes; "
                "text from ../shared/data/corpora (~5% of lines held out) and generated numbers/codes; "
                "no image of ../shared/data was used. From runs/db2 on, boxes hug the ink (runs/db drew them to "
                "the font's 'Hg' extent, so its validation figures are on other boxes) and scenes have shop "
                "signs with large outlined, shadowed or 3-D letters",
        "fonts": sorted({f.family for f in discover_fonts()}),
        "held_out_fonts": sorted({f.family for f in discover_fonts(held_out=True)}),
        "metrics": metrics or {},
        "max_abs_diff_onnx_vs_torch": diff,
        "date": datetime.date.today().isoformat(),
    }
    logs = [path.parent / "log.jsonl" for path, _ in runs]  # every run that led here, first run first
    curve = earlier_curve(runs) + [r | {"run": str(log.parent)} for log in logs if log.exists()
                                   for r in map(json.loads, log.read_text().splitlines()) if "val" in r]
    card["validation_synthetic"] = ckpt.get("val") or next((r["val"] for r in reversed(curve)
                                                              if r["step"] == state["step"] and
                                                              r["run"] == recipe["run_dir"]), None)
    card["learning_curve"] = curve
    out.with_suffix(".card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1), encoding="utf-8")


def main() -> None:
    export_command(export, __doc__)


if __name__ == "__main__":
    main()
