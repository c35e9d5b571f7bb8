"""H.264 intra coding of one image in memory: RGB -> yuv420p -> libx264 -> decoder -> RGB.

PyAV (the optional extra ``rumpycore[video]``) provides FFmpeg's libx264 encoder and H.264
decoder. The colour conversions use FFmpeg's swscale with bicubic chroma resampling and its
default BT.601 limited-range matrix, as the ``ffmpeg`` command line does, so the result equals
the original rumpy's ``ffmpeg`` pipe round trip pixel for pixel (measured against FFmpeg 7.0.2
by ``benchmarks/h264_compress.py``).
"""

from __future__ import annotations

from fractions import Fraction
from types import ModuleType

import numpy as np

from ..errors import UserError

INSTALL_HINT = "pip install 'rumpycore[video]'"

_JM_LIKE = "ipratio=1:psy=0"
"""x264 settings that make libx264 code the I slice as the JM reference encoder does: at exactly
the given QP (x264 otherwise codes I frames ~3 below it, its ``ipratio`` 1.4) and with the
chroma QP offset 0 (x264's psychovisual tuning otherwise lowers it by 2)."""


def require_av(where: str) -> ModuleType:
    """The ``av`` module with a libx264 encoder; a one-line UserError naming ``where`` and the extra to
    install when it is missing."""
    try:
        import av
    except ImportError:
        raise UserError(f"{where}: H.264 coding needs PyAV, which is not installed; install it with "
                        f"{INSTALL_HINT}") from None
    if "libx264" not in av.codecs_available:
        raise UserError(f"{where}: this PyAV build has no libx264 encoder; install PyPI's wheel with "
                        f"{INSTALL_HINT}")
    return av


def h264_intra_round_trip(image: np.ndarray, qp: int, *, jm_quantiser: bool) -> np.ndarray:
    """Code an ``H x W x 3`` uint8 image as one H.264 intra frame (:func:`h264_intra_encode`) and
    decode it again; returns an image of the same size.

    An odd side is padded by repeating the last row or column (4:2:0 needs even sides) and the
    padding cropped off the result.
    """
    height, width = image.shape[:2]
    padded = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    decoded = h264_decode(h264_intra_encode(padded, qp, jm_quantiser=jm_quantiser))
    return np.ascontiguousarray(decoded[:height, :width])


def h264_intra_encode(image: np.ndarray, qp: int, *, jm_quantiser: bool) -> bytes:
    """An ``H x W x 3`` uint8 image (even sides) as an H.264 stream of one intra frame: yuv420p,
    baseline profile, constant QP.

    ``qp`` is libx264's constant quantiser (1-51; 0 would be lossless, which baseline lacks).
    ``jm_quantiser``: code the I slice at exactly ``qp`` with chroma QP offset 0, as the JM
    reference encoder does; otherwise libx264's defaults, as ``ffmpeg -qp`` drives it (the I
    frame about 3 below ``qp``, psychovisual tuning on).
    """
    av = require_av("H.264 coding")
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p", interpolation="BICUBIC")
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.thread_count = 1  # x264's output may depend on its thread count; one thread: the same everywhere
    options = {"profile": "baseline", "qp": str(qp)}
    if jm_quantiser:
        options["x264-params"] = _JM_LIKE
    encoder.options = options
    return b"".join(bytes(packet) for packet in [*encoder.encode(frame), *encoder.encode(None)])


def h264_decode(stream: bytes) -> np.ndarray:
    """The one frame of an H.264 stream as an ``H x W x 3`` uint8 RGB image."""
    av = require_av("H.264 decoding")
    decoder = av.CodecContext.create("h264", "r")
    pictures = [*decoder.decode(av.Packet(stream)), *decoder.decode(None)]
    if len(pictures) != 1:
        raise RuntimeError(f"an H.264 stream of one frame decoded to {len(pictures)} frames")
    return pictures[0].reformat(format="rgb24", interpolation="BICUBIC").to_ndarray()
