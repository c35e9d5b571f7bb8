"""``rumpy degrade`` on a folder: check everything, degrade every image, then publish the folder.

Nothing appears at the output path until every image is done: the results are written into
a hidden sibling folder that is renamed into place at the end (after moving aside the old
output when overwriting), so a failed or interrupted run leaves no half-written folder.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import toml
from PIL import Image

from ..atomic import atomic_write_bytes, atomic_write_text
from ..data.images import IMAGE_EXTENSIONS, image_header, list_images, load_rgb
from ..errors import DataError, UserError
from ..safety import first_missing, remove, writable_folder
from ..scratch import clean_stale, scratch_path
from .base import Metadata
from .pipeline import Pipeline, image_rng

CONFIG_FILE = "degradation_config.toml"
METADATA_FILE = "degradation_metadata.csv"
HYPERPARAMETERS_FILE = "degradation_hyperparameters.csv"

# Lossless formats only, so the recorded metadata describes the saved pixels exactly.
OUTPUT_FORMATS = {"png": "PNG", "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF"}


@dataclass(frozen=True)
class FolderJob:
    """Everything one ``rumpy degrade`` run needs, already validated by the caller."""

    source: Path
    """A folder of HR images, or a single image."""
    output: Path
    pipeline: Pipeline
    seed: int
    multiples: int = 1
    recursive: bool = False
    extension: str = "png"
    overwrite: bool = False
    workers: int = 1
    """Processes degrading images in parallel (the results do not depend on it)."""
    config: dict[str, Any] = field(default_factory=dict)
    """Written as ``degradation_config.toml``."""


@dataclass(frozen=True)
class SourceImage:
    """One HR image, its position in the sorted listing, and the output names of its copies."""

    path: Path
    index: int
    outputs: tuple[str, ...]


def plan(job: FolderJob) -> list[SourceImage]:
    """Check the job without writing anything; return the images and their output names.

    Missing or empty sources, unreadable image headers, an output folder that is the source
    (or inside it when searching recursively), an existing non-empty output folder without
    ``overwrite``, and two images with the same output name are one-line UserErrors.
    """
    source, output = job.source.resolve(), job.output.resolve()
    if job.extension not in OUTPUT_FORMATS:
        raise UserError(f"output_extension: {job.extension!r} is not one of {', '.join(OUTPUT_FORMATS)} "
                        f"(lossless formats only)")
    if source.is_file():
        if source.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(f"source_dir: {source} is not an image ({', '.join(IMAGE_EXTENSIONS)})")
        paths, root = [source], source.parent
    else:
        paths, root = list_images(source, "source_dir", job.recursive), source
    if output == root or (job.recursive and root in output.parents):
        raise UserError(f"output_dir: {output} is the source folder or inside it; choose another folder")
    if output in root.parents:
        raise UserError(f"output_dir: {output} contains the source folder; choose another folder")
    _check_output_folder(output, job.overwrite)
    writable_folder(output.parent, "output_dir")
    images, owners = [], {}
    for index, path in enumerate(paths):
        image_header(path)
        stem = path.relative_to(root).with_suffix("").as_posix()
        copies = [f"{stem}_q{m}" for m in range(job.multiples)] if job.multiples > 1 else [stem]
        names = tuple(f"{name}.{job.extension}" for name in copies)
        for name in names:
            if name in owners:
                raise DataError(f"source_dir: {owners[name].name} and {path.name} would both be saved as {name}; "
                                f"rename one")
            owners[name] = path
        images.append(SourceImage(path, index, names))
    return images


def _check_output_folder(output: Path, overwrite: bool) -> None:
    if not output.exists():
        return
    if not output.is_dir():
        raise UserError(f"output_dir: {output} exists and is not a folder")
    if not any(output.iterdir()):
        return
    if not overwrite:
        raise UserError(f"output_dir: {output} exists and is not empty; choose another folder or add --overwrite")
    if not (output / CONFIG_FILE).is_file():
        raise UserError(f"output_dir: {output} is not empty and holds no {CONFIG_FILE}, so it is not an output of "
                        f"rumpy degrade; --overwrite only replaces those")


def degrade_image(job: FolderJob, image: SourceImage) -> list[tuple[str, bytes, Metadata]]:
    """Degrade one source image into each of its copies: ``(output name, encoded file, metadata)``."""
    hr, gray = load_rgb(image.path)
    results = []
    for copy, name in enumerate(image.outputs):
        try:
            lr, metadata = job.pipeline(hr, image_rng(job.seed, image.index, copy))
        except DataError as exc:
            raise DataError(f"{image.path}: {exc}") from None
        results.append((name, _encode(lr, gray, job.extension), metadata))
    return results


def _encode(image: np.ndarray, gray_source: bool, extension: str) -> bytes:
    # A gray source stays gray unless an operation made its channels differ (colour noise).
    if gray_source and (image == image[..., :1]).all():
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=OUTPUT_FORMATS[extension])
    return buffer.getvalue()


def _save(folder: Path, results: list[tuple[str, bytes, Metadata]]) -> list[tuple[str, Metadata]]:
    for name, data, _ in results:
        atomic_write_bytes(folder / name, data)
    return [(name, metadata) for name, _, metadata in results]


def _degrade_and_save(job: FolderJob, folder: Path, image: SourceImage) -> list[tuple[str, Metadata]]:
    return _save(folder, degrade_image(job, image))


def run(job: FolderJob, images: list[SourceImage], progress: Callable[[int], None] | None = None) -> int:
    """Degrade ``images`` (from :func:`plan`) and publish the output folder; returns the number of files made.

    The first image is degraded before anything is created. With ``job.workers > 1`` the
    rest are degraded in that many processes; results are the same, since each image's
    draws depend only on the seed and its index. ``progress(n)`` is called after each source
    image with the number of its copies.
    """
    first = degrade_image(job, images[0])
    output = job.output.resolve()
    created = first_missing(output.parent)
    output.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(output.parent)
    staging = scratch_path(output)
    staging.mkdir()  # unlike tempfile.mkdtemp, keeps the user's umask for the published folder
    try:
        rows = _save(staging, first)
        if progress:
            progress(len(first))
        degrade_rest = functools.partial(_degrade_and_save, job, staging)
        with contextlib.ExitStack() as stack:
            mapper = map
            if job.workers > 1 and len(images) > 2:
                mapper = stack.enter_context(ProcessPoolExecutor(min(job.workers, len(images) - 1))).map
            for saved in mapper(degrade_rest, images[1:]):
                rows.extend(saved)
                if progress:
                    progress(len(saved))
        _write_records(staging, job, rows)
        _publish(staging, output)
    except BaseException:
        remove(staging, within=output.parent)
        if created is not None:
            remove(created, within=created.parent)
        raise
    return len(rows)


def _write_records(folder: Path, job: FolderJob, rows: list[tuple[str, Metadata]]) -> None:
    columns = list(job.pipeline.metadata_dims())
    metadata = io.StringIO()
    writer = csv.writer(metadata, lineterminator="\n")
    writer.writerow(["image", *columns])
    for name, values in rows:
        writer.writerow([name, *(_cell(values[column]) for column in columns)])
    atomic_write_text(folder / METADATA_FILE, metadata.getvalue())
    hyperparameters = io.StringIO()
    writer = csv.writer(hyperparameters, lineterminator="\n")
    writer.writerow(["index_num", "degradation", "hyperparam", "value"])
    for index, operation, key, value in job.pipeline.hyperparameters():
        writer.writerow([index, operation, key, json.dumps(value) if isinstance(value, list) else value])
    atomic_write_text(folder / HYPERPARAMETERS_FILE, hyperparameters.getvalue())
    atomic_write_text(folder / CONFIG_FILE, toml.dumps(job.config))
    for name, data in job.pipeline.files().items():
        atomic_write_bytes(folder / name, data)


def _cell(value: float | list[float]) -> str:
    """A metadata value as CSV text: numbers as the shortest exact form, lists as JSON."""
    if isinstance(value, list):
        return json.dumps(value)
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _publish(staging: Path, output: Path) -> None:
    """Move the finished folder into place, replacing an earlier output only now."""
    if output.exists():
        old = scratch_path(output, "old")
        os.replace(output, old)
        os.replace(staging, output)
        remove(old, within=output.parent)
    else:
        os.replace(staging, output)
