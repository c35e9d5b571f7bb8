"""Two small networks: a noise-level estimator and a denoiser conditioned on the level."""

from __future__ import annotations

import torch
from torch import nn


class NoiseEstimator(nn.Module):
    """Image -> its noise standard deviation (0-255 units, one value per image)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, features, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(features, features, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(features, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(image).mean(dim=(2, 3))).squeeze(1)


class ConditionedDenoiser(nn.Module):
    """Noisy image and its noise level -> the clean image (a residual over the input)."""

    def __init__(self, features: int, blocks: int) -> None:
        super().__init__()
        layers = [nn.Conv2d(4, features, 3, padding=1), nn.ReLU()]
        for _ in range(blocks):
            layers += [nn.Conv2d(features, features, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(features, 3, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        level = (sigma / 255.0).view(-1, 1, 1, 1).expand(-1, 1, *noisy.shape[2:])
        return noisy + self.body(torch.cat([noisy, level.to(noisy.dtype)], dim=1))
