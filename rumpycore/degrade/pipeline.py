"""A degradation pipeline: operations applied in order to an HR image, recording what was applied.

``rumpy degrade`` (offline) and the datasets (online, in DataLoader workers) use the same
:class:`Pipeline`, so the same generator gives the same LR image and metadata in both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..params import unknown_key_message
from .base import BuildContext, Metadata, Operation
from .catalog import find_operation

PIPELINE_KEYS = ("pipeline", "deg_configs")


def image_rng(seed: int, *key: int) -> np.random.Generator:
    """The generator for one image, a function of ``seed`` and the image's ``key`` only.

    ``rumpy degrade`` uses the key ``(image index, copy)``, so results do not depend on the
    order images are processed in.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass(frozen=True)
class Step:
    """One operation of a pipeline and the id of its ``[deg_configs.<id>]`` table."""

    config_id: str
    operation: Operation


class Pipeline:
    """Operations applied in order; each records metadata under its own columns."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], where: str, scale: int | None = None,
                    base_dir: Path | None = None, even_lr_for_h264: bool = False) -> Pipeline:
        """Build a pipeline from a table with the keys ``pipeline`` and (optionally) ``deg_configs``.

        ``raw["pipeline"]``: operation names joined by ``-`` (``"blur-downsample"``), or a
        list whose items are names or ``[name, config_id]`` pairs. A plain name takes its
        parameters from ``raw["deg_configs"][name]`` when that table exists, else defaults.
        ``scale`` is the top-level scale given to ``downsample``/``upsample`` operations that
        set none (a different per-operation scale is an error). Relative paths in tables
        resolve against ``base_dir`` (default: the working directory). ``even_lr_for_h264``
        (``rumpy degrade``): when an operation that ``needs_even_lr`` is in the pipeline,
        ``downsample`` crops to even LR sides, as the original rumpy did; online pipelines keep
        LR = HR / scale. Mistakes raise ConfigError naming the key under ``where``.
        """
        prefix = f"{where}." if where else ""
        for key in raw:
            if key not in PIPELINE_KEYS:
                raise ConfigError(unknown_key_message(where, key, PIPELINE_KEYS).lstrip("."))
        entries = pipeline_entries(raw.get("pipeline"), f"{prefix}pipeline")
        tables = raw.get("deg_configs") or {}
        if not isinstance(tables, Mapping):
            raise ConfigError(f"{prefix}deg_configs: expected a table of [deg_configs.<id>] tables")
        # Names and tables first, so a typo is reported before any (slower) operation is built.
        chosen = []
        for index, (name, config_id, explicit) in enumerate(entries):
            operation = find_operation(name, f"{prefix}pipeline[{index}]")
            table = tables.get(config_id)
            if table is None and explicit:
                raise ConfigError(f"{prefix}pipeline[{index}]: no [deg_configs.{config_id}] table for {name!r}")
            if table is not None and not isinstance(table, Mapping):
                raise ConfigError(f"{prefix}deg_configs.{config_id}: expected a table, got {table!r}")
            chosen.append((operation, config_id, dict(table or {})))
        unused = sorted(set(tables) - {config_id for _, config_id, _ in chosen})
        if unused:
            raise ConfigError(f"{prefix}deg_configs.{unused[0]}: not used by the pipeline; name it after an "
                              f"operation or refer to it as [operation, {unused[0]!r}]")
        even_lr = even_lr_for_h264 and any(operation.needs_even_lr for operation, _, _ in chosen)
        seen: dict[str, int] = {}
        steps = []
        for operation, config_id, table in chosen:
            family = operation.family or operation.name
            seen[family] = seen.get(family, 0) + 1
            suffix = f"_{seen[family]}" if seen[family] > 1 else ""
            context = BuildContext(f"{prefix}deg_configs.{config_id}", suffix, scale, base_dir or Path.cwd(), even_lr)
            steps.append(Step(config_id, operation.build(table, context)))
        recorded: dict[str, str] = {}
        for step in steps:
            for column in step.operation.metadata_dims():
                if column in recorded:
                    raise ConfigError(f"{prefix}deg_configs.{step.config_id}: records the column {column!r}, which "
                                      f"{recorded[column]!r} records too; use one operation of that kind")
                recorded[column] = step.config_id
        return cls(steps)

    def __call__(self, hr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        """Degrade a ``uint8 H x W x 3`` image; return the uint8 result and the metadata by column.

        Each operation draws from its own generator, derived from ``rng`` by position, so
        changing one operation's parameters leaves the others' draws alone.
        """
        if hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[2] != 3:
            raise ValueError(f"expected a uint8 H x W x 3 image, got {hr.dtype} of shape {hr.shape}")
        seeds = rng.integers(2**63, size=len(self.steps))
        image, metadata = hr, {}
        for step, seed in zip(self.steps, seeds):
            image, values = step.operation.apply(image, np.random.default_rng(seed))
            metadata.update(values)
        return image, metadata

    def metadata_dims(self) -> dict[str, int]:
        """Metadata column name -> number of values (``blur_kernel`` -> its PCA length), in order."""
        dims: dict[str, int] = {}
        for step in self.steps:
            dims.update(step.operation.metadata_dims())
        return dims

    def resolved(self) -> dict[str, Any]:
        """The pipeline as a config table with every default filled in (loadable by :meth:`from_config`)."""
        tables: dict[str, dict[str, Any]] = {}
        pipeline = []
        for step in self.steps:
            settings = step.operation.settings()
            config_id, number = step.config_id, 2
            # One table can serve operations that read it differently (an alias and its operation).
            while tables.get(config_id, settings) != settings:
                config_id, number = f"{step.config_id}_{number}", number + 1
            tables[config_id] = settings
            pipeline.append([step.operation.name, config_id])
        return {"pipeline": pipeline, "deg_configs": tables}

    def hyperparameters(self) -> list[tuple[int, str, str, Any]]:
        """Rows ``(position, operation, parameter, value)`` of every resolved parameter; a table of
        settings (``randomcompress``'s ``jm_params``) gives one row per entry, ``jm_params.qpi``."""
        rows = []
        for index, step in enumerate(self.steps):
            for key, value in step.operation.settings().items():
                entries = value.items() if isinstance(value, Mapping) else [(None, value)]
                rows += [(index, step.operation.name, key if sub is None else f"{key}.{sub}", item)
                         for sub, item in entries]
        return rows

    def files(self) -> dict[str, bytes]:
        """Files the operations write beside the images (for example PCA bases)."""
        files: dict[str, bytes] = {}
        for step in self.steps:
            files.update(step.operation.files())
        return files


def pipeline_entries(value: Any, where: str) -> list[tuple[str, str, bool]]:
    """``(operation name, config id, id given explicitly)`` for each pipeline item."""
    if value is None:
        raise ConfigError(f"{where}: no operations; give --pipeline (e.g. downsample) or pipeline in the config")
    if isinstance(value, str):
        value = [name.strip() for name in value.split("-")]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected operation names joined by '-' or a list, got {value!r}")
    entries = []
    for index, item in enumerate(value):
        if isinstance(item, str) and item:
            entries.append((item, item, False))
        elif isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) and v for v in item):
            entries.append((item[0], item[1], True))
        else:
            raise ConfigError(f"{where}[{index}]: expected an operation name or [name, config_id], got {item!r}")
    return entries
