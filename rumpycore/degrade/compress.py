"""``compress``: JPEG compression with Pillow (4:4:4 chroma, as the original ``jpegcompress``)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..params import coerce, option
from .base import BuildContext, Metadata, Operation
from .values import Range


@dataclass
class CompressParams:
    """Parameters of ``compress``."""

    quality: int | list[int] = option([30, 95], min=1, max=100,
                                      help="JPEG quality: a number, or [low, high] drawn per image (ends included)")


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode an ``H x W x 3`` uint8 image as JPEG (Pillow, 4:4:4) and decode it again."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=0)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


class Compress(Operation):
    """Compress as JPEG at a fixed or drawn quality."""

    name = "compress"
    Params = CompressParams

    def __init__(self, params: CompressParams, context: BuildContext) -> None:
        super().__init__(params, context)
        self.quality = Range.of(params.quality, f"{context.where}.quality")

    def metadata_dims(self) -> dict[str, int]:
        return {self.column("jpeg_quality"): 1}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        quality = self.quality.draw_int(rng)
        return jpeg_round_trip(image, quality), {self.column("jpeg_quality"): float(quality)}


class JpegCompress(Compress):
    """The original rumpy's ``jpegcompress``: the same operation with the original's keys and defaults.

    ``quality`` (50) is used unless ``random_compression`` is true, which draws from
    ``compression_range`` ([20, 80]); see :func:`fixed_or_drawn`.
    """

    @classmethod
    def build(cls, raw: dict[str, Any], context: BuildContext) -> Operation:
        return super().build(fixed_or_drawn(raw, "quality", 50, [20, 80], context.where), context)


def fixed_or_drawn(raw: dict[str, Any], key: str, fixed: int, drawn: list[int], where: str) -> dict[str, Any]:
    """The original rumpy's compression keys folded into one number-or-range parameter ``key``.

    The original compressions use ``key`` (default ``fixed``) unless ``random_compression`` is
    true, which draws from ``compression_range`` (default ``drawn``); the table returned has
    ``key`` set to the one that applies and neither of the other two keys.
    """
    own = {str(name).lower(): value for name, value in raw.items()}
    random = coerce(own.pop("random_compression", False), bool, f"{where}.random_compression")
    drawn = coerce(own.pop("compression_range", drawn), list[int], f"{where}.compression_range")
    chosen = own.pop(key, fixed)
    return {**own, key: drawn if random else chosen}
