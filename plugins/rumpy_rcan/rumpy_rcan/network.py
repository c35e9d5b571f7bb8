"""RCAN: Zhang, Li, Li, Wang, Zhong and Fu, "Image Super-Resolution Using Very Deep Residual
Channel Attention Networks", ECCV 2018 (arXiv:1807.02758); with meta-attention layers, QRCAN
(Aquilina et al., IEEE SPL 2021)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rumpycore.layers import MeanShift, MetaLayers, PixelShuffleUpsampler, conv3x3


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
    """Residual channel-attention block: conv-ReLU-conv-attention (then ``meta``, a meta-attention
    layer, if given), scaled by ``res_scale``, plus the identity (the short skip)."""

    def __init__(self, features: int, reduction: int, res_scale: float, meta: nn.Module | None = None) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(features, features),
            nn.ReLU(inplace=True),
            conv3x3(features, features),
            ChannelAttention(features, reduction),
        )
        self.meta = meta
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        y = self.body(x)
        if self.meta is not None:
            y = self.meta(y, metadata)
        return x + y * self.res_scale


class ResidualGroup(nn.Module):
    """``blocks`` RCABs and a conv, plus the identity (the group's skip). ``meta(block)`` gives
    each block's meta-attention layer (or None)."""

    def __init__(self, features: int, blocks: int, reduction: int, res_scale: float,
                 meta: Callable[[int], nn.Module | None] = lambda block: None) -> None:
        super().__init__()
        self.body = nn.Sequential(*[RCAB(features, reduction, res_scale, meta(b)) for b in range(blocks)],
                                  conv3x3(features, features))

    def forward(self, x: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        *blocks, conv = self.body
        y = x
        for block in blocks:
            y = block(y, metadata)
        return x + conv(y)


class RCAN(nn.Module):
    """Head conv; ``n_resgroups`` residual groups and a conv with the long skip from the head;
    pixel-shuffle upsampler and tail conv. The DIV2K RGB mean is removed at the input and
    restored at the output, as in the paper's code.

    ``meta(group, block)`` (see :data:`rumpycore.layers.MetaLayers`) places meta-attention
    layers after the channel attention of the blocks it chooses; ``forward(x, metadata)`` then
    takes one metadata vector per image. Without it the network is the paper's RCAN.
    """

    def __init__(self, scale: int, n_resgroups: int = 10, n_resblocks: int = 20, n_feats: int = 64,
                 reduction: int = 16, res_scale: float = 1.0, meta: MetaLayers | None = None) -> None:
        super().__init__()
        place = meta or (lambda group, block: None)
        self.sub_mean = MeanShift(-1)
        self.add_mean = MeanShift(+1)
        self.head = conv3x3(3, n_feats)
        self.body = nn.Sequential(
            *[ResidualGroup(n_feats, n_resblocks, reduction, res_scale, lambda b, g=g: place(g, b))
              for g in range(n_resgroups)],
            conv3x3(n_feats, n_feats),
        )
        self.tail = nn.Sequential(PixelShuffleUpsampler(scale, n_feats), conv3x3(n_feats, 3))

    def groups(self, x: torch.Tensor, metadata: torch.Tensor | None) -> list[torch.Tensor]:
        """The output of every residual group and of the body's last conv, in order, for the head's
        features ``x``."""
        *groups, conv = self.body
        outputs = []
        for group in groups:
            x = group(x, metadata)
            outputs.append(x)
        outputs.append(conv(x))
        return outputs

    def forward(self, x: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        x = self.head(self.sub_mean(x))
        x = x + self.groups(x, metadata)[-1]
        return self.add_mean(self.tail(x))
