"""An exponential moving average (EMA) of the model's weights.

SR networks trained with Adam end noisier than the average of their last few thousand
iterates, so many SR recipes evaluate and release averaged weights. With ``ema_decay`` set,
rumpy keeps such an average beside the trained model, evaluates it, draws the samples with
it, stores it in every checkpoint and lets ``rumpy eval`` load it.
"""

from __future__ import annotations

import copy
import itertools

import torch


class WeightAverage:
    """A frozen copy of a model whose floating-point parameters and buffers follow
    ``average = decay * average + (1 - decay) * live`` after every optimizer step; integer
    buffers (e.g. batch-norm counters) are copied."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        pairs = list(zip(self._tensors(self.model), self._tensors(model)))
        self.floating = [(a, b) for a, b in pairs if a.is_floating_point()]
        self.other = [(a, b) for a, b in pairs if not a.is_floating_point()]

    @staticmethod
    def _tensors(model: torch.nn.Module) -> list[torch.Tensor]:
        return [t.detach() for t in itertools.chain(model.parameters(), model.buffers())]

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the live weights (after an optimizer step)."""
        if self.floating:
            averages, live = zip(*self.floating)
            # one fused kernel per tensor list instead of one launch per tensor
            torch._foreach_lerp_(list(averages), list(live), 1.0 - self.decay)
        for average, live_tensor in self.other:
            average.copy_(live_tensor)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights, keyed like the model's own state dict."""
        return self.model.state_dict()

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore averaged weights saved by :meth:`state_dict`."""
        self.model.load_state_dict(state)

    @torch.no_grad()
    def restart(self) -> None:
        """Start the average again from the live weights."""
        for average, live in self.floating + self.other:
            average.copy_(live)
