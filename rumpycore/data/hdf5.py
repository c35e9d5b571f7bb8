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

import multiprocessing
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import DataError, UserError
from ..safety import remove, writable_folder
from ..scratch import clean_stale, scratch_path
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
                self.names, self.sizes, self.gray = _role_index(group, f"{where}: {path}:{role}")
                self.metadata_text = handle["metadata_csv"][()].decode() if "metadata_csv" in handle else None
        except (OSError, KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise DataError(f"{where}: {path} is not a readable packed file ({reason}); pack it again") from None
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


def _role_index(group: h5py.Group, where: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A role's names, sizes and gray flags, checked against its image datasets (shapes only,
    no pixels), so a damaged or hand-edited file is refused before training, not in a worker."""
    for key in ("names", "sizes", "gray", "images"):
        if key not in group:
            raise DataError(f"{where} lacks '{key}'; pack the folders again with rumpy pack")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group["names"][()]]
    sizes = np.asarray(group["sizes"][()], dtype=np.int64)
    gray = np.asarray(group["gray"][()], dtype=bool)
    images = group["images"]
    count = len(names)
    if sizes.shape != (count, 2) or gray.shape != (count,) or len(images) != count:
        raise DataError(f"{where} holds {count} names but {len(sizes)} sizes, {len(gray)} gray flags and "
                        f"{len(images)} images; pack the folders again with rumpy pack")
    for index in range(count):
        dataset = images.get(str(index))
        expected = (int(sizes[index][0]), int(sizes[index][1]), 3)
        if not isinstance(dataset, h5py.Dataset) or dataset.shape != expected or dataset.dtype != np.uint8:
            found = f"{dataset.shape} {dataset.dtype}" if isinstance(dataset, h5py.Dataset) else "nothing"
            raise DataError(f"{where}: image {index} ({names[index]}) should be uint8 {expected} but is {found}; "
                            f"pack the folders again with rumpy pack")
    return names, sizes, gray


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
    writable_folder(out.parent, "--out")
    if not out.parent.is_dir():
        raise DataError(f"{out}: folder {out.parent} does not exist; create it first")
    for source in sources.values():
        for index in range(len(source.names)):
            source.size(index)
    clean_stale(out.parent)
    tmp = scratch_path(out)
    try:
        failure = _write_in_child(tmp, sources, metadata_text, progress)
        if failure is not None:
            kind, text = failure
            raise DataError(text if kind == "data" else
                            f"{out}: could not be written ({text}); free disk space or fix permissions")
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, out)
    except BaseException:
        remove(tmp, within=out.parent)
        raise
    return PackResult({role: len(s.names) for role, s in sources.items()}, metadata_text is not None,
                      out.stat().st_size)


def _write_in_child(path: Path, sources: Mapping[str, ImageSource], metadata_text: str | None,
                    progress: Callable[[int], Any] | None) -> tuple[str, str] | None:
    """Write the packed file in a child process; returns why it failed, ``("data", message)`` for an
    unusable image or ``("write", reason)`` for a file that could not be written, or None.

    After a failed write HDF5 cannot be closed cleanly: releasing its objects repeats the
    failure on stderr and has crashed the process. The child leaves without that teardown,
    and whatever happens to it, this process reports one line and removes the partial file.
    """
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_write_file, args=(path, sources, metadata_text, send), daemon=True)
    child.start()
    send.close()
    failure = None
    while True:
        try:
            message = receive.recv()
        except EOFError:
            break
        if isinstance(message, tuple):
            failure = message
        elif progress is not None:
            progress(message)
    child.join()
    if failure is None and child.exitcode != 0:
        failure = ("write", f"the writing process ended with code {child.exitcode}")
    return failure


def _write_file(path: Path, sources: Mapping[str, ImageSource], metadata_text: str | None, report: Any) -> None:
    """The child's work: write the file, report each image (1) or why it failed, then leave at once,
    without the interpreter's teardown."""
    stderr = os.dup(2)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 2)  # closing a file after a failed write makes HDF5 repeat the failure many times
    try:
        with h5py.File(path, "w") as handle:
            handle.attrs["format"] = FORMAT
            handle.attrs["version"] = VERSION
            for role, source in sources.items():
                _write_role(handle, role, source, report.send)
            if metadata_text is not None:
                handle["metadata_csv"] = metadata_text.encode()
    except UserError as exc:
        report.send(("data", str(exc)))
        os._exit(1)
    except (OSError, RuntimeError) as exc:  # h5py reports some failed writes as RuntimeError
        report.send(("write", getattr(exc, "strerror", None) or " ".join(str(exc).split())[:200]))
        os._exit(1)
    except BaseException:
        os.dup2(stderr, 2)  # a bug: let its traceback through
        raise
    report.close()
    os._exit(0)


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
