"""rumpy plugin providing DAN and RCAN-DAN (blind SR: a restorer and a degradation estimator
alternating), and the ``dan`` task that trains them on the SR image and the degradation code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import rumpycore
from rumpycore import ConfigError, option
from rumpycore.meta_attention import meta_layers
from rumpy_rcan import QRCANParams
from rumpy_rcan.network import RCAN

from .network import DAN, Estimator, Restorer
from .task import DANTask, DANTaskParams

__version__ = "0.1.0"

WHERE = "model.internal_params"


@dataclass
class DANParams(QRCANParams):
    """``[model.internal_params]`` of DAN: which restorer (``mode``), its size, the estimator's,
    and the loop. With ``mode = "v1QRCAN"`` the restorer is QRCAN and takes QRCAN's keys
    (``n_resgroups``, ``selective_meta_blocks``, ...); ``metadata`` names what is estimated."""

    mode: Literal["v1", "v1QRCAN"] = option("v1", help="restorer: 'v1' (the paper's conditional blocks) or "
                                                      "'v1QRCAN' (QRCAN fed the estimate by meta-attention: RCAN-DAN)")
    nf: int = option(64, min=1, max=4096, help="v1 restorer: channels (paper: 64)")
    nb: int = option(40, min=1, max=1024, help="v1 restorer: conditional residual blocks (paper: 40)")
    loop: int = option(4, min=1, max=64, help="restorer-estimator alternations (paper: 4)")
    estimator_features: int = option(64, min=2, max=4096, help="estimator channels, half for each input (paper: 64)")
    estimator_blocks: int = option(5, min=1, max=1024, help="estimator conditional blocks (paper: 5)")


def estimated_metadata(params: DANParams) -> list[str]:
    """The metadata names DAN estimates (its targets)."""
    return list(params.metadata)


def build(params: DANParams, ctx: rumpycore.ModelContext) -> DAN:
    """DAN with the paper's restorer or QRCAN, its code as long as the metadata vector."""
    size = ctx.metadata_size
    if size == 0:
        raise ConfigError(f"{WHERE}.metadata: the data provides no values for {', '.join(params.metadata)}")
    if params.mode == "v1":
        restorer = Restorer(ctx.scale, size, params.nf, params.nb)
    else:
        layers = meta_layers(params, ctx, units=params.n_resgroups, channels=params.n_feats)
        if layers is None:
            raise ConfigError(f"{WHERE}.include_q_layer: RCAN-DAN feeds its estimate to QRCAN through meta-attention, "
                              f"but these settings place no layer; select at least one block")
        restorer = RCAN(ctx.scale, params.n_resgroups, params.n_resblocks, params.n_feats, params.reduction,
                        params.res_scale, layers)
    estimator = Estimator(ctx.scale, size, params.estimator_features, params.estimator_blocks)
    return DAN(restorer, estimator, size, params.loop)


@rumpycore.hookimpl
def register_models(register):
    register(rumpycore.ModelSpec(
        name="DAN",
        build=build,
        params=DANParams,
        task="dan",
        scales=(2, 3, 4, 8),
        metadata=estimated_metadata,
        summary="blind SR: restorer and degradation estimator alternating (Luo et al., NeurIPS 2020); "
                "mode v1QRCAN: RCAN-DAN",
    ))


@rumpycore.hookimpl
def register_tasks(register):
    register(rumpycore.TaskSpec(
        "dan", DANTask, DANTaskParams,
        roles=(rumpycore.NetworkRole("model", ("dan",), losses={"l1": 1.0}),),
        metrics=("PSNR", "SSIM"), best_metric="val-PSNR", metadata="targets", writes="samples",
        unsupported={"cuda_graph": "not verified for the restorer-estimator loop"},
        summary="blind SR: one network returning its SR image and degradation estimate, trained on both",
    ))
