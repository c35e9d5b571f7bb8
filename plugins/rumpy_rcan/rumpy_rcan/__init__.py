"""rumpy plugin providing RCAN and its meta-attention variant QRCAN."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch

import rumpycore
from rumpycore import option
from rumpycore.layers import check_reduction, from_255_range, upsampler_scale
from rumpycore.meta_attention import GroupedMetaAttentionParams, consumed_metadata, meta_layers

from .network import RCAN

__version__ = "0.1.0"

# The official code's channel attention (``conv_du``: conv, ReLU, conv, sigmoid) is this
# plugin's ``gate`` (pool, conv, ReLU, conv, sigmoid).
_OFFICIAL_GATE = {".conv_du.0.": ".gate.1.", ".conv_du.2.": ".gate.3."}
_GATE_IN = re.compile(r"\.gate\.1\.")
_GATE = re.compile(r"\.gate\.[13]\.")


@dataclass
class RCANParams:
    """``[model.internal_params]`` of RCAN (besides the core's lr, scale, scheduler, ...)."""

    n_resgroups: int = option(10, min=1, max=1024, help="residual groups (paper: 10)")
    n_resblocks: int = option(20, min=1, max=1024, help="residual channel-attention blocks per group (paper: 20)")
    n_feats: int = option(64, min=1, max=4096, help="channels in every block (paper: 64)")
    reduction: int = option(16, min=1, max=4096, help="channel-attention squeeze factor (paper: 16)")
    res_scale: float = option(1.0, min=0.0, help="scaling of each block's residual before the skip (paper: 1)")

    def __post_init__(self) -> None:
        check_reduction(self.reduction, self.n_feats)


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


def _renamed(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, tensor in state.items():
        for old, new in _OFFICIAL_GATE.items():
            key = key.replace(old, new)
        out[key] = tensor
    return out


def detect(state: Mapping[str, torch.Tensor]) -> rumpycore.DetectedModel | None:
    """RCAN weights in rumpy's layout or in the official code's (RCAN / EDSR-PyTorch: 0-255 range,
    ``head.0``, mean shifts as convolutions, ``conv_du``), converted to rumpy's. In the converted
    weights the attention's first convolution sees features 255 times smaller, so its weight is
    multiplied by 255 and the attention keeps its biases."""
    official = "head.0.weight" in state and "sub_mean.weight" in state
    if official:
        state = _renamed(state)
    head = state.get("head.0.weight" if official else "head.weight")
    squeeze = state.get("body.0.body.0.body.3.gate.1.weight")
    if head is None or squeeze is None or "tail.1.weight" not in state:
        return None
    features = head.shape[0]
    groups = len({key.split(".")[1] for key in state if re.match(r"body\.\d+\.body\.0\.body\.0\.weight$", key)})
    blocks = sum(1 for key in state if re.match(r"body\.0\.body\.\d+\.body\.0\.weight$", key))
    scale = upsampler_scale(state, "tail.0", features)
    if scale is None:
        return None
    weights = (from_255_range(state, gain_weights=lambda key: bool(_GATE_IN.search(key)),
                              keep_bias=lambda key: bool(_GATE.search(key))) if official else dict(state))
    layout = "the official RCAN code's layout, converted" if official else "rumpy's layout"
    params = {"n_resgroups": groups, "n_resblocks": blocks, "n_feats": features,
              "reduction": features // squeeze.shape[0]}
    return rumpycore.DetectedModel(scale, params, weights,
                                   note=f"RCAN x{scale}, {groups} groups of {blocks} blocks ({layout})")


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
        presets={"paper": {"n_resgroups": 10, "n_resblocks": 20, "n_feats": 64, "reduction": 16, "res_scale": 1.0}},
        detect=detect,
        paper="Zhang et al., Image Super-Resolution Using Very Deep Residual Channel Attention Networks, ECCV 2018",
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
