"""What a task is: how a batch reaches the device, how the model is called on it, the loss,
and what an evaluation produces. The trainer runs epochs and knows no task's details."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch


@dataclass
class Sample:
    """One evaluation image for sample logging: input, output and target as uint8 HxWx3."""

    name: str
    lr: np.ndarray
    output: np.ndarray
    target: np.ndarray | None


@dataclass
class EvalResult:
    """Statistics of one evaluation (summary columns), sample images and per-image rows.

    ``per_image`` rows (one dict per image, over every process's images) go to the loggers'
    ``per_image`` event; the regression task fills them with each image's targets and
    predictions.
    """

    stats: dict[str, float]
    samples: list[Sample] = field(default_factory=list)
    per_image: list[dict[str, Any]] = field(default_factory=list)


RunModel = Callable[[Mapping[str, Any]], torch.Tensor]

LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "l1": torch.nn.functional.l1_loss,
    "mse": torch.nn.functional.mse_loss,
}
"""Training losses by their config name (``[model.internal_params] loss``)."""


def per_image_loss(loss: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The loss of each image of a batch (the mean over its elements), for ``val-loss``."""
    return LOSSES[loss](output, target, reduction="none").flatten(1).mean(dim=1)


def batch_to_device(batch: Mapping[str, Any], images: tuple[str, ...], device: torch.device,
                    memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, Any]:
    """A loader batch with its ``images`` (uint8) as float in [0, 1] on ``device`` and its
    ``metadata`` as float there; image keys not listed stay behind."""
    out = {key: value for key, value in batch.items() if key not in ("lr", "hr", "lr_interp") or key in images}
    for key in images:
        if key in batch:
            image = batch[key].to(device, non_blocking=True).float().div_(255.0)
            out[key] = image.contiguous(memory_format=memory_format)
    if "metadata" in batch:
        out["metadata"] = batch["metadata"].to(device, non_blocking=True).float()
    return out


def report_stats(stats: dict[str, float], prefix: str, values: Mapping[str, torch.Tensor],
                 metrics: Mapping[str, Any]) -> None:
    """Add ``<prefix>-loss`` and each metric's reduced value(s) to ``stats``.

    ``values`` holds the per-image rows of the loss and of each metric. A metric whose
    ``reduce`` returns a dict reports ``<prefix>-<metric>-<key>`` per key (``""``: the
    metric's own column).
    """
    stats[f"{prefix}-loss"] = float(values["loss"].double().mean())
    for name, metric in metrics.items():
        reduced = metric.reduce(values[name])
        if isinstance(reduced, dict):
            for suffix, value in reduced.items():
                stats[f"{prefix}-{name}" + (f"-{suffix}" if suffix else "")] = float(value)
        else:
            stats[f"{prefix}-{name}"] = float(reduced)


def summarise_sets(per_set: Mapping[str, Mapping[str, torch.Tensor]], metrics: Mapping[str, Any]) -> dict[str, float]:
    """The ``val-*`` numbers of an evaluation: over the images of every set together, and with
    several sets also per set (``val-<set>-*``). ``per_set`` holds each set's per-image rows."""
    stats: dict[str, float] = {}
    together = {k: torch.cat([values[k] for values in per_set.values()]) for k in ["loss", *metrics]}
    report_stats(stats, "val", together, metrics)
    if len(per_set) > 1:
        for set_id, values in per_set.items():
            report_stats(stats, f"val-{set_id}", values, metrics)
    return stats


class Task(Protocol):
    """The contract between the trainer and a task (``sisr``, ``regression``)."""

    name: str

    def to_device(self, batch: Mapping[str, Any], device: torch.device,
                  memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, Any]:
        """Move a loader batch to the device and convert it there (uint8 images to float in [0, 1],
        in ``memory_format``)."""

    def forward(self, model: torch.nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        """Call the model with the inputs it declared."""

    def loss(self, output: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        """The training loss of a batch."""

    def evaluate(self, run_model: RunModel, loaders: Mapping[str, Any], metrics: Mapping[str, Any],
                 device: torch.device, gather: Callable[[Any], Any],
                 memory_format: torch.memory_format = torch.contiguous_format) -> EvalResult:
        """Evaluate on every eval set; ``gather`` concatenates per-image values (a tensor, or a
        list such as image names) across processes."""
