"""rumpy plugin providing SAN and its meta-attention variant QSAN."""

from __future__ import annotations

from dataclasses import dataclass

import rumpycore
from rumpycore import option
from rumpycore.layers import check_reduction
from rumpycore.meta_attention import GroupedMetaAttentionParams, consumed_metadata, meta_layers

from .network import SAN

__version__ = "0.1.0"


@dataclass
class SANParams:
    """``[model.internal_params]`` of SAN (besides the core's lr, scale, scheduler, ...)."""

    n_resgroups: int = option(20, min=1, max=1024, help="attention groups (paper: 20)")
    n_resblocks: int = option(10, min=1, max=1024, help="residual blocks per group (paper: 10)")
    n_feats: int = option(64, min=8, max=4096, help="channels in every block (paper: 64)")
    reduction: int = option(16, min=1, max=4096, help="second-order attention squeeze factor (paper: 16)")
    max_combined_im_size: int = option(
        160000, min=1024, max=2**31 - 1,
        help="largest LR image (height x width) evaluated in one piece; larger ones go in overlapping quarters")

    def __post_init__(self) -> None:
        check_reduction(self.reduction, self.n_feats)


@dataclass
class QSANParams(GroupedMetaAttentionParams, SANParams):
    """``[model.internal_params]`` of QSAN: SAN's, plus where its meta-attention layers go."""


def build(params: SANParams, ctx: rumpycore.ModelContext) -> SAN:
    """SAN for the run's scale."""
    return SAN(ctx.scale, params.n_resgroups, params.n_resblocks, params.n_feats, params.reduction,
               params.max_combined_im_size)


def build_q(params: QSANParams, ctx: rumpycore.ModelContext) -> SAN:
    """SAN with a meta-attention layer at the end of the selected residual blocks."""
    return SAN(ctx.scale, params.n_resgroups, params.n_resblocks, params.n_feats, params.reduction,
               params.max_combined_im_size, meta_layers(params, ctx, units=params.n_resgroups, channels=params.n_feats))


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(
        name="SAN",
        build=build,
        params=SANParams,
        task="sisr",
        scales=(2, 3, 4, 8),
        summary="Second-order attention network (Dai et al., CVPR 2019)",
    ))
    register(rumpycore.ModelSpec(
        name="QSAN",
        build=build_q,
        params=QSANParams,
        task="sisr",
        scales=(2, 3, 4, 8),
        metadata=consumed_metadata,
        summary="SAN with meta-attention layers fed degradation metadata (Aquilina et al., IEEE SPL 2021)",
    ))
