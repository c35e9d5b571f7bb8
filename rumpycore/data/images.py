"""Reading images: finding them, checking headers cheaply, decoding to uint8 RGB."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> list:
    """Sort key comparing digit runs as numbers, case-insensitively (img2 < img10)."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(text)]


def list_images(folder: Path, where: str, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` in natural order; a missing or empty folder is a DataError."""
    if not folder.exists():
        raise DataError(f"{where}: folder {folder} does not exist; check the path")
    if not folder.is_dir():
        raise DataError(f"{where}: {folder} is not a folder")
    pattern = "**/*" if recursive else "*"
    files = [p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise DataError(f"{where}: no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return sorted(files, key=lambda p: natural_key(str(p.relative_to(folder))))


def image_header(path: Path) -> tuple[int, int, str]:
    """``(width, height, mode)`` read from the file header, without decoding pixels."""
    try:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: empty file; replace or remove it")
        with Image.open(path) as im:
            return im.width, im.height, im.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}); replace or remove it") from None


def load_rgb(path: Path) -> tuple[np.ndarray, bool]:
    """Decode an image to an ``H x W x 3`` uint8 RGB array.

    Returns the array and whether the file was grayscale (metrics compare grayscale images
    on their gray values, as the published benchmark numbers do). RGBA and palette images
    are converted to RGB; 16-bit images are reduced to 8 bits.
    """
    try:
        with Image.open(path) as im:
            im.load()
            gray = im.mode in ("L", "LA", "I", "I;16", "I;16B", "I;16L", "1")
            if im.mode in ("I", "I;16", "I;16B", "I;16L"):
                array = np.asarray(im, dtype=np.float64)
                peak = 65535.0 if array.max() > 255 else 255.0
                im = Image.fromarray(np.round(array * (255.0 / peak)).astype(np.uint8), mode="L")
            rgb = im.convert("RGB")
            return np.asarray(rgb, dtype=np.uint8), gray
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}: {exc}); replace or remove it") from None
