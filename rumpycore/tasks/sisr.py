"""Single-image super-resolution: LR in, HR out, the network's losses (L1 by default), fidelity
metrics per eval set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..images import to_uint8
from ..data.metadata import value_labels
from .base import EvalResult, Sample, StepOutput, Task, TaskContext, summarise_sets, value_rows


class SISRTask(Task):
    """The ``sisr`` task: one network, ``model``, trained to map LR images to HR images.

    A model that takes metadata is called as ``model(image, metadata)``; one that takes
    ``lr_interp`` receives the LR image upscaled to the HR size instead of the LR image.
    """

    def __init__(self, params: Any, ctx: TaskContext) -> None:
        super().__init__(params, ctx)
        self.network = ctx.networks["model"]
        self.image_input = "lr_interp" if "lr_interp" in ctx.inputs else "lr"
        self.uses_metadata = ctx.metadata is not None

    def _call(self, model: Any, batch: Mapping[str, Any]) -> torch.Tensor:
        if self.uses_metadata:
            return model(batch[self.image_input], batch["metadata"])
        return model(batch[self.image_input])

    def _loss_of(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return self.network.losses(self._call(self.network.forward, batch).float(), batch["hr"])

    def train_step(self, batch: Mapping[str, Any]) -> StepOutput:
        return self.network.minimise(self._loss_of, batch)

    def predict(self, batch: Mapping[str, Any]) -> torch.Tensor:
        return self._call(self.network.module, batch)

    def evaluate(self, loaders: Mapping[str, Any], metrics: Mapping[str, Any]) -> EvalResult:
        """Per-image loss and metrics on every eval set; reported per set (when several) and together.

        Evaluation runs in full precision whatever the training precision, so that 8-bit
        metrics are not disturbed by bf16/fp16 rounding of the outputs. A blind task (its
        :meth:`predict_with_degradation` estimates the degradation) also reports the mean
        absolute error of the estimates per metadata name, in original units
        (``val-<name>-error``), and one row per image with the estimated and true values.
        """
        ctx = self.ctx
        per_set: dict[str, dict[str, torch.Tensor]] = {}
        samples: list[Sample] = []
        rows: list[dict[str, Any]] = []
        for set_id, loader in loaders.items():
            columns: dict[str, list[torch.Tensor]] = {"loss": []}
            columns.update({name: [] for name in metrics})
            names: list[str] = []
            estimates, truths = [], []
            for raw in loader:
                batch = self.to_device(raw)
                output, estimate = self.predict_with_degradation(batch)
                output = output.float()
                target = batch["hr"]
                columns["loss"].append(self.network.losses.per_image(output, target))
                for name, metric in metrics.items():
                    columns[name].append(metric.values(output, target, batch).double())
                if estimate is not None:
                    estimates.append(estimate.float())
                    truths.append(batch["metadata"])
                    names.extend(raw["name"])
                for i in range(output.shape[0]):
                    if len(samples) < ctx.num_samples:
                        samples.append(Sample(raw["name"][i], to_uint8(batch["lr"][i]), to_uint8(output[i]),
                                              to_uint8(target[i])))
            per_set[set_id] = {k: ctx.gather(torch.cat(v) if v else torch.zeros(0, device=ctx.device))
                               for k, v in columns.items()}
            if estimates:
                estimated = ctx.metadata.denormalise(ctx.gather(torch.cat(estimates)))
                true = ctx.metadata.denormalise(ctx.gather(torch.cat(truths)))
                per_set[set_id].update(degradation_errors(estimated, true, ctx.metadata.dims))
                rows += value_rows(set_id, ctx.gather(names), value_labels(ctx.metadata.dims), true, estimated)
        stats = summarise_sets(per_set, metrics)
        for key in next(iter(per_set.values()), {}):
            if key.endswith("-error"):
                stats[f"val-{key}"] = float(torch.cat([values[key] for values in per_set.values()]).double().mean())
        return EvalResult(stats, samples, rows)


def degradation_errors(estimated: torch.Tensor, true: torch.Tensor, dims: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """Per image, the mean absolute error of each metadata name's estimated values (``<name>-error``)."""
    errors, start = {}, 0
    for name, count in dims.items():
        errors[f"{name}-error"] = (estimated[:, start:start + count] - true[:, start:start + count]).abs().mean(1)
        start += count
    return errors
