"""Reading images: finding them, checking headers cheaply, decoding to uint8 RGB."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

_DIGITS = re.compile(r"(\d+)")

_PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk type and its CRC: the last 8 bytes of a PNG
_JPEG_END = b"\xff\xd9"  # the EOI marker
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPES = (0, 2, 3, 4, 6)  # gray, RGB, palette, gray + alpha, RGBA
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0-SOF15 (not DHT, JPG, DAC)
_JPEG_HUFFMAN_FRAMES = (0xC0, 0xC1, 0xC2)  # baseline, extended and progressive: the kinds tested against Pillow
_TAIL_SEARCH = 65536  # bytes searched for an end marker when a file has trailing data after it


# Modes with a well-defined 8-bit RGB meaning; float or exotic colour spaces are refused
# rather than silently clipped.
SUPPORTED_MODES = {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
                   "I", "I;16", "I;16B", "I;16L", "I;16N"}


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
    """``(width, height, mode)`` read from the file header, without decoding pixels.

    Also checks that the file is complete (see :func:`check_complete`), so a file cut short
    by an interrupted copy is reported here, before training, rather than in a loader worker.
    """
    try:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: empty file; replace or remove it")
        with Image.open(path) as im:
            width, height, mode, kind = im.width, im.height, im.mode, im.format
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: {exc}; shrink or split the image, or remove it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}); replace or remove it") from None
    if mode not in SUPPORTED_MODES:
        raise DataError(f"{path}: pixel mode {mode} is not an 8/16-bit gray, palette or colour image; "
                        f"save it as 8-bit RGB or grayscale")
    check_pixel_count(path, width, height)
    check_complete(path, kind)
    return width, height, mode


def check_pixel_count(path: Path, width: int, height: int) -> None:
    """Refuse an image larger than Pillow's decompression-bomb limit (about 89 megapixels): a
    tiny file can claim a size whose decoding would exhaust memory."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise DataError(f"{path}: claims {width}x{height} pixels, more than the {limit:,} rumpy decodes (a possible "
                        f"decompression bomb); shrink or split the image, or remove it")


def check_complete(path: Path, kind: str | None) -> None:
    """Raise a DataError if a PNG, JPEG, BMP or WebP file is shorter than its format says.

    Reads only the end of the file (or, for BMP and WebP, the size recorded in the header):
    a PNG must end with its IEND chunk, a JPEG with the EOI marker (trailing bytes after
    them, which some cameras write, are allowed). Other formats are checked when decoded.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if kind in ("PNG", "JPEG"):
            marker = _PNG_END if kind == "PNG" else _JPEG_END
            handle.seek(max(0, size - _TAIL_SEARCH))
            complete = marker in handle.read()
            what = "the PNG IEND chunk" if kind == "PNG" else "the JPEG end-of-image marker"
        elif kind in ("BMP", "WEBP"):
            head = handle.read(12)
            if kind == "BMP":
                expected = int.from_bytes(head[2:6], "little")
            else:
                expected = int.from_bytes(head[4:8], "little") + 8
            complete = size >= expected
            what = f"the {expected} bytes its header announces"
        else:
            return
    if not complete:
        raise DataError(f"{path}: file is truncated (missing {what}); copy it again or remove it")


def load_rgb(path: Path) -> tuple[np.ndarray, bool]:
    """Decode an image to an ``H x W x 3`` uint8 RGB array.

    Returns the array and whether the file was grayscale (metrics compare grayscale images
    on their gray values, as the published benchmark numbers do). RGBA, LA and palette
    images are converted to RGB (alpha dropped); 16-bit images are rounded to 8 bits.

    8-bit PNG and 8-bit gray or YCbCr JPEG files are decoded by OpenCV when it is installed
    (``pip install rumpycore[fast]``; 15-25% faster, see ``benchmarks/decoding.py``), which
    gives exactly the pixels of :func:`load_rgb_pillow`; every other file, and every file
    without OpenCV, is decoded by Pillow.
    """
    cv2 = opencv()
    if cv2 is not None:
        data = np.fromfile(path, dtype=np.uint8)
        gray = opencv_gray_flag(data)
        if gray is not None:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
            if image is not None and image.ndim == 3:
                return image, gray
    return load_rgb_pillow(path)


@functools.cache
def opencv() -> Any:
    """The ``cv2`` module, or None when OpenCV is not installed (the optional ``rumpycore[fast]``).

    Imported on first use, so commands that decode nothing do not load it (36 MiB).
    """
    try:
        import cv2
    except ImportError:
        return None
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # a failed decode falls back to Pillow
    return cv2


def load_rgb_pillow(path: Path) -> tuple[np.ndarray, bool]:
    """:func:`load_rgb` with Pillow for every file: the reference conversions."""
    try:
        with Image.open(path) as im:
            im.load()
            gray = im.mode in ("L", "LA", "I", "I;16", "I;16B", "I;16L", "1")
            if im.mode.startswith("I;16"):
                im = _to_8bit(np.asarray(im, dtype=np.float64), 65535.0)
            elif im.mode == "I":
                # 32-bit integer images come from 16-bit files in some readers; 8-bit content stays as is
                array = np.asarray(im, dtype=np.float64)
                im = _to_8bit(array, 65535.0 if array.max() > 255 else 255.0)
            rgb = im.convert("RGB")
            return np.asarray(rgb, dtype=np.uint8), gray
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}: {exc}); replace or remove it") from None


def opencv_gray_flag(data: np.ndarray) -> bool | None:
    """For a file's bytes: whether it is grayscale, if OpenCV decodes it exactly as Pillow does;
    None for files left to Pillow (16-bit or 1/2/4-bit PNG, CMYK or 12-bit JPEG, other formats).

    OpenCV reduces 16-bit samples by a shift where rumpy rounds, and converts CMYK without
    Pillow's formula, so only the kinds tested bit for bit against Pillow go to OpenCV.
    """
    head = data[:32].tobytes()
    if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR" and len(head) >= 26:
        bit_depth, colour_type = head[24], head[25]
        if bit_depth == 8 and colour_type in _PNG_COLOUR_TYPES:
            return colour_type in (0, 4)  # gray, gray + alpha
        return None
    if head.startswith(b"\xff\xd8"):
        return _jpeg_gray_flag(data)
    return None


def _jpeg_gray_flag(data: np.ndarray) -> bool | None:
    """Walk the JPEG markers to the frame header: 8-bit samples with 1 (gray) or 3 components."""
    raw = memoryview(data)
    position, end = 2, len(data)
    while position + 4 <= end:
        if raw[position] != 0xFF:
            return None
        marker = raw[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        length = int(raw[position + 2]) << 8 | int(raw[position + 3])
        if marker in _JPEG_FRAME_MARKERS:
            if position + 10 > end:
                return None
            precision, components = raw[position + 4], raw[position + 9]
            if marker not in _JPEG_HUFFMAN_FRAMES or precision != 8 or components not in (1, 3):
                return None
            return components == 1
        if marker in (0xD9, 0xDA) or length < 2:  # end of image or start of scan before any frame header
            return None
        position += 2 + length
    return None


def _to_8bit(array: np.ndarray, peak: float) -> Image.Image:
    return Image.fromarray(np.round(np.clip(array, 0, peak) * (255.0 / peak)).astype(np.uint8), mode="L")


def relative_name(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` with '/' separators (how images are named everywhere)."""
    return Path(os.path.relpath(path, folder)).as_posix()
