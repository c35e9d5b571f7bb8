"""Aim tracking: hyper-parameters, every per-epoch statistic, system metrics and samples.

Metric names follow the original toolbox: summary columns with ``-`` replaced by ``_``
(``val_PSNR``, ``train_loss``). A run resumed in place continues the same Aim run (its hash is
kept in the checkpoint through :meth:`AimLogger.state_dict`); a branch starts a new Aim run
that first replays the history it inherits. If Aim cannot start, training goes on without it
after one warning.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..params import option
from .base import Logger, LoggerContext
from .steps import StepMeans


@dataclass
class AimParams:
    """``[training.logger_params.aim]``."""

    system_tracking_interval: int = option(60, min=1, max=86400, help="seconds between CPU/memory/GPU samples")
    step_loss_every: int = option(10, min=1, max=1_000_000,
                                  help="steps per tracked train_loss_step value (the mean loss of those steps)")


def metric_name(column: str) -> str:
    """Aim metric name of a summary column (``val-PSNR`` -> ``val_PSNR``)."""
    return column.replace("-", "_")


class AimLogger(Logger):
    """Logs a training run to an Aim repository at ``aim_home``."""

    def __init__(self, params: AimParams, ctx: LoggerContext) -> None:
        self.params = params
        self.ctx = ctx
        self.run: Any = None
        self.run_hash: str | None = None
        self.reference: Mapping[str, float] = {}
        self.reference_name: str | None = None
        self.step_means = StepMeans(params.step_loss_every)

    def state_dict(self) -> dict:
        """The Aim run hash, so that a resume continues the same run, and the steps of an
        unfinished run of per-step losses."""
        state: dict[str, Any] = {"step_means": self.step_means.state_dict()}
        if self.run_hash:
            state["run_hash"] = self.run_hash
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Remember the Aim run of the run being resumed."""
        self.run_hash = state.get("run_hash")
        self.step_means.load_state_dict(state.get("step_means", {}))

    def run_start(self, info):
        try:
            self.run = self._open()
        except Exception as exc:  # Aim is optional to the training itself
            print(f"rumpy: warning: Aim tracking is off for this run: could not open the Aim repository at "
                  f"{self.ctx.aim_home} ({type(exc).__name__}: {exc})", file=sys.stderr)
            self.run = None
            return
        reopened = self.run_hash == self.run.hash
        self.run_hash = self.run.hash
        self.run["hparams"] = dict(info.hparams)
        self.run["rumpy"] = {"experiment": self.ctx.experiment, "folder": str(self.ctx.folder),
                             "task": self.ctx.task, "parameters": info.num_parameters, "device": info.device}
        self.reference, self.reference_name = info.reference, info.reference_name
        if self.reference:
            self.run["reference"] = {"name": self.reference_name, **self.reference}
        if not reopened:
            for row in info.history:
                self._track_row(row)

    def _open(self):
        from aim import Run

        self.ctx.aim_home.mkdir(parents=True, exist_ok=True)
        common = {"repo": str(self.ctx.aim_home), "system_tracking_interval": self.params.system_tracking_interval,
                  "capture_terminal_logs": False}
        if self.run_hash:
            try:
                return Run(run_hash=self.run_hash, **common)
            except Exception:
                print(f"rumpy: warning: Aim run {self.run_hash} not found in {self.ctx.aim_home}; "
                      f"starting a new Aim run", file=sys.stderr)
        run = Run(experiment=self.ctx.group or self.ctx.experiment, **common)
        run.name = f"{self.ctx.experiment} ({self.ctx.folder.name})"
        return run

    def _track_row(self, row: Mapping[str, float]) -> None:
        epoch = int(row["epoch"])
        for column, value in row.items():
            if column != "epoch" and value is not None:
                self.run.track(float(value), name=metric_name(column), step=epoch, epoch=epoch)
                if column in self.reference:  # a flat line to compare with, in the same chart's context
                    self.run.track(self.reference[column], name=metric_name(column), step=epoch, epoch=epoch,
                                   context={"reference": self.reference_name})

    def step_end(self, step):
        mean = self.step_means.add(step)
        if mean is not None and self.run is not None:
            self.run.track(mean, name="train_loss_step", step=step.step, epoch=step.epoch)

    def epoch_end(self, epoch, row, history):
        if self.run is not None:
            self._track_row(row)

    def samples(self, epoch, samples: Sequence):
        if self.run is None:
            return
        from aim import Image

        from .samples import caption, comparison

        for sample in samples:
            lines = [caption(sample, label) for label in sample.scores]
            image = comparison(sample, epoch, self.reference_name or "bicubic") if sample.reference is not None \
                else sample.output
            self.run.track(Image(image, caption=f"{sample.name}: " + "; ".join(lines)), name="samples", step=epoch,
                           epoch=epoch, context={"image": sample.name})

    def run_end(self, status):
        if self.run is not None:
            self.run["rumpy_status"] = status
            self.run.close()
            self.run = None


def build_aim(params: AimParams, ctx: LoggerContext) -> AimLogger:
    """Factory of the ``aim`` logger."""
    return AimLogger(params, ctx)
