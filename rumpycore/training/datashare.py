"""How much of an epoch went to data: waiting for batches, and steps slowed by loader workers.

Time spent blocked on the loader (``data-wait-time``) misses the other cost of loading: loader
workers decoding images on the cores the training step needs make every step slower. The
step alone is measured as the fastest full-size step of the run so far; the last steps of
every epoch run after the workers have finished their share, so an uncontended step is seen
each epoch. An epoch's data time is then its training time less what its steps would have
taken alone (never less than the wait itself). Without loader workers the training process
loads the batches itself, so the wait is the whole cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch


class DataShare:
    """Step times of the current epoch and the fastest full-size step of the run."""

    def __init__(self) -> None:
        self.fastest = math.inf
        self.full_steps = 0
        self.partial_seconds = 0.0

    def start_epoch(self) -> None:
        """Forget the previous epoch's steps (the fastest step is kept)."""
        self.full_steps = 0
        self.partial_seconds = 0.0

    def step(self, seconds: float, batch: Mapping[str, Any], batch_size: int) -> None:
        """Record one training step of ``seconds`` on ``batch``."""
        if batch_length(batch) == batch_size:
            self.full_steps += 1
            self.fastest = min(self.fastest, seconds)
        else:
            self.partial_seconds += seconds

    def data_time(self, train_time: float, wait: float, workers: int) -> float:
        """Seconds of the epoch's ``train_time`` lost to data: waiting plus steps slowed by the
        ``workers`` loader processes (without workers, loading happens inside the wait)."""
        if not self.full_steps or not workers:
            return wait
        alone = self.full_steps * self.fastest + self.partial_seconds
        return min(max(train_time - alone, wait), train_time)


def batch_length(batch: Mapping[str, Any]) -> int | None:
    """Samples in a collated batch (the length of its first tensor)."""
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.ndim:
            return int(value.shape[0])
    return None
