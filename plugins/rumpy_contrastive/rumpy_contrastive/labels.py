"""What makes two degraded images alike for the supervised contrastive methods.

SupMoCo counts two images as positives when they share a *class*: every chosen metadata
value, normalised to [0, 1] over the training sets, falls into one of ``bins`` equal
intervals, and the class is the combination of intervals (``bins ** values`` classes).
WeakCon weighs each negative by the distance between the two images' normalised values.
"""

from __future__ import annotations

from typing import Literal

import torch

LabellingStrategy = Literal["default", "double_precision", "triple_precision", "half_precision"]

BINS = {"default": 2, "double_precision": 2, "half_precision": 2, "triple_precision": 3}
"""Intervals per value of each of the original toolbox's labelling strategies (``half_precision``
is its older name of ``double_precision``)."""


def degradation_classes(values: torch.Tensor, bins: int) -> torch.Tensor:
    """One class per image (``N``, int64) from its normalised metadata values (``N x V``)."""
    intervals = (values.clamp(0.0, 1.0) * bins).long().clamp(max=bins - 1)
    weights = bins ** torch.arange(values.shape[1], device=values.device)
    return (intervals * weights).sum(dim=1)
