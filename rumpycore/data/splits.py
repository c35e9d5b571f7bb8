"""Which images of a folder a set uses: ``cutoff`` slices, a shortlist of names, or a standard
dataset's split, optionally narrowed to some of the degraded copies of each image.

Copies written by ``rumpy degrade --multiples`` (``baby_q0.png``, ``baby_q1.png``) are one
image for selection: a slice or split takes or leaves all copies of an image together, so
copies of one photo never land on both sides of a train/eval boundary.

Standard splits select images by the number in their file name (``0801.png``,
``0801x4.png`` and ``000001.jpg`` are images 801, 801 and 1), so they work both on one
folder holding a whole dataset and on a folder holding only one part of it; in a folder
where no file name starts with a number they take images by position in natural order, as
the original toolbox did (with a note). Benchmark
test sets are evaluation-only; using one for training is refused, since that is almost
always a mistake that inflates the reported numbers.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

from ..errors import ConfigError, DataError
from ..params import closest
from .sources import without_extension

ALL = "all"

# name -> split -> inclusive range of image numbers, or ALL
STANDARD_SPLITS: dict[str, dict[str, tuple[int, int] | str]] = {
    "div2k": {"train": (1, 800), "eval": (801, 900)},
    "flickr2k": {"train": ALL},
    "set5": {"eval": ALL},
    "set14": {"eval": ALL},
    "b100": {"eval": ALL},
    "bsd100": {"eval": ALL},
    "urban100": {"eval": ALL},
    "manga109": {"eval": ALL},
    # CelebA's official partition (list_eval_partition.txt): 000001-162770 train, 162771-182637
    # validation; the test images (182638-202599) are never used by training.
    "celeba": {"train": (1, 162770), "eval": (162771, 182637)},
}

_LEADING_NUMBER = re.compile(r"\d+")
_COPY_SUFFIX = re.compile(r"_q(\d+)$")


def split_copy(stem: str) -> tuple[str, int | None]:
    """The image a degraded copy was made from and the copy's number: ``baby_q1`` -> (baby, 1);
    a name without the suffix is its own image: ``baby`` -> (baby, None)."""
    match = _COPY_SUFFIX.search(stem)
    return (stem[: match.start()], int(match.group(1))) if match and match.start() > 0 else (stem, None)


def apply_shortlist(images: Sequence[str], shortlist: Sequence[str], where: str) -> list[int]:
    """Indices of ``images`` (names without extension) listed in ``shortlist`` (with or without
    extension); a listed name missing from the folder is an error, since it is usually a typo."""
    wanted = {without_extension(name) for name in shortlist}
    missing = sorted(wanted - set(images))
    if missing:
        raise DataError(f"{where}.image_shortlist: {len(missing)} listed image(s) are not in the folder, e.g. "
                        f"{missing[0]}; fix the list or the folder")
    return [i for i, image in enumerate(images) if image in wanted]


def apply_cutoff(count: int, cutoff: int | Sequence[int], where: str) -> list[int]:
    """Indices kept by ``cutoff``: n keeps the first n images, ``[a, b]`` keeps images a..b-1."""
    if isinstance(cutoff, int):
        chosen = list(range(min(cutoff, count)))
    else:
        if len(cutoff) != 2 or cutoff[0] >= cutoff[1]:
            raise ConfigError(f"{where}.cutoff: expected n or [start, end] with start < end, got {list(cutoff)}")
        chosen = list(range(cutoff[0], min(cutoff[1], count)))
    if not chosen:
        raise DataError(f"{where}.cutoff: {cutoff} selects no images out of {count}")
    return chosen


def apply_standard_split(names: Sequence[str], dataset: str, split: str, where: str) -> list[int]:
    """Indices of ``names`` in the ``split`` of the standard dataset ``dataset`` (any case)."""
    splits = STANDARD_SPLITS.get(dataset.lower())
    if splits is None:
        suggestion = closest(dataset, STANDARD_SPLITS)
        hint = f"did you mean {suggestion}? " if suggestion else ""
        raise ConfigError(
            f"{where}.name: '{dataset}' has no standard split; {hint}known: {', '.join(STANDARD_SPLITS)} "
            f"(or remove name to use every image, or set cutoff)"
        )
    part = splits.get(split)
    if part is None:
        usage = "training" if split == "train" else "evaluation"
        raise ConfigError(
            f"{where}.name: {dataset} has no {usage} split (it is for {', '.join(_usage(s) for s in splits)} only); "
            f"remove name to use every image anyway"
        )
    if part == ALL:
        return list(range(len(names)))
    first, last = part
    if not any(_LEADING_NUMBER.match(_stem(name)) for name in names):
        return _by_position(len(names), dataset, split, first, last, where)
    chosen = [i for i, name in enumerate(names) if first <= _image_number(name, dataset, where) <= last]
    if not chosen:
        raise DataError(
            f"{where}.name: no image numbered {first}-{last} (the {dataset} {split} split) among {len(names)} images; "
            f"check the folder"
        )
    return chosen


def _by_position(count: int, dataset: str, split: str, first: int, last: int, where: str) -> list[int]:
    """Images ``first``..``last`` (from 1) in natural order: the original toolbox's split, for
    folders whose file names carry no image numbers."""
    chosen = list(range(first - 1, min(last, count)))
    if not chosen:
        raise DataError(f"{where}.name: the images are not numbered, and by position the {dataset} {split} split "
                        f"(images {first}-{last}) is past the {count} images of the folder; set cutoff instead")
    print(f"rumpy: note: {where}.name: the images are not numbered, so the {dataset} {split} split takes them by "
          f"position, images {first}-{min(last, count)} of {count} in natural order (as the original rumpy did)",
          file=sys.stderr)
    return chosen


def _stem(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _usage(split: str) -> str:
    return "training" if split == "train" else "evaluation"


def _image_number(name: str, dataset: str, where: str) -> int:
    match = _LEADING_NUMBER.match(_stem(name))
    if match is None:
        raise DataError(
            f"{where}.name: image {name} has no leading number, so the {dataset} split cannot place it; "
            f"use cutoff instead"
        )
    return int(match.group())
