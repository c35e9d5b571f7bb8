"""Paired LR/HR image folders: the core's default dataset type (``type = "paired"``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError
from ..params import option
from ..specs import DatasetContext
from .images import image_header, list_images, load_rgb


@dataclass
class PairedParams:
    """Keys of a ``type = "paired"`` set table."""

    lr: str | None = option(None, help="folder of low-resolution images")
    hr: str | None = option(None, help="folder of high-resolution images, matched to LR by file name")
    crop: int | None = option(None, min=1, help="LR patch size; the HR patch is crop*scale at the aligned position")
    random_augment: bool = option(False, help="random flips and 90-degree rotations, same for LR and HR")
    cutoff: int | list[int] | None = option(None, min=0, help="n: the first n images; [a, b]: images a..b-1")
    recursive_search: bool = option(False, help="also look in sub-folders")
    repeat: int = option(1, min=1, help="training: visit each image this many times per epoch (fresh crops each time)")


@dataclass(frozen=True)
class Pair:
    """One LR image, its HR partner (if any) and the LR size read from the header."""

    name: str
    lr: Path
    hr: Path | None
    lr_size: tuple[int, int]


def _stem_without_scale(stem: str, scale: int) -> str:
    suffix = f"x{scale}"
    return stem[: -len(suffix)] if stem.lower().endswith(suffix) and len(stem) > len(suffix) else stem


def pair_folders(lr_dir: Path, hr_dir: Path | None, scale: int, where: str, recursive: bool = False) -> list[Pair]:
    """Match LR to HR files by stem (``babyx4.png`` pairs with ``baby.png``) and check sizes.

    Reads only image headers. An LR file without HR partner, an unreadable file, or an HR
    size that is not the LR size times ``scale`` (after MATLAB-style cropping of the HR to a
    multiple of the scale) is a one-line DataError naming the file.
    """
    lr_files = list_images(lr_dir, f"{where}.lr", recursive)
    hr_by_stem: dict[str, Path] = {}
    if hr_dir is not None:
        for path in list_images(hr_dir, f"{where}.hr", recursive):
            key = str(path.relative_to(hr_dir).with_suffix(""))
            hr_by_stem.setdefault(key, path)
    pairs = []
    for lr in lr_files:
        rel = lr.relative_to(lr_dir).with_suffix("")
        lw, lh, _ = image_header(lr)
        hr = None
        if hr_dir is not None:
            key = str(rel)
            hr = hr_by_stem.get(key) or hr_by_stem.get(str(rel.with_name(_stem_without_scale(rel.name, scale))))
            if hr is None:
                raise DataError(f"{lr}: no HR image with the same name in {hr_dir}; add it or remove the LR file")
            hw, hh, _ = image_header(hr)
            if hw // scale != lw or hh // scale != lh:
                raise DataError(
                    f"{lr}: LR is {lw}x{lh} but HR {hr.name} is {hw}x{hh}, which is not x{scale}; "
                    f"check the scale or the files"
                )
        pairs.append(Pair(str(rel), lr, hr, (lh, lw)))
    return pairs


def select(pairs: list[Pair], cutoff: int | list[int] | None, where: str) -> list[Pair]:
    """Apply ``cutoff``: an int keeps the first n images, ``[a, b]`` keeps images a..b-1."""
    if cutoff is None:
        return pairs
    if isinstance(cutoff, int):
        chosen = pairs[:cutoff]
    else:
        if len(cutoff) != 2 or cutoff[0] >= cutoff[1]:
            raise DataError(f"{where}.cutoff: expected n or [start, end] with start < end, got {cutoff}")
        chosen = pairs[cutoff[0] : cutoff[1]]
    if not chosen:
        raise DataError(f"{where}.cutoff: {cutoff} selects no images out of {len(pairs)}")
    return chosen


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``H x W x C`` uint8 array to a contiguous ``C x H x W`` uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def random_patch(lr: np.ndarray, hr: np.ndarray | None, crop: int, scale: int,
                 rng: np.random.Generator | None, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """An LR patch of ``crop`` pixels and the aligned HR patch (centred when ``rng`` is None)."""
    h, w = lr.shape[:2]
    if crop > h or crop > w:
        raise DataError(f"{name}: image is {w}x{h}, smaller than the crop of {crop}; lower crop or drop the image")
    if rng is None:
        top, left = (h - crop) // 2, (w - crop) // 2
    else:
        top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    lr = lr[top : top + crop, left : left + crop]
    if hr is not None:
        hr = hr[top * scale : (top + crop) * scale, left * scale : (left + crop) * scale]
    return lr, hr


def random_flips(images: list[np.ndarray | None], rng: np.random.Generator) -> list[np.ndarray | None]:
    """Apply one random draw of horizontal flip, vertical flip and transpose to every image."""
    hflip, vflip, transpose = (bool(b) for b in rng.integers(0, 2, size=3))
    out = []
    for im in images:
        if im is not None:
            if hflip:
                im = im[:, ::-1]
            if vflip:
                im = im[::-1]
            if transpose:
                im = im.transpose(1, 0, 2)
        out.append(im)
    return out


class PairedImages(Dataset):
    """LR/HR pairs read from folders, decoded per access, cropped and augmented per sample."""

    def __init__(self, pairs: list[Pair], scale: int, crop: int | None, augment: bool, repeat: int = 1) -> None:
        self.pairs = pairs
        self.scale = scale
        self.crop = crop
        self.augment = augment
        self.repeat = repeat

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
        pair = self.pairs[index % len(self.pairs)]
        lr, gray = load_rgb(pair.lr)
        hr = None
        if pair.hr is not None:
            hr, _ = load_rgb(pair.hr)
            h, w = lr.shape[0] * self.scale, lr.shape[1] * self.scale
            if hr.shape[0] < h or hr.shape[1] < w:
                raise DataError(f"{pair.hr}: HR is smaller than LR x{self.scale}; check the files")
            hr = hr[:h, :w]  # MATLAB's modcrop: how the benchmark LR sets were made
        if self.crop:
            lr, hr = random_patch(lr, hr, self.crop, self.scale, rng, str(pair.lr))
        if self.augment and rng is not None:
            lr, hr = random_flips([lr, hr], rng)
        item = {"name": pair.name, "lr": to_tensor(lr), "gray": gray}
        if hr is not None:
            item["hr"] = to_tensor(hr)
        return item


def build_paired(params: PairedParams, ctx: DatasetContext) -> PairedImages:
    """The ``paired`` dataset factory: scan and pair the folders, then wrap them."""
    where = f"data.{'training' if ctx.split == 'train' else 'eval'}_sets.{ctx.set_id}"
    if params.lr is None:
        raise DataError(f"{where}.lr: missing required key (folder of low-resolution images)")
    if params.hr is None and ctx.needs_hr:
        raise DataError(f"{where}.hr: missing required key (folder of high-resolution images)")
    lr_dir = _resolve(ctx.base_dir, params.lr)
    hr_dir = _resolve(ctx.base_dir, params.hr) if params.hr is not None else None
    pairs = pair_folders(lr_dir, hr_dir, ctx.scale, where, params.recursive_search)
    pairs = select(pairs, params.cutoff, where)
    if params.crop:
        for pair in pairs:
            if min(pair.lr_size) < params.crop:
                h, w = pair.lr_size
                raise DataError(f"{pair.lr}: image is {w}x{h}, smaller than {where}.crop = {params.crop}; "
                                f"lower crop or remove the image")
    train = ctx.split == "train"
    return PairedImages(pairs, ctx.scale, params.crop, params.random_augment and train,
                        params.repeat if train else 1)


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(base) / path
