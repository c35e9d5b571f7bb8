"""The fast decoder (OpenCV, when installed) gives exactly the pixels and gray flags of the
Pillow reader for every kind of file it takes, and leaves the others to Pillow."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rumpycore.data import images
from rumpycore.data.images import (
    list_images,
    load_rgb,
    load_rgb_pillow,
    opencv_gray_flag,
)
from rumpycore.testing import needs_benchmark

pytestmark = pytest.mark.skipif(images.opencv() is None, reason="OpenCV not installed (pip install rumpycore[fast])")


def routed_to_opencv(path: Path) -> bool:
    return opencv_gray_flag(np.fromfile(path, dtype=np.uint8)) is not None


def assert_same_as_pillow(path: Path, fast: bool) -> None:
    image, gray = load_rgb(path)
    reference, reference_gray = load_rgb_pillow(path)
    assert routed_to_opencv(path) == fast, path.name
    assert image.dtype == np.uint8 and image.shape == reference.shape and image.flags.c_contiguous
    assert np.array_equal(image, reference), path.name
    assert gray == reference_gray, path.name


@needs_benchmark
@pytest.mark.parametrize("folder", ["Set5/HR", "Set5/LR_bicubic/X4", "Set14/HR", "Set14/LR_bicubic/X4", "B100/HR",
                                    "B100/LR_bicubic/X4", "train/HR"])
def test_benchmark_photos_decode_identically(shared_data, folder):
    for path in list_images(shared_data / folder, folder):
        assert_same_as_pillow(path, fast=True)


@pytest.fixture(scope="module")
def photo(photos) -> np.ndarray:
    """A 61 x 47 crop of a real photo (odd sizes catch stride mistakes)."""
    with Image.open(photos.colour) as im:
        return np.asarray(im.convert("RGB"))[200:261, 150:197].copy()


def kinds(photo: np.ndarray) -> dict[str, tuple[Image.Image, str, dict, bool]]:
    """name -> (image, format, save options, whether OpenCV should decode it)."""
    rgb = Image.fromarray(photo)
    gray = rgb.convert("L")
    ramp = np.arange(photo.shape[0] * photo.shape[1]) % 256
    alpha = Image.fromarray(ramp.astype(np.uint8).reshape(photo.shape[:2]))
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    gray_alpha = gray.copy()
    gray_alpha.putalpha(alpha)
    palette = rgb.quantize(colors=37)
    palette_transparent = palette.copy()
    palette_transparent.info["transparency"] = 5
    small_palette = rgb.quantize(colors=12)  # saved with 4 bits per pixel
    wide = photo.astype(np.uint16) * 257 + np.arange(photo.shape[1], dtype=np.uint16)[None, :, None] * 3
    gray16 = Image.fromarray(np.ascontiguousarray(wide[..., 1]))  # uint16: mode I;16
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees; both readers leave the pixels as stored
    return {
        "rgb.png": (rgb, "PNG", {}, True),
        "gray.png": (gray, "PNG", {}, True),
        "rgba.png": (rgba, "PNG", {}, True),
        "gray_alpha.png": (gray_alpha, "PNG", {}, True),
        "palette.png": (palette, "PNG", {}, True),
        "palette_transparent.png": (palette_transparent, "PNG", {"transparency": 5}, True),
        "palette_4bit.png": (small_palette, "PNG", {"bits": 4}, False),
        "bilevel.png": (gray.point(lambda v: 255 if v > 128 else 0).convert("1"), "PNG", {}, False),
        "gray16.png": (gray16, "PNG", {}, False),
        "rgb.jpg": (rgb, "JPEG", {"quality": 90}, True),
        "rgb_444.jpg": (rgb, "JPEG", {"quality": 75, "subsampling": 0}, True),
        "progressive.jpg": (rgb, "JPEG", {"quality": 85, "progressive": True}, True),
        "exif.jpg": (rgb, "JPEG", {"quality": 90, "exif": exif}, True),
        "gray.jpg": (gray, "JPEG", {"quality": 90}, True),
        "cmyk.jpg": (rgb.convert("CMYK"), "JPEG", {"quality": 90}, False),
        "rgb.bmp": (rgb, "BMP", {}, False),
        "rgb.webp": (rgb, "WEBP", {"lossless": True}, False),
    }


@pytest.mark.parametrize("name", list(kinds(np.zeros((4, 4, 3), np.uint8))))
def test_each_kind_of_file_decodes_identically(photo, tmp_path, name):
    image, kind, options, fast = kinds(photo)[name]
    path = tmp_path / name
    image.save(path, kind, **options)
    assert_same_as_pillow(path, fast)


def write_png16(path: Path, image: np.ndarray) -> None:
    """A 16-bit RGB PNG written chunk by chunk (Pillow cannot save one)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    height, width = image.shape[:2]
    rows = b"".join(b"\x00" + image[y].astype(">u2").tobytes() for y in range(height))  # filter 0 per row
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([16, 2, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def test_sixteen_bit_rgb_is_left_to_pillow(photo, tmp_path):
    wide = photo.astype(np.uint16) * 257 + np.arange(photo.shape[1], dtype=np.uint16)[None, :, None] * 3
    path = tmp_path / "rgb16.png"
    write_png16(path, wide)
    with Image.open(path) as im:
        assert im.size == (photo.shape[1], photo.shape[0])
    assert_same_as_pillow(path, fast=False)


def test_a_corrupt_file_is_still_a_one_line_data_error(photo, tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[60:90] = b"\x00" * 30  # inside the image data: the decompressor fails
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    with pytest.raises(images.DataError, match="corrupt.png: not a readable image"):
        load_rgb(path)
