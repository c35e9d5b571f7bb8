"""rumpy plugin providing SRMD."""

from __future__ import annotations

from dataclasses import dataclass

import rumpycore
from rumpycore import ConfigError, option

from .network import SRMD

__version__ = "0.1.0"

WHERE = "model.internal_params"


@dataclass
class SRMDParams:
    """``[model.internal_params]`` of SRMD (besides the core's lr, scale, scheduler, ...)."""

    num_features: int = option(128, min=1, max=4096, aliases=("nc",), help="channels of every convolution (paper: 128)")
    num_layers: int = option(12, min=2, max=1024, aliases=("nb",), help="convolutions, the first and last included (paper: 12)")
    metadata: list[str] = option(["blur_kernel"], help="metadata columns stretched into degradation maps, in order "
                                                       "(paper: a 15-value kernel PCA code and the noise level)")

    def __post_init__(self) -> None:
        duplicates = sorted({name for name in self.metadata if self.metadata.count(name) > 1})
        if duplicates:
            raise ConfigError(f"{WHERE}.metadata: {', '.join(duplicates)} listed twice; name each column once")


def consumed_metadata(params: SRMDParams) -> list[str]:
    """The metadata stretched into maps (none: SRMD on the LR image alone)."""
    return list(params.metadata)


def build(params: SRMDParams, ctx: rumpycore.ModelContext) -> SRMD:
    """SRMD for the run's scale, its first convolution as wide as the image and metadata maps."""
    if params.metadata and ctx.metadata_size == 0:
        raise ConfigError(f"{WHERE}.metadata: the data provides no values for {', '.join(params.metadata)}")
    return SRMD(ctx.scale, ctx.metadata_size, params.num_features, params.num_layers)


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(
        name="SRMD",
        build=build,
        params=SRMDParams,
        task="sisr",
        scales=(2, 3, 4),
        metadata=consumed_metadata,
        summary="Plain CNN on the LR image stacked with degradation maps (Zhang et al., CVPR 2018)",
    ))
