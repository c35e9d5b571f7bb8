"""rumpy plugin providing degradation regressors: models that predict, from an LR image alone,
the degradation it went through (blur sigmas or kernel code, noise level, JPEG quality).

The targets are columns of the sets' degradation metadata (``rumpy degrade`` writes them),
named in ``[model.internal_params] targets``; the core's ``regression`` task trains and
evaluates the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import rumpycore
from rumpycore import ConfigError, option

from .networks import DegradationCNN, ResNetRegressor

__version__ = "0.1.0"

WHERE = "model.internal_params"


def check_targets(targets: list[str]) -> None:
    """Targets must be named, each once (names match metadata columns in any case)."""
    if not targets:
        raise ConfigError(f"{WHERE}.targets: empty; name the metadata columns to predict "
                          f"(e.g. [\"blur_sigma\", \"noise_sigma\"])")
    if any(not t.strip() for t in targets):
        raise ConfigError(f"{WHERE}.targets: an empty name; name the metadata columns to predict")
    lowered = [t.lower() for t in targets]
    duplicates = sorted({t for t in targets if lowered.count(t.lower()) > 1})
    if duplicates:
        raise ConfigError(f"{WHERE}.targets: {', '.join(duplicates)} listed twice; name each column once")


@dataclass
class DegradationCNNParams:
    """``[model.internal_params]`` of DegradationCNN (besides the core's lr, loss, scheduler, ...)."""

    targets: list[str] = option(help="metadata columns to predict, in order (e.g. [\"blur_sigma\", \"noise_sigma\"])")
    widths: list[int] = option([32, 64, 128, 256], min=1, max=4096,
                               help="channels of the full-resolution stage, then of each stride-2 stage")
    hidden: int = option(128, min=1, max=65536, help="width of the MLP head's hidden layer")

    def __post_init__(self) -> None:
        check_targets(self.targets)
        if not self.widths:
            raise ConfigError(f"{WHERE}.widths: empty; give at least one stage width")


@dataclass
class ResNetRegressorParams:
    """``[model.internal_params]`` of ResNetRegressor (besides the core's lr, loss, scheduler, ...)."""

    targets: list[str] = option(help="metadata columns to predict, in order (e.g. [\"blur_sigma\", \"noise_sigma\"])")
    width: int = option(64, min=1, max=4096, help="channels of the first stage (doubled by each further stage)")
    blocks: list[int] = option([2, 2, 2, 2], min=1, max=1024, help="basic blocks per stage (ResNet-18: 2, 2, 2, 2)")
    stem: Literal["small", "imagenet"] = option(
        "small", help="'small': one 3x3 conv at full resolution (LR crops); 'imagenet': 7x7 stride 2 + max-pool"
    )

    def __post_init__(self) -> None:
        check_targets(self.targets)
        if not self.blocks:
            raise ConfigError(f"{WHERE}.blocks: empty; give the number of blocks of each stage")


def build_cnn(params: DegradationCNNParams, ctx: rumpycore.ModelContext) -> DegradationCNN:
    """DegradationCNN with one output per target value."""
    return DegradationCNN(ctx.metadata_size, params.widths, params.hidden)


def build_resnet(params: ResNetRegressorParams, ctx: rumpycore.ModelContext) -> ResNetRegressor:
    """ResNetRegressor with one output per target value."""
    return ResNetRegressor(ctx.metadata_size, params.width, params.blocks, params.stem)


def targets_of(params: DegradationCNNParams | ResNetRegressorParams) -> list[str]:
    """The metadata a regressor predicts."""
    return list(params.targets)


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(
        name="DegradationCNN",
        build=build_cnn,
        params=DegradationCNNParams,
        task="regression",
        scales=(),
        metadata=targets_of,
        summary="compact CNN estimating degradation parameters (full-resolution convs, strided stages, "
                "mean/std pooling, MLP head)",
    ))
    register(rumpycore.ModelSpec(
        name="ResNetRegressor",
        build=build_resnet,
        params=ResNetRegressorParams,
        task="regression",
        scales=(),
        metadata=targets_of,
        summary="ResNet-18-style regressor of degradation parameters (He et al., CVPR 2016), no pretraining",
    ))
