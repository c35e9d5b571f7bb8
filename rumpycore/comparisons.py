"""Comparison images (centre crops side by side with their metric values, as ``rumpy eval`` and
training samples draw them) and how images become files."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
    title_width = int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(title, font=font))
    width = max(len(panels) * size + (len(panels) + 1) * _GAP, title_width + 2 * _GAP)
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


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 image as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def safe_name(name: str) -> str:
    """An image's file stem: its name with folder separators flattened."""
    return Path(name).with_suffix("").as_posix().replace("/", "_")
