"""Operation names: the operations, the original rumpy names that still work, and those that do not."""

from __future__ import annotations

from ..errors import ConfigError
from ..params import closest
from .base import Operation
from .blur import Blur
from .compress import Compress, JpegCompress
from .noise import Noise
from .scaling import Downsample, Upsample

OPERATIONS: dict[str, type[Operation]] = {op.name: op for op in (Blur, Downsample, Upsample, Noise, Compress)}

# Original names whose behaviour the operation reproduces (with the original's keys and defaults).
ALIASES: dict[str, type[Operation]] = {"jpegcompress": JpegCompress}

# Original names whose behaviour differs; named here so the error can point to the replacement.
REPLACED = {
    "realesrganblur": "blur",
    "srmdgaussianblur": "blur",
    "bsrganblur": "blur",
    "realesrgannoise": "noise",
    "jmcompress": "compress",
    "ffmpegcompress": "compress",
    "randomcompress": "compress",
}


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
