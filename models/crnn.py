"""CRNN: a CNN over a height-32 grayscale line, a BiLSTM over its columns, CTC log-probs per `stride`-pixel column
(4 by default, 8 with `width_strides` (2, 4, 1, 1)).

Every convolution block that feeds another is followed by a width mask, so a line's features are the same whether it
runs alone or padded in a batch with wider lines (widths are multiples of the stride, so pooling needs no mask of
its own); the BiLSTM runs on packed sequences in training and on per-line reversed sequences in the exported graph
(same maths, ONNX-friendly). The head is one linear layer, or two through a `head_rank`-wide bottleneck (a cheaper
head over thousands of classes).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HEIGHT = 32
WIDTH_STRIDES = (2, 2, 1, 1)  # width pooling after each CNN stage: 4 input pixels per output frame
ARCHITECTURE_KEYS = ("hidden", "channels", "width_strides", "head_rank")  # what a recipe says of the network


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CNN(nn.Module):
    """[B, 1, 32, W] -> [B, 2 x channels[5], W / stride]; features past a line's width are not meaningful."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 128, 256, 256),
                 width_strides: tuple[int, ...] = WIDTH_STRIDES) -> None:
        super().__init__()
        c = channels
        self.stages = nn.ModuleList(
            [
                nn.ModuleList([_block(1, c[0])]),
                nn.ModuleList([_block(c[0], c[1])]),
                nn.ModuleList([_block(c[1], c[2]), _block(c[2], c[3])]),
                nn.ModuleList([_block(c[3], c[4]), _block(c[4], c[5])]),
            ]
        )
        self.pools = nn.ModuleList([nn.MaxPool2d((2, s), (2, s)) for s in width_strides])
        self.width_strides = tuple(width_strides)
        self.stride = math.prod(width_strides)
        self.out_channels = c[5] * 2

    @staticmethod
    def _mask(x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        cols = torch.arange(x.shape[3], device=x.device).unsqueeze(0)
        keep = (cols < widths.unsqueeze(1)).to(x.dtype)
        return x * keep[:, None, None, :]

    def forward(self, x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        """Widths are multiples of the stride; whatever `x` holds past them is ignored."""
        w = widths
        x = self._mask(x, w)
        blocks = [(block, k) for k, stage in enumerate(self.stages) for block in stage]
        for i, (block, k) in enumerate(blocks):
            x = block(x)
            if i < len(blocks) - 1:  # the last block feeds only per-frame layers: nothing leaks into a line
                x = self._mask(x, w)
            if i == len(blocks) - 1 or blocks[i + 1][1] != k:
                x = self.pools[k](x)
                w = torch.div(w, self.width_strides[k], rounding_mode="floor")
        b, c, h, t = x.shape
        return x.reshape(b, c * h, t)


class CRNN(nn.Module):
    """Line image [B, 1, 32, W] (values 0..1; W and widths multiples of the stride) + widths [B] -> log-probs
    [B, W / stride, classes].

    The BiLSTM's output is added to its input (a residual path), so the head can start from the glyph classifier.
    """

    def __init__(self, num_classes: int, hidden: int = 128, channels: tuple[int, ...] = (32, 64, 128, 128, 256, 256),
                 width_strides: tuple[int, ...] = WIDTH_STRIDES, head_rank: int = 0):
        super().__init__()
        self.cnn = CNN(channels, width_strides)
        self.stride = self.cnn.stride
        self.proj = nn.Linear(self.cnn.out_channels, hidden * 2)
        self.rnn = nn.LSTM(hidden * 2, hidden, bidirectional=True, batch_first=True)
        self.fc = (
            nn.Sequential(nn.Linear(hidden * 2, head_rank, bias=False), nn.Linear(head_rank, num_classes))
            if head_rank else nn.Linear(hidden * 2, num_classes)
        )

    @classmethod
    def from_recipe(cls, recipe: dict, num_classes: int) -> "CRNN":
        """The network a training recipe (or a checkpoint's recipe) describes."""
        return cls(num_classes, recipe["hidden"], tuple(recipe["channels"]),
                   tuple(recipe.get("width_strides", WIDTH_STRIDES)), recipe.get("head_rank", 0))

    def features(self, x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        return self.proj(self.cnn(x, widths).transpose(1, 2))  # [B, T, 2H]

    def forward(self, x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        feats = self.features(x, widths)
        frames = torch.div(widths, self.stride, rounding_mode="floor")
        packed = pack_padded_sequence(feats, frames.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=feats.shape[1])
        return torch.log_softmax(self.fc(out + feats), dim=-1)

    @torch.no_grad()
    def init_head_from_glyphs(self, head: nn.Linear) -> None:
        """Factor the glyph classifier's head W (classes x C) into fc.weight @ proj.weight (rank 2H, by SVD), so
        that through the residual path each frame starts out predicting the character under it."""
        if not isinstance(self.fc, nn.Linear):
            raise ValueError("glyph pre-training starts a full-rank head: head_rank must be 0 in a recipe with `glyph`")
        u, s, vh = torch.linalg.svd(head.weight, full_matrices=False)
        rank = self.proj.out_features
        root = s[:rank].sqrt()
        self.fc.weight.copy_(u[:, :rank] * root)
        self.fc.bias.copy_(head.bias)
        self.proj.weight.copy_(root[:, None] * vh[:rank])
        self.proj.bias.zero_()


class ExportableCRNN(nn.Module):
    """The same network with the BiLSTM split into two LSTMs, the backward one fed each line reversed within its
    own length: equal to the packed BiLSTM, and exportable to ONNX with dynamic batch and width."""

    def __init__(self, model: CRNN) -> None:
        super().__init__()
        self.cnn, self.proj, self.fc, self.stride = model.cnn, model.proj, model.fc, model.stride
        hidden = model.rnn.hidden_size
        self.fwd = nn.LSTM(model.rnn.input_size, hidden, batch_first=True)
        self.bwd = nn.LSTM(model.rnn.input_size, hidden, batch_first=True)
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(self.fwd, name).data.copy_(getattr(model.rnn, name).data)
            getattr(self.bwd, name).data.copy_(getattr(model.rnn, name + "_reverse").data)

    def forward(self, x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        feats = self.proj(self.cnn(x, widths).transpose(1, 2))
        frames = torch.div(widths, self.stride, rounding_mode="floor")
        t = torch.arange(feats.shape[1], device=x.device).unsqueeze(0)
        lengths = frames.unsqueeze(1)
        rev = torch.where(t < lengths, lengths - 1 - t, t)  # reverse inside each line, leave padding in place
        index = rev.unsqueeze(2).expand(-1, -1, feats.shape[2])
        out_f, _ = self.fwd(feats)
        out_b, _ = self.bwd(torch.gather(feats, 1, index))
        out_b = torch.gather(out_b, 1, rev.unsqueeze(2).expand(-1, -1, out_b.shape[2]))
        return torch.log_softmax(self.fc(torch.cat([out_f, out_b], dim=2) + feats), dim=-1)


class GlyphClassifier(nn.Module):
    """The CRNN's CNN with a linear head over 32x32 single-character images: pre-training that escapes the CTC
    plateau for thousands of hanzi."""

    def __init__(self, cnn: CNN, num_classes: int) -> None:
        super().__init__()
        self.cnn = cnn
        self.head = nn.Linear(cnn.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        widths = torch.full((x.shape[0],), x.shape[3], dtype=torch.long, device=x.device)
        return self.head(self.cnn(x, widths).mean(dim=2))
