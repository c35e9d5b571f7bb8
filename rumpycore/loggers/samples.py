"""``result_outputs/epoch_<N>_samples/``: super-resolved eval images, and comparisons with LR,
the reference (bicubic) and HR as ``rumpy eval`` draws them."""

from __future__ import annotations

import numpy as np

from ..atomic import atomic_write_bytes
from ..comparisons import (
    COMPARISON_CROP,
    Panel,
    compose,
    crop_box,
    enlarge,
    metric_caption,
    png_bytes,
    safe_name,
)
from ..tasks.base import Sample
from .base import Logger, LoggerContext


def caption(sample: Sample, label: str) -> str:
    """One line of a sample's scores: ``SR PSNR 29.12 dB, SSIM 0.8123``."""
    return f"{label} " + ", ".join(metric_caption(sample.scores.get(label, {})))


def comparison(sample: Sample, epoch: int, reference_name: str = "bicubic") -> np.ndarray:
    """LR (enlarged), the reference, the output and HR: the same centre crop of each, labelled with
    the image's metric values, as ``rumpy eval``'s comparisons."""
    height, width = sample.output.shape[:2]
    scale = height // sample.lr.shape[0]
    top, left, size = crop_box(height, width, scale)
    box = (slice(top, top + size), slice(left, left + size))
    lr_box = (slice(top // scale, (top + size) // scale), slice(left // scale, (left + size) // scale))
    shown = max(size, COMPARISON_CROP)  # small crops are enlarged (nearest neighbour) to be seen

    def panel(image: np.ndarray, caption: list[str]) -> Panel:
        return Panel(enlarge(image, shown), caption)

    panels = [panel(sample.lr[lr_box], ["LR"])]
    if sample.reference is not None:
        panels.append(panel(sample.reference[box], [reference_name, *metric_caption(sample.scores.get(reference_name,
                                                                                                      {}))]))
    panels.append(panel(sample.output[box], [f"SR (epoch {epoch})", *metric_caption(sample.scores.get("SR", {}))]))
    if sample.target is not None:
        panels.append(panel(sample.target[:height, :width][box], ["HR"]))
    return compose(panels, f"{sample.name}: centre crop of {size}x{size} HR pixels, shown at {shown}x{shown}; "
                           f"metrics on the whole image")


class SampleLogger(Logger):
    """Writes ``<name>.png`` (the output) and ``<name>_comparison.png`` per sample."""

    def __init__(self, ctx: LoggerContext) -> None:
        self.results = ctx.results
        self.reference_name = "bicubic"

    def run_start(self, info):
        self.reference_name = info.reference_name or self.reference_name

    def samples(self, epoch, samples):
        folder = self.results / f"epoch_{epoch}_samples"
        for sample in samples:
            stem = safe_name(sample.name)
            atomic_write_bytes(folder / f"{stem}.png", png_bytes(sample.output))
            atomic_write_bytes(folder / f"{stem}_comparison.png", png_bytes(comparison(sample, epoch,
                                                                                       self.reference_name)))
