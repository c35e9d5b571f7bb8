"""Choosing the device from ``gpu`` / ``sp_gpu``."""

from __future__ import annotations

import torch

from ..errors import ConfigError

NO_GPUS = "training.gpu: 'multiple' needs CUDA GPUs, but none is visible; set gpu = 'off'"


def resolve_device(gpu: str, sp_gpu: int, local_rank: int | None = None) -> torch.device:
    """The device for ``gpu = "off" | "single" | "multiple"`` (``"multi"`` is the original spelling).

    Asking for a GPU on a machine without CUDA is a config error, not a silent CPU fallback.
    Under DDP (``multiple``), each process uses the GPU of its local rank.
    """
    if gpu == "off":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"training.gpu: '{gpu}' needs a CUDA GPU, but none is visible; set gpu = 'off'")
    count = torch.cuda.device_count()
    index = local_rank if local_rank is not None else sp_gpu
    if index >= count:
        raise ConfigError(f"training.sp_gpu: GPU {index} does not exist (this machine has {count}); pick 0..{count - 1}")
    return torch.device("cuda", index)


def check_devices(gpu: str, sp_gpu: int) -> None:
    """Refuse, as ``rumpy train`` does, GPUs the machine does not have (``rumpy check`` runs this)."""
    if gpu in ("multiple", "multi"):
        if torch.cuda.device_count() < 1:
            raise ConfigError(NO_GPUS)
    else:
        resolve_device(gpu, sp_gpu)
