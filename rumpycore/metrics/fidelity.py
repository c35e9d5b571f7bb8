"""PSNR and SSIM computed the way SR papers report them.

The convention behind the published tables (MATLAB evaluation scripts of SRCNN, VDSR,
EDSR, RCAN, ...), reproduced here operation for operation:

- images are 8-bit: predictions are clipped to [0, 1], scaled to 255 and rounded half away
  from zero (MATLAB's ``im2uint8``);
- the ``y`` channel is ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr`` computes it on uint8
  images: ``(65.481/255) R + (128.553/255) G + (24.966/255) B + 16`` in double precision,
  rounded to an integer (MATLAB scales its matrix by ``1/255`` first and rounds
  half away from zero; doing the same reproduces its result exactly, ties included);
- an image stored as grayscale is compared on its own gray values: the target's gray
  level, and the prediction reduced with MATLAB's ``rgb2gray`` weights (rounded);
- ``channel = "y_basicsr"`` instead follows BasicSR (``bgr2ycbcr(y_only=True)`` on 8-bit
  values): the same Y weights, not rounded, and grayscale images treated as the colour
  images BasicSR reads them as, so numbers compare with BasicSR-based papers;
- ``crop_border`` pixels (default: the scale) are removed from every side first;
- PSNR is ``10 log10(255^2 / MSE)`` (infinite for identical images);
- SSIM is Wang et al.'s original ``ssim_index.m``: an 11x11 Gaussian window (sigma 1.5),
  K1 = 0.01, K2 = 0.03, L = 255, filtered in 'valid' mode (no padding) and averaged over
  the map, then over channels in ``rgb`` mode. MATLAB's later built-in ``ssim`` (replicate
  padding over the whole image) or Wang's ``ssim.m`` with automatic downsampling give
  different numbers; only the 'valid' variant reproduces the published bicubic SSIM.

Everything runs batched on the tensors' device in float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import DataError
from ..specs import MetricContext
from .base import Metric

# MATLAB rgb2ycbcr (uint8): T = (1/255) * [65.481 128.553 24.966], offset 16.
_Y_WEIGHTS = tuple((1.0 / 255.0) * c for c in (65.481, 128.553, 24.966))
_GRAY_WEIGHTS = (0.298936021293776, 0.587043074451121, 0.114020904255103)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def round_half_up(values: torch.Tensor) -> torch.Tensor:
    """MATLAB's rounding for non-negative values (half away from zero; torch rounds half to even)."""
    return torch.floor(values + 0.5)


def quantise(image: torch.Tensor) -> torch.Tensor:
    """[0, 1] float image to 8-bit levels (0..255, rounded as MATLAB's ``im2uint8``) in float64."""
    return round_half_up(image.double().clamp(0.0, 1.0) * 255.0)


def _weighted(image: torch.Tensor, weights: tuple[float, float, float], offset: float) -> torch.Tensor:
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return round_half_up(weights[0] * r + weights[1] * g + weights[2] * b + offset)


def comparison_planes(image8: torch.Tensor, gray: torch.Tensor, channel: str, is_target: bool) -> torch.Tensor:
    """The planes a metric compares: MATLAB Y (or RGB), and gray levels for gray images; with
    ``y_basicsr``, BasicSR's Y (the same weights, not rounded, gray images like colour ones)."""
    if channel == "rgb":
        return image8
    if channel == "y_basicsr":
        r, g, b = image8[:, 0:1], image8[:, 1:2], image8[:, 2:3]
        return (65.481 * r + 128.553 * g + 24.966 * b) / 255.0 + 16.0
    luma = _weighted(image8, _Y_WEIGHTS, 16.0)
    if not bool(gray.any()):
        return luma
    gray_level = image8[:, 0:1] if is_target else _weighted(image8, _GRAY_WEIGHTS, 0.0)
    return torch.where(gray.view(-1, 1, 1, 1), gray_level, luma)


def shave(image: torch.Tensor, border: int) -> torch.Tensor:
    """Remove ``border`` pixels from every side."""
    if border <= 0:
        return image
    return image[..., border:-border, border:-border]


def gray_flags(batch: Mapping[str, Any], n: int, device: torch.device) -> torch.Tensor:
    """Which images of a batch were stored as grayscale (``batch["gray"]``; none if absent)."""
    gray = batch.get("gray")
    if gray is None:
        return torch.zeros(n, dtype=torch.bool, device=device)
    return torch.as_tensor(gray, device=device).bool().view(n)


def _names(batch: Mapping[str, Any], n: int) -> str:
    names = batch.get("name")
    return ", ".join(str(x) for x in names) if names is not None else f"{n} images"


class _Fidelity(Metric):
    min_size = 1

    def __init__(self, ctx: MetricContext) -> None:
        self.channel = ctx.channel
        self.border = ctx.scale if ctx.crop_border is None else ctx.crop_border

    def check_target_size(self, height: int, width: int, name: str) -> None:
        if min(height, width) - 2 * self.border < self.min_size:
            raise DataError(
                f"{name}: {width}x{height} pixels leave less than {self.min_size} after removing a border of "
                f"{self.border}; {type(self).__name__} needs larger eval images (or a smaller crop_border)"
            )

    def planes(self, prediction: torch.Tensor, target: torch.Tensor,
               batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """8-bit comparison planes of prediction and target, border shaved."""
        height, width = target.shape[-2:]
        self.check_target_size(height, width, _names(batch, target.shape[0]))
        gray = gray_flags(batch, prediction.shape[0], prediction.device)
        pred = comparison_planes(quantise(prediction), gray, self.channel, is_target=False)
        tgt = comparison_planes(quantise(target), gray, self.channel, is_target=True)
        return shave(pred, self.border), shave(tgt, self.border)


class PSNR(_Fidelity):
    """Peak signal-to-noise ratio in dB on 8-bit planes (higher is better)."""

    def values(self, prediction, target, batch):
        pred, tgt = self.planes(prediction, target, batch)
        mse = (pred - tgt).pow(2).flatten(1).mean(dim=1)
        return 10.0 * torch.log10(255.0**2 / mse)


def gaussian_taps(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> list[float]:
    """1-D taps whose outer product is MATLAB's ``fspecial('gaussian', size, sigma)``."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    taps = torch.exp(-(coords**2) / (2.0 * sigma**2))
    return (taps / taps.sum()).tolist()


def gaussian_filter_valid(planes: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """Correlate the last two dimensions with the separable window, keeping the 'valid' part.

    Two 1-D passes of shifted, weighted sums: the same result as MATLAB's
    ``filter2(window, x, 'valid')`` up to rounding, and much faster than a float64 conv2d.
    """
    size = len(taps)
    rows = planes.shape[-2] - size + 1
    out = planes[..., 0:rows, :] * taps[0]
    for k in range(1, size):
        out.add_(planes[..., k:k + rows, :], alpha=taps[k])
    cols = planes.shape[-1] - size + 1
    result = out[..., 0:cols] * taps[0]
    for k in range(1, size):
        result.add_(out[..., k:k + cols], alpha=taps[k])
    return result


class SSIM(_Fidelity):
    """Structural similarity (Wang et al. 2004, ``ssim_index.m``) on 8-bit planes (higher is better)."""

    min_size = SSIM_WINDOW

    def values(self, prediction, target, batch):
        pred, tgt = self.planes(prediction, target, batch)
        # The five local statistics of every plane are filtered together, in one pass.
        stack = torch.stack([pred, tgt, pred * pred, tgt * tgt, pred * tgt], dim=0)
        mu1, mu2, e11, e22, e12 = gaussian_filter_valid(stack, gaussian_taps()).unbind(dim=0)
        c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
        mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
        sigma1, sigma2, sigma12 = e11 - mu1_sq, e22 - mu2_sq, e12 - mu12
        ssim_map = ((2 * mu12 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1 + sigma2 + c2))
        return ssim_map.flatten(2).mean(dim=2).mean(dim=1)


@dataclass
class FidelityParams:
    """PSNR/SSIM take their channel and border from ``[training]``; nothing per metric."""


def build_psnr(params: FidelityParams, ctx: MetricContext) -> PSNR:
    """Factory for the PSNR metric."""
    return PSNR(ctx)


def build_ssim(params: FidelityParams, ctx: MetricContext) -> SSIM:
    """Factory for the SSIM metric."""
    return SSIM(ctx)
