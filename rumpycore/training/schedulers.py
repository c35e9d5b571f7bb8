"""The core's learning-rate schedulers; periods and milestones count optimizer steps
(batches), as in the original toolbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch.optim import lr_scheduler

from ..errors import ConfigError
from ..params import option
from ..specs import SchedulerContext


@dataclass(kw_only=True)
class CosineRestartParams:
    """``cosine_annealing_warm_restarts``: cosine decay restarting every ``restart_period`` batches."""

    restart_period: int = option(help="batches until the first restart (T_0)", min=1)
    t_mult: int = option(1, min=1, help="factor by which each period grows after a restart")
    lr_min: float = option(0.0, min=0.0, help="lowest learning rate (eta_min)")


@dataclass(kw_only=True)
class MultiStepParams:
    """``multi_step_lr``: multiply the rate by ``gamma`` at each milestone (in batches)."""

    milestones: list[int] = option(help="batch counts at which the rate drops", min=1)
    gamma: float = option(0.5, min=0.0, help="factor applied at each milestone")


@dataclass(kw_only=True)
class StepParams:
    """``step_lr``: multiply the rate by ``gamma`` every ``step_size`` batches."""

    step_size: int = option(help="batches between drops", min=1)
    gamma: float = option(0.5, min=0.0, help="factor applied at each drop")


@dataclass(kw_only=True)
class OneCycleParams:
    """``one_cycle_lr``: warm up to ``lr_max`` then anneal, over ``total_steps`` batches."""

    lr_max: float = option(help="peak learning rate", min=0.0)
    total_steps: int | None = option(None, min=1, help="batches in the cycle (default: the whole run)")
    anneal_strategy: Literal["cos", "linear"] = option("cos", help="annealing shape")
    pct_start: float = option(0.3, min=0.0, max=1.0, help="fraction of the cycle spent warming up")
    cycle_momentum: bool = option(True, help="cycle Adam's beta1 inversely to the rate (0.95 to 0.85)")


def cosine_restarts(optimizer, p: CosineRestartParams, ctx: SchedulerContext):
    """Build ``CosineAnnealingWarmRestarts``."""
    return lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=p.restart_period, T_mult=p.t_mult, eta_min=p.lr_min)


def multi_step(optimizer, p: MultiStepParams, ctx: SchedulerContext):
    """Build ``MultiStepLR``."""
    if sorted(p.milestones) != p.milestones:
        raise ConfigError("model.internal_params.scheduler_params.milestones: must be increasing")
    return lr_scheduler.MultiStepLR(optimizer, milestones=p.milestones, gamma=p.gamma)


def step(optimizer, p: StepParams, ctx: SchedulerContext):
    """Build ``StepLR``."""
    return lr_scheduler.StepLR(optimizer, step_size=p.step_size, gamma=p.gamma)


class RunLengthCycle(lr_scheduler.OneCycleLR):
    """``OneCycleLR`` over the whole run: a resumed run keeps its position (the steps taken) but
    spans the cycle over the resumed run's length, so a larger ``num_epochs`` stretches the rest
    of the cycle instead of stepping past its end."""

    def load_state_dict(self, state_dict: dict) -> None:
        length = {"total_steps": self.total_steps, "_schedule_phases": self._schedule_phases}
        super().load_state_dict(state_dict)
        self.__dict__.update(length)


def one_cycle(optimizer, p: OneCycleParams, ctx: SchedulerContext):
    """Build ``OneCycleLR``; by default the cycle spans every batch of the run."""
    if p.cycle_momentum and ctx.captured_step:
        raise ConfigError("model.internal_params.scheduler_params.cycle_momentum: a CUDA-graph step keeps Adam's "
                          "beta1 fixed at capture; set cycle_momentum = false or training.cuda_graph = false")
    run_steps = ctx.run_steps
    if p.total_steps is not None and p.total_steps < run_steps:
        raise ConfigError(f"model.internal_params.scheduler_params.total_steps: {p.total_steps} is fewer than the "
                          f"{run_steps} batches of the run; raise it or leave it out to span the run")
    kind = lr_scheduler.OneCycleLR if p.total_steps is not None else RunLengthCycle
    return kind(optimizer, max_lr=p.lr_max, total_steps=p.total_steps or run_steps, anneal_strategy=p.anneal_strategy,
                pct_start=p.pct_start, cycle_momentum=p.cycle_momentum)
