"""What a task is: how a batch reaches the device, how a training step updates the networks,
and what an evaluation produces. The trainer runs epochs and knows no task's details."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.images import natural_key
from ..data.metadata import MetadataScaling


@dataclass
class Sample:
    """One evaluation image for sample logging: input, output, target and (for super-resolution)
    the bicubic reference as uint8 HxWx3, and each one's metric values for this image by label
    (``{"SR": {"PSNR": ...}, "bicubic": {...}}``)."""

    name: str
    lr: np.ndarray
    output: np.ndarray
    target: np.ndarray | None
    reference: np.ndarray | None = None
    scores: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class EvalResult:
    """Statistics of one evaluation (summary columns), sample images and per-image rows.

    ``per_image`` rows (one dict per image, over every process's images) go to the loggers'
    ``per_image`` event; the regression task fills them with each image's targets and
    predictions.
    """

    stats: dict[str, float]
    samples: list[Sample] = field(default_factory=list)
    per_image: list[dict[str, Any]] = field(default_factory=list)


def batch_to_device(batch: Mapping[str, Any], images: tuple[str, ...], device: torch.device,
                    memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, Any]:
    """A loader batch with its ``images`` (uint8) as float in [0, 1] on ``device`` and its
    ``metadata`` as float there; image keys not listed stay behind."""
    out = {key: value for key, value in batch.items() if key not in ("lr", "hr", "lr_interp") or key in images}
    for key in images:
        if key in batch:
            image = batch[key].to(device, non_blocking=True).float().div_(255.0)
            out[key] = image.contiguous(memory_format=memory_format)
    if "metadata" in batch:
        out["metadata"] = batch["metadata"].to(device, non_blocking=True).float()
    return out


def report_stats(stats: dict[str, float], prefix: str, values: Mapping[str, torch.Tensor],
                 metrics: Mapping[str, Any]) -> None:
    """Add ``<prefix>-loss`` and each metric's reduced value(s) to ``stats``.

    ``values`` holds the per-image rows of the loss and of each metric. A metric whose
    ``reduce`` returns a dict reports ``<prefix>-<metric>-<key>`` per key (``""``: the
    metric's own column).
    """
    stats[f"{prefix}-loss"] = float(values["loss"].double().mean())
    for name, metric in metrics.items():
        reduced = metric.reduce(values[name])
        if isinstance(reduced, dict):
            for suffix, value in reduced.items():
                stats[f"{prefix}-{name}" + (f"-{suffix}" if suffix else "")] = float(value)
        else:
            stats[f"{prefix}-{name}"] = float(reduced)


def summarise_sets(per_set: Mapping[str, Mapping[str, torch.Tensor]], metrics: Mapping[str, Any]) -> dict[str, float]:
    """The ``val-*`` numbers of an evaluation: over the images of every set together, and with
    several sets also per set (``val-<set>-*``). ``per_set`` holds each set's per-image rows."""
    stats: dict[str, float] = {}
    together = {k: torch.cat([values[k] for values in per_set.values()]) for k in ["loss", *metrics]}
    report_stats(stats, "val", together, metrics)
    if len(per_set) > 1:
        for set_id, values in per_set.items():
            report_stats(stats, f"val-{set_id}", values, metrics)
    return stats


def value_rows(set_id: str, names: Sequence[str], labels: Sequence[str], true: torch.Tensor | None,
               predicted: torch.Tensor) -> list[dict[str, Any]]:
    """One row per image in natural name order: ``set``, ``image``, then per value label
    ``<label>_true`` (when ``true`` is given) and ``<label>_predicted``: what the ``predictions``
    logger writes for a task that predicts metadata values."""
    true_values = true.cpu().tolist() if true is not None else None
    predicted_values = predicted.cpu().tolist()
    rows = []
    for i in sorted(range(len(names)), key=lambda i: natural_key(names[i])):
        row: dict[str, Any] = {"set": set_id, "image": names[i]}
        for j, label in enumerate(labels):
            if true_values is not None:
                row[f"{label}_true"] = true_values[i][j]
            row[f"{label}_predicted"] = predicted_values[i][j]
        rows.append(row)
    return rows


StepOutput = tuple[dict[str, torch.Tensor], bool]
"""What a training step returns: its loss terms (device tensors; ``"loss"`` is the total, reported
as ``train-loss``, any other key ``k`` as ``train-k``) and whether the update was applied."""


@dataclass
class TaskContext:
    """What a task is built with (``TaskSpec.build(params, context)``).

    ``networks`` holds a :class:`rumpycore.Network` per role; in ``rumpy eval`` (``training``
    false) they have no optimizers. ``metadata`` describes the metadata of the ``[model]``
    model (names, value counts, normalisation), ``inputs`` its extra image inputs
    (``("lr_interp",)``). ``self_ensemble`` asks evaluation for the x8 self-ensemble.
    ``gather`` concatenates per-image values (a tensor, or a list such as image names) from every
    process, so an evaluation counts each image once. ``degrade`` makes a training batch's LR
    images on the device from its HR images and seeds when the training set leaves that to the
    device (``[data.online_pipeline] on_device``; see
    :class:`rumpycore.degrade.device.BatchDegradation`).
    """

    networks: Mapping[str, Any]
    device: torch.device
    scale: int
    memory_format: torch.memory_format = torch.contiguous_format
    metadata: MetadataScaling | None = None
    inputs: tuple[str, ...] = ()
    num_samples: int = 0
    gather: Callable[[Any], Any] = lambda values: values
    training: bool = True
    degrade: Callable[[torch.Tensor, list[int]], tuple[torch.Tensor, Any]] | None = None
    self_ensemble: bool = False
    """Evaluate with the x8 geometric self-ensemble (:meth:`Task.predict_for_metrics`)."""


class Task:
    """Base class of the object a :class:`rumpycore.TaskSpec` builds for a run: what differs
    between kinds of training. The trainer runs epochs, times and checkpoints; the task moves
    batches to the device, trains its networks one step at a time, evaluates, and predicts.

    ``train_step`` calls :meth:`rumpycore.Network.minimise` for each network it updates (the
    core applies the run's precision, gradient clipping, optimizer and scheduler there), and
    returns the loss terms. ``predict`` runs the networks in evaluation mode (what ``rumpy
    eval`` and samples use). A task with state of its own beyond its networks (a queue, a
    counter) returns it from ``state_dict``; every checkpoint stores it. ``params`` are the
    validated ``[model.task_params]``.
    """

    def __init__(self, params: Any, ctx: TaskContext) -> None:
        self.params = params
        self.ctx = ctx

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """A loader batch on the device: uint8 images as float in [0, 1] in the run's memory
        format, metadata as float; the LR images made there when the set degrades on the device."""
        return self.degraded(batch, batch_to_device(batch, ("lr", "hr", "lr_interp"), self.ctx.device,
                                                    self.ctx.memory_format))

    def degraded(self, raw: Mapping[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
        """``batch`` with ``lr`` made from ``hr`` by ``ctx.degrade`` when the training set leaves that to
        the device (its items carry ``degrade_seed``: ``[data.online_pipeline] on_device``)."""
        if "degrade_seed" in raw and self.ctx.degrade is not None:
            lr, _ = self.ctx.degrade(batch["hr"], raw["degrade_seed"].tolist())
            batch["lr"] = lr.contiguous(memory_format=self.ctx.memory_format)
        return batch

    def epoch_start(self, epoch: int) -> None:
        """Called before the training steps of each epoch (also of a resumed one), for a task whose
        step depends on the epoch (a pre-training phase). Does nothing by default."""

    def train_step(self, batch: Mapping[str, Any]) -> StepOutput:
        """One training step on a device batch."""
        raise NotImplementedError

    def predict(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The task's output for a device batch, networks in evaluation mode."""
        raise NotImplementedError

    def predict_with_degradation(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`predict`'s output and, for a blind task, the degradation it estimated for each
        image: ``N x values``, the ``[model]`` model's metadata names in order, normalised as the
        task's targets (``ctx.metadata``); ``None`` for a task that estimates none (the default).

        A blind SR task (``TaskSpec(metadata="targets", output="image")``) overrides it;
        ``rumpy eval`` and the ``sisr`` task's evaluation then report the estimates per image.
        """
        return self.predict(batch), None

    def evaluate(self, loaders: Mapping[str, Any], metrics: Mapping[str, Any]) -> EvalResult:
        """Evaluate on every eval set (loaders by set id): statistics, samples and per-image rows."""
        raise NotImplementedError

    def reference(self, loaders: Mapping[str, Any], metrics: Mapping[str, Any]) -> tuple[str, dict[str, float]] | None:
        """A baseline the run should beat, measured once on the eval sets as ``evaluate`` measures
        (its name and summary statistics under the same ``val-*`` columns), or None."""
        return None

    def predict_for_metrics(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """:meth:`predict`, or the mean over its eight flipped and transposed inputs when the run
        asks for the self-ensemble (``[training] self_ensemble``); what evaluation should measure."""
        if self.ctx.self_ensemble:
            from ..evaluation.ensemble import self_ensemble

            return self_ensemble(self.predict, batch)
        return self.predict(batch)

    def state_dict(self) -> dict[str, Any]:
        """State of the task beyond its networks (stored in every checkpoint)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
