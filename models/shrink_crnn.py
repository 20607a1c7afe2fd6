"""Cut a trained CRNN checkpoint down to a cheaper network, as the start of a fine-tune: a faster recognizer that
keeps what the trained one learnt instead of training from scratch.

    python -m models.shrink_crnn runs/crnn_zh_en_shipped/last.pt runs/crnn_zh_en_small/init.pt \\
        --channels 32 48 80 80 128 128 --width-strides 2 4 1 1 --head-rank 96

Each convolution keeps the output channels with the largest filters (L2 norm of its weights times the batch norm's
gamma / sqrt(var + eps)); its batch norm, the next convolution's inputs and the projection's inputs follow. The head is
factored through a `head_rank`-wide bottleneck by SVD. Width pooling holds no weights (a coarser stride keeps them
all). The checkpoint carries the training state, learning curve and recipes of the one it came from, so a fine-tune
from it (`init:` in a recipe with the same network) and its export continue the model card.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from models.crnn import CRNN


def _conv_keys(model: CRNN) -> list[str]:
    """State-dict prefixes of the CNN's blocks (conv at .0, batch norm at .1), in order."""
    return [f"cnn.stages.{k}.{j}" for k, stage in enumerate(model.cnn.stages) for j in range(len(stage))]


@torch.no_grad()
def shrink(state: dict[str, torch.Tensor], old: CRNN, new: CRNN) -> dict[str, torch.Tensor]:
    """`old`'s weights (`state`) cut to `new`'s shapes."""
    out = dict(state)
    keep_in = torch.tensor([0])
    for prefix, block in zip(_conv_keys(old), _conv_keys(new)):
        w, bn = state[f"{prefix}.0.weight"], prefix + ".1"
        n = new.state_dict()[f"{block}.0.weight"].shape[0]
        score = w.flatten(1).norm(dim=1) * state[f"{bn}.weight"].abs() / (state[f"{bn}.running_var"] + 1e-5).sqrt()
        keep = score.topk(n).indices.sort().values
        out[f"{block}.0.weight"] = w[keep][:, keep_in]
        for name in ("weight", "bias", "running_mean", "running_var"):
            out[f"{bn}.{name}"] = state[f"{bn}.{name}"][keep]
        keep_in = keep
    proj = state["proj.weight"]  # its inputs are the CNN's features, channel-major (channel, row)
    out["proj.weight"] = proj.reshape(proj.shape[0], w.shape[0], -1)[:, keep_in].reshape(proj.shape[0], -1)
    rank = new.fc[0].out_features if isinstance(new.fc, torch.nn.Sequential) else 0
    if rank:
        u, s, vh = torch.linalg.svd(state["fc.weight"], full_matrices=False)
        root = s[:rank].sqrt()
        out["fc.0.weight"] = root[:, None] * vh[:rank]
        out["fc.1.weight"] = u[:, :rank] * root
        out["fc.1.bias"] = state["fc.bias"]
        del out["fc.weight"], out["fc.bias"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--channels", type=int, nargs=6, required=True)
    ap.add_argument("--width-strides", type=int, nargs=4, default=[2, 2, 1, 1])
    ap.add_argument("--head-rank", type=int, default=0)
    args = ap.parse_args()
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    classes = len(ckpt["charset"]) + 1
    old = CRNN.from_recipe(ckpt["recipe"], classes)
    if ckpt["recipe"].get("head_rank"):
        raise ValueError(f"{args.checkpoint}: its head is already factored (head_rank {ckpt['recipe']['head_rank']})")
    old.load_state_dict(ckpt["model"])
    if any(n > o for n, o in zip(args.channels, ckpt["recipe"]["channels"])):
        raise ValueError(f"--channels {args.channels}: more than {args.checkpoint} has ({ckpt['recipe']['channels']})")
    architecture = {"hidden": ckpt["recipe"]["hidden"], "channels": args.channels,
                    "width_strides": args.width_strides, "head_rank": args.head_rank}
    new = CRNN.from_recipe(architecture, classes)
    new.load_state_dict(shrink(ckpt["model"], old, new))
    earlier = ckpt["recipe"].get("earlier", []) + [{k: v for k, v in ckpt["recipe"].items() if k != "earlier"}]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**ckpt, "model": new.state_dict(),
                "recipe": {**architecture, "earlier": earlier, "run_dir": str(args.out.parent),
                           "shrunk_from": str(args.checkpoint)}}, args.out)
    params = sum(p.numel() for p in new.parameters())
    print(f"{args.out}: {params / 1e6:.2f}M parameters (from {sum(p.numel() for p in old.parameters()) / 1e6:.2f}M)")


if __name__ == "__main__":
    main()
