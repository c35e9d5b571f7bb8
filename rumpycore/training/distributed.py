"""Multi-process training with DistributedDataParallel, as launched by ``torchrun``.

A run is distributed when the launcher sets ``WORLD_SIZE`` > 1 (``torchrun`` on one or many
nodes). ``gpu = "multiple"`` started without a launcher re-executes itself under
``torch.distributed.run`` with one process per visible GPU. Every rank validates the config
and builds the model; only rank 0 writes files and logs.
"""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError
from .devices import NO_GPUS


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether more than one process takes part."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and logs."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op in a single process)."""
        if self.enabled:
            dist.barrier()

    def gather(self, values: torch.Tensor | list) -> torch.Tensor | list:
        """Concatenate per-image values from every rank, in rank order: a 1-D (or N x ...)
        tensor, or a list of plain objects (such as image names)."""
        if not self.enabled:
            return values
        if isinstance(values, list):
            lists: list[list] = [[] for _ in range(self.world)]
            dist.all_gather_object(lists, values)
            return [value for part in lists for value in part]
        count = torch.tensor([values.shape[0]], device=values.device)
        counts = [torch.zeros_like(count) for _ in range(self.world)]
        dist.all_gather(counts, count)
        longest = int(max(c.item() for c in counts))
        padded = torch.zeros((longest,) + tuple(values.shape[1:]), dtype=values.dtype, device=values.device)
        padded[: values.shape[0]] = values
        parts = [torch.zeros_like(padded) for _ in range(self.world)]
        dist.all_gather(parts, padded)
        return torch.cat([part[: int(c.item())] for part, c in zip(parts, counts)])

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """Sum a tensor over ranks."""
        if self.enabled:
            value = value.clone()
            dist.all_reduce(value)
        return value


def from_environment(device: torch.device) -> Distributed:
    """Join the process group the launcher described, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return Distributed(rank, world, local_rank)


def local_rank_from_environment() -> int | None:
    """The launcher's local rank, when started under ``torchrun``."""
    value = os.environ.get("LOCAL_RANK")
    return int(value) if value is not None and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None


def relaunch_under_torchrun(argv: list[str]) -> int:
    """Re-run this command with one process per visible GPU under ``torch.distributed.run``."""
    from torch.distributed import run as torchrun

    count = torch.cuda.device_count()
    if count < 1:
        raise ConfigError(NO_GPUS)
    args = ["--standalone", f"--nproc_per_node={count}", "-m", "rumpycore.cli", *argv]
    print(f"rumpy: launching {count} processes (one per GPU) with torchrun", file=sys.stderr)
    torchrun.main(args)
    return 0


def shutdown(ctx: Distributed, finished: bool = False) -> None:
    """Leave the process group.

    The DDP wrapper of the finished run is collected first: pending work it still holds in
    the communication library's threads would otherwise be torn down at interpreter exit,
    which can abort the process. After a finished run the ranks also leave together (a
    barrier): a rank that tears its connections down while a peer still writes the run's last
    files was seen to abort at exit. After a failure no rank waits for the others.
    """
    if ctx.enabled and dist.is_initialized():
        gc.collect()
        if finished:
            dist.barrier()
        dist.destroy_process_group()
