"""SFTMD: the super-resolution network of IKC (Gu, Lu, Zuo and Dong, "Blind Super-Resolution
With Iterative Kernel Correction", CVPR 2019, arXiv:1904.03377), conditioned on a degradation
vector through Spatial Feature Transform layers (Wang et al., CVPR 2018)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rumpycore.layers import PixelShuffleUpsampler, conv3x3

SFTType = Literal["standard", "weak", "concat", "split", "none"]
Split = Literal["13", "22", "31", "04", "40"]

# Width of the hidden layer of each branch of a standard SFT layer, as in IKC's code.
SFT_HIDDEN = 32


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


def _joined(features: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """Features and metadata maps stacked along channels, in the features' dtype."""
    return torch.cat((features, maps.to(features.dtype)), dim=1)


class StandardSFT(nn.Module):
    """``features * sigmoid(scale) + shift``, both predicted from [features, maps] by
    conv-LeakyReLU-conv branches."""

    def __init__(self, features: int, metadata_size: int) -> None:
        super().__init__()
        width = features + metadata_size
        self.scale = nn.Sequential(conv3x3(width, SFT_HIDDEN), _leaky(), conv3x3(SFT_HIDDEN, features))
        self.shift = nn.Sequential(conv3x3(width, SFT_HIDDEN), _leaky(), conv3x3(SFT_HIDDEN, features))

    def forward(self, features: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        both = _joined(features, maps)
        return features * torch.sigmoid(self.scale(both)) + self.shift(both)


class WeakSFT(nn.Module):
    """``features * maps``, no weights: needs one metadata value or as many as features."""

    def forward(self, features: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        return features * maps.to(features.dtype)


class ConcatSFT(nn.Module):
    """One conv over [features, maps]."""

    def __init__(self, features: int, metadata_size: int) -> None:
        super().__init__()
        self.conv = conv3x3(features + metadata_size, features)

    def forward(self, features: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        return self.conv(_joined(features, maps))


class SplitSFT(nn.Module):
    """Four conv-ReLU units shared between a path over the features alone and a path over
    [features, maps]; the output is the sum of the two paths.

    ``split`` gives the number of units on each path ("13": one on the features, three on the
    concatenation). An empty path passes the features through unchanged.
    """

    def __init__(self, features: int, metadata_size: int, split: Split) -> None:
        super().__init__()
        plain, conditioned = int(split[0]), int(split[1])

        def units(count: int, first_width: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for i in range(count):
                layers += [conv3x3(first_width if i == 0 else features, features), nn.ReLU(inplace=True)]
            return nn.Sequential(*layers)

        self.plain = units(plain, features)
        self.conditioned = units(conditioned, features + metadata_size)
        self.conditioned_is_identity = conditioned == 0

    def forward(self, features: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        if self.conditioned_is_identity:
            conditioned = features
        else:
            conditioned = self.conditioned(_joined(features, maps))
        return self.plain(features) + conditioned


class NoSFT(nn.Module):
    """No conditioning: the features pass through."""

    def forward(self, features: torch.Tensor, maps: torch.Tensor | None) -> torch.Tensor:
        return features


def sft_layer(kind: SFTType, features: int, metadata_size: int, split: Split) -> nn.Module:
    """The SFT layer variant ``kind``."""
    if kind == "standard":
        return StandardSFT(features, metadata_size)
    if kind == "weak":
        return WeakSFT()
    if kind == "concat":
        return ConcatSFT(features, metadata_size)
    if kind == "split":
        return SplitSFT(features, metadata_size, split)
    return NoSFT()


class SFTResidualBlock(nn.Module):
    """SFT-ReLU-conv-SFT-ReLU-conv, plus the identity."""

    def __init__(self, kind: SFTType, features: int, metadata_size: int, split: Split) -> None:
        super().__init__()
        self.sft1 = sft_layer(kind, features, metadata_size, split)
        self.conv1 = conv3x3(features, features)
        self.sft2 = sft_layer(kind, features, metadata_size, split)
        self.conv2 = conv3x3(features, features)

    def forward(self, x: torch.Tensor, maps: torch.Tensor | None) -> torch.Tensor:
        y = F.relu(self.sft1(x, maps))
        y = F.relu(self.sft2(self.conv1(y), maps))
        return x + self.conv2(y)


class SFTMD(nn.Module):
    """Head of three convs; ``num_blocks`` SFT residual blocks with a global skip; a final SFT
    layer and conv; pixel-shuffle upsampling with LeakyReLU; a 9x9 output conv.

    ``forward(lr, metadata)`` takes one metadata vector per image (``N x metadata_size``) and
    stretches it over the image in one batched view, so every pixel sees the same values.
    With ``kind = "none"`` the network has no conditioning and takes ``forward(lr)``.
    """

    def __init__(self, scale: int, metadata_size: int, num_features: int = 64, num_blocks: int = 16,
                 kind: SFTType = "standard", split: Split = "22") -> None:
        super().__init__()
        self.conditioned = kind != "none"
        self.head = nn.Sequential(conv3x3(3, num_features), _leaky(),
                                  conv3x3(num_features, num_features), _leaky(),
                                  conv3x3(num_features, num_features))
        self.blocks = nn.ModuleList(SFTResidualBlock(kind, num_features, metadata_size, split)
                                    for _ in range(num_blocks))
        self.sft = sft_layer(kind, num_features, metadata_size, split)
        self.mid = conv3x3(num_features, num_features)
        self.upsample = PixelShuffleUpsampler(scale, num_features, _leaky)
        self.output = nn.Conv2d(num_features, 3, 9, padding=4)

    def forward(self, lr: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        maps = None
        if self.conditioned:
            maps = metadata[:, :, None, None].expand(-1, -1, lr.shape[2], lr.shape[3])
        head = self.head(lr)
        x = head
        for block in self.blocks:
            x = block(x, maps)
        x = self.mid(self.sft(x + head, maps))
        return self.output(self.upsample(x))
