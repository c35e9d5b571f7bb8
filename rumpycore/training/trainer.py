"""The epoch loop: train, evaluate, record, checkpoint, and stop when asked.

The task does each step and each evaluation; callbacks watch and steer (weight averaging,
the best-epoch link, early stopping, the non-finite guard, loggers). A run can stop in
three ways besides finishing: a callback asking for it (early stopping), an error (a
non-finite loss, bad data: the last good checkpoint is kept), and a stop signal (Ctrl-C or
SIGTERM), after which the state at the current step is saved to
``saved_models/interrupted_after_<N>.pt`` and ``continue_from_epoch = "last"`` resumes from
exactly that step.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import __version__
from ..callbacks.base import RunInfo, StepInfo
from ..errors import ConfigError, UserError
from ..safety import remove
from ..store import checkpoints, interrupted_name
from .datashare import DataShare
from .interrupt import StopSignals, TrainingInterrupted


@dataclass
class RunState:
    """What a checkpoint restores: position in training (epoch, optimizer steps, and the data:
    its epoch and the batches drawn from it), history and the run's identity."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    position: tuple[int, int] = (1, 0)


class BatchStream:
    """The training loader's batches in order across the data's epochs, from a position: the
    data epoch and how many of its batches were drawn (each data epoch's order and crops are
    seeded by it, so any position is replayed exactly)."""

    def __init__(self, loader: Any, position: tuple[int, int]) -> None:
        self.loader = loader
        self.length = len(loader)
        self.data_epoch, self.offset = position
        self._batches: Any = None

    @property
    def position(self) -> tuple[int, int]:
        """The data epoch and the batches drawn from it."""
        return self.data_epoch, self.offset

    def seek(self, data_epoch: int, offset: int) -> None:
        """Continue from ``offset`` batches into data epoch ``data_epoch``."""
        if (data_epoch, offset) != self.position or self._batches is None:
            self.data_epoch, self.offset, self._batches = data_epoch, offset, None

    def __next__(self) -> Any:
        if self.offset >= self.length:
            self.data_epoch, self.offset, self._batches = self.data_epoch + 1, 0, None
        if self._batches is None:
            self.loader.sampler.set_epoch(self.data_epoch, skip=self.offset * self.loader.batch_size)
            self._batches = iter(self.loader)
        batch = next(self._batches)
        self.offset += 1
        return batch


@dataclass
class EpochProgress:
    """How far the current epoch got: batches done, the sums of their loss terms and of each
    network's learning rate (on the device), batches skipped, seconds spent waiting for data."""

    epoch: int
    batches: int = 0
    sums: dict[str, Any] = field(default_factory=dict)
    skipped: int = 0
    data_wait: float = 0.0
    rates: dict[str, Any] = field(default_factory=dict)
    total: int = 0  # batches in the whole epoch


class Trainer:
    """Runs epochs ``start..target`` of an assembled run (:class:`rumpycore.training.run.Run`)
    and writes what each one produced."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.state = RunState()
        self.data_share = DataShare()
        self.progress: EpochProgress | None = None
        self.resume_progress: EpochProgress | None = None
        self.signals: StopSignals | None = None
        self.stopped_by: str | None = None
        self.stopped_at: tuple[int, int, int] | None = None  # epoch, batches done, batches in it
        self.interrupted_state: str | None = None
        self.saved_any = False  # whether this run has written a checkpoint (a failed start undoes its folder)
        self.stream: BatchStream | None = None

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        """Everything a resume needs, as plain data (checkpoint format 2)."""
        run = self.run
        networks = run.networks
        versions = {"rumpycore": __version__}
        for network in run.config.networks.values():
            versions[network.model.provider.distribution] = network.model.provider.version
        versions[run.config.task.provider.distribution] = run.config.task.provider.version
        return {
            "epoch": self.state.epoch,
            "step": self.state.step,
            "run_id": self.state.run_id,
            "task": run.config.task_name,
            "networks": {role: {"model": run.config.networks[role].model.spec.name, "weights": n.module.state_dict()}
                         for role, n in networks.items()},
            "optimizers": {role: n.optimizer.state_dict() for role, n in networks.items()},
            "schedulers": {role: n.scheduler.state_dict() if n.scheduler is not None else None
                           for role, n in networks.items()},
            "precision": {role: n.step.state_dict() for role, n in networks.items()},
            "task_state": run.task.state_dict(),
            "callbacks": run.callbacks.state_dict(),
            "rng": checkpoints.rng_state(),
            "history": [dict(row) for row in self.state.history],
            "position": list(self.state.position),
            "config": run.resolved_config,
            "metadata": run.data.metadata_info,
            "versions": versions,
        }

    def load_state_dict(self, state: dict, source: os.PathLike) -> None:
        """Restore a checkpoint into the networks, optimizers, schedulers, task, callbacks,
        generators and history."""
        run, config = self.run, self.run.config
        if state.get("task", config.task_name) != config.task_name:
            raise UserError(f"{source}: checkpoint was written by the {state['task']} task, but the config trains "
                            f"{config.task_name}; resume with the same task")
        for role, network in run.networks.items():
            saved = state["networks"].get(role)
            expected = config.networks[role].model.spec.name
            if saved is None:
                raise UserError(f"{source}: checkpoint holds no network '{role}'; resume with the config it was "
                                f"trained with")
            if str(saved.get("model")).lower() != expected.lower():
                raise UserError(f"{source}: checkpoint holds model {saved.get('model')}, but the config names "
                                f"{expected}; resume with the same model")
            checkpoints.load_weights(network.module, saved["weights"], str(source),
                                     "resume with the model parameters it was trained with")
        training = config.training
        try:
            for role, network in run.networks.items():
                if not training.skip_optimizer_load:
                    network.optimizer.load_state_dict(state["optimizers"][role])
                saved = state.get("schedulers", {}).get(role)
                if network.scheduler is not None and saved is not None and not training.skip_scheduler_load:
                    network.scheduler.load_state_dict(saved)
                network.step.load_state_dict(state.get("precision", {}).get(role, {}))
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            detail = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise UserError(f"{source}: the optimizer or scheduler state does not fit this run ({detail}); resume "
                            f"with the settings it was saved with, or set skip_optimizer_load / "
                            f"skip_scheduler_load = true") from None
        run.task.load_state_dict(state.get("task_state", {}))
        in_place = run.plan.branch_name is None
        run.callbacks.load_state_dict(state.get("callbacks", {}), in_place)
        checkpoints.restore_rng_state(state["rng"])
        epoch = int(state["epoch"])
        # checkpoints written before the data position was kept are all at the end of a data epoch
        position = tuple(state.get("position", (epoch, len(run.loaders.train))))
        self.state = RunState(epoch=epoch, step=int(state["step"]),
                              history=[dict(r) for r in state["history"] if r["epoch"] <= epoch],
                              run_id=state["run_id"] if in_place else uuid.uuid4().hex, position=position)
        partial = state.get("partial")
        if partial is not None:
            sums = {"loss": float(partial["loss_sum"]), **{k: float(v) for k, v in partial.get("sums", {}).items()}}
            rates = {k: float(v) for k, v in partial.get("rates", {}).items()}
            self.resume_progress = EpochProgress(int(partial["epoch"]), int(partial["batches"]), sums,
                                                 int(partial["skipped"]), rates=rates)

    def _save(self, epoch: int) -> None:
        plan = self.run.plan
        path = plan.checkpoint(epoch)
        if self.run.ddp.is_main:
            checkpoints.save(path, self.state_dict())
            self.saved_any = True
            remove(plan.models / interrupted_name(epoch - 1), within=plan.models)
        self.run.callbacks.checkpoint(epoch, path, list(self.state.history))

    def _save_interrupted(self) -> str:
        state = self.state_dict()
        progress = self.progress
        if progress is not None:
            state["partial"] = {"epoch": progress.epoch, "batches": progress.batches,
                                "loss_sum": float(progress.sums.get("loss", 0.0)), "skipped": progress.skipped,
                                "sums": {k: float(v) for k, v in progress.sums.items() if k != "loss"},
                                "rates": {k: float(v) for k, v in progress.rates.items()}}
        path = self.run.plan.models / interrupted_name(self.state.epoch)
        if self.run.ddp.is_main:
            checkpoints.save(path, state)
            self.saved_any = True
        return str(path)

    # ------------------------------------------------------------------ loop

    def fit(self) -> str:
        """Train to the target epoch (or a stop); returns ``finished``, ``early-stopped`` or ``interrupted``."""
        run = self.run
        target = run.config.training.target_epoch
        start = self.state.epoch + 1
        self.stream = BatchStream(run.loaders.train, self.state.position)
        reference_name, reference = self._reference()
        run.callbacks.run_start(RunInfo(
            start_epoch=start, target_epoch=target, history=list(self.state.history),
            resumed_from=self.state.epoch or None, num_parameters=run.num_parameters, device=str(run.device),
            run_id=self.state.run_id, hparams=run.resolved_config, reference=reference,
            reference_name=reference_name))
        status = "failed"
        try:
            with StopSignals() as self.signals:
                for epoch in range(start, target + 1):
                    self._run_epoch(epoch, target)
                    if run.callbacks.should_stop(self.state.history):
                        status = "early-stopped"
                        break
                    if epoch < target and self._stop_agreed():
                        raise TrainingInterrupted(self.signals.requested or "stop")
                else:
                    status = "finished"
        except TrainingInterrupted as stop:
            status = "interrupted"
            self.stopped_by = stop.signal_name
            if self.progress is not None:
                progress = self.progress
                self.stopped_at = (progress.epoch, progress.batches + progress.skipped, progress.total)
                self.interrupted_state = self._save_interrupted()
        finally:
            run.callbacks.run_end(status)
        return status

    @torch.no_grad()
    def _reference(self) -> tuple[str | None, dict[str, float]]:
        """The task's baseline on the eval sets, measured once per start (it does not train)."""
        run = self.run
        # measured at every start, resumed ones included, so it must leave the random generators as
        # they were (a loader draws its workers' seed from them): a resumed run continues their
        # sequence exactly where the interrupted one stopped
        devices = [run.device.index or 0] if run.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            measured = run.task.reference(run.loaders.evals, run.metrics)
        return measured if measured is not None else (None, {})

    def _run_epoch(self, epoch: int, target: int) -> None:
        run = self.run
        started = time.perf_counter()
        progress = self._train_epoch(epoch)
        trained = time.perf_counter()
        batches = max(progress.batches, 1)
        row: dict[str, float] = {"epoch": epoch, "iteration": self.state.step,
                                 "train-loss": progress.sums["loss"] / batches}
        row.update({f"train-{name}": total / batches for name, total in progress.sums.items() if name != "loss"})
        for role, rate_sum in progress.rates.items():  # the mean rate the epoch's steps used
            row["learning-rate" if role == run.config.primary.role else f"learning-rate-{role}"] = rate_sum / batches
        if progress.skipped:
            row["skipped-batches"] = progress.skipped
        if epoch % run.config.training.eval_frequency == 0 or epoch == target:
            row.update(self._evaluate(epoch))
        row["train-time"] = trained - started
        row["data-wait-time"] = progress.data_wait
        row["data-time"] = self.data_share.data_time(trained - started, progress.data_wait,
                                                     getattr(run.loaders.train, "num_workers", 0))
        row["epoch-time"] = time.perf_counter() - started
        self.state.epoch = epoch
        self.state.history.append(row)
        self.progress = None
        run.callbacks.epoch_end(epoch, row, list(self.state.history))
        self._save(epoch)  # after epoch_end, so the callbacks' state it stores includes this epoch

    def _train_epoch(self, epoch: int) -> EpochProgress:
        """Train one epoch: a pass over the training data, or with ``num_iterations`` a period of
        ``eval_every_iterations`` steps, which runs on across the data's epochs."""
        run = self.run
        training = run.config.training
        resume = self.resume_progress if self.resume_progress and self.resume_progress.epoch == epoch else None
        self.resume_progress = None
        progress = resume or EpochProgress(epoch, sums={"loss": 0.0})
        progress.sums = {k: torch.tensor(float(v), device=run.device, dtype=torch.float64)
                         for k, v in progress.sums.items()}
        progress.rates = {role: torch.tensor(progress.rates.get(role, 0.0), device=run.device, dtype=torch.float64)
                          for role in run.networks}
        self.progress = progress
        stream = self.stream
        if training.period is None:
            stream.seek(epoch, progress.batches + progress.skipped)
            progress.total = stream.length
            more = lambda: stream.offset < stream.length  # noqa: E731
        else:
            end = min(epoch * training.period, training.num_iterations)
            progress.total = end - (epoch - 1) * training.period
            more = lambda: self.state.step < end  # noqa: E731
        for network in run.networks.values():
            network.forward.train()
        run.callbacks.epoch_start(epoch, progress.total)
        run.task.epoch_start(epoch)
        self.data_share.start_epoch()
        while more():
            waited = time.perf_counter()
            try:
                raw = next(stream)
            except RuntimeError:
                if self.signals is not None and self.signals.requested:
                    raise TrainingInterrupted(self.signals.requested) from None  # a stop that reached the workers too
                raise
            waited = time.perf_counter() - waited
            progress.data_wait += waited
            stepped = time.perf_counter()
            rates = {role: network.rate for role, network in run.networks.items()}
            terms, applied = run.task.train_step(run.task.to_device(raw))
            self.data_share.step(time.perf_counter() - stepped, raw, stream.loader.batch_size)
            self.state.step += applied
            if applied:
                for name, value in terms.items():
                    total = progress.sums.get(name)
                    detached = value.detach().double()
                    progress.sums[name] = detached if total is None else total + detached
                for role, rate in rates.items():
                    progress.rates[role] += rate
                progress.batches += 1
            else:
                progress.skipped += 1
            self.state.position = stream.position
            run.callbacks.step_end(StepInfo(epoch, progress.batches, self.state.step, terms, applied, waited))
            if self.signals is not None and self.signals.take_save_request():
                run.callbacks.steps_end(epoch)
                print(f"rumpy: SIGUSR1: state saved in {self._save_interrupted()}; training goes on", file=sys.stderr)
            if self._stop_agreed():
                run.callbacks.steps_end(epoch)
                raise TrainingInterrupted(self.signals.requested or "stop")
        run.callbacks.steps_end(epoch)
        names, roles = sorted(progress.sums), list(progress.rates)
        count = torch.tensor(float(progress.batches), device=run.device, dtype=torch.float64)
        totals = run.ddp.sum(torch.stack([progress.sums[name] for name in names]
                                         + [progress.rates[role] for role in roles] + [count])).tolist()
        if totals[-1] == 0:
            raise ConfigError("data.batch_size: no complete training batch; lower batch_size or add images")
        for network in run.networks.values():
            network.end_epoch()
        progress.sums = dict(zip(names, totals[: len(names)]))
        progress.rates = dict(zip(roles, totals[len(names):-1]))
        progress.batches = int(totals[-1])
        return progress

    def _stop_agreed(self) -> bool:
        requested = 1.0 if self.signals is not None and self.signals.requested else 0.0
        if self.run.ddp.enabled:
            requested = float(self.run.ddp.sum(torch.tensor([requested], device=self.run.device)))
        return requested > 0

    @torch.no_grad()
    def _evaluate(self, epoch: int) -> dict[str, float]:
        run = self.run
        for network in run.networks.values():
            network.module.eval()
        run.callbacks.evaluation_start(epoch)
        try:
            result = run.task.evaluate(run.loaders.evals, run.metrics)
        finally:
            for network in run.networks.values():
                network.module.train()
        if result.samples and run.config.training.save_samples:
            run.callbacks.samples(epoch, result.samples)
        if result.per_image:
            run.callbacks.per_image(epoch, result.per_image)
        run.callbacks.evaluation_end(epoch, result.stats)
        return result.stats
