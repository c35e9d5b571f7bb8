"""The degradation encoder of the original toolbox's contrastive models (its ``"default"``
encoder, the one DASR introduced: Wang et al., "Unsupervised Degradation Representation
Learning for Blind Super-Resolution", CVPR 2021).

Six 3x3 conv-BatchNorm-LeakyReLU layers (64, 64, 128 of stride 2, 128, 256 of stride 2,
256 channels) and global average pooling give the embedding, a 256-value vector per image
whatever its size; a two-layer MLP on top gives the projection ``q`` that the contrastive
loss compares.
"""

from __future__ import annotations

import torch
from torch import nn

EMBEDDING_SIZE = 256
"""Length of the embedding (and of the projection ``q``)."""


def _unit(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1), nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.1, inplace=True)]


class Encoder(nn.Module):
    """``forward(lr) -> (embedding, q)``: ``N x 256`` each."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(*_unit(3, 64), *_unit(64, 64), *_unit(64, 128, stride=2), *_unit(128, 128),
                                      *_unit(128, 256, stride=2), *_unit(256, EMBEDDING_SIZE),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.mlp = nn.Sequential(nn.Linear(EMBEDDING_SIZE, EMBEDDING_SIZE), nn.LeakyReLU(0.1, inplace=True),
                                 nn.Linear(EMBEDDING_SIZE, EMBEDDING_SIZE))

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.features(lr)
        return embedding, self.mlp(embedding)
