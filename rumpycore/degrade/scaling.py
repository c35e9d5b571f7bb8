"""``downsample`` and ``upsample``: MATLAB-compatible bicubic resizing by an integer scale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..params import option
from .base import BuildContext, Metadata, Operation
from .resize import imresize


@dataclass
class ScaleParams:
    """Parameters of ``downsample`` and ``upsample``."""

    scale: int = option(4, min=1, max=64, help="integer scale factor (default: the top-level scale, else 4)")


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop to a multiple of ``scale`` from the top-left corner (MATLAB's ``modcrop``)."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


class ScaledOperation(Operation):
    """An operation with a ``scale`` that the top-level scale (``--scale``) fills in when its table has none."""

    Params = ScaleParams

    @classmethod
    def build(cls, raw: dict[str, Any], context: BuildContext) -> Operation:
        """As :meth:`Operation.build`; the top-level scale fills in a missing ``scale``.

        A table scale that differs from the top-level scale is an error rather than being
        silently replaced (the original rumpy let the top-level scale win).
        """
        given = any(str(key).lower() == "scale" for key in raw)
        if context.scale is not None and not given:
            raw = {**raw, "scale": context.scale}
        operation = super().build(raw, context)
        if given and context.scale is not None and operation.params.scale != context.scale:
            raise ConfigError(f"{context.where}.scale: {operation.params.scale} conflicts with the top-level scale "
                              f"{context.scale} (--scale); remove one of them")
        return operation


class Downsample(ScaledOperation):
    """Crop to a multiple of the scale (top-left), then shrink as MATLAB's ``imresize(hr, 1/scale)``.

    With ``BuildContext.even_lr`` the crop is to a multiple of twice the scale, so the LR sides are even.
    """

    name = "downsample"

    def __init__(self, params: ScaleParams, context: BuildContext) -> None:
        super().__init__(params, context)
        self.even = context.even_lr

    def metadata_dims(self) -> dict[str, int]:
        return {self.column("scale"): 1}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        scale = self.params.scale
        cropped = modcrop(image, 2 * scale if self.even else scale)
        if cropped.size == 0:
            smallest = f"twice the scale {scale} (an even LR size for H.264)" if self.even else f"the scale {scale}"
            raise DataError(f"image of {image.shape[1]}x{image.shape[0]} pixels is smaller than {smallest}")
        return imresize(cropped, 1.0 / scale), {self.column("scale"): float(scale)}


class Upsample(ScaledOperation):
    """Enlarge by the scale with MATLAB-compatible bicubic interpolation."""

    name = "upsample"

    def metadata_dims(self) -> dict[str, int]:
        return {self.column("upsample_scale"): 1}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        scale = self.params.scale
        return imresize(image, float(scale)), {self.column("upsample_scale"): float(scale)}
