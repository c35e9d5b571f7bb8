"""Degradations as tensor operations on batches (``N x 3 x H x W``, float in [0, 1], any device).

The Real-ESRGAN pipeline (:mod:`rumpycore.degrade.second_order`) runs on these, per image on the
CPU (``rumpy degrade``, online sets) and per batch on a GPU, so both apply the same arithmetic;
only JPEG differs: the CPU encodes with Pillow, the device with :func:`jpeg`, a tensor
implementation of baseline JPEG (4:2:0 chroma, the IJG quantisation tables).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

RESIZE_MODES = ("area", "bilinear", "bicubic")
"""Interpolations of a random resize; a resize's ``resize_mode`` column is its position here."""

_LUMA = torch.tensor([0.299, 0.587, 0.114])


@contextmanager
def one_thread() -> Iterator[None]:
    """Run CPU tensor operations on one thread: on single small images, threads only add
    synchronisation (30x slower measured on a loaded 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def filter2d(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Filter each image with its own square odd-sized kernel (``N x k x k``), reflect-padded borders
    (replicated when an image is smaller than the kernel's radius)."""
    n, c, h, w = images.shape
    pad = kernels.shape[-1] // 2
    mode = "reflect" if min(h, w) > pad else "replicate"
    padded = F.pad(images, (pad, pad, pad, pad), mode=mode)
    weights = kernels.to(images.dtype).repeat_interleave(c, dim=0).unsqueeze(1)
    out = F.conv2d(padded.reshape(1, n * c, h + 2 * pad, w + 2 * pad), weights, groups=n * c)
    return out.reshape(n, c, h, w)


def resize(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize to ``(height, width)`` with ``area``, ``bilinear`` or ``bicubic`` interpolation (PyTorch's,
    without antialiasing, as Real-ESRGAN resizes)."""
    size = (max(1, size[0]), max(1, size[1]))
    if mode == "area":
        return F.interpolate(images, size=size, mode="area")
    return F.interpolate(images, size=size, mode=mode, align_corners=False)


def add_noise(images: torch.Tensor, gaussian: torch.Tensor, sigma: torch.Tensor, poisson_scale: torch.Tensor,
              gray: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Add Gaussian noise (``sigma``, 0-255 units) to the images where ``gaussian`` is true and Poisson
    noise (a value ``v`` of 0-255 as ``v`` photons, times ``poisson_scale``) elsewhere; where ``gray``,
    one pattern (Poisson: from the BT.601 luma) for all channels. The result is clipped to [0, 1].
    Parameters hold one value per image."""
    n, c, h, w = images.shape
    view = (n, 1, 1, 1)
    channels = torch.randn((n, c, h, w), generator=generator, device=images.device, dtype=images.dtype)
    shared = torch.randn((n, 1, h, w), generator=generator, device=images.device, dtype=images.dtype)
    normal = torch.where(gray.view(view), shared, channels) * (sigma.view(view).to(images.dtype) / 255.0)
    counts = (images.clamp(0, 1) * 255.0).round()
    luma = (counts * _LUMA.to(images).view(1, 3, 1, 1)).sum(dim=1, keepdim=True).round()
    source = torch.where(gray.view(view), luma.expand_as(counts), counts)
    shot = (torch.poisson(source, generator=generator) - source) / 255.0 * poisson_scale.view(view).to(images.dtype)
    return (images + torch.where(gaussian.view(view), normal, shot)).clamp(0, 1)


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels (half up) and clip, staying in [0, 1]."""
    return torch.floor(images.clamp(0, 1) * 255.0 + 0.5) / 255.0


def pillow_jpeg(images: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG round trip of each image with Pillow (4:2:0 chroma, as OpenCV and Real-ESRGAN), on the CPU."""
    out = []
    for image, q in zip(images, quality.tolist()):
        pixels = (quantize(image) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=int(q), subsampling=2)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            array = np.asarray(decoded.convert("RGB"))
        out.append(torch.from_numpy(array.copy()).permute(2, 0, 1).to(images) / 255.0)
    return torch.stack(out)


# The IJG example tables (JPEG standard, Annex K), quality 50.
_LUMA_TABLE = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
               14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
               49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_CHROMA_TABLE = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
                 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32


def _dct_matrix(device: torch.device) -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float64)
    basis = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * 0.5
    basis[0] /= math.sqrt(2)
    return basis.to(device=device, dtype=torch.float32)


def _tables(quality: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantisation tables per image (``N x 8 x 8``), scaled by quality as libjpeg does."""
    q = quality.to(torch.float32).clamp(1, 100)
    factor = torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q).view(-1, 1, 1)
    tables = []
    for base in (_LUMA_TABLE, _CHROMA_TABLE):
        table = torch.tensor(base, dtype=torch.float32, device=quality.device).view(1, 8, 8)
        tables.append(torch.floor((table * factor + 50.0) / 100.0).clamp(1, 255))
    return tables[0], tables[1]


def _code_plane(plane: torch.Tensor, table: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """Level-shift, 8x8 DCT, quantise, dequantise and invert one plane per image (``N x H x W``, 0-255,
    sides multiples of 8)."""
    n, h, w = plane.shape
    blocks = (plane - 128.0).reshape(n, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)
    coefficients = dct @ blocks @ dct.T
    table = table.view(n, 1, 1, 8, 8)
    restored = dct.T @ (torch.round(coefficients / table) * table) @ dct
    return restored.permute(0, 1, 3, 2, 4).reshape(n, h, w) + 128.0


def jpeg(images: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Baseline JPEG round trip of each image at its integer ``quality`` (1-100), as tensor operations.

    RGB to YCbCr (JFIF), chroma averaged over 2x2 pixels (4:2:0), 8x8 DCT, quantisation with the IJG
    tables scaled by quality, and the way back (chroma upsampled by repetition); images are
    edge-padded to multiples of 16 first. Results are rounded to 8-bit levels, like a decoded file.
    """
    n, _, h, w = images.shape
    pixels = quantize(images.float()) * 255.0
    pad_h, pad_w = -h % 16, -w % 16
    pixels = F.pad(pixels, (0, pad_w, 0, pad_h), mode="replicate")
    r, g, b = pixels.unbind(dim=1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0
    luma_table, chroma_table = _tables(quality)
    dct = _dct_matrix(images.device)
    y = _code_plane(y, luma_table, dct)
    chroma = F.avg_pool2d(torch.stack([cb, cr], dim=1), 2)
    coded = torch.stack([_code_plane(chroma[:, i], chroma_table, dct) for i in range(2)], dim=1)
    cb, cr = F.interpolate(coded, scale_factor=2, mode="nearest").unbind(dim=1)
    rgb = torch.stack([y + 1.402 * (cr - 128.0), y - 0.344136 * (cb - 128.0) - 0.714136 * (cr - 128.0),
                       y + 1.772 * (cb - 128.0)], dim=1)
    return quantize(rgb[:, :, :h, :w] / 255.0).to(images.dtype)
