"""The ``ikc`` task: SFTMD with IKC's kernel predictor and corrector (blind SR).

Training follows the paper: SFTMD learns from the true degradation codes (for
``sftmd_pretrain_epochs`` epochs, or comes trained through ``init_from``); afterwards SFTMD is
frozen, the predictor learns the code of each LR image, and the corrector learns, at each of
``correction_steps`` steps, to correct the current code from the SR image SFTMD makes with it.
Inference: predict, then alternate SFTMD and corrector; the image is SFTMD's output of the
last step and the code the one it was made with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

import rumpycore
from rumpycore import ConfigError, option
from rumpycore.tasks.base import StepOutput


@dataclass
class IKCParams:
    """``[model.task_params]`` of the ``ikc`` task (the original's keys)."""

    sftmd_pretrain_epochs: int = option(0, min=0, help="first epochs that train SFTMD alone on the true codes "
                                                      "(0: SFTMD comes trained, through init_from)")
    correction_steps: int = option(7, min=1, max=100, help="SFTMD passes at inference, a correction between two "
                                                          "(paper: 7); corrector updates per training step")


class IKCTask(rumpycore.SISRTask):
    """``model`` is SFTMD (fed the codes), ``predictor`` and ``corrector`` estimate them; the
    codes are the normalised values of SFTMD's metadata names."""

    def __init__(self, params: IKCParams, ctx: rumpycore.TaskContext) -> None:
        super().__init__(params, ctx)
        self.predictor = ctx.networks["predictor"]
        self.corrector = ctx.networks["corrector"]
        size = sum(ctx.metadata.dims.values())
        for role in ("predictor", "corrector"):
            if ctx.networks[role].module.code_size != size:
                raise ConfigError(f"model.{role}.internal_params.metadata: estimates "
                                  f"{ctx.networks[role].module.code_size} values, but SFTMD takes {size} "
                                  f"({', '.join(ctx.metadata.dims)}); list the same names")
        corrector = self.corrector
        if ctx.training and corrector.scheduler is not None and corrector.scheduler_interval == "batch":
            raise ConfigError("model.corrector.internal_params.scheduler: the corrector updates correction_steps "
                              "times per batch, so a per-batch schedule would run ahead of the epochs; leave it out "
                              "(a constant learning rate) or use one that steps per epoch")
        self.epoch = 1
        self.code: torch.Tensor | None = None

    def epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def train_step(self, batch: Mapping[str, Any]) -> StepOutput:
        if self.epoch <= self.params.sftmd_pretrain_epochs:
            return self.network.minimise(self._loss_of, batch)
        predicted, applied = self.predictor.minimise(self._predictor_loss, batch)
        corrected = []
        for _ in range(self.params.correction_steps):
            code = self.code
            with torch.no_grad():
                sr = self.network.module(batch["lr"], code)
            terms, step_applied = self.corrector.minimise(self._corrector_loss, {**batch, "sr": sr, "code": code})
            corrected.append(terms["loss"])
            applied = applied and step_applied
        corrector = torch.stack(corrected).mean()
        return {"loss": predicted["loss"] + corrector, "predictor": predicted["loss"], "corrector": corrector}, applied

    def _predictor_loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        code = self.predictor.forward(batch["lr"]).float()
        self.code = code.detach()
        return self.predictor.losses(code, batch["metadata"])

    def _corrector_loss(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        code = self.corrector.forward(batch["sr"], batch["code"]).float()
        self.code = code.detach()
        return self.corrector.losses(code, batch["metadata"])

    def predict(self, batch: Mapping[str, Any]) -> torch.Tensor:
        return self.predict_with_degradation(batch)[0]

    def predict_with_degradation(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        lr = batch["lr"]
        code = self.predictor.module(lr)
        for step in range(self.params.correction_steps):
            sr = self.network.module(lr, code)
            if step < self.params.correction_steps - 1:
                code = self.corrector.module(sr, code)
        return sr, code
