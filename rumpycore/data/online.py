"""Online degradation: LR images made from HR images while training (``online_degradations = true``).

A set with only ``hr`` crops each HR image (``crop * scale`` pixels, at a position aligned
to the LR grid), flips it, and runs it through the ``[data.online_pipeline]`` pipeline (the
operations of ``rumpy degrade``), so each sample costs one crop's degradation rather than a
whole image's. Flipping comes before degrading, so the recorded parameters (a blur angle,
a kernel's PCA code) describe the LR image the model sees. The sample key's seed drives
crop, flips and pipeline, so a sample is the same in any worker and on resume; an eval
image gets the same degradation at every evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..degrade.device import BatchDegradation
from ..degrade.pipeline import Pipeline
from ..degrade.resize import imresize
from ..degrade.scaling import Downsample, Upsample
from ..errors import ConfigError
from .cache import MemorySource
from .metadata import match_column
from .patches import crop_box, random_flips, to_tensor
from .sources import ImageSource, without_extension

WHERE = "data.online_pipeline"

STATISTICS_DRAWS = 256
"""Pipeline runs whose metadata stand for an online training set in the normalisation statistics."""

_PROBE_SIDE = 16
"""LR side of the flat gray patch degraded to check the pipeline and draw metadata statistics."""


DEVICE_KEY = "on_device"
"""``[data.online_pipeline] on_device = true``: training batches are degraded on the training device."""


def runs_on_device(raw: Mapping[str, Any] | None) -> bool:
    """Whether ``[data.online_pipeline]`` asks for degrading training batches on the device."""
    value = (raw or {}).get(DEVICE_KEY, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{WHERE}.{DEVICE_KEY}: expected true or false, got {value!r}")
    return value


def device_degradation(raw: Mapping[str, Any] | None, scale: int) -> BatchDegradation | None:
    """The batch pipeline of ``[data.online_pipeline]`` with ``on_device = true`` (else None)."""
    if not runs_on_device(raw):
        return None
    return BatchDegradation.from_config(pipeline_table(raw), WHERE, scale)


def pipeline_table(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``rumpy degrade`` layout of ``[data.online_pipeline]`` (without ``on_device``).

    Besides ``pipeline`` and ``deg_configs`` (the layout of a ``rumpy degrade`` config file),
    the original toolbox's layout works: operation tables directly inside the section
    (``[data.online_pipeline.b-config]``).
    """
    raw = {key: value for key, value in raw.items() if key != DEVICE_KEY}
    table = {key: value for key, value in raw.items() if key in ("pipeline", "deg_configs")}
    loose = {key: value for key, value in raw.items() if key not in table and isinstance(value, Mapping)}
    if loose:
        configs = dict(table.get("deg_configs") or {})
        for key in loose:
            if key in configs:
                raise ConfigError(f"{WHERE}.{key}: given both as [{WHERE}.{key}] and in deg_configs; keep one")
        table["deg_configs"] = {**configs, **loose}
    table.update({key: value for key, value in raw.items() if key not in table and key not in loose})
    return table


def build_pipeline(raw: Mapping[str, Any] | None, scale: int, base_dir: Path, where: str) -> Pipeline:
    """The configured pipeline, checked to turn an HR patch into an LR patch ``scale`` times smaller."""
    if raw is None:
        raise ConfigError(f"{where}.online_degradations: needs a [{WHERE}] table with the operations to apply "
                          f"(e.g. pipeline = \"blur-downsample-noise\")")
    pipeline = Pipeline.from_config(pipeline_table(raw), WHERE, scale, base_dir)
    device_degradation(raw, scale)  # checks that the device can run it
    probe = np.full((_PROBE_SIDE * scale, _PROBE_SIDE * scale, 3), 128, dtype=np.uint8)
    lr, _ = pipeline(probe, np.random.default_rng(0))
    if lr.shape != (_PROBE_SIDE, _PROBE_SIDE, 3):
        raise ConfigError(f"{WHERE}: turns a {probe.shape[1]}x{probe.shape[0]} HR patch into {lr.shape[1]}x"
                          f"{lr.shape[0]}, not {_PROBE_SIDE}x{_PROBE_SIDE} (x{scale}); the pipeline must downsample "
                          f"by the model's scale (model.internal_params.scale) exactly once")
    return pipeline


def pipeline_scale(raw: Mapping[str, Any], base_dir: Path) -> int:
    """How many times the configured pipeline shrinks an image (its downsampling over its
    upsampling): the run's scale when the model has none of its own (an encoder, a regressor)."""
    factor = 1.0
    for step in Pipeline.from_config(pipeline_table(raw), WHERE, None, base_dir).steps:
        if isinstance(step.operation, Downsample):
            factor *= step.operation.params.scale
        elif isinstance(step.operation, Upsample):
            factor /= step.operation.params.scale
    return max(round(factor), 1)


class OnlineDegradedImages(Dataset):
    """HR images degraded per sample; items as :class:`rumpycore.data.paired.PairedImages` gives."""

    def __init__(self, hr: ImageSource, indices: list[int], pipeline: Pipeline, scale: int, crop: int | None,
                 augment: bool, repeat: int, metadata: Sequence[str], where: str, upscaled: bool = False,
                 cache: bool | str = False, on_device: bool = False) -> None:
        self.hr = hr
        self.indices = indices
        self.pipeline = pipeline
        self.scale = scale
        self.crop = crop
        self.augment = augment
        self.repeat = repeat
        self.lr_sizes = [(h // scale, w // scale) for h, w in (hr.size(i) for i in indices)]
        recorded = pipeline.metadata_dims()
        columns = list(recorded)
        self.columns = [columns[match_column(columns, name, WHERE, f"{where}.online_degradations")]
                        for name in metadata]
        self.metadata_dims = {name: recorded[column] for name, column in zip(metadata, self.columns)}
        self.upscaled = upscaled
        """Items carry ``lr_interp``: the degraded LR enlarged by MATLAB's bicubic imresize."""
        self.cache = cache
        """The set's ``cache`` key; see :mod:`rumpycore.data.cache`."""
        self.on_device = on_device
        """Training items carry ``hr`` and a ``degrade_seed`` instead of ``lr``: the task degrades the
        batch on the device (:func:`device_degradation`) with those seeds."""

    def sources(self) -> list[tuple[str, ImageSource, list[int]]]:
        """The HR source and the indices used (the only images read)."""
        return [("hr", self.hr, self.indices)]

    def keep_in_memory(self) -> None:
        """Decode the HR images used into memory, once."""
        if not isinstance(self.hr, MemorySource):
            self.hr = MemorySource(self.hr, self.indices)

    def __len__(self) -> int:
        return len(self.indices) * self.repeat

    def lr_size(self, index: int) -> tuple[int, int]:
        """``(height, width)`` of the LR image (after cropping), for batching equal sizes."""
        return (self.crop, self.crop) if self.crop else self.lr_sizes[index % len(self.indices)]

    def metadata_values(self) -> np.ndarray:
        """Metadata of :data:`STATISTICS_DRAWS` pipeline runs (fixed seed), for the normalisation statistics."""
        probe = np.full((_PROBE_SIDE * self.scale, _PROBE_SIDE * self.scale, 3), 128, dtype=np.uint8)
        rows = [self._vector(self.pipeline(probe, np.random.default_rng([1, draw]))[1])
                for draw in range(STATISTICS_DRAWS)]
        return np.stack(rows).reshape(STATISTICS_DRAWS, sum(self.metadata_dims.values()))

    def _vector(self, applied: Mapping[str, float | list[float]]) -> np.ndarray:
        values: list[float] = []
        for column in self.columns:
            value = applied[column]
            values.extend(value if isinstance(value, list) else [value])
        return np.asarray(values, dtype=np.float32)

    def __getitem__(self, key: Any) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, None)
        position = index % len(self.indices)
        # training: the key's seed; evaluation: fixed per image, so every evaluation sees the same LR
        rng = np.random.default_rng(seed if seed is not None else [0, position])
        lh, lw = self.lr_sizes[position]
        top, left, height, width = crop_box((lh, lw), self.crop, rng) if self.crop else (0, 0, lh, lw)
        s = self.scale
        hr, gray = self.hr.read(self.indices[position], (top * s, left * s, height * s, width * s))
        if self.augment and seed is not None:
            (hr,) = random_flips([hr], rng)
        hr = np.ascontiguousarray(hr)
        name = without_extension(self.hr.names[self.indices[position]])
        if self.on_device and seed is not None:
            return {"name": name, "hr": to_tensor(hr), "gray": gray,
                    "degrade_seed": torch.tensor(int(rng.integers(2**62)), dtype=torch.int64)}
        lr, applied = self.pipeline(hr, rng)
        item = {"name": name, "lr": to_tensor(lr),
                "hr": to_tensor(hr), "gray": gray}
        if self.upscaled:
            item["lr_interp"] = to_tensor(imresize(lr, float(s)))
        if self.columns:
            item["metadata"] = torch.from_numpy(self._vector(applied))
        return item
