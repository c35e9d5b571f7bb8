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
    """Statistics of one evaluation (summary columns), sample images and per-image rows."""

    stats: dict[str, float]
    samples: list[Sample] = field(default_factory=list)
    per_image: list[dict[str, Any]] = field(default_factory=list)


RunModel = Callable[[Mapping[str, Any]], torch.Tensor]


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
                 device: torch.device, gather: Callable[[torch.Tensor], torch.Tensor],
                 memory_format: torch.memory_format = torch.contiguous_format) -> EvalResult:
        """Evaluate on every eval set; ``gather`` concatenates per-image values across processes."""
