"""Export a trained CRNN checkpoint to ONNX with its charset and model card.

    python -m models.export_onnx runs/crnn_zh_en/last.pt models/weights/crnn_zh_en.onnx [--metrics metrics.json]

Inputs of the graph: `x` float32 [B, 1, 32, W] (W a multiple of the stride, 4 or 8) and `widths` int64 [B]; output
`log_probs` float32 [B, W / stride, classes]. The graph's metadata holds `stride` (stages.recognize reads it). The
exported graph is checked against the torch model before anything is written.
"""
from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch

from models.charset import save_charset
from models.crnn import CRNN, ExportableCRNN
from models.synth import discover_fonts


def training_runs(checkpoint: Path) -> list[tuple[Path, dict]]:
    """(checkpoint, recipe) of each run that led to this one, first run first (recipes name their `init`)."""
    runs = [(checkpoint, torch.load(checkpoint, map_location="cpu", weights_only=False)["recipe"])]
    while "init" in runs[0][1] and Path(runs[0][1]["init"]).exists():
        init = Path(runs[0][1]["init"])
        runs.insert(0, (init, torch.load(init, map_location="cpu", weights_only=False)["recipe"]))
    return runs


def earlier_curve(runs: list[tuple[Path, dict]]) -> list[dict]:
    """The learning curve that the first of `training_runs` carries from the runs before it when it is a model
    rebuilt from shipped weights (models.from_onnx); [] otherwise."""
    return torch.load(runs[0][0], map_location="cpu", weights_only=False).get("learning_curve", [])


def export(checkpoint: Path, out: Path, metrics: dict | None = None) -> None:
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    recipe, charset = ckpt["recipe"], ckpt["charset"]
    model = CRNN.from_recipe(recipe, len(charset) + 1)
    model.load_state_dict(ckpt["model"])
    model.eval()
    graph = ExportableCRNN(model).eval()
    x = torch.rand(3, 1, 32, 160)
    widths = torch.tensor([160, 112, 64])
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        graph, (x, widths), str(out), input_names=["x", "widths"], output_names=["log_probs"],
        dynamic_axes={"x": {0: "batch", 3: "width"}, "widths": {0: "batch"}, "log_probs": {0: "batch", 1: "frames"}},
        opset_version=17, dynamo=False,
    )
    graph_file = onnx.load(str(out))
    onnx.helper.set_model_props(graph_file, {"stride": str(model.stride)})
    onnx.save(graph_file, str(out))
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x2, w2 = torch.rand(2, 1, 32, 240), torch.tensor([240, 96])
    got = sess.run(None, {"x": x2.numpy(), "widths": w2.numpy()})[0]
    with torch.no_grad():
        want = model(x2, w2).numpy()
    s = model.stride
    diff = max(float(np.abs(got[i, : w // s] - want[i, : w // s]).max()) for i, w in enumerate(w2.tolist()))
    if diff > 1e-3:
        raise RuntimeError(f"exported graph differs from the torch model by {diff}")
    save_charset(charset, out.with_suffix(".charset.json"))
    state = ckpt["state"]
    runs = training_runs(checkpoint)
    # earlier: the recipes of the runs before a rebuilt shipped model, listed once ahead of the runs since
    recipes = runs[0][1].get("earlier", []) + [{k: v for k, v in r.items() if k != "earlier"} for _, r in runs]
    card = {
        "name": out.stem,
        "architecture": f"CRNN: 6 conv blocks of {recipe['channels']} channels (width masked, width pooling "
                        f"{list(model.cnn.width_strides)}) + BiLSTM ({recipe['hidden']} per direction) + CTC head "
                        f"({'rank ' + str(recipe['head_rank']) if recipe.get('head_rank') else 'full rank'})",
        "input": f"gray line, height 32, values 0..1, width a multiple of {s}; output: log-probs per {s} px column",
        "parameters": sum(p.numel() for p in model.parameters()),
        "classes": len(charset) + 1,
        "recipes": recipes,
        "training": {"line_steps": state["step"], "line_samples": state["samples"],
                     "hours": round(state["seconds"] / 3600, 2), "glyph_pretraining": recipes[0].get("glyph")},
        "fonts": sorted({f.family for f in discover_fonts()}),
        "held_out_fonts": sorted({f.family for f in discover_fonts(held_out=True)}),
        "corpora": "../shared/data/corpora (all five files, ~5% of lines held out by hash), generated numbers/dates/"
                   "amounts/codes/formulas/licence plates, uniform random GB2312 characters",
        "metrics": metrics or {},
        "max_abs_diff_onnx_vs_torch": diff,
        "date": datetime.date.today().isoformat(),
    }
    logs = [  # each run's log, after those of the runs it averages (models.average), wherever it is in the chain
        log for path, r in runs
        for log in [*(Path(a["run_dir"]) / "log.jsonl" for a in r.get("average", [])), path.parent / "log.jsonl"]
    ]
    card["learning_curve"] = earlier_curve(runs) + [
        r for log in logs if log.exists() for r in map(json.loads, log.read_text().splitlines()) if "cer_synth_zh" in r
    ]
    out.with_suffix(".card.json").write_text(json.dumps(card, ensure_ascii=False, indent=1), encoding="utf-8")


def export_command(export_fn: Callable[[Path, Path, dict | None], None], doc: str) -> None:
    """The command line of an exporter: CHECKPOINT OUT [--metrics M.json] (metrics go into the model card)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--metrics", type=Path, help="JSON of measured metrics to record in the model card")
    args = ap.parse_args()
    torch.set_num_threads(1)
    export_fn(args.checkpoint, args.out, json.loads(args.metrics.read_text()) if args.metrics else None)


def main() -> None:
    export_command(export, __doc__)


if __name__ == "__main__":
    main()
