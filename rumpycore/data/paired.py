"""Paired LR/HR images: the core's default dataset type (``type = "paired"``).

Each of ``lr``, ``hr`` and ``lr_interp`` is a folder of image files or a file packed by
``rumpy pack`` (see :mod:`rumpycore.data.sources`). Building a set selects its images
(``cutoff`` or the ``name`` split), pairs them by name, checks every size from the headers
and loads the metadata the model needs, so every problem is reported before training. A
set with ``online_degradations`` makes its LR images from ``hr`` instead (see
:mod:`rumpycore.data.online`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, DataError
from ..params import option
from ..safety import user_path
from ..specs import DatasetContext
from .cache import AUTO, MemorySource
from .metadata import MetadataCSV, MetadataTable, build_table, read_metadata_csv
from .online import OnlineDegradedImages, build_pipeline, runs_on_device
from .patches import crop_box, random_flips, to_tensor
from .sources import ImageSource, UpscaledSource, open_source, without_extension
from .splits import apply_cutoff, apply_shortlist, apply_standard_split, split_copy

ON_SITE = "on_site"


@dataclass
class PairedParams:
    """Keys of a ``type = "paired"`` set table."""

    lr: str | None = option(None, path=True, help="folder (or packed .h5 file) of low-resolution images")
    hr: str | None = option(None, path=True,
                            help="folder (or packed .h5 file) of high-resolution images, matched to LR by name")
    lr_interp: str | None = option(
        None, path=True, help="folder (or packed .h5 file) of LR images upscaled to the HR size, for models that take them "
                   "(default: made from lr with MATLAB's bicubic imresize)"
    )
    name: str | None = option(
        None, help="standard dataset whose split to use: div2k, flickr2k, set5, set14, b100, bsd100, urban100, "
                   "manga109, celeba"
    )
    crop: int | None = option(None, min=1, help="LR patch size; the HR patch is crop*scale at the aligned position")
    random_augment: bool = option(False, help="random flips and 90-degree rotations, same for LR and HR")
    cutoff: int | list[int] | None = option(
        None, min=0, help="n: the first n images; [a, b]: images a..b-1 (takes priority over name)"
    )
    image_shortlist: str | None = option(
        None, path=True, help="text file naming the images to use, one per line (when no cutoff; takes priority over name)"
    )
    group_select: int | list[int] | None = option(
        None, min=0, help="which copies made by rumpy degrade --multiples (<stem>_q<id>) to use, by id"
    )
    recursive_search: bool = option(False, help="also look in sub-folders")
    repeat: int = option(1, min=1, max=10000, help="training: visit each image this many times per epoch (fresh crops each time)")
    degradation_metadata: str | None = option(
        None, aliases=("qpi_values",), path=True, keywords=("on_site",),
        help="metadata CSV of the LR images, or 'on_site' for degradation_metadata.csv beside them",
    )
    metadata: list[str] | None = option(
        None, help="metadata names this set offers; must include every name the model uses (default: the model's)"
    )
    metadata_list: str | None = option(None, path=True, help="text file with one metadata name per line (instead of metadata)")
    cache: bool | Literal["auto"] = option(
        AUTO, help="keep the set's decoded images in memory: true, false, or 'auto' (when they fit data.cache_budget)"
    )
    online_degradations: bool = option(
        False, help="make LR from hr while training with the [data.online_pipeline] operations (no lr folder)"
    )


@dataclass(frozen=True)
class Pair:
    """One LR image with its partners' indices in their sources, and the LR size from the header."""

    name: str
    lr: int
    hr: int | None
    interp: int | None
    lr_size: tuple[int, int]


def strip_scale_suffix(stem: str, scale: int) -> str:
    """``babyx4`` -> ``baby`` at scale 4 (benchmark LR files carry the scale in their names)."""
    suffix = f"x{scale}"
    return stem[: -len(suffix)] if stem.lower().endswith(suffix) and len(stem) > len(suffix) else stem


def stem_candidates(name: str, scale: int) -> list[str]:
    """Names without extension an image may go by elsewhere: ``babyx4.png`` -> babyx4, baby;
    a degraded copy ``baby_q1.png`` -> baby_q1, baby."""
    stem = without_extension(name)
    folder, _, base = stem.rpartition("/")
    prefix = folder + "/" if folder else ""
    original, _ = split_copy(base)
    return list(dict.fromkeys([stem, prefix + strip_scale_suffix(base, scale), prefix + original,
                               prefix + strip_scale_suffix(original, scale)]))


def _stem_index(source: ImageSource) -> dict[str, int]:
    stems: dict[str, int] = {}
    for index, name in enumerate(source.names):
        stems.setdefault(without_extension(name), index)
    return stems


def _partner(lr: ImageSource, index: int, stems: dict[str, int], other: ImageSource, key: str, scale: int) -> int:
    for candidate in stem_candidates(lr.names[index], scale):
        if candidate in stems:
            return stems[candidate]
    raise DataError(f"{lr.label(index)}: no {key} image with the same name in {other.describe()}; "
                    f"add it or remove the LR file")


def pair_sources(lr: ImageSource, selected: list[int], hr: ImageSource | None, interp: ImageSource | None,
                 scale: int, where: str) -> list[Pair]:
    """Match the selected LR images to HR (and interpolated LR) images by name and check sizes.

    Names match by stem: ``baby.png`` and ``babyx4.png`` (at scale 4) both pair with HR
    ``baby.png``. HR must be LR x scale after cropping it to a multiple of the scale from
    the top-left corner (MATLAB's ``modcrop``); interpolated LR must be exactly LR x scale.
    Only headers are read.
    """
    hr_stems = _stem_index(hr) if hr is not None else {}
    interp_stems = _stem_index(interp) if interp is not None else {}
    pairs = []
    for index in selected:
        lh, lw = lr.size(index)
        hr_index = interp_index = None
        if hr is not None:
            hr_index = _partner(lr, index, hr_stems, hr, "HR", scale)
            hh, hw = hr.size(hr_index)
            if hw // scale != lw or hh // scale != lh:
                raise DataError(f"{lr.label(index)}: LR is {lw}x{lh} but HR {hr.names[hr_index]} is {hw}x{hh}, "
                                f"which is not x{scale}; check the scale or the files")
        if interp is not None:
            interp_index = _partner(lr, index, interp_stems, interp, "lr_interp", scale)
            ih, iw = interp.size(interp_index)
            if (ih, iw) != (lh * scale, lw * scale):
                raise DataError(f"{interp.label(interp_index)}: interpolated LR is {iw}x{ih}, expected "
                                f"{lw * scale}x{lh * scale} (LR {lw}x{lh} x{scale}); upscale the LR images again")
        pairs.append(Pair(lr.names[index], index, hr_index, interp_index, (lh, lw)))
    return pairs


class PairedImages(Dataset):
    """LR/HR pairs read per access (only the cropped region when a source allows), augmented per sample.

    Items: ``name`` (the LR image's relative path without extension), ``lr`` and ``hr``
    (uint8 ``3 x h x w`` / ``3 x H x W``), ``gray`` (the target was a grayscale file),
    ``lr_interp`` when the model takes it, and ``metadata`` (raw float32 values) when the
    model uses metadata.
    """

    def __init__(self, lr: ImageSource, hr: ImageSource | None, interp: ImageSource | None, pairs: list[Pair],
                 scale: int, crop: int | None, augment: bool, repeat: int = 1,
                 metadata: MetadataTable | None = None, cache: bool | str = False) -> None:
        self.lr = lr
        self.hr = hr
        self.interp = interp
        self.pairs = pairs
        self.scale = scale
        self.crop = crop
        self.augment = augment
        self.repeat = repeat
        self.metadata = metadata
        self.cache = cache
        """The set's ``cache`` key; see :mod:`rumpycore.data.cache`."""

    def sources(self) -> list[tuple[str, ImageSource, list[int]]]:
        """``(role, source, indices used)`` of the LR, HR and lr_interp images."""
        roles = [("lr", self.lr, [p.lr for p in self.pairs]), ("hr", self.hr, [p.hr for p in self.pairs]),
                 ("lr_interp", self.interp, [p.interp for p in self.pairs])]
        return [(role, source, indices) for role, source, indices in roles if source is not None]

    def keep_in_memory(self) -> None:
        """Decode the images used into memory, once (see :class:`rumpycore.data.cache.MemorySource`)."""
        held = {role: s if isinstance(s, MemorySource) else MemorySource(s, i) for role, s, i in self.sources()}
        self.lr, self.hr, self.interp = held["lr"], held.get("hr"), held.get("lr_interp")

    @property
    def metadata_dims(self) -> dict[str, int]:
        """Values per metadata name in each item's ``metadata`` vector, in order."""
        return dict(self.metadata.dims) if self.metadata is not None else {}

    def metadata_values(self) -> np.ndarray:
        """Raw metadata of every image (images x values), for the normalisation statistics."""
        return self.metadata.values

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def lr_size(self, index: int) -> tuple[int, int]:
        """``(height, width)`` of the LR image (after cropping), for batching equal sizes."""
        if self.crop:
            return (self.crop, self.crop)
        return self.pairs[index % len(self.pairs)].lr_size

    def __getitem__(self, key: Any) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, None)
        rng = np.random.default_rng(seed) if seed is not None else None
        position = index % len(self.pairs)
        pair = self.pairs[position]
        lh, lw = pair.lr_size
        box = crop_box(pair.lr_size, self.crop, rng) if self.crop else None
        top, left, height, width = box or (0, 0, lh, lw)
        # HR beyond LR*scale is cut off at the bottom and right: MATLAB's modcrop, as the benchmark LR sets were made
        hr_box = (top * self.scale, left * self.scale, height * self.scale, width * self.scale)
        lr, gray = self.lr.read(pair.lr, box)
        _check_read(lr, (height, width), self.lr, pair.lr)
        hr = interp = None
        if self.hr is not None:
            hr, gray = self.hr.read(pair.hr, hr_box)
            _check_read(hr, hr_box[2:], self.hr, pair.hr)
        if self.interp is not None:
            interp, _ = self.interp.read(pair.interp, hr_box)
            _check_read(interp, hr_box[2:], self.interp, pair.interp)
        if self.augment and rng is not None:
            lr, hr, interp = random_flips([lr, hr, interp], rng)
        item = {"name": without_extension(pair.name), "lr": to_tensor(lr), "gray": gray}
        if hr is not None:
            item["hr"] = to_tensor(hr)
        if interp is not None:
            item["lr_interp"] = to_tensor(interp)
        if self.metadata is not None:
            item["metadata"] = torch.from_numpy(self.metadata.values[position])
        return item


def _check_read(image: np.ndarray, size: tuple[int, int], source: ImageSource, index: int) -> None:
    # a file replaced after the scan would otherwise surface as an obscure batching error
    if tuple(image.shape[:2]) != tuple(size):
        raise DataError(f"{source.label(index)}: the image changed after rumpy checked it (a {size[1]}x{size[0]} "
                        f"region came back as {image.shape[1]}x{image.shape[0]}); restore the file and resume")


def set_where(ctx: DatasetContext) -> str:
    """The config path of a set's table, for messages (``data.training_sets.div2k``)."""
    return f"data.{'training' if ctx.split == 'train' else 'eval'}_sets.{ctx.set_id}"


def select_images(names: list[str], params: PairedParams, split: str, where: str, base_dir: Path) -> list[int]:
    """Indices of the LR images the set uses: the images chosen by ``cutoff`` (which wins), an
    ``image_shortlist`` or the ``name`` split (all otherwise), each with all its degraded
    copies, narrowed by ``group_select`` to the listed copy numbers."""
    copies = [split_copy(without_extension(name)) for name in names]
    first_file = {}  # image -> its first file, whose name splits and messages use
    for (image, _), name in zip(copies, names):
        first_file.setdefault(image, name)
    images = list(first_file)
    if params.cutoff is not None:
        chosen = apply_cutoff(len(images), params.cutoff, where)
    elif params.image_shortlist is not None:
        listed = _read_name_list(user_path(params.image_shortlist, base_dir, f"{where}.image_shortlist"), f"{where}.image_shortlist")
        chosen = apply_shortlist(images, listed, where)
    elif params.name is not None:
        chosen = apply_standard_split(list(first_file.values()), params.name, split, where)
    else:
        chosen = list(range(len(images)))
    kept = {images[i] for i in chosen}
    selected = [i for i, (image, _) in enumerate(copies) if image in kept]
    if params.group_select is not None:
        ids = {params.group_select} if isinstance(params.group_select, int) else set(params.group_select)
        selected = [i for i in selected if copies[i][1] in ids]
        if not selected:
            raise DataError(f"{where}.group_select: no image named <stem>_q<id> with id in {sorted(ids)}; "
                            f"check the ids against the file names")
    return selected


def requested_metadata(params: PairedParams, ctx: DatasetContext, where: str) -> tuple[str, ...]:
    """The metadata names items carry: the model's, checked against the set's ``metadata`` list."""
    offered = params.metadata
    if params.metadata_list is not None:
        if offered is not None:
            raise ConfigError(f"{where}.metadata_list: given together with metadata; keep one")
        offered = _read_name_list(user_path(params.metadata_list, ctx.base_dir, f"{where}.metadata_list"), f"{where}.metadata_list")
    if offered is not None:
        lowered = {n.lower() for n in offered}
        for name in ctx.metadata:
            if name.lower() not in lowered:
                raise ConfigError(f"{where}.metadata: the model uses '{name}', which this set does not offer "
                                  f"({', '.join(offered) or 'none'}); add it to the list")
    return tuple(ctx.metadata)


def _read_name_list(path: Path, where: str) -> list[str]:
    if not path.is_file():
        raise ConfigError(f"{where}: file {path} does not exist; check the path")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{where}: {path} is not a UTF-8 text file; list one name per line") from None
    if "\0" in text:
        raise DataError(f"{where}: {path} is not a text file (it holds NUL bytes); list one name per line")
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_metadata(params: PairedParams, ctx: DatasetContext, lr: ImageSource, pairs: list[Pair],
                  names: tuple[str, ...], where: str) -> MetadataTable | None:
    """The metadata table of the set's images for ``names`` (None when no name is needed)."""
    if not names:
        return None
    key = f"{where}.degradation_metadata"
    if params.degradation_metadata is None:
        raise ConfigError(f"{key}: the model uses metadata ({', '.join(names)}); set it to the metadata CSV "
                          f"or '{ON_SITE}'")
    if params.degradation_metadata.lower() == ON_SITE:
        table = lr.site_metadata(key)
    else:
        table = read_metadata_csv(user_path(params.degradation_metadata, ctx.base_dir, key), key)
    return pair_metadata(table, lr, pairs, names, ctx.scale, key)


def pair_metadata(table: MetadataCSV, lr: ImageSource, pairs: list[Pair], names: tuple[str, ...], scale: int,
                  key: str) -> MetadataTable:
    """The rows of ``table`` for the paired LR images, by name (with or without extension or
    scale suffix), as the values of ``names``; ``key`` names the option in errors."""
    images = [(lr.label(p.lr), [p.name, *stem_candidates(p.name, scale)]) for p in pairs]
    return build_table(table, names, images, key)


def build_paired(params: PairedParams, ctx: DatasetContext) -> Dataset:
    """The ``paired`` dataset factory: select, pair and check the images, load their metadata."""
    where = set_where(ctx)
    if params.online_degradations:
        return build_online(params, ctx, where)
    if params.lr is None:
        raise DataError(f"{where}.lr: missing required key (folder of low-resolution images)")
    if params.hr is None and ctx.needs_hr:
        raise DataError(f"{where}.hr: missing required key (folder of high-resolution images)")
    if params.hr is not None and ctx.task == "regression":
        raise ConfigError(f"{where}.hr: a regression model reads only the LR images (its targets come from the "
                          f"metadata); remove hr")
    names = requested_metadata(params, ctx, where)
    lr = open_source(params.lr, "lr", ctx.base_dir, where, params.recursive_search)
    hr = open_source(params.hr, "hr", ctx.base_dir, where, params.recursive_search) if params.hr else None
    interp = None
    if "lr_interp" in ctx.inputs:
        interp = (open_source(params.lr_interp, "lr_interp", ctx.base_dir, where, params.recursive_search)
                  if params.lr_interp is not None else UpscaledSource(lr, ctx.scale))
    selected = select_images(lr.names, params, ctx.split, where, ctx.base_dir)
    pairs = pair_sources(lr, selected, hr, interp, ctx.scale, where)
    if params.crop:
        for pair in pairs:
            if min(pair.lr_size) < params.crop:
                h, w = pair.lr_size
                raise DataError(f"{lr.label(pair.lr)}: image is {w}x{h}, smaller than {where}.crop = {params.crop}; "
                                f"lower crop or remove the image")
    metadata = load_metadata(params, ctx, lr, pairs, names, where)
    train = ctx.split == "train"
    dataset = PairedImages(lr, hr, interp, pairs, ctx.scale, params.crop, params.random_augment and train,
                           params.repeat if train else 1, metadata, params.cache)
    if params.cache is True:
        dataset.keep_in_memory()
    return dataset


def build_online(params: PairedParams, ctx: DatasetContext, where: str) -> OnlineDegradedImages:
    """A set whose LR images the online pipeline makes from its HR images."""
    for key in ("lr", "lr_interp", "degradation_metadata"):
        if getattr(params, key) is not None:
            raise ConfigError(f"{where}.{key}: not used with online_degradations, which makes LR images (and their "
                              f"metadata) from hr; remove one of them")
    if params.hr is None:
        raise DataError(f"{where}.hr: missing required key (folder of high-resolution images to degrade)")
    names = requested_metadata(params, ctx, where)
    pipeline = build_pipeline(ctx.online_pipeline, ctx.scale, Path(ctx.base_dir), where)
    on_device = runs_on_device(ctx.online_pipeline) and ctx.split == "train"
    if on_device and (names or "lr_interp" in ctx.inputs):
        raise ConfigError(f"data.online_pipeline.on_device: the model takes {'metadata' if names else 'lr_interp'}, "
                          f"which the device pipeline does not give; set on_device = false")
    hr = open_source(params.hr, "hr", ctx.base_dir, where, params.recursive_search)
    selected = select_images(hr.names, params, ctx.split, where, ctx.base_dir)
    train = ctx.split == "train"
    dataset = OnlineDegradedImages(hr, selected, pipeline, ctx.scale, params.crop, params.random_augment and train,
                                   params.repeat if train else 1, names, where, "lr_interp" in ctx.inputs,
                                   params.cache, on_device)
    if params.cache is True:
        dataset.keep_in_memory()
    for index, size in zip(selected, dataset.lr_sizes):
        if params.crop and min(size) < params.crop:
            h, w = hr.size(index)
            raise DataError(f"{hr.label(index)}: image is {w}x{h}, too small for {where}.crop = {params.crop} "
                            f"at x{ctx.scale}; lower crop or remove the image")
    return dataset
