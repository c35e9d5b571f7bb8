"""Building blocks shared by model plugins (plain PyTorch, no rumpy state)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import nn

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def conv3x3(in_channels: int, out_channels: int, bias: bool = True) -> nn.Conv2d:
    """A 3x3 convolution with 'same' padding."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)


class MeanShift(nn.Module):
    """Subtract (``sign=-1``) or add back (``sign=+1``) a fixed RGB mean, for inputs in [0, 1].

    The mean is a buffer, not a parameter: it is saved with the model but never trained.
    """

    def __init__(self, sign: int, mean: tuple[float, float, float] = DIV2K_RGB_MEAN) -> None:
        super().__init__()
        self.register_buffer("shift", sign * torch.tensor(mean).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.shift.to(x.dtype)


class PixelShuffleUpsampler(nn.Sequential):
    """Sub-pixel upsampling as in EDSR/RCAN: x2/x4/x8 as stages of (conv to 4F, shuffle 2),
    x3 as one stage of (conv to 9F, shuffle 3).

    ``activation``, if given, makes the module placed after every shuffle (SFTMD uses a
    LeakyReLU there; EDSR and RCAN use none).
    """

    def __init__(self, scale: int, features: int, activation: Callable[[], nn.Module] | None = None) -> None:
        def stage(factor: int) -> list[nn.Module]:
            after = [activation()] if activation is not None else []
            return [conv3x3(features, factor * factor * features), nn.PixelShuffle(factor), *after]

        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0 and scale >= 2:
            for _ in range(int(math.log2(scale))):
                layers += stage(2)
        elif scale == 3:
            layers += stage(3)
        else:
            raise ValueError(f"pixel-shuffle upsampling supports scales 2, 3, 4 and 8, not {scale}")
        super().__init__(*layers)


def from_255_range(state: Mapping[str, torch.Tensor], gain_weights: Callable[[str], bool] = lambda key: False,
                   keep_bias: Callable[[str], bool] = lambda key: False) -> dict[str, torch.Tensor]:
    """Weights trained by the EDSR-PyTorch code base (EDSR, RCAN, ...: images in 0-255, the mean
    shifts as fixed 1x1 convolutions, the head conv inside a Sequential) in the layout of networks
    built from these layers (images in [0, 1], :class:`MeanShift` buffers, a bare head conv).

    Every layer being linear or positively homogeneous (ReLU), dividing each bias by 255 makes
    every feature map 255 times smaller, so the network maps ``x`` to ``official(255 x) / 255``.
    A layer that must see the original scale (a gate's first convolution after a global pool,
    say) instead multiplies its weight by 255 (``gain_weights``) and keeps its bias, and the
    layers after it keep theirs (``keep_bias``). A mean shift whose weights are not the identity
    (a standard deviation other than 1) cannot be expressed by :class:`MeanShift` and is refused
    with a ValueError.
    """
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        name, _, kind = key.rpartition(".")
        if name in ("sub_mean", "add_mean"):
            if kind == "weight":
                if not torch.equal(tensor.view(3, 3), torch.eye(3, dtype=tensor.dtype)):
                    raise ValueError(f"{key} scales the channels (a standard deviation other than 1)")
                continue
            out[f"{name}.shift"] = tensor.view(1, 3, 1, 1) / 255.0
            continue
        if name == "head.0":
            key = f"head.{kind}"
        if kind == "weight" and gain_weights(key):
            tensor = tensor * 255.0
        elif kind == "bias" and not keep_bias(key):
            tensor = tensor / 255.0
        out[key] = tensor
    return out


def upsampler_scale(state: Mapping[str, torch.Tensor], prefix: str, features: int) -> int | None:
    """The scale of a :class:`PixelShuffleUpsampler` stored under ``prefix`` (``tail.0``) from its
    convolutions' shapes, or None when they are not one."""
    stages = [state.get(f"{prefix}.{i}.weight") for i in (0, 2, 4)]
    widths = [w.shape[0] // features for w in stages if w is not None]
    if widths == [9]:
        return 3
    if widths and all(w == 4 for w in widths):
        return 2 ** len(widths)
    return None
