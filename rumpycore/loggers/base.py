"""Loggers: callbacks that record a run (console, summary, plots, samples, Aim, a plugin's).

A logger is a :class:`rumpycore.Callback` registered with ``register_loggers``: it may
implement any callback event, plus ``batch_end(epoch, index, loss, data_wait)``, which it
receives after every training step with the total loss as a device tensor (so it decides
itself when a host synchronisation is worth it). A logger that fails is reported and left
out; training goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..callbacks.base import Callback, RunInfo, StepInfo

__all__ = ["Logger", "LoggerContext", "RunInfo", "StepInfo"]


@dataclass(frozen=True)
class LoggerContext:
    """What a logger factory learns about the run (exported as ``rumpycore.LoggerContext``).

    - ``experiment``: the experiment name; ``group``: its ``experiment_group`` (or None).
    - ``folder``: the experiment (or branch) folder this run writes to; ``results``: its
      ``result_outputs/``.
    - ``config``: the resolved config, as written to ``config.toml``.
    - ``task``: the task's name (``"sisr"``, ``"regression"`` or a plugin's).
    - ``save_loc``: the ``experiment_save_loc`` folder; ``aim_home``: the Aim repository folder.
    - ``metric_directions``: metric name (as in ``[training] metrics``) -> higher is better.
    - ``best_metric``: the summary column that picks the best epoch.
    """

    experiment: str
    group: str | None
    folder: Path
    results: Path
    config: Mapping[str, Any]
    task: str
    save_loc: Path
    aim_home: Path
    metric_directions: Mapping[str, bool] = field(default_factory=dict)
    best_metric: str | None = None


class Logger(Callback):
    """Base class of loggers; every event is optional (the defaults do nothing).

    ``run_start`` must return quickly. ``run_id`` in :class:`RunInfo` stays the same across
    resumes of one folder. A logger that must remember something across a resume (a
    tracker's run id) defines ``state_dict()`` and ``load_state_dict(state)``: the state is
    stored in every checkpoint and handed back when a run resumes in the same folder, and
    also in a branch when ``branch_state`` is true (a record that a branch continues).
    """

    branch_state = False

    def step_end(self, step: StepInfo) -> None:
        self.batch_end(step.epoch, step.index, step.terms["loss"], step.data_wait)

    def batch_end(self, epoch: int, index: int, loss: torch.Tensor, data_wait: float) -> None:
        """A training batch finished; ``data_wait`` is the seconds spent waiting for it."""
