"""Decoded sets in memory: one buffer per source, filled once, shared by every loader worker.

By default (``cache = "auto"`` in a set, ``[data] cache_budget = "auto"``) a run decodes
its training sets, then its eval sets, into memory for as long as they fit the budget, so the
files are decoded once rather than at every visit. The choice is made from the image
headers while the run is checked; the decoding happens when every check has passed. The
images of a source live in one contiguous, read-only uint8 buffer allocated before the loader
workers start: workers started by ``fork`` (the loader's context on Linux) read the parent's
pages, and since nothing writes to the buffer no worker gets a copy of it
(``benchmarks/memory.py`` measures this). What was decoded, and what did not fit with what
``rumpy pack`` would save, is said in one line each.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .metadata import MetadataCSV
from .sources import Box, FolderSource, ImageSource

AUTO = "auto"

AUTO_BUDGET_SHARE = 0.5
"""Share of the memory available at start that ``cache_budget = "auto"`` allows, split
evenly between the training processes of this machine."""


class MemorySource:
    """The ``indices`` images of another source, decoded once into one buffer (``cache``)."""

    def __init__(self, source: ImageSource, indices: Sequence[int]) -> None:
        self.source = source
        self.names = source.names
        wanted = sorted(set(indices))
        sizes = np.array([source.size(i) for i in wanted], dtype=np.int64).reshape(-1, 2)
        ends = np.cumsum(sizes[:, 0] * sizes[:, 1] * 3)
        self.buffer = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.uint8)
        self.slots = {index: (int(end - h * w * 3), int(h), int(w)) for index, end, (h, w) in zip(wanted, ends, sizes)}
        self.gray = dict(zip(wanted, _map(self._fill, wanted, getattr(source, "parallel_reads", False))))
        # reads hand out views: a write through one would change the set for every later
        # sample (and copy pages into a forked worker), so the buffer refuses writes
        self.buffer.flags.writeable = False

    def _fill(self, index: int) -> bool:
        offset, height, width = self.slots[index]
        image, gray = self.source.read(index)
        if image.shape != (height, width, 3):  # the header and the pixels disagree: an internal bug
            raise RuntimeError(f"{self.source.label(index)}: decoded {image.shape}, header said {height}x{width}")
        self.buffer[offset : offset + image.size].reshape(height, width, 3)[...] = image
        return gray

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return self.buffer.nbytes

    def describe(self) -> str:
        return self.source.describe()

    def label(self, index: int) -> str:
        return self.source.label(index)

    def size(self, index: int) -> tuple[int, int]:
        return self.source.size(index)

    def read(self, index: int, box: Box | None = None) -> tuple[np.ndarray, bool]:
        offset, height, width = self.slots[index]
        image = self.buffer[offset : offset + height * width * 3].reshape(height, width, 3)
        if box is not None:
            top, left, box_height, box_width = box
            image = image[top : top + box_height, left : left + box_width]
        return image, self.gray[index]

    def site_metadata(self, where: str) -> MetadataCSV:
        return self.source.site_metadata(where)


def _map(fill: Callable[[int], bool], indices: list[int], parallel: bool) -> list[bool]:
    if not parallel or len(indices) < 2:
        return [fill(i) for i in indices]
    with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
        return list(pool.map(fill, indices))


class Cacheable(Protocol):
    """What a dataset offers the cache planner (the core's ``paired`` sets do)."""

    cache: bool | str
    """The set's ``cache`` key: True, False or ``"auto"``."""

    def sources(self) -> list[tuple[str, ImageSource, list[int]]]:
        """``(role, source, indices of the images used)`` of each image source."""

    def keep_in_memory(self) -> None:
        """Replace every source by a :class:`MemorySource` of the images used."""

    def __len__(self) -> int:
        """Samples per pass over the set."""


@dataclass
class CachePlan:
    """Which sets go into memory (decided from the headers alone) and what to say about it.

    :meth:`apply` does the decoding, after everything that can fail cheaply has been checked.
    """

    budget: int
    chosen: list[tuple[str, Any]] = field(default_factory=list)
    """``(config path, dataset)`` of the sets to decode."""
    images: int = 0
    bytes: int = 0
    """Bytes in memory once applied, ``cache = true`` sets included."""
    too_large: list[str] = field(default_factory=list)
    """One line per set that stays on disk, with what packing it would save."""
    training_decoded: bool = False
    """Once applied, every training set reads decoded images (from memory or a packed file)."""

    def apply(self) -> None:
        """Decode the chosen sets and print what was done (once per machine)."""
        started = time.perf_counter()
        for _, dataset in self.chosen:
            dataset.keep_in_memory()
        lines = list(self.too_large)
        if self.chosen:
            names = ", ".join(where.removeprefix("data.") for where, _ in self.chosen)
            lines.insert(0, f"rumpy: data: decoded {self.images} images of {names} into memory once "
                            f"({_gb(self.bytes)} of the {_gb(self.budget)} budget, data.cache_budget; "
                            f"{time.perf_counter() - started:.1f} s); loader workers share them")
        if os.environ.get("LOCAL_RANK", "0") == "0":
            for line in lines:
                print(line, file=sys.stderr)


def parse_budget(value: float | str, local_processes: int = 1) -> int:
    """``cache_budget`` in bytes: gigabytes as given, or ``"auto"`` (half the available memory,
    shared by the ``local_processes`` training processes of this machine)."""
    if value == AUTO:
        return int(available_memory() * AUTO_BUDGET_SHARE / max(local_processes, 1))
    return int(float(value) * 1e9)


def plan(sets: Sequence[tuple[str, Any, bool]], budget: int) -> CachePlan:
    """Choose the sets (``(config path, dataset, is a training set)``, training sets first) to
    decode into memory: those with ``cache = "auto"``, in order, while they fit ``budget``.

    Sets with ``cache = true`` were decoded when built and count against the budget first;
    ``cache = false`` and datasets that are not :class:`Cacheable` are left alone. For a set
    that does not fit, the plan says what packing its folders would save.
    """
    result = CachePlan(budget=budget)
    result.bytes = sum(s.nbytes for _, d, _ in sets for _, s, _ in _sources(d) if isinstance(s, MemorySource))
    chosen = set()
    for where, dataset, _ in sets:
        if getattr(dataset, "cache", False) != AUTO:
            continue
        on_disk = [(role, s, i) for role, s, i in _sources(dataset) if not isinstance(s, MemorySource)]
        if not on_disk:
            continue
        need = sum(_decoded_size(source, indices) for _, source, indices in on_disk)
        if result.bytes + need <= budget:
            result.chosen.append((where, dataset))
            chosen.add(id(dataset))
            result.images += sum(len(set(indices)) for _, _, indices in on_disk)
            result.bytes += need
        else:
            result.too_large.append(_pack_advice(where, dataset, on_disk, need, budget - result.bytes))
    result.training_decoded = all(id(d) in chosen or _reads_decoded(d) for _, d, training in sets if training)
    return result


def _sources(dataset: Any) -> list[tuple[str, ImageSource, list[int]]]:
    sources = getattr(dataset, "sources", None)
    return sources() if sources is not None else []


def _decoded_size(source: ImageSource, indices: Sequence[int]) -> int:
    return sum(h * w * 3 for h, w in (source.size(i) for i in sorted(set(indices))))


def _reads_decoded(dataset: Any) -> bool:
    """Whether every image source of ``dataset`` serves decoded pixels (memory or a packed file)."""
    from .hdf5 import PackedSource

    sources = _sources(dataset)
    return bool(sources) and all(isinstance(s, (MemorySource, PackedSource)) for _, s, _ in sources)


def _pack_advice(where: str, dataset: Any, on_disk: list[tuple[str, ImageSource, list[int]]], need: int,
                 room: int) -> str:
    """One line: the set stays on disk; what decoding costs per epoch; the pack command that avoids it."""
    line = (f"rumpy: data: {where.removeprefix('data.')} needs {_gb(need)} decoded, more than the "
            f"{_gb(max(room, 0))} left of data.cache_budget, so it is decoded per sample")
    folders = [(role, source, indices) for role, source, indices in on_disk if isinstance(source, FolderSource)]
    if not folders:
        return line
    seconds = sum(_decode_seconds(source, indices) for _, source, indices in folders)
    flags = " ".join(f"--{role.replace('_', '-')} {source.folder}" for role, source, _ in folders)
    return (f"{line} (about {seconds * len(dataset):.0f} CPU-s per epoch, {1000 * seconds:.0f} ms per sample); "
            f"'rumpy pack {flags} --out {where.rsplit('.', 1)[-1]}.h5' and pointing the set at the file would "
            f"save most of that")


def _decode_seconds(source: ImageSource, indices: Sequence[int]) -> float:
    """Seconds one decode of the set's first image takes (a sample of the per-epoch cost),
    timed on the second decode so that loading the decoder and the file is not counted."""
    source.read(min(indices))
    start = time.perf_counter()
    source.read(min(indices))
    return time.perf_counter() - start


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable``; total memory elsewhere)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def local_processes() -> int:
    """Training processes on this machine (``torchrun`` sets ``LOCAL_WORLD_SIZE``)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)


def _gb(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.0f} MB"
