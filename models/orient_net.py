"""A tiny orientation classifier: a gray 32x128 text window -> log-probs of 0/90/180/270 (clockwise turn that
makes its characters upright)."""
from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int, pool: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.MaxPool2d(pool, pool))


class OrientNet(nn.Module):
    """Four conv blocks ([B,1,32,128] -> [B,C,2,8]), mean over the width (the text direction; the height keeps
    where ascenders and descenders lie), then a small MLP to 4 classes."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 64), hidden: int = 64) -> None:
        super().__init__()
        c = channels
        self.features = nn.Sequential(_block(1, c[0], (2, 2)), _block(c[0], c[1], (2, 2)), _block(c[1], c[2], (2, 2)),
                                      _block(c[2], c[3], (2, 2)))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c[3] * 2, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.head(self.features(x).mean(dim=3)), dim=1)
