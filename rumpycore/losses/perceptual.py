"""The perceptual (VGG feature) loss of SRGAN, ESRGAN and Real-ESRGAN.

Features of torchvision's VGG19 with its ImageNet weights (from the torch hub cache, see
:mod:`rumpycore.pretrained`) are compared between prediction and target at the named layers,
each with its weight. ``convX_Y`` is a convolution's output before its ReLU (ESRGAN's
``conv5_4``), ``reluX_Y`` after it. Inputs in [0, 1] are normalised with the ImageNet mean
and deviation first, as the network was trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import ConfigError
from ..params import option
from ..pretrained import check_weights, load_weights
from ..specs import LossContext

WHERE = "model.internal_params.losses.perceptual"

_BLOCKS = (2, 2, 4, 4, 4)  # VGG19's convolutions per block


def vgg19_layer_names() -> list[str]:
    """Names of VGG19's ``features`` modules in order (``conv1_1``, ``relu1_1``, ..., ``pool5``)."""
    names = []
    for block, convs in enumerate(_BLOCKS, start=1):
        for conv in range(1, convs + 1):
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
        names.append(f"pool{block}")
    return names


@dataclass
class PerceptualParams:
    """``[model.internal_params.losses.perceptual]``."""

    layers: dict = option({"conv5_4": 1.0}, help="VGG19 layer -> weight, e.g. {conv5_4 = 1.0} (ESRGAN) or "
                                                  "{conv1_2 = 0.1, conv2_2 = 0.1, conv3_4 = 1, conv4_4 = 1, "
                                                  "conv5_4 = 1} (Real-ESRGAN)")
    criterion: Literal["l1", "mse"] = option("l1", help="how features are compared")
    normalize_input: bool = option(True, help="normalise [0, 1] inputs with the ImageNet mean and deviation")
    pretrained: bool = option(True, help="ImageNet weights (false: random weights, for tests only)")

    def __post_init__(self) -> None:
        known = vgg19_layer_names()
        if not self.layers:
            raise ConfigError(f"{WHERE}.layers: empty; name at least one VGG19 layer, e.g. {{conv5_4 = 1.0}}")
        for name, weight in self.layers.items():
            if name not in known or name.startswith("pool"):
                raise ConfigError(f"{WHERE}.layers.{name}: not a VGG19 convolution or ReLU; use conv1_1 .. conv5_4 "
                                  f"or relu1_1 .. relu5_4")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
                raise ConfigError(f"{WHERE}.layers.{name}: expected a weight >= 0, got {weight!r}")


def check_perceptual(params: PerceptualParams) -> None:
    """Fail before anything is written when the VGG19 weights are not on disk."""
    if params.pretrained:
        check_weights("vgg19", "losses.perceptual")


class PerceptualLoss(torch.nn.Module):
    """Weighted feature distances of VGG19 (frozen, eval mode), one value per image."""

    def __init__(self, params: PerceptualParams) -> None:
        super().__init__()
        from torchvision.models import (
            vgg19,  # imported on use: torchvision takes seconds to import
        )

        features = vgg19(weights=None).features
        if params.pretrained:
            state = load_weights("vgg19")
            features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                                      if k.startswith("features.")})
        names = vgg19_layer_names()
        last = max(names.index(name) for name in params.layers)
        self.features = torch.nn.Sequential(*list(features.children())[: last + 1])
        for module in self.features:
            if isinstance(module, torch.nn.ReLU):
                module.inplace = False  # the layer before a ReLU is itself a wanted output
        self.features.requires_grad_(False).eval()
        self.taps = {names.index(name): float(weight) for name, weight in params.layers.items()}
        self.criterion = params.criterion
        self.normalize = params.normalize_input
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.features.eval()  # a frozen feature extractor: never in training mode
        return self

    def _taps(self, image: torch.Tensor) -> dict[int, torch.Tensor]:
        x = (image - self.mean) / self.std if self.normalize else image
        out = {}
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.taps:
                out[index] = x
        return out

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        predicted = self._taps(prediction)
        with torch.no_grad():
            wanted = self._taps(target.to(prediction.dtype))
        total = torch.zeros(prediction.shape[0], device=prediction.device, dtype=torch.float32)
        for index, weight in self.taps.items():
            difference = predicted[index].float() - wanted[index].float()
            distance = difference.abs() if self.criterion == "l1" else difference.square()
            total = total + weight * distance.flatten(1).mean(dim=1)
        return total


def build_perceptual(params: PerceptualParams, ctx: LossContext) -> PerceptualLoss:
    """The ``perceptual`` loss factory."""
    check_perceptual(params)
    return PerceptualLoss(params).to(ctx.device)
