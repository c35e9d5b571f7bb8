"""Degradation regression: an LR image in, the values of its degradation metadata out.

The targets are the metadata names the model declares (``ModelSpec.metadata``), read from
each set's metadata like any metadata and normalised with the training sets' statistics
(:class:`rumpycore.data.metadata.MetadataScaling`, stored in every checkpoint). The loss
(L1 or MSE) compares the prediction with the normalised targets; ``val-loss`` is that loss
on the eval sets. The metrics see predictions and targets back in the original units.

Training images are the sets' random ``crop``s; evaluation images are whole, or centre
crops when an eval set gives ``crop``. No HR image is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ..data.images import natural_key
from ..data.metadata import MetadataScaling, value_labels
from .base import LOSSES, EvalResult, RunModel, batch_to_device, per_image_loss, summarise_sets


class RegressionTask:
    """The ``regression`` task."""

    name = "regression"

    def __init__(self, scaling: MetadataScaling, loss: str = "l1") -> None:
        self.scaling = scaling
        self.loss_name = loss
        self.labels = value_labels(scaling.dims)

    def to_device(self, batch: Mapping[str, Any], device: torch.device,
                  memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, Any]:
        return batch_to_device(batch, ("lr",), device, memory_format)

    def forward(self, model: torch.nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        return model(batch["lr"])

    def loss(self, output: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        return LOSSES[self.loss_name](output.float(), batch["metadata"])

    def evaluate(self, run_model: RunModel, loaders: Mapping[str, Any], metrics: Mapping[str, Any],
                 device: torch.device, gather: Callable[[Any], Any],
                 memory_format: torch.memory_format = torch.contiguous_format) -> EvalResult:
        """Predict every eval image; loss, metrics (original units) and one row per image.

        Names, predictions and targets are gathered from every process before anything is
        measured, so each image counts once whatever the batch size or number of processes.
        """
        per_set: dict[str, dict[str, torch.Tensor]] = {}
        rows: list[dict[str, Any]] = []
        for set_id, loader in loaders.items():
            names: list[str] = []
            outputs, targets = [], []
            for raw in loader:
                batch = self.to_device(raw, device, memory_format)
                outputs.append(run_model(batch).float())
                targets.append(batch["metadata"])
                names.extend(raw["name"])
            none = torch.zeros(0, len(self.labels), device=device)
            output = gather(torch.cat(outputs) if outputs else none)
            target = gather(torch.cat(targets) if targets else none)
            names = gather(names)
            predicted, true = self.scaling.denormalise(output), self.scaling.denormalise(target)
            values = {"loss": per_image_loss(self.loss_name, output, target)}
            values.update({name: metric.values(predicted, true, {"name": names}) for name, metric in metrics.items()})
            per_set[set_id] = values
            rows += self.rows(set_id, names, true, predicted)
        stats = summarise_sets(per_set, metrics)
        return EvalResult(stats, per_image=rows)

    def rows(self, set_id: str, names: Sequence[str], true: torch.Tensor,
             predicted: torch.Tensor) -> list[dict[str, Any]]:
        """One row per image in natural name order: ``set``, ``image``, then
        ``<label>_true`` and ``<label>_predicted`` per target value, in original units."""
        true_values, predicted_values = true.cpu().tolist(), predicted.cpu().tolist()
        rows = []
        for i in sorted(range(len(names)), key=lambda i: natural_key(names[i])):
            row: dict[str, Any] = {"set": set_id, "image": names[i]}
            for j, label in enumerate(self.labels):
                row[f"{label}_true"] = true_values[i][j]
                row[f"{label}_predicted"] = predicted_values[i][j]
            rows.append(row)
        return rows
