"""``rumpy train`` from a validated config to a finished experiment folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import toml

from .. import experiment
from ..atomic import atomic_write_text
from ..config import RunConfig
from ..data.loaders import seed_everything
from ..loggers.base import LoggerContext, LoggerGroup
from ..plugins import logger_registry
from . import checkpoint as ckpt
from .devices import resolve_device
from .setup import (
    build_datasets,
    build_loaders,
    build_metrics,
    build_model,
    build_optimizer,
    build_scheduler,
    build_task,
    metric_directions,
)
from .trainer import RunState, Trainer


@dataclass
class TrainResult:
    """How a training run ended and where its files are."""

    status: str
    folder: Path
    epoch: int


def _loggers(config: RunConfig, plan: experiment.ExperimentPlan, resolved: dict) -> LoggerGroup:
    training = config.training
    names = ["console", "summary"]
    if training.logging == "visual":
        names.append("plots")
    if training.save_samples:
        names.append("samples")
    aim_home = Path(training.aim_home) if training.aim_home else config.save_loc
    if not aim_home.is_absolute():
        aim_home = config.base_dir / aim_home
    ctx = LoggerContext(
        experiment=config.experiment, group=config.experiment_group, folder=plan.folder, results=plan.results,
        config=resolved, task=config.task, save_loc=config.save_loc, aim_home=aim_home,
        metric_directions=metric_directions(config),
    )
    registry = logger_registry()
    built = []
    for name in names:
        spec = registry.get(name).spec
        built.append((name, spec.build(spec.params(), ctx)))
    for choice in config.loggers:
        if choice.name not in names:
            built.append((choice.name, choice.logger.spec.build(choice.params, ctx)))
    return LoggerGroup(built)


def train(config: RunConfig) -> TrainResult:
    """Validate everything that can fail, then create the experiment folder and train."""
    device = resolve_device(config.training.gpu, config.training.sp_gpu)
    plan = experiment.plan(config.save_loc, config.experiment, config.training)
    data = build_datasets(config)
    seed_everything(config.training.seed)
    model = build_model(config, data.metadata_dims).to(device)
    loaders = build_loaders(config, data, device)
    optimizer = build_optimizer(config, model)
    scheduler, interval = build_scheduler(config, optimizer, len(loaders.train))
    resolved = config.resolved()
    trainer = Trainer(
        config, plan, model=model, task=build_task(config), optimizer=optimizer, scheduler=scheduler,
        scheduler_interval=interval, loaders=loaders, metrics=build_metrics(config, device), device=device,
        loggers=_loggers(config, plan, resolved), state=RunState(), resolved_config=resolved,
        metric_directions=metric_directions(config),
    )
    if plan.resume_checkpoint is not None:
        trainer.load_state_dict(ckpt.load(plan.resume_checkpoint, map_location=device), plan.resume_checkpoint)
    plan.create()
    atomic_write_text(plan.folder / plan.config_name, toml.dumps(resolved))
    status = trainer.fit()
    return TrainResult(status, plan.folder, trainer.state.epoch)


def parameter_count(config: RunConfig) -> int:
    """Trainable parameters of the configured model, built on the CPU without data."""
    data = build_datasets(config)
    model = build_model(config, data.metadata_dims)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

