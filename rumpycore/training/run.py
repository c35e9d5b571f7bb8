"""``rumpy train`` from a validated config to a finished experiment folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import toml

from .. import experiment
from ..atomic import atomic_write_text
from ..config import RunConfig
from ..errors import ConfigError
from ..data.loaders import seed_everything
from ..lock import ExperimentLock
from ..loggers.base import LoggerContext, LoggerGroup
from . import checkpoint as ckpt
from .devices import resolve_device
from .speed import apply_backend_flags
from .speed import resolve as speed_settings
from .distributed import Distributed, from_environment, local_rank_from_environment, relaunch_under_torchrun, shutdown
from .setup import (
    build_datasets,
    build_loaders,
    build_metrics,
    build_model,
    build_optimizer,
    build_scheduler,
    build_task,
    check_eval_sizes,
    metric_directions,
)
from .trainer import RunState, Trainer


@dataclass
class TrainResult:
    """How a training run ended and where its files are."""

    status: str
    folder: Path
    epoch: int
    is_main: bool = True
    stopped_by: str | None = None
    saved_state: str | None = None


def _loggers(config: RunConfig, plan: experiment.ExperimentPlan, resolved: dict) -> LoggerGroup:
    training = config.training
    aim_home = Path(training.aim_home).expanduser() if training.aim_home else config.save_loc
    if not aim_home.is_absolute():
        aim_home = config.base_dir / aim_home
    ctx = LoggerContext(
        experiment=config.experiment, group=config.experiment_group, folder=plan.folder, results=plan.results,
        config=resolved, task=config.task, save_loc=config.save_loc, aim_home=aim_home,
        metric_directions=metric_directions(config),
    )
    return LoggerGroup([(c.name, c.logger.spec.build(c.params, ctx)) for c in config.loggers])


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
        return _train(config, device, ddp)
    finally:
        shutdown(ddp)


def _train(config: RunConfig, device, ddp: Distributed) -> TrainResult:
    plan = experiment.plan(config.save_loc, config.experiment, config.training)
    speed = speed_settings(config.training, device, dict(config.model.spec.unsupported), ddp.enabled)
    apply_backend_flags(speed, device)
    data = build_datasets(config)
    seed_everything(config.training.seed)
    model = build_model(config, data.metadata_dims).to(device, memory_format=speed.memory_format)
    loaders = build_loaders(config, data, device, ddp.rank, ddp.world)
    optimizer = build_optimizer(config, model, speed, device)
    scheduler, interval = build_scheduler(config, optimizer, len(loaders.train), speed.cuda_graph)
    resolved = config.resolved()
    trainer = Trainer(
        config, plan, model=model, task=build_task(config, data.metadata_info), optimizer=optimizer,
        scheduler=scheduler, scheduler_interval=interval, loaders=loaders,
        metrics=build_metrics(config, device, data.metadata_dims), device=device,
        loggers=_loggers(config, plan, resolved) if ddp.is_main else LoggerGroup([]), state=RunState(),
        resolved_config=resolved, metric_directions=metric_directions(config), ddp=ddp, speed=speed,
        metadata_info=data.metadata_info,
    )
    if config.task == "sisr":
        check_eval_sizes(trainer.metrics, data, config.scale)
    if plan.resume_checkpoint is not None:
        trainer.load_state_dict(ckpt.load(plan.resume_checkpoint, map_location=device), plan.resume_checkpoint)
    if trainer.state.epoch >= config.training.target_epoch:
        raise ConfigError(f"training.num_epochs: {config.training.target_epoch} is not beyond the resumed epoch "
                          f"{trainer.state.epoch}; raise num_epochs to train further")
    lock = ExperimentLock(plan.folder)
    if ddp.is_main:
        lock.acquire()
    try:
        if ddp.is_main:
            plan.create()
            atomic_write_text(plan.folder / plan.config_name, toml.dumps(resolved))
        ddp.barrier()
        status = trainer.fit()
    finally:
        loaders.close()
        lock.release()
    # every rank leaves together: a rank that tears down its process group while rank 0 is
    # still writing files can abort inside the communication library
    ddp.barrier()
    return TrainResult(status, plan.folder, trainer.state.epoch, ddp.is_main, trainer.stopped_by,
                       trainer.interrupted_state)
