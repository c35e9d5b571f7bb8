"""Degradation regression: an LR image in, the values of its degradation metadata out.

The targets are the metadata names the model declares (``ModelSpec.metadata``), read from
each set's metadata like any metadata and normalised with the training sets' statistics
(:class:`rumpycore.data.metadata.MetadataScaling`, stored in every checkpoint). The losses
(L1 by default) compare the prediction with the normalised targets; ``val-loss`` is their
sum on the eval sets. The metrics see predictions and targets back in the original units.

Training images are the sets' random ``crop``s; evaluation images are whole, or centre
crops when an eval set gives ``crop``. No HR image is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..data.metadata import value_labels
from .base import (
    EvalResult,
    StepOutput,
    Task,
    TaskContext,
    batch_to_device,
    summarise_sets,
    value_rows,
)


class RegressionTask(Task):
    """The ``regression`` task: one network, ``model``, predicting the metadata of LR images."""

    def __init__(self, params: Any, ctx: TaskContext) -> None:
        super().__init__(params, ctx)
        self.network = ctx.networks["model"]
        self.scaling = ctx.metadata
        self.labels = value_labels(self.scaling.dims)

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        return batch_to_device(batch, ("lr",), self.ctx.device, self.ctx.memory_format)

    def _loss_of(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return self.network.losses(self.network.forward(batch["lr"]).float(), batch["metadata"])

    def train_step(self, batch: Mapping[str, Any]) -> StepOutput:
        return self.network.minimise(self._loss_of, batch)

    def predict(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The predicted (normalised) values of each image."""
        return self.network.module(batch["lr"])

    def evaluate(self, loaders: Mapping[str, Any], metrics: Mapping[str, Any]) -> EvalResult:
        """Predict every eval image; loss, metrics (original units) and one row per image.

        Names, predictions and targets are gathered from every process before anything is
        measured, so each image counts once whatever the batch size or number of processes.
        """
        gather, device = self.ctx.gather, self.ctx.device
        per_set: dict[str, dict[str, torch.Tensor]] = {}
        rows: list[dict[str, Any]] = []
        for set_id, loader in loaders.items():
            names: list[str] = []
            outputs, targets = [], []
            for raw in loader:
                batch = self.to_device(raw)
                outputs.append(self.predict(batch).float())
                targets.append(batch["metadata"])
                names.extend(raw["name"])
            none = torch.zeros(0, len(self.labels), device=device)
            output = gather(torch.cat(outputs) if outputs else none)
            target = gather(torch.cat(targets) if targets else none)
            names = gather(names)
            predicted, true = self.scaling.denormalise(output), self.scaling.denormalise(target)
            values = {"loss": self.network.losses.per_image(output, target)}
            values.update({name: metric.values(predicted, true, {"name": names}) for name, metric in metrics.items()})
            per_set[set_id] = values
            rows += self.rows(set_id, names, true, predicted)
        return EvalResult(summarise_sets(per_set, metrics), per_image=rows)

    def rows(self, set_id: str, names: Sequence[str], true: torch.Tensor,
             predicted: torch.Tensor) -> list[dict[str, Any]]:
        """One row per image (see :func:`rumpycore.tasks.base.value_rows`), in original units."""
        return value_rows(set_id, names, self.labels, true, predicted)
