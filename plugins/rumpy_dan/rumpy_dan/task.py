"""The ``dan`` task: a blind SR network that returns its SR image and its estimate of the
degradation, trained on both at once against the HR image and the set's metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

import rumpycore
from rumpycore import option


@dataclass
class DANTaskParams:
    """``[model.task_params]`` of the ``dan`` task."""

    degradation_weight: float = option(1.0, min=0.0, help="weight of the L1 loss between the estimated and the true "
                                                          "(normalised) degradation code, added to the image losses")


class DANTask(rumpycore.SISRTask):
    """One network, ``model(lr) -> (sr, code)``; its loss is the configured image losses on
    ``sr`` plus ``degradation_weight`` times the L1 distance of ``code`` to the image's
    normalised metadata (the model's metadata names are its targets), as the original toolbox
    trained DAN: both on the final iteration."""

    def __init__(self, params: DANTaskParams, ctx: rumpycore.TaskContext) -> None:
        super().__init__(params, ctx)
        self.uses_metadata = False  # the metadata is what the model estimates, never an input

    def _loss_of(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        sr, code = self.network.forward(batch["lr"])
        terms = self.network.losses(sr.float(), batch["hr"])
        degradation = (code.float() - batch["metadata"]).abs().mean() * self.params.degradation_weight
        return {**terms, "loss": terms["loss"] + degradation, "degradation": degradation}

    def predict(self, batch: Mapping[str, Any]) -> torch.Tensor:
        return self.network.module(batch["lr"])[0]

    def predict_with_degradation(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.network.module(batch["lr"])
