"""Geometric self-ensemble ("EDSR+", "RCAN+"): the mean of a model's outputs over the eight
flips and transpositions of its input, each mapped back.

Every image-shaped tensor of the batch (LR, interpolated LR) is transformed the same way;
other entries (metadata, names) pass unchanged. Eight forward passes per image.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import torch

TRANSFORMS = tuple(itertools.product((False, True), repeat=3))
"""(transpose, flip left-right, flip up-down) of the eight ensemble members, the identity first."""


def _forward_transform(image: torch.Tensor, transpose: bool, flip_lr: bool, flip_ud: bool) -> torch.Tensor:
    if transpose:
        image = image.transpose(-2, -1)
    if flip_lr:
        image = image.flip(-1)
    if flip_ud:
        image = image.flip(-2)
    return image


def _inverse_transform(image: torch.Tensor, transpose: bool, flip_lr: bool, flip_ud: bool) -> torch.Tensor:
    if flip_ud:
        image = image.flip(-2)
    if flip_lr:
        image = image.flip(-1)
    if transpose:
        image = image.transpose(-2, -1)
    return image


def self_ensemble(predict: Callable[[Mapping[str, Any]], torch.Tensor], batch: Mapping[str, Any]) -> torch.Tensor:
    """The mean of ``predict`` over the eight flipped and transposed copies of ``batch``."""
    total = None
    for transform in TRANSFORMS:
        moved = {key: _forward_transform(value, *transform) if isinstance(value, torch.Tensor) and value.dim() == 4
                 else value for key, value in batch.items()}
        output = _inverse_transform(predict(moved).float(), *transform)
        total = output if total is None else total.add_(output)
    return total.div_(len(TRANSFORMS))
