"""rumpy plugin providing EDSR and its meta-attention variant QEDSR."""

from __future__ import annotations

from dataclasses import dataclass

import rumpycore
from rumpycore import option
from rumpycore.meta_attention import MetaAttentionParams, consumed_metadata, meta_layers

from .network import EDSR

__version__ = "0.1.0"


@dataclass
class EDSRParams:
    """``[model.internal_params]`` of EDSR (besides the core's lr, scale, scheduler, ...)."""

    num_features: int = option(64, min=1, max=4096, help="channels in each residual block (paper: 64 baseline, 256 full)")
    num_blocks: int = option(16, min=1, max=1024, help="residual blocks (paper: 16 baseline, 32 full)")
    res_scale: float = option(0.1, min=0.0, help="residual scaling (paper: 1.0 baseline, 0.1 full)")


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
