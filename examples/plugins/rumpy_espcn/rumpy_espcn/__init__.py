"""An example third-party rumpy plugin: ESPCN, a sub-pixel convolutional SR network
(Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
Sub-Pixel Convolutional Neural Network", CVPR 2016)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import rumpycore


class ESPCN(nn.Module):
    """Feature extraction in LR space, then one sub-pixel convolution to HR."""

    def __init__(self, scale: int, features: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, features, 5, padding=2), nn.Tanh(),
            nn.Conv2d(features, features // 2, 3, padding=1), nn.Tanh(),
            nn.Conv2d(features // 2, 3 * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@dataclass
class ESPCNParams:
    features: int = rumpycore.option(64, min=2, max=4096, help="channels of the first layer")


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(
        name="ESPCN",
        build=lambda params, ctx: ESPCN(ctx.scale, params.features),
        params=ESPCNParams,
        scales=(2, 3, 4),
        summary="Efficient sub-pixel CNN (Shi et al., CVPR 2016)",
    ))
