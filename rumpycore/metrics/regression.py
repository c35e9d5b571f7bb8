"""Errors of a regression model's predictions, in the targets' original units.

The regression task hands these metrics de-normalised predictions and targets
(``images x values``, the targets' values concatenated in order). Each metric reports one
number over every value (``val-MAE``) and one per target (``val-MAE-blur_sigma``); a target
with several values (a PCA-coded ``blur_kernel``) is measured over all of its values.
Mixing targets of different units in the overall number is what it is: read the per-target
columns to compare models on one quantity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..specs import MetricContext
from .base import Metric


class RegressionMetric(Metric):
    """Per-image rows of per-value statistics, reduced overall and per target."""

    def __init__(self, target_dims: Mapping[str, int]) -> None:
        self.target_dims = dict(target_dims)

    def columns(self, values: torch.Tensor) -> dict[str, torch.Tensor]:
        """``values`` (images x values x ...) split into the whole vector (key ``""``) and each target."""
        parts = {"": values}
        start = 0
        for name, count in self.target_dims.items():
            parts[name] = values[:, start : start + count]
            start += count
        return parts

    def reduce(self, values: torch.Tensor) -> dict[str, float]:
        return {key: float(self.combine(part.double())) for key, part in self.columns(values).items()}

    def combine(self, values: torch.Tensor) -> torch.Tensor:
        """The reported number from the rows of a group of values."""
        raise NotImplementedError


class MeanAbsoluteError(RegressionMetric):
    """Mean of |prediction - target| over images and values."""

    def values(self, prediction: torch.Tensor, target: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        return (prediction.double() - target.double()).abs()

    def combine(self, values: torch.Tensor) -> torch.Tensor:
        return values.mean()


class RootMeanSquaredError(RegressionMetric):
    """Square root of the mean squared error over images and values."""

    def values(self, prediction: torch.Tensor, target: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        return (prediction.double() - target.double()).square()

    def combine(self, values: torch.Tensor) -> torch.Tensor:
        return values.mean().sqrt()


class CoefficientOfDetermination(RegressionMetric):
    """R² = 1 - SS_res / SS_tot per value, averaged over the values of a group.

    A row holds, per value, the squared error, the target and the squared target, from which
    the total sum of squares around the evaluation's mean follows. A value whose targets do not
    vary has no R² and is left out of its group's average; a group with no such value left
    reports NaN.
    """

    def values(self, prediction: torch.Tensor, target: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        target = target.double()
        return torch.stack([(prediction.double() - target).square(), target, target.square()], dim=-1)

    def combine(self, values: torch.Tensor) -> torch.Tensor:
        count = values.shape[0]
        residual = values[..., 0].sum(dim=0)
        total = values[..., 2].sum(dim=0) - values[..., 1].sum(dim=0).square() / max(count, 1)
        varies = total > 1e-12 * values[..., 2].sum(dim=0)  # beyond the rounding of the subtraction
        scores = (1.0 - residual / total)[varies]
        return scores.mean() if scores.numel() else torch.tensor(float("nan"), dtype=torch.float64)


def build_mae(params: Any, ctx: MetricContext) -> MeanAbsoluteError:
    """The ``MAE`` metric factory."""
    return MeanAbsoluteError(ctx.target_dims)


def build_rmse(params: Any, ctx: MetricContext) -> RootMeanSquaredError:
    """The ``RMSE`` metric factory."""
    return RootMeanSquaredError(ctx.target_dims)


def build_r2(params: Any, ctx: MetricContext) -> CoefficientOfDetermination:
    """The ``R2`` metric factory."""
    return CoefficientOfDetermination(ctx.target_dims)
