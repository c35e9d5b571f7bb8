"""Speed options: precision, memory layout, ``torch.compile``, CUDA graphs, optimizer kernels.

Defaults follow the device: on a GPU bf16 autocast with channels_last and a fused Adam; on
the CPU plain fp32. Options a device cannot honour are config errors; options a model cannot
use (declared in ``ModelSpec.unsupported``) fall back with a one-line notice.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ContextManager

import torch

from ..errors import ConfigError


@dataclass(frozen=True)
class SpeedSettings:
    """The resolved speed options of a run."""

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    compile_backend: str = "inductor"
    cuda_graph: bool = False
    optimizer_impl: str = "default"

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for full precision."""
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    @property
    def memory_format(self) -> torch.memory_format:
        """Layout of image batches and convolution weights."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self, device: torch.device, cache: bool = True) -> ContextManager:
        """The autocast context of the forward pass and loss (a no-op in full precision)."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype, cache_enabled=cache)


def resolve(training: Any, device: torch.device, unsupported: dict[str, str], distributed: bool,
            cpu_channels_last: bool = False) -> SpeedSettings:
    """Fill in device defaults, refuse what the device cannot do, and drop what the model cannot.

    channels_last defaults to on for GPUs, and on the CPU for models that declare it faster
    there (``ModelSpec.cpu_channels_last``).
    """
    cuda = device.type == "cuda"
    precision = training.precision
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    channels_last = training.channels_last if training.channels_last is not None else cuda or cpu_channels_last
    impl = training.optimizer_impl
    if impl == "auto":
        impl = "fused" if cuda else "default"
    if precision == "tf32" and not cuda:
        raise ConfigError("training.precision: 'tf32' is a CUDA tensor-core mode; use 'fp32' on the CPU")
    if precision == "fp16" and not cuda:
        raise ConfigError("training.precision: 'fp16' needs a CUDA GPU; use 'bf16' or 'fp32' on the CPU")
    if training.cuda_graph:
        if not cuda:
            raise ConfigError("training.cuda_graph: needs a CUDA GPU (gpu = 'single'); set cuda_graph = false")
        if precision == "fp16":
            raise ConfigError("training.cuda_graph: cannot capture fp16's dynamic loss scaling; use precision = 'bf16'")
        if distributed:
            raise ConfigError("training.cuda_graph: not available with several processes; set cuda_graph = false")
        if training.skip_nonfinite:
            raise ConfigError("training.cuda_graph: cannot skip batches inside a captured step; "
                              "set skip_nonfinite = false")
    if impl == "fused" and not cuda and precision != "fp32":
        raise ConfigError("training.optimizer_impl: 'fused' Adam on the CPU supports fp32 only")
    wanted = {"channels_last": channels_last, "compile": training.compile, "cuda_graph": training.cuda_graph,
              "bf16": precision == "bf16", "fp16": precision == "fp16"}
    for option, reason in unsupported.items():
        if wanted.get(option):
            print(f"rumpy: note: {option} is off for this model ({reason})", file=sys.stderr)
            wanted[option] = False
            if option in ("bf16", "fp16"):
                precision = "fp32"
    return SpeedSettings(precision=precision, channels_last=wanted["channels_last"], compile=wanted["compile"],
                         compile_backend=training.compile_backend, cuda_graph=wanted["cuda_graph"],
                         optimizer_impl=impl)


def apply_backend_flags(settings: SpeedSettings, device: torch.device) -> None:
    """Global switches that go with the settings (TF32 matmul and convolution on CUDA)."""
    if device.type == "cuda":
        tf32 = settings.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = True


def optimizer_kwargs(settings: SpeedSettings) -> dict[str, Any]:
    """Keyword arguments selecting Adam's implementation (and capturability for CUDA graphs)."""
    kwargs: dict[str, Any] = {}
    if settings.optimizer_impl == "fused":
        kwargs["fused"] = True
    elif settings.optimizer_impl == "foreach":
        kwargs["foreach"] = True
    if settings.cuda_graph:
        kwargs["capturable"] = True
    return kwargs
