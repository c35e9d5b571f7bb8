"""rumpy plugin providing HAN and its meta-attention variant QHAN (built on rumpy-rcan's RCAN)."""

from __future__ import annotations

from dataclasses import dataclass

import rumpycore
from rumpycore import option
from rumpycore.layers import check_reduction
from rumpycore.meta_attention import GroupedMetaAttentionParams, consumed_metadata, meta_layers

from .network import HAN

__version__ = "0.1.0"


@dataclass
class HANParams:
    """``[model.internal_params]`` of HAN (besides the core's lr, scale, scheduler, ...)."""

    n_resgroups: int = option(10, min=1, max=1024, help="residual groups (paper: 10)")
    n_resblocks: int = option(20, min=1, max=1024, help="residual channel-attention blocks per group (paper: 20)")
    n_feats: int = option(64, min=1, max=4096, help="channels in every block (paper: 64)")
    reduction: int = option(16, min=1, max=4096, help="channel-attention squeeze factor (paper: 16)")

    def __post_init__(self) -> None:
        check_reduction(self.reduction, self.n_feats)


@dataclass
class QHANParams(GroupedMetaAttentionParams, HANParams):
    """``[model.internal_params]`` of QHAN: HAN's, plus where its meta-attention layers go."""


def build(params: HANParams, ctx: rumpycore.ModelContext) -> HAN:
    """HAN for the run's scale."""
    return HAN(ctx.scale, params.n_resgroups, params.n_resblocks, params.n_feats, params.reduction)


def build_q(params: QHANParams, ctx: rumpycore.ModelContext) -> HAN:
    """HAN with a meta-attention layer after the channel attention of the selected blocks."""
    return HAN(ctx.scale, params.n_resgroups, params.n_resblocks, params.n_feats, params.reduction,
               meta_layers(params, ctx, units=params.n_resgroups, channels=params.n_feats))


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(
        name="HAN",
        build=build,
        params=HANParams,
        task="sisr",
        scales=(2, 3, 4, 8),
        summary="Holistic attention network: RCAN with layer and channel-spatial attention (Niu et al., ECCV 2020)",
    ))
    register(rumpycore.ModelSpec(
        name="QHAN",
        build=build_q,
        params=QHANParams,
        task="sisr",
        scales=(2, 3, 4, 8),
        metadata=consumed_metadata,
        summary="HAN with meta-attention layers fed degradation metadata (Aquilina et al., IEEE SPL 2021)",
    ))
