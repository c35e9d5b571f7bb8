"""RRDBNet, the generator of ESRGAN (Wang et al., ECCV Workshops 2018) and Real-ESRGAN.

Residual-in-residual dense blocks without batch norm: each block chains three residual dense
blocks (five 3x3 convolutions, each seeing every earlier output of its block), and every
residual is scaled before it is added (0.2 in the paper). The upsampler enlarges x4 in two
steps of nearest-neighbour interpolation followed by a convolution. For x2 and x1 the input is
first folded with pixel-unshuffle (by 2 or 4), as Real-ESRGAN's x2 model does, so the body
always runs at a quarter of the output size.

Module names follow the released ESRGAN / Real-ESRGAN weights (``conv_first``, ``body.<i>.rdb1``,
``conv_body``, ``conv_up1`` ...), so those files load with ``init_from = { file = ..., key =
"params_ema" }``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from rumpycore.layers import conv3x3

_UNSHUFFLE = {1: 4, 2: 2, 4: 1}
"""Pixel-unshuffle factor of the input per output scale: the body always upsamples by 4."""


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convolutions (LeakyReLU 0.2 after the first four), scaled residual."""

    def __init__(self, features: int, growth: int, res_scale: float) -> None:
        super().__init__()
        for index in range(1, 5):
            self.add_module(f"conv{index}", conv3x3(features + (index - 1) * growth, growth))
        self.conv5 = conv3x3(features + 4 * growth, features)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            seen.append(self.lrelu(conv(torch.cat(seen, dim=1))))
        return x + self.res_scale * self.conv5(torch.cat(seen, dim=1))


class RRDB(nn.Module):
    """Three residual dense blocks in a chain, with a scaled residual over the chain."""

    def __init__(self, features: int, growth: int, res_scale: float) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(features, growth, res_scale)
        self.rdb2 = ResidualDenseBlock(features, growth, res_scale)
        self.rdb3 = ResidualDenseBlock(features, growth, res_scale)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """ESRGAN's generator for scales 1, 2 and 4 (RGB in [0, 1], output not clamped)."""

    def __init__(self, scale: int = 4, features: int = 64, blocks: int = 23, growth: int = 32,
                 res_scale: float = 0.2, channels: int = 3) -> None:
        super().__init__()
        if scale not in _UNSHUFFLE:
            raise ValueError(f"RRDBNet supports scales 1, 2 and 4, not {scale}")
        self.unshuffle = _UNSHUFFLE[scale]
        self.conv_first = conv3x3(channels * self.unshuffle**2, features)
        self.body = nn.Sequential(*(RRDB(features, growth, res_scale) for _ in range(blocks)))
        self.conv_body = conv3x3(features, features)
        self.conv_up1 = conv3x3(features, features)
        self.conv_up2 = conv3x3(features, features)
        self.conv_hr = conv3x3(features, features)
        self.conv_last = conv3x3(features, channels)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        features = self.conv_first(x)
        features = features + self.conv_body(self.body(features))
        for conv in (self.conv_up1, self.conv_up2):
            features = self.lrelu(conv(F.interpolate(features, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(features)))
