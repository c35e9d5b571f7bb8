"""rumpy plugin providing EDSR and its meta-attention variant QEDSR."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

import rumpycore
from rumpycore import option
from rumpycore.layers import from_255_range, upsampler_scale
from rumpycore.meta_attention import MetaAttentionParams, consumed_metadata, meta_layers

from .network import EDSR

__version__ = "0.1.0"

BASELINE = {"num_features": 64, "num_blocks": 16, "res_scale": 1.0}
FULL = {"num_features": 256, "num_blocks": 32, "res_scale": 0.1}


@dataclass
class EDSRParams:
    """``[model.internal_params]`` of EDSR (besides the core's lr, scale, scheduler, ...)."""

    num_features: int = option(64, min=1, max=4096, help="channels in each residual block (paper: 64 baseline, 256 full)")
    num_blocks: int = option(16, min=1, max=1024, help="residual blocks (paper: 16 baseline, 32 full)")
    res_scale: float | None = option(
        None, min=0.0, help="residual scaling (default as the paper: 1.0 up to 64 features, the baseline; 0.1 above, "
                            "which the full model needs to train stably)")

    def __post_init__(self) -> None:
        if self.res_scale is None:
            self.res_scale = 1.0 if self.num_features <= 64 else 0.1


@dataclass
class QEDSRParams(MetaAttentionParams, EDSRParams):
    """``[model.internal_params]`` of QEDSR: EDSR's, plus its meta-attention layers (the units of
    ``selective_meta_blocks`` are the residual blocks)."""


def build(params: EDSRParams, ctx: rumpycore.ModelContext) -> EDSR:
    """EDSR for the run's scale."""
    return EDSR(ctx.scale, params.num_features, params.num_blocks, params.res_scale)


def build_q(params: QEDSRParams, ctx: rumpycore.ModelContext) -> EDSR:
    """EDSR with a meta-attention layer at the end of the selected residual blocks."""
    return EDSR(ctx.scale, params.num_features, params.num_blocks, params.res_scale,
                meta_layers(params, ctx, units=params.num_blocks, channels=params.num_features))


def detect(state: Mapping[str, torch.Tensor]) -> rumpycore.DetectedModel | None:
    """EDSR weights in rumpy's layout or in the official code's (EDSR-PyTorch: 0-255 range,
    ``head.0``, mean shifts as convolutions), converted to rumpy's."""
    official = "head.0.weight" in state and "sub_mean.weight" in state
    head = state.get("head.0.weight" if official else "head.weight")
    if head is None or "body.0.body.0.weight" not in state or "tail.1.weight" not in state:
        return None
    features = head.shape[0]
    blocks = sum(1 for key in state if key.startswith("body.") and key.endswith(".body.0.weight"))
    scale = upsampler_scale(state, "tail.0", features)
    if scale is None:
        return None
    weights = from_255_range(state) if official else dict(state)
    layout = "the official EDSR code's layout, converted" if official else "rumpy's layout"
    return rumpycore.DetectedModel(scale, {"num_features": features, "num_blocks": blocks}, weights,
                                   note=f"EDSR x{scale}, {features} features, {blocks} blocks ({layout})")


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(
        name="EDSR",
        build=build,
        params=EDSRParams,
        task="sisr",
        scales=(2, 3, 4, 8),
        cpu_channels_last=True,  # measured: a CPU training step is 20-25% faster (benchmarks/README.md)
        summary="Enhanced deep residual network (Lim et al., CVPRW 2017)",
        presets={"baseline": BASELINE, "full": FULL},
        detect=detect,
        paper="Lim et al., Enhanced Deep Residual Networks for Single Image Super-Resolution, CVPRW 2017",
    ))
    register(rumpycore.ModelSpec(
        name="QEDSR",
        build=build_q,
        params=QEDSRParams,
        task="sisr",
        scales=(2, 3, 4, 8),
        metadata=consumed_metadata,
        cpu_channels_last=True,  # EDSR's convolutions dominate its step; measured in benchmarks/README.md
        summary="EDSR with meta-attention layers fed degradation metadata (Aquilina et al., IEEE SPL 2021)",
    ))
