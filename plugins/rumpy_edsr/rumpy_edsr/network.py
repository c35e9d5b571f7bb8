"""EDSR: Lim, Son, Kim, Nah and Lee, "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPR Workshops 2017 (arXiv:1707.02921)."""

from __future__ import annotations

import torch
from torch import nn

from rumpycore.layers import MeanShift, PixelShuffleUpsampler, conv3x3


class ResidualBlock(nn.Module):
    """conv-ReLU-conv, scaled by ``res_scale``, plus the identity (no batch norm)."""

    def __init__(self, features: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(features, features), nn.ReLU(inplace=True), conv3x3(features, features))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class EDSR(nn.Module):
    """Head conv, ``num_blocks`` residual blocks and a conv with a global skip, then a
    pixel-shuffle upsampler and a tail conv; RGB mean removed at the input and restored
    at the output."""

    def __init__(self, scale: int, num_features: int = 64, num_blocks: int = 16, res_scale: float = 0.1) -> None:
        super().__init__()
        self.sub_mean = MeanShift(-1)
        self.add_mean = MeanShift(+1)
        self.head = conv3x3(3, num_features)
        self.body = nn.Sequential(*[ResidualBlock(num_features, res_scale) for _ in range(num_blocks)],
                                  conv3x3(num_features, num_features))
        self.tail = nn.Sequential(PixelShuffleUpsampler(scale, num_features), conv3x3(num_features, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x))
        x = x + self.body(x)
        return self.add_mean(self.tail(x))
