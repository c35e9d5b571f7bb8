"""Degradation regressors: an RGB image in [0, 1] in, one value per target out.

Both are plain PyTorch and know nothing of rumpy. They are fully convolutional up to a
global pooling, so they accept any image size: training crops and whole evaluation images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def conv3x3(channels_in: int, channels_out: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """A 3x3 convolution that keeps the size (or halves it with stride 2)."""
    return nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=bias)


class DegradationCNN(nn.Module):
    """A compact estimator of blur, noise and compression levels.

    Degradations live in the fine detail of an image, so the first two convolutions work at
    full resolution before any downsampling; each further stage halves the size with a
    strided convolution and refines with a second one. Every convolution is followed by
    batch normalisation (statistics over the batch, so an image's own response strength,
    which is the signal, survives) and a leaky ReLU. Global pooling keeps both the mean and
    the standard deviation of every feature map: how strongly and how unevenly an image
    responds to edge and grain detectors separates one blur or noise level from another,
    while the content varies. An MLP maps the pooled statistics to the targets.
    """

    def __init__(self, outputs: int, widths: Sequence[int] = (32, 64, 128, 256), hidden: int = 128,
                 negative_slope: float = 0.1) -> None:
        super().__init__()

        def unit(channels_in: int, channels_out: int, stride: int = 1) -> list[nn.Module]:
            return [conv3x3(channels_in, channels_out, stride, bias=False), nn.BatchNorm2d(channels_out),
                    nn.LeakyReLU(negative_slope, inplace=True)]

        layers = unit(3, widths[0]) + unit(widths[0], widths[0])
        for before, width in zip(widths[:-1], widths[1:]):
            layers += unit(before, width, stride=2) + unit(width, width)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(2 * widths[-1], hidden), nn.LeakyReLU(negative_slope, inplace=True),
                                  nn.Linear(hidden, outputs))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.features(image - 0.5).flatten(2)
        pooled = torch.cat([features.mean(dim=2), features.std(dim=2, correction=0)], dim=1)
        return self.head(pooled)


class BasicBlock(nn.Module):
    """ResNet's two-convolution residual block, with a 1x1 projection when the shape changes."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels_in, channels_out, stride, bias=False), nn.BatchNorm2d(channels_out), nn.ReLU(inplace=True),
            conv3x3(channels_out, channels_out, bias=False), nn.BatchNorm2d(channels_out),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(channels_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNetRegressor(nn.Module):
    """ResNet-18 (He et al., CVPR 2016) as a regressor, randomly initialised.

    Four stages of ``blocks`` basic blocks (2, 2, 2, 2 for ResNet-18), ``width``, 2x, 4x and
    8x channels, the last three starting with stride 2; global average pooling and one
    linear layer. The ``"imagenet"`` stem is the paper's (7x7 convolution with stride 2 and
    a max-pool: a quarter of the size before the first block, for large inputs); the
    ``"small"`` stem is one 3x3 convolution at full resolution, which keeps the pixel-level
    detail of small LR crops.
    """

    def __init__(self, outputs: int, width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2),
                 stem: str = "small") -> None:
        super().__init__()
        if stem == "imagenet":
            self.stem = nn.Sequential(nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(width),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        else:
            self.stem = nn.Sequential(conv3x3(3, width, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages: list[nn.Module] = []
        channels = width
        for index, count in enumerate(blocks):
            out = width * 2**index
            for block in range(count):
                stages.append(BasicBlock(channels, out, 2 if index > 0 and block == 0 else 1))
                channels = out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(channels, outputs)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.stages(self.stem(image - 0.5))
        return self.head(features.mean(dim=(2, 3)))
