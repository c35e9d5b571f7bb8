"""The logger interface: events the trainer emits, and the context a logger is built with."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..tasks.base import Sample


@dataclass(frozen=True)
class LoggerContext:
    """What a logger factory learns about the run (exported as ``rumpycore.LoggerContext``).

    - ``experiment``: the experiment name; ``group``: its ``experiment_group`` (or None).
    - ``folder``: the experiment (or branch) folder this run writes to; ``results``: its
      ``result_outputs/``.
    - ``config``: the resolved config, as written to ``config.toml``.
    - ``task``: ``"sisr"`` or ``"regression"``.
    - ``save_loc``: the ``experiment_save_loc`` folder; ``aim_home``: the Aim repository folder.
    - ``metric_directions``: metric name (as in ``[training] metrics``) -> higher is better.
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


@dataclass(frozen=True)
class RunInfo:
    """Sent with ``run_start``: where the run begins and what came before it."""

    start_epoch: int
    target_epoch: int
    history: Sequence[Mapping[str, float]]
    resumed_from: int | None
    num_parameters: int
    device: str
    run_id: str
    hparams: Mapping[str, Any]


class Logger:
    """Base class of loggers; every event is optional (the defaults do nothing).

    ``run_start`` must return quickly; ``batch_end`` receives the loss as a device tensor so
    a logger decides itself when a host synchronisation is worth it. ``run_id`` in
    :class:`RunInfo` stays the same across resumes of one folder. A logger that must remember
    something across a resume (a tracker's run id) may define ``state_dict()`` and
    ``load_state_dict(state)``: the state is stored in every checkpoint and handed back when a
    run resumes in the same folder.
    """

    def run_start(self, info: RunInfo) -> None:
        """Training is about to start (or continue) at ``info.start_epoch``."""

    def epoch_start(self, epoch: int, num_batches: int) -> None:
        """An epoch of ``num_batches`` training batches begins."""

    def batch_end(self, epoch: int, index: int, loss: torch.Tensor, data_wait: float) -> None:
        """A training batch finished; ``data_wait`` is the seconds spent waiting for it."""

    def epoch_end(self, epoch: int, row: Mapping[str, float], history: Sequence[Mapping[str, float]]) -> None:
        """An epoch's statistics are final; ``history`` holds every row so far, this one included."""

    def samples(self, epoch: int, samples: Sequence[Sample]) -> None:
        """Evaluation samples of ``epoch`` are available."""

    def per_image(self, epoch: int, rows: Sequence[Mapping[str, Any]]) -> None:
        """Per-image results of the evaluation after ``epoch`` (one dict per image, every
        process's images; the regression task's targets and predictions)."""

    def run_end(self, status: str) -> None:
        """Training ended: ``"finished"``, ``"early-stopped"``, ``"interrupted"`` or ``"failed"``."""


class LoggerGroup(Logger):
    """Forwards each event to several loggers.

    A logger that fails is reported once and then left out, so logging problems never stop
    training. A :class:`UserError` (such as a full disk while writing the summary) still ends
    the run, since the files it protects are the run's record.
    """

    def __init__(self, loggers: Sequence[tuple[str, Any]]) -> None:
        self.loggers = list(loggers)

    def _emit(self, event: str, *args: Any) -> None:
        for name, logger in list(self.loggers):
            method = getattr(logger, event, None)
            if method is None:
                continue
            try:
                method(*args)
            except UserError:
                raise
            except Exception as exc:  # a broken logger must not end days of training
                print(f"rumpy: warning: logger {name} failed in {event} ({type(exc).__name__}: {exc}); "
                      f"it is disabled for the rest of the run", file=sys.stderr)
                self.loggers.remove((name, logger))

    def run_start(self, info):
        self._emit("run_start", info)

    def epoch_start(self, epoch, num_batches):
        self._emit("epoch_start", epoch, num_batches)

    def batch_end(self, epoch, index, loss, data_wait):
        self._emit("batch_end", epoch, index, loss, data_wait)

    def epoch_end(self, epoch, row, history):
        self._emit("epoch_end", epoch, row, history)

    def samples(self, epoch, samples):
        self._emit("samples", epoch, samples)

    def per_image(self, epoch, rows):
        self._emit("per_image", epoch, rows)

    def run_end(self, status):
        self._emit("run_end", status)

    def state_dict(self) -> dict:
        """State of every logger that keeps some (e.g. a tracker's run id), by logger name."""
        return {name: logger.state_dict() for name, logger in self.loggers if hasattr(logger, "state_dict")}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Give each logger the state it saved in the checkpoint being resumed."""
        for name, logger in self.loggers:
            if name in state and hasattr(logger, "load_state_dict"):
                logger.load_state_dict(state[name])
