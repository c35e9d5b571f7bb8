"""Building a run from a validated config: datasets, loaders, model, optimizer, scheduler,
metrics and task. Every user-caused problem surfaces here, before the experiment folder
is touched."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..config import RunConfig
from ..errors import ConfigError
from ..data.loaders import ConcatSets, default_workers, eval_loader, stop_workers, train_loader
from ..data.metadata import MetadataScaling, ScaledMetadata
from ..specs import DatasetContext, MetricContext, ModelContext, SchedulerContext
from ..tasks.regression import RegressionTask
from ..tasks.sisr import SISRTask
from .speed import SpeedSettings, optimizer_kwargs


@dataclass
class DataBundle:
    """The datasets of a run: training sets concatenated, eval sets by id.

    ``metadata_info`` is empty when the model uses no metadata; otherwise it is the plain
    data of :meth:`rumpycore.data.metadata.MetadataScaling.to_dict` (names with their value
    counts, the normalisation and the training statistics), to be stored with the model so
    that evaluation feeds it exactly as training did.
    """

    train: ConcatSets
    evals: dict[str, Dataset]
    metadata_dims: dict[str, int]
    metadata_info: dict[str, Any] = field(default_factory=dict)


def build_datasets(config: RunConfig) -> DataBundle:
    """Build (and thereby scan and check) every training and eval set.

    With metadata, every set's items are normalised with statistics of the training sets.
    """
    metadata = config.model_metadata
    needs_hr = config.task == "sisr"
    inputs = tuple(config.model.spec.inputs)

    def build(entry, split: str) -> Dataset:
        ctx = DatasetContext(entry.set_id, split, config.scale, config.task, config.base_dir, metadata, needs_hr,
                             inputs, config.data.online_pipeline)
        return entry.dataset.spec.build(entry.params, ctx)

    train_sets = [build(s, "train") for s in config.training_sets]
    evals = {s.set_id: build(s, "eval") for s in config.eval_sets}
    dims = _metadata_dims(config, train_sets, evals)
    if not dims:
        return DataBundle(ConcatSets(train_sets), evals, dims)
    scaling = MetadataScaling.from_training(dims, [d.metadata_values() for d in train_sets],
                                            config.data.metadata_normalization)
    train = ConcatSets([ScaledMetadata(d, scaling) for d in train_sets])
    evals = {sid: ScaledMetadata(d, scaling) for sid, d in evals.items()}
    return DataBundle(train, evals, dims, scaling.to_dict())


def _metadata_dims(config: RunConfig, train: list[Dataset], evals: dict[str, Dataset]) -> dict[str, int]:
    wanted = config.model_metadata
    if not wanted:
        return {}
    dims: dict[str, int] = {}
    for where, dataset in [("training", d) for d in train] + [("eval", d) for d in evals.values()]:
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


def build_metrics(config: RunConfig, device: torch.device,
                  metadata_dims: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Instantiate the configured metrics on ``device``; a regression model's targets are
    ``metadata_dims`` (name -> values per image, from the data)."""
    targets = dict(metadata_dims or {}) if config.task == "regression" else {}
    ctx = MetricContext(scale=config.scale, device=device, channel=config.training.metric_channel,
                        crop_border=config.training.crop_border, target_dims=targets)
    return {c.name: c.metric.spec.build(c.params, ctx) for c in config.metrics}


def metric_directions(config: RunConfig) -> dict[str, bool]:
    """Metric name to higher-is-better, for best-epoch selection and early stopping."""
    return {c.name: c.metric.spec.higher_is_better for c in config.metrics}


def build_task(config: RunConfig, metadata_info: Mapping[str, Any] | None = None) -> SISRTask | RegressionTask:
    """The task object for the model's task; a regression task needs the run's
    ``metadata_info`` (:attr:`DataBundle.metadata_info`, or a checkpoint's ``"metadata"``)."""
    if config.task == "regression":
        return RegressionTask(MetadataScaling.from_dict(metadata_info or {}), config.general.loss)
    image_input = "lr_interp" if "lr_interp" in config.model.spec.inputs else "lr"
    return SISRTask(bool(config.model_metadata), config.training.num_samples, image_input, config.general.loss)


def build_optimizer(config: RunConfig, model: torch.nn.Module, speed: SpeedSettings | None = None,
                    device: torch.device | None = None) -> torch.optim.Optimizer:
    """Adam over the trainable parameters, with the implementation the speed settings ask for.

    For CUDA-graph capture the learning rate is a device tensor, so scheduler updates reach
    the replayed step.
    """
    o = config.optimizer
    speed = speed or SpeedSettings()
    params = [p for p in model.parameters() if p.requires_grad]
    lr = torch.tensor(config.general.lr, device=device) if speed.cuda_graph else config.general.lr
    return torch.optim.Adam(params, lr=lr, betas=(o.beta_1, o.beta_2), eps=o.eps, weight_decay=o.weight_decay,
                            **optimizer_kwargs(speed))


def build_scheduler(config: RunConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
                    captured_step: bool = False):
    """The configured scheduler (or None) and whether it steps per ``batch`` or ``epoch``."""
    if config.scheduler is None:
        return None, "batch"
    ctx = SchedulerContext(steps_per_epoch, config.training.target_epoch, config.general.lr, captured_step)
    spec = config.scheduler.spec
    return spec.build(optimizer, config.scheduler_params, ctx), spec.interval


@dataclass
class Loaders:
    """The training loader and one eval loader per set."""

    train: DataLoader
    evals: dict[str, DataLoader]

    def close(self) -> None:
        """Stop the worker processes of every loader."""
        for loader in (self.train, *self.evals.values()):
            stop_workers(loader)


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


def check_eval_sizes(metrics: dict[str, Any], data: DataBundle, scale: int) -> None:
    """Let every metric refuse eval images too small to measure, before training starts."""
    for set_id, dataset in data.evals.items():
        if not hasattr(dataset, "lr_size"):
            continue
        for index in range(len(dataset)):
            height, width = dataset.lr_size(index)
            for metric in metrics.values():
                metric.check_target_size(height * scale, width * scale, _image_name(dataset, set_id, index))


def _image_name(dataset: Any, set_id: str, index: int) -> str:
    pairs = getattr(getattr(dataset, "dataset", dataset), "pairs", None)
    return f"eval set {set_id}, image {pairs[index].name if pairs is not None else index}"
