"""CRNN: a CNN over a height-32 grayscale line, a BiLSTM over its columns, CTC log-probs per 4-pixel column.

Every convolution block is followed by a width mask, so a line's features are the same whether it runs alone or
padded in a batch with wider lines; the BiLSTM runs on packed sequences in training and on per-line reversed
sequences in the exported graph (same maths, ONNX-friendly).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HEIGHT = 32
STRIDE = 4  # input pixels per output frame


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CNN(nn.Module):
    """[B, 1, 32, W] -> [B, 512, W/4] with features past each line's width set to zero."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 128, 256, 256)) -> None:
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
        self.pools = nn.ModuleList(
            [nn.MaxPool2d(2, 2), nn.MaxPool2d(2, 2), nn.MaxPool2d((2, 1), (2, 1)), nn.MaxPool2d((2, 1), (2, 1))]
        )
        self.width_strides = (2, 2, 1, 1)
        self.out_channels = c[5] * 2

    @staticmethod
    def _mask(x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        cols = torch.arange(x.shape[3], device=x.device).unsqueeze(0)
        keep = (cols < widths.unsqueeze(1)).to(x.dtype)
        return x * keep[:, None, None, :]

    def forward(self, x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        w = widths
        x = self._mask(x, w)
        for blocks, pool, stride in zip(self.stages, self.pools, self.width_strides):
            for block in blocks:
                x = self._mask(block(x), w)
            w = torch.div(w, stride, rounding_mode="floor")
            x = self._mask(pool(x), w)
        b, c, h, t = x.shape
        return x.reshape(b, c * h, t)


class CRNN(nn.Module):
    """Line image [B, 1, 32, W] (values 0..1, W a multiple of 4) + widths [B] -> log-probs [B, W/4, classes].

    The BiLSTM's output is added to its input (a residual path), so the head can start from the glyph classifier.
    """

    def __init__(self, num_classes: int, hidden: int = 128, channels: tuple[int, ...] = (32, 64, 128, 128, 256, 256)):
        super().__init__()
        self.cnn = CNN(channels)
        self.proj = nn.Linear(self.cnn.out_channels, hidden * 2)
        self.rnn = nn.LSTM(hidden * 2, hidden, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(hidden * 2, num_classes)

    def features(self, x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        return self.proj(self.cnn(x, widths).transpose(1, 2))  # [B, T, 2H]

    def forward(self, x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        feats = self.features(x, widths)
        frames = torch.div(widths, STRIDE, rounding_mode="floor")
        packed = pack_padded_sequence(feats, frames.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=feats.shape[1])
        return torch.log_softmax(self.fc(out + feats), dim=-1)

    @torch.no_grad()
    def init_head_from_glyphs(self, head: nn.Linear) -> None:
        """Factor the glyph classifier's head W (classes x C) into fc.weight @ proj.weight (rank 2H, by SVD), so
        that through the residual path each frame starts out predicting the character under it."""
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
        self.cnn, self.proj, self.fc = model.cnn, model.proj, model.fc
        hidden = model.rnn.hidden_size
        self.fwd = nn.LSTM(model.rnn.input_size, hidden, batch_first=True)
        self.bwd = nn.LSTM(model.rnn.input_size, hidden, batch_first=True)
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(self.fwd, name).data.copy_(getattr(model.rnn, name).data)
            getattr(self.bwd, name).data.copy_(getattr(model.rnn, name + "_reverse").data)

    def forward(self, x: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        feats = self.proj(self.cnn(x, widths).transpose(1, 2))
        frames = torch.div(widths, STRIDE, rounding_mode="floor")
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
