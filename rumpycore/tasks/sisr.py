"""Single-image super-resolution: LR in, HR out, L1 (or MSE) loss, fidelity metrics per eval set."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from .base import LOSSES, EvalResult, RunModel, Sample, batch_to_device, per_image_loss, summarise_sets


def to_uint8_image(image: torch.Tensor) -> np.ndarray:
    """``3 x H x W`` float image in [0, 1] to an ``H x W x 3`` uint8 array (rounded)."""
    return image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


class SISRTask:
    """The ``sisr`` task."""

    name = "sisr"

    def __init__(self, uses_metadata: bool, num_samples: int, image_input: str = "lr", loss: str = "l1") -> None:
        self.uses_metadata = uses_metadata
        self.num_samples = num_samples
        self.image_input = image_input  # "lr_interp" for models that take the LR image upscaled to the HR size
        self.loss_name = loss

    def to_device(self, batch: Mapping[str, Any], device: torch.device,
                  memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, Any]:
        return batch_to_device(batch, ("lr", "hr", "lr_interp"), device, memory_format)

    def forward(self, model: torch.nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        if self.uses_metadata:
            return model(batch[self.image_input], batch["metadata"])
        return model(batch[self.image_input])

    def loss(self, output: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        return LOSSES[self.loss_name](output.float(), batch["hr"])

    def evaluate(self, run_model: RunModel, loaders: Mapping[str, Any], metrics: Mapping[str, Any],
                 device: torch.device, gather: Callable[[torch.Tensor], torch.Tensor],
                 memory_format: torch.memory_format = torch.contiguous_format) -> EvalResult:
        """Per-image loss and metrics on every eval set; reported per set (when several) and together.

        Evaluation runs in full precision whatever the training precision, so that 8-bit
        metrics are not disturbed by bf16/fp16 rounding of the outputs.
        """
        per_set: dict[str, dict[str, list[torch.Tensor]]] = {}
        samples: list[Sample] = []
        for set_id, loader in loaders.items():
            columns: dict[str, list[torch.Tensor]] = {"loss": []}
            columns.update({name: [] for name in metrics})
            for raw in loader:
                batch = self.to_device(raw, device, memory_format)
                output = run_model(batch).float()
                target = batch["hr"]
                columns["loss"].append(per_image_loss(self.loss_name, output, target))
                for name, metric in metrics.items():
                    columns[name].append(metric.values(output, target, batch).double())
                for i in range(output.shape[0]):
                    if len(samples) < self.num_samples:
                        samples.append(Sample(raw["name"][i], to_uint8_image(batch["lr"][i]),
                                              to_uint8_image(output[i]), to_uint8_image(target[i])))
            per_set[set_id] = {k: gather(torch.cat(v) if v else torch.zeros(0, device=device)) for k, v in columns.items()}
        stats = summarise_sets(per_set, metrics)
        return EvalResult(stats, samples)
