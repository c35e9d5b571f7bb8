"""Building blocks shared by model plugins (plain PyTorch, no rumpy state): convolutions, the RGB
mean shift, pixel-shuffle upsampling and the meta-attention layer of the metadata-aware networks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from .errors import ConfigError

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def check_reduction(reduction: int, channels: int) -> None:
    """A ConfigError when a channel-attention squeeze factor ``reduction`` (the
    ``model.internal_params.reduction`` key of RCAN-like models) exceeds ``channels``
    (``n_feats``), which would leave the attention no channels."""
    if reduction > channels:
        raise ConfigError(
            f"model.internal_params.reduction: {reduction} is larger than n_feats = {channels}, "
            f"which would squeeze channel attention to no channels; lower reduction"
        )


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


MetaLayers = Callable[[int, int], "nn.Module | None"]
"""Where a network with meta-attention puts the layers: called as ``layers(unit, block)`` while the
network is built (``unit``: residual group, or residual block of an ungrouped network; ``block``:
block within the group, 0 otherwise), it returns that block's :class:`MetaAttention` or None."""


def meta_attention_widths(channels: int, metadata_size: int, layers: int) -> list[int]:
    """Output widths of the fully connected layers of a :class:`MetaAttention`, the last one
    ``channels``: the widths grow in equal steps, from 0 for a short metadata vector (up to 15
    values) and from the vector's size for a longer one, as in the original toolbox."""
    start = metadata_size if metadata_size > 15 else 0
    return [start + (channels - start) // (layers - k) for k in range(layers)]


class MetaAttention(nn.Module):
    """Meta-attention: a channel gate computed from the image's degradation metadata alone.

    Aquilina, Galea, Abela, Camilleri and Farrugia, "Improving Super-Resolution Performance
    Using Meta-Attention Layers", IEEE Signal Processing Letters 2021. The metadata vector
    (``N x metadata_size``) goes through ``layers`` fully connected layers (ReLU between them
    when ``nonlinearity``) and a sigmoid, giving one factor in (0, 1) per channel that scales
    the block's features (``N x channels x H x W``). ``widths`` sets the hidden layers' widths
    (``layers - 1`` values); by default they follow :func:`meta_attention_widths`.
    """

    def __init__(self, channels: int, metadata_size: int, layers: int = 2, nonlinearity: bool = True,
                 widths: Sequence[int] = ()) -> None:
        super().__init__()
        if widths and len(widths) != layers - 1:
            raise ValueError(f"{layers} layers need {layers - 1} hidden widths, not {len(widths)}")
        sizes = [*widths, channels] if widths else meta_attention_widths(channels, metadata_size, layers)
        modules: list[nn.Module] = []
        inputs = metadata_size
        for index, size in enumerate(sizes):
            modules.append(nn.Linear(inputs, size))
            if nonlinearity and index < len(sizes) - 1:
                modules.append(nn.ReLU(inplace=True))
            inputs = size
        modules.append(nn.Sigmoid())
        self.gate = nn.Sequential(*modules)

    def forward(self, features: torch.Tensor, metadata: torch.Tensor) -> torch.Tensor:
        return features * self.gate(metadata)[:, :, None, None]


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
