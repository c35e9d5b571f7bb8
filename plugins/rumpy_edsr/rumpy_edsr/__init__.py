"""rumpy plugin providing EDSR."""

from __future__ import annotations

from dataclasses import dataclass

import rumpycore
from rumpycore import option

from .network import EDSR

__version__ = "0.1.0"


@dataclass
class EDSRParams:
    """``[model.internal_params]`` of EDSR (besides the core's lr, scale, scheduler, ...)."""

    num_features: int = option(64, min=1, max=4096, help="channels in each residual block (paper: 64 baseline, 256 full)")
    num_blocks: int = option(16, min=1, max=1024, help="residual blocks (paper: 16 baseline, 32 full)")
    res_scale: float = option(0.1, min=0.0, help="residual scaling (paper: 1.0 baseline, 0.1 full)")


def build(params: EDSRParams, ctx: rumpycore.ModelContext) -> EDSR:
    """EDSR for the run's scale."""
    return EDSR(ctx.scale, params.num_features, params.num_blocks, params.res_scale)


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
