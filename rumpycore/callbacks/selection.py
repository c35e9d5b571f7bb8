"""The best epoch and early stopping, both derived from the history itself (so a resume needs
no state of theirs): the ``best_checkpoint`` and ``early_stopping`` callbacks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..specs import NoParams
from ..store import point_best
from ..training.history import (
    best_row,
    direction_lookup,
    evaluations_without_improvement,
)
from .base import Callback, CallbackContext


class BestCheckpoint(Callback):
    """Points ``saved_models/best.pt`` at the checkpoint of the best value of the run's best
    column (``best_metric``), after every checkpoint."""

    def __init__(self, ctx: CallbackContext) -> None:
        self.folder = ctx.folder
        self.root = ctx.root
        self.column = ctx.best_metric
        self.higher_is_better = direction_lookup(ctx.metric_directions)(ctx.best_metric)
        self.is_main = ctx.is_main

    def checkpoint(self, epoch: int, path: Path, history: Sequence[Mapping[str, float]]) -> None:
        best = best_row(history, self.column, self.higher_is_better)
        if best is not None and self.is_main:
            point_best(self.folder, self.root, int(best["epoch"]))


class EarlyStopping(Callback):
    """Asks the run to stop after ``early_stopping_patience`` evaluations without an improvement of
    ``early_stopping_metric`` (in the direction its metric declares)."""

    def __init__(self, ctx: CallbackContext) -> None:
        self.patience = ctx.training.early_stopping_patience
        self.column = ctx.early_stopping_metric
        self.higher_is_better = direction_lookup(ctx.metric_directions)(ctx.early_stopping_metric)

    def should_stop(self, history: Sequence[Mapping[str, float]]) -> bool:
        return evaluations_without_improvement(history, self.column, self.higher_is_better) >= self.patience


def build_best(params: NoParams, ctx: CallbackContext) -> BestCheckpoint:
    """The ``best_checkpoint`` callback."""
    return BestCheckpoint(ctx)


def build_early_stopping(params: NoParams, ctx: CallbackContext) -> EarlyStopping:
    """The ``early_stopping`` callback (``[training] early_stopping_patience``)."""
    return EarlyStopping(ctx)
