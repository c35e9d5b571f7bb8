"""What ``rumpy eval`` runs: baselines, and trained models rebuilt from their experiment folders.

A trained model is rebuilt exactly as training built it: the experiment's ``config.toml``
is validated against the installed plugins, the model is constructed by the same
:func:`rumpycore.training.setup.build_model`, its weights come from the checkpoint
(read with ``weights_only=True``), and it is called through the task's ``forward``, the one
place that decides which inputs (LR image, metadata) a model receives. Metadata reaches a
model normalised with the statistics stored in its checkpoint, never recomputed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import config as cfg
from ..data.metadata import MetadataScaling
from ..errors import UserError
from ..experiment import BEST_LINK, MODELS, best_epoch_of, find_checkpoint, saved_epochs
from ..training import checkpoint as ckpt
from ..training.setup import build_model, build_task
from .baselines import Bicubic, Lanczos
from .options import LoadedOptions, ModelEntry
from .tiling import tiled_forward


@dataclass
class Predictor:
    """One row of the report: a label and how it turns a device batch into SR images.

    ``metadata`` maps the metadata names the model consumes to their values per image (as
    in its training); ``inputs`` are its extra image inputs (``lr_interp``).
    """

    label: str
    run: Callable[[Mapping[str, Any]], torch.Tensor]
    epoch: int | None = None
    source: str = ""
    metadata: dict[str, int] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()


def baseline(name: str, scale: int) -> Predictor:
    """The ``bicubic`` or ``lanczos`` baseline."""
    upscaler = Bicubic(scale) if name == "bicubic" else Lanczos(scale)
    return Predictor(name, upscaler)


def _experiment_root(folder: Path) -> Path:
    # A branch lives inside its parent experiment; checkpoints it inherits sit further up.
    root = folder
    while (root.parent / "config.toml").is_file():
        root = root.parent
    return root


def _checkpoint(entry: ModelEntry, folder: Path) -> tuple[Path, int]:
    """The checkpoint file of the entry's epoch and that epoch's number."""
    own = saved_epochs(folder)
    have = ", ".join(str(e) for e in own) or "none"
    if entry.epoch == "best":
        link = folder / MODELS / BEST_LINK
        epoch = best_epoch_of(folder)
        if epoch is None or not link.exists():
            raise UserError(f"{entry.where}: {link} is missing; ask for an epoch number or 'last' (saved: {have})")
        return link, epoch
    if entry.epoch == "last":
        if not own:
            raise UserError(f"{entry.where}: no checkpoints in {folder / MODELS}; train the model first")
        epoch = own[-1]
    else:
        epoch = int(entry.epoch)
    path = find_checkpoint(folder, epoch, _experiment_root(folder))
    if path is None:
        raise UserError(f"{entry.where}: no checkpoint for epoch {epoch} in {folder / MODELS} (saved epochs: {have})")
    return path, epoch


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
class TrainedModel:
    """A model rebuilt from its experiment: the module (on the device, in eval mode), its epoch,
    and how its metadata was normalised in training (None without metadata)."""

    model: torch.nn.Module
    epoch: int
    scaling: MetadataScaling | None


def experiment_config(entry: ModelEntry, loaded: LoadedOptions, task: str,
                      role: str) -> tuple[Path, cfg.RunConfig]:
    """The entry's folder and validated config; a model of another task is an error naming ``role``."""
    folder = loaded.model_folder(entry)
    config = _validated_config(entry, folder)
    if config.task != task:
        raise UserError(f"{entry.where}: {config.model.spec.name} is a {config.task} model; {role}")
    return folder, config


def load_trained(entry: ModelEntry, folder: Path, config: cfg.RunConfig, device: torch.device) -> TrainedModel:
    """Build the configured model and load the entry's checkpoint into it."""
    path, epoch = _checkpoint(entry, folder)
    state = ckpt.load(path, map_location=device)
    if str(state.get("model_name")).lower() != config.model.spec.name.lower():
        raise UserError(f"{path}: holds model {state.get('model_name')}, but {folder / 'config.toml'} names "
                        f"{config.model.spec.name}")
    record = state.get("metadata") or {}
    if config.model_metadata and not record:
        raise UserError(f"{path}: has no record of the metadata {config.model.spec.name} was trained with "
                        f"(names and normalisation); retrain it with this version of rumpy")
    scaling = MetadataScaling.from_dict(record) if config.model_metadata else None
    model = build_model(config, dict(scaling.dims) if scaling else {})
    try:
        # the averaged weights, when the run kept them, are the ones its val metrics measured
        model.load_state_dict(state["ema"] if state.get("ema") is not None else state["model"])
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:200]
        raise UserError(f"{path}: does not fit the model described by {folder / 'config.toml'} ({detail})") from None
    model.to(device).eval()
    return TrainedModel(model, epoch, scaling)


def experiment_model(entry: ModelEntry, loaded: LoadedOptions, device: torch.device) -> Predictor:
    """Rebuild a trained SR model from its experiment folder and checkpoint, ready on ``device``.

    A metadata-conditioned model reads its values from the batch's ``metadata_by_name``
    (raw values by lowercased name, see :mod:`.metadata`) and receives them normalised as
    in its training.
    """
    options = loaded.options
    folder, config = experiment_config(entry, loaded, "sisr", "rumpy eval super-resolves with model_and_epoch "
                                                             "entries (a regression model can be metadata_from)")
    if config.scale != options.scale:
        raise UserError(f"{entry.where}: {folder.name} was trained for x{config.scale}, but the data is "
                        f"x{options.scale}; set scale = {config.scale} with matching LR images, or pick another model")
    trained = load_trained(entry, folder, config, device)
    task = build_task(config)
    scaling = trained.scaling

    def forward(batch: Mapping[str, Any]) -> torch.Tensor:
        if scaling is not None:
            by_name = batch["metadata_by_name"]
            values = torch.cat([by_name[name.lower()] for name in scaling.dims], dim=1)
            batch = {**batch, "metadata": scaling.normalise(values)}
        return task.forward(trained.model, batch)

    def run(batch: Mapping[str, Any]) -> torch.Tensor:
        return tiled_forward(forward, batch, options.scale, options.tile, options.tile_overlap)

    return Predictor(folder.name, run, trained.epoch, str(folder), dict(scaling.dims) if scaling else {},
                     tuple(config.model.spec.inputs))


def build_predictors(loaded: LoadedOptions, device: torch.device,
                     note: Callable[[str], None] = lambda line: None) -> list[Predictor]:
    """Bicubic first (always reported, as in the original), then every entry in order.

    Two entries of the same experiment folder name get ``_<epoch>`` appended to their labels;
    an entry naming a checkpoint already listed (``best`` and ``last`` of a run whose best
    epoch is its last) is evaluated once, with a ``note``.
    """
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
        predictor = experiment_model(entry, loaded, device)
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
