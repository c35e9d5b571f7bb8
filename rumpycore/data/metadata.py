"""Per-image degradation metadata: reading the CSV, choosing columns, normalising values.

A metadata CSV (``degradation_metadata.csv``, written by ``rumpy degrade``) has one row per
image, named in its ``image`` column (or, failing that, its first column), and one column
per recorded value. A cell holds a number or a JSON list of numbers (``blur_kernel``: the
PCA code of the blur kernel), which gives the name several values.

A *name* asked for by a model selects the column of that name (any case), or else the
single column whose name ends with ``-<name>`` (``0-blur-sigma`` for ``sigma``), so the
step-prefixed columns of degradation pipelines need no renaming. An image's values are the
requested names' values concatenated in the requested order.

Normalisation is min-max per value, with the minimum and maximum taken over the training
sets and reused unchanged for evaluation (and stored with the model): a value maps to
[0, 1] over the training data, the convention of the original toolbox's pipeline outputs,
bounded for the sigmoid-gated layers of metadata-aware models, and it never depends on
which images an eval set holds. A value that is constant over the training data maps to 0.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, DataError

NORMALIZATIONS = ("minmax", "none")


@dataclass
class MetadataCSV:
    """A parsed metadata CSV: value columns and the cells of each image's row."""

    label: str
    columns: list[str]
    rows: dict[str, list[str]]
    stems: dict[str, str]

    def find_row(self, candidates: Sequence[str]) -> list[str] | None:
        """The row of the first candidate name found, by full name or by name without extension."""
        for name in candidates:
            if name in self.rows:
                return self.rows[name]
            if name in self.stems:
                return self.rows[self.stems[name]]
        return None

    def find_column(self, name: str, where: str) -> int:
        """Index of the column that ``name`` selects (see :func:`match_column`)."""
        return match_column(self.columns, name, self.label, where)


def match_column(columns: Sequence[str], name: str, source: str, where: str) -> int:
    """Index of the column ``name`` selects: the same name (any case), else the one ending ``-<name>``.

    ``source`` names where the columns come from in the one-line errors.
    """
    lowered = [c.lower() for c in columns]
    if name.lower() in lowered:
        return lowered.index(name.lower())
    matches = [i for i, c in enumerate(lowered) if c.endswith(f"-{name.lower()}")]
    if len(matches) == 1:
        return matches[0]
    if matches:
        found = ", ".join(columns[i] for i in matches)
        raise DataError(f"{where}: metadata '{name}' matches several columns of {source} ({found}); "
                        f"ask for the full column name")
    raise DataError(f"{where}: {source} has no column '{name}' (columns: {', '.join(columns)}); "
                    f"add it or change the requested metadata")


def parse_metadata_csv(text: str, label: str) -> MetadataCSV:
    """Parse CSV text; a file without a header, value columns or rows is a one-line DataError."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{label}: empty metadata file; expected a header row with an 'image' column") from None
    except csv.Error as exc:
        raise DataError(f"{label}: not a readable CSV ({exc})") from None
    header = [h.strip() for h in header]
    key = next((i for i, h in enumerate(header) if h.lower() == "image"), 0)
    columns = [h for i, h in enumerate(header) if i != key]
    if not columns:
        raise DataError(f"{label}: no metadata columns besides the image names")
    rows: dict[str, list[str]] = {}
    stems: dict[str, str | None] = {}
    try:
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise DataError(f"{label}: line {line} has {len(cells)} cells, the header {len(header)}; fix the file")
            image = cells[key].strip()
            rows[image] = [c for i, c in enumerate(cells) if i != key]
            stem = image.rsplit(".", 1)[0] if "." in image.rsplit("/", 1)[-1] else image
            stems[stem] = None if stem in stems else image  # a stem shared by two rows selects neither
    except csv.Error as exc:
        raise DataError(f"{label}: not a readable CSV ({exc})") from None
    if not rows:
        raise DataError(f"{label}: the metadata file has no image rows")
    return MetadataCSV(label, columns, rows, {s: n for s, n in stems.items() if n is not None})


def read_metadata_csv(path: Path, where: str) -> MetadataCSV:
    """Read and parse a metadata CSV file."""
    if not path.is_file():
        raise DataError(f"{where}: metadata file {path} does not exist; check the path")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: metadata file cannot be read ({type(exc).__name__})") from None
    return parse_metadata_csv(text, str(path))


def parse_cell(text: str, where: str) -> list[float]:
    """A cell's values: one number, or a JSON list of numbers; empty, NaN or text is an error."""
    text = text.strip()
    try:
        value = json.loads(text) if text.startswith("[") else float(text)
    except ValueError:
        raise DataError(f"{where}: '{text}' is not a number or a list of numbers; fix the metadata file") from None
    values = value if isinstance(value, list) else [value]
    if not values:
        raise DataError(f"{where}: empty list; fix the metadata file")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise DataError(f"{where}: value {v!r} is not a finite number; fix the metadata file")
        out.append(float(v))
    return out


@dataclass
class MetadataTable:
    """Raw metadata values of a set's images: ``values[i]`` (float32) is image i's concatenated vector."""

    dims: dict[str, int]
    values: np.ndarray


def build_table(table: MetadataCSV, names: Sequence[str], images: Sequence[tuple[str, Sequence[str]]],
                where: str) -> MetadataTable:
    """Look up ``names`` for each image; ``images`` holds (label, candidate row names) pairs."""
    columns = [table.find_column(name, where) for name in names]
    dims: dict[str, int] = {}
    vectors = []
    for label, candidates in images:
        row = table.find_row(candidates)
        if row is None:
            raise DataError(f"{label}: no row for this image in {table.label}; add one or remove the image")
        vector: list[float] = []
        for name, column in zip(names, columns):
            values = parse_cell(row[column], f"{table.label}: row {candidates[0]}, column {table.columns[column]}")
            if dims.setdefault(name, len(values)) != len(values):
                raise DataError(f"{table.label}: row {candidates[0]}, column {table.columns[column]} has "
                                f"{len(values)} values, other rows {dims[name]}; fix the metadata file")
            vector.extend(values)
        vectors.append(vector)
    return MetadataTable(dims, np.asarray(vectors, dtype=np.float32).reshape(len(vectors), sum(dims.values())))


def value_labels(dims: Mapping[str, int]) -> list[str]:
    """One label per value of a metadata vector: the name, or ``<name>_<i>`` (from 0) for
    each value of a name that carries several (``blur_kernel_0`` ... ``blur_kernel_9``)."""
    return [name if count == 1 else f"{name}_{i}" for name, count in dims.items() for i in range(count)]


@dataclass
class MetadataScaling:
    """How metadata reaches the model: names, values per name, and the normalisation.

    ``minimum`` and ``maximum`` are per value over the training sets; with ``minmax``
    normalisation a value ``v`` becomes ``(v - minimum) / (maximum - minimum)`` (or
    ``v - minimum`` where they are equal). :meth:`to_dict` gives plain data for checkpoints;
    :meth:`from_dict` restores it so evaluation feeds a model exactly as training did.
    """

    dims: dict[str, int]
    normalization: str
    minimum: np.ndarray
    maximum: np.ndarray

    @classmethod
    def from_training(cls, dims: Mapping[str, int], tables: Sequence[np.ndarray],
                      normalization: str) -> "MetadataScaling":
        """Statistics of the training sets' raw values (``tables``: one images x values array each)."""
        values = np.concatenate([np.asarray(t, dtype=np.float64) for t in tables], axis=0)
        if values.shape[0] == 0:
            raise ConfigError("data.training_sets: no training image carries metadata; check the sets")
        return cls(dict(dims), normalization, values.min(axis=0), values.max(axis=0))

    def normalise(self, values: torch.Tensor) -> torch.Tensor:
        """Map raw values (last dimension = the metadata vector) to what the model receives."""
        if self.normalization == "none":
            return values.float()
        low, span = self._bounds(values.device)
        return ((values.double() - low) / span).float()

    def denormalise(self, values: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`normalise`: what the model receives or predicts, back in the
        original units (float64, on the device of ``values``)."""
        if self.normalization == "none":
            return values.double()
        low, span = self._bounds(values.device)
        return values.double() * span + low

    def _bounds(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Minimum and span (1 where the span is 0) as float64 tensors on ``device``."""
        low = torch.as_tensor(self.minimum, dtype=torch.float64, device=device)
        span = torch.as_tensor(self.maximum - self.minimum, dtype=torch.float64, device=device)
        return low, torch.where(span > 0, span, torch.ones_like(span))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (names, value counts, statistics) to store with a trained model."""
        return {
            "dims": dict(self.dims),
            "normalization": self.normalization,
            "minimum": [float(v) for v in self.minimum],
            "maximum": [float(v) for v in self.maximum],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MetadataScaling":
        """The inverse of :meth:`to_dict`."""
        return cls(dict(data["dims"]), str(data["normalization"]), np.asarray(data["minimum"], dtype=np.float64),
                   np.asarray(data["maximum"], dtype=np.float64))


class ScaledMetadata(Dataset):
    """A dataset whose items' ``"metadata"`` is normalised with fixed statistics."""

    def __init__(self, dataset: Any, scaling: MetadataScaling) -> None:
        self.dataset = dataset
        self.scaling = scaling
        self.metadata_dims = dict(dataset.metadata_dims)

    def __len__(self) -> int:
        return len(self.dataset)

    def lr_size(self, index: int) -> tuple[int, int]:
        """LR size of item ``index`` (see the wrapped dataset)."""
        return self.dataset.lr_size(index)

    def __getitem__(self, key: Any) -> dict:
        item = self.dataset[key]
        item["metadata"] = self.scaling.normalise(item["metadata"])
        return item
