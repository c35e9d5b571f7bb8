"""DAN: blind super-resolution by unfolding the alternating optimisation of image and kernel
(Luo, Huang, Li, Wang and Tan, "Unfolding the Alternating Optimization for Blind Super
Resolution", NeurIPS 2020, arXiv:2010.02631).

A restorer super-resolves the LR image given a degradation code; an estimator predicts the
code from the LR image and the restorer's output; the two alternate a fixed number of times,
starting from a constant code. The restorer is either the paper's (conditional residual
blocks) or any network called as ``restorer(lr, code)``, such as QRCAN (RCAN-DAN).
"""

from __future__ import annotations

import torch
from torch import nn

from rumpycore.layers import PixelShuffleUpsampler, conv3x3


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class ChannelGate(nn.Module):
    """Channel attention of DAN's blocks: average pool, 1x1 squeeze, LeakyReLU, 1x1, sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(x)


class ConditionalBlock(nn.Module):
    """DAN's conditional residual block: ``features + gate(conv(LeakyReLU(conv([features, condition]))))``;
    the condition passes through unchanged."""

    def __init__(self, features: int, condition: int) -> None:
        super().__init__()
        width = features + condition
        self.body = nn.Sequential(conv3x3(width, width), _leaky(), conv3x3(width, features), ChannelGate(features))

    def forward(self, features: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return features + self.body(torch.cat((features, condition.to(features.dtype)), dim=1))


class Estimator(nn.Module):
    """Predicts the degradation code from the LR image and an SR estimate: the SR image enters
    through a 9x9 convolution of stride ``scale`` (back to the LR size), the LR image through a
    1x1 convolution; conditional blocks refine the LR features given the SR features; a conv
    and global average pooling give one code per image."""

    def __init__(self, scale: int, code_size: int, features: int = 64, blocks: int = 5) -> None:
        super().__init__()
        half = features // 2
        self.head_lr = nn.Conv2d(3, half, 1)
        self.head_sr = nn.Conv2d(3, half, 9, stride=scale, padding=4)
        self.body = nn.ModuleList(ConditionalBlock(half, half) for _ in range(blocks))
        self.out = conv3x3(half, code_size)

    def forward(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        features, condition = self.head_lr(lr), self.head_sr(sr)
        for block in self.body:
            features = block(features, condition)
        return self.out(features).mean(dim=(2, 3))


class Restorer(nn.Module):
    """DAN's restorer: head conv, conditional blocks fed the code as constant maps, a fusion
    conv, pixel-shuffle upsampling and a conv to RGB."""

    def __init__(self, scale: int, code_size: int, features: int = 64, blocks: int = 40) -> None:
        super().__init__()
        self.head = conv3x3(3, features)
        self.body = nn.ModuleList(ConditionalBlock(features, code_size) for _ in range(blocks))
        self.fusion = conv3x3(features, features)
        self.tail = nn.Sequential(PixelShuffleUpsampler(scale, features), conv3x3(features, 3))

    def forward(self, lr: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        maps = code[:, :, None, None].expand(-1, -1, *lr.shape[-2:])
        features = self.head(lr)
        for block in self.body:
            features = block(features, maps)
        return self.tail(self.fusion(features))


class DAN(nn.Module):
    """Restorer and estimator alternating ``loops`` times from the code ``initial_code``.

    ``forward(lr)`` returns the last SR image and the last estimated code. Each restorer pass
    gets the estimate detached and each estimator pass the SR image detached, as in the
    paper's code, so the image loss trains the restorer and the code loss the estimator.
    """

    def __init__(self, restorer: nn.Module, estimator: Estimator, code_size: int, loops: int = 4,
                 initial_code: float = 0.5) -> None:
        super().__init__()
        self.restorer = restorer
        self.estimator = estimator
        self.loops = loops
        self.register_buffer("initial_code", torch.full((1, code_size), float(initial_code)))

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.initial_code.expand(lr.shape[0], -1).to(lr.dtype)
        for _ in range(self.loops):
            sr = self.restorer(lr, code.detach())
            code = self.estimator(sr.detach(), lr)
        return sr, code
