"""The original rumpy's H.264 compressions: ``jmcompress``, ``ffmpegcompress`` and ``randomcompress``.

Each codes the image as one H.264 intra frame (:mod:`rumpycore.degrade.h264`, libx264 through
PyAV) at a quantisation parameter ``qpi`` that is fixed or drawn per image, with the original's
keys and defaults. They need the optional extra ``rumpycore[video]``; without it, building one
is a one-line error naming it.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..params import option
from .base import BuildContext, Metadata, Operation
from .compress import JpegCompress, fixed_or_drawn, jpeg_round_trip
from .h264 import h264_intra_round_trip, require_av
from .values import Range

H264_PROBABILITY = 0.5
"""Chance that ``randomcompress`` codes an image as H.264 rather than JPEG (fixed in the original)."""


@dataclass
class QpiParams:
    """Parameters of ``jmcompress``."""

    qpi: int | list[int] = option(28, min=1, max=51,
                                  help="H.264 quantisation parameter: a number, or [low, high] drawn per image "
                                       "(ends included)")


@dataclass
class FfmpegParams(QpiParams):
    """Parameters of ``ffmpegcompress``."""

    shift_encoder_qp: bool = option(False, help="give libx264 qpi + qp_shift_value, so that its I frame, coded "
                                                "about 3 below the QP it is given, lands near qpi")
    qp_shift_value: int = option(3, min=0, max=18, help="added to qpi with shift_encoder_qp")


class H264Compress(Operation):
    """An H.264 intra round trip at a fixed or drawn ``qpi``, recorded as ``qpi``.

    The original's keys work: ``qpi`` (28) is used unless ``random_compression`` is true, which
    draws from ``compression_range`` ([20, 40]).
    """

    family = "compress"
    Params = QpiParams
    needs_even_lr = True
    original_only_keys = {
        "verbose": "the encoder runs in memory and prints nothing",
        "temp_save_dir": "the round trip runs in memory, without temporary files",
        "encoder_args": "the encoder's settings are fixed: libx264, baseline profile, constant QP",
        "decoder_args": "the decoder's output is always 8-bit RGB",
    }

    def __init__(self, params: QpiParams, context: BuildContext) -> None:
        super().__init__(params, context)
        require_av(context.where)
        self.qpi = Range.of(params.qpi, f"{context.where}.qpi")

    @classmethod
    def build(cls, raw: dict[str, Any], context: BuildContext) -> Operation:
        return super().build(fixed_or_drawn(raw, "qpi", 28, [20, 40], context.where), context)

    def metadata_dims(self) -> dict[str, int]:
        return {self.column("qpi"): 1}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        qpi = self.qpi.draw_int(rng)
        return self.encode(image, qpi), {self.column("qpi"): float(qpi)}

    @abstractmethod
    def encode(self, image: np.ndarray, qpi: int) -> np.ndarray:
        """The image after an H.264 round trip at ``qpi``."""


class JMCompress(H264Compress):
    """The original ``jmcompress``, with libx264 standing in for the JM reference encoder.

    The original ran JM's ``lencod`` (baseline profile, intra only, I slice QP = ``qpi``) on a
    yuv420p file. Here libx264 codes the same standard with the same quantiser: baseline profile,
    one intra frame, I slice QP exactly ``qpi``, chroma QP offset 0. JM's mode decisions differ
    from x264's, so the result is close to JM's, not bit-identical. As in the original, a
    ``downsample`` of the same ``rumpy degrade`` pipeline crops to an even LR size.
    """

    name = "jmcompress"

    def encode(self, image: np.ndarray, qpi: int) -> np.ndarray:
        return h264_intra_round_trip(image, qpi, jm_quantiser=True)


class FFMPEGCompress(H264Compress):
    """The original ``ffmpegcompress``: libx264 baseline with its defaults, given ``qp = qpi``
    (``qpi + qp_shift_value`` with ``shift_encoder_qp``), as ``ffmpeg -qp`` in the original's pipes."""

    name = "ffmpegcompress"
    Params = FfmpegParams
    needs_even_lr = False  # the original crops only for JM; odd sides are padded here

    def encode(self, image: np.ndarray, qpi: int) -> np.ndarray:
        shift = self.params.qp_shift_value if self.params.shift_encoder_qp else 0
        return h264_intra_round_trip(image, qpi + shift, jm_quantiser=False)


@dataclass
class RandomCompressParams:
    """Parameters of ``randomcompress``."""

    jm_params: dict = option({}, help="table of the jmcompress settings (qpi, compression_range, random_compression)")
    jpeg_params: dict = option({}, help="table of the jpegcompress settings (quality, compression_range, "
                                        "random_compression)")


class RandomCompress(Operation):
    """The original ``randomcompress``: with probability 0.5 ``jmcompress``, else ``jpegcompress``.

    Records ``jm_qpi`` and ``jpeg_quality``; the one of the branch not taken is 0.
    """

    name = "randomcompress"
    family = "compress"
    Params = RandomCompressParams
    needs_even_lr = True

    def __init__(self, params: RandomCompressParams, context: BuildContext) -> None:
        super().__init__(params, context)
        self.h264 = JMCompress.build(params.jm_params, dataclasses.replace(context, where=f"{context.where}.jm_params",
                                                                           suffix=""))
        self.jpeg = JpegCompress.build(params.jpeg_params, dataclasses.replace(
            context, where=f"{context.where}.jpeg_params", suffix=""))

    def metadata_dims(self) -> dict[str, int]:
        return {self.column("jm_qpi"): 1, self.column("jpeg_quality"): 1}

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Metadata]:
        qpi = quality = 0
        if rng.random() < H264_PROBABILITY:
            qpi = self.h264.qpi.draw_int(rng)
            image = self.h264.encode(image, qpi)
        else:
            quality = self.jpeg.quality.draw_int(rng)
            image = jpeg_round_trip(image, quality)
        return image, {self.column("jm_qpi"): float(qpi), self.column("jpeg_quality"): float(quality)}

    def settings(self) -> dict[str, Any]:
        return {"jm_params": self.h264.settings(), "jpeg_params": self.jpeg.settings()}
