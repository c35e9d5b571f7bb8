"""The shape every degradation operation has: typed parameters, metadata columns, one step."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError
from ..legacy import note_without_effect
from ..params import parse

Metadata = dict[str, float | list[float]]

# Settings of the original rumpy's operations that change nothing here, whatever their value, with the
# reason: a config copied from the original runs, and says so in one note per key.
ORIGINAL_KEYS_WITHOUT_EFFECT = {
    "normalize_metadata": "metadata is recorded in original units either way; training normalises it",
    "restrict_metadata": "metadata is always recorded; a model uses the columns it names",
    "request_kernel_metadata": "blur always records its parameters",
    "request_pca_kernels": "blur always records the PCA code blur_kernel",
    "use_kernel_code": "the kernel shape is always recorded as its code, blur_family",
    "device": "operations run per image in the data loader workers, or per batch on the training device with "
              "[data.online_pipeline] on_device = true",
}

# Settings of the original rumpy's operations that have no counterpart here, with the reason, so a
# config copied from the original gets an explanation rather than "unknown key".
ORIGINAL_ONLY_KEYS = {
    "request_full_kernels": "blur records the PCA code blur_kernel, never the kernel's values",
    "random_scale": "one folder holds one scale, so that LR and HR pair up; make one folder per scale",
    "scale_range": "one folder holds one scale, so that LR and HR pair up; make one folder per scale",
}

ORIGINAL_DEFAULTS_WITHOUT_EFFECT = {"request_full_kernels": False}
"""Original-only settings that change nothing at these values (the original's defaults, which asked
for nothing extra): accepted with a note."""


@dataclass(frozen=True)
class BuildContext:
    """What an operation needs besides its own parameter table."""

    where: str
    """Dotted config path of the table (``deg_configs.<id>``), used in error messages."""
    suffix: str
    """Appended to the metadata columns: empty for the first operation of a kind, ``_2``, ``_3`` after."""
    scale: int | None
    """The top-level scale (``--scale``), if one was given."""
    base_dir: Path
    """Folder that relative paths in the table are relative to."""
    even_lr: bool = False
    """``downsample`` crops so that the LR sides are even (``rumpy degrade`` with an operation that
    ``needs_even_lr`` in the pipeline, as the original rumpy did for its JM encoder)."""


class Operation(ABC):
    """One degradation step: ``uint8 H x W x 3`` image in, image and metadata out.

    Subclasses declare ``name`` (the pipeline name) and ``Params`` (a params dataclass),
    and implement :meth:`metadata_dims` and :meth:`apply`.
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    family: ClassVar[str | None] = None
    """Operations of one family (the blurs) record under the same column names, so a second one in a
    pipeline gets ``_2``; by default an operation is its own family."""
    original_only_keys: ClassVar[dict[str, str]] = {}
    """This operation's own settings of the original rumpy that it does not have, with the reason
    (besides :data:`ORIGINAL_ONLY_KEYS`)."""
    needs_even_lr: ClassVar[bool] = False
    """In ``rumpy degrade``, a ``downsample`` of the same pipeline crops to even LR sides (the
    original rumpy did so for its JM encoder, which needed them)."""

    def __init__(self, params: Any, context: BuildContext) -> None:
        self.params = params
        self.suffix = context.suffix

    @classmethod
    def build(cls, raw: dict[str, Any], context: BuildContext) -> Operation:
        """Validate the operation's table and build it; mistakes are ConfigErrors naming the key.

        The original rumpy's settings that change nothing here are dropped with a note on stderr."""
        kept = {}
        for key, value in raw.items():
            name = str(key).lower()
            no_effect = ORIGINAL_KEYS_WITHOUT_EFFECT.get(name)
            if no_effect is None and name in ORIGINAL_DEFAULTS_WITHOUT_EFFECT \
                    and value == ORIGINAL_DEFAULTS_WITHOUT_EFFECT[name]:
                no_effect = ORIGINAL_ONLY_KEYS[name]
            if no_effect:
                note_without_effect(context.where, key, no_effect)
                continue
            reason = {**ORIGINAL_ONLY_KEYS, **cls.original_only_keys}.get(name)
            if reason:
                raise ConfigError(f"{context.where}.{key}: a setting of the original rumpy that rumpy degrade "
                                  f"does not have ({reason}); remove it")
            kept[key] = value
        return cls(parse(cls.Params, kept, context.where), context)

    def column(self, stem: str) -> str:
        """The metadata column ``stem`` of this operation (``blur_sigma``, ``blur_sigma_2``, ...)."""
        return stem + self.suffix

    @abstractmethod
    def metadata_dims(self) -> dict[str, int]:
        """Metadata columns this operation records, in order, with their number of values."""

    @abstractmethod
    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        """Degrade a ``uint8 H x W x 3`` image; return the uint8 result and what was applied."""

    def settings(self) -> dict[str, Any]:
        """The resolved parameters (defaults filled in), as they would be written in a config."""
        return {key: value for key, value in dataclasses.asdict(self.params).items() if value is not None}

    def files(self) -> dict[str, bytes]:
        """Files to write beside the degraded images (name -> content)."""
        return {}
