"""Samplers and data loaders: reproducible per-sample randomness, size-bucketed evaluation."""

from __future__ import annotations

import bisect
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class ConcatSets(Dataset):
    """Several datasets behind one index, passing ``(index, seed)`` keys through."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        self.offsets = np.cumsum([0] + [len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.offsets[-1]

    def locate(self, index: int) -> tuple[Dataset, int]:
        """The dataset holding global ``index`` and the index within it."""
        which = bisect.bisect_right(self.offsets, index) - 1
        return self.datasets[which], index - self.offsets[which]

    def lr_size(self, index: int) -> tuple[int, int]:
        """LR size of item ``index``, if its dataset can tell without decoding."""
        dataset, local = self.locate(index)
        if hasattr(dataset, "lr_size"):
            return dataset.lr_size(local)
        return (-1, index)  # size unknown without decoding: a batch of its own

    def __getitem__(self, key: Any) -> dict:
        if isinstance(key, tuple):
            dataset, local = self.locate(key[0])
            return dataset[(local, key[1])]
        dataset, local = self.locate(key)
        return dataset[local]


class TrainSampler(Sampler):
    """Shuffled order per epoch plus a seed per sample, both derived from (seed, epoch).

    Each yielded key is ``(index, (seed, epoch, index))``; the dataset seeds its crop and
    augmentation from the second element, so a sample's randomness does not depend on which
    worker loads it, and resuming at any epoch replays exactly the same data. With several
    processes (DDP), each rank takes its own interleaved share of a common permutation.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.size = size
        self.seed = seed
        self.rank = rank
        self.world = world
        self.epoch = 1
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch produced next, leaving out its first ``skip`` samples of this rank
        (used to resume in the middle of an epoch)."""
        self.epoch = epoch
        self.skip = skip

    def __len__(self) -> int:
        return max(-(-self.size // self.world) - self.skip, 0)

    def __iter__(self) -> Iterator[tuple[int, tuple[int, int, int]]]:
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.size)
        per_rank = -(-self.size // self.world)
        padded = np.resize(order, per_rank * self.world)  # repeats the start so every rank gets as many
        for index in padded[self.rank :: self.world][self.skip :]:
            yield int(index), (self.seed, self.epoch, int(index))


class SizeBucketBatchSampler(Sampler):
    """Evaluation batches of up to ``batch_size`` images of equal LR size, in dataset order.

    Full-size evaluation images differ in size; padding would change what a convolutional
    model sees at the borders, so only equal sizes share a batch.
    """

    def __init__(self, dataset: Any, batch_size: int, rank: int = 0, world: int = 1) -> None:
        buckets: dict[tuple[int, int], list[int]] = {}
        for index in range(rank, len(dataset), world):
            buckets.setdefault(tuple(dataset.lr_size(index)), []).append(index)
        self.batches = [
            indices[i : i + batch_size] for indices in buckets.values() for i in range(0, len(indices), batch_size)
        ]
        self.batches.sort(key=lambda b: b[0])

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)


def detach_from_stop_signals(worker_id: int | None = None) -> None:
    """Move a loader worker out of the process group of ``rumpy``.

    A stop sent to the whole process group (Ctrl-C in a terminal, ``timeout``, ``kill -- -PGID``)
    then reaches the main process alone, which finishes the step and saves a resumable state
    while its workers keep serving it, instead of every worker dying (or printing) at once.
    A signal sent to a worker itself still ends it, so shutting the workers down works as usual.
    """
    try:
        os.setpgid(0, 0)
    except OSError:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # where groups cannot change, at least ignore Ctrl-C


def default_workers(decoded: bool, device: torch.device, cores: int) -> int:
    """Loader workers when the config does not say.

    Decoded training images (in memory or packed) cost a crop and a copy per sample: on the CPU
    the training process does that itself, since a worker would take cores from the step
    (measured on 2 cores: 0 workers is faster than 2, see benchmarks/README.md); on a GPU a
    few workers keep the next batches ready while the host launches the step. Images decoded
    per sample get one worker per core (at most 8).
    """
    if decoded:
        return 0 if device.type == "cpu" else min(4, cores // 4)
    return max(1, min(8, cores))


def default_threads(workers: int, decoded: bool, cores: int) -> int:
    """Threads of the training process's CPU operations when the config does not say: every
    core, less one per worker that decodes images (their work and the step's then do not
    take turns on the same cores)."""
    busy = 0 if decoded else workers
    return max(1, cores - busy)


def worker_context(workers: int) -> str | None:
    """How loader workers start: by ``fork`` on Linux, so they share the images decoded into
    memory before they start (other start methods would copy them into each worker); the
    platform's default elsewhere."""
    return "fork" if workers > 0 and sys.platform == "linux" else None


def train_loader(dataset: Dataset, batch_size: int, workers: int, seed: int, pin: bool,
                 drop_last: bool, rank: int = 0, world: int = 1) -> DataLoader:
    """The training loader: reproducible sampler, persistent workers, uint8 batches."""
    sampler = TrainSampler(len(dataset), seed, rank, world)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin,
        drop_last=drop_last,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=detach_from_stop_signals if workers > 0 else None,
        multiprocessing_context=worker_context(workers),
    )


def eval_loader(dataset: Dataset, batch_size: int, workers: int, pin: bool,
                rank: int = 0, world: int = 1) -> DataLoader:
    """An evaluation loader over equal-size batches in a fixed order."""
    return DataLoader(
        dataset,
        batch_sampler=SizeBucketBatchSampler(dataset, batch_size, rank, world),
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=workers > 0,
        worker_init_fn=detach_from_stop_signals if workers > 0 else None,
        multiprocessing_context=worker_context(workers),
    )


def stop_workers(loader: DataLoader) -> None:
    """End a loader's persistent worker processes now.

    torch stops them only when the loader's iterator is freed. Freed by the garbage collector
    (a finished run in a long-lived process), the iterator's queues can close before it does,
    and every worker then waits out a 5 s timeout before it is killed.
    """
    iterator = getattr(loader, "_iterator", None)
    loader._iterator = None
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) global generators."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
