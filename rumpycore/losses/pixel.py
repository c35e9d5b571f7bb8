"""Pixel losses: L1, MSE and Charbonnier, each one value per image (the mean over its pixels)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..params import option


def _per_image(differences: torch.Tensor) -> torch.Tensor:
    return differences.flatten(1).mean(dim=1)


class L1(torch.nn.Module):
    """Mean absolute difference per image."""

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _per_image((prediction.float() - target.float()).abs())


class MSE(torch.nn.Module):
    """Mean squared difference per image."""

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _per_image((prediction.float() - target.float()).square())


@dataclass
class CharbonnierParams:
    """``[model.internal_params.losses.charbonnier]``."""

    eps: float = option(1e-3, min=0.0, help="smoothing near zero: sqrt(difference^2 + eps^2)")


class Charbonnier(torch.nn.Module):
    """A smooth L1 (Charbonnier, as LapSRN and many restoration papers): ``sqrt(d^2 + eps^2)`` per pixel."""

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        difference = prediction.float() - target.float()
        return _per_image(torch.sqrt(difference.square() + self.eps**2))
