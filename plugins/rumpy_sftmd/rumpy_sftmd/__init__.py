"""rumpy plugin providing SFTMD, the super-resolution network of IKC."""

from __future__ import annotations

from dataclasses import dataclass

import rumpycore
from rumpycore import ConfigError, option

from .network import SFTMD, Split, SFTType

__version__ = "0.1.0"

WHERE = "model.internal_params"


@dataclass
class SFTMDParams:
    """``[model.internal_params]`` of SFTMD (besides the core's lr, scale, scheduler, ...)."""

    num_features: int = option(64, min=1, max=4096, help="channels in every block (paper: 64)")
    num_blocks: int = option(16, min=1, max=1024, help="SFT residual blocks (paper: 16)")
    metadata: list[str] = option(["blur_kernel"], help="degradation metadata columns the SFT layers are conditioned on, in order")
    sft_type: SFTType = option("standard", help="SFT layer: standard, weak (features times metadata), concat, split, or none (no conditioning)")
    split: Split = option("22", help="split SFT only: conv units on the features-only path and on the conditioned path")
    in_nc: int = option(3, min=3, max=3, help="input channels; the original toolbox's key, kept for its configs (RGB: 3)")

    def __post_init__(self) -> None:
        if self.sft_type != "none" and not self.metadata:
            raise ConfigError(f"{WHERE}.metadata: empty; name the metadata columns to condition on, "
                              f"or set SFT_type = \"none\"")
        duplicates = sorted({name for name in self.metadata if self.metadata.count(name) > 1})
        if duplicates:
            raise ConfigError(f"{WHERE}.metadata: {', '.join(duplicates)} listed twice; name each column once")


def consumed_metadata(params: SFTMDParams) -> list[str]:
    """The metadata the model is fed: none when it has no SFT conditioning."""
    return [] if params.sft_type == "none" else list(params.metadata)


def build(params: SFTMDParams, ctx: rumpycore.ModelContext) -> SFTMD:
    """SFTMD for the run's scale, its SFT layers as wide as the metadata vector."""
    size = ctx.metadata_size if params.sft_type != "none" else 0
    if params.sft_type != "none" and size == 0:
        raise ConfigError(f"{WHERE}.metadata: the data provides no values for {', '.join(params.metadata)}")
    if params.sft_type == "weak" and size not in (1, params.num_features):
        raise ConfigError(
            f"{WHERE}.SFT_type: 'weak' multiplies the features by the metadata, which has {size} values per image; "
            f"set num_features = {size} or use another SFT_type"
        )
    return SFTMD(ctx.scale, size, params.num_features, params.num_blocks, params.sft_type, params.split)


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(
        name="SFTMD",
        build=build,
        params=SFTMDParams,
        task="sisr",
        scales=(2, 3, 4, 8),
        metadata=consumed_metadata,
        summary="IKC's SR network, conditioned on degradation metadata by SFT layers (Gu et al., CVPR 2019)",
    ))
