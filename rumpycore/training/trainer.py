"""The epoch loop: train, evaluate, record, checkpoint, select the best epoch, stop early."""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import __version__
from ..atomic import atomic_symlink
from ..config import RunConfig
from ..errors import ConfigError, UserError
from ..experiment import ExperimentPlan, find_checkpoint
from ..loggers.base import LoggerGroup, RunInfo
from ..tasks.base import EvalResult
from . import checkpoint as ckpt
from .history import best_row, direction_lookup, evaluations_without_improvement


@dataclass
class RunState:
    """What a checkpoint restores: position in training, history and the run's identity."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class Trainer:
    """Runs epochs ``start..target`` of a prepared run and writes what each one produced."""

    def __init__(self, config: RunConfig, plan: ExperimentPlan, *, model: torch.nn.Module, task: Any,
                 optimizer: torch.optim.Optimizer, scheduler: Any, scheduler_interval: str,
                 loaders: Any, metrics: Mapping[str, Any], device: torch.device, loggers: LoggerGroup,
                 state: RunState, resolved_config: dict, metric_directions: Mapping[str, bool]) -> None:
        self.config = config
        self.plan = plan
        self.model = model
        self.task = task
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.loaders = loaders
        self.metrics = metrics
        self.device = device
        self.loggers = loggers
        self.state = state
        self.resolved_config = resolved_config
        self.higher_is_better = direction_lookup(metric_directions)
        self.grad_clip = config.general.grad_clip or None

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """Everything a resume needs, as plain data."""
        return {
            "epoch": self.state.epoch,
            "step": self.state.step,
            "run_id": self.state.run_id,
            "model_name": self.config.model.spec.name,
            "task": self.config.task,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": ckpt.rng_state(),
            "history": [dict(row) for row in self.state.history],
            "config": self.resolved_config,
            "versions": {"rumpycore": __version__, self.config.model.provider.distribution: self.config.model.provider.version},
        }

    def load_state_dict(self, state: dict, source: os.PathLike) -> None:
        """Restore a checkpoint into the model, optimizer, scheduler, generators and history."""
        name = state.get("model_name")
        if str(name).lower() != self.config.model.spec.name.lower():
            raise UserError(f"{source}: checkpoint holds model {name}, but the config names {self.config.model.spec.name}; "
                            f"resume with the same model")
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:200]
            raise UserError(f"{source}: checkpoint does not fit this model's parameters ({detail}); resume with the "
                            f"model parameters it was trained with") from None
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        ckpt.restore_rng_state(state["rng"])
        self.state = RunState(epoch=int(state["epoch"]), step=int(state["step"]),
                              history=[dict(r) for r in state["history"] if r["epoch"] <= int(state["epoch"])],
                              run_id=state["run_id"] if self.plan.branch_name is None else uuid.uuid4().hex)

    def _save(self, epoch: int) -> None:
        ckpt.save(self.plan.checkpoint(epoch), self.state_dict())

    def _point_best(self) -> None:
        column = self.config.best_metric
        best = best_row(self.state.history, column, self.higher_is_better(column))
        if best is None:
            return
        target = find_checkpoint(self.plan.folder, int(best["epoch"]), self.plan.root)
        if target is not None:
            atomic_symlink(self.plan.models / "best.pt", os.path.relpath(target, self.plan.models))

    # ------------------------------------------------------------------ loop

    def fit(self) -> str:
        """Train to the target epoch (or an early stop); returns how the run ended."""
        target = self.config.training.target_epoch
        start = self.state.epoch + 1
        if start > target:
            raise ConfigError(f"training.num_epochs: {target} is not beyond the resumed epoch {self.state.epoch}; "
                              f"raise num_epochs to train further")
        self.loggers.run_start(RunInfo(
            start_epoch=start, target_epoch=target, history=list(self.state.history),
            resumed_from=self.state.epoch or None,
            num_parameters=sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            device=str(self.device), run_id=self.state.run_id, hparams=self.resolved_config))
        status = "failed"
        try:
            status = "finished"
            for epoch in range(start, target + 1):
                self._run_epoch(epoch, target)
                if self._should_stop():
                    status = "early-stopped"
                    break
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            self.loggers.run_end(status)
        return status

    def _run_epoch(self, epoch: int, target: int) -> None:
        started = time.perf_counter()
        train_loss = self._train_epoch(epoch)
        row: dict[str, float] = {"epoch": epoch, "train-loss": train_loss,
                                 "learning-rate": float(self.optimizer.param_groups[0]["lr"])}
        if epoch % self.config.training.eval_frequency == 0 or epoch == target:
            result = self._evaluate()
            row.update(result.stats)
            if result.samples and self.config.training.save_samples:
                self.loggers.samples(epoch, result.samples)
        row["epoch-time"] = time.perf_counter() - started
        self.state.epoch = epoch
        self.state.history.append(row)
        self._save(epoch)
        self._point_best()
        self.loggers.epoch_end(epoch, row, list(self.state.history))

    def _train_epoch(self, epoch: int) -> float:
        loader = self.loaders.train
        loader.sampler.set_epoch(epoch)
        self.model.train()
        self.loggers.epoch_start(epoch, len(loader))
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        count = 0
        batches = iter(loader)
        while True:
            waited = time.perf_counter()
            try:
                raw = next(batches)
            except StopIteration:
                break
            waited = time.perf_counter() - waited
            batch = self.task.to_device(raw, self.device)
            loss = self._step(batch)
            loss_sum += loss.detach().double()
            self.loggers.batch_end(epoch, count, loss, waited)
            count += 1
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        if count == 0:
            raise ConfigError("data.batch_size: no complete training batch; lower batch_size or add images")
        mean = float(loss_sum) / count
        if not math.isfinite(mean):
            raise UserError(f"training stopped: the loss became non-finite in epoch {epoch}; lower the learning "
                            f"rate or check the data (the last good checkpoint is kept)")
        return mean

    def _step(self, batch: Mapping[str, Any]) -> torch.Tensor:
        output = self.task.forward(self.model, batch)
        loss = self.task.loss(output, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None and self.scheduler_interval == "batch":
            self.scheduler.step()
        self.state.step += 1
        return loss

    @torch.no_grad()
    def _evaluate(self) -> EvalResult:
        self.model.eval()
        try:
            return self.task.evaluate(lambda batch: self.task.forward(self.model, batch), self.loaders.evals,
                                      self.metrics, self.device, lambda values: values)
        finally:
            self.model.train()

    def _should_stop(self) -> bool:
        patience = self.config.training.early_stopping_patience
        if not patience:
            return False
        column = self.config.training.early_stopping_metric
        stale = evaluations_without_improvement(self.state.history, column, self.higher_is_better(column))
        return stale >= patience
