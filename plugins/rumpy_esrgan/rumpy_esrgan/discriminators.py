"""The discriminators of ESRGAN and Real-ESRGAN.

- :class:`VGGDiscriminator` (ESRGAN): strided VGG-style convolutions with batch norm down to
  4x4 pixels, then two linear layers: one realness logit per image. It sees patches of one
  fixed size (128 pixels in the paper).
- :class:`UNetDiscriminator` (Real-ESRGAN): a U-Net with spectral normalisation that gives a
  realness logit per pixel, so it judges local detail at any size divisible by 8.

Module names follow the released weights, so ``init_from`` can load them.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

from rumpycore import ConfigError


class VGGDiscriminator(nn.Module):
    """ESRGAN's discriminator for ``size`` x ``size`` HR patches (a power of two, at least 32).

    A full-resolution 3x3 convolution, then one stage per halving down to 4x4 pixels: a 3x3
    convolution (except in the first stage) and a stride-2 4x4 convolution, each followed by
    batch norm and LeakyReLU 0.2; channels ``features`` x 1, 2, 4, 8, 8, ... The 4x4 map goes
    through a linear layer of 100 units and one output.
    """

    def __init__(self, size: int = 128, features: int = 64, channels: int = 3) -> None:
        super().__init__()
        stages = int(math.log2(size)) - 2
        self.size = size
        widths = [features * min(2**stage, 8) for stage in range(stages)]
        self.conv0_0 = nn.Conv2d(channels, features, 3, 1, 1)
        self.conv0_1 = nn.Conv2d(features, features, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(features)
        for stage in range(1, stages):
            self.add_module(f"conv{stage}_0", nn.Conv2d(widths[stage - 1], widths[stage], 3, 1, 1, bias=False))
            self.add_module(f"bn{stage}_0", nn.BatchNorm2d(widths[stage]))
            self.add_module(f"conv{stage}_1", nn.Conv2d(widths[stage], widths[stage], 4, 2, 1, bias=False))
            self.add_module(f"bn{stage}_1", nn.BatchNorm2d(widths[stage]))
        self.stages = stages
        self.linear1 = nn.Linear(widths[-1] * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.size, self.size):
            raise ConfigError(
                f"model.discriminator: VGGDiscriminator judges {self.size}x{self.size} HR patches, but training "
                f"gives {x.shape[-1]}x{x.shape[-2]}; set the training sets' crop to {self.size} / scale, or "
                f"[model.discriminator.internal_params] size")
        x = self.lrelu(self.conv0_0(x))
        x = self.lrelu(self.bn0_1(self.conv0_1(x)))
        for stage in range(1, self.stages):
            for half in (0, 1):
                conv, norm = getattr(self, f"conv{stage}_{half}"), getattr(self, f"bn{stage}_{half}")
                x = self.lrelu(norm(conv(x)))
        return self.linear2(self.lrelu(self.linear1(x.flatten(1))))


class UNetDiscriminator(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral normalisation: a logit per pixel.

    Three stride-2 convolutions down (``features`` x 2, 4, 8), three bilinear x2 steps up with
    a convolution each (and, with ``skip``, the encoder's map of that size added), two more
    convolutions and a one-channel output. Every convolution but the first and the last is
    spectrally normalised.
    """

    def __init__(self, features: int = 64, skip: bool = True, channels: int = 3) -> None:
        super().__init__()
        f = features
        self.skip = skip
        self.conv0 = nn.Conv2d(channels, f, 3, 1, 1)
        self.conv1 = spectral_norm(nn.Conv2d(f, f * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(f * 4, f * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(f * 8, f * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(f * 4, f * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(f * 2, f, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ConfigError(
                f"model.discriminator: UNetDiscriminator needs HR patches whose sides are multiples of 8, but "
                f"training gives {x.shape[-1]}x{x.shape[-2]}; change the training sets' crop")
        act = self.lrelu
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        up = x3
        for conv, encoder in ((self.conv4, x2), (self.conv5, x1), (self.conv6, x0)):
            up = act(conv(F.interpolate(up, scale_factor=2, mode="bilinear", align_corners=False)))
            if self.skip:
                up = up + encoder
        return self.conv9(act(self.conv8(act(self.conv7(up)))))
