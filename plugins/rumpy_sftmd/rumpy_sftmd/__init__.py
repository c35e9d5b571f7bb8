"""rumpy plugin providing SFTMD, the super-resolution network of IKC, and IKC itself: its kernel
predictor and corrector and the ``ikc`` task that trains them around SFTMD (blind SR)."""

from __future__ import annotations

from dataclasses import dataclass

import rumpycore
from rumpycore import ConfigError, option

from .ikc import KernelCorrector, KernelPredictor
from .ikc_task import IKCParams, IKCTask
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


@dataclass
class KernelEstimatorParams:
    """``[model.predictor.internal_params]`` / ``[model.corrector.internal_params]`` of IKC's networks."""

    nf: int = option(64, min=1, max=4096, help="channels of every layer (paper: 64)")
    metadata: list[str] = option(["blur_kernel"], help="the metadata names whose values it estimates: SFTMD's")


def estimated(params: KernelEstimatorParams) -> list[str]:
    """The metadata names an IKC estimator's code holds."""
    return list(params.metadata)


def _code_size(ctx: rumpycore.ModelContext, params: KernelEstimatorParams, role: str) -> int:
    if ctx.metadata_size == 0:
        raise ConfigError(f"model.{role}.internal_params.metadata: the data provides no values for "
                          f"{', '.join(params.metadata)}; list SFTMD's metadata names")
    return ctx.metadata_size


def build_predictor(params: KernelEstimatorParams, ctx: rumpycore.ModelContext) -> KernelPredictor:
    """IKC's predictor, its code as long as the metadata vector."""
    return KernelPredictor(_code_size(ctx, params, "predictor"), params.nf)


def build_corrector(params: KernelEstimatorParams, ctx: rumpycore.ModelContext) -> KernelCorrector:
    """IKC's corrector, its code as long as the metadata vector."""
    return KernelCorrector(_code_size(ctx, params, "corrector"), params.nf)


@rumpycore.hookimpl
def register_tasks(register):
    register(rumpycore.TaskSpec(
        "ikc", IKCTask, IKCParams,
        roles=(rumpycore.NetworkRole("model", ("sisr",), losses={"l1": 1.0}),
               rumpycore.NetworkRole("predictor", ("ikc_predictor",), default_model="IKCPredictor",
                                     losses={"mse": 1.0}),
               rumpycore.NetworkRole("corrector", ("ikc_corrector",), default_model="IKCCorrector",
                                     losses={"mse": 1.0})),
        metrics=("PSNR", "SSIM"), best_metric="val-PSNR", metadata="targets", writes="samples",
        unsupported={"cuda_graph": "the corrector steps several times per batch"},
        summary="IKC: SFTMD with a kernel predictor and an iterative corrector (blind SR, Gu et al., CVPR 2019)",
    ))


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
    register(rumpycore.ModelSpec(
        name="IKCPredictor",
        build=build_predictor,
        params=KernelEstimatorParams,
        task="ikc_predictor",
        scales=(),
        metadata=estimated,
        summary="IKC's kernel predictor: an LR image's degradation code (the ikc task's predictor)",
    ))
    register(rumpycore.ModelSpec(
        name="IKCCorrector",
        build=build_corrector,
        params=KernelEstimatorParams,
        task="ikc_corrector",
        scales=(),
        metadata=estimated,
        summary="IKC's kernel corrector: a better code from an SR image and its code (the ikc task's corrector)",
    ))
