"""The epoch loop: train, evaluate, record, checkpoint, select the best epoch, stop early.

A run can stop in three ways besides finishing: early stopping, a non-finite loss (one line
naming the epoch and step; the last good checkpoint is kept), and a stop signal (Ctrl-C or
SIGTERM), after which the state at the current step is saved to
``saved_models/interrupted_after_<N>.pt`` and ``continue_from_epoch = "last"`` resumes from
exactly that step.
"""

from __future__ import annotations

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
from ..experiment import ExperimentPlan, find_checkpoint, interrupted_name
from ..loggers.base import LoggerGroup, RunInfo
from ..tasks.base import EvalResult
from . import checkpoint as ckpt
from .datashare import DataShare
from .distributed import Distributed
from .ema import WeightAverage
from .history import best_row, direction_lookup, evaluations_without_improvement
from .interrupt import StopSignals, TrainingInterrupted
from .speed import SpeedSettings
from .steps import EagerStep, GraphStep


@dataclass
class RunState:
    """What a checkpoint restores: position in training, history and the run's identity."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class EpochProgress:
    """How far the current epoch got: batches done, their loss sum (on the device), batches skipped."""

    epoch: int
    batches: int = 0
    loss_sum: torch.Tensor | float = 0.0
    skipped: int = 0
    data_wait: float = 0.0


class Trainer:
    """Runs epochs ``start..target`` of a prepared run and writes what each one produced."""

    def __init__(self, config: RunConfig, plan: ExperimentPlan, *, model: torch.nn.Module, task: Any,
                 optimizer: torch.optim.Optimizer, scheduler: Any, scheduler_interval: str,
                 loaders: Any, metrics: Mapping[str, Any], device: torch.device, loggers: LoggerGroup,
                 state: RunState, resolved_config: dict, metric_directions: Mapping[str, bool],
                 ddp: Distributed | None = None, speed: SpeedSettings | None = None,
                 metadata_info: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.plan = plan
        self.model = model
        self.ddp = ddp or Distributed()
        self.device = device
        self.task = task
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.loaders = loaders
        self.metrics = metrics
        self.loggers = loggers
        self.speed = speed or SpeedSettings()
        self.metadata_info = dict(metadata_info or {})
        # forward passes in training go through the DDP wrapper, which averages gradients across
        # ranks, and through torch.compile when asked; evaluation uses the plain module
        self.net = self._wrap(model)
        if self.speed.compile:
            self.net = torch.compile(self.net, backend=self.speed.compile_backend)
        self.state = state
        self.resolved_config = resolved_config
        decay = config.training.ema_decay
        self.ema = WeightAverage(model, decay) if decay else None
        self.higher_is_better = direction_lookup(metric_directions)
        self.skip_nonfinite = config.training.skip_nonfinite
        step_type = GraphStep if self.speed.cuda_graph else EagerStep
        self.step = step_type(
            lambda batch: task.forward(self.net, batch), task.loss,
            [p for p in model.parameters() if p.requires_grad], optimizer, scheduler, scheduler_interval == "batch",
            config.general.grad_clip or None, self.speed, device,
            skip_if=self._nonfinite_ranks if self.skip_nonfinite else None)
        self.data_share = DataShare()
        self.progress: EpochProgress | None = None
        self.resume_progress: EpochProgress | None = None
        self.signals: StopSignals | None = None
        self.stopped_by: str | None = None
        self.interrupted_state: str | None = None

    def _wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.ddp.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """Everything a resume needs, as plain data."""
        provider = self.config.model.provider
        return {
            "epoch": self.state.epoch,
            "step": self.state.step,
            "run_id": self.state.run_id,
            "model_name": self.config.model.spec.name,
            "task": self.config.task,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "precision": self.step.state_dict(),
            "rng": ckpt.rng_state(),
            "history": [dict(row) for row in self.state.history],
            "loggers": self.loggers.state_dict(),
            "config": self.resolved_config,
            "metadata": self.metadata_info,
            "versions": {"rumpycore": __version__, provider.distribution: provider.version},
        }

    def load_state_dict(self, state: dict, source: os.PathLike) -> None:
        """Restore a checkpoint into the model, optimizer, scheduler, generators and history."""
        name = state.get("model_name")
        if str(name).lower() != self.config.model.spec.name.lower():
            raise UserError(f"{source}: checkpoint holds model {name}, but the config names "
                            f"{self.config.model.spec.name}; resume with the same model")
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:200]
            raise UserError(f"{source}: checkpoint does not fit this model's parameters ({detail}); resume with "
                            f"the model parameters it was trained with") from None
        if self.ema is not None:
            if state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
            else:  # the checkpoint's run kept no average: start one from its weights
                self.ema.restart()
        training = self.config.training
        if not training.skip_optimizer_load:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None and not training.skip_scheduler_load:
            self.scheduler.load_state_dict(state["scheduler"])
        self.step.load_state_dict(state.get("precision", {}))
        ckpt.restore_rng_state(state["rng"])
        in_place = self.plan.branch_name is None
        epoch = int(state["epoch"])
        self.state = RunState(epoch=epoch, step=int(state["step"]),
                              history=[dict(r) for r in state["history"] if r["epoch"] <= epoch],
                              run_id=state["run_id"] if in_place else uuid.uuid4().hex)
        partial = state.get("partial")
        if partial is not None:
            self.resume_progress = EpochProgress(int(partial["epoch"]), int(partial["batches"]),
                                                 float(partial["loss_sum"]), int(partial["skipped"]))
        if in_place:
            self.loggers.load_state_dict(state.get("loggers", {}))

    def _save(self, epoch: int) -> None:
        if not self.ddp.is_main:
            return
        ckpt.save(self.plan.checkpoint(epoch), self.state_dict())
        stale = self.plan.models / interrupted_name(epoch - 1)
        stale.unlink(missing_ok=True)
        self._point_best()

    def _save_interrupted(self) -> str:
        state = self.state_dict()
        progress = self.progress
        if progress is not None:
            state["partial"] = {"epoch": progress.epoch, "batches": progress.batches,
                                "loss_sum": float(progress.loss_sum), "skipped": progress.skipped}
        path = self.plan.models / interrupted_name(self.state.epoch)
        if self.ddp.is_main:
            ckpt.save(path, state)
        return str(path)

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
        """Train to the target epoch (or a stop); returns ``finished``, ``early-stopped`` or ``interrupted``."""
        target = self.config.training.target_epoch
        start = self.state.epoch + 1
        self.loggers.run_start(RunInfo(
            start_epoch=start, target_epoch=target, history=list(self.state.history),
            resumed_from=self.state.epoch or None,
            num_parameters=sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            device=str(self.device), run_id=self.state.run_id, hparams=self.resolved_config))
        status = "failed"
        try:
            with StopSignals() as self.signals:
                for epoch in range(start, target + 1):
                    self._run_epoch(epoch, target)
                    if self._should_stop():
                        status = "early-stopped"
                        break
                    if epoch < target and self._stop_agreed():
                        raise TrainingInterrupted(self.signals.requested or "stop")
                else:
                    status = "finished"
        except TrainingInterrupted as stop:
            status = "interrupted"
            self.stopped_by = stop.signal_name
            self.interrupted_state = self._save_interrupted() if self.progress is not None else None
        finally:
            self.loggers.run_end(status)
        return status

    def _run_epoch(self, epoch: int, target: int) -> None:
        started = time.perf_counter()
        progress = self._train_epoch(epoch)
        trained = time.perf_counter()
        row: dict[str, float] = {"epoch": epoch, "train-loss": progress.loss_sum / max(progress.batches, 1),
                                 "learning-rate": float(self.optimizer.param_groups[0]["lr"])}
        if progress.skipped:
            row["skipped-batches"] = progress.skipped
        if epoch % self.config.training.eval_frequency == 0 or epoch == target:
            result = self._evaluate()
            row.update(result.stats)
            if result.samples and self.config.training.save_samples:
                self.loggers.samples(epoch, result.samples)
            if result.per_image:
                self.loggers.per_image(epoch, result.per_image)
        row["train-time"] = trained - started
        row["data-wait-time"] = progress.data_wait
        row["data-time"] = self.data_share.data_time(trained - started, progress.data_wait,
                                                     getattr(self.loaders.train, "num_workers", 0))
        row["epoch-time"] = time.perf_counter() - started
        self.state.epoch = epoch
        self.state.history.append(row)
        self.progress = None
        self._save(epoch)
        self.loggers.epoch_end(epoch, row, list(self.state.history))

    def _train_epoch(self, epoch: int) -> EpochProgress:
        loader = self.loaders.train
        resume = self.resume_progress if self.resume_progress and self.resume_progress.epoch == epoch else None
        self.resume_progress = None
        progress = resume or EpochProgress(epoch)
        progress.loss_sum = torch.tensor(float(progress.loss_sum), device=self.device, dtype=torch.float64)
        self.progress = progress
        loader.sampler.set_epoch(epoch, skip=(progress.batches + progress.skipped) * loader.batch_size)
        self.net.train()
        self.loggers.epoch_start(epoch, len(loader))
        self.data_share.start_epoch()
        pending: tuple[torch.Tensor, int] | None = None
        batches = iter(loader)
        while True:
            waited = time.perf_counter()
            try:
                raw = next(batches)
            except StopIteration:
                break
            except RuntimeError:
                if self.signals is not None and self.signals.requested:
                    raise TrainingInterrupted(self.signals.requested) from None  # workers got the signal too
                raise
            waited = time.perf_counter() - waited
            progress.data_wait += waited
            stepped = time.perf_counter()
            loss, applied = self.step(self.task.to_device(raw, self.device, self.speed.memory_format))
            self.data_share.step(time.perf_counter() - stepped, raw, loader.batch_size)
            self.state.step += applied
            if applied:
                if self.ema is not None:
                    self.ema.update()
                progress.loss_sum += loss.detach().double()
                progress.batches += 1
            else:
                progress.skipped += 1
            # the previous step's finiteness is read only now, so the host never waits on the
            # step it just queued; a non-finite loss is still caught within one step
            if pending is not None:
                self._check_finite(*pending)
            pending = (loss.detach(), self.state.step) if applied and not self.skip_nonfinite else None
            self.loggers.batch_end(epoch, progress.batches, loss, waited)
            if self._stop_agreed():
                if pending is not None:
                    self._check_finite(*pending)
                raise TrainingInterrupted(self.signals.requested or "stop")
        if pending is not None:
            self._check_finite(*pending)
        totals = self.ddp.sum(torch.stack([progress.loss_sum, torch.tensor(float(progress.batches),
                                                                            device=self.device, dtype=torch.float64)]))
        if float(totals[1]) == 0:
            raise ConfigError("data.batch_size: no complete training batch; lower batch_size or add images")
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        progress.loss_sum, progress.batches = float(totals[0]), int(totals[1])
        return progress

    def _nonfinite_ranks(self, loss: torch.Tensor) -> bool:
        """Whether any rank's loss is NaN or infinite (a host synchronisation)."""
        bad = self.ddp.sum((~torch.isfinite(loss.detach())).to(torch.float64).reshape(1))
        return float(bad) > 0

    def _check_finite(self, loss: torch.Tensor, step: int) -> None:
        if not self._nonfinite_ranks(loss):
            return
        epoch = self.progress.epoch if self.progress else self.state.epoch + 1
        kept = f"saved_models/train_model_{self.state.epoch}.pt" if self.state.epoch else "no checkpoint yet"
        raise UserError(
            f"training stopped: the loss became non-finite in epoch {epoch} at step {step}; the last good "
            f"checkpoint is kept ({kept}); lower the learning rate, set grad_clip, or set "
            f"training.skip_nonfinite = true to skip such batches"
        )

    def _stop_agreed(self) -> bool:
        requested = 1.0 if self.signals is not None and self.signals.requested else 0.0
        if self.ddp.enabled:
            requested = float(self.ddp.sum(torch.tensor([requested], device=self.device)))
        return requested > 0

    @torch.no_grad()
    def _evaluate(self) -> EvalResult:
        evaluated = self.ema.model if self.ema is not None else self.model
        self.model.eval()
        try:
            return self.task.evaluate(lambda batch: self.task.forward(evaluated, batch), self.loaders.evals,
                                      self.metrics, self.device, self.ddp.gather, self.speed.memory_format)
        finally:
            self.model.train()

    def _should_stop(self) -> bool:
        patience = self.config.training.early_stopping_patience
        if not patience:
            return False
        column = self.config.training.early_stopping_metric
        stale = evaluations_without_improvement(self.state.history, column, self.higher_is_better(column))
        return stale >= patience
