"""The files of an evaluation: per-image and summary CSVs, and comparison images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont


COMPARISON_CROP = 192  # HR pixels a side of the crop shown per panel
_CAPTION_LINE = 12
_GAP = 6


def crop_box(height: int, width: int, scale: int) -> tuple[int, int, int]:
    """``(top, left, size)`` of the centred HR crop, aligned to the LR grid."""
    size = max(scale, min(height, width, COMPARISON_CROP) // scale * scale)
    top = (height - size) // 2 // scale * scale
    left = (width - size) // 2 // scale * scale
    return top, left, size


@dataclass
class Panel:
    """One crop of a comparison with its caption lines."""

    image: np.ndarray
    caption: list[str] = field(default_factory=list)


def metric_caption(values: Mapping[str, float]) -> list[str]:
    """Caption lines for metric values (dB for PSNR, four decimals otherwise)."""
    return [f"{name} {value:.2f} dB" if name == "PSNR" else f"{name} {value:.4f}" for name, value in values.items()]


def compose(panels: Sequence[Panel], title: str) -> np.ndarray:
    """Panels side by side, captions underneath, a title line on top; uint8 RGB."""
    font = ImageFont.load_default()
    size = panels[0].image.shape[0]
    lines = max(len(p.caption) for p in panels)
    width = len(panels) * size + (len(panels) + 1) * _GAP
    height = _CAPTION_LINE + 2 * _GAP + size + lines * _CAPTION_LINE + _GAP
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((_GAP, _GAP // 2), title, fill="black", font=font)
    top = _CAPTION_LINE + _GAP
    for i, panel in enumerate(panels):
        left = _GAP + i * (size + _GAP)
        canvas.paste(Image.fromarray(panel.image), (left, top))
        for j, line in enumerate(panel.caption):
            draw.text((left, top + size + 2 + j * _CAPTION_LINE), line, fill="black", font=font)
    return np.asarray(canvas)


def enlarge(image: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour enlargement (shows the LR pixels as they are)."""
    return np.asarray(Image.fromarray(image).resize((size, size), Image.NEAREST))
