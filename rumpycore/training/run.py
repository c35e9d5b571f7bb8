"""``rumpy train`` from a validated config to a finished experiment folder.

:func:`assemble` builds everything a run is made of (folders planned, data scanned, networks,
task, metrics, callbacks) and checks what can fail before anything is written; :func:`train`
then claims the folder and hands the run to the :class:`~rumpycore.training.trainer.Trainer`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import toml
import torch

from .. import store
from ..callbacks.base import CallbackContext, CallbackGroup
from ..config import RunConfig
from ..data.loaders import seed_everything
from ..data.metadata import MetadataScaling
from ..data.online import device_degradation
from ..errors import ConfigError
from ..loggers.base import LoggerContext
from ..tasks.base import Task, TaskContext
from .devices import resolve_device
from .distributed import (
    Distributed,
    from_environment,
    local_rank_from_environment,
    relaunch_under_torchrun,
    shutdown,
)
from .networks import Network, build_networks, count_parameters
from .setup import (
    DataBundle,
    Loaders,
    build_datasets,
    build_loaders,
    build_metrics,
    check_eval_sizes,
    metric_directions,
)
from .speed import SpeedSettings, apply_backend_flags
from .speed import resolve as speed_settings
from .trainer import Trainer


@dataclass
class TrainResult:
    """How a training run ended and where its files are."""

    status: str
    folder: Path
    epoch: int
    is_main: bool = True
    stopped_by: str | None = None
    stopped_at: tuple[int, int, int] | None = None
    """Where an interrupted run stopped: epoch, batches done, batches in that epoch."""
    saved_state: str | None = None
    seconds: float = 0.0


@dataclass
class Run:
    """Everything a training run is made of, built and checked before anything is written."""

    config: RunConfig
    plan: store.ExperimentPlan
    device: torch.device
    ddp: Distributed
    speed: SpeedSettings
    data: DataBundle
    loaders: Loaders
    networks: dict[str, Network]
    task: Task
    metrics: dict[str, Any]
    callbacks: CallbackGroup
    resolved_config: dict

    @property
    def num_parameters(self) -> int:
        """Trainable parameters of every network of the run."""
        return sum(count_parameters(network.module) for network in self.networks.values())


def _unsupported(config: RunConfig) -> dict[str, str]:
    """Speed options the task or one of the models cannot use, with the reason."""
    reasons = dict(config.task.spec.unsupported)
    for network in config.networks.values():
        reasons.update(network.model.spec.unsupported)
    return reasons


def _ddp_wrapper(ddp: Distributed, device: torch.device):
    def wrap(module: torch.nn.Module) -> Any:
        if not ddp.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)

    return wrap


def _callbacks(config: RunConfig, plan: store.ExperimentPlan, networks: dict[str, Network], ddp: Distributed,
               resolved: dict) -> CallbackGroup:
    directions = metric_directions(config)
    members: list[tuple[str, Any, bool]] = []
    if ddp.is_main:  # only the first process writes logs
        logger_ctx = LoggerContext(
            experiment=config.experiment, group=config.experiment_group, folder=plan.folder, results=plan.results,
            config=resolved, task=config.task_name, save_loc=config.save_loc, aim_home=config.aim_home,
            metric_directions=directions, best_metric=config.best_metric)
        members += [(c.name, c.logger.spec.build(c.params, logger_ctx), True) for c in config.loggers]

    def any_rank(flag: torch.Tensor) -> bool:
        return float(ddp.sum(flag.detach().to(torch.float64).reshape(-1).sum().reshape(1))) > 0

    ctx = CallbackContext(
        folder=plan.folder, root=plan.root, results=plan.results, config=resolved, task=config.task_name,
        networks={role: network.module for role, network in networks.items()}, training=config.training,
        best_metric=config.best_metric, early_stopping_metric=config.early_stopping_metric,
        metric_directions=directions, is_main=ddp.is_main, any_rank=any_rank)
    callbacks = [(c.name, c.callback.spec.build(c.params, ctx), False) for c in config.callbacks]
    return CallbackGroup(callbacks + members)


def assemble(config: RunConfig, device: torch.device, ddp: Distributed) -> Run:
    """Plan the folders and build the run; raises (one line) before anything is written."""
    plan = store.plan(config.save_loc, config.experiment, config.training)
    speed = speed_settings(config.training, device, _unsupported(config), ddp.enabled,
                           config.model.spec.cpu_channels_last)
    apply_backend_flags(speed, device)
    data = build_datasets(config)
    seed_everything(config.training.seed)
    loaders = build_loaders(config, data, device, ddp.rank, ddp.world)
    skip_if = None
    if config.training.skip_nonfinite:
        def skip_if(loss: torch.Tensor) -> bool:
            return float(ddp.sum((~torch.isfinite(loss.detach())).to(torch.float64).reshape(1))) > 0
    networks = build_networks(config, data.metadata_dims, device, speed, len(loaders.train), _ddp_wrapper(ddp, device),
                              skip_if)
    scaling = MetadataScaling.from_dict(data.metadata_info) if data.metadata_info else None
    task = config.task.spec.build(config.task_params, TaskContext(
        networks=networks, device=device, scale=config.scale, memory_format=speed.memory_format, metadata=scaling,
        inputs=tuple(config.model.spec.inputs), num_samples=config.training.num_samples, gather=ddp.gather,
        degrade=device_degradation(config.data.online_pipeline, config.scale),
        self_ensemble=config.training.self_ensemble))
    metrics = build_metrics(config, device, data.metadata_dims)
    if config.task.spec.needs_hr:
        check_eval_sizes(metrics, data, config.scale)
    resolved = config.resolved()
    return Run(config, plan, device, ddp, speed, data, loaders, networks, task, metrics,
               _callbacks(config, plan, networks, ddp, resolved), resolved)


def train(config: RunConfig, relaunch_argv: list[str] | None = None) -> TrainResult:
    """Validate everything that can fail, then create the experiment folder and train.

    With ``gpu = "multiple"`` outside a ``torchrun`` launch, the command re-runs itself under
    ``torchrun`` (one process per GPU) with ``relaunch_argv``.
    """
    training = config.training
    local_rank = local_rank_from_environment()
    if training.gpu in ("multiple", "multi") and local_rank is None:
        relaunch_under_torchrun(relaunch_argv or [])
        return TrainResult("launched", config.save_loc / config.experiment, training.target_epoch, is_main=False)
    device = resolve_device(training.gpu, training.sp_gpu, local_rank)
    ddp = from_environment(device)
    try:
        result = _train(assemble(config, device, ddp))
    except BaseException:
        shutdown(ddp)
        raise
    shutdown(ddp, finished=True)
    return result


def _train(run: Run) -> TrainResult:
    plan, ddp = run.plan, run.ddp
    trainer = Trainer(run)
    if plan.resume_checkpoint is not None:
        trainer.load_state_dict(store.checkpoints.load(plan.resume_checkpoint, map_location=run.device),
                                plan.resume_checkpoint)
    if trainer.state.epoch >= run.config.training.target_epoch:
        raise ConfigError(f"training.num_epochs: {run.config.training.target_epoch} is not beyond the resumed epoch "
                          f"{trainer.state.epoch}; raise num_epochs to train further")
    started = time.perf_counter()
    claim = plan.claim() if ddp.is_main else None
    try:
        if claim is not None:
            claim.write_text(plan.config_name, toml.dumps(run.resolved_config))
        run.loaders.memory.apply()  # decodes the sets chosen to stay in memory, now that every check has passed
        ddp.barrier()
        status = trainer.fit()
    finally:
        run.loaders.close()
        if claim is not None:
            if not trainer.saved_any:  # a failed start leaves nothing behind, so it can simply be retried
                claim.undo()
            claim.release()
    # every rank leaves together: a rank that tears down its process group while rank 0 is
    # still writing files can abort inside the communication library
    ddp.barrier()
    return TrainResult(status, plan.folder, trainer.state.epoch, ddp.is_main, trainer.stopped_by, trainer.stopped_at,
                       trainer.interrupted_state, time.perf_counter() - started)


def parameter_counts(config: RunConfig, read_data: bool = True) -> dict[str, int | None]:
    """Trainable parameters of each configured network, built on the CPU. A metadata-conditioned
    network's size depends on the data's metadata: None without ``read_data``."""
    from .networks import build_model, model_metadata_dims

    dims = build_datasets(config).metadata_dims if read_data else None
    return {role: None if dims is None and network.metadata else
            count_parameters(build_model(network, config.scale, model_metadata_dims(network, dims or {})))
            for role, network in config.networks.items()}
