"""Operation names: the operations, the original rumpy names that still work, and those that do not."""

from __future__ import annotations

from ..errors import ConfigError
from ..params import closest
from .base import Operation
from .blur import Blur
from .compress import Compress, JpegCompress
from .h264_compress import FFMPEGCompress, JMCompress, RandomCompress
from .mixed_blur import BSRGANBlur, RealESRGANBlur
from .noise import Noise, RealESRGANNoise
from .scaling import Downsample, Upsample
from .second_order import RandomResizeOperation, RealESRGAN, SincFilter

OPERATIONS: dict[str, type[Operation]] = {op.name: op for op in (
    Blur, Downsample, Upsample, Noise, Compress, RealESRGANBlur, BSRGANBlur, RandomResizeOperation, SincFilter,
    RealESRGAN, JMCompress, FFMPEGCompress, RandomCompress)}

# Original names whose behaviour an operation reproduces (with the original's keys and defaults).
ALIASES: dict[str, type[Operation]] = {"jpegcompress": JpegCompress, "realesrgannoise": RealESRGANNoise}

# Original names whose behaviour differs; named here so the error can point to the replacement.
REPLACED = {"srmdgaussianblur": "blur"}


def find_operation(name: str, where: str) -> type[Operation]:
    """The operation class called ``name`` (any case); an unknown name is a ConfigError."""
    key = name.lower()
    if key in OPERATIONS:
        return OPERATIONS[key]
    if key in ALIASES:
        return ALIASES[key]
    known = ", ".join(OPERATIONS)
    if key in REPLACED:
        raise ConfigError(f"{where}: {name!r} is an operation of the original rumpy that rumpy degrade does not "
                          f"reproduce; use {REPLACED[key]!r} (see the README), known: {known}")
    suggestion = closest(name, list(OPERATIONS) + list(ALIASES))
    hint = f"did you mean {suggestion}? " if suggestion else ""
    raise ConfigError(f"{where}: unknown operation {name!r}; {hint}known: {known}")
