"""A light DBNet (Liao et al., "Real-time Scene Text Detection with Differentiable Binarization", AAAI 2020) for
CPU: a depthwise-separable backbone (strides 4-32), an FPN-lite neck fused at 1/4 scale and two heads upsampling
to full resolution, one for the probability map and one for the threshold map.

Targets (`db_targets`) and loss (`DBLoss`) follow the paper: the probability target is each box shrunk by
D = A (1 - r^2) / L (r = 0.4); the threshold target rises from 0.3 to 0.7 towards the box edge inside the box
dilated by D; loss = 5 x balanced BCE (3:1 hard negatives) on the probability map + 10 x L1 on the threshold map
+ dice on the approximate binary map 1 / (1 + exp(-k (P - T))), k = 50.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from shapely.geometry import Polygon
from torch import nn

SHRINK_RATIO = 0.4
THRESH_MIN, THRESH_MAX = 0.3, 0.7


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _Block(nn.Module):
    """Depthwise 3x3 (or 5x5) + pointwise, residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int = 1, k: int = 3) -> None:
        super().__init__()
        self.dw = _conv_bn(cin, cin, k, stride, groups=cin)
        self.pw = _conv_bn(cin, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return F.relu(y + x if self.residual else y)


class DBNet(nn.Module):
    """Input: BGR float [B, 3, H, W] in 0..1, H and W multiples of 32. Output (training): probability and
    threshold maps [B, 2, H, W]; in eval mode only the probability map [B, 1, H, W]."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 128, 192), depth: tuple[int, ...] = (1, 2, 3, 2),
                 neck: int = 64) -> None:
        super().__init__()
        c0, *cs = channels
        self.stem = nn.Sequential(_conv_bn(3, c0, 3, 2), _Block(c0, c0))
        stages, cin = [], c0
        for cout, n in zip(cs, depth):
            blocks = [_Block(cin, cout, 2)] + [_Block(cout, cout, k=5 if i % 2 else 3) for i in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleList(nn.Conv2d(c, neck, 1, bias=False) for c in cs)
        self.smooth = nn.ModuleList(nn.Sequential(_conv_bn(neck, neck, 3, groups=neck), _conv_bn(neck, neck // 4, 1))
                                    for _ in cs)
        self.prob = self._head(neck)
        self.thresh = self._head(neck)

    @staticmethod
    def _head(cin: int) -> nn.Sequential:
        mid = cin // 4
        return nn.Sequential(_conv_bn(cin, mid, 3), nn.ConvTranspose2d(mid, mid, 2, 2, bias=False), nn.BatchNorm2d(mid),
                             nn.ReLU(inplace=True), nn.ConvTranspose2d(mid, 1, 2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem((x - 0.5) / 0.25)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        lat = [conv(f) for conv, f in zip(self.lateral, feats)]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:], mode="nearest")
        size = lat[0].shape[2:]
        fused = torch.cat([F.interpolate(s(p), size=size, mode="nearest") if i else s(p)
                           for i, (s, p) in enumerate(zip(self.smooth, lat))], dim=1)
        prob = torch.sigmoid(self.prob(fused))
        if not self.training:
            return prob
        return torch.cat([prob, torch.sigmoid(self.thresh(fused))], dim=1)


# ------------------------------------------------------------------------------------------------ targets


def _offset(poly: np.ndarray, distance: float) -> list[np.ndarray]:
    """The polygon grown (distance > 0) or shrunk (< 0) by `distance` with mitred corners: its outlines, if any."""
    grown = Polygon(np.round(poly)).buffer(distance, join_style="mitre")
    parts = getattr(grown, "geoms", [grown])
    return [np.asarray(g.exterior.coords[:-1], np.float32) for g in parts if not g.is_empty]


def _segment_distance(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each point (xs, ys) to the segment a-b."""
    ab = b - a
    t = ((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / max(float(ab @ ab), 1e-6)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(xs - (a[0] + t * ab[0]), ys - (a[1] + t * ab[1]))


def db_targets(shape: tuple[int, int], polygons: list[np.ndarray], ignore: list[bool]):
    """(prob, prob_mask, thresh, thresh_mask) float32 maps of `shape` for boxes given as 4 x 2 arrays."""
    h, w = shape
    prob = np.zeros((h, w), np.float32)
    mask = np.ones((h, w), np.float32)
    thresh = np.zeros((h, w), np.float32)
    tmask = np.zeros((h, w), np.float32)
    for poly, ign in zip(polygons, ignore):
        poly = np.asarray(poly, np.float32)
        area = abs(float(cv2.contourArea(poly)))
        length = float(cv2.arcLength(poly, True))
        if ign or area < 4 or length <= 0:
            cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 0.0)
            continue
        d = area * (1 - SHRINK_RATIO ** 2) / length
        shrunk = _offset(poly, -d)
        if not shrunk:
            cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 0.0)
            continue
        cv2.fillPoly(prob, [np.round(s).astype(np.int32) for s in shrunk], 1.0)
        dilated = _offset(poly, d)
        if not dilated:
            continue
        dil = dilated[0]
        cv2.fillPoly(tmask, [np.round(dil).astype(np.int32)], 1.0)
        x0, y0 = np.floor(dil.min(0)).astype(int)
        x1, y1 = np.ceil(dil.max(0)).astype(int)
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
        if cx1 < cx0 or cy1 < cy0:
            continue
        ys, xs = np.mgrid[cy0:cy1 + 1, cx0:cx1 + 1].astype(np.float32)
        dist = np.min([_segment_distance(xs, ys, poly[i], poly[(i + 1) % len(poly)]) for i in range(len(poly))], axis=0)
        near = np.clip(1.0 - dist / d, 0.0, 1.0)
        region = thresh[cy0:cy1 + 1, cx0:cx1 + 1]
        np.maximum(region, near, out=region)
    thresh = thresh * (THRESH_MAX - THRESH_MIN) + THRESH_MIN
    return prob, mask, thresh, tmask


# ------------------------------------------------------------------------------------------------ loss


class DBLoss(nn.Module):
    def __init__(self, bce_scale: float = 5.0, l1_scale: float = 10.0, k: float = 50.0, ohem: float = 3.0) -> None:
        super().__init__()
        self.bce_scale, self.l1_scale, self.k, self.ohem = bce_scale, l1_scale, k, ohem

    def forward(self, out: torch.Tensor, prob: torch.Tensor, mask: torch.Tensor, thresh: torch.Tensor,
                tmask: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        p, t = out[:, 0], out[:, 1]
        bce = self._balanced_bce(p, prob, mask)
        l1 = (torch.abs(t - thresh) * tmask).sum() / (tmask.sum() + 1e-6)
        binary = torch.sigmoid(self.k * (p - t))
        inter = (binary * prob * mask).sum()
        dice = 1 - 2 * inter / ((binary * mask).sum() + (prob * mask).sum() + 1e-6)
        loss = self.bce_scale * bce + self.l1_scale * l1 + dice
        return loss, {"bce": bce.item(), "l1": l1.item(), "dice": dice.item()}

    def _balanced_bce(self, p: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pos = (gt * mask).bool()
        neg = ((1 - gt) * mask).bool()
        n_pos = int(pos.sum())
        n_neg = min(int(neg.sum()), int(n_pos * self.ohem) if n_pos else 1000)
        loss = F.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), gt, reduction="none")
        neg_loss = torch.topk(loss[neg], n_neg).values if n_neg else loss.new_zeros(0)
        return (loss[pos].sum() + neg_loss.sum()) / (n_pos + n_neg + 1e-6)
