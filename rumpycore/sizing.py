"""Inputs of any size for models that need particular ones (``ModelSpec.input_size``).

A window-attention network without padding of its own accepts only sides that are multiples
of its window. Such a model gets two hooks: before its forward the image (the first argument)
is padded at the bottom and right, by reflection as far as the image allows and by replication
beyond, to the next size its rule accepts; after it the output is cropped back to the input's
size times the scale. A training crop that fits the rule (checked before training) is left
untouched, so only whole-image evaluation pays for the padding. The hooks leave the state dict
alone: checkpoints and weight files are the same with or without them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .specs import InputSize


def pad_image(image: torch.Tensor, rule: InputSize) -> torch.Tensor:
    """``image`` (``N x C x H x W``) padded at the bottom and right to the next size ``rule`` accepts."""
    height, width = image.shape[-2:]
    extra_h, extra_w = rule.padded(height) - height, rule.padded(width) - width
    if not extra_h and not extra_w:
        return image
    reflect_h, reflect_w = min(extra_h, height - 1), min(extra_w, width - 1)
    image = F.pad(image, (0, reflect_w, 0, reflect_h), mode="reflect")
    if extra_h > reflect_h or extra_w > reflect_w:
        image = F.pad(image, (0, extra_w - reflect_w, 0, extra_h - reflect_h), mode="replicate")
    return image


def fit_inputs(module: nn.Module, rule: InputSize, scale: int) -> None:
    """Let ``module`` (an SR network of ``scale``) take images of any size under ``rule``."""
    sizes: list[tuple[int, int]] = []

    def pad(_: nn.Module, args: tuple) -> tuple:
        image = args[0]
        sizes.append(tuple(image.shape[-2:]))
        return (pad_image(image, rule), *args[1:])

    def crop(_: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        height, width = sizes.pop()
        return output[..., : height * scale, : width * scale]

    module.register_forward_pre_hook(pad)
    module.register_forward_hook(crop)
