"""HAN: Niu, Wen, Ren, Zhang, Yang, Wang, Zhang, Cao and Shen, "Single Image Super-Resolution via
a Holistic Attention Network", ECCV 2020 (arXiv:2008.08767): RCAN's residual groups, whose
outputs a layer attention module weighs against each other, and a channel-spatial attention
module on the last one. With meta-attention layers in the blocks, QHAN (Aquilina et al., 2021)."""

from __future__ import annotations

import torch
from torch import nn

from rumpy_rcan.network import RCAN
from rumpycore.layers import MetaLayers, conv3x3


class LayerAttention(nn.Module):
    """Layer attention (LAM): the ``N x L x C x H x W`` stack of L layers' features attends over
    its layers, each layer a weighted sum of all of them (weights from a softmax over the
    negated, max-shifted correlations of the flattened features), scaled by a learnt ``gamma``
    (0 at first) and added to the stack; returns the layers joined along channels."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        n, layers, channels, height, width = stack.shape
        flat = stack.reshape(n, layers, -1)
        energy = flat @ flat.transpose(1, 2)
        attention = torch.softmax(energy.amax(-1, keepdim=True) - energy, dim=-1)
        out = (attention @ flat).reshape(n, layers, channels, height, width)
        return (self.gamma * out + stack).reshape(n, layers * channels, height, width)


class ChannelSpatialAttention(nn.Module):
    """Channel-spatial attention (CSAM): one 3x3x3 convolution over (channels, height, width),
    a sigmoid, scaled by a learnt ``gamma`` (0 at first): ``x * (gamma * mask) + x``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 3, padding=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.sigmoid(self.conv(x.unsqueeze(1))).squeeze(1)
        return x * (self.gamma * mask) + x


class HAN(RCAN):
    """RCAN's head, residual groups, body conv and tail, with the holistic attention between
    body and tail: the outputs of every group and of the body conv (latest first, as in the
    paper's code) go through layer attention and a conv, the body conv's output through
    channel-spatial attention; a conv joins both, plus the head's features.

    ``meta(group, block)`` adds meta-attention layers to the groups' blocks as in
    :class:`~rumpy_rcan.network.RCAN`. Unlike RCAN, each block's residual is not scaled
    (the paper's code ignores ``res_scale``).
    """

    def __init__(self, scale: int, n_resgroups: int = 10, n_resblocks: int = 20, n_feats: int = 64,
                 reduction: int = 16, meta: MetaLayers | None = None) -> None:
        super().__init__(scale, n_resgroups, n_resblocks, n_feats, reduction, 1.0, meta)
        self.csa = ChannelSpatialAttention()
        self.la = LayerAttention()
        self.last_conv = conv3x3(n_feats * (n_resgroups + 1), n_feats)
        self.last = conv3x3(n_feats * 2, n_feats)

    def forward(self, x: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        x = self.head(self.sub_mean(x))
        outputs = self.groups(x, metadata)
        layers = self.last_conv(self.la(torch.stack(outputs[::-1], dim=1)))
        x = x + self.last(torch.cat([self.csa(outputs[-1]), layers], dim=1))
        return self.add_mean(self.tail(x))
