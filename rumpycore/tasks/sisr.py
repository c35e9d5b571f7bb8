"""Single-image super-resolution: LR in, HR out, the network's losses (L1 by default), fidelity
metrics per eval set, and MATLAB bicubic upscaling as the reference every run is shown against."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..data.metadata import value_labels
from ..evaluation.baselines import Bicubic
from ..images import to_uint8
from .base import EvalResult, Sample, StepOutput, Task, TaskContext, summarise_sets, value_rows

REFERENCE = "bicubic"

Upscale = Callable[[Mapping[str, Any]], tuple[torch.Tensor, "torch.Tensor | None"]]
"""An eval-batch upscaler: SR images and, for a blind task, its degradation estimates (else None)."""


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
        self.bicubic = Bicubic(ctx.scale)

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

    def _measure(self, loaders: Mapping[str, Any], metrics: Mapping[str, Any], upscale: Upscale,
                 samples: list[Sample] | None) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Loss and metrics of ``upscale`` on every eval set; the first images become ``samples``
        (when a list is given), with the bicubic reference beside them. Where ``upscale`` also
        estimates the degradation, the mean absolute error of each metadata name's estimates
        (original units, ``val-<name>-error``) and one row per image with the estimated and true
        values come with the statistics."""
        ctx = self.ctx
        per_set: dict[str, dict[str, torch.Tensor]] = {}
        rows: list[dict[str, Any]] = []
        for set_id, loader in loaders.items():
            columns: dict[str, list[torch.Tensor]] = {"loss": []}
            columns.update({name: [] for name in metrics})
            names: list[str] = []
            estimates, truths = [], []
            for raw in loader:
                batch = self.to_device(raw)
                output, estimate = upscale(batch)
                output = output if output.dtype == torch.float64 else output.float()  # bicubic stays exact
                target = batch["hr"]
                columns["loss"].append(self.eval_loss(output.to(target.dtype), target))
                values = {name: metric.values(output, target, batch).double() for name, metric in metrics.items()}
                for name, value in values.items():
                    columns[name].append(value)
                if estimate is not None:
                    estimates.append(estimate.float())
                    truths.append(batch["metadata"])
                    names.extend(raw["name"])
                if samples is not None and len(samples) < ctx.num_samples:
                    samples += self._samples(raw, batch, output, values, metrics, ctx.num_samples - len(samples))
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
        return stats, rows

    def _samples(self, raw: Mapping[str, Any], batch: Mapping[str, Any], output: torch.Tensor,
                 values: Mapping[str, torch.Tensor], metrics: Mapping[str, Any], wanted: int) -> list[Sample]:
        count = min(wanted, output.shape[0])
        reference = self.bicubic(batch)
        reference_values = {name: metric.values(reference, batch["hr"], batch) for name, metric in metrics.items()}
        return [Sample(raw["name"][i], to_uint8(batch["lr"][i]), to_uint8(output[i]), to_uint8(batch["hr"][i]),
                       to_uint8(reference[i]),
                       {"SR": {name: float(v[i]) for name, v in values.items()},
                        REFERENCE: {name: float(v[i]) for name, v in reference_values.items()}})
                for i in range(count)]

    def eval_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The ``val-loss`` of each image: the network's losses (a task that trains with losses an
        eval image cannot give, such as a GAN's adversarial one, leaves those out)."""
        return self.network.losses.per_image(output, target)

    def evaluate(self, loaders: Mapping[str, Any], metrics: Mapping[str, Any]) -> EvalResult:
        """Per-image loss and metrics on every eval set; reported per set (when several) and together.

        Evaluation runs in full precision whatever the training precision, so that 8-bit
        metrics are not disturbed by bf16/fp16 rounding of the outputs. A blind task (its
        :meth:`predict_with_degradation` estimates the degradation) also reports the mean
        absolute error of the estimates per metadata name, in original units
        (``val-<name>-error``), and one row per image with the estimated and true values.
        """
        samples: list[Sample] = []
        stats, rows = self._measure(loaders, metrics, self._measured_prediction, samples)
        return EvalResult(stats, samples, rows)

    def _measured_prediction(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        output, estimate = self.predict_with_degradation(batch)
        if self.ctx.self_ensemble:
            # The estimate stays the untransformed input's: a flipped image has a flipped kernel,
            # whose code differs, so the members' estimates cannot be averaged.
            output = self.predict_for_metrics(batch)
        return output, estimate

    def reference(self, loaders: Mapping[str, Any], metrics: Mapping[str, Any]) -> tuple[str, dict[str, float]]:
        """MATLAB bicubic upscaling of the eval sets, measured as the network is."""
        return REFERENCE, self._measure(loaders, metrics, lambda batch: (self.bicubic(batch), None), None)[0]


def degradation_errors(estimated: torch.Tensor, true: torch.Tensor, dims: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """Per image, the mean absolute error of each metadata name's estimated values (``<name>-error``)."""
    errors, start = {}, 0
    for name, count in dims.items():
        errors[f"{name}-error"] = (estimated[:, start:start + count] - true[:, start:start + count]).abs().mean(1)
        start += count
    return errors
