"""Callbacks: everything that watches or changes a run from the outside.

A callback receives the run's events, in this order::

    run_start(info)
    for each epoch:
        epoch_start(epoch, num_batches)
        step_end(step)                 after every training step (loggers: batch_end)
        steps_end(epoch)               no further step for now (end of the epoch's steps, or a stop)
        evaluation_start(epoch)        around an evaluation (weights may be swapped here)
        samples(epoch, samples) / per_image(epoch, rows)
        evaluation_end(epoch, stats)
        epoch_end(epoch, row, history)
        checkpoint(epoch, path, history)   after the epoch's checkpoint was written
        should_stop(history)           any callback returning True ends the run early
    run_end(status)

It keeps what must survive a resume in ``state_dict()``: every checkpoint stores it and a
resumed run hands it back through ``load_state_dict`` before ``run_start``. A callback never
reaches into the trainer; it gets what it needs from its :class:`CallbackContext`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..tasks.base import Sample


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
    reference: Mapping[str, float] = field(default_factory=dict)
    """The task's baseline measured on the eval sets (``val-*`` columns), e.g. bicubic upscaling."""
    reference_name: str | None = None


@dataclass(frozen=True)
class StepInfo:
    """Sent with ``step_end``: the step's loss terms (device tensors, ``"loss"`` the total), whether
    its update was applied, its place in the epoch (``index``: batches done) and in the run
    (``step``: optimizer steps done), and the seconds spent waiting for its batch."""

    epoch: int
    index: int
    step: int
    terms: Mapping[str, torch.Tensor]
    applied: bool
    data_wait: float


@dataclass(frozen=True)
class CallbackContext:
    """What a callback factory learns about the run.

    ``networks`` are the run's models by role (the first is the ``[model]`` table's);
    ``folder`` is the experiment (or branch) folder, ``root`` the experiment it belongs to;
    ``metric_directions`` maps metric names to higher-is-better; ``any_rank(flag)`` is true
    when the boolean tensor ``flag`` is true on any process (a synchronisation).
    """

    folder: Path
    root: Path
    results: Path
    config: Mapping[str, Any]
    task: str
    networks: Mapping[str, torch.nn.Module]
    training: Any
    best_metric: str
    early_stopping_metric: str
    metric_directions: Mapping[str, bool] = field(default_factory=dict)
    is_main: bool = True
    any_rank: Callable[[torch.Tensor], bool] = lambda flag: bool(flag.any())


class Callback:
    """Base class of callbacks; every event is optional (the defaults do nothing)."""

    def run_start(self, info: RunInfo) -> None:
        """Training is about to start (or continue) at ``info.start_epoch``."""

    def epoch_start(self, epoch: int, num_batches: int) -> None:
        """An epoch of ``num_batches`` training batches begins."""

    def step_end(self, step: StepInfo) -> None:
        """A training step finished."""

    def steps_end(self, epoch: int) -> None:
        """No further step follows for now: the epoch's steps are done, or the run is stopping."""

    def evaluation_start(self, epoch: int) -> None:
        """The evaluation after ``epoch`` begins."""

    def samples(self, epoch: int, samples: Sequence[Sample]) -> None:
        """Evaluation samples of ``epoch`` are available."""

    def per_image(self, epoch: int, rows: Sequence[Mapping[str, Any]]) -> None:
        """Per-image results of the evaluation after ``epoch`` (one dict per image, every
        process's images; the regression task's targets and predictions)."""

    def evaluation_end(self, epoch: int, stats: Mapping[str, float]) -> None:
        """The evaluation after ``epoch`` ended with these summary statistics."""

    def checkpoint(self, epoch: int, path: Path, history: Sequence[Mapping[str, float]]) -> None:
        """The checkpoint of ``epoch`` was written to ``path``."""

    def epoch_end(self, epoch: int, row: Mapping[str, float], history: Sequence[Mapping[str, float]]) -> None:
        """An epoch's statistics are final; ``history`` holds every row so far, this one included."""

    def should_stop(self, history: Sequence[Mapping[str, float]]) -> bool:
        """Whether the run should end after this epoch."""
        return False

    def run_end(self, status: str) -> None:
        """Training ended: ``"finished"``, ``"early-stopped"``, ``"interrupted"`` or ``"failed"``."""


class CallbackGroup(Callback):
    """Forwards each event to several callbacks, in order.

    An exception in a callback ends the run. A logger (``tolerant``) that fails is reported
    once and left out for the rest of the run, so logging problems never stop training; a
    :class:`UserError` (such as a full disk while writing the summary) still ends the run,
    since the files it protects are the run's record.
    """

    def __init__(self, members: Sequence[tuple[str, Any, bool]]) -> None:
        self.members = list(members)

    def _emit(self, event: str, *args: Any) -> list[Any]:
        results = []
        for member in list(self.members):
            name, callback, tolerant = member
            method = getattr(callback, event, None)
            if method is None:
                continue
            try:
                results.append(method(*args))
            except UserError:
                raise
            except Exception as exc:
                if not tolerant:
                    raise
                print(f"rumpy: warning: logger {name} failed in {event} ({type(exc).__name__}: {exc}); "
                      f"it is disabled for the rest of the run", file=sys.stderr)
                self.members.remove(member)
        return results

    def run_start(self, info):
        self._emit("run_start", info)

    def epoch_start(self, epoch, num_batches):
        self._emit("epoch_start", epoch, num_batches)

    def step_end(self, step):
        self._emit("step_end", step)

    def steps_end(self, epoch):
        self._emit("steps_end", epoch)

    def evaluation_start(self, epoch):
        self._emit("evaluation_start", epoch)

    def samples(self, epoch, samples):
        self._emit("samples", epoch, samples)

    def per_image(self, epoch, rows):
        self._emit("per_image", epoch, rows)

    def evaluation_end(self, epoch, stats):
        self._emit("evaluation_end", epoch, stats)

    def checkpoint(self, epoch, path, history):
        self._emit("checkpoint", epoch, path, history)

    def epoch_end(self, epoch, row, history):
        self._emit("epoch_end", epoch, row, history)

    def should_stop(self, history) -> bool:
        return any(self._emit("should_stop", history))

    def run_end(self, status):
        self._emit("run_end", status)

    def state_dict(self) -> dict[str, Any]:
        """The state of every member that keeps some, by name."""
        return {name: callback.state_dict() for name, callback, _ in self.members if hasattr(callback, "state_dict")}

    def load_state_dict(self, state: Mapping[str, Any], in_place: bool) -> None:
        """Hand each member the state it saved (``{}`` if it saved none). Loggers get theirs only
        when the run continues in the same folder (a branch starts its own logs) unless they keep a
        record a branch continues (``branch_state``)."""
        for name, callback, tolerant in self.members:
            continues = in_place or not tolerant or getattr(callback, "branch_state", False)
            if hasattr(callback, "load_state_dict") and continues:
                callback.load_state_dict(state.get(name, {}))
