"""Rebuild a training checkpoint from the weights the repo ships, so that training resumes from the last committed
weights on a machine that has no run directory:

    python -m models.from_onnx models/weights/crnn_zh_en.onnx runs/crnn_zh_en_shipped/last.pt
    python -m models.from_onnx models/weights/db_lite.onnx runs/db_shipped/last.pt
    python -m models.from_onnx models/weights/orient.onnx runs/orient_shipped/last.pt

then fine-tune with `init: runs/..._shipped/last.pt` in a recipe (models.train_crnn, train_db, train_orient), as
from any other run. The graph's inputs say which model it is: `x` and `widths` the recognizer, `image` the
detector, `x` alone the orientation classifier.

The exporter folds each batch norm into the convolution before it and lays an LSTM out in ONNX's gate order; this
undoes both. Each initializer is found by the node that reads it, whose scope names the module it came from. A folded
batch norm comes back as the identity plus the folded bias, then takes the statistics of its input on rendered
training data (weight sqrt(var + eps), bias mean + folded bias): the same function in eval mode, and batch
statistics close to its running ones in training mode. The detector's graph holds no threshold head (it serves
training only): it starts as a copy of the probability head. The rebuilt model is checked against the graph before
anything is written. The checkpoint carries the card's training state and learning curve (and the recognizer's
recipes), so the next export's card goes on from them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from models.charset import load_charset
from models.crnn import ARCHITECTURE_KEYS, CRNN, ExportableCRNN
from models.dbnet import DBNet
from models.orient_net import OrientNet

ONNX_TO_TORCH_GATES = [0, 2, 3, 1]  # ONNX LSTM gates i, o, f, c -> torch's i, f, g(c), o


def _module_path(modules: dict[str, nn.Module], scope: str) -> str:
    """A node's scope ("/cnn/stages.0.0/stages.0.0.0/Conv") -> the module's qualified name ("cnn.stages.0.0.0")
    among `modules` (the exported module's named_modules).

    Each scope part is named from the nearest enclosing module that is not a container (Sequential, ModuleList)."""
    path, anchor = "", ""
    for part in scope.strip("/").split("/")[:-1]:
        path = anchor + part
        if path not in modules:
            raise KeyError(f"scope {scope!r}: no module {path!r}")
        if not isinstance(modules[path], (nn.Sequential, nn.ModuleList)):
            anchor = path + "."
    return path


def _next_batchnorm(modules: dict[str, nn.Module], conv_path: str) -> nn.BatchNorm2d | None:
    """The batch norm that follows a convolution in its Sequential (the one the exporter folded into it)."""
    parent, _, index = conv_path.rpartition(".")
    if not index.isdigit():
        return None
    following = modules.get(f"{parent}.{int(index) + 1}")
    return following if isinstance(following, nn.BatchNorm2d) else None


def _torch_gates(t: torch.Tensor, hidden: int) -> torch.Tensor:
    """An LSTM weight or bias stacked in ONNX's gate order -> the same in torch's."""
    blocks = t.reshape(4, hidden, *t.shape[1:])
    return torch.cat([blocks[g] for g in ONNX_TO_TORCH_GATES])


@torch.no_grad()
def load_graph_weights(root: nn.Module, path: Path) -> list[nn.BatchNorm2d]:
    """Copy an exported graph's weights into `root` (the module that was exported); returns the batch norms that
    were folded (now the identity plus the folded bias)."""
    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state, modules = root.state_dict(), dict(root.named_modules())
    folded = []
    for node in graph.node:
        weights = [(k, inits[name]) for k, name in enumerate(node.input) if name in inits]
        if not weights or node.op_type == "Constant":
            continue
        named = [name for name in node.input if name in state]
        for name in named:  # kept under the parameter's own name
            state[name].copy_(torch.from_numpy(inits[name].copy()))
        if len(named) == len(weights):
            continue
        module_path = _module_path(modules, node.name)
        module = modules[module_path]
        arrays = {k: torch.from_numpy(a.copy()) for k, a in weights}
        if node.op_type == "Conv":
            module.weight.copy_(arrays[1])
            bn = _next_batchnorm(modules, module_path)
            if bn is not None:
                bn.weight.fill_(1.0)
                bn.bias.copy_(arrays[2])
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
                folded.append(bn)
            elif 2 in arrays:
                module.bias.copy_(arrays[2])
        elif node.op_type == "MatMul":
            module.weight.copy_(arrays[1].T)
        elif node.op_type == "LSTM":
            h = module.hidden_size
            module.weight_ih_l0.copy_(_torch_gates(arrays[1][0], h))
            module.weight_hh_l0.copy_(_torch_gates(arrays[2][0], h))
            module.bias_ih_l0.copy_(_torch_gates(arrays[3][0, : 4 * h], h))
            module.bias_hh_l0.copy_(_torch_gates(arrays[3][0, 4 * h :], h))
        else:
            raise ValueError(f"{path}: no rule to load the weights of {node.op_type} node {node.name!r}")
    return folded


@torch.no_grad()
def calibrate_batchnorms(model: nn.Module, norms: list[nn.BatchNorm2d], batches: list[tuple]) -> None:
    """Give folded batch norms (identity + bias b) the statistics of their input over `batches` (model inputs):
    running mean m and variance v, weight sqrt(v + eps), bias m + b. The eval-mode function is unchanged."""
    sums: dict[int, list] = {id(bn): [0.0, 0.0, 0] for bn in norms}

    def hook(bn: nn.BatchNorm2d, inputs: tuple) -> None:
        x = inputs[0].double()
        s = sums[id(bn)]
        s[0] = s[0] + x.sum(dim=(0, 2, 3))
        s[1] = s[1] + (x * x).sum(dim=(0, 2, 3))
        s[2] += x.numel() // x.shape[1]

    handles = [bn.register_forward_pre_hook(hook) for bn in norms]
    model.eval()
    for batch in batches:
        model(*batch)
    for h in handles:
        h.remove()
    for bn in norms:
        total, squares, n = sums[id(bn)]
        mean = total / n
        var = (squares / n - mean * mean).clamp_min(0)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_((var + bn.eps).sqrt())
        bn.bias.add_(mean)


def _difference(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")


def _run_graph(path: Path, feeds: dict[str, torch.Tensor]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in feeds.items()})[0]


def _recognizer(path: Path, card: dict, batches: list[tuple] | None) -> tuple[dict, float]:
    charset = load_charset(path.with_suffix(".charset.json"))
    last = card["recipes"][-1]
    model = CRNN.from_recipe(last, len(charset) + 1)
    graph = ExportableCRNN(model)
    folded = load_graph_weights(graph, path)
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        getattr(model.rnn, name).data.copy_(getattr(graph.fwd, name).data)
        getattr(model.rnn, name + "_reverse").data.copy_(getattr(graph.bwd, name).data)
    if batches is None:
        from models.synth import TextSampler
        from models.train_crnn import LineBatches

        lines = iter(LineBatches(charset, 32, 640, seed=0, kinds=TextSampler.KINDS, columns=0.15, stride=model.stride))
        batches = [next(lines)[:2] for _ in range(8)]
    calibrate_batchnorms(model, folded, batches)
    x, widths = torch.rand(3, 1, 32, 240, generator=torch.Generator().manual_seed(0)), torch.tensor([240, 160, 48])
    got = _run_graph(path, {"x": x, "widths": widths})
    with torch.no_grad():
        want = model.eval()(x, widths).numpy()
    frames = (widths // model.stride).tolist()
    diff = max(_difference(got[i, :n], want[i, :n]) for i, n in enumerate(frames))
    t = card["training"]
    return {
        "model": model.state_dict(),
        "state": {"phase": "lines", "step": t["line_steps"], "samples": t["line_samples"],
                  "seconds": t["hours"] * 3600},
        "charset": charset,
        "recipe": {**{k: last[k] for k in ARCHITECTURE_KEYS if k in last}, "earlier": card["recipes"]},
    }, diff


def _detector(path: Path, card: dict, batches: list[tuple] | None) -> tuple[dict, float]:
    m = card["recipe"]["model"]
    model = DBNet(tuple(m["channels"]), tuple(m["depth"]), m["neck"])
    folded = load_graph_weights(model, path)
    if batches is None:
        from models.train_db import SyntheticPages

        pages = iter(SyntheticPages(card["recipe"]["size"], seed=0))
        batches = [(torch.stack([next(pages)[0] for _ in range(8)]),) for _ in range(4)]
    calibrate_batchnorms(model, folded, batches)
    model.thresh.load_state_dict(model.prob.state_dict())  # not in the graph: training grows it from the prob head
    x = torch.rand(1, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    got = _run_graph(path, {"image": x})
    with torch.no_grad():
        want = model.eval()(x).numpy()
    t = card["training"]
    return {
        "model": model.state_dict(),
        "state": {"step": t["steps"], "samples": t["samples"], "seconds": t["hours"] * 3600, "best_hmean": -1.0},
        "recipe": {k: v for k, v in card["recipe"].items() if k not in ("run_dir", "init")},
    }, _difference(got, want)


def _orientation(path: Path, card: dict, batches: list[tuple] | None) -> tuple[dict, float]:
    recipe = card["recipe"]
    model = OrientNet(tuple(recipe["channels"]), recipe["hidden"])
    folded = load_graph_weights(model, path)
    if batches is None:
        from models.train_orient import Crops

        crops = iter(Crops(64, seed=0))
        batches = [next(crops)[:1] for _ in range(4)]
    calibrate_batchnorms(model, folded, batches)
    x = torch.randn(5, 1, 32, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model.eval()(x).numpy()
    t = card["training"]
    return {
        "model": model.state_dict(),
        "state": {"step": t["steps"], "samples": t["samples"], "seconds": t["hours"] * 3600},
        "recipe": {k: v for k, v in recipe.items() if k not in ("run_dir", "init")},
    }, _difference(_run_graph(path, {"x": x}), want)


def rebuild(path: Path, out_dir: Path, batches: list[tuple] | None = None) -> dict:
    """Shipped weights (ONNX + card, and the recognizer's charset) -> a checkpoint that models.train_crnn,
    train_db or train_orient fine-tunes from (`init`); `batches` (model inputs) calibrate the folded batch norms,
    rendered training data when None."""
    card = json.loads(path.with_suffix(".card.json").read_text(encoding="utf-8"))
    inputs = {i.name for i in onnx.load(str(path)).graph.input}
    if inputs == {"x", "widths"}:
        ckpt, diff = _recognizer(path, card, batches)
    elif inputs == {"image"}:
        ckpt, diff = _detector(path, card, batches)
    elif inputs == {"x"}:
        ckpt, diff = _orientation(path, card, batches)
    else:
        raise ValueError(f"{path}: inputs {sorted(inputs)} are not the recognizer's (x, widths), the detector's "
                         "(image) or the orientation classifier's (x)")
    if diff > 1e-3:
        raise RuntimeError(f"{path}: the rebuilt model differs from the graph by {diff}")
    ckpt["recipe"] |= {"run_dir": str(out_dir), "from_onnx": str(path)}
    return ckpt | {"learning_curve": card.get("learning_curve", []), "max_abs_diff_vs_onnx": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = rebuild(args.onnx, args.out.parent)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, args.out)
    diff = ckpt["max_abs_diff_vs_onnx"]
    print(f"{args.out}: {ckpt['state']}, largest output difference from {args.onnx}: {diff:.2e}")


if __name__ == "__main__":
    main()
