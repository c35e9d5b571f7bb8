"""IKC's kernel predictor and corrector (Gu, Lu, Zuo and Dong, "Blind Super-Resolution With
Iterative Kernel Correction", CVPR 2019, arXiv:1904.03377), as in the paper's code.

The predictor guesses an LR image's degradation code; the corrector, given the SR image that
SFTMD made with a code and that code, returns a corrected code. Both end in global average
pooling, so they take images of any size.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv5(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 5, stride=stride, padding=2), nn.LeakyReLU(0.2, inplace=True)]


class KernelPredictor(nn.Module):
    """Six 5x5 conv-LeakyReLU layers (the fourth of stride 2), the last to ``code_size``
    channels, then global average pooling: one code per image."""

    def __init__(self, code_size: int, features: int = 64) -> None:
        super().__init__()
        self.code_size = code_size
        self.body = nn.Sequential(*_conv5(3, features), *_conv5(features, features), *_conv5(features, features),
                                  *_conv5(features, features, stride=2), *_conv5(features, features),
                                  *_conv5(features, code_size))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.body(lr).mean(dim=(2, 3))


class KernelCorrector(nn.Module):
    """Seven 5x5 conv-LeakyReLU layers over the SR image (two of stride 2), the code through two
    fully connected layers stretched over their output, 1x1 convs over both, and global average
    pooling: the correction, added to the code."""

    def __init__(self, code_size: int, features: int = 64) -> None:
        super().__init__()
        self.code_size = code_size
        self.image = nn.Sequential(*_conv5(3, features), *_conv5(features, features, stride=2),
                                   *_conv5(features, features), *_conv5(features, features, stride=2),
                                   *_conv5(features, features), *_conv5(features, features),
                                   *_conv5(features, features))
        self.code = nn.Sequential(nn.Linear(code_size, features), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Linear(features, features), nn.LeakyReLU(0.2, inplace=True))
        self.joint = nn.Sequential(nn.Conv2d(2 * features, 2 * features, 1), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Conv2d(2 * features, features, 1), nn.LeakyReLU(0.2, inplace=True),
                                   nn.Conv2d(features, code_size, 1))

    def forward(self, sr: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        features = self.image(sr)
        stretched = self.code(code)[:, :, None, None].expand(-1, -1, *features.shape[-2:])
        return code + self.joint(torch.cat((features, stretched), dim=1)).mean(dim=(2, 3))
