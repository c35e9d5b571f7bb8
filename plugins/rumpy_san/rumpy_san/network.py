"""SAN: Dai, Cai, Zhang, Xia and Zhang, "Second-order Attention Network for Single Image
Super-Resolution", CVPR 2019: residual groups of plain residual blocks, each group ending in
second-order channel attention (channel statistics from the square root of the features'
covariance, by Newton-Schulz iteration), sharing one skip from the input of the body, with
non-local attention over four regions before and after the groups. With meta-attention layers
in the blocks, QSAN (Aquilina et al., IEEE SPL 2021)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from rumpycore.layers import MeanShift, MetaLayers, PixelShuffleUpsampler, conv3x3

NEWTON_SCHULZ_STEPS = 5  # as in the paper
COVARIANCE_WINDOW = 1000  # larger feature maps: the covariance of a centred window this size, as in the paper's code


def covariance(x: torch.Tensor) -> torch.Tensor:
    """``N x C x C`` covariance of the channels over the pixels (divided by the pixel count)."""
    flat = x.flatten(2)
    centred = flat - flat.mean(dim=2, keepdim=True)
    return centred @ centred.transpose(1, 2) / flat.shape[2]


def matrix_sqrt(matrix: torch.Tensor, steps: int = NEWTON_SCHULZ_STEPS) -> torch.Tensor:
    """Square root of symmetric positive semi-definite ``N x C x C`` matrices by coupled Newton-Schulz
    iteration, on the matrices divided by their trace (so the iteration converges) and scaled back
    by the trace's square root."""
    trace = matrix.diagonal(dim1=1, dim2=2).sum(-1).clamp_min(1e-12)[:, None, None]  # a flat crop has no spread
    y = matrix / trace
    identity3 = 3 * torch.eye(matrix.shape[1], dtype=matrix.dtype, device=matrix.device).expand_as(matrix)
    z = torch.eye(matrix.shape[1], dtype=matrix.dtype, device=matrix.device).expand_as(matrix)
    for _ in range(steps - 1):
        t = 0.5 * (identity3 - z @ y)
        y, z = y @ t, t @ z
    y = 0.5 * y @ (identity3 - z @ y)
    return y * trace.sqrt()


class SecondOrderAttention(nn.Module):
    """Second-order channel attention (SOCA): the mean of each row of the covariance's square root
    (of a centred window of at most 1000 x 1000 pixels), through 1x1 layers down by ``reduction``
    and back with a ReLU between, then a sigmoid, gates each channel. The statistics are computed
    in float32 whatever the training precision."""

    def __init__(self, features: int, reduction: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(features, features // reduction), nn.ReLU(inplace=True),
                                  nn.Linear(features // reduction, features), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2:]
        top, left = (max(0, height - COVARIANCE_WINDOW) // 2, max(0, width - COVARIANCE_WINDOW) // 2)
        window = x[:, :, top : top + COVARIANCE_WINDOW, left : left + COVARIANCE_WINDOW]
        with torch.autocast(x.device.type, enabled=False):
            statistics = matrix_sqrt(covariance(window.float())).mean(dim=1)
        return x * self.gate(statistics.to(x.dtype))[:, :, None, None]


class NonLocal(nn.Module):
    """Embedded-Gaussian non-local block: every pixel adds a softmax-weighted sum of the
    (1x1-projected) features around the image, projected back by a 1x1 conv that starts at zero
    (so the block starts as the identity). As in the paper's code, the keys and values are
    max-pooled 2x2 first, so each pixel attends to a quarter as many positions."""

    def __init__(self, features: int, inner: int) -> None:
        super().__init__()
        self.g = nn.Conv2d(features, inner, 1)
        self.theta = nn.Conv2d(features, inner, 1)
        self.phi = nn.Conv2d(features, inner, 1)
        self.W = nn.Conv2d(inner, features, 1)
        nn.init.zeros_(self.W.weight)
        nn.init.zeros_(self.W.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        g = F.max_pool2d(self.g(x), 2).flatten(2).transpose(1, 2)
        theta = self.theta(x).flatten(2).transpose(1, 2)
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)
        y = torch.softmax(theta @ phi, dim=-1) @ g
        return x + self.W(y.transpose(1, 2).reshape(n, -1, height, width))


class RegionNonLocal(nn.Module):
    """The non-local block applied to each quarter of the feature map separately (the paper's
    region-level non-local module), halves split at ``H // 2`` and ``W // 2``."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.non_local = NonLocal(features, features // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2] // 2, x.shape[3] // 2
        top = torch.cat([self.non_local(x[:, :, :h, :w]), self.non_local(x[:, :, :h, w:])], dim=3)
        bottom = torch.cat([self.non_local(x[:, :, h:, :w]), self.non_local(x[:, :, h:, w:])], dim=3)
        return torch.cat([top, bottom], dim=2)


class ResidualBlock(nn.Module):
    """conv-ReLU-conv (then ``meta``, a meta-attention layer, if given), plus the identity."""

    def __init__(self, features: int, meta: nn.Module | None = None) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(features, features), nn.ReLU(inplace=True), conv3x3(features, features))
        self.meta = meta

    def forward(self, x: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        y = self.body(x)
        if self.meta is not None:
            y = self.meta(y, metadata)
        return x + y


class AttentionGroup(nn.Module):
    """Local-source residual attention group (LSRAG): ``blocks`` residual blocks, second-order
    channel attention and a conv, plus the identity. ``meta(block)`` gives each block's
    meta-attention layer (or None)."""

    def __init__(self, features: int, blocks: int, reduction: int,
                 meta: Callable[[int], nn.Module | None] = lambda block: None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(ResidualBlock(features, meta(b)) for b in range(blocks))
        self.soca = SecondOrderAttention(features, reduction)
        self.conv = conv3x3(features, features)

    def forward(self, x: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        y = x
        for block in self.blocks:
            y = block(y, metadata)
        return x + self.conv(self.soca(y))


class SAN(nn.Module):
    """Head conv; region non-local attention; ``n_resgroups`` attention groups, each output plus
    ``gamma`` (learnt, 0 at first) times the body's input (the share-source skip); the same
    region non-local module again, plus the head's features; pixel-shuffle upsampler and tail
    conv. The DIV2K RGB mean is removed at the input and restored at the output.

    In evaluation mode an LR image larger than ``max_area`` pixels is super-resolved in four
    overlapping quarters (10 LR pixels of overlap, recursively), as the paper's test code does,
    since non-local attention grows with the square of a region's area.

    ``meta(group, block)`` (see :data:`rumpycore.layers.MetaLayers`) places meta-attention layers
    at the end of the blocks it chooses; ``forward(x, metadata)`` then takes one metadata vector
    per image.
    """

    def __init__(self, scale: int, n_resgroups: int = 20, n_resblocks: int = 10, n_feats: int = 64,
                 reduction: int = 16, max_area: int = 160000, meta: MetaLayers | None = None) -> None:
        super().__init__()
        place = meta or (lambda group, block: None)
        self.scale = scale
        self.max_area = max_area
        self.sub_mean = MeanShift(-1)
        self.add_mean = MeanShift(+1)
        self.head = conv3x3(3, n_feats)
        self.non_local = RegionNonLocal(n_feats)
        self.groups = nn.ModuleList(AttentionGroup(n_feats, n_resblocks, reduction, lambda b, g=g: place(g, b))
                                    for g in range(n_resgroups))
        self.gamma = nn.Parameter(torch.zeros(1))
        self.tail = nn.Sequential(PixelShuffleUpsampler(scale, n_feats), conv3x3(n_feats, 3))

    def forward(self, x: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training and x.shape[2] * x.shape[3] > self.max_area:
            return self._in_quarters(x, metadata)
        x = self.head(self.sub_mean(x))
        body = self.non_local(x)
        y = body
        for group in self.groups:
            y = group(y, metadata) + self.gamma * body
        return self.add_mean(self.tail(self.non_local(y) + x))

    def _in_quarters(self, x: torch.Tensor, metadata: torch.Tensor | None, overlap: int = 10) -> torch.Tensor:
        height, width = x.shape[2:]
        h, w = height // 2, width // 2
        rows = (slice(0, h + overlap), slice(height - h - overlap, height))
        cols = (slice(0, w + overlap), slice(width - w - overlap, width))
        s = self.scale
        parts = [[self(x[:, :, r, c], metadata) for c in cols] for r in rows]
        top = torch.cat([parts[0][0][..., : h * s, : w * s], parts[0][1][..., : h * s, -(width - w) * s :]], dim=3)
        bottom = torch.cat([parts[1][0][..., -(height - h) * s :, : w * s],
                            parts[1][1][..., -(height - h) * s :, -(width - w) * s :]], dim=3)
        return torch.cat([top, bottom], dim=2)
