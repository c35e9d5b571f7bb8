"""The data and the metrics of a run, built from a validated config: datasets (scanned and
checked), loaders and metric objects. Every user-caused problem surfaces here, before the
experiment folder is touched."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..config import RunConfig
from ..data import cache
from ..data.loaders import (
    ConcatSets,
    default_threads,
    default_workers,
    eval_loader,
    stop_workers,
    train_loader,
)
from ..data.metadata import MetadataScaling, ScaledMetadata
from ..errors import ConfigError
from ..specs import DatasetContext, MetricContext


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
    needs_hr = config.task.spec.needs_hr
    inputs = tuple(config.model.spec.inputs)

    def build(entry, split: str) -> Dataset:
        ctx = DatasetContext(entry.set_id, split, config.scale, config.task_name, config.base_dir, metadata, needs_hr,
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


def build_metrics(config: RunConfig, device: torch.device,
                  metadata_dims: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Instantiate the configured metrics on ``device``; a regression model's targets are
    ``metadata_dims`` (name -> values per image, from the data)."""
    targets = dict(metadata_dims or {}) if config.task.spec.metadata == "targets" else {}
    ctx = MetricContext(scale=config.scale, device=device, channel=config.training.metric_channel,
                        crop_border=config.training.crop_border, target_dims=targets)
    return {c.name: c.metric.spec.build(c.params, ctx) for c in config.metrics}


def metric_directions(config: RunConfig) -> dict[str, bool]:
    """Metric name to higher-is-better, for best-epoch selection and early stopping."""
    return {c.name: c.metric.spec.higher_is_better for c in config.metrics}


@dataclass
class Loaders:
    """The training loader and one eval loader per set, and the sets to decode into memory
    before the first batch (``memory.apply()``)."""

    train: DataLoader
    evals: dict[str, DataLoader]
    memory: cache.CachePlan

    def close(self) -> None:
        """Stop the worker processes of every loader."""
        for loader in (self.train, *self.evals.values()):
            stop_workers(loader)


def plan_memory(config: RunConfig, data: DataBundle) -> cache.CachePlan:
    """Choose the sets with ``cache = "auto"`` to decode into memory (training sets first, while
    they fit ``data.cache_budget``); see :mod:`rumpycore.data.cache`."""
    train = [getattr(d, "dataset", d) for d in data.train.datasets]  # unwrap ScaledMetadata
    sets = [(f"data.training_sets.{s.set_id}", d, True) for s, d in zip(config.training_sets, train)]
    sets += [(f"data.eval_sets.{sid}", getattr(d, "dataset", d), False) for sid, d in data.evals.items()]
    return cache.plan(sets, cache.parse_budget(config.data.cache_budget, cache.local_processes()))


def build_loaders(config: RunConfig, data: DataBundle, device: torch.device, rank: int = 0, world: int = 1) -> Loaders:
    """Data loaders for the run, the choice of sets to decode into memory (``memory``), and
    workers and CPU threads chosen for the machine unless the config sets them; a set smaller
    than one batch is a config error."""
    memory = plan_memory(config, data)
    decoded = memory.training_decoded
    cores = cache.usable_cores()
    workers = config.data.dataloader_threads
    workers = default_workers(decoded, device, cores) if workers is None else workers
    threads = config.training.cpu_threads
    if threads is None and device.type == "cpu":
        threads = default_threads(workers, decoded, cores)
    if threads is not None:
        torch.set_num_threads(threads)
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
    return Loaders(train, evals, memory)


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
