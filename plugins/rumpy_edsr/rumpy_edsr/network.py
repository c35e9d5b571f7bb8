"""EDSR: Lim, Son, Kim, Nah and Lee, "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPR Workshops 2017 (arXiv:1707.02921); with meta-attention layers, QEDSR
(Aquilina et al., IEEE SPL 2021)."""

from __future__ import annotations

import torch
from torch import nn

from rumpycore.layers import MeanShift, MetaLayers, PixelShuffleUpsampler, conv3x3


class ResidualBlock(nn.Module):
    """conv-ReLU-conv (then ``meta``, a meta-attention layer, if given), scaled by ``res_scale``,
    plus the identity (no batch norm)."""

    def __init__(self, features: int, res_scale: float, meta: nn.Module | None = None) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(features, features), nn.ReLU(inplace=True), conv3x3(features, features))
        self.meta = meta
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        y = self.body(x)
        if self.meta is not None:
            y = self.meta(y, metadata)
        return x + y * self.res_scale


class EDSR(nn.Module):
    """Head conv, ``num_blocks`` residual blocks and a conv with a global skip, then a
    pixel-shuffle upsampler and a tail conv; RGB mean removed at the input and restored
    at the output.

    ``meta(block, 0)`` (see :data:`rumpycore.layers.MetaLayers`) places meta-attention layers in
    the residual blocks it chooses; ``forward(x, metadata)`` then takes one metadata vector per
    image. Without it the network is the paper's EDSR.
    """

    def __init__(self, scale: int, num_features: int = 64, num_blocks: int = 16, res_scale: float = 0.1,
                 meta: MetaLayers | None = None) -> None:
        super().__init__()
        place = meta or (lambda unit, block: None)
        self.sub_mean = MeanShift(-1)
        self.add_mean = MeanShift(+1)
        self.head = conv3x3(3, num_features)
        self.body = nn.Sequential(*[ResidualBlock(num_features, res_scale, place(b, 0)) for b in range(num_blocks)],
                                  conv3x3(num_features, num_features))
        self.tail = nn.Sequential(PixelShuffleUpsampler(scale, num_features), conv3x3(num_features, 3))

    def forward(self, x: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        x = self.head(self.sub_mean(x))
        *blocks, conv = self.body
        y = x
        for block in blocks:
            y = block(y, metadata)
        x = x + conv(y)
        return self.add_mean(self.tail(x))
