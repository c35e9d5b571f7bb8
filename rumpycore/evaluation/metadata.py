"""How ``rumpy eval`` feeds metadata-conditioned models (SFTMD and the like).

The values come either from a metadata CSV (``metadata_file``, by default the
``degradation_metadata.csv`` that ``rumpy degrade`` wrote beside the LR images) or, for
blind SR, from a trained regression model (``metadata_from``) that predicts them from each
LR image. Either way each batch gets ``metadata_by_name``: the raw values (original units)
per lowercased name, from which every model takes its own names and normalises them with
the statistics stored in its checkpoint. A predictor's outputs are de-normalised with the
predictor's own statistics first, so the two models never need to share a normalisation.

A blind model (one that estimates its own degradation) is fed nothing; when the metadata CSV
(``metadata_file``, or the one in ``lr_dir``) has columns for what it estimates, they are read
too, as the truth its estimates are written next to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..data.metadata import read_metadata_csv
from ..data.paired import PairedImages, pair_metadata
from ..data.sources import SITE_METADATA_FILES
from ..errors import UserError
from .models import Predictor, experiment_config, load_trained
from .options import WHERE, LoadedOptions

SplitValues = Callable[[Mapping[str, Any]], dict[str, torch.Tensor]]


def needed_metadata(predictors: Sequence[Predictor]) -> dict[str, int]:
    """Every metadata name the models consume (lowercased, first-use order) with its value count.

    Two models that were trained with different value counts for one name cannot be fed
    from one source.
    """
    needed: dict[str, int] = {}
    first: dict[str, str] = {}
    for predictor in predictors:
        for name, count in predictor.metadata.items():
            key = name.lower()
            if needed.setdefault(key, count) != count:
                raise UserError(f"{WHERE}.model_and_epoch: {predictor.label} was trained with {count} values of "
                                f"'{name}', {first[key]} with {needed[key]}; evaluate them separately")
            first.setdefault(key, predictor.label)
    return needed


def estimated_metadata(predictors: Sequence[Predictor]) -> dict[str, int]:
    """Every metadata name the blind models estimate (lowercased, first-use order) with its value count."""
    estimated: dict[str, int] = {}
    for predictor in predictors:
        for name, count in predictor.estimates.items():
            estimated.setdefault(name.lower(), count)
    return estimated


def split(vector: torch.Tensor, dims: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """``images x values`` into one ``images x count`` block per name, in ``dims`` order."""
    parts, start = {}, 0
    for name, count in dims.items():
        parts[name] = vector[:, start : start + count]
        start += count
    return parts


def _check_counts(source: str, offered: Mapping[str, int], needed: Mapping[str, int],
                  predictors: Sequence[Predictor], where: str) -> None:
    for name, count in needed.items():
        if offered.get(name, count) != count:
            user = next(p.label for p in predictors if name in {n.lower() for n in p.metadata})
            raise UserError(f"{where}: {source} gives {offered[name]} values of '{name}' per image, but {user} was "
                            f"trained with {count}; use metadata made with the training data's settings")


def csv_given(loaded: LoadedOptions) -> bool:
    """Whether a metadata CSV is at hand: ``metadata_file``, or one in ``lr_dir``."""
    if loaded.options.metadata_file is not None:
        return True
    lr_dir = loaded.path(loaded.options.lr_dir)
    return any((lr_dir / name).is_file() for name in SITE_METADATA_FILES)


def metadata_csv_path(loaded: LoadedOptions, needed: Mapping[str, int]) -> Path:
    """The ``metadata_file``, or the metadata CSV in ``lr_dir``; missing either is one line."""
    options = loaded.options
    if options.metadata_file is not None:
        path = loaded.path(options.metadata_file)
        if not path.is_file():
            raise UserError(f"{WHERE}.metadata_file: {path} does not exist; check the path")
        return path
    lr_dir = loaded.path(options.lr_dir)
    for name in SITE_METADATA_FILES:
        if (lr_dir / name).is_file():
            return lr_dir / name
    raise UserError(f"{WHERE}.metadata_file: the models use metadata ({', '.join(needed)}) and {lr_dir} holds no "
                    f"{SITE_METADATA_FILES[0]}; give metadata_file, or metadata_from for predicted metadata")


def attach_csv(loaded: LoadedOptions, dataset: PairedImages, needed: Mapping[str, int],
               predictors: Sequence[Predictor], truths: Sequence[str] = ()) -> SplitValues:
    """Give the dataset's items the needed values from the CSV, and those of ``truths`` (names
    the blind models estimate) that it has columns for; returns how to split a batch's vector."""
    where = f"{WHERE}.metadata_file"
    path = metadata_csv_path(loaded, needed)
    csv_table = read_metadata_csv(path, where)
    columns = {column.lower() for column in csv_table.columns}
    names = tuple(dict.fromkeys([*needed, *(name for name in truths if name in columns)]))
    table = pair_metadata(csv_table, dataset.lr, dataset.pairs, names, loaded.options.scale, where)
    _check_counts(str(path), table.dims, needed, predictors, where)
    dataset.metadata = table
    dims = dict(table.dims)
    return lambda batch: split(batch["metadata"].double(), dims)


def metadata_predictor(loaded: LoadedOptions, device: torch.device, needed: Mapping[str, int],
                       predictors: Sequence[Predictor]) -> SplitValues:
    """The ``metadata_from`` regression model, predicting the needed values from each LR image."""
    entry = loaded.metadata_predictor
    folder, config = experiment_config(entry, loaded, "values", "metadata_from needs a regression model "
                                                                "trained to predict the metadata")
    trained = load_trained(entry, folder, config, device)
    scaling = trained.scaling
    targets = {name.lower(): count for name, count in scaling.dims.items()}
    missing = [name for name in needed if name not in targets]
    if missing:
        user = next(p.label for p in predictors if missing[0] in {n.lower() for n in p.metadata})
        raise UserError(f"{entry.where}: {folder.name} predicts {', '.join(scaling.dims)}, but {user} needs "
                        f"{missing[0]}; use a predictor trained on the model's metadata names")
    _check_counts(folder.name, targets, needed, predictors, entry.where)

    def predict(batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        values = scaling.denormalise(trained.task.predict(batch).float())
        return split(values, targets)

    return predict
