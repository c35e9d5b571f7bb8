"""Where a set's images come from: a folder of image files, or a group of a packed HDF5 file.

Both kinds of source name their images by relative path (``sub/baby.png``), list them in
natural order, tell an image's size without decoding it, and read an image (or a region of
it) as ``H x W x 3`` uint8 RGB. The datasets are written against this interface only, so
reading a packed file gives exactly the batches that reading the folders gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import DataError
from ..safety import user_path
from .images import image_header, list_images, load_rgb, relative_name
from .metadata import MetadataCSV, read_metadata_csv

Box = tuple[int, int, int, int]
"""A region of an image: ``(top, left, height, width)`` in pixels."""

PACKED_SUFFIXES = (".h5", ".hdf5")

SITE_METADATA_FILES = ("degradation_metadata.csv", "qpi_slices.csv")
"""Metadata files looked for beside the LR images, in order (the second is the original's legacy name)."""


def without_extension(name: str) -> str:
    """``sub/baby.png`` -> ``sub/baby``."""
    folder, _, base = name.rpartition("/")
    return (folder + "/" if folder else "") + (base.rsplit(".", 1)[0] if "." in base else base)


class ImageSource(Protocol):
    """A named, ordered collection of images."""

    names: list[str]
    """Relative image names (with extension, '/'-separated), in natural order."""

    def describe(self) -> str:
        """The folder or packed group, as error messages name it."""

    def label(self, index: int) -> str:
        """How error messages name image ``index`` (a file path, or ``FILE.h5:lr/name``)."""

    def size(self, index: int) -> tuple[int, int]:
        """``(height, width)`` of image ``index`` without decoding it; a DataError if unusable."""

    def read(self, index: int, box: Box | None = None) -> tuple[np.ndarray, bool]:
        """Image ``index`` (or the ``box`` region of it) as uint8 RGB, and whether it is grayscale."""

    def site_metadata(self, where: str) -> MetadataCSV:
        """The metadata stored with the images (``degradation_metadata = "on_site"``)."""


class FolderSource:
    """Image files in a folder (optionally its sub-folders), decoded on every read."""

    parallel_reads = True  # decoding releases the GIL, so threads can fill a cache

    def __init__(self, folder: Path, where: str, recursive: bool = False) -> None:
        self.folder = folder
        self.paths = list_images(folder, where, recursive)
        self.names = [relative_name(p, folder) for p in self.paths]

    def describe(self) -> str:
        return str(self.folder)

    def label(self, index: int) -> str:
        return str(self.paths[index])

    def size(self, index: int) -> tuple[int, int]:
        width, height, _ = image_header(self.paths[index])
        return height, width

    def read(self, index: int, box: Box | None = None) -> tuple[np.ndarray, bool]:
        image, gray = load_rgb(self.paths[index])
        if box is not None:
            top, left, height, width = box
            image = image[top : top + height, left : left + width]
        return image, gray

    def site_metadata(self, where: str) -> MetadataCSV:
        for name in SITE_METADATA_FILES:
            if (self.folder / name).is_file():
                return read_metadata_csv(self.folder / name, where)
        raise DataError(f"{where}: 'on_site' but {self.folder} holds no {SITE_METADATA_FILES[0]}; "
                        f"write one with rumpy degrade or give the CSV's path")


def open_source(value: str, role: str, base_dir: Path, where: str, recursive: bool = False) -> ImageSource:
    """The source a set key points at: a packed ``.h5`` file (its ``role`` group) or a folder.

    ``role`` is the key (``lr``, ``hr``, ``lr_interp``); a packed file holds one group per
    role, so ``lr`` and ``hr`` may both name the same file.
    """
    path = user_path(value, base_dir, f"{where}.{role}")
    if path.suffix.lower() in PACKED_SUFFIXES:
        from .hdf5 import PackedSource

        return PackedSource(path, role, f"{where}.{role}")
    return FolderSource(path, f"{where}.{role}", recursive)


class UpscaledSource:
    """Another source's images enlarged by ``scale`` with MATLAB's bicubic ``imresize``: the
    ``lr_interp`` images of a set that has no folder of them.

    A region is computed from the LR pixels around it (a margin wider than the kernel, or the
    image border with its mirror padding), so it equals the same region of the whole image
    upscaled, which is what ``rumpy degrade --pipeline upsample`` writes.
    """

    MARGIN = 4
    """LR pixels read beyond a region on each side: the bicubic kernel reaches 2."""

    def __init__(self, source: ImageSource, scale: int) -> None:
        self.source = source
        self.scale = scale
        self.names = source.names
        self.parallel_reads = getattr(source, "parallel_reads", False)

    def describe(self) -> str:
        return f"{self.source.describe()} (upscaled x{self.scale})"

    def label(self, index: int) -> str:
        return f"{self.source.label(index)} (upscaled x{self.scale})"

    def size(self, index: int) -> tuple[int, int]:
        height, width = self.source.size(index)
        return height * self.scale, width * self.scale

    def read(self, index: int, box: Box | None = None) -> tuple[np.ndarray, bool]:
        from ..degrade.resize import imresize

        s = self.scale
        if box is None:
            image, gray = self.source.read(index)
            return imresize(image, float(s)), gray
        top, left, height, width = box
        lr_height, lr_width = self.source.size(index)
        rows = _span(top, height, s, lr_height, self.MARGIN)
        columns = _span(left, width, s, lr_width, self.MARGIN)
        region, gray = self.source.read(index, (rows[0], columns[0], rows[1] - rows[0], columns[1] - columns[0]))
        up = imresize(np.ascontiguousarray(region), float(s))
        # the region's upscaled rows and columns start at LR pixel rows[0] * s, columns[0] * s
        y, x = top - rows[0] * s, left - columns[0] * s
        return up[y : y + height, x : x + width], gray

    def site_metadata(self, where: str) -> MetadataCSV:
        return self.source.site_metadata(where)


def _span(start: int, length: int, scale: int, limit: int, margin: int) -> tuple[int, int]:
    """The LR pixels ``[first, last)`` whose upscaled image covers HR pixels ``start..start+length``."""
    first = max(start // scale - margin, 0)
    last = min(-(-(start + length) // scale) + margin, limit)
    return first, last
