"""RCAN: Zhang, Li, Li, Wang, Zhong and Fu, "Image Super-Resolution Using Very Deep Residual
Channel Attention Networks", ECCV 2018 (arXiv:1807.02758)."""

from __future__ import annotations

import torch
from torch import nn

from rumpycore.layers import MeanShift, PixelShuffleUpsampler, conv3x3


class ChannelAttention(nn.Module):
    """Rescale each channel by a gate computed from its global average: pool, 1x1 conv down
    by ``reduction``, ReLU, 1x1 conv back up, sigmoid."""

    def __init__(self, features: int, reduction: int) -> None:
        super().__init__()
        squeezed = features // reduction
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(features, squeezed, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(squeezed, features, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class RCAB(nn.Module):
    """Residual channel-attention block: conv-ReLU-conv-attention, scaled by ``res_scale``,
    plus the identity (the short skip)."""

    def __init__(self, features: int, reduction: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(features, features),
            nn.ReLU(inplace=True),
            conv3x3(features, features),
            ChannelAttention(features, reduction),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class ResidualGroup(nn.Module):
    """``blocks`` RCABs and a conv, plus the identity (the group's skip)."""

    def __init__(self, features: int, blocks: int, reduction: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(*[RCAB(features, reduction, res_scale) for _ in range(blocks)],
                                  conv3x3(features, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class RCAN(nn.Module):
    """Head conv; ``n_resgroups`` residual groups and a conv with the long skip from the head;
    pixel-shuffle upsampler and tail conv. The DIV2K RGB mean is removed at the input and
    restored at the output, as in the paper's code."""

    def __init__(self, scale: int, n_resgroups: int = 10, n_resblocks: int = 20, n_feats: int = 64,
                 reduction: int = 16, res_scale: float = 1.0) -> None:
        super().__init__()
        self.sub_mean = MeanShift(-1)
        self.add_mean = MeanShift(+1)
        self.head = conv3x3(3, n_feats)
        self.body = nn.Sequential(
            *[ResidualGroup(n_feats, n_resblocks, reduction, res_scale) for _ in range(n_resgroups)],
            conv3x3(n_feats, n_feats),
        )
        self.tail = nn.Sequential(PixelShuffleUpsampler(scale, n_feats), conv3x3(n_feats, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x))
        x = x + self.body(x)
        return self.add_mean(self.tail(x))
