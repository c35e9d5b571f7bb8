"""An exponential moving average (EMA) of the weights, as the ``ema`` callback.

SR networks trained with Adam end noisier than the average of their last few thousand
iterates, so many SR recipes evaluate and release averaged weights. With ``ema_decay`` set,
rumpy keeps such an average of the ``[model]`` network beside it, swaps it in for every
evaluation (so the metrics, the samples and the best epoch are the average's), stores it in
every checkpoint and lets ``rumpy eval`` (and ``init_from``) load it.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..params import option
from .base import Callback, CallbackContext, StepInfo


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


@dataclass
class EMAParams:
    """``[training.callback_params.ema]`` (the decay itself is ``[training] ema_decay``)."""

    roles: list[str] = option([], help="the networks to average, by role (default: the [model] network)")


class EMA(Callback):
    """Keeps a :class:`WeightAverage` of each chosen network, swapped in while evaluating."""

    def __init__(self, networks: Mapping[str, torch.nn.Module], decay: float) -> None:
        self.averages = {role: WeightAverage(module, decay) for role, module in networks.items()}
        self.live = networks
        self.parked: dict[str, list[torch.Tensor]] = {}

    def step_end(self, step: StepInfo) -> None:
        if step.applied:
            for average in self.averages.values():
                average.update()

    @torch.no_grad()
    def evaluation_start(self, epoch: int) -> None:
        for role, average in self.averages.items():
            live = list(self.live[role].state_dict(keep_vars=True).values())
            self.parked[role] = [t.detach().clone() for t in live]
            for tensor, averaged in zip(live, average.model.state_dict().values(), strict=True):
                tensor.detach().copy_(averaged)

    @torch.no_grad()
    def evaluation_end(self, epoch: int, stats: Mapping[str, float]) -> None:
        for role, saved in self.parked.items():
            for tensor, original in zip(self.live[role].state_dict(keep_vars=True).values(), saved, strict=True):
                tensor.detach().copy_(original)
        self.parked = {}

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights by role (``rumpy eval`` and ``init_from`` read them)."""
        return {"weights": {role: average.state_dict() for role, average in self.averages.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore saved averages; a network the resumed run kept no average of starts one from
        its (just loaded) weights."""
        saved = state.get("weights", {})
        for role, average in self.averages.items():
            if role in saved:
                average.load_state_dict(saved[role])
            else:
                average.restart()


def build_ema(params: EMAParams, ctx: CallbackContext) -> EMA:
    """The ``ema`` callback: averages of the chosen networks with ``[training] ema_decay``."""
    from ..errors import ConfigError

    roles = params.roles or [next(iter(ctx.networks))]
    for role in roles:
        if role not in ctx.networks:
            raise ConfigError(f"training.callback_params.ema.roles: the run has no network '{role}'; choose from "
                              f"{', '.join(ctx.networks)}")
    return EMA({role: ctx.networks[role] for role in roles}, ctx.training.ema_decay)
