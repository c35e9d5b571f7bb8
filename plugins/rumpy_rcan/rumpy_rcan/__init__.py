"""rumpy plugin providing RCAN and its meta-attention variant QRCAN."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import rumpycore
from rumpycore import ConfigError, option
from rumpycore.meta_attention import GroupedMetaAttentionParams, consumed_metadata, meta_layers

from .network import RCAN

__version__ = "0.1.0"


@dataclass
class RCANParams:
    """``[model.internal_params]`` of RCAN (besides the core's lr, scale, scheduler, ...)."""

    n_resgroups: int = option(10, min=1, max=1024, help="residual groups (paper: 10)")
    n_resblocks: int = option(20, min=1, max=1024, help="residual channel-attention blocks per group (paper: 20)")
    n_feats: int = option(64, min=1, max=4096, help="channels in every block (paper: 64)")
    reduction: int = option(16, min=1, max=4096, help="channel-attention squeeze factor (paper: 16)")
    res_scale: float = option(1.0, min=0.0, help="scaling of each block's residual before the skip (paper: 1)")

    def __post_init__(self) -> None:
        if self.reduction > self.n_feats:
            raise ConfigError(
                f"model.internal_params.reduction: {self.reduction} is larger than n_feats = {self.n_feats}, "
                f"which would squeeze channel attention to no channels; lower reduction"
            )


@dataclass
class QRCANParams(GroupedMetaAttentionParams, RCANParams):
    """``[model.internal_params]`` of QRCAN: RCAN's, plus where its meta-attention layers go."""

    style: Literal["standard"] = option(
        "standard", help="the original's channel-attention style; 'standard' (channel attention unchanged, the "
                         "metadata enters through the meta-attention layers) is the one provided")


def build(params: RCANParams, ctx: rumpycore.ModelContext) -> RCAN:
    """RCAN for the run's scale."""
    return RCAN(ctx.scale, params.n_resgroups, params.n_resblocks, params.n_feats, params.reduction,
                params.res_scale)


def build_q(params: QRCANParams, ctx: rumpycore.ModelContext) -> RCAN:
    """RCAN with a meta-attention layer after the channel attention of the selected blocks."""
    return RCAN(ctx.scale, params.n_resgroups, params.n_resblocks, params.n_feats, params.reduction,
                params.res_scale, meta_layers(params, ctx, units=params.n_resgroups, channels=params.n_feats))


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(
        name="RCAN",
        build=build,
        params=RCANParams,
        task="sisr",
        scales=(2, 3, 4, 8),
        cpu_channels_last=True,  # measured: a CPU training step is 20-25% faster (benchmarks/README.md)
        summary="Residual channel attention network (Zhang et al., ECCV 2018)",
    ))
    register(rumpycore.ModelSpec(
        name="QRCAN",
        build=build_q,
        params=QRCANParams,
        task="sisr",
        scales=(2, 3, 4, 8),
        metadata=consumed_metadata,
        cpu_channels_last=True,  # RCAN's convolutions dominate its step; measured in benchmarks/README.md
        summary="RCAN with meta-attention layers fed degradation metadata (Aquilina et al., IEEE SPL 2021)",
    ))
