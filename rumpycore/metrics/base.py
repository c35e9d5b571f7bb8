"""The metric interface: per-image values, then one reduction for the whole evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


class Metric:
    """Base class for metrics returned by a ``MetricSpec.build`` factory.

    ``values`` is called once per evaluation batch, on the training device, with the
    model's prediction, the target and the batch dict (which carries e.g. ``"gray"``
    flags and image names). It returns one row per image. ``reduce`` receives the rows of
    every batch concatenated and returns the reported number; a dict reports several
    numbers, its keys appended to the column name (``val-MAE-blur_sigma``), with the
    ``""`` key for the main value.
    """

    def values(self, prediction: torch.Tensor, target: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def check_target_size(self, height: int, width: int, name: str) -> None:
        """Raise a UserError if an image of this size cannot be measured (checked before training)."""

    def reduce(self, values: torch.Tensor) -> float | dict[str, float]:
        """Mean over images, by default."""
        return float(values.double().mean())
