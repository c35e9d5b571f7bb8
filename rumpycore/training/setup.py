"""Building a run from a validated config: datasets, loaders, model, optimizer, scheduler,
metrics and task. Every user-caused problem surfaces here, before the experiment folder
is touched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..config import RunConfig
from ..errors import ConfigError
from ..data.loaders import ConcatSets, default_workers, eval_loader, train_loader
from ..specs import DatasetContext, MetricContext, ModelContext, SchedulerContext
from ..tasks.sisr import SISRTask


@dataclass
class DataBundle:
    """The datasets of a run: training sets concatenated, eval sets by id."""

    train: ConcatSets
    evals: dict[str, Dataset]
    metadata_dims: dict[str, int]


def build_datasets(config: RunConfig) -> DataBundle:
    """Build (and thereby scan and check) every training and eval set."""
    metadata = config.model_metadata
    needs_hr = config.task == "sisr"

    def build(entry, split: str) -> Dataset:
        ctx = DatasetContext(entry.set_id, split, config.scale, config.task, config.base_dir, metadata, needs_hr)
        return entry.dataset.spec.build(entry.params, ctx)

    train = ConcatSets([build(s, "train") for s in config.training_sets])
    evals = {s.set_id: build(s, "eval") for s in config.eval_sets}
    dims = _metadata_dims(config, train, evals)
    return DataBundle(train, evals, dims)


def _metadata_dims(config: RunConfig, train: ConcatSets, evals: dict[str, Dataset]) -> dict[str, int]:
    wanted = config.model_metadata
    if not wanted:
        return {}
    dims: dict[str, int] = {}
    for where, dataset in [("training", d) for d in train.datasets] + [("eval", d) for d in evals.values()]:
        provided = getattr(dataset, "metadata_dims", {}) or {}
        for name in wanted:
            if name not in provided:
                raise ConfigError(
                    f"model.internal_params: {config.model.spec.name} needs metadata '{name}', but a {where} set "
                    f"does not provide it; add it to the set's degradation metadata"
                )
            if dims.setdefault(name, provided[name]) != provided[name]:
                raise ConfigError(
                    f"metadata '{name}' has {dims[name]} values in one set and {provided[name]} in another; "
                    f"use the same degradation settings for all sets"
                )
    return {name: dims[name] for name in wanted}


def build_model(config: RunConfig, metadata_dims: dict[str, int]) -> torch.nn.Module:
    """Instantiate the configured model with its validated params."""
    ctx = ModelContext(scale=config.scale, metadata_dims=metadata_dims)
    return config.model.spec.build(config.model_params, ctx)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameter elements."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build_metrics(config: RunConfig, device: torch.device) -> dict[str, Any]:
    """Instantiate the configured metrics on ``device``."""
    ctx = MetricContext(scale=config.scale, device=device, channel=config.training.metric_channel,
                        crop_border=config.training.crop_border, target_names=config.model_metadata)
    return {c.name: c.metric.spec.build(c.params, ctx) for c in config.metrics}


def metric_directions(config: RunConfig) -> dict[str, bool]:
    """Metric name to higher-is-better, for best-epoch selection and early stopping."""
    return {c.name: c.metric.spec.higher_is_better for c in config.metrics}


def build_task(config: RunConfig) -> SISRTask:
    """The task object for the model's task."""
    if config.task == "sisr":
        return SISRTask(bool(config.model_metadata), config.training.num_samples)
    raise ConfigError(f"model.name: {config.model.spec.name} is a {config.task} model, which this rumpy cannot train yet")


def build_optimizer(config: RunConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Adam over the trainable parameters."""
    o = config.optimizer
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=config.general.lr, betas=(o.beta_1, o.beta_2), eps=o.eps,
                            weight_decay=o.weight_decay)


def build_scheduler(config: RunConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """The configured scheduler (or None) and whether it steps per ``batch`` or ``epoch``."""
    if config.scheduler is None:
        return None, "batch"
    ctx = SchedulerContext(steps_per_epoch, config.training.target_epoch, config.general.lr)
    spec = config.scheduler.spec
    return spec.build(optimizer, config.scheduler_params, ctx), spec.interval


@dataclass
class Loaders:
    """The training loader and one eval loader per set."""

    train: DataLoader
    evals: dict[str, DataLoader]


def build_loaders(config: RunConfig, data: DataBundle, device: torch.device, rank: int = 0, world: int = 1) -> Loaders:
    """Data loaders for the run; a set smaller than one batch is a config error."""
    workers = config.data.dataloader_threads
    workers = default_workers() if workers is None else workers
    pin = device.type == "cuda"
    if config.data.batch_size % world:
        raise ConfigError(f"data.batch_size: {config.data.batch_size} is not divisible by the {world} processes; "
                          f"the batch is split evenly across them")
    if config.data.drop_last_training_batch and len(data.train) < config.data.batch_size:
        raise ConfigError(
            f"data.batch_size: {config.data.batch_size} is larger than the {len(data.train)} training images "
            f"while drop_last_training_batch is set; lower batch_size"
        )
    train = train_loader(data.train, config.data.batch_size // world, workers, config.training.seed, pin,
                         config.data.drop_last_training_batch, rank, world)
    evals = {sid: eval_loader(ds, config.data.eval_batch_size, min(workers, 2), pin, rank, world)
             for sid, ds in data.evals.items()}
    return Loaders(train, evals)
