"""LPIPS (Zhang et al., CVPR 2018) through the ``lpips`` package, without any download.

The package ships its calibrated linear layers; the backbone (AlexNet or VGG16) needs
torchvision's ImageNet weights, which torchvision keeps in the torch hub cache
(``$TORCH_HOME/hub/checkpoints/``). rumpy reads that file itself with
``torch.load(weights_only=True)``: a missing file is reported before training starts, with
the file name and the folder to put it in, and nothing ever tries to fetch it.

Images are compared as LPIPS expects: RGB scaled to [-1, 1], here from the same 8-bit
values the other metrics see. Lower is better.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import UserError
from ..params import option
from ..pretrained import check_weights, load_weights, weights_path
from ..specs import MetricContext
from .base import Metric
from .fidelity import quantise


@dataclass
class LPIPSParams:
    """``[training.metric_params.LPIPS]``."""

    net: Literal["alex", "vgg"] = option("alex", help="backbone: 'alex' (the usual choice) or 'vgg'")
    pnet_rand: bool = option(
        False, help="random backbone instead of the ImageNet weights (for tests: values are meaningless)"
    )


BACKBONES = {"alex": "alexnet", "vgg": "vgg16"}
"""torchvision architecture of each LPIPS backbone."""


def check_lpips(params: LPIPSParams) -> None:
    """Fail before training when the backbone weights are not on disk."""
    if not params.pnet_rand:
        check_weights(BACKBONES[params.net], f"LPIPS: net = '{params.net}'")


def _load_backbone(network: torch.nn.Module, architecture: str) -> None:
    """Copy torchvision ``features.<i>.*`` weights into the lpips backbone slices."""
    state = load_weights(architecture)
    for block in network.children():
        for index, layer in block.named_children():
            own = layer.state_dict()
            if not own:
                continue
            try:
                layer.load_state_dict({key: state[f"features.{index}.{key}"] for key in own})
            except (KeyError, TypeError, RuntimeError):
                raise UserError(f"{weights_path(architecture)}: does not hold the weights of torchvision's "
                                f"{architecture}; download the file again") from None


def build_network(params: LPIPSParams, device: torch.device):
    """An ``lpips.LPIPS`` module in eval mode on ``device``, backbone loaded from the hub cache."""
    import lpips

    check_lpips(params)
    with warnings.catch_warnings():
        # lpips asks torchvision for an untrained backbone with the deprecated `pretrained` flag.
        warnings.simplefilter("ignore", UserWarning)
        network = lpips.LPIPS(net=params.net, pnet_rand=True, verbose=False)
    if not params.pnet_rand:
        _load_backbone(network.net, BACKBONES[params.net])
    network.requires_grad_(False)
    return network.to(device).eval()


class LPIPS(Metric):
    """Learned perceptual image patch similarity on 8-bit RGB (lower is better)."""

    def __init__(self, params: LPIPSParams, ctx: MetricContext) -> None:
        self.network = build_network(params, torch.device(ctx.device))

    def values(self, prediction, target, batch):
        with torch.no_grad():
            pred = quantise(prediction).div(127.5).sub(1.0).float()
            tgt = quantise(target).div(127.5).sub(1.0).float()
            return self.network(pred, tgt).flatten().double()


def build_lpips(params: LPIPSParams, ctx: MetricContext) -> LPIPS:
    """Factory for the LPIPS metric."""
    return LPIPS(params, ctx)
