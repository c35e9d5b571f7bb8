"""What ``rumpy eval`` runs: baselines, trained models rebuilt from their experiment folders, and
models recognised from weights files (:mod:`rumpycore.recognise`).

A trained run is rebuilt exactly as training built it: the experiment's ``config.toml`` is
validated against the installed plugins, every network is constructed by the same
:func:`rumpycore.training.networks.build_model`, the weights come from the checkpoint the
store resolves (read with ``weights_only=True``; the averaged weights when the run kept
them), and the task's ``predict`` runs it, the one place that decides which inputs (LR
image, metadata) its networks receive. Metadata reaches a model normalised with the
statistics stored in its checkpoint, never recomputed.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from .. import config as cfg
from .. import params as P
from ..data.metadata import MetadataScaling
from ..errors import UserError
from ..recognise import load_file_model
from ..store import checkpoints, experiment_root, resolve_epoch
from ..tasks.base import Task, TaskContext
from ..training.networks import inference_networks
from .baselines import Bicubic, Lanczos
from .ensemble import self_ensemble
from .options import WHERE, LoadedOptions, ModelEntry
from .tiling import tiled_forward


@dataclass
class Predictor:
    """One row of the report: a label and how it turns a device batch into SR images.

    ``metadata`` maps the metadata names the model consumes to their values per image (as
    in its training); ``inputs`` are its extra image inputs (``lr_interp``). A blind model
    (its task estimates the degradation) has ``estimates``, the names it estimates with their
    value counts, and ``run_blind``, which returns the SR images and the estimates (original
    units, one row per image).
    """

    label: str
    run: Callable[[Mapping[str, Any]], torch.Tensor]
    epoch: int | None = None
    source: str = ""
    metadata: dict[str, int] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    estimates: dict[str, int] = field(default_factory=dict)
    run_blind: Callable[[Mapping[str, Any]], tuple[torch.Tensor, torch.Tensor]] | None = None


def baseline(name: str, scale: int) -> Predictor:
    """The ``bicubic`` or ``lanczos`` baseline."""
    upscaler = Bicubic(scale) if name == "bicubic" else Lanczos(scale)
    return Predictor(name, upscaler)


def _validated_config(entry: ModelEntry, folder: Path) -> cfg.RunConfig:
    if not folder.is_dir():
        raise UserError(f"{entry.where}: experiment folder {folder} does not exist")
    path = folder / "config.toml"
    if not path.is_file():
        raise UserError(f"{entry.where}: {folder} has no config.toml; point it at an experiment folder written "
                        f"by rumpy train")
    try:
        return cfg.validate(cfg.read_toml(path), path)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None


@dataclass
class TrainedRun:
    """A trained run rebuilt for inference: its task (networks on the device, in eval mode), the
    epoch, and how its metadata was normalised in training (None without metadata)."""

    task: Task
    epoch: int
    scaling: MetadataScaling | None


def experiment_config(entry: ModelEntry, loaded: LoadedOptions, output: str,
                      role: str) -> tuple[Path, cfg.RunConfig]:
    """The entry's folder and validated config; a run whose task gives another ``output``
    (``"image"``: super-resolved images, ``"values"``: metadata) is an error naming ``role``."""
    folder = loaded.model_folder(entry)
    config = _validated_config(entry, folder)
    if config.task.spec.output != output:
        raise UserError(f"{entry.where}: {config.model.spec.name} is a {config.task_name} model; {role}")
    return folder, config


def task_param_names(config: cfg.RunConfig) -> set[str]:
    """The (lower-case) settings of a run's task."""
    return {f.name.lower() for f in fields(config.task.spec.params)}


def with_task_params(config: cfg.RunConfig, overrides: Mapping[str, Any]) -> cfg.RunConfig:
    """``config`` with the ``overrides`` its task has (``eval.task_params``) over its own, validated."""
    known = task_param_names(config)
    mine = {key: value for key, value in overrides.items() if key.lower() in known}
    if not mine:
        return config
    params = P.parse(config.task.spec.params, {**asdict(config.task_params), **mine}, f"{WHERE}.task_params")
    return replace(config, task_params=params)


def load_trained(entry: ModelEntry, folder: Path, config: cfg.RunConfig, device: torch.device) -> TrainedRun:
    """Rebuild the configured run's task with the entry's checkpoint loaded into its networks."""
    path, epoch = resolve_epoch(folder, entry.epoch, experiment_root(folder), entry.where)
    state = checkpoints.load(path, map_location=device)
    record = state.get("metadata") or {}
    if config.model_metadata and not record:
        raise UserError(f"{path}: has no record of the metadata {config.model.spec.name} was trained with "
                        f"(names and normalisation); retrain it with this version of rumpy")
    scaling = MetadataScaling.from_dict(record) if config.model_metadata else None
    networks = inference_networks(config, dict(scaling.dims) if scaling else {}, state, device, path)
    task = config.task.spec.build(config.task_params, TaskContext(
        networks=networks, device=device, scale=config.scale, metadata=scaling, inputs=tuple(config.model.spec.inputs),
        training=False))
    return TrainedRun(task, epoch, scaling)


def experiment_model(entry: ModelEntry, loaded: LoadedOptions, device: torch.device) -> Predictor:
    """Rebuild a trained SR run from its experiment folder and checkpoint, ready on ``device``.

    A metadata-conditioned model reads its values from the batch's ``metadata_by_name``
    (raw values by lowercased name, see :mod:`.metadata`) and receives them normalised as
    in its training. A blind model (its task's metadata are ``"targets"``) is fed none; its
    estimates come back de-normalised, averaged over the tiles when the image is tiled.
    """
    options = loaded.options
    folder, config = experiment_config(entry, loaded, "image", "rumpy eval super-resolves with model_and_epoch "
                                                               "entries (a regression model can be metadata_from)")
    if config.scale != options.scale:
        raise UserError(f"{entry.where}: {folder.name} was trained for x{config.scale}, but the data is "
                        f"x{options.scale}; set scale = {config.scale} with matching LR images, or pick another model")
    trained = load_trained(entry, folder, with_task_params(config, options.task_params), device)
    scaling = trained.scaling
    blind = scaling is not None and config.task.spec.metadata == "targets"
    consumed = scaling if scaling is not None and not blind else None

    def inputs(batch: Mapping[str, Any]) -> Mapping[str, Any]:
        if consumed is None:
            return batch
        by_name = batch["metadata_by_name"]
        values = torch.cat([by_name[name.lower()] for name in consumed.dims], dim=1)
        return {**batch, "metadata": consumed.normalise(values)}

    def forward(batch: Mapping[str, Any]) -> torch.Tensor:
        return trained.task.predict(inputs(batch))

    run = _runner(forward, options)

    def run_blind(batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        estimates = []

        def estimating(piece: Mapping[str, Any]) -> torch.Tensor:
            image, estimate = trained.task.predict_with_degradation(piece)
            estimates.append(estimate.float())
            return image

        image = tiled_forward(estimating, batch, options.scale, options.tile, options.tile_overlap)
        if options.self_ensemble:
            # The estimate stays the untransformed input's: a flipped image has a flipped kernel,
            # whose code differs, so the members' estimates cannot be averaged.
            image = run(batch)
        return image, scaling.denormalise(torch.stack(estimates).mean(0))

    return Predictor(_label(folder.name, options), run, trained.epoch, str(folder),
                     dict(consumed.dims) if consumed else {}, tuple(config.model.spec.inputs),
                     dict(scaling.dims) if blind else {}, run_blind if blind else None)


def _check_task_params(loaded: LoadedOptions) -> None:
    """Every ``task_params`` key belongs to the task of some model in ``model_and_epoch``."""
    if not loaded.options.task_params:
        return
    known = set()
    for entry in loaded.models:
        if not entry.baseline:
            known |= task_param_names(_validated_config(entry, loaded.model_folder(entry)))
    for key in loaded.options.task_params:
        if key.lower() not in known:
            raise UserError(f"{WHERE}.task_params.{key}: no model in model_and_epoch has a task with this setting; "
                            f"remove it")


def _label(name: str, options: Any) -> str:
    """A model's report label: ``+`` appended with the self-ensemble, as papers write "EDSR+"."""
    return f"{name}+" if options.self_ensemble else name


def _runner(forward: Callable[[Mapping[str, Any]], torch.Tensor], options: Any) -> Callable[[Mapping[str, Any]],
                                                                                            torch.Tensor]:
    """``forward`` run tile by tile (``tile``), each tile through the self-ensemble when asked."""
    step = functools.partial(self_ensemble, forward) if options.self_ensemble else forward
    return lambda batch: tiled_forward(step, batch, options.scale, options.tile, options.tile_overlap)


def file_model(entry: ModelEntry, loaded: LoadedOptions, device: torch.device) -> Predictor:
    """A model recognised from a weights file (``[file, "-"]``) by an installed plugin."""
    options = loaded.options
    path = loaded.model_folder(entry)
    found = load_file_model(path, entry.where, device)
    if found.scale != options.scale:
        raise UserError(f"{entry.where}: {path.name} holds a x{found.scale} {found.model.spec.name}, but the data is "
                        f"x{options.scale}; set scale = {found.scale} with matching LR images")
    print(f"rumpy eval: {path.name}: {found.note}", file=sys.stderr)
    return Predictor(_label(path.stem, options), _runner(lambda batch: found.module(batch["lr"]), options),
                     source=str(path))


def build_predictors(loaded: LoadedOptions, device: torch.device,
                     note: Callable[[str], None] = lambda line: None) -> list[Predictor]:
    """Bicubic first (always reported, as in the original), then every entry in order.

    Two entries of the same experiment folder name get ``_<epoch>`` appended to their labels;
    an entry naming a checkpoint already listed (``best`` and ``last`` of a run whose best
    epoch is its last) is evaluated once, with a ``note``.
    """
    _check_task_params(loaded)
    predictors = [baseline("bicubic", loaded.options.scale)]
    wanted = {"bicubic"}
    kept: dict[ModelEntry, Predictor] = {}
    if loaded.options.lanczos_upsample:
        predictors.append(baseline("lanczos", loaded.options.scale))
        wanted.add("lanczos")
    for entry in loaded.models:
        if entry.baseline:
            if entry.baseline not in wanted:
                predictors.append(baseline(entry.baseline, loaded.options.scale))
                wanted.add(entry.baseline)
            continue
        make = file_model if entry.weights_file else experiment_model
        predictor = make(entry, loaded, device)
        same = next((e for e, p in kept.items() if (p.source, p.epoch) == (predictor.source, predictor.epoch)), None)
        if same is not None:
            note(f"note: {entry.name} {entry.epoch} is epoch {predictor.epoch}, as is {same.name} {same.epoch}; "
                 f"evaluated once")
            continue
        kept[entry] = predictor
        predictors.append(predictor)
    labels = [p.label for p in predictors]
    for predictor in predictors:
        if labels.count(predictor.label) > 1 and predictor.epoch is not None:
            predictor.label = f"{predictor.label}_{predictor.epoch}"
    labels = [p.label for p in predictors]
    for label in labels:
        if labels.count(label) > 1:
            raise UserError(f"eval.model_and_epoch: {label} is listed twice; list each model and epoch once")
    return predictors
