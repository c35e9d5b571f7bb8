"""``result_outputs/epoch_<N>_samples/``: super-resolved eval images beside LR and HR."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..atomic import atomic_write_bytes
from .base import Logger, LoggerContext


def side_by_side(lr: np.ndarray, output: np.ndarray, target: np.ndarray | None) -> np.ndarray:
    """LR (bicubic-upscaled to the output size) | output | target, as one uint8 image."""
    h, w = output.shape[:2]
    upscaled = np.asarray(Image.fromarray(lr).resize((w, h), Image.BICUBIC))
    panels = [upscaled, output] + ([target[:h, :w]] if target is not None else [])
    gap = np.full((h, 4, 3), 255, dtype=np.uint8)
    row = [panels[0]]
    for panel in panels[1:]:
        row += [gap, panel]
    return np.concatenate(row, axis=1)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 image as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def safe_name(name: str) -> str:
    """A sample's file stem: the image name with folder separators flattened."""
    return Path(name).with_suffix("").as_posix().replace("/", "_")


class SampleLogger(Logger):
    """Writes ``<name>.png`` (the output) and ``<name>_comparison.png`` per sample."""

    def __init__(self, ctx: LoggerContext) -> None:
        self.results = ctx.results

    def samples(self, epoch, samples):
        folder = self.results / f"epoch_{epoch}_samples"
        for sample in samples:
            stem = safe_name(sample.name)
            atomic_write_bytes(folder / f"{stem}.png", png_bytes(sample.output))
            atomic_write_bytes(folder / f"{stem}_comparison.png",
                               png_bytes(side_by_side(sample.lr, sample.output, sample.target)))
