"""rumpy plugin providing the original toolbox's contrastive degradation encoders (MoCo,
SupMoCo, WeakCon) with the ``contrastive`` task that trains them, and RCAN-SupMoCo: QRCAN
conditioned through meta-attention on a trained encoder's embedding (blind SR)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import rumpycore
from rumpycore import ConfigError, option

from .blind import BlindParams, ContrastiveBlindTask, build_blind
from .contrast import Contrast, Method
from .encoder import Encoder
from .labels import BINS, LabellingStrategy
from .task import ContrastiveTask

__version__ = "0.1.0"

WHERE = "model.internal_params"

DATA_TYPES = {"blur": ["blur_sigma_x", "blur_sigma_y"], "noise": ["noise_sigma"], "compression": ["jpeg_quality"]}
"""The metadata the original's ``data_type`` stands for (its labels used the blur sigmas, the
noise level and the JPEG quality)."""


@dataclass
class EncoderParams:
    """``[model.internal_params]`` of a contrastive encoder (the original toolbox's keys)."""

    model_name: Literal["default"] = option("default", help="the encoder: 'default' (DASR's, as the original's "
                                                            "default); torchvision networks are not provided")
    crop_count: int = option(2, min=2, max=64, help="crops cut from each training patch: one query, the rest its "
                                                    "positive keys")
    crop_size: int | None = option(None, min=1, help="side of each crop in LR pixels (default: half the patch)")
    moco_t: float = option(0.07, min=1e-6, aliases=("temperature",), help="softmax temperature of the logits")
    queue_size: int = option(8192, min=1, max=1_048_576, help="keys kept as negatives (MoCo's K)")
    momentum: float = option(0.999, min=0.0, max=1.0, help="key encoder momentum")
    labelling_strategy: LabellingStrategy = option(
        "default", help="SupMoCo classes: each normalised metadata value split into 2 ('default', "
                        "'double_precision') or 3 ('triple_precision') equal intervals")
    data_type: str | list[str] = option([], help="the original's degradation kinds (blur, noise, compression), "
                                                 "standing for metadata when metadata is not given")
    metadata: list[str] | None = option(None, help="metadata columns that tell degradations apart (SupMoCo classes, "
                                                   "WeakCon distances; evaluation)")

    def __post_init__(self) -> None:
        kinds = [self.data_type] if isinstance(self.data_type, str) else list(self.data_type)
        unknown = [kind for kind in kinds if kind not in DATA_TYPES]
        if unknown:
            raise ConfigError(f"{WHERE}.data_type: unknown {', '.join(unknown)}; choose from {', '.join(DATA_TYPES)}")
        self.data_type = kinds

    def names(self) -> list[str]:
        """The metadata columns used: ``metadata``, else those ``data_type`` stands for."""
        if self.metadata is not None:
            return list(self.metadata)
        return [name for kind in self.data_type for name in DATA_TYPES[kind]]


def build_encoder(method: Method, params: EncoderParams, ctx: rumpycore.ModelContext) -> Encoder:
    """The encoder, with how ``method`` trains it as its ``contrast`` attribute."""
    encoder = Encoder()
    encoder.contrast = Contrast(method, params.crop_count, params.crop_size, params.moco_t, params.queue_size,
                                params.momentum, BINS[params.labelling_strategy])
    return encoder


def metadata_names(params: EncoderParams) -> list[str]:
    """The metadata an encoder's task reads."""
    return params.names()


SUMMARIES = {
    "MoCo": "degradation encoder by momentum contrast, positives: crops of one degraded patch (He et al., CVPR 2020)",
    "SupMoCo": "degradation encoder by supervised momentum contrast: images of one degradation class are positives",
    "WeakCon": "degradation encoder by weakly supervised contrast: negatives weighted by degradation distance",
}


@rumpycore.hookimpl
def register_models(register):
    for name, summary in SUMMARIES.items():
        register(rumpycore.ModelSpec(name=name, build=partial(build_encoder, name.lower()), params=EncoderParams,
                                     task="contrastive", scales=(), metadata=metadata_names, summary=summary))
    register(rumpycore.ModelSpec(
        name="ContrastiveBlindQRCAN",
        build=build_blind,
        params=BlindParams,
        task="contrastive_blind_sr",
        scales=(2, 3, 4, 8),
        cpu_channels_last=True,
        summary="RCAN-SupMoCo: QRCAN fed a contrastive encoder's embedding through meta-attention (blind SR)",
    ))


@rumpycore.hookimpl
def register_tasks(register):
    register(rumpycore.TaskSpec(
        "contrastive", ContrastiveTask,
        roles=(rumpycore.NetworkRole("model", ("contrastive",)),),
        metrics=(), metric_kind="contrastive", best_metric="val-loss", output="none", needs_hr=False,
        writes=None, unsupported={"cuda_graph": "the key encoder and the queue change inside the step"},
        summary="a degradation encoder trained by momentum contrast on degraded LR patches (MoCo, SupMoCo, WeakCon)",
    ))
    register(rumpycore.TaskSpec(
        "contrastive_blind_sr", ContrastiveBlindTask,
        roles=(rumpycore.NetworkRole("model", ("contrastive_blind_sr",), losses={"l1": 1.0}),
               rumpycore.NetworkRole("encoder", ("contrastive",), default_model="SupMoCo",
                                     init_from_key="pre_trained_encoder_weights")),
        metrics=("PSNR", "SSIM"), best_metric="val-PSNR", writes="samples",
        unsupported={"cuda_graph": "not verified with the encoder in the step"},
        summary="blind SR: an SR network conditioned on a trained contrastive encoder's embedding of the LR image",
    ))
