"""The non-finite guard: a NaN or infinite loss stops the run within one step, keeping the last
good checkpoint (the ``nonfinite_guard`` callback).

The loss of a step is checked only after the next step was queued, so the host never waits on
the step it has just started; the check of the last step of a stretch happens at
``steps_end``. With ``skip_nonfinite`` the steps themselves skip such batches instead (a
synchronisation per step) and the guard stays quiet.
"""

from __future__ import annotations

import torch

from ..errors import UserError
from ..specs import NoParams
from .base import Callback, CallbackContext, StepInfo


class NonFiniteGuard(Callback):
    """Raises a one-line UserError naming the epoch and step of a non-finite loss."""

    def __init__(self, ctx: CallbackContext) -> None:
        self.any_rank = ctx.any_rank
        self.active = not ctx.training.skip_nonfinite
        self.pending: tuple[torch.Tensor, int, int] | None = None
        self.last_saved = 0

    def run_start(self, info) -> None:
        self.last_saved = info.start_epoch - 1

    def step_end(self, step: StepInfo) -> None:
        if not self.active:
            return
        self._check()
        if step.applied:
            self.pending = (step.terms["loss"].detach(), step.epoch, step.step)

    def steps_end(self, epoch: int) -> None:
        self._check()

    def checkpoint(self, epoch, path, history) -> None:
        self.last_saved = epoch

    def _check(self) -> None:
        if self.pending is None:
            return
        loss, epoch, step = self.pending
        self.pending = None
        if not self.any_rank(~torch.isfinite(loss)):
            return
        kept = f"saved_models/train_model_{self.last_saved}.pt" if self.last_saved else "no checkpoint yet"
        raise UserError(
            f"training stopped: the loss became non-finite in epoch {epoch} at step {step}; the last good "
            f"checkpoint is kept ({kept}); lower the learning rate, set grad_clip, or set "
            f"training.skip_nonfinite = true to skip such batches"
        )


def build_guard(params: NoParams, ctx: CallbackContext) -> NonFiniteGuard:
    """The ``nonfinite_guard`` callback."""
    return NonFiniteGuard(ctx)
