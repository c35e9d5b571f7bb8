"""Building blocks shared by model plugins (plain PyTorch, no rumpy state)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def conv3x3(in_channels: int, out_channels: int, bias: bool = True) -> nn.Conv2d:
    """A 3x3 convolution with 'same' padding."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)


class MeanShift(nn.Module):
    """Subtract (``sign=-1``) or add back (``sign=+1``) a fixed RGB mean, for inputs in [0, 1].

    The mean is a buffer, not a parameter: it is saved with the model but never trained.
    """

    def __init__(self, sign: int, mean: tuple[float, float, float] = DIV2K_RGB_MEAN) -> None:
        super().__init__()
        self.register_buffer("shift", sign * torch.tensor(mean).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.shift.to(x.dtype)


class PixelShuffleUpsampler(nn.Sequential):
    """Sub-pixel upsampling as in EDSR/RCAN: x2/x4/x8 as stages of (conv to 4F, shuffle 2),
    x3 as one stage of (conv to 9F, shuffle 3).

    ``activation``, if given, makes the module placed after every shuffle (SFTMD uses a
    LeakyReLU there; EDSR and RCAN use none).
    """

    def __init__(self, scale: int, features: int, activation: Callable[[], nn.Module] | None = None) -> None:
        def stage(factor: int) -> list[nn.Module]:
            after = [activation()] if activation is not None else []
            return [conv3x3(features, factor * factor * features), nn.PixelShuffle(factor), *after]

        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0 and scale >= 2:
            for _ in range(int(math.log2(scale))):
                layers += stage(2)
        elif scale == 3:
            layers += stage(3)
        else:
            raise ValueError(f"pixel-shuffle upsampling supports scales 2, 3, 4 and 8, not {scale}")
        super().__init__(*layers)
