"""Packed image sets: decoded uint8 images in one HDF5 file (``rumpy pack``), read by region.

Decoding a PNG costs far more than copying a patch out of a decoded array, so a packed
file keeps training fed with fewer loader workers. Layout (format ``rumpy-pack``, version 1)::

    /                    attrs: format, version
    /<role>/             one group per role: lr, hr, lr_interp (attrs: source folder)
    /<role>/names        relative image names (with extension), natural order
    /<role>/sizes        int32 (N, 2): height, width
    /<role>/gray         bool (N,): the file was grayscale
    /<role>/images/<i>   uint8 (height, width, 3), one contiguous dataset per image
    /metadata_csv        optional: the text of the LR images' degradation_metadata.csv

Contiguous (unchunked, uncompressed) per-image datasets let a random crop read only the
rows and columns it needs. A file is opened lazily in each process that reads it, never
shared across a fork, so any number of loader workers can read one file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import DataError
from .metadata import MetadataCSV, parse_metadata_csv
from .sources import Box, ImageSource

FORMAT = "rumpy-pack"
VERSION = 1
ROLES = ("lr", "hr", "lr_interp")


class PackedSource:
    """One role's images in a packed file; names, sizes and gray flags are read once."""

    def __init__(self, path: Path, role: str, where: str) -> None:
        self.path = path
        self.role = role
        if not path.is_file():
            raise DataError(f"{where}: packed file {path} does not exist; check the path or run rumpy pack")
        try:
            with h5py.File(path, "r") as handle:
                if handle.attrs.get("format") != FORMAT:
                    raise DataError(f"{where}: {path} is not a file written by rumpy pack; pack the folders with it")
                group = handle.get(role)
                if group is None:
                    held = ", ".join(r for r in ROLES if r in handle) or "none"
                    raise DataError(f"{where}: {path} holds no {role} images (it holds: {held}); "
                                    f"pack them with rumpy pack --{role.replace('_', '-')}")
                self.names = [n.decode() if isinstance(n, bytes) else str(n) for n in group["names"][()]]
                self.sizes = np.asarray(group["sizes"][()], dtype=np.int64)
                self.gray = np.asarray(group["gray"][()], dtype=bool)
                self.metadata_text = handle["metadata_csv"][()].decode() if "metadata_csv" in handle else None
        except OSError as exc:
            raise DataError(f"{where}: {path} is not a readable HDF5 file ({exc}); pack it again") from None
        self._handle: h5py.File | None = None
        self._images: h5py.Group | None = None
        self._pid: int | None = None

    def __getstate__(self) -> dict:
        # an open HDF5 handle cannot travel to another process; each process opens its own
        state = dict(self.__dict__)
        state.update(_handle=None, _images=None, _pid=None)
        return state

    def describe(self) -> str:
        return f"{self.path}:{self.role}"

    def label(self, index: int) -> str:
        return f"{self.path}:{self.role}/{self.names[index]}"

    def size(self, index: int) -> tuple[int, int]:
        height, width = self.sizes[index]
        return int(height), int(width)

    def read(self, index: int, box: Box | None = None) -> tuple[np.ndarray, bool]:
        if self._images is None or self._pid != os.getpid():
            self._handle = h5py.File(self.path, "r")
            self._images = self._handle[self.role]["images"]
            self._pid = os.getpid()
        dataset = self._images[str(index)]
        if box is None:
            image = dataset[()]
        else:
            top, left, height, width = box
            image = dataset[top : top + height, left : left + width]
        return image, bool(self.gray[index])

    def site_metadata(self, where: str) -> MetadataCSV:
        if self.metadata_text is None:
            raise DataError(f"{where}: 'on_site' but {self.path} holds no metadata; pack it with --metadata CSV")
        return parse_metadata_csv(self.metadata_text, f"{self.path}:metadata_csv")


@dataclass
class PackResult:
    """What ``pack`` wrote: images per role and the file size in bytes."""

    counts: dict[str, int]
    metadata: bool
    size: int


def pack(out: Path, sources: Mapping[str, ImageSource], metadata_text: str | None = None,
         overwrite: bool = False, progress: Callable[[int], Any] | None = None) -> PackResult:
    """Decode every image of ``sources`` (role -> source) into a new packed file ``out``.

    ``metadata_text`` is the text of a metadata CSV (already checked by the caller), stored
    for sets that ask for ``degradation_metadata = "on_site"``.

    Everything that can be checked cheaply (the output, every header) is checked before
    writing starts; the file is written under a temporary name and renamed when complete,
    so a failure leaves no partial file behind. ``progress(n)`` is called after each image.
    """
    if out.exists() and not overwrite:
        raise DataError(f"{out}: already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise DataError(f"{out}: folder {out.parent} does not exist; create it first")
    for source in sources.values():
        for index in range(len(source.names)):
            source.size(index)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as handle:
            handle.attrs["format"] = FORMAT
            handle.attrs["version"] = VERSION
            for role, source in sources.items():
                _write_role(handle, role, source, progress)
            if metadata_text is not None:
                handle["metadata_csv"] = metadata_text.encode()
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{out}: could not be written ({exc.strerror or exc}); free disk space or fix "
                        f"permissions") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PackResult({role: len(s.names) for role, s in sources.items()}, metadata_text is not None,
                      out.stat().st_size)


def _write_role(handle: h5py.File, role: str, source: ImageSource, progress: Callable[[int], Any] | None) -> None:
    group = handle.create_group(role)
    group.attrs["source"] = source.describe()
    images = group.create_group("images")
    count = len(source.names)
    sizes = np.zeros((count, 2), dtype=np.int32)
    gray = np.zeros(count, dtype=bool)
    for index in range(count):
        image, gray[index] = source.read(index)
        images.create_dataset(str(index), data=image)
        sizes[index] = image.shape[:2]
        if progress is not None:
            progress(1)
    group["names"] = np.array(source.names, dtype=h5py.string_dtype())
    group["sizes"] = sizes
    group["gray"] = gray
