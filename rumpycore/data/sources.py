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


class MemorySource:
    """Another source's images decoded once, up front, and kept in memory (``cache = true``).

    Only the images in ``indices`` are decoded. Loader workers started by fork share the
    decoded arrays with the main process instead of copying them.
    """

    def __init__(self, source: ImageSource, indices: list[int]) -> None:
        self.source = source
        self.names = source.names
        self.images = {index: source.read(index) for index in sorted(set(indices))}

    def describe(self) -> str:
        return self.source.describe()

    def label(self, index: int) -> str:
        return self.source.label(index)

    def size(self, index: int) -> tuple[int, int]:
        return self.source.size(index)

    def read(self, index: int, box: Box | None = None) -> tuple[np.ndarray, bool]:
        image, gray = self.images[index]
        if box is not None:
            top, left, height, width = box
            image = image[top : top + height, left : left + width]
        return image, gray

    def site_metadata(self, where: str) -> MetadataCSV:
        return self.source.site_metadata(where)
