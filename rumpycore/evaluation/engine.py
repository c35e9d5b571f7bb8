"""``rumpy eval``: super-resolve a folder with baselines and trained models, measure, report.

:func:`prepare` checks everything a user can get wrong (options, folders, image pairs,
models, checkpoints, metrics, the results folder) without writing a byte; :func:`execute`
then runs every model over the images and writes the results folder, built under a
temporary name and renamed into place when complete.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import toml
import torch
from torch.utils.data import Dataset

from ..atomic import atomic_write_bytes, atomic_write_text
from ..comparisons import (
    Panel,
    compose,
    crop_box,
    enlarge,
    metric_caption,
    png_bytes,
    safe_name,
)
from ..config import resolve_metrics
from ..data.images import list_images
from ..data.loaders import eval_loader, stop_workers
from ..data.metadata import value_labels
from ..data.paired import PairedParams, build_paired
from ..errors import ConfigError, UserError
from ..images import to_uint8
from ..loggers.summary import csv_text
from ..safety import folder_name, inside, remove, writable_folder
from ..scratch import clean_stale, scratch_path
from ..specs import DatasetContext, MetricContext
from ..tasks.base import batch_to_device
from ..training.devices import resolve_device
from .metadata import SplitValues, attach_csv, csv_given, estimated_metadata, metadata_predictor, needed_metadata
from .models import Predictor, build_predictors
from .options import WHERE, LoadedOptions

DEFAULT_METRICS = ["PSNR", "SSIM"]


@dataclass
class EvalPlan:
    """A validated evaluation, ready to run."""

    loaded: LoadedOptions
    device: torch.device
    dataset: Dataset
    metrics: dict[str, Any]
    predictors: list[Predictor]
    folder: Path
    metadata: SplitValues | None = None


@dataclass
class EvalSummary:
    """Where the results went and one summary row per model."""

    folder: Path
    rows: list[dict[str, Any]]


@dataclass
class _Tally:
    """Per-image metric values and forward times of one model."""

    values: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    degradations: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    images: int = 0


def _device(loaded: LoadedOptions) -> torch.device:
    options = loaded.options
    if options.gpu and not torch.cuda.is_available():
        raise ConfigError(f"{WHERE}.gpu: a CUDA GPU was asked for, but none is visible; run without gpu")
    return resolve_device("single" if options.gpu else "off", options.sp_gpu)


def _folder(loaded: LoadedOptions, key: str) -> Path:
    folder = loaded.path(getattr(loaded.options, key))
    list_images(folder, f"{WHERE}.{key}", loaded.options.recursive)  # a missing or empty folder is named by its key
    return folder


def _dataset(loaded: LoadedOptions, needs_hr: bool, predictors: list[Predictor]) -> Dataset:
    options = loaded.options
    lr_dir = _folder(loaded, "lr_dir")
    hr_dir = _folder(loaded, "hr_dir") if needs_hr else None
    inputs = tuple(dict.fromkeys(key for p in predictors for key in p.inputs))
    interp_dir = None
    if "lr_interp" in inputs:
        if options.lr_interp_dir is not None:  # else the dataset makes them from lr_dir, as rumpy degrade would
            interp_dir = _folder(loaded, "lr_interp_dir")
    elif options.lr_interp_dir is not None:
        raise ConfigError(f"{WHERE}.lr_interp_dir: no model in model_and_epoch takes lr_interp; remove lr_interp_dir")
    params = PairedParams(lr=str(lr_dir), hr=str(hr_dir) if hr_dir else None,
                          lr_interp=str(interp_dir) if interp_dir else None, recursive_search=options.recursive)
    ctx = DatasetContext(WHERE, "eval", options.scale, "sisr", loaded.base_dir, (), needs_hr, inputs)
    return build_paired(params, ctx)


def _metadata(loaded: LoadedOptions, device: torch.device, dataset: Dataset,
              predictors: list[Predictor]) -> SplitValues | None:
    """Where the metadata-conditioned models get their values (the CSV or a predictor), and the
    blind models the truth for their estimates (the CSV, when one is at hand)."""
    options = loaded.options
    needed = needed_metadata(predictors)
    estimated = estimated_metadata(predictors)
    if not needed:
        if options.metadata_from is not None:
            raise ConfigError(f"{WHERE}.metadata_from: no model in model_and_epoch uses metadata; remove metadata_from")
        if estimated and csv_given(loaded):
            return attach_csv(loaded, dataset, {}, predictors, tuple(estimated))
        if options.metadata_file is not None:
            raise ConfigError(f"{WHERE}.metadata_file: no model in model_and_epoch uses metadata; remove metadata_file")
        return None
    if loaded.metadata_predictor is not None:
        return metadata_predictor(loaded, device, needed, predictors)
    return attach_csv(loaded, dataset, needed, predictors, tuple(estimated))


RESULT_FILES = ("config.toml", "metrics.csv", "summary.csv")
"""What every results folder holds; ``overwrite`` replaces only such folders."""


def _results_folder(loaded: LoadedOptions) -> Path:
    options = loaded.options
    name = folder_name(options.results_name, f"{WHERE}.results_name")
    out_loc = loaded.path(options.out_loc)
    writable_folder(out_loc, f"{WHERE}.out_loc")
    folder = inside(out_loc / name, out_loc, f"{WHERE}.results_name")
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        return folder
    if not options.overwrite:
        raise UserError(f"results folder {folder} already exists; choose another results_name or pass --overwrite")
    if folder.is_symlink() or not folder.is_dir() or not all((folder / f).is_file() for f in RESULT_FILES):
        raise UserError(f"{WHERE}.overwrite: {folder} is not the results folder of an earlier rumpy eval (it lacks "
                        f"{', '.join(RESULT_FILES)}); --overwrite only replaces those, so choose another results_name")
    return folder


def prepare(loaded: LoadedOptions, progress: Callable[[str], None] = lambda line: None) -> EvalPlan:
    """Validate an evaluation completely; nothing is written. ``progress`` gets notes."""
    options = loaded.options
    names = options.metrics if options.metrics is not None else (DEFAULT_METRICS if options.hr_dir else [])
    if names and options.hr_dir is None:
        raise ConfigError(f"{WHERE}.metrics: {', '.join(names)} need hr_dir (the high-resolution images); "
                          f"give hr_dir or leave metrics out")
    folder = _results_folder(loaded)
    device = _device(loaded)
    choices = resolve_metrics(names, options.metric_params, "sisr", f"{WHERE}.")
    predictors = build_predictors(loaded, device, progress)
    dataset = _dataset(loaded, bool(names), predictors)
    metadata = _metadata(loaded, device, dataset, predictors)
    ctx = MetricContext(scale=options.scale, device=device, channel=options.metric_channel,
                        crop_border=options.crop_border)
    metrics = {c.name: c.metric.spec.build(c.params, ctx) for c in choices}
    return EvalPlan(loaded, device, dataset, metrics, predictors, folder, metadata)


class _Run:
    """One pass over the images, every model on every batch."""

    def __init__(self, plan: EvalPlan, out: Path, progress: Callable[[str], None]) -> None:
        self.plan = plan
        self.options = plan.loaded.options
        self.out = out
        self.progress = progress
        self.tallies = {p.label: _Tally({name: [] for name in plan.metrics}) for p in plan.predictors}
        self.comparisons_written = 0
        self.warm: set[str] = set()

    def _synchronise(self) -> None:
        if self.plan.device.type == "cuda":
            torch.cuda.synchronize(self.plan.device)

    def _forward(self, predictor: Predictor, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None,
                                                                                 float]:
        """The model's SR images, its degradation estimates (blind models) and the seconds it took."""
        run = predictor.run_blind or (lambda b: (predictor.run(b), None))
        if predictor.label not in self.warm:  # first call pays one-off costs; keep them out of the timing
            run(batch)
            self.warm.add(predictor.label)
        self._synchronise()
        started = time.perf_counter()
        output, estimates = run(batch)
        self._synchronise()
        return output, estimates, time.perf_counter() - started

    def _estimates(self, predictor: Predictor, batch: Mapping[str, Any], estimates: torch.Tensor) -> None:
        """One row per image of the blind model's estimates, next to the truth the CSV gives."""
        truths = batch.get("metadata_by_name", {})
        labelled, start = {}, 0
        for name, count in predictor.estimates.items():
            labels = value_labels({name: count})
            true = truths.get(name.lower())
            for j, label in enumerate(labels):
                labelled[label] = (estimates[:, start + j],
                                   true[:, j] if true is not None and true.shape[1] == count else None)
            start += count
        for i, image in enumerate(batch["name"]):
            row: dict[str, Any] = {"model": predictor.label, "epoch": predictor.epoch, "image": image}
            for label, (estimated, true) in labelled.items():
                if true is not None:
                    row[f"{label}_true"] = float(true[i])
                row[f"{label}_predicted"] = float(estimated[i])
            self.tallies[predictor.label].degradations.append(row)

    def batch(self, raw: Mapping[str, Any]) -> None:
        batch = batch_to_device(raw, ("lr", "hr", "lr_interp"), self.plan.device)
        if self.plan.metadata is not None:
            batch["metadata_by_name"] = self.plan.metadata(batch)
        target = batch.get("hr")
        count = batch["lr"].shape[0]
        outputs, values = {}, {}
        for predictor in self.plan.predictors:
            output, estimates, seconds = self._forward(predictor, batch)
            if estimates is not None:
                self._estimates(predictor, batch, estimates)
            tally = self.tallies[predictor.label]
            tally.seconds += seconds
            tally.images += count
            values[predictor.label] = {}
            for name, metric in self.plan.metrics.items():
                per_image = metric.values(output, target, batch).double().flatten().cpu()
                tally.values[name].append(per_image)
                values[predictor.label][name] = per_image
            for i in range(count):
                row = {"model": predictor.label, "epoch": predictor.epoch, "image": raw["name"][i]}
                row.update({name: float(v[i]) for name, v in values[predictor.label].items()})
                row["ms"] = seconds * 1000.0 / count
                tally.rows.append(row)
                if self.options.save_im:
                    path = self.out / safe_name(predictor.label) / f"{safe_name(raw['name'][i])}.png"
                    atomic_write_bytes(path, png_bytes(to_uint8(output[i])))
            outputs[predictor.label] = output
        limit = self.options.num_image_save
        for i in range(count):
            if self.options.comparisons and (limit is None or self.comparisons_written < limit):
                self._comparison(batch, i, outputs, values)
                self.comparisons_written += 1

    def _comparison(self, batch: Mapping[str, Any], i: int, outputs: Mapping[str, torch.Tensor],
                    values: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        scale = self.options.scale
        lr = batch["lr"][i]
        top, left, size = crop_box(lr.shape[-2] * scale, lr.shape[-1] * scale, scale)
        hr_box = (slice(None), slice(top, top + size), slice(left, left + size))
        lr_box = (slice(None), slice(top // scale, (top + size) // scale), slice(left // scale, (left + size) // scale))
        panels = [Panel(enlarge(to_uint8(lr[lr_box]), size), ["LR"])]
        for predictor in self.plan.predictors:
            label = predictor.label if predictor.epoch is None else f"{predictor.label} (epoch {predictor.epoch})"
            scores = {name: float(v[i]) for name, v in values[predictor.label].items()}
            panels.append(Panel(to_uint8(outputs[predictor.label][i][hr_box]), [label, *metric_caption(scores)]))
        if "hr" in batch:
            panels.append(Panel(to_uint8(batch["hr"][i][hr_box]), ["HR"]))
        name = batch["name"][i]
        image = compose(panels, f"{name}: centre crop of {size}x{size} HR pixels; metrics on the whole image")
        atomic_write_bytes(self.out / "comparisons" / f"{safe_name(name)}.png", png_bytes(image))

    def image_rows(self) -> list[dict[str, Any]]:
        """One row per model and image, model by model."""
        return [row for predictor in self.plan.predictors for row in self.tallies[predictor.label].rows]

    def degradation_rows(self) -> list[dict[str, Any]]:
        """The blind models' estimates, one row per model and image, model by model."""
        return [row for predictor in self.plan.predictors for row in self.tallies[predictor.label].degradations]

    def summary(self) -> list[dict[str, Any]]:
        rows = []
        for predictor in self.plan.predictors:
            tally = self.tallies[predictor.label]
            row: dict[str, Any] = {"model": predictor.label, "epoch": predictor.epoch, "images": tally.images}
            for name, metric in self.plan.metrics.items():
                reduced = metric.reduce(torch.cat(tally.values[name]))
                if isinstance(reduced, dict):
                    row.update({name + (f"-{k}" if k else ""): float(v) for k, v in reduced.items()})
                else:
                    row[name] = float(reduced)
            row.update(estimate_errors(predictor, tally.degradations))
            row["ms_per_image"] = tally.seconds * 1000.0 / max(tally.images, 1)
            row["source"] = predictor.source
            rows.append(row)
            self.progress(f"{predictor.label}: {tally.images} images, {row['ms_per_image']:.1f} ms/image")
        return rows


def estimate_errors(predictor: Predictor, rows: list[dict[str, Any]]) -> dict[str, float]:
    """``<name>-error``: the mean absolute error of a blind model's estimates of each name over
    the images whose truth is known (original units)."""
    errors = {}
    for name, count in predictor.estimates.items():
        labels = value_labels({name: count})
        known = [row for row in rows if f"{labels[0]}_true" in row]
        if known:
            errors[f"{name}-error"] = sum(abs(row[f"{label}_predicted"] - row[f"{label}_true"])
                                          for row in known for label in labels) / (len(known) * count)
    return errors


def execute(plan: EvalPlan, progress: Callable[[str], None] = lambda line: None) -> EvalSummary:
    """Run a prepared evaluation and write its results folder."""
    options = plan.loaded.options
    out_loc = plan.folder.parent
    out_loc.mkdir(parents=True, exist_ok=True)
    clean_stale(out_loc)
    partial = scratch_path(plan.folder)
    partial.mkdir()
    try:
        config = {**plan.loaded.resolved(), "metrics": list(plan.metrics)}
        atomic_write_text(partial / "config.toml", toml.dumps(config))
        run = _Run(plan, partial, progress)
        workers = options.dataloader_threads if options.dataloader_threads is not None else min(2, os.cpu_count() or 1)
        loader = eval_loader(plan.dataset, options.batch_size, workers, plan.device.type == "cuda")
        try:
            with torch.no_grad():
                for raw in loader:
                    run.batch(raw)
        finally:
            stop_workers(loader)
        rows = run.summary()
        atomic_write_text(partial / "metrics.csv", csv_text(run.image_rows()))
        atomic_write_text(partial / "summary.csv", csv_text(rows))
        degradations = run.degradation_rows()
        if degradations:
            atomic_write_text(partial / "degradations.csv", csv_text(degradations))
        if plan.folder.exists():
            remove(plan.folder, within=out_loc)
        os.replace(partial, plan.folder)
    except BaseException:
        remove(partial, within=out_loc)
        raise
    return EvalSummary(plan.folder, rows)


def evaluate(loaded: LoadedOptions, progress: Callable[[str], None] = lambda line: None) -> EvalSummary:
    """Validate, then run: the whole of ``rumpy eval``."""
    return execute(prepare(loaded, progress), progress)
