"""Single-image super-resolution: LR in, HR out, the network's losses (L1 by default), fidelity
metrics per eval set, and MATLAB bicubic upscaling as the reference every run is shown against."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..evaluation.baselines import Bicubic
from ..images import to_uint8
from .base import EvalResult, Sample, StepOutput, Task, TaskContext, summarise_sets

REFERENCE = "bicubic"


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

    def _measure(self, loaders: Mapping[str, Any], metrics: Mapping[str, Any],
                 upscale: Callable[[Mapping[str, Any]], torch.Tensor], samples: list[Sample] | None) -> dict[str, float]:
        """Loss and metrics of ``upscale`` on every eval set; the first images become ``samples``
        (when a list is given), with the bicubic reference beside them."""
        ctx = self.ctx
        per_set: dict[str, dict[str, torch.Tensor]] = {}
        for set_id, loader in loaders.items():
            columns: dict[str, list[torch.Tensor]] = {"loss": []}
            columns.update({name: [] for name in metrics})
            for raw in loader:
                batch = self.to_device(raw)
                output = upscale(batch)
                output = output if output.dtype == torch.float64 else output.float()  # bicubic stays exact
                target = batch["hr"]
                columns["loss"].append(self.eval_loss(output.to(target.dtype), target))
                values = {name: metric.values(output, target, batch).double() for name, metric in metrics.items()}
                for name, value in values.items():
                    columns[name].append(value)
                if samples is not None and len(samples) < ctx.num_samples:
                    samples += self._samples(raw, batch, output, values, metrics, ctx.num_samples - len(samples))
            per_set[set_id] = {k: ctx.gather(torch.cat(v) if v else torch.zeros(0, device=ctx.device))
                               for k, v in columns.items()}
        return summarise_sets(per_set, metrics)

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
        metrics are not disturbed by bf16/fp16 rounding of the outputs.
        """
        samples: list[Sample] = []
        stats = self._measure(loaders, metrics, self.predict_for_metrics, samples)
        return EvalResult(stats, samples)

    def reference(self, loaders: Mapping[str, Any], metrics: Mapping[str, Any]) -> tuple[str, dict[str, float]]:
        """MATLAB bicubic upscaling of the eval sets, measured as the network is."""
        return REFERENCE, self._measure(loaders, metrics, self.bicubic, None)
