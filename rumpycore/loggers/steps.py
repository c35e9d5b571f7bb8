"""The training loss between evaluations: its mean every few steps, in
``result_outputs/step_losses.csv`` and the plot ``loss_steps.png`` (``step_loss`` logger)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..atomic import atomic_write_text
from ..params import option
from .base import Logger, LoggerContext, StepInfo
from .summary import csv_text

STEP_LOSSES = "step_losses.csv"
STEP_PLOT = "loss_steps"


class StepMeans:
    """The mean of a step's loss over each run of ``every`` applied steps, read from the device
    once per run of steps (the training loop is never synchronised at every step)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.total: torch.Tensor | None = None
        self.count = 0

    def add(self, step: StepInfo) -> float | None:
        """Add a step; returns the mean once ``every`` steps are in (at steps divisible by it)."""
        if not step.applied:
            return None
        loss = step.terms["loss"].detach().double()
        self.total = loss if self.total is None else self.total + loss
        self.count += 1
        if step.step % self.every:
            return None
        mean = float(self.total) / self.count
        self.total, self.count = None, 0
        return mean

    def state_dict(self) -> dict[str, Any]:
        """The partial run of steps, so a resumed run's means equal an uninterrupted run's."""
        return {"total": float(self.total) if self.total is not None else 0.0, "count": self.count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.count = int(state.get("count", 0))
        self.total = torch.tensor(float(state.get("total", 0.0)), dtype=torch.float64) if self.count else None


@dataclass
class StepLossParams:
    """``[training.logger_params.step_loss]``."""

    every: int = option(10, min=1, max=1_000_000, help="steps per recorded value (the mean loss of those steps)")


class StepLossLogger(Logger):
    """Records ``step, epoch, train-loss`` every ``every`` steps; writes the CSV (and, with
    ``logging = "visual"``, the plot) after every checkpoint. A branch continues the parent's
    record up to its starting step."""

    branch_state = True

    def __init__(self, params: StepLossParams, ctx: LoggerContext) -> None:
        self.means = StepMeans(params.every)
        self.results = ctx.results
        self.plot = ctx.config.get("training", {}).get("logging", "visual") == "visual"
        self.title = ctx.experiment
        self.rows: list[dict[str, float]] = []

    def step_end(self, step):
        mean = self.means.add(step)
        if mean is not None:
            self.rows.append({"step": step.step, "epoch": step.epoch, "train-loss": mean})

    def checkpoint(self, epoch, path, history):
        atomic_write_text(self.results / STEP_LOSSES, csv_text(self.rows))
        if self.plot and self.rows:
            from .plots import plt, save_figure

            fig, ax = plt.subplots(figsize=(10, 3))
            ax.plot([r["step"] for r in self.rows], [r["train-loss"] for r in self.rows], linewidth=1)
            ax.set_xlabel("step")
            ax.set_ylabel(f"train-loss (mean of {self.means.every} steps)")
            ax.set_title(self.title)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            save_figure(fig, self.results / STEP_PLOT)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows], "means": self.means.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rows = [dict(r) for r in state.get("rows", [])]
        self.means.load_state_dict(state.get("means", {}))


def build_step_loss(params: StepLossParams, ctx: LoggerContext) -> StepLossLogger:
    """The ``step_loss`` logger."""
    return StepLossLogger(params, ctx)
