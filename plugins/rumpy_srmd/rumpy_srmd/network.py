"""SRMD: Zhang, Zuo and Zhang, "Learning a Single Convolutional Super-Resolution Network for
Multiple Degradations", CVPR 2018 (arXiv:1712.06116)."""

from __future__ import annotations

import torch
from torch import nn

from rumpycore.layers import conv3x3


class SRMD(nn.Module):
    """The LR image and its degradation maps (each metadata value stretched over the image, one
    map per value) stacked along channels, then ``num_layers`` 3x3 convolutions: all but the
    last followed by a ReLU, the last making ``3 * scale**2`` channels that one pixel shuffle
    turns into the output image.

    ``forward(lr, metadata)`` takes one vector of ``metadata_size`` values per image; with
    ``metadata_size = 0`` the network takes ``forward(lr)``.
    """

    def __init__(self, scale: int, metadata_size: int, num_features: int = 128, num_layers: int = 12) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        inputs = 3 + metadata_size
        for _ in range(num_layers - 1):
            layers += [conv3x3(inputs, num_features), nn.ReLU(inplace=True)]
            inputs = num_features
        layers += [conv3x3(num_features, 3 * scale * scale), nn.PixelShuffle(scale)]
        self.body = nn.Sequential(*layers)
        self.conditioned = metadata_size > 0

    def forward(self, lr: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditioned:
            maps = metadata[:, :, None, None].expand(-1, -1, lr.shape[2], lr.shape[3])
            lr = torch.cat((lr, maps.to(lr.dtype)), dim=1)
        return self.body(lr)
